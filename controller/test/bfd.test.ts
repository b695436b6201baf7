import { FakeClock } from './fake-clock';
import { BfdDiagnostic, BfdPacket, BfdSession, BfdState, decodeBfdPacket, encodeBfdPacket } from '../src/bfd';

const TIMERS = { minTxMs: 300, minRxMs: 300, multiplier: 3 };

/** Two sessions joined by a wire with 1 ms of delay; `cut` drops what a side sends. */
function pair(clock: FakeClock, random = () => 0.5) {
  const cut = { a: false, b: false };
  const sent = { a: [] as BfdPacket[], b: [] as BfdPacket[] };
  const changes = { a: [] as [number, BfdState, BfdDiagnostic][], b: [] as [number, BfdState, BfdDiagnostic][] };
  // Each packet goes through the codec, as on the wire.
  const wire = (from: 'a' | 'b', to: () => BfdSession) => (packet: BfdPacket) => {
    sent[from].push(packet);
    if (cut[from]) return;
    const bytes = encodeBfdPacket(packet);
    clock.setTimeout(() => to().receive(decodeBfdPacket(bytes)!), 1);
  };
  const a: BfdSession = new BfdSession({ timers: TIMERS, localDiscriminator: 11, clock, random, send: wire('a', () => b), onStateChange: (s, d) => changes.a.push([clock.now, s, d]) });
  const b: BfdSession = new BfdSession({ timers: TIMERS, localDiscriminator: 22, clock, random, send: wire('b', () => a), onStateChange: (s, d) => changes.b.push([clock.now, s, d]) });
  return { a, b, cut, sent, changes };
}

describe('BfdSession (RFC 5880 asynchronous mode)', () => {
  test('two sessions come up through Init, then send fast after a poll sequence that the peer answers with Final', () => {
    const clock = new FakeClock();
    const { a, b, sent, changes } = pair(clock);
    clock.advance(3000);
    expect([a.state, b.state]).toEqual([BfdState.UP, BfdState.UP]);
    expect(changes.a.map(([, s]) => s)).toEqual([BfdState.INIT, BfdState.UP]);
    const aPolls = sent.a.filter((p) => p.poll);
    expect(aPolls.length).toBeGreaterThan(0);
    expect(aPolls.every((p) => p.desiredMinTxUs === 300_000)).toBe(true);
    expect(sent.b.some((p) => p.final)).toBe(true);
    expect(sent.a.some((p) => p.poll && p.final)).toBe(false);
    // The poll ended: a's last packets carry no P bit, and know b's discriminator.
    expect(sent.a.slice(-3).every((p) => !p.poll && p.yourDiscriminator === 22 && p.state === BfdState.UP)).toBe(true);
  });

  test('while up, packets go every 225-300 ms (300 ms less 0-25 % jitter); while down, at most once a second', () => {
    const clock = new FakeClock();
    const { sent } = pair(clock, () => 0.999);
    clock.advance(5000);
    const before = sent.a.length;
    clock.advance(10_000);
    // 10 s / 299.9 ms: 33 or 34 packets, with the window's phase.
    expect([33, 34]).toContain(sent.a.length - before);
    const lone = new FakeClock();
    const packets: BfdPacket[] = [];
    new BfdSession({ timers: TIMERS, localDiscriminator: 5, clock: lone, random: () => 0, send: (p) => packets.push(p) });
    lone.advance(10_000);
    expect(packets.length).toBe(1 + Math.floor(10_000 / 750)); // the first at once, then 1 s less 25 %
    expect(packets.every((p) => p.state === BfdState.DOWN && p.desiredMinTxUs === 1_000_000 && p.yourDiscriminator === 0)).toBe(true);
  });

  test('a peer gone silent is down after the detection time (3 x 300 ms), with that diagnostic, and up again when it returns', () => {
    const clock = new FakeClock();
    const { a, cut, changes } = pair(clock);
    clock.advance(5000);
    cut.b = true;
    const silentFrom = clock.now;
    clock.advance(2000);
    const down = changes.a.find(([at, s]) => at > silentFrom && s === BfdState.DOWN)!;
    expect(down[2]).toBe(BfdDiagnostic.DETECTION_TIME_EXPIRED);
    expect(down[0] - silentFrom).toBeLessThanOrEqual(900);
    expect(down[0] - silentFrom).toBeGreaterThan(900 - 300);
    cut.b = false;
    clock.advance(5000);
    expect(a.state).toBe(BfdState.UP);
  });

  test('a silenced session sends nothing and hears nothing: the peer goes down by detection time, as for a dead speaker; unsilenced, both come up again', () => {
    const clock = new FakeClock();
    const { a, b, sent, changes } = pair(clock);
    clock.advance(5000);
    expect([a.state, b.state]).toEqual([BfdState.UP, BfdState.UP]);
    const silencedAt = clock.now;
    const sentBefore = sent.b.length;
    b.silence(true);
    expect(b.silenced).toBe(true);
    clock.advance(2000);
    expect(sent.b.length).toBe(sentBefore);
    const aDown = changes.a.find(([at, s]) => at > silencedAt && s === BfdState.DOWN)!;
    expect(aDown[2]).toBe(BfdDiagnostic.DETECTION_TIME_EXPIRED);
    expect(aDown[0] - silencedAt).toBeLessThanOrEqual(900);
    // b heard none of a's packets (a's Down included): its own detection time ran out.
    expect(changes.b.find(([at, s]) => at > silencedAt && s === BfdState.DOWN)![2]).toBe(BfdDiagnostic.DETECTION_TIME_EXPIRED);
    expect([a.state, b.state]).toEqual([BfdState.DOWN, BfdState.DOWN]);
    b.silence(false);
    expect(sent.b.length).toBe(sentBefore); // the first packet goes on the next tick
    clock.advance(5000);
    expect([a.state, b.state]).toEqual([BfdState.UP, BfdState.UP]);
    expect(sent.b.at(-1)).toMatchObject({ state: BfdState.UP, myDiscriminator: 22, yourDiscriminator: 11, desiredMinTxUs: 300_000 });
  });

  test('a silenced session that is stopped says nothing, not even AdminDown', () => {
    const clock = new FakeClock();
    const { b, sent } = pair(clock);
    clock.advance(5000);
    b.silence(true);
    const before = sent.b.length;
    b.stop();
    clock.advance(1000);
    expect(sent.b.length).toBe(before);
    b.silence(false);
    clock.advance(1000);
    expect(sent.b.length).toBe(before);
  });

  test('a peer that stops says AdminDown: the other side goes down at once, as told, not by timeout', () => {
    const clock = new FakeClock();
    const { a, b, changes } = pair(clock);
    clock.advance(5000);
    const stoppedAt = clock.now;
    b.stop();
    clock.advance(10);
    expect(a.state).toBe(BfdState.DOWN);
    expect(changes.a.at(-1)).toEqual([stoppedAt + 1, BfdState.DOWN, BfdDiagnostic.NEIGHBOR_SIGNALED_DOWN]);
    expect(b.state).toBe(BfdState.ADMIN_DOWN);
  });

  test('a peer that restarts (new discriminator, Down) takes the session down, then up again', () => {
    const clock = new FakeClock();
    const packets: BfdPacket[] = [];
    const a = new BfdSession({ timers: TIMERS, localDiscriminator: 11, clock, send: (p) => packets.push(p) });
    const peer = (state: BfdState, your: number, my = 99) => a.receive({
      diagnostic: 0, state, poll: false, final: false, detectMultiplier: 3,
      myDiscriminator: my, yourDiscriminator: your, desiredMinTxUs: 300_000, requiredMinRxUs: 300_000,
    });
    peer(BfdState.DOWN, 0);
    peer(BfdState.UP, 11);
    expect(a.state).toBe(BfdState.UP);
    peer(BfdState.DOWN, 0, 123);
    expect(a.state).toBe(BfdState.DOWN);
    peer(BfdState.INIT, 11, 123);
    expect(a.state).toBe(BfdState.UP);
    clock.advance(100);
    expect(packets.at(-1)).toMatchObject({ state: BfdState.UP, yourDiscriminator: 123 });
  });

  test('a peer that asks for no packets (RequiredMinRx 0) gets none', () => {
    const clock = new FakeClock();
    const packets: BfdPacket[] = [];
    const a = new BfdSession({ timers: TIMERS, localDiscriminator: 11, clock, send: (p) => packets.push(p) });
    clock.advance(1);
    a.receive({
      diagnostic: 0, state: BfdState.DOWN, poll: false, final: false, detectMultiplier: 3,
      myDiscriminator: 7, yourDiscriminator: 0, desiredMinTxUs: 1_000_000, requiredMinRxUs: 0,
    });
    const after = packets.length;
    clock.advance(5000);
    expect(packets.length).toBe(after);
  });
});

