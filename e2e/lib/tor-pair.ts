import * as fs from 'node:fs';
import * as path from 'node:path';
import { LbPod, LbPods, routerAsPaths, RouterPlace, SOURCE_CLI, startClusterApi, startReflectors, startRouter } from './daemons';
import { ScenarioContext } from './harness';
import { CLIENT_B_IP, CLIENT_IP, createLab, nodeIp, ROUTER_B_IP, ROUTER_B_NS, ROUTER_NS, routerNexthops } from './lab';
import { loadStarted, startLoad } from './load';
import { Daemon, ProcessSet, run, sleep, waitFor } from './proc';
import { PAPER_SERVICES, synthesize } from './synth';
import { RouterDaemon } from '../../lib';
import type { TimelineEntry } from '../load-client';

/** The second router's name in the synthesized topology (`routers/router-b/`). */
const ROUTER_B = 'router-b';

/** LB nodes of web1 (3 LBs, as in the paper's topology). */
const LB_NODES = [1, 2, 3];

/**
 * A stand-in for IPVS: answers every HTTP request on the VIP with the LB's name and the address the
 * request came from (the client's address on the link of the router it came through).
 */
const RESPONDER = `const http = require('http'); const [vip, name] = process.argv.slice(1);
http.createServer((req, res) => res.end(name + ' ' + req.socket.remoteAddress + '\\n')).listen(80, vip);`;

/** The paced load of each phase: a new connection every 5 ms, each timed out after 2 s. */
const PACE_MS = 5;
const TIMEOUT_MS = 2000;
/** Traffic through router A before it fails, and through B after. */
const BEFORE_MS = 1500;
const LOAD_SECONDS = 4;

/**
 * Two upstream routers, a pair of ToRs: router A (`router`, 198.18.0.110) and router B
 * (`router-b`, 198.18.0.111), both on the node network, each started from its own synthesized
 * files, with two gobgpd reflectors (each peers with both routers: add-paths, so every router holds
 * every LB's path through each reflector) and web1's three LB pods running exabgp with the pod's
 * rendering, as the Fig. 12 scenarios do. Checks that both routers install one ECMP nexthop per LB
 * node; then sends paced HTTP requests (one new connection every 5 ms, at most 4 s and 800
 * requests) from a client with a link to each router (default route through A, else through B,
 * dropping a route whose link has lost its carrier: e2e/lib/lab.ts). After 1.5 s through A, A fails
 * as a ToR does: its links go down (the client's and the node network's), then its daemons are
 * SIGKILLed. Measures the longest time without an answer and the failed requests, checks that every
 * request sent after the failure was answered through B and that B spread them over all LBs; then
 * brings A back (node network link, daemons started again), waits until it has relearnt every path,
 * gives it back its client link, and checks traffic goes through A again.
 *
 * No IPVS on this host: in each LB pod's namespace a small HTTP responder bound to the VIP stands in
 * for it (RESPONDER) and names the LB that answered. The subject here is the routers, their ECMP
 * routes and the client's path through either, not the LB's forwarding (the IPVS VM's suite covers
 * that). The pod's nftables table, which drops connection attempts to the prefix that IPVS did not
 * take, is removed for the responder. The client has an address per router link and the nodes route
 * each back through its router, so a request and its answer take the same router; a request in
 * flight through A when A fails cannot finish through B (its answer goes to A's link address).
 *
 * `a`, `b`: the two routers' daemons, different (each daemon has one run directory in this lab).
 */
