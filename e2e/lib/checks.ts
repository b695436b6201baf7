/** Assertions that are counted, not thrown: a run reports every failure, then exits non-zero. */
export class Checks {
  passed = 0;
  failed = 0;

  check(what: string, ok: boolean, detail = ''): boolean {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `  (${detail})` : ''}`);
    if (ok) this.passed++;
    else this.failed++;
    return ok;
  }

  summary(): string {
    return `${this.passed} passed, ${this.failed} failed`;
  }
}

/** Within ±`tolerance` (a fraction) of `expected`. */
export function within(value: number, expected: number, tolerance: number): boolean {
  return Math.abs(value - expected) <= expected * tolerance;
}
