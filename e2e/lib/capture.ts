import * as fs from 'node:fs';
import * as path from 'node:path';
import { ScenarioContext } from './harness';
import { CLIENT_NS, nodeNs, ROUTER_NS } from './lab';
import { Daemon, probe } from './proc';

/**
 * Evidence for a failed request in a trial, when `E2E_CAPTURE` is set (off by default: it costs CPU
 * in the emulated VM): tcpdump on the router's LAN side (eth0: which LB's node each
 * client packet went to, by MAC, and what came back) and on each backend pod's eth0 (the IPIP
 * packets it got, whose outer source names the LB that forwarded them, and what it answered), plus
 * a watcher in each LB pod's namespace that records /proc/net/ip_vs (order and weights) whenever it
 * changes, polled every 20 ms, and the live entries of /proc/net/ip_vs_conn every 250 ms (not the
 * FIN_WAIT / TIME_WAIT ones, which are most of them). All stamped with the VM's wall clock, as the
 * pods' logs are. Files go to WORKDIR/capture. Bounded: every capture stops when the trial ends or
 * after `maxSeconds`.
 */
export class Capture {
  static fromEnv(ctx: ScenarioContext, tag: string, maxSeconds: number, nodes: number): Capture | undefined {
    return process.env.E2E_CAPTURE ? new Capture(ctx, tag, maxSeconds, nodes) : undefined;
  }

  private readonly dir: string;
  private readonly daemons: Daemon[] = [];
  private readonly watched = new Set<string>();

  private constructor(private readonly ctx: ScenarioContext, private readonly tag: string, private readonly maxSeconds: number, nodes: number) {
    this.dir = path.join(ctx.workDir, 'capture');
    fs.mkdirSync(this.dir, { recursive: true });
    this.tcpdump('router', ROUTER_NS, 'eth0', 'tcp and not port 179');
    // Which node a MAC in the router's capture is (an LB pod's node: the route's next hop).
    for (let node = 1; node <= nodes; node++) this.mac(`node${node}`, nodeNs(node));
  }

  private mac(name: string, ns: string): void {
    fs.appendFileSync(path.join(this.dir, `${this.tag}-macs.txt`), `${name} ${probe(ns, ['cat', '/sys/class/net/eth0/address']).trim()}\n`);
  }

  /** A backend pod: its IPIP input and its direct answers. */
  backend(name: string, ns: string): void {
    this.mac(name, ns);
    this.tcpdump(`backend-${name}`, ns, 'eth0', 'ip proto 4 or tcp');
  }

  /** An LB pod's IPVS tables. */
  lb(node: number, ns: string): void {
    if (this.watched.has(ns)) return;
    this.watched.add(ns);
    const out = path.join(this.dir, `${this.tag}-ipvs-n${node}.txt`);
    this.daemons.push(this.ctx.procs.start(`${this.tag}-ipvs-watch-n${node}`, ns, ['python3', '-c', IPVS_WATCHER, out, String(this.maxSeconds)]));
  }

  note(line: string): void {
    fs.appendFileSync(path.join(this.dir, `${this.tag}-events.txt`), `${new Date().toISOString()} ${line}\n`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.daemons.map((d) => this.ctx.procs.stop(d, 3000)));
    // The client's TCP counters: TCPTimeouts (RTOs) and TcpTimeoutRehash (a new flow hash on each, net.core.txrehash).
    fs.writeFileSync(path.join(this.dir, `${this.tag}-client-netstat.txt`), probe(CLIENT_NS, ['cat', '/proc/net/netstat']));
  }

  private tcpdump(name: string, ns: string, ifname: string, filter: string): void {
    const file = path.join(this.dir, `${this.tag}-${name}.pcap`);
    // -U: each packet written at once (the file is whole when the trial stops it); -s 128: headers (IPIP + TCP) only.
    this.daemons.push(this.ctx.procs.start(`${this.tag}-tcpdump-${name}`, ns,
      ['timeout', String(this.maxSeconds), 'tcpdump', '-i', ifname, '-nn', '-e', '-U', '-s', '128', '-w', file, filter]));
  }
}

/** Python, in an LB pod's namespace: argv OUT MAX_SECONDS. */
const IPVS_WATCHER = `
import sys, time, datetime
out, limit = open(sys.argv[1], 'a'), float(sys.argv[2])
def now(): return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds')
def read(p):
    try:
        with open(p) as f: return f.read()
    except OSError: return ''
start, last, next_conn = time.time(), None, 0
while time.time() - start < limit:
    t = time.time()
    svc = read('/proc/net/ip_vs')
    if svc != last:
        out.write('@svc ' + now() + '\\n' + svc); last = svc
    if t >= next_conn:
        next_conn = t + 0.25
        live = [l for l in read('/proc/net/ip_vs_conn').splitlines()[1:] if ' FIN_WAIT ' not in l and ' TIME_WAIT ' not in l]
        out.write('@conn ' + now() + '\\n' + ''.join(l + '\\n' for l in live))
    out.flush()
    time.sleep(0.02)
`;
