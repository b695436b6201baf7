import * as dgram from 'node:dgram';
import { Clock, realClock } from './clock';
import { BFD_MULTIHOP_PORT, BFD_SINGLE_HOP_PORT } from '../../lib/model';

/**
 * BFD, asynchronous mode (RFC 5880), multihop (RFC 5883: UDP port 4784, since an LB pod is a hop
 * behind its node) or single-hop (RFC 5881: UDP port 3784, for a reflector and a router on one
 * segment): no echo, no demand mode, no authentication (FRR's bfdd has none either). The
 * session logic is `BfdSession`, driven by packets and a clock it is given, so it is tested without
 * sockets; `BfdEndpoint` carries its packets over UDP.
 */

export enum BfdState { ADMIN_DOWN = 0, DOWN = 1, INIT = 2, UP = 3 }

/** RFC 5880 §4.1 diagnostic codes that this implementation sets. */
export enum BfdDiagnostic { NONE = 0, DETECTION_TIME_EXPIRED = 1, NEIGHBOR_SIGNALED_DOWN = 3, ADMIN_DOWN = 7 }

/** RFC 5880 §6.8.3: while a session is not up, packets go at most once a second. */
const SLOW_TX_US = 1_000_000;
const PACKET_LENGTH = 24;

/** A BFD control packet (RFC 5880 §4.1), intervals in microseconds. */
export interface BfdPacket {
  readonly diagnostic: number;
  readonly state: BfdState;
  readonly poll: boolean;
  readonly final: boolean;
  readonly detectMultiplier: number;
  readonly myDiscriminator: number;
  readonly yourDiscriminator: number;
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
}

export function encodeBfdPacket(p: BfdPacket): Buffer {
  const b = Buffer.alloc(PACKET_LENGTH);
  b[0] = (1 << 5) | (p.diagnostic & 0x1f);
  b[1] = (p.state << 6) | (p.poll ? 0x20 : 0) | (p.final ? 0x10 : 0);
  b[2] = p.detectMultiplier;
  b[3] = PACKET_LENGTH;
  b.writeUInt32BE(p.myDiscriminator, 4);
  b.writeUInt32BE(p.yourDiscriminator, 8);
  b.writeUInt32BE(p.desiredMinTxUs, 12);
  b.writeUInt32BE(p.requiredMinRxUs, 16);
  b.writeUInt32BE(0, 20); // no echo
  return b;
}

/** Parses and validates a packet as RFC 5880 §6.8.6 says; undefined for one that must be discarded. */
export function decodeBfdPacket(b: Buffer): BfdPacket | undefined {
  if (b.length < PACKET_LENGTH || b[0] >> 5 !== 1) return undefined;
  const length = b[3];
  if (length < PACKET_LENGTH || length > b.length) return undefined;
  const flags = b[1];
  const packet: BfdPacket = {
    diagnostic: b[0] & 0x1f,
    state: (flags >> 6) as BfdState,
    poll: (flags & 0x20) !== 0,
    final: (flags & 0x10) !== 0,
    detectMultiplier: b[2],
    myDiscriminator: b.readUInt32BE(4),
    yourDiscriminator: b.readUInt32BE(8),
    desiredMinTxUs: b.readUInt32BE(12),
    requiredMinRxUs: b.readUInt32BE(16),
  };
  const authenticated = (flags & 0x04) !== 0;
  const multipoint = (flags & 0x01) !== 0;
  if (packet.detectMultiplier === 0 || multipoint || authenticated || packet.myDiscriminator === 0) return undefined;
  if (packet.yourDiscriminator === 0 && packet.state !== BfdState.DOWN && packet.state !== BfdState.ADMIN_DOWN) return undefined;
  return packet;
}

export interface BfdTimers {
  readonly minTxMs: number;
  readonly minRxMs: number;
  readonly multiplier: number;
}

export interface BfdSessionOptions {
  readonly timers: BfdTimers;
  readonly localDiscriminator: number;
  readonly send: (packet: BfdPacket) => void;
  readonly onStateChange?: (state: BfdState, diagnostic: BfdDiagnostic) => void;
  readonly clock?: Clock;
  /** Jitter source, [0, 1). */
  readonly random?: () => number;
}

/** One BFD session (active role): RFC 5880 §6.8.6 reception, §6.8.7 transmission, §6.8.4 detection. */
export class BfdSession {
  private sessionState = BfdState.DOWN;
  private diagnostic = BfdDiagnostic.NONE;
  private remoteDiscriminator = 0;
  private remoteMinRxUs = 1;
  private remoteDesiredMinTxUs = SLOW_TX_US;
  private remoteMultiplier = 0;
  private desiredMinTxUs = SLOW_TX_US;
  private pollPending = false;
  /** A poll came in: the next packet carries Final. */
  private finalPending = false;
  /** Our state changed: the peer hears of it at once, not at the next tick. */
  private changed = false;
  private txTimer?: unknown;
  private detectTimer?: unknown;
  private stopped = false;
  /** Neither sending nor hearing (`silence`): the peer sees what a dead speaker looks like. */
  private silent = false;
  private readonly clock: Clock;

