import * as http2 from 'node:http2';
import * as net from 'node:net';

/**
 * The five calls of gobgpd's gRPC API (service `apipb.GobgpApi` of gobgp v3's api/gobgp.proto)
 * that the reflector agent makes, over one HTTP/2 connection kept open: no `gobgp` CLI process per
 * change, so binding an LB pod costs a round trip instead of a Go program's start. The messages are
 * few and flat, so they are encoded here rather than through generated code.
 */
export interface GobgpNeighborSets {
  /** Every neighbor set gobgpd holds, its addresses as gobgpd lists them (`A/32`, `A/128`), sorted. */
  list(): Promise<Map<string, string[]>>;
  add(set: string, address: string): Promise<void>;
  delete(set: string, address: string): Promise<void>;
  /** Re-evaluates the import policy over the routes `address` sent (fails when it is no peer). */
  softResetIn(address: string): Promise<void>;
  close(): void;
}

/** Whether gobgpd is alive: its API answers a call. */
export interface GobgpLiveness {
  /** Resolves when gobgpd answers `GetBgp` within `timeoutMs`; rejects otherwise. */
  alive(timeoutMs: number): Promise<void>;
}

/** gobgp.proto field numbers, and the enum values the agent uses. */
const DEFINED_SET = { definedType: 1, name: 2, list: 3 } as const;
const DEFINED_TYPE_NEIGHBOR = 1;
const SET_REQUEST = { definedSet: 1 } as const; // Add/Delete/ListDefinedSetResponse
const LIST_REQUEST = { definedType: 1 } as const;
const RESET_PEER = { address: 1, soft: 3, direction: 4 } as const;
const SOFT_RESET_IN = 0;

const CALL_TIMEOUT_MS = 10_000;

/** A field of a protobuf message: a varint (enums, bools) or length-delimited bytes (strings, messages). */
type FieldValue = number | boolean | string | Buffer;

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** Encodes fields in the given order; proto3 defaults (0, false, '') are left out, as protoc does. */
export function encodeMessage(fields: readonly (readonly [number, FieldValue])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [field, value] of fields) {
    if (typeof value === 'number' || typeof value === 'boolean') {
      const n = Number(value);
      if (n !== 0) parts.push(varint(field << 3), varint(n));
    } else {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
      if (bytes.length > 0 || Buffer.isBuffer(value)) parts.push(varint((field << 3) | 2), varint(bytes.length), bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Decodes a message into field number -> values (varints as numbers, length-delimited as bytes). */
export function decodeMessage(bytes: Buffer): Map<number, (number | Buffer)[]> {
  const fields = new Map<number, (number | Buffer)[]>();
  let at = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      if (at >= bytes.length) throw new Error('truncated protobuf varint');
      const byte = bytes[at++];
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    let value: number | Buffer;
    switch (key & 7) {
      case 0: value = readVarint(); break;
      case 2: {
        const length = readVarint();
        if (at + length > bytes.length) throw new Error('truncated protobuf field');
        value = bytes.subarray(at, at + length);
        at += length;
        break;
      }
      case 1: at += 8; continue; // fixed64 and fixed32: not in the messages read here
      case 5: at += 4; continue;
      default: throw new Error(`unsupported protobuf wire type ${key & 7}`);
    }
    fields.set(field, [...(fields.get(field) ?? []), value]);
  }
  return fields;
}

function neighborSet(name: string, addresses: readonly string[]): Buffer {
  return encodeMessage([
    [DEFINED_SET.definedType, DEFINED_TYPE_NEIGHBOR],
    [DEFINED_SET.name, name],
    ...addresses.map((a) => [DEFINED_SET.list, a] as const),
  ]);
}

/** gRPC's length-prefixed messages: a compression flag byte and a 4-byte length before each. */
export function grpcFrame(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

export function grpcUnframe(body: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  for (let at = 0; at < body.length;) {
    if (at + 5 > body.length) throw new Error('truncated gRPC frame');
    if (body[at] !== 0) throw new Error('compressed gRPC message (not requested)');
    const length = body.readUInt32BE(at + 1);
    if (at + 5 + length > body.length) throw new Error('truncated gRPC message');
    messages.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return messages;
}

/**
 * A client of gobgpd's API at `api`: `HOST:PORT` (gobgpd's `--api-hosts` TCP form) or
 * `unix:///PATH` (its unix-socket form). Connects on the first call and again after a failure.
 */
export function gobgpApi(api: string): GobgpNeighborSets & GobgpLiveness {
  let session: http2.ClientHttp2Session | undefined;
  const connect = (): http2.ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    const socketPath = api.startsWith('unix://') ? api.slice('unix://'.length) : undefined;
    const created = socketPath !== undefined
      ? http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) })
      : http2.connect(`http://${api}`);
    created.on('error', () => created.destroy()); // the call in flight sees its own error
    created.unref(); // an idle connection keeps no process alive
    session = created;
    return created;
  };

  const call = (method: string, request: Buffer, timeoutMs = CALL_TIMEOUT_MS): Promise<Buffer[]> => new Promise((resolve, reject) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = connect().request({
        ':method': 'POST', ':path': `/apipb.GobgpApi/${method}`, 'content-type': 'application/grpc', 'te': 'trailers',
      });
    } catch (err) {
      reject(err);
      return;
    }
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = '';
    const noteStatus = (headers: http2.IncomingHttpHeaders) => {
      if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
      if (headers['grpc-message'] !== undefined) message = decodeURIComponent(String(headers['grpc-message']));
    };
    stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.on('response', noteStatus); // a trailers-only answer (an error) has its status here
    stream.on('trailers', noteStatus);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('close', () => {
      if (status === '0') {
        try { resolve(grpcUnframe(Buffer.concat(chunks))); } catch (err) { reject(err); }
      } else {
        reject(new Error(`gobgpd ${method}: ${status === undefined ? `no answer within ${timeoutMs / 1000} s or connection lost` : `gRPC status ${status}${message ? `: ${message}` : ''}`}`));
      }
    });
    stream.end(grpcFrame(request));
  });

  return {
    async list() {
      const sets = new Map<string, string[]>();
      for (const response of await call('ListDefinedSet', encodeMessage([[LIST_REQUEST.definedType, DEFINED_TYPE_NEIGHBOR]]))) {
        const set = decodeMessage(response).get(SET_REQUEST.definedSet)?.[0];
        if (!Buffer.isBuffer(set)) continue;
        const fields = decodeMessage(set);
        const text = (values: (number | Buffer)[] | undefined) => (values ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));
        sets.set(text(fields.get(DEFINED_SET.name))[0] ?? '', text(fields.get(DEFINED_SET.list)).sort());
      }
      return sets;
    },
    async add(set, address) {
      await call('AddDefinedSet', encodeMessage([[SET_REQUEST.definedSet, neighborSet(set, [address])]]));
    },
    async delete(set, address) {
      await call('DeleteDefinedSet', encodeMessage([[SET_REQUEST.definedSet, neighborSet(set, [address])]]));
    },
    async alive(timeoutMs) {
      // GetBgp (an empty request): the cheapest call, answered from gobgpd's own state.
      await call('GetBgp', Buffer.alloc(0), timeoutMs);
    },
    async softResetIn(address) {
      await call('ResetPeer', encodeMessage([[RESET_PEER.address, address], [RESET_PEER.soft, true], [RESET_PEER.direction, SOFT_RESET_IN]]));
    },
    close() {
      session?.close();
      session = undefined;
    },
  };
}
