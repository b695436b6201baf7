import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadOptions, LoadResult } from '../load-client';
import { CLIENT_NS } from './lab';
import { ProcessSet } from './proc';

/** How to run a sibling TypeScript entry point: compiled JS when this file is compiled, ts-node otherwise. */
export function nodeEntry(name: string): string[] {
  const compiled = __filename.endsWith('.js');
  const file = path.resolve(__dirname, '..', `${name}${compiled ? '.js' : '.ts'}`);
  return compiled ? [process.execPath, file] : [process.execPath, '-r', 'ts-node/register/transpile-only', file];
}

/** A running load client: resolves with its result once it ends; `end()` ends it early (SIGTERM: requests in flight still count). */
export type LoadRun = Promise<LoadResult> & { end(): void };

/** Starts the bounded load client in the client namespace. */
export function startLoad(procs: ProcessSet, workDir: string, name: string, options: Omit<LoadOptions, 'out' | 'startedFile'>): LoadRun {
  const out = path.join(workDir, `${name}.json`);
  const started = startedFile(workDir, name);
  fs.rmSync(out, { force: true });
  fs.rmSync(started, { force: true });
  const daemon = procs.start(name, CLIENT_NS, [...nodeEntry('load-client'), JSON.stringify({ ...options, out, startedFile: started })]);
  const result = daemon.exited.then((code) => {
    if (code !== 0 || !fs.existsSync(out)) throw new Error(`load client ${name} ended with ${code}: see ${daemon.logFile}`);
    return JSON.parse(fs.readFileSync(out, 'utf8')) as LoadResult;
  });
  return Object.assign(result, { end: () => procs.signal(daemon, 'SIGTERM') });
}

function startedFile(workDir: string, name: string): string {
  return path.join(workDir, `${name}.started`);
}

/** Resolves once the load client `name` runs (its first request is being sent); a client that never starts fails within `timeoutMs`. */
export async function loadStarted(workDir: string, name: string, timeoutMs = 30_000): Promise<void> {
  const file = startedFile(workDir, name);
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`load client ${name} did not start within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function describeLoad(result: LoadResult): string {
  const errors = Object.entries(result.errors).map(([k, v]) => `${k}:${v}`).join(',') + (result.failed ? ` at ${result.errorTimes.join(',')} s` : '');
  return `${result.ok} ok, ${result.failed} failed${errors ? ` (${errors})` : ''} in ${result.seconds.toFixed(1)} s; per LB ${JSON.stringify(result.byLb)}; per backend ${JSON.stringify(result.byBackend)}`;
}
