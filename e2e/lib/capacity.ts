import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { LbPod } from './daemons';
import { IpvsLab } from './ipvs-lab';
import { CLIENT_NS, nodeNs, routeCommand, routeNexthops, ROUTER_NS } from './lab';
import { probe, run } from './proc';

/**
 * What the throughput runs and their sampling spawn, run without blocking: the API double that the
 * LB pods list and watch lives in the harness's event loop, which a synchronous spawn stops (wrk
 * for 15 s, every second's counters), and a starting LB pod's first list waited on it.
 */
const spawnAsync = promisify(execFile);
/**
 * A program's output, undefined when it failed. The timeout is generous: it runs on the harness's
 * clock, which a pod start (synchronous spawns) stops for seconds, and a read that timed out there
 * would count as a link that carried nothing.
 */
const output = async (argv: string[], timeoutMs = 30_000) => {
  try {
    return (await spawnAsync(argv[0], argv.slice(1), { timeout: timeoutMs })).stdout;
  } catch {
    return undefined;
  }
};

/**
 * An LB's own capacity, as its node bounds it in the paper (each LB pod on a node of its own): the LB
 * pod's link, both ends of its veth, shaped by tbf to `mbit` each way, as a NIC of that speed. Every
 * byte the LB forwards crosses it, in the kernel's softirq time as much as in the pod's processes:
 * in NAT mode requests and answers, in and out; in TUN mode the requests (answers go around it).
 * A CPU quota would not do: IPVS forwards in softirq, which no cgroup quota charges.
 */