export async function torPair(ctx: ScenarioContext, a: RouterDaemon, b: RouterDaemon): Promise<void> {
  if (a === b) throw new Error('the ToR pair needs two different router daemons (one run directory each)');
  const { checks, procs, workDir } = ctx;
  const label = `ToR pair (A ${a}, B ${b})`;
  const service = PAPER_SERVICES[0];
  const synth = synthesize(a, [service], undefined, {}, { bfd: true, moreRouters: [{ name: ROUTER_B, address: ROUTER_B_IP, daemon: b }] });
  ctx.onTeardown(() => fs.rmSync(synth.outdir, { recursive: true, force: true }));
  const web1 = synth.services.get(service.name)!;
  const prefix = web1.model.prefixes[0];
  const vip = web1.model.vips[0];
  const routerA: RouterPlace = { ns: ROUTER_NS, configDir: synth.routerDir };
  const routerB: RouterPlace = { ns: ROUTER_B_NS, configDir: path.join(synth.outdir, 'routers', ROUTER_B) };
  const wantHops = LB_NODES.map(nodeIp).sort().join(' ');
  const wantPaths = service.lbCount * synth.reflectorDirs.size;
  /** The router holds every LB's path through each reflector, and its kernel route one nexthop per LB node. */
  const learnt = (daemon: RouterDaemon, at: RouterPlace) => () => ({ paths: routerAsPaths(daemon, prefix, at.ns).length, hops: routerNexthops(prefix, at.ns).join(' ') });
  const complete = (v: { paths: number; hops: string }) => v.paths === wantPaths && v.hops === wantHops;
  const show = (v: { paths: number; hops: string }, ms: number) => `${v.paths} BGP path(s), kernel nexthops [${v.hops}] after ${(ms / 1000).toFixed(2)} s`;

  createLab({ nodes: LB_NODES.length, secondRouter: true });
  const cluster = await startClusterApi(ctx, SOURCE_CLI);
  startReflectors(procs, synth, cluster);
  const aDaemons = await startRouter(procs, synth, a, routerA);
  await startRouter(procs, synth, b, routerB);
  const pods = new LbPods(procs, workDir, { kind: 'announce-file' }, cluster.api);
  const lbs: LbPod[] = [];
  for (const node of LB_NODES) {
    const pod = await pods.start(web1, node, 2);
    run(pod.ns, ['nft', 'delete', 'table', 'ip', 'ecmp_lb']);
    procs.start(`${pod.ns}-responder`, pod.ns, [process.execPath, '-e', RESPONDER, vip, `n${node}`]);
    lbs.push(pod);
  }
  const listening = await waitFor(() => lbs.filter((pod) => run(pod.ns, ['ss', '-Hltn', `src ${vip}:80`]).trim() !== '').length, (n) => n === lbs.length, 10_000);
  if (!listening.ok) throw new Error(`only ${listening.value} of ${lbs.length} responders listen on ${vip}:80`);

  for (const [name, daemon, at] of [['A', a, routerA], ['B', b, routerB]] as const) {
    const both = await waitFor(learnt(daemon, at), complete, 60_000, 100);
    checks.check(`${label}: router ${name} (${daemon}) holds web1's ${service.lbCount} paths through each of the ${synth.reflectorDirs.size} reflectors and installs one ECMP nexthop per LB node`,
      both.ok, show(both.value, both.ms));
  }

  // Through A, then A fails under the load.
  const paced = { url: `http://${vip}/`, concurrency: 64, timeoutMs: TIMEOUT_MS, paceMs: PACE_MS, timeline: true };
  const load = startLoad(procs, workDir, 'tor-failover', { ...paced, count: LOAD_SECONDS * 1000 / PACE_MS, maxSeconds: LOAD_SECONDS });
  await loadStarted(workDir, 'tor-failover');
  await sleep(BEFORE_MS);
  const failed = await failRouter(procs, routerA, aDaemons);
  const result = await load;
  const fault = { from: failed.from - result.startedAt!, to: failed.to - result.startedAt! };
  const requests = result.timeline!;
  const before = requests.filter((r) => r.sent + r.ms < fault.from);
  const after = requests.filter((r) => r.sent >= fault.to);
  const straddling = requests.filter((r) => !before.includes(r) && !after.includes(r));
  const gap = longestGap(requests, fault);
  checks.check(`${label}: before the failure every request was answered through A (client address ${CLIENT_IP}), spread over the ${LB_NODES.length} LBs`,
    before.length > 0 && before.every((r) => via(r) === CLIENT_IP) && spread(before), tally(before));
  checks.check(`${label}: A failed (links down, daemons killed in ${(fault.to - fault.from).toFixed(0)} ms): every request sent afterwards was answered, through B (client address ${CLIENT_B_IP}), spread over the ${LB_NODES.length} LBs`,
    after.length > 0 && after.every((r) => via(r) === CLIENT_B_IP) && spread(after), tally(after));
  checks.check(`${label}: only requests in flight at the failure failed, and no time without an answer reached 1 s`,
    requests.filter((r) => r.error).every((r) => straddling.includes(r)) && gap.ms < 1000,
    `${result.failed} of ${requests.length} failed (${JSON.stringify(result.errors)}); in flight at the failure: ${tally(straddling)}; `
      + `first answer through B ${gap.firstViaB.toFixed(0)} ms after the failure began; time without an answer at the failure ${gap.atFault.toFixed(0)} ms, `
      + `longest in the run ${gap.ms.toFixed(0)} ms, from ${(gap.at / 1000).toFixed(2)} s after the failure began`);
  const stillB = learnt(b, routerB)();
  checks.check(`${label}: router B kept every path while A was down`, complete(stillB), `${stillB.paths} BGP path(s), kernel nexthops [${stillB.hops}] once the load ended`);

  // A comes back: its node network link, its daemons; once it has every path again, its client link.
  const aRoute = routerNexthops(prefix, routerA.ns);
  run(routerA.ns, ['ip', 'link', 'set', 'eth0', 'up']);
  const restarted = performance.now();
  await startRouter(procs, synth, a, routerA);
  const relearnt = await waitFor(learnt(a, routerA), complete, 30_000, 100);
  checks.check(`${label}: A back (no route for ${prefix} left while it was down): it relearns every path and the ECMP route`, aRoute.length === 0 && relearnt.ok,
    `route while down [${aRoute.join(' ')}]; ${show(relearnt.value, performance.now() - restarted)} of its restart`);
  run(routerA.ns, ['ip', 'link', 'set', 'eth1', 'up']);
  const back = await startLoad(procs, workDir, 'tor-back', { ...paced, count: 1000 / PACE_MS, maxSeconds: 1 });
  checks.check(`${label}: with A's client link up again, traffic goes through A, over all LBs, none failed`,
    back.failed === 0 && back.timeline!.length > 0 && back.timeline!.every((r) => via(r) === CLIENT_IP) && spread(back.timeline!),
    tally(back.timeline!));
}