  constructor(private readonly options: BfdSessionOptions) {
    this.clock = options.clock ?? realClock;
    this.scheduleTransmit(0);
  }

  get state(): BfdState { return this.sessionState; }
  get localDiscriminator(): number { return this.options.localDiscriminator; }

  /** A packet for this session (already validated and demultiplexed). */
  receive(p: BfdPacket): void {
    if (this.stopped || this.silent) return;
    this.remoteDiscriminator = p.myDiscriminator;
    this.remoteMinRxUs = p.requiredMinRxUs;
    this.remoteDesiredMinTxUs = p.desiredMinTxUs;
    this.remoteMultiplier = p.detectMultiplier;
    if (p.final) this.pollPending = false;
    if (this.sessionState === BfdState.ADMIN_DOWN) return;
    if (p.state === BfdState.ADMIN_DOWN) {
      if (this.sessionState !== BfdState.DOWN) this.transition(BfdState.DOWN, BfdDiagnostic.NEIGHBOR_SIGNALED_DOWN);
    } else if (this.sessionState === BfdState.DOWN) {
      if (p.state === BfdState.DOWN) this.transition(BfdState.INIT, BfdDiagnostic.NONE);
      else if (p.state === BfdState.INIT) this.transition(BfdState.UP, BfdDiagnostic.NONE);
    } else if (this.sessionState === BfdState.INIT) {
      if (p.state === BfdState.INIT || p.state === BfdState.UP) this.transition(BfdState.UP, BfdDiagnostic.NONE);
    } else if (p.state === BfdState.DOWN) {
      this.transition(BfdState.DOWN, BfdDiagnostic.NEIGHBOR_SIGNALED_DOWN);
    }
    if (p.poll) this.finalPending = true;
    this.armDetection();
    // Answer a poll (RFC 5880 §6.8.7), and tell the peer of our own change, at once.
    if (this.finalPending || this.changed) this.scheduleTransmit(0);
  }

  /**
   * Silenced, the session sends nothing and ignores what arrives, as if the process behind it were
   * dead: the peer's detection time runs out and the peer goes Down by timeout, which every BFD
   * client acts on (an AdminDown, by RFC 5882, it need not act on). Its own detection time runs out
   * too. Unsilenced, it starts again from Down at the slow rate and comes up through the usual
   * three-way handshake, with the same discriminator.
   */
  silence(on: boolean): void {
    if (this.stopped || on === this.silent) return;
    this.silent = on;
    if (!on) this.scheduleTransmit(0);
  }

  get silenced(): boolean { return this.silent; }

  /** Says AdminDown to the peer (a few times, as packets may be lost), then goes quiet. */
  stop(): void {
    if (this.stopped) return;
    this.transition(BfdState.ADMIN_DOWN, BfdDiagnostic.ADMIN_DOWN);
    this.clock.clearTimeout(this.detectTimer);
    this.clock.clearTimeout(this.txTimer);
    for (let i = 0; i < 3; i++) this.transmit();
    this.stopped = true;
  }

  private transition(state: BfdState, diagnostic: BfdDiagnostic): void {
    if (state === this.sessionState) return;
    this.sessionState = state;
    this.diagnostic = diagnostic;
    // Fast packets only while up; each change of the advertised interval is a poll (§6.8.3).
    const desired = state === BfdState.UP ? this.options.timers.minTxMs * 1000 : SLOW_TX_US;
    if (desired !== this.desiredMinTxUs) {
      this.desiredMinTxUs = desired;
      this.pollPending = true;
    }
    if (state === BfdState.DOWN || state === BfdState.ADMIN_DOWN) this.clock.clearTimeout(this.detectTimer);
    this.changed = true;
    this.options.onStateChange?.(state, diagnostic);
  }

  /** Detection time (§6.8.4): the peer's multiplier times the slower of our RX and its TX. */
  private armDetection(): void {
    this.clock.clearTimeout(this.detectTimer);
    if (this.sessionState !== BfdState.INIT && this.sessionState !== BfdState.UP) return;
    const us = this.remoteMultiplier * Math.max(this.options.timers.minRxMs * 1000, this.remoteDesiredMinTxUs);
    this.detectTimer = this.clock.setTimeout(() => {
      this.remoteDiscriminator = 0;
      this.transition(BfdState.DOWN, BfdDiagnostic.DETECTION_TIME_EXPIRED);
      this.scheduleTransmit(0);
    }, us / 1000);
  }

  private scheduleTransmit(ms: number): void {
    this.clock.clearTimeout(this.txTimer);
    this.txTimer = this.clock.setTimeout(() => {
      this.transmit();
      this.scheduleTransmit(this.nextInterval());
    }, ms);
  }

  /** §6.8.7: the slower of our desired TX and the peer's RX, less 0-25 % jitter (10-25 % with multiplier 1). */
  private nextInterval(): number {
    const interval = Math.max(this.desiredMinTxUs, this.remoteMinRxUs) / 1000;
    const maxFactor = this.options.timers.multiplier === 1 ? 0.9 : 1;
    return interval * (0.75 + (this.options.random ?? Math.random)() * (maxFactor - 0.75));
  }

