import { BackoffPolicy, DEFAULT_BACKOFF, backoffDelay } from './backoff';
import { Clock, realClock } from './clock';
import { errorFields, Logger } from './log';

export interface SyncLoopOptions {
  /**
   * One level-triggered pass: compares the desired state with the real one and repairs the
   * difference. Throws (or rejects) when a step failed: the pass is then retried with backoff.
   */
  readonly pass: () => void | Promise<void>;
  /** A failed pass, and when it will be retried. */
  readonly onError: (err: unknown, retryInMs: number) => void;
  readonly backoff: BackoffPolicy;
  /** How often a pass runs whatever the events: it repairs what changed behind our back. */
  readonly resyncMs?: number;
  readonly clock?: Clock;
  /** Jitter source for the backoff, [0, 1). */
  readonly random?: () => number;
}

/**
 * The runtime's one work queue. Requests are coalesced into one pass on the next turn of the
 * event loop; passes never overlap, and a request during a pass runs one more after it. A failed
 * pass is retried with backoff until one succeeds, and `start` adds a periodic resync.
 */
export class SyncLoop {
  private scheduled = false;
  private running = false;
  private again = false;
  private stopped = false;
  private failures = 0;
  private retryTimer?: unknown;
  private resyncTimer?: unknown;
  /** Resolved when the next pass to start has ended. */
  private waiting: (() => void)[] = [];

  constructor(private readonly options: SyncLoopOptions) {}

  private get clock(): Clock { return this.options.clock ?? realClock; }

  /** Asks for a pass; resolves once a pass that started after this call has ended (failed or not). */
  request(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.running) {
      this.again = true;
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.run());
    }
    return done;
  }

  /** Starts the periodic resync. */
  start(): void {
    const resyncMs = this.options.resyncMs;
    if (resyncMs === undefined || this.stopped) return;
    const tick = () => {
      this.resyncTimer = this.clock.setTimeout(tick, resyncMs);
      void this.request();
    };
    this.resyncTimer = this.clock.setTimeout(tick, resyncMs);
  }

  /** No more passes; a pass in flight ends on its own. Pending requests resolve. */
  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.retryTimer);
    this.clock.clearTimeout(this.resyncTimer);
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  private async run(): Promise<void> {
    this.scheduled = false;
    this.running = true;
    do {
      this.again = false;
      const waiting = this.waiting.splice(0);
      if (!this.stopped) await this.passOnce();
      for (const resolve of waiting) resolve();
    } while (this.again && !this.stopped);
    this.running = false;
  }

  private async passOnce(): Promise<void> {
    try {
      await this.options.pass();
      this.failures = 0;
      this.clock.clearTimeout(this.retryTimer);
    } catch (err) {
      const delay = backoffDelay(this.options.backoff, this.failures++, this.options.random);
      // One retry pending at a time: the latest failure sets when.
      this.clock.clearTimeout(this.retryTimer);
      if (!this.stopped) this.retryTimer = this.clock.setTimeout(() => void this.request(), delay);
      this.options.onError(err, delay);
    }
  }
}

export interface SyncerOptions {
  /** A pass also runs this often, whatever the events: it repairs what others changed. */
  readonly resyncMs?: number;
  readonly retryBackoff?: BackoffPolicy;
  readonly clock?: Clock;
}

/** An agent's syncer: its `sync` pass runs on a SyncLoop. */
export abstract class LoopedSyncer {
  private readonly loop: SyncLoop;

  /** `failure`: the message logged when a pass fails. */
  protected constructor(log: Logger, failure: string, options: SyncerOptions) {
    this.loop = new SyncLoop({
      pass: async () => { await this.sync(); },
      onError: (err, retryInMs) => log.log('error', failure, { ...errorFields(err), retryInMs }),
      backoff: options.retryBackoff ?? DEFAULT_BACKOFF,
      resyncMs: options.resyncMs,
      clock: options.clock,
    });
  }

  /** One pass; throws (or rejects) when a step failed. */
  abstract sync(): unknown;

  /** Starts the periodic resync. */
  start(): void { this.loop.start(); }

  stop(): void { this.loop.stop(); }

  /** Coalesces bursts of events into one pass; resolves when it has run (a failed one is retried with backoff). */
  schedule(): Promise<void> { return this.loop.request(); }
}