/**
 * A ToR failing: its links go down (the client's first, then the node network's; no FIN or
 * notification leaves it), then every daemon of the router is SIGKILLed. Returns when the failure
 * began and ended (epoch ms, as the load client's timeline).
 */
async function failRouter(procs: ProcessSet, at: RouterPlace, daemons: Daemon[]): Promise<{ from: number; to: number }> {
  const from = performance.timeOrigin + performance.now();
  run(at.ns, ['ip', '-batch', '-'], { input: 'link set eth1 down\nlink set eth0 down\n' });
  for (const daemon of daemons) procs.signalGroup(daemon, 'SIGKILL');
  const to = performance.timeOrigin + performance.now();
  await Promise.all(daemons.map((d) => d.exited));
  return { from, to };
}

/** The client address an answer names: the router link the request and its answer took. */
const via = (r: TimelineEntry) => r.answer?.split(' ')[1];
const lbOf = (r: TimelineEntry) => r.answer?.split(' ')[0];

/** Every LB answered at least half its fair share of the answered requests (a hash that favours one LB, or misses one, fails). */
function spread(requests: TimelineEntry[]): boolean {
  const answered = requests.filter((r) => r.answer);
  return LB_NODES.every((node) => answered.filter((r) => lbOf(r) === `n${node}`).length >= answered.length / LB_NODES.length / 2);
}

/** Counts by (LB, client address) and by error. */
function tally(requests: TimelineEntry[]): string {
  const counts = new Map<string, number>();
  for (const r of requests) {
    const key = r.answer ? `${lbOf(r)} via ${via(r)}` : r.error!;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return `${requests.length} requests: ${[...counts].sort().map(([k, n]) => `${k}: ${n}`).join(', ')}`;
}

/**
 * The longest time without an answer over the run (between two answers, each counted when it came
 * back) and when it began, in ms after the fault began; the longest such time that overlaps the
 * fault; and the first answer through B after the fault began.
 */
function longestGap(requests: TimelineEntry[], fault: { from: number; to: number }): { ms: number; at: number; atFault: number; firstViaB: number } {
  const { from, to } = fault;
  const done = requests.filter((r) => r.answer).map((r) => r.sent + r.ms).sort((x, y) => x - y);
  let ms = 0;
  let at = 0;
  let atFault = 0;
  for (let i = 1; i < done.length; i++) {
    const gap = done[i] - done[i - 1];
    if (gap > ms) [ms, at] = [gap, done[i - 1] - from];
    if (done[i] >= from && done[i - 1] <= to) atFault = Math.max(atFault, gap);
  }
  const viaB = requests.filter((r) => via(r) === CLIENT_B_IP).map((r) => r.sent + r.ms).filter((t) => t >= from);
  return { ms, at, atFault, firstViaB: viaB.length === 0 ? Infinity : Math.min(...viaB) - from };
}
