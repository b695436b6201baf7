import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** What a daemon's own config checker said about a file. */
export interface CheckResult {
  /** Exit status: 0 when the daemon accepts the file. */
  readonly code: number;
  /** stdout and stderr together. */
  readonly output: string;
}

/** `gobgpd -d`: decodes the whole file; rejects unknown keys, bad types, families and peer groups. */
export function checkGobgpd(toml: string): CheckResult {
  return check('gobgpd.toml', toml, file => ['gobgpd', ['-d', '-t', 'toml', '-f', file]]);
}

/** `exabgp --test`: parses the file and round-trips every static route through an UPDATE. */
export function checkExabgp(conf: string): CheckResult {
  // No named pipes for the CLI here: without this exabgp logs a page of errors about them.
  return check('exabgp.conf', conf, file => ['exabgp', ['--test', file]], { exabgp_api_cli: 'false' });
}

/** `keepalived -t`: exits 0 only on a clean file. Its own pid files keep it off the system's. */
export function checkKeepalived(conf: string): CheckResult {
  return check('keepalived.conf', conf, (file, dir) => ['keepalived', [
    '-t', '-l', '-f', file,
    '-p', path.join(dir, 'keepalived.pid'), '-c', path.join(dir, 'checkers.pid'), '-r', path.join(dir, 'vrrp.pid'),
  ]]);
}

/** `vtysh -C`: FRR's real checker (`zebra -C` and `bgpd -C` accept garbage). Needs an absolute path. */
export function checkFrr(conf: string): CheckResult {
  return check('frr.conf', conf, file => ['vtysh', ['-C', '-f', file]]);
}

/** `bird -p`: parses the file and exits. */
export function checkBird(conf: string): CheckResult {
  return check('bird.conf', conf, file => ['bird', ['-p', '-c', file]]);
}

/**
 * `sysctl -p` inside a throwaway network namespace: every key must exist in this kernel, and
 * the host's own settings stay untouched (net.* settings are per namespace).
 */
export function checkSysctl(conf: string): CheckResult {
  const result = check('sysctl.conf', conf, file => ['unshare', ['--net', 'sysctl', '-p', file]]);
  // sysctl -p skips a malformed line with a warning and still exits 0.
  return result.code === 0 && /invalid|cannot|error/i.test(result.output) ? { ...result, code: 1 } : result;
}

type Command = (file: string, dir: string) => [string, string[]];

/** Writes `text` to a fresh temp dir and runs the checker on it; throws when it cannot run at all. */
function check(name: string, text: string, command: Command, env: Record<string, string> = {}): CheckResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'renderer-check-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text, { mode: 0o644 });
    const [program, args] = command(file, dir);
    const result = spawnSync(program, args, { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    // A missing or killed checker must fail the test, never pass it.
    if (result.error) throw new Error(`cannot run ${program} (is it installed?): ${result.error.message}\n${output}`);
    if (result.status === null) throw new Error(`${program} was killed by ${result.signal}\n${output}`);
    return { code: result.status, output };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
