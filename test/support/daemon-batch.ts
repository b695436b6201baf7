import { execFile, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * The real daemons' checkers (the same commands as daemons.ts) for many files at once: identical
 * files are checked once (by content hash), and at most `parallelism` checkers run at a time, so a
 * property test can send hundreds of generated files through them on a 2-core machine.
 *
 * exabgp is the slow one: `exabgp --test` spends ~0.35 s of its ~0.4 s importing exabgp. Its files
 * go to one Python process (EXABGP_BATCH) that imports exabgp once and then, per file, forks a child
 * that runs exabgp's own `main()` with `exabgp --test FILE` as its argv: the same code path and exit
 * status as the command, at ~30 ms a file.
 */

export type CheckerKind = 'gobgpd' | 'frr' | 'bird' | 'exabgp' | 'keepalived' | 'sysctl' | 'shell' | 'json' | 'python';

/** One file to check, and where it came from (for the report). */
export interface BatchItem {
  readonly kind: CheckerKind;
  readonly text: string;
  /** e.g. `run 12: routers/edge/frr.conf` */
  readonly origin: string;
}

/** A checker's refusal, with every origin of the refused content. */
export interface BatchFailure {
  readonly kind: CheckerKind;
  readonly code: number;
  readonly output: string;
  readonly text: string;
  readonly origins: string[];
}

export interface BatchReport {
  /** Files submitted, including duplicates. */
  readonly submitted: number;
  /** Distinct (kind, content) pairs, each checked once. */
  readonly checked: number;
  readonly perKind: Record<string, number>;
  readonly failures: BatchFailure[];
  readonly seconds: number;
}

const FILE_NAMES: Record<CheckerKind, string> = {
  gobgpd: 'gobgpd.toml', frr: 'frr.conf', bird: 'bird.conf', exabgp: 'exabgp.conf', keepalived: 'keepalived.conf',
  sysctl: '99-ecmp-router.conf', shell: 'daemons', json: 'file.json', python: 'announcer.py',
};

function command(kind: CheckerKind, file: string, dir: string): [string, string[]] {
  switch (kind) {
    case 'gobgpd': return ['gobgpd', ['-d', '-t', 'toml', '-f', file]];
    case 'frr': return ['vtysh', ['-C', '-f', file]];
    case 'bird': return ['bird', ['-p', '-c', file]];
    case 'exabgp': return ['exabgp', ['--test', file]];
    case 'keepalived': return ['keepalived', ['-t', '-l', '-f', file, '-p', path.join(dir, 'k.pid'), '-c', path.join(dir, 'c.pid'), '-r', path.join(dir, 'r.pid')]];
    case 'sysctl': return ['unshare', ['--net', 'sysctl', '-p', file]];
    case 'shell': return ['bash', ['-n', file]];
    case 'python': return ['python3', ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read())', file]];
    case 'json': return ['node', ['-e', 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))', file]];
  }
}

/** exabgp's entry point, once imported, forked per file; prints one JSON line per file. */
const EXABGP_BATCH = `
import os, sys, json
from exabgp.application.bgp import main
for line in sys.stdin:
    path = line.strip()
    if not path:
        continue
    out = os.open(path + '.out', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    pid = os.fork()
    if pid == 0:
        os.dup2(out, 1)
        os.dup2(out, 2)
        sys.argv = ['/usr/sbin/exabgp', '--test', path]
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    os.close(out)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(json.dumps({'path': path, 'code': os.waitstatus_to_exitcode(status)}) + '\\n')
    sys.stdout.flush()
`;

/** Checks exabgp configs in one Python process (see EXABGP_BATCH). */
function runExabgpBatch(texts: string[]): Promise<{ code: number; output: string }[]> {
  if (texts.length === 0) return Promise.resolve([]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batch-exabgp-'));
  const files = texts.map((text, i) => {
    const file = path.join(dir, `exabgp-${i}.conf`);
    fs.writeFileSync(file, text, { mode: 0o644 });
    return file;
  });
  return new Promise((resolve, reject) => {
    // Debian's exabgp runs on the system Python, whatever python3 is first on PATH.
    const child = spawn('/usr/bin/python3', ['-c', EXABGP_BATCH], { env: { ...process.env, exabgp_api_cli: 'false' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => { stdout += chunk; });
    child.stderr.on('data', chunk => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const codes = new Map(stdout.split('\n').filter(Boolean).map(line => JSON.parse(line) as { path: string; code: number }).map(r => [r.path, r.code]));
        if (code !== 0 || codes.size !== files.length) throw new Error(`the exabgp batch checker stopped (exit ${code}) after ${codes.size} of ${files.length} files:\n${stderr}`);
        resolve(files.map(file => ({ code: codes.get(file)!, output: fs.readFileSync(`${file}.out`, 'utf8') })));
      } catch (err) {
        reject(err);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
    child.stdin.end(files.map(f => `${f}\n`).join(''));
  });
}

function runOne(kind: CheckerKind, text: string): Promise<{ code: number; output: string }> {
  if (kind === 'json') {
    try {
      JSON.parse(text);
      return Promise.resolve({ code: 0, output: '' });
    } catch (err) {
      return Promise.resolve({ code: 1, output: (err as Error).message });
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batch-check-'));
  const file = path.join(dir, FILE_NAMES[kind]);
  fs.writeFileSync(file, text, { mode: 0o644 });
  const [program, args] = command(kind, file, dir);
  // No named pipes for exabgp's CLI here, as in daemons.ts.
  const env = { ...process.env, exabgp_api_cli: 'false' };
  return new Promise((resolve, reject) => {
    execFile(program, args, { encoding: 'utf8', timeout: 30_000, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      fs.rmSync(dir, { recursive: true, force: true });
      const output = `${stdout ?? ''}${stderr ?? ''}`;
      if (error && typeof (error as any).code !== 'number') {
        // A missing or killed checker must fail the test, never pass it.
        reject(new Error(`cannot run ${program} (${(error as any).code ?? ''} ${(error as any).signal ?? ''}): ${error.message}\n${output}`));
        return;
      }
      let code = error ? (error as any).code as number : 0;
      // sysctl -p skips a malformed line with a warning and still exits 0 (daemons.ts does the same).
      if (kind === 'sysctl' && code === 0 && /invalid|cannot|error/i.test(output)) code = 1;
      resolve({ code, output });
    });
  });
}

/** Checks every distinct file, `parallelism` at a time. */
export async function checkBatch(items: readonly BatchItem[], parallelism = 3): Promise<BatchReport> {
  const started = Date.now();
  const unique = new Map<string, { kind: CheckerKind; text: string; origins: string[] }>();
  for (const item of items) {
    const key = createHash('sha256').update(item.kind).update('\0').update(item.text).digest('hex');
    const entry = unique.get(key);
    if (entry) entry.origins.push(item.origin);
    else unique.set(key, { kind: item.kind, text: item.text, origins: [item.origin] });
  }
  const all = [...unique.values()];
  const failures: BatchFailure[] = [];
  const perKind: Record<string, number> = {};
  for (const entry of all) perKind[entry.kind] = (perKind[entry.kind] ?? 0) + 1;
  const exabgp = all.filter(e => e.kind === 'exabgp');
  const queue = all.filter(e => e.kind !== 'exabgp');
  let next = 0;
  const worker = async () => {
    while (next < queue.length) {
      const entry = queue[next++];
      const { code, output } = await runOne(entry.kind, entry.text);
      if (code !== 0) failures.push({ ...entry, code, output });
    }
  };
  // The exabgp batch is one process: it takes one of the `parallelism` slots.
  const exabgpDone = runExabgpBatch(exabgp.map(e => e.text)).then(results => results.forEach((r, i) => {
    if (r.code !== 0) failures.push({ ...exabgp[i], ...r });
  }));
  await Promise.all([exabgpDone, ...Array.from({ length: Math.max(1, parallelism - 1) }, worker)]);
  return { submitted: items.length, checked: all.length, perKind, failures, seconds: (Date.now() - started) / 1000 };
}