  private transmit(): void {
    if (this.silent) return;
    // §6.8.7: a peer that asks for no packets (RequiredMinRx 0) gets none.
    if (this.remoteMinRxUs === 0 && this.sessionState !== BfdState.ADMIN_DOWN) return;
    const final = this.finalPending;
    this.finalPending = false;
    this.changed = false;
    this.options.send({
      diagnostic: this.diagnostic,
      state: this.sessionState,
      poll: this.pollPending && !final,
      final,
      detectMultiplier: this.options.timers.multiplier,
      myDiscriminator: this.options.localDiscriminator,
      yourDiscriminator: this.remoteDiscriminator,
      desiredMinTxUs: this.desiredMinTxUs,
      requiredMinRxUs: this.options.timers.minRxMs * 1000,
    });
  }
}

/** What the endpoint reports about one peer. */
export type BfdPeerListener = (peer: string, state: BfdState, diagnostic: BfdDiagnostic) => void;

/** How an endpoint's sessions travel. */
export interface BfdEndpointOptions {
  /**
   * Single-hop (RFC 5881, UDP 3784) instead of multihop (RFC 5883, UDP 4784). Both send with TTL
   * 255 from one source port in 49152-65535; neither checks the received TTL (Node.js does not
   * expose it), which RFC 5881 asks of single-hop.
   */
  readonly singleHop?: boolean;
}

/**
 * The BFD sessions of one local address: receives on UDP 4784 (multihop) or 3784 (single-hop),
 * sends from one source port in 49152-65535 (RFC 5883 §5, RFC 5881 §4) with TTL 255, and
 * demultiplexes by our discriminator, or by the peer's address while the peer does not know it yet.
 */
export class BfdEndpoint {
  /** Binds `localAddress` (IPv4 or IPv6). */
  static async open(localAddress: string, onState: BfdPeerListener, options: BfdEndpointOptions = {}): Promise<BfdEndpoint> {
    const type = localAddress.includes(':') ? 'udp6' : 'udp4';
    const port = options.singleHop ? BFD_SINGLE_HOP_PORT : BFD_MULTIHOP_PORT;
    const rx = dgram.createSocket({ type, reuseAddr: true });
    await bind(rx, localAddress, port);
    let tx: dgram.Socket | undefined;
    for (let attempt = 0; !tx; attempt++) {
      const socket = dgram.createSocket({ type });
      try {
        await bind(socket, localAddress, 49152 + Math.floor(Math.random() * 16384));
        tx = socket;
      } catch (err) {
        socket.close();
        if (attempt >= 20) { rx.close(); throw err; }
      }
    }
    tx.setTTL(255);
    tx.on('message', () => undefined); // nothing is meant to arrive here
    return new BfdEndpoint(rx, tx, port, onState);
  }

  private readonly sessions = new Map<string, BfdSession>();
  private readonly byDiscriminator = new Map<number, string>();

  private constructor(
    private readonly rx: dgram.Socket,
    private readonly tx: dgram.Socket,
    private readonly port: number,
    private readonly onState: BfdPeerListener,
  ) {
    rx.on('message', (message, from) => this.onPacket(message, from.address));
  }

  get peers(): string[] { return [...this.sessions.keys()].sort(); }

  stateOf(peer: string): BfdState | undefined { return this.sessions.get(peer)?.state; }

  /** Starts a session with `peer` unless one runs. */
  add(peer: string, timers: BfdTimers): void {
    if (this.sessions.has(peer)) return;
    let discriminator: number;
    do discriminator = 1 + Math.floor(Math.random() * 0xfffffffe); while (this.byDiscriminator.has(discriminator));
    const session = new BfdSession({
      timers, localDiscriminator: discriminator,
      send: (packet) => this.tx.send(encodeBfdPacket(packet), this.port, peer, () => undefined),
      onStateChange: (state, diagnostic) => this.onState(peer, state, diagnostic),
    });
    this.sessions.set(peer, session);
    this.byDiscriminator.set(discriminator, peer);
  }

  /** Silences the session with `peer`, or lets it speak again (BfdSession.silence). */
  silence(peer: string, on: boolean): void {
    this.sessions.get(peer)?.silence(on);
  }

  /** Ends the session with `peer` (AdminDown to it). */
  remove(peer: string): void {
    const session = this.sessions.get(peer);
    if (!session) return;
    session.stop();
    this.sessions.delete(peer);
    this.byDiscriminator.delete(session.localDiscriminator);
  }

  close(): void {
    for (const peer of this.peers) this.remove(peer);
    // Let the AdminDown packets leave before the socket goes.
    setImmediate(() => { this.tx.close(); this.rx.close(); });
  }

  private onPacket(message: Buffer, from: string): void {
    const packet = decodeBfdPacket(message);
    if (!packet) return;
    const peer = packet.yourDiscriminator !== 0 ? this.byDiscriminator.get(packet.yourDiscriminator) : from;
    if (peer !== undefined) this.sessions.get(peer)?.receive(packet);
  }
}

function bind(socket: dgram.Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port, exclusive: true }, () => { socket.off('error', reject); resolve(); });
  });
}
