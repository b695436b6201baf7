import * as dgram from 'node:dgram';

/**
 * The lab's cluster DNS, for pods that dial a Service by name: answers A queries for the names it
 * holds (one record, TTL 5), NODATA for their other types and NXDOMAIN for every other name, which
 * is what a resolver walking the pod's `search` list needs from CoreDNS. UDP only (answers this small
 * never set TC). Counts the answers it gave, so a test can tell the name was really resolved here.
 */
export interface ClusterDns {
  /** A records answered, by name. */
  readonly answered: Map<string, number>;
  stop(): Promise<void>;
}

export async function startClusterDns(host: string, records: ReadonlyMap<string, string>): Promise<ClusterDns> {
  const socket = dgram.createSocket('udp4');
  const dns: ClusterDns = { answered: new Map(), stop: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
  socket.on('message', (query, from) => {
    const question = parseQuestion(query);
    if (!question) return;
    const address = records.get(question.name.toLowerCase());
    const answer = address && question.type === TYPE_A ? aRecord(address) : undefined;
    if (answer) dns.answered.set(question.name, (dns.answered.get(question.name) ?? 0) + 1);
    const rcode = address ? 0 : 3; // NOERROR (with or without the record), NXDOMAIN
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8000 | 0x0400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2); // QR, AA, RD copied, RA
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answer ? 1 : 0, 6);
    socket.send(Buffer.concat([header, query.subarray(12, question.end), ...(answer ? [answer] : [])]), from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(53, host, resolve); });
  return dns;
}

const TYPE_A = 1;

/** The first question's name and type, and where it ends; undefined for what is not a one-question query. */
function parseQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  if (msg.length < 12 || (msg.readUInt16BE(2) & 0x8000) || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < msg.length && msg[at] !== 0) {
    const length = msg[at];
    if (length > 63 || at + 1 + length > msg.length) return undefined; // no compression in a question
    labels.push(msg.toString('ascii', at + 1, at + 1 + length));
    at += 1 + length;
  }
  if (at + 5 > msg.length) return undefined;
  return { name: labels.join('.'), type: msg.readUInt16BE(at + 1), end: at + 5 };
}

/** An answer record for the question's name (a pointer to offset 12), class IN, TTL 5 s. */
function aRecord(address: string): Buffer {
  const record = Buffer.alloc(16);
  record.writeUInt16BE(0xc00c, 0);
  record.writeUInt16BE(TYPE_A, 2);
  record.writeUInt16BE(1, 4);
  record.writeUInt32BE(5, 6);
  record.writeUInt16BE(4, 10);
  address.split('.').forEach((octet, i) => record.writeUInt8(Number(octet), 12 + i));
  return record;
}