export function capLbLink(pod: LbPod, mbit: number): void {
  for (const [ns, dev] of lbLinkEnds(pod)) {
    // burst: a few full-size segments (tbf splits veth's larger GSO packets); limit: a queue that holds
    // every answer wrk's connections can have in flight at once, so the cap costs queueing, not drops.
    run(ns, ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${Math.round(mbit * 1000)}kbit`, 'burst', '16kb', 'limit', '256kb']);
  }
}

/** Removes capLbLink's shaping (a no-op on an unshaped link). */
export function uncapLbLink(pod: LbPod): void {
  for (const [ns, dev] of lbLinkEnds(pod)) probe(ns, ['tc', 'qdisc', 'del', 'dev', dev, 'root']);
}

/** The LB pod's veth: its own end (eth0) and the node's end (addPod names it v<last octet>). */
function lbLinkEnds(pod: LbPod): [string, string][] {
  return [[pod.ns, 'eth0'], [nodeNs(pod.node), `v${pod.podIp.split('.')[3]}`]];
}

/** A counter of eth0 in `ns` (`ip -n`, no `ip netns exec`: one cheap process, it runs every second); NaN when the namespace is gone. */
async function linkBytes(ns: string, direction: 'tx' | 'rx'): Promise<number> {
  try {
    const out = await output(['ip', '-n', ns, '-s', '-j', 'link', 'show', 'dev', 'eth0']);
    const [link] = JSON.parse(out ?? '') as { stats64: Record<string, { bytes: number }> }[];
    return Number(link.stats64[direction].bytes);
  } catch {
    return NaN;
  }
}

/** Bytes the LB pod has sent on its link: everything it forwarded (NAT: requests to backends and answers to the client). */
const lbSentBytes = (pod: LbPod) => linkBytes(pod.ns, 'tx');

/** Bytes the client has received: the answers, whichever LB (or, in TUN mode, backend) sent them. */
const clientReceivedBytes = () => linkBytes(CLIENT_NS, 'rx');

/**
 * Bytes on eth0 of the network namespace that process `pid` runs in, from /proc/PID/net/dev: no
 * process to spawn, which costs under emulation (the schedule reads every LB every second); NaN
 * when the process is gone.
 */
export function netnsLinkBytes(pid: number | undefined, direction: 'tx' | 'rx'): number {
  try {
    const line = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').find((l) => l.trim().startsWith('eth0:'));
    // eth0: rx bytes, packets, errs, drop, fifo, frame, compressed, multicast, then tx bytes, ...
    const fields = line!.split(':')[1].trim().split(/\s+/).map(Number);
    return fields[direction === 'rx' ? 0 : 8];
  } catch {
    return NaN;
  }
}

/** What each running LB pod has sent, by node. */
export async function lbSent(lab: IpvsLab): Promise<Map<number, number>> {
  return new Map(await Promise.all([...lab.lbs].map(async ([node, pod]) => [node, await lbSentBytes(pod)] as const)));
}

/** The router's nexthops for `prefix`, as routerNexthops, without blocking; undefined when `ip` failed. */
export async function routerNexthopsNow(prefix: string): Promise<string[] | undefined> {
  const out = await output(routeCommand(prefix, ROUTER_NS));
  return out === undefined ? undefined : routeNexthops(out);
}

/**
 * wrk's keep-alive connections per LB, each with one request in flight: every LB gets some from the
 * router's hash (4 LBs, 64 connections: fewer than 6 on one LB has P < 0.001), and the queue at each
 * capped LB stays about as deep whatever the LB count (Little: its wait is its connections over its
 * requests per second), so every point of the scaling figure runs its LBs alike.
 */
export const WRK_CONNECTIONS_PER_LB = 16;

export interface Throughput {
  readonly lbs: number;
  /** Answered with 2xx, per second. */
  readonly requestsPerSecond: number;
  /** What the client received, per second: the answers with their headers, the TCP/IP ones too. */
  readonly mbitPerSecond: number;
  /** wrk's socket errors and answers other than 2xx or 3xx ('none' when there were none). */
  readonly errors: string;
  readonly latency: string;
  /** What each LB sent on its link meanwhile (NAT: requests to the backends and answers to the client), by node. */
  readonly lbSentMbit: Record<number, number>;
}

/** wrk from the client: keep-alive connections, each one a flow that ECMP pins to one LB. */
export const wrkArgs = (lab: IpvsLab, seconds: number, connections: number) =>
  ['wrk', '-t', '2', '-c', String(connections), '-d', `${seconds}s`, '--timeout', '5s', lab.vipUrl];
export const mbit = (bytes: number, seconds: number) => Number(((bytes * 8) / 1e6 / seconds).toFixed(2));

/** wrk's summary: requests answered with 2xx or 3xx per second, its errors ('none'), its mean latency. */
export function parseWrk(out: string): { requestsPerSecond: number; errors: string; latency: string } {
  // "12345 requests in 15.01s, 200.10MB read" (or in 1.00m)
  const total = /(\d+) requests in ([\d.]+)(ms|s|m)\b/.exec(out);
  if (!total) throw new Error(`wrk gave no result: ${out}`);
  const wrkSeconds = Number(total[2]) * { ms: 0.001, s: 1, m: 60 }[total[3] as 'ms' | 's' | 'm'];
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return {
    requestsPerSecond: Number(((Number(total[1]) - non2xx) / wrkSeconds).toFixed(1)),
    errors: [/Socket errors:[^\n]*/.exec(out)?.[0], /Non-2xx or 3xx responses:[^\n]*/.exec(out)?.[0]].filter(Boolean).join('; ') || 'none',
    latency: /Latency\s+(\S+)/.exec(out)?.[1] ?? '?',
  };
}

/** wrk for `seconds` with WRK_CONNECTIONS_PER_LB per running LB, and what each LB sent meanwhile. */
export async function wrkRun(lab: IpvsLab, seconds: number): Promise<Throughput> {
  const [before, received] = await Promise.all([lbSent(lab), clientReceivedBytes()]);
  const started = performance.now();
  const out = await output(['ip', 'netns', 'exec', CLIENT_NS, ...wrkArgs(lab, seconds, WRK_CONNECTIONS_PER_LB * lab.lbs.size)], (seconds + 30) * 1000) ?? '';
  const elapsed = (performance.now() - started) / 1000;
  const [after, receivedAfter] = await Promise.all([lbSent(lab), clientReceivedBytes()]);
  const { requestsPerSecond, errors, latency } = parseWrk(out);
  return {
    lbs: lab.lbs.size,
    requestsPerSecond,
    mbitPerSecond: mbit(receivedAfter - received, elapsed),
    errors,
    latency,
    lbSentMbit: Object.fromEntries([...after].map(([node, bytes]) => [node, mbit(bytes - (before.get(node) ?? bytes), elapsed)])),
  };
}

export const describeThroughput = (t: Throughput) => `${t.lbs} LB(s): ${t.requestsPerSecond} req/s answered, the client received ${t.mbitPerSecond} Mbit/s (latency avg ${t.latency}; errors: ${t.errors}); `
  + `each LB sent ${Object.entries(t.lbSentMbit).map(([n, v]) => `node ${n} ${v}`).join(', ')} Mbit/s`;
