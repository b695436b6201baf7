import { Clock } from '../src/clock';

/** Virtual time: timers run in order as `advance` moves the clock. */
export class FakeClock implements Clock {
  now = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void { this.timers.delete(handle as number); }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }
}

/** Real timers on a time that runs `factor` times as fast: a minute of backoff passes in 60 / factor s. */
export class FastClock implements Clock {
  private readonly startedAt = performance.now();
  constructor(private readonly factor: number) {}
  /** Virtual milliseconds since the clock was made. */
  get now(): number { return (performance.now() - this.startedAt) * this.factor; }
  setTimeout(fn: () => void, ms: number): unknown { return setTimeout(fn, ms / this.factor); }
  clearTimeout(handle: unknown): void { clearTimeout(handle as NodeJS.Timeout); }
}
