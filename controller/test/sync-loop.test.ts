import { FakeClock } from './fake-clock';
import { settle } from './wait';
import { SyncLoop } from '../src/sync-loop';

describe('SyncLoop', () => {
  let clock: FakeClock;
  let loop: SyncLoop | undefined;
  beforeEach(() => { clock = new FakeClock(); });
  afterEach(() => loop?.stop());

  function makeLoop(pass: () => void | Promise<void>, errors: number[] = [], resyncMs?: number): SyncLoop {
    // random 0: each delay is half its ceiling, 50, 100, 200, ... 500.
    loop = new SyncLoop({
      pass, onError: (_err, retryInMs) => errors.push(retryInMs), backoff: { initialMs: 100, maxMs: 1000 }, resyncMs, clock, random: () => 0,
    });
    return loop;
  }

  test('a burst of requests is one pass; a request during a pass runs exactly one more after it, never alongside', async () => {
    let passes = 0;
    let inFlight = 0;
    let overlapped = false;
    let release: (() => void) | undefined;
    const l = makeLoop(async () => {
      passes++;
      overlapped ||= inFlight > 0;
      inFlight++;
      await new Promise<void>((resolve) => { release = resolve; });
      inFlight--;
    });
    const burst = Promise.all([l.request(), l.request(), l.request()]);
    await settle();
    expect(passes).toBe(1);
    const during = [l.request(), l.request()];
    release!();
    await burst;
    await settle();
    expect(passes).toBe(2); // both requests made during the first pass share the second
    release!();
    await Promise.all(during);
    await settle();
    expect(passes).toBe(2);
    expect(overlapped).toBe(false);
  });

  test('a failed pass is retried with growing backoff until one succeeds, then no more retries', async () => {
    let passes = 0;
    const errors: number[] = [];
    const l = makeLoop(() => { if (++passes <= 3) throw new Error('step failed'); }, errors);
    await l.request();
    expect([passes, errors]).toEqual([1, [50]]);
    clock.advance(49);
    await settle();
    expect(passes).toBe(1);
    clock.advance(1);
    await settle();
    expect([passes, errors]).toEqual([2, [50, 100]]);
    clock.advance(100);
    await settle();
    expect([passes, errors]).toEqual([3, [50, 100, 200]]);
    clock.advance(200);
    await settle();
    expect(passes).toBe(4); // succeeded
    clock.advance(10_000);
    await settle();
    expect(passes).toBe(4);
    // The backoff starts over after a success.
    passes = 0; // the pass fails three times again
    await l.request();
    expect(errors.slice(3)).toEqual([50]);
  });

  test('a request while a retry is pending runs at once; the retry still follows if that pass fails too', async () => {
    let passes = 0;
    const errors: number[] = [];
    const l = makeLoop(() => { passes++; throw new Error('still failing'); }, errors);
    await l.request();
    await l.request();
    expect([passes, errors]).toEqual([2, [50, 100]]);
    clock.advance(99);
    await settle();
    expect(passes).toBe(2); // the first retry was replaced by the second failure's
    clock.advance(1);
    await settle();
    expect(passes).toBe(3);
  });

  test('resyncs every resyncMs once started, whatever the requests; none after stop', async () => {
    let passes = 0;
    const l = makeLoop(() => { passes++; }, [], 1000);
    clock.advance(5000);
    await settle();
    expect(passes).toBe(0); // not started
    l.start();
    clock.advance(999);
    await settle();
    expect(passes).toBe(0);
    clock.advance(1);
    await settle();
    expect(passes).toBe(1);
    clock.advance(2000);
    await settle();
    expect(passes).toBe(2); // both ticks fell in one turn of the event loop: coalesced
    clock.advance(1000);
    await settle();
    expect(passes).toBe(3);
    l.stop();
    clock.advance(5000);
    await settle();
    await expect(l.request()).resolves.toBeUndefined();
    expect(passes).toBe(3);
  });
});
