import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { hostPrefix } from '../../lib/ip';

/**
 * A throwaway lab of network namespaces on one bridge, for tests that run real daemons. Every
 * namespace is named `<prefix>-<name>` with a prefix unique to the test process, lives in
 * 198.18.0.0/15 only, and is never attached to a real interface. `destroy()` kills what runs in
 * them and deletes them; call it from `afterAll` (it is safe to call twice).
 */
export class NetnsLab {
  public readonly prefix: string;
  private readonly lan: string;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly dirs: string[] = [];
  private port = 0;

  constructor(tag: string, public readonly logDir: string) {
    this.prefix = `${tag}${process.pid}`;
    this.lan = this.ns('lan');
    this.addNs(this.lan);
    this.run(this.lan, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    this.run(this.lan, ['ip', 'link', 'set', 'br0', 'up']);
    fs.mkdirSync(logDir, { recursive: true });
  }

  /** The full namespace name of a host. */
  public ns(name: string): string {
    return `${this.prefix}-${name}`;
  }

  /** A host on the bridge with the given addresses (CIDR); every address is on-link. */
  public host(name: string, addresses: string[]): string {
    const ns = this.ns(name);
    this.addNs(ns);
    const bridgePort = `p${this.port++}`;
    this.run(undefined, ['ip', 'link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', bridgePort, 'netns', this.lan]);
    this.run(this.lan, ['ip', 'link', 'set', bridgePort, 'master', 'br0', 'up']);
    for (const address of addresses) this.run(ns, ['ip', 'addr', 'add', address, 'dev', 'eth0']);
    this.run(ns, ['ip', 'link', 'set', 'eth0', 'up']);
    return ns;
  }

  /** Runs a command to completion; throws with its output on failure. */
  public run(ns: string | undefined, argv: string[], timeoutMs = 10_000): string {
    const full = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
    try {
      return execFileSync(full[0], full.slice(1), { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`${full.join(' ')}: ${e.stderr?.trim() || e.stdout?.trim() || e.message}`);
    }
  }

  /** Like run(), but '' on failure: for polling. */
  public probe(ns: string | undefined, argv: string[]): string {
    try {
      return this.run(ns, argv, 5_000);
    } catch {
      return '';
    }
  }

  /**
   * Starts a long-running program in `ns` (on the host when undefined), its output in
   * `<logDir>/<name>.log`, in its own process group.
   */
  public start(name: string, ns: string | undefined, argv: string[], env: Record<string, string> = {}): ChildProcess {
    const out = fs.openSync(path.join(this.logDir, `${name}.log`), 'a');
    const full = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', out, out], detached: true, env: { ...process.env, ...env } });
    fs.closeSync(out);
    this.children.push(child);
    return child;
  }

  /** The log of a program started with start(). */
  public log(name: string): string {
    try {
      return fs.readFileSync(path.join(this.logDir, `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** Kills every program started here and whatever else runs in the lab's namespaces, then deletes them. */
  public destroy(): void {
    for (const child of this.children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    this.children.length = 0;
    for (const ns of [...this.namespaces].reverse()) {
      for (const pid of this.probe(undefined, ['ip', 'netns', 'pids', ns]).split('\n').filter(Boolean)) {
        try { process.kill(Number(pid), 'SIGKILL'); } catch { /* already gone */ }
      }
      this.probe(undefined, ['ip', 'netns', 'del', ns]);
    }
    this.namespaces.length = 0;
    for (const dir of this.dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }

  /** A fresh directory under /tmp that destroy() removes. */
  public tempDir(tag: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-${tag}-`));
    this.dirs.push(dir);
    return dir;
  }

  private addNs(ns: string): void {
    this.run(undefined, ['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    this.run(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
}

/** The IPv4 routes BGP installed in `ns`'s kernel table, as prefix -> sorted next hops. */
export function kernelBgpRoutes(lab: NetnsLab, ns: string): Map<string, string[]> {
  const routes = JSON.parse(lab.probe(ns, ['ip', '-j', '-4', 'route', 'show', 'proto', 'bgp']) || '[]') as any[];
  return new Map(routes.map(r => {
    const prefix = r.dst === 'default' ? '0.0.0.0/0' : r.dst.includes('/') ? r.dst : hostPrefix(r.dst);
    const hops: string[] = r.gateway ? [r.gateway] : (r.nexthops ?? []).map((n: any) => n.gateway);
    return [prefix, hops.sort()];
  }));
}

/** A kernel SNMP counter of `ns` (e.g. TcpExtTCPMD5Failure), 0 when absent. */
export function nstatCounter(lab: NetnsLab, ns: string, counter: string): number {
  const line = lab.probe(ns, ['nstat', '-az', counter]).split('\n').find(l => l.startsWith(counter)) ?? '';
  return Number(/\s(\d+)\s/.exec(line)?.[1] ?? 0);
}

/** Polls `check` every 200 ms until it returns true or `timeoutMs` passes; returns whether it did. */
export async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > end) return false;
    await new Promise(resolve => setTimeout(resolve, 200));
  }
}

/** exabgp as the LB pod runs it, but as root (the lab has no `nobody` set-up) and logging to stdout. */
export const EXABGP_ENV = { 'exabgp.daemon.user': 'root', 'exabgp.log.destination': 'stdout', 'exabgp.api.cli': 'false' };

/**
 * FRR's zebra and bgpd in `ns` (they refuse root: run as frr, with their own sockets in `dir`),
 * then the integrated config applied through vtysh, as `vtysh -b` does at boot. Returns the
 * directory of their sockets (for `vtysh --vty_socket`). `name` prefixes their log names, for
 * labs with more than one FRR instance.
 */
export async function startFrr(lab: NetnsLab, ns: string, frrConf: string, name = ''): Promise<string> {
  // Its own directory under /tmp: FRR's user must reach it (a test's work dir is private).
  const dir = lab.tempDir('frr');
  lab.run(undefined, ['chown', 'frr:frr', dir]);
  const common = ['-u', 'frr', '-g', 'frr', '-z', path.join(dir, 'zserv.api'), '--vty_socket', dir, '-P', '0', '-f', '/dev/null'];
  lab.start(`${name}zebra`, ns, ['/usr/lib/frr/zebra', ...common, '-i', path.join(dir, 'zebra.pid')]);
  if (!await waitUntil(() => fs.existsSync(path.join(dir, 'zserv.api')), 10_000)) throw new Error(`zebra did not start:\n${lab.log(`${name}zebra`)}`);
  lab.start(`${name}bgpd`, ns, ['/usr/lib/frr/bgpd', ...common, '-i', path.join(dir, 'bgpd.pid')]);
  if (!await waitUntil(() => fs.existsSync(path.join(dir, 'bgpd.vty')), 10_000)) throw new Error(`bgpd did not start:\n${lab.log(`${name}bgpd`)}`);
  const conf = path.join(dir, 'frr.conf');
  fs.writeFileSync(conf, frrConf);
  lab.run(ns, ['vtysh', '--vty_socket', dir, '-f', conf]);
  return dir;
}
