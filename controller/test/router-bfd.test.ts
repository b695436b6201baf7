import { FakeClock } from './fake-clock';
import { BfdTimers } from '../src/bfd';
import { GobgpLiveness } from '../src/gobgp-api';
import { Logger } from '../src/log';
import { RouterBfd, RouterBfdSessions } from '../src/router-bfd';

const TIMERS: BfdTimers = { minTxMs: 300, minRxMs: 300, multiplier: 3 };
const ROUTERS = [{ address: '198.18.0.110', timers: TIMERS }, { address: '198.18.0.111', timers: TIMERS }];

/** gobgpd's API as the agent sees it: answers, refuses the connection (dead), or never answers (hung). */
class FakeGobgpd implements GobgpLiveness {
  mode: 'answer' | 'refuse' | 'hang' = 'answer';
  /** Each probe's timeout and when it came. */
  calls: { timeoutMs: number; at: number }[] = [];
  constructor(private readonly clock: FakeClock) {}
  alive(timeoutMs: number): Promise<void> {
    this.calls.push({ timeoutMs, at: this.clock.now });
    if (this.mode === 'answer') return Promise.resolve();
    if (this.mode === 'refuse') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:50051'));
    return new Promise(() => undefined);
  }
}

class FakeSessions implements RouterBfdSessions {
  readonly added: [string, BfdTimers][] = [];
  readonly silenced = new Map<string, boolean>();
  readonly removed: string[] = [];
  add(peer: string, timers: BfdTimers): void { this.added.push([peer, timers]); }
  silence(peer: string, on: boolean): void { this.silenced.set(peer, on); }
  remove(peer: string): void { this.removed.push(peer); }
  /** Every session silenced (true), every one speaking (false), or a mix (undefined). */
  get allSilenced(): boolean | undefined {
    const values = new Set(ROUTERS.map((r) => this.silenced.get(r.address)));
    return values.size === 1 ? [...values][0] : undefined;
  }
}

function lab() {
  const clock = new FakeClock();
  const gobgpd = new FakeGobgpd(clock);
  const sessions = new FakeSessions();
  const logs: string[] = [];
  const log: Logger = { log: (level, msg) => logs.push(`${level} ${msg}`), child: () => log };
  const bfd = new RouterBfd({ sessions, routers: ROUTERS, gobgpd, log, clock });
  /** Moves the clock in 10 ms steps, letting the probes' promises settle between steps. */
  const advance = async (ms: number) => {
    for (let done = 0; done < ms; done += 10) {
      clock.advance(Math.min(10, ms - done));
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
  };
  return { clock, gobgpd, sessions, logs, bfd, advance };
}

describe('RouterBfd: the agent\'s BFD with the routers speaks only while gobgpd answers', () => {
  test('a session per router, silenced until gobgpd first answers; probes every interval with the detection time as timeout', async () => {
    const { gobgpd, sessions, bfd, advance } = lab();
    expect(sessions.added).toEqual(ROUTERS.map((r) => [r.address, TIMERS]));
    expect(sessions.allSilenced).toBe(true);
    expect(bfd.speaking).toBe(false);
    await advance(10);
    expect(sessions.allSilenced).toBe(false);
    expect(bfd.speaking).toBe(true);
    await advance(3000);
    // 3 s / 300 ms: one probe per interval, each with 900 ms to answer.
    expect(gobgpd.calls.length).toBeGreaterThanOrEqual(10);
    expect(gobgpd.calls.length).toBeLessThanOrEqual(11);
    expect(new Set(gobgpd.calls.map((c) => c.timeoutMs))).toEqual(new Set([900]));
  });

  test('gobgpd dead (its API refuses): silenced at the next probe, within one interval; speaking again when it answers', async () => {
    const { gobgpd, sessions, logs, advance } = lab();
    await advance(100);
    gobgpd.mode = 'refuse';
    await advance(300);
    expect(sessions.allSilenced).toBe(true);
    expect(logs.at(-1)).toMatch(/^warn gobgpd does not answer: BFD with the routers silenced/);
    gobgpd.mode = 'answer';
    await advance(300);
    expect(sessions.allSilenced).toBe(false);
    expect(logs.at(-1)).toMatch(/^info gobgpd answers/);
  });

  test('gobgpd hung (no answer): still speaking until the detection time has passed without an answer, then silenced', async () => {
    const { clock, gobgpd, sessions, advance } = lab();
    await advance(100);
    gobgpd.mode = 'hang';
    const probes = gobgpd.calls.length;
    await advance(300); // the next probe starts, and hangs
    expect(gobgpd.calls.length).toBe(probes + 1);
    const hungFrom = gobgpd.calls.at(-1)!.at;
    await advance(hungFrom + 880 - clock.now);
    expect(sessions.allSilenced).toBe(false);
    await advance(40);
    expect(sessions.allSilenced).toBe(true);
    // One probe at a time: the hung one, then the next only after its timeout.
    expect(gobgpd.calls.length).toBe(probes + 1);
    gobgpd.mode = 'answer';
    await advance(400);
    expect(sessions.allSilenced).toBe(false);
  });

  test('stop: every session removed (AdminDown from a speaking one), and no probe after', async () => {
    const { gobgpd, sessions, bfd, advance } = lab();
    await advance(100);
    bfd.stop();
    const probes = gobgpd.calls.length;
    await advance(2000);
    expect(sessions.removed).toEqual(ROUTERS.map((r) => r.address));
    expect(gobgpd.calls.length).toBe(probes);
  });
});
