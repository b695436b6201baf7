import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { BackoffPolicy, backoffDelay } from './backoff';
import { KeepalivedControl } from './controller';
import { Logger } from './log';
import { ControllerMetrics } from './metrics';

export interface KeepalivedSupervisorOptions {
  readonly configPath: string;
  /** Holds keepalived's pid files: several LB pods on one node must not share them. */
  readonly runDir: string;
  readonly log: Logger;
  readonly metrics: ControllerMetrics;
  readonly binary?: string;
  readonly restartBackoff?: BackoffPolicy;
  /** How long keepalived gets to remove its IPVS rules after TERM before it is killed. */
  readonly stopTimeoutMs?: number;
  /** Each of keepalived's log lines (the IPVS reorderer reads the removals it crossed). */
  readonly onLogLine?: (line: string) => void;
}

/**
 * Runs keepalived in the foreground (checker subsystem only: no VRRP here, ECMP gives redundancy),
 * relays its log lines as JSON, restarts it with backoff if it dies, and reloads it by SIGHUP.
 */
export class KeepalivedSupervisor implements KeepalivedControl {
  private child?: ChildProcess;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  private failures = 0;
  private restartRequested = false;

  constructor(private readonly options: KeepalivedSupervisorOptions) {}

  get running(): boolean { return this.child !== undefined; }

  reload(): void {
    if (this.stopping) return;
    if (!this.child) {
      if (!this.restartTimer) this.spawn();
      return; // a starting keepalived reads the current file anyway
    }
    this.child.kill('SIGHUP');
  }

  restart(): void {
    if (this.stopping) return;
    if (!this.child) return this.reload();
    this.restartRequested = true;
    // TERM: it removes the IPVS rules it knows of; the new one flushes the rest (`lvs_flush`).
    this.child.kill('SIGTERM');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // TERM to the parent only: it stops its children and removes the IPVS rules it made.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs ?? 10_000);
    await exited;
    clearTimeout(timer);
  }

  private spawn(): void {
    const { runDir, configPath, log } = this.options;
    const pidFiles = { '-p': 'keepalived.pid', '-c': 'keepalived-checkers.pid', '-r': 'keepalived-vrrp.pid' };
    // A restarted container keeps the emptyDir: stale pid files could name an unrelated process.
    for (const file of Object.values(pidFiles)) fs.rmSync(path.join(runDir, file), { force: true });
    const args = ['--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--check', '-f', configPath,
      ...Object.entries(pidFiles).flatMap(([flag, file]) => [flag, path.join(runDir, file)])];
    const child = spawn(this.options.binary ?? 'keepalived', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const startedAt = Date.now();
    const keepalivedLog = log.child({ source: 'keepalived' });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => {
        keepalivedLog.log('info', line.trim());
        this.options.onLogLine?.(line);
      });
    }
    child.on('error', (err) => log.log('error', 'could not start keepalived', { error: err.message }));
    child.on('exit', (code, signal) => {
      this.child = undefined;
      if (this.stopping) return;
      if (this.restartRequested) {
        this.restartRequested = false;
        this.options.metrics.keepalivedRestarts.inc();
        log.log('info', 'keepalived stopped for a restart; starting it again', { code, signal });
        return this.spawn();
      }
      // A run that lasted a minute counts as healthy: start the backoff over.
      this.failures = Date.now() - startedAt > 60_000 ? 0 : this.failures + 1;
      const delay = backoffDelay(this.options.restartBackoff ?? { initialMs: 500, maxMs: 30_000 }, this.failures - 1);
      log.log('error', 'keepalived exited; restarting', { code, signal, restartInMs: delay });
      this.options.metrics.keepalivedRestarts.inc();
      this.options.metrics.errors.inc({ kind: 'keepalived_exit' });
      this.restartTimer = setTimeout(() => { this.restartTimer = undefined; if (!this.stopping) this.spawn(); }, delay);
    });
    log.log('info', 'keepalived started', { pid: child.pid, args });
  }
}
