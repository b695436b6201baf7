/**
 * The control plane on the real daemons, in network namespaces on this host (no IPVS needed):
 * the synthesized router (FRR, then BIRD), two gobgpd route reflectors, and LB pods running exabgp
 * with the init step's rendering and the ConfigMap's announcer. Checks the paper's Fig. 12: one
 * kernel nexthop per LB node, two services side by side, scaling 1 -> 4 -> 2, and withdrawal; on
 * FRR, a silent LB failure (the pod frozen) found by BFD (the library's default, 300 ms x 3: the LB
 * pods run the controller's BFD sessions, the reflector agents theirs); then the in-cluster
 * reflector placement through the NAT a cluster puts on its path, BFD included. The eBGP variants
 * run the same checks with the router in an AS of its own (UpstreamRouterOptions.asn). The ToR pair:
 * two routers (FRR and BIRD) learn every path; traffic through one, that one fails, traffic goes on
 * through the other, which spreads it over every LB; the failed one comes back and relearns every
 * path (e2e/lib/tor-pair.ts).
 *
 * usage: control-plane.ts [SCENARIO-NAME-PART]
 */
import * as fs from 'node:fs';
import { RouterDaemon } from '../lib';
import { LbPod, LbPods, routerAsPaths, signalPod, SOURCE_CLI, startClusterApi, startReflectors, startRouter } from './lib/daemons';
import { runScenarios, ScenarioContext } from './lib/harness';
import { inClusterReflector } from './lib/in-cluster-reflector';
import { createLab, nodeIp, routerNexthops } from './lib/lab';
import { sleep, waitFor } from './lib/proc';
import { PAPER_SERVICES, synthesize } from './lib/synth';
import { torPair } from './lib/tor-pair';

/** Generous bounds: the first session waits for the reflector-router connect retry (5 s). */
const CONVERGE_MS = 60_000;
const CHANGE_MS = 20_000;

const expectedHops = (nodes: number[]) => nodes.map(nodeIp).sort();

/** Every BGP path the router holds for `prefix` came over eBGP: its AS path is the cluster's AS. */
function learnedOverEbgp(daemon: RouterDaemon, prefix: string, clusterAsn: number): [boolean, string] {
  const paths = routerAsPaths(daemon, prefix);
  return [paths.length > 0 && paths.every((p) => p === String(clusterAsn)), `AS paths of the router's ${paths.length} path(s) for ${prefix}: [${paths.join('; ')}], want each ${clusterAsn}`];
}

/** The router's AS in the eBGP variant: not the cluster's (65021), so reflectors and router peer over eBGP. */
const ROUTER_EBGP_ASN = 65099;