describe('BFD control packets', () => {
  const packet: BfdPacket = {
    diagnostic: 1, state: BfdState.UP, poll: true, final: false, detectMultiplier: 3,
    myDiscriminator: 0xdeadbeef, yourDiscriminator: 7, desiredMinTxUs: 300_000, requiredMinRxUs: 250_000,
  };

  test('encode and decode round-trip in the RFC 5880 §4.1 layout', () => {
    const bytes = encodeBfdPacket(packet);
    expect(bytes.toString('hex')).toBe('21e0031' + '8deadbeef' + '00000007' + '000493e0' + '0003d090' + '00000000');
    expect(decodeBfdPacket(bytes)).toEqual(packet);
  });

  test('packets that §6.8.6 says to discard are refused', () => {
    const bad = (mutate: (b: Buffer) => void) => { const b = encodeBfdPacket(packet); mutate(b); return decodeBfdPacket(b); };
    expect(bad((b) => { b[0] = (2 << 5) | 1; })).toBeUndefined(); // version 2
    expect(bad((b) => { b[2] = 0; })).toBeUndefined(); // detect multiplier 0
    expect(bad((b) => { b.writeUInt32BE(0, 4); })).toBeUndefined(); // my discriminator 0
    expect(bad((b) => { b.writeUInt32BE(0, 8); })).toBeUndefined(); // your discriminator 0 while Up
    expect(bad((b) => { b[1] |= 0x04; })).toBeUndefined(); // authentication, not configured
    expect(bad((b) => { b[1] |= 0x01; })).toBeUndefined(); // multipoint
    expect(bad((b) => { b[3] = 30; })).toBeUndefined(); // longer than the datagram
    expect(decodeBfdPacket(encodeBfdPacket(packet).subarray(0, 20))).toBeUndefined();
  });
});
