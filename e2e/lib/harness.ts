import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checks } from './checks';
import { destroyLab } from './lab';
import { ProcessSet } from './proc';

/** What a scenario gets: its checks, a process set and a work directory, all torn down by `runScenario`. */
export interface ScenarioContext {
  readonly checks: Checks;
  readonly procs: ProcessSet;
  readonly workDir: string;
  /** Registers something to undo at teardown (before the processes are stopped). */
  onTeardown(undo: () => unknown): void;
}

/**
 * Runs scenarios one after another, each in a fresh lab, and always stops every process and
 * deletes every namespace, on success, failure, or SIGINT/SIGTERM. Exits non-zero on any failed
 * check, or when a whole run exceeds `deadlineSeconds`.
 */
export async function runScenarios(
  title: string,
  scenarios: [string, (ctx: ScenarioContext) => Promise<void>][],
  deadlineSeconds: number,
): Promise<never> {
  const checks = new Checks();
  const keepLogs = process.env.E2E_LOG_DIR;
  const root = keepLogs ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-e2e-'));
  let current: ProcessSet | undefined;
  let undos: (() => unknown)[] = [];
  const teardown = async () => {
    for (const undo of undos.splice(0).reverse()) await Promise.resolve().then(undo).catch(() => undefined);
    await current?.stopAll();
    destroyLab();
  };
  const abort = (why: string) => {
    console.log(`FAIL ${why}: tearing down`);
    void teardown().finally(() => process.exit(1));
  };
  process.once('SIGINT', () => abort('interrupted'));
  process.once('SIGTERM', () => abort('terminated'));
  const deadline = setTimeout(() => abort(`${title} took longer than ${deadlineSeconds} s`), deadlineSeconds * 1000);
  const started = performance.now();
  for (const [name, scenario] of scenarios) {
    console.log(`# ${name}`);
    const workDir = path.join(root, name.replace(/[^A-Za-z0-9]+/g, '-'));
    current = new ProcessSet(path.join(workDir, 'logs'));
    try {
      await scenario({ checks, procs: current, workDir, onTeardown: (undo) => undos.push(undo) });
    } catch (err) {
      checks.check(`${name}: ran to the end`, false, (err as Error).stack ?? String(err));
    } finally {
      await teardown();
    }
  }
  clearTimeout(deadline);
  const keep = keepLogs || checks.failed > 0;
  console.log(`# ${title}: ${checks.summary()} in ${((performance.now() - started) / 1000).toFixed(0)} s${keep ? ` (logs: ${root})` : ''}`);
  if (!keep) fs.rmSync(root, { recursive: true, force: true });
  process.exit(checks.failed === 0 ? 0 : 1);
}