/** `routerAsn`: the router in its own AS (eBGP with the reflectors); unset, the paper's one iBGP AS. */
async function fig12(daemon: RouterDaemon, ctx: ScenarioContext, routerAsn?: number): Promise<void> {
  const { checks, procs, workDir } = ctx;
  const label = routerAsn === undefined ? daemon : `${daemon} eBGP (router AS ${routerAsn})`;
  // BFD on, the library's default (the VM labs run without it: e2e/lib/synth.ts).
  const synth = synthesize(daemon, PAPER_SERVICES, undefined, routerAsn === undefined ? {} : { asn: routerAsn }, { bfd: true });
  try {
    const [web1, web2] = PAPER_SERVICES.map((s) => synth.services.get(s.name)!);
    const expectRoute = async (what: string, service: typeof web1, nodes: number[], timeoutMs = CHANGE_MS) => {
      const prefix = service.model.prefixes[0];
      const want = expectedHops(nodes).join(' ');
      const result = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === want, timeoutMs);
      checks.check(`${label}: ${what}: router's kernel route ${prefix} has ${nodes.length} nexthop(s)`, result.ok,
        `got [${result.value}] want [${want}] after ${(result.ms / 1000).toFixed(2)} s`);
    };

    createLab({ nodes: 4 });
    const cluster = await startClusterApi(ctx, SOURCE_CLI);
    const reflectors = startReflectors(procs, synth, cluster);
    await startRouter(procs, synth, daemon);
    const pods = new LbPods(procs, workDir, { kind: 'announce-file' }, cluster.api);
    const web1Pods = new Map<number, LbPod>();
    for (const node of [1, 2, 3]) web1Pods.set(node, await pods.start(web1, node, 2));
    const web2Pods = [await pods.start(web2, 1, 3), await pods.start(web2, 2, 3)];

    await expectRoute('web1 with 3 LBs', web1, [1, 2, 3], CONVERGE_MS);
    await expectRoute('web2 with 2 LBs, side by side', web2, [1, 2]);
    if (routerAsn !== undefined) checks.check(`${label}: the router learned the paths over eBGP`, ...learnedOverEbgp(daemon, web1.model.prefixes[0], synth.services.get('web1')!.model.asn));

    // Every path reaches the router through each reflector (add-paths), so losing one loses none:
    // once both reflectors' sessions are up (the first route can come through one alone).
    const paths = PAPER_SERVICES[0].lbCount * reflectors.size;
    const both = await waitFor(() => routerAsPaths(daemon, web1.model.prefixes[0]).length, (n) => n === paths, CONVERGE_MS);
    checks.check(`${label}: the router holds web1's ${PAPER_SERVICES[0].lbCount} paths through each of the ${reflectors.size} reflectors`, both.ok,
      `${both.value} path(s) after ${(both.ms / 1000).toFixed(2)} s more`);
    procs.signal(reflectors.get('rr1')!, 'SIGKILL');
    await sleep(1000);
    await expectRoute('reflector rr1 down', web1, [1, 2, 3], 2000);

    // Scaling the LB Deployment of web1: 3 -> 1 -> 4 -> 2.
    for (const node of [2, 3]) { await pods.remove(web1Pods.get(node)!); web1Pods.delete(node); }
    await expectRoute('web1 scaled to 1 LB', web1, [1]);
    for (const node of [2, 3, 4]) web1Pods.set(node, await pods.start(web1, node, 2));
    await expectRoute('web1 scaled 1 -> 4 LBs', web1, [1, 2, 3, 4]);
    for (const node of [3, 4]) { await pods.remove(web1Pods.get(node)!); web1Pods.delete(node); }
    await expectRoute('web1 scaled 4 -> 2 LBs', web1, [1, 2]);
    await expectRoute('web2 unaffected by web1 scaling', web2, [1, 2], 1000);

    // What the controller does when all of a service's backends are unhealthy: both LBs withdraw.
    for (const pod of web2Pods) pods.withdraw(pod);
    await expectRoute('web2 withdrawn by its LBs (announce file emptied)', web2, []);
    await expectRoute('web1 unaffected by web2 withdrawal', web1, [1, 2], 1000);

    // A silent failure: every process of web1's LB pod on node 2 frozen, so nothing closes its
    // sessions (BGP would wait for the hold time). BFD finds it, the reflector agents unbind the
    // pod, and its path leaves the router; thawed, its sessions come up again and it returns.
    if (daemon === RouterDaemon.FRR) {
      const pod = web1Pods.get(2)!;
      const hold = web1.model.timers.holdTimeSeconds;
      const up = await pods.bfdUp(pod, 10_000);
      await sleep(1000 + Math.random() * 300); // both sides at the fast rate, at a random phase against it
      const frozen = signalPod(pod, 'SIGSTOP');
      const gone = await waitFor(() => routerNexthops(web1.model.prefixes[0]), (hops) => !hops.includes(nodeIp(2)), (hold + 5) * 1000, 10);
      signalPod(pod, 'SIGCONT');
      const back = await waitFor(() => routerNexthops(web1.model.prefixes[0]).join(' '), (v) => v === expectedHops([1, 2]).join(' '), CHANGE_MS, 50);
      checks.check(`${label}: silent failure (web1's LB pod on node 2 frozen, ${frozen} processes): BFD takes its path off the router in under 2 s, not the ${hold} s hold time; thawed, it returns`,
        up && gone.ok && gone.ms < 2000 && back.ok,
        `BFD ${up ? 'up' : 'not up'} before; path gone after ${(gone.ms / 1000).toFixed(2)} s${gone.ok ? '' : ' (not gone)'}; back after ${(back.ms / 1000).toFixed(2)} s${back.ok ? '' : ' (not back)'}`);
    }
  } finally {
    fs.rmSync(synth.outdir, { recursive: true, force: true });
  }
}

const SCENARIOS: [string, (ctx: ScenarioContext) => Promise<void>][] = [
  ['Fig. 12 on FRR', (ctx) => fig12(RouterDaemon.FRR, ctx)],
  ['Fig. 12 on BIRD', (ctx) => fig12(RouterDaemon.BIRD, ctx)],
  ['Fig. 12 on FRR, eBGP', (ctx) => fig12(RouterDaemon.FRR, ctx, ROUTER_EBGP_ASN)],
  ['Fig. 12 on BIRD, eBGP', (ctx) => fig12(RouterDaemon.BIRD, ctx, ROUTER_EBGP_ASN)],
  ['two routers (a ToR pair): A FRR, B BIRD; A fails under load, then comes back', (ctx) => torPair(ctx, RouterDaemon.FRR, RouterDaemon.BIRD)],
  ['in-cluster reflector behind ClusterIP DNAT and node SNAT', (ctx) => inClusterReflector(ctx)],
  ['in-cluster reflector behind ClusterIP DNAT and node SNAT, eBGP, FRR', (ctx) => inClusterReflector(ctx, ROUTER_EBGP_ASN, RouterDaemon.FRR)],
  ['in-cluster reflector behind ClusterIP DNAT and node SNAT, eBGP, BIRD', (ctx) => inClusterReflector(ctx, ROUTER_EBGP_ASN, RouterDaemon.BIRD)],
];
// An argument picks the scenarios whose names contain it (`in-cluster`); none runs them all.
const only = process.argv[2];
const chosen = SCENARIOS.filter(([name]) => only === undefined || name.includes(only));
if (chosen.length === 0) throw new Error(`no scenario named like ${only}: ${SCENARIOS.map(([name]) => name).join('; ')}`);
void runScenarios('control plane', chosen, 600);
