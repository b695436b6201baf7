/** One JSON object per line on stdout: what log collectors parse without configuration. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function jsonLogger(base: Record<string, unknown> = {}, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return {
    log(level, msg, fields = {}) {
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields })}\n`);
    },
    child(fields) {
      return jsonLogger({ ...base, ...fields }, write);
    },
  };
}

/** Drops everything (tests that do not look at logs). */
export const silentLogger: Logger = { log() {}, child() { return silentLogger; } };

/** An error's useful part for a log line. */
export function errorFields(err: unknown): Record<string, unknown> {
  const e = err as { message?: string; code?: unknown; statusCode?: unknown };
  return { error: e?.message ?? String(err), code: e?.code ?? e?.statusCode };
}
