import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Runs a command to completion (inside a namespace when `ns` is set); throws with its stderr on failure. */
export function run(ns: string | undefined, argv: string[], options: { input?: string; timeoutMs?: number } = {}): string {
  const full = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
  try {
    return execFileSync(full[0], full.slice(1), { input: options.input, encoding: 'utf8', timeout: options.timeoutMs ?? 15_000, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${full.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

/** Like run(), but a failure is an empty string: for probes that poll until something exists. */
export function probe(ns: string | undefined, argv: string[], timeoutMs = 5_000): string {
  try {
    return run(ns, argv, { timeoutMs });
  } catch {
    return '';
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A long-running program the harness started. */
export interface Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

/**
 * Every long-running process the harness starts, so that all of them are stopped on success,
 * failure or interrupt. Each runs in its own process group: stopping a daemon also stops the
 * helpers it spawned (exabgp's announcer, keepalived's checkers).
 */
export class ProcessSet {
  private readonly daemons = new Set<Daemon>();

  constructor(readonly logDir: string) {
    fs.mkdirSync(logDir, { recursive: true });
  }

  start(name: string, ns: string | undefined, argv: string[], env: Record<string, string> = {}): Daemon {
    const logFile = path.join(this.logDir, `${name}.log`);
    const out = fs.openSync(logFile, 'a');
    const full = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', out, out], detached: true, env: { ...process.env, ...env } });
    fs.closeSync(out);
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    const daemon: Daemon = { name, child, logFile, exited };
    this.daemons.add(daemon);
    void exited.then(() => this.daemons.delete(daemon));
    return daemon;
  }

  /** Sends a signal to the daemon's main process only (a controller drains on TERM and stops its own keepalived). */
  signal(daemon: Daemon, signal: NodeJS.Signals): void {
    if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill(signal);
  }

  /** Sends a signal to the daemon's whole process group (SIGSTOP freezes exabgp and its announcer alike). */
  signalGroup(daemon: Daemon, signal: NodeJS.Signals): void {
    killGroup(daemon, signal);
  }

  /** TERM to the daemon's process group, KILL after `graceMs`; resolves once it has exited. */
  async stop(daemon: Daemon, graceMs = 3_000): Promise<void> {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
    killGroup(daemon, 'SIGTERM');
    const timer = setTimeout(() => killGroup(daemon, 'SIGKILL'), graceMs);
    await daemon.exited;
    clearTimeout(timer);
    killGroup(daemon, 'SIGKILL'); // helpers left behind by a parent that exited first
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.daemons].map((d) => this.stop(d, 2_000)));
  }
}

function killGroup(daemon: Daemon, signal: NodeJS.Signals): void {
  try {
    process.kill(-daemon.child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Polls `read` until `good` holds or `timeoutMs` passes; returns the last value and the time taken. */
export async function waitFor<T>(
  read: () => T,
  good: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 50,
): Promise<{ ok: boolean; value: T; ms: number }> {
  const start = performance.now();
  let value = read();
  while (!good(value) && performance.now() - start < timeoutMs) {
    await sleep(intervalMs);
    value = read();
  }
  return { ok: good(value), value, ms: performance.now() - start };
}
