import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LbPod, LbPods, routerAsPaths, signalPod, SOURCE_CLI, startApiForwarder, startClusterApi, startRouter } from './daemons';
import { ScenarioContext } from './harness';
import { CLUSTER_IP, clusterNat, gobgpNeighbors, REFLECTOR_NODE, REFLECTOR_POD_SLOT, REFLECTOR_SERVICE_NAME, routerSessionState } from './in-cluster-lab';
import { addPod, createLab, nodeIp, routerNexthops } from './lab';
import { sleep, waitFor } from './proc';
import { synthesizeInCluster } from './synth';
import { ADDRESSES } from './synthesized';
import { RouterDaemon } from '../../lib';

/**
 * The in-cluster placement end to end, in namespaces: the synthesized reflector ConfigMap's gobgpd in
 * a pod on node 3 with its reflector agent, LB pods dialling the reflector's Service name (resolved
 * to the ClusterIP, DNATed by their nodes), the reflector's own session to the router leaving through
 * node 3's SNAT, and the router passive towards it, as synthesized. BFD on (the library's default):
 * the LB pods' BFD speakers send to the ClusterIP's UDP 4784, which the Service's `bfd` port DNATs to
 * the reflector pod, where the agent runs its sessions from the pod's own address; a frozen LB pod
 * leaves the router within the BFD detection time.
 */
