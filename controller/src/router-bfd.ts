import { BfdDiagnostic, BfdEndpoint, BfdState, BfdTimers } from './bfd';
import { Clock, realClock } from './clock';
import { GobgpLiveness } from './gobgp-api';
import { errorFields, Logger } from './log';
import { RouterBfdConfig } from '../../lib/renderers/reflector-agent';

/** What `RouterBfd` needs of a BFD endpoint (BfdEndpoint, single-hop). */
export interface RouterBfdSessions {
  add(peer: string, timers: BfdTimers): void;
  silence(peer: string, on: boolean): void;
  remove(peer: string): void;
}

export interface RouterBfdOptions {
  readonly sessions: RouterBfdSessions;
  /** The routers' addresses and each session's timers. */
  readonly routers: readonly { readonly address: string; readonly timers: BfdTimers }[];
  readonly gobgpd: GobgpLiveness;
  readonly log: Logger;
  readonly clock?: Clock;
}

/**
 * The reflector agent's BFD sessions with the upstream routers, standing in for gobgpd, which has
 * no BFD of its own. A session speaks only while gobgpd is alive: the agent calls gobgpd's API
 * every (shortest) interval, and when gobgpd has not answered within a detection time
 * (multiplier x interval) or refuses the connection, every session is silenced (BfdSession.silence),
 * so each router's detection time runs out and it drops its BGP session with this reflector instead
 * of waiting for the BGP hold time. Silence, not AdminDown: RFC 5882 lets a client ignore
 * AdminDown (later FRR releases do), and a timeout is what a dead speaker looks like. When the
 * whole box dies, the agent dies with it and the routers see the same silence. The sessions start
 * silenced and speak from the first answer on, so a router never sees BFD up before gobgpd is.
 * The agent's own graceful stop says AdminDown, which FRR 8.4 and BIRD 2.0.12 act on all the same
 * (measured): restarting the agent resets the routers' sessions with this reflector.
 */
export class RouterBfd {
  private alive = false;
  private stopped = false;
  private timer?: unknown;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: RouterBfdOptions) {
    this.clock = options.clock ?? realClock;
    this.intervalMs = Math.min(...options.routers.map((r) => r.timers.minTxMs));
    this.timeoutMs = Math.min(...options.routers.map((r) => r.timers.minTxMs * r.timers.multiplier));
    for (const router of options.routers) {
      options.sessions.add(router.address, router.timers);
      options.sessions.silence(router.address, true);
    }
    void this.probe();
  }

  /** Whether the sessions speak (gobgpd answered the last probe in time). */
  get speaking(): boolean { return this.alive; }

  /** Ends the sessions with AdminDown (a graceful stop of the agent, not a dead reflector) and stops probing. */
  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    for (const router of this.options.routers) this.options.sessions.remove(router.address);
  }

  private async probe(): Promise<void> {
    if (this.stopped) return;
    let timeout: unknown;
    const answered = await Promise.race([
      this.options.gobgpd.alive(this.timeoutMs).then(() => undefined, (err: unknown) => err ?? new Error('failed')),
      new Promise<Error>((resolve) => { timeout = this.clock.setTimeout(() => resolve(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs); }),
    ]);
    this.clock.clearTimeout(timeout);
    if (this.stopped) return;
    this.set(answered === undefined, answered);
    this.timer = this.clock.setTimeout(() => void this.probe(), this.intervalMs);
  }

  private set(alive: boolean, err: unknown): void {
    if (alive === this.alive) return;
    this.alive = alive;
    for (const router of this.options.routers) this.options.sessions.silence(router.address, !alive);
    const routers = this.options.routers.map((r) => r.address);
    if (alive) this.options.log.log('info', 'gobgpd answers: BFD with the routers speaks', { routers });
    else this.options.log.log('warn', 'gobgpd does not answer: BFD with the routers silenced, so they drop this reflector', { routers, ...errorFields(err) });
  }
}

/**
 * Opens the single-hop endpoint on the reflector's address and runs `RouterBfd` on it; logs each
 * session's state. Undefined when the address cannot be bound here (the routers then fall back to
 * the BGP hold time, and the agent goes on binding LB pods).
 */
export async function startRouterBfd(config: RouterBfdConfig, gobgpd: GobgpLiveness, log: Logger): Promise<{ stop(): void } | undefined> {
  if (config.routers.length === 0) return undefined;
  const endpoint = await BfdEndpoint.open(config.localAddress, (peer, state, diagnostic) => {
    log.log(state === BfdState.UP || state === BfdState.INIT ? 'info' : 'warn', `BFD session with router ${peer} ${BfdState[state].toLowerCase()}`,
      { peer, diagnostic: BfdDiagnostic[diagnostic]?.toLowerCase() ?? diagnostic });
  }, { singleHop: true }).catch((err) => {
    log.log('error', 'BFD with the routers not started: the reflector address cannot be bound here; they fall back to the BGP hold time', { localAddress: config.localAddress, ...errorFields(err) });
    return undefined;
  });
  if (!endpoint) return undefined;
  const routers = config.routers.map((r) => ({
    address: r.address,
    timers: { minTxMs: r.minIntervalMs, minRxMs: r.minIntervalMs, multiplier: r.multiplier },
  }));
  const bfd = new RouterBfd({ sessions: endpoint, routers, gobgpd, log });
  return { stop: () => { bfd.stop(); endpoint.close(); } };
}