export async function inClusterReflector(ctx: ScenarioContext, routerAsn?: number, daemon = RouterDaemon.FRR): Promise<void> {
  const { checks: all, procs, workDir } = ctx;
  // The eBGP variants' checks say so.
  const checks = routerAsn === undefined ? all : { check: (what: string, ok: boolean, detail: string) => all.check(`eBGP (${daemon} router, AS ${routerAsn}): ${what}`, ok, detail) };
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-e2e-incluster-'));
  ctx.onTeardown(() => fs.rmSync(outdir, { recursive: true, force: true }));
  const { synth, reflectorConfig: config, servicePorts } = synthesizeInCluster(outdir, { bfd: true }, { asn: routerAsn, daemon });
  const agentConfig = JSON.parse(config['lb-pod-bindings.json']);
  checks.check('in-cluster reflector with BFD by default: its Service has UDP 4784 beside TCP 179, and its agent binds every pod address (the pod IP is not known at synth)',
    servicePorts.some((p) => p.protocol === 'udp' && p.port === 4784) && servicePorts.some((p) => p.protocol === 'tcp' && p.port === 179)
      && agentConfig.bfd?.localAddress === '0.0.0.0' && agentConfig.routerBfd === undefined,
    `Service ports ${JSON.stringify(servicePorts)}; agent bfd ${JSON.stringify(agentConfig.bfd)}, routerBfd ${JSON.stringify(agentConfig.routerBfd)}`);
  const bird = daemon === RouterDaemon.BIRD;
  const routerConf = fs.readFileSync(path.join(synth.routerDir, bird ? 'bird.conf' : 'frr.conf'), 'utf8');
  const reflectorLines = bird ? routerConf.slice(routerConf.indexOf(`neighbor ${nodeIp(REFLECTOR_NODE)} `)).split('\n').slice(0, 14)
    : routerConf.split('\n').filter((l) => l.includes(nodeIp(REFLECTOR_NODE)));
  checks.check('router config: passive towards the in-cluster reflector at its node\'s address',
    bird ? reflectorLines.includes('  passive on;') : routerConf.includes(` neighbor ${nodeIp(REFLECTOR_NODE)} passive\n`), reflectorLines.join('; '));
  if (routerAsn !== undefined) {
    checks.check('eBGP through the node: the router and the reflector pod both use ebgp-multihop 2',
      (bird ? reflectorLines.includes('  multihop 2;') : routerConf.includes(` neighbor ${nodeIp(REFLECTOR_NODE)} ebgp-multihop 2\n`))
        && /\[neighbors\.ebgp-multihop\.config\]\nenabled = true\nmultihop-ttl = 2\n/.test(config['gobgpd.toml']),
      reflectorLines.filter((l) => l.includes('multihop')).join('; '));
  }

  createLab({ nodes: 3 });
  const ns = 'e2e-rr-ic';
  const reflectorPodIp = addPod(ns, REFLECTOR_NODE, REFLECTOR_POD_SLOT);
  // The Service's ports as synthesized: BGP and BFD both DNATed to the pod.
  clusterNat(3, reflectorPodIp, servicePorts);
  const dir = path.join(workDir, 'rr-ic');
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(config)) fs.writeFileSync(path.join(dir, file), text);
  procs.start('rr-ic-gobgpd', ns, ['gobgpd', '-f', path.join(dir, 'gobgpd.toml'), '-t', 'toml', '--api-hosts', '127.0.0.1:50051', '--pprof-disable', '-p']);
  const cluster = await startClusterApi(ctx, SOURCE_CLI);
  // The agent in the reflector pod's network namespace, as its container: gobgpd on loopback, BFD from the pod's address.
  startApiForwarder(procs, cluster, ns, 'rr-ic-api-forward');
  procs.start('rr-ic-agent', ns, [...cluster.cli, 'reflector-agent', '--config', path.join(dir, 'lb-pod-bindings.json'), '--kubeconfig', cluster.kubeconfig]);
  await startRouter(procs, synth, daemon);

  // Cluster DNS: the reflector's Service name resolves to its ClusterIP.
  const pods = new LbPods(procs, workDir, { kind: 'announce-file' }, cluster.api, async (host) => {
    if (host !== REFLECTOR_SERVICE_NAME) throw new Error(`the lab's cluster DNS knows only ${REFLECTOR_SERVICE_NAME}, not ${host}`);
    return CLUSTER_IP;
  });
  const web1 = synth.services.get('web1')!;
  const lbs: LbPod[] = [await pods.start(web1, 1, 2), await pods.start(web1, 2, 2)];
  const prefix = web1.model.prefixes[0];
  const want = [1, 2].map(nodeIp).sort().join(' ');
  const converged = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === want, 60_000, 250);
  checks.check(`in-cluster reflector: router's route ${prefix} has both LB nodes as nexthops`, converged.ok, `got [${converged.value}] after ${(converged.ms / 1000).toFixed(1)} s`);
  if (routerAsn !== undefined) {
    const asPaths = routerAsPaths(daemon, prefix);
    checks.check('the router learned the paths over eBGP', asPaths.length > 0 && asPaths.every((p) => p === String(web1.model.asn)), `AS paths [${asPaths.join('; ')}]`);
  }

  const neighbors = gobgpNeighbors(ns);
  const lbPeers = neighbors.filter((n) => n.address !== ADDRESSES.router).map((n) => n.address).sort();
  checks.check('LB sessions reach the reflector from the LB pods\' own addresses (the ClusterIP is DNATed, the source kept)',
    lbPeers.join(' ') === lbs.map((p) => p.podIp).sort().join(' '), JSON.stringify(neighbors));
  const routerSide = routerSessionState(nodeIp(REFLECTOR_NODE), daemon);
  checks.check(`router's session with the reflector comes from node ${REFLECTOR_NODE}'s address (SNAT) and is established`, routerSide === 'Established', routerSide);

  // BFD through the ClusterIP's DNAT: each LB pod's session (to the ClusterIP) up.
  const bfdUp = await Promise.all(lbs.map((lb) => pods.bfdUp(lb, 15_000)));
  const bfdPeers = lbs.map((lb) => bfdSessionPeers(lb));
  checks.check(`BFD sessions up from both LB pods to the reflector's ClusterIP ${CLUSTER_IP} (UDP 4784 DNATed to the pod; its answers come from the pod's address, matched by discriminator)`,
    bfdUp.every(Boolean) && bfdPeers.every((peers) => peers.join() === CLUSTER_IP), `up ${JSON.stringify(bfdUp)}; session peers ${JSON.stringify(bfdPeers)}`);

  // A silent failure: every process of the LB pod on node 2 frozen. BFD finds it (the reflector
  // agent unbinds it), not the BGP hold time; thawed, its session comes up again and it returns.
  const hold = web1.model.timers.holdTimeSeconds;
  const frozenPod = lbs[1];
  await sleep(1000 + Math.random() * 300); // both sides at the fast rate, at a random phase against it
  const frozen = signalPod(frozenPod, 'SIGSTOP');
  const gone = await waitFor(() => routerNexthops(prefix), (hops) => !hops.includes(nodeIp(2)), (hold + 5) * 1000, 10);
  signalPod(frozenPod, 'SIGCONT');
  const back = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === want, 20_000, 50);
  console.log(`in-cluster reflector, LB pod frozen: path gone from the router after ${(gone.ms / 1000).toFixed(3)} s${gone.ok ? '' : ' (not gone)'} (BFD ${web1.model.reflectors[0].bfd?.minIntervalMs} ms x ${web1.model.reflectors[0].bfd?.multiplier}, hold time ${hold} s); back ${(back.ms / 1000).toFixed(2)} s after the thaw`);
  checks.check(`silent failure (the LB pod on node 2 frozen, ${frozen} processes): BFD through the DNAT takes its path off the router in under 2 s, not the ${hold} s hold time; thawed, it returns`,
    gone.ok && gone.ms < 2000 && back.ok,
    `path gone after ${(gone.ms / 1000).toFixed(2)} s${gone.ok ? '' : ' (not gone)'}; back after ${(back.ms / 1000).toFixed(2)} s${back.ok ? '' : ' (not back)'}`);

  await pods.remove(lbs[1]);
  const shrunk = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === nodeIp(1), 20_000, 100);
  checks.check('an LB pod gone: its path leaves the router through the in-cluster reflector', shrunk.ok, `got [${shrunk.value}] after ${(shrunk.ms / 1000).toFixed(2)} s`);
}

/** The peers (addresses) of the LB pod's BFD sessions, from its speaker's log lines. */
function bfdSessionPeers(pod: LbPod): string[] {
  const log = pod.bfd?.logFile;
  if (!log || !fs.existsSync(log)) return [];
  const peers = new Set<string>();
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const m = /"msg":"BFD session with reflector \S+ \w+".*"peer":"([^"]+)"/.exec(line);
    if (m) peers.add(m[1]);
  }
  return [...peers].sort();
}
