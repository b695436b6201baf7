import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { Backends, EcmpApp, EcmpTopology, LoadBalancerService, RouteReflectorPlacement, RouterFlavour } from '../../lib';
import { LbPod, LbPods, SOURCE_CLI, startClusterApi, startRouter } from './daemons';
import { ScenarioContext } from './harness';
import { addPod, createLab, nodeIp, nodeNs, ROUTER_NS, routerNexthops } from './lab';
import { probe, run, waitFor } from './proc';
import { ADDRESSES, readSynthesized } from './synthesized';

/** The in-cluster reflector's Service, as kube-proxy would give it a ClusterIP (a service range in 198.18.0.0/15). */
const CLUSTER_IP = '198.18.250.10';
const REFLECTOR_NODE = 3;
const REFLECTOR_POD_SLOT = 5;

/** The lab topology with one in-cluster gobgpd reflector pinned to node 3 and one service of two LB pods. */
function synthesizeInCluster(outdir: string) {
  const app = new EcmpApp({ outdir });
  const topology = new EcmpTopology(app, 'ecmp', {
    namespace: 'lb', asn: 65021, podNetworks: [ADDRESSES.podNetwork],
    routeReflectors: [{ name: 'rr-ic', address: nodeIp(REFLECTOR_NODE), placement: RouteReflectorPlacement.IN_CLUSTER, nodeName: `n${REFLECTOR_NODE}` }],
    upstreamRouters: [{ name: 'router', address: ADDRESSES.router, flavour: RouterFlavour.FRR }],
  });
  new LoadBalancerService(topology, 'web1', { prefixes: ['198.18.101.0/24'], ports: [{ port: 80, backendPort: 8080 }], backends: Backends.fromLabels({ app: 'web1' }), lbCount: 2 });
  app.synth();
  const manifests = YAML.parseAllDocuments(fs.readFileSync(path.join(outdir, 'ecmp.k8s.yaml'), 'utf8')).map((d) => d.toJSON());
  const config = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'rr-ic-gobgpd').data as Record<string, string>;
  return { synth: readSynthesized(outdir), config };
}

/**
 * What a cluster does to the in-cluster reflector's packets, as kube-proxy and a CNI in its usual
 * setting do it: every node DNATs the reflector Service's ClusterIP to the reflector pod (so LB pods
 * keep their own source address), and SNATs pod traffic that leaves the pod network to the node's
 * address (Calico's natOutgoing, flannel's ipMasq), so the router sees the reflector at its node's IP.
 */
function clusterNat(nodes: number, reflectorPodIp: string): void {
  for (let node = 1; node <= nodes; node++) {
    run(nodeNs(node), ['nft', '-f', '-'], {
      input: `table ip e2e_cluster {
  chain prerouting { type nat hook prerouting priority dstnat; ip daddr ${CLUSTER_IP} tcp dport 179 dnat to ${reflectorPodIp}:179; }
  chain postrouting { type nat hook postrouting priority srcnat; ip saddr ${ADDRESSES.podNetwork} ip daddr != ${ADDRESSES.podNetwork} oifname "eth0" masquerade; }
}
`,
    });
  }
}

/** gobgpd's neighbors (`gobgp neighbor -j`): address and state. */
function gobgpNeighbors(ns: string): { address: string; state: string }[] {
  const out = probe(ns, ['gobgp', '-u', '127.0.0.1', '-p', '50051', 'neighbor', '-j']);
  try {
    return (JSON.parse(out) as any[]).map((n) => ({ address: n.state?.neighbor_address ?? n.conf?.neighbor_address, state: String(n.state?.session_state ?? '') }));
  } catch {
    return [];
  }
}

/**
 * The in-cluster placement end to end, in namespaces: the synthesized reflector ConfigMap's gobgpd in
 * a pod on node 3 with its reflector agent, LB pods dialling the reflector's Service name (resolved
 * to the ClusterIP, DNATed by their nodes), the reflector's own session to the router leaving through
 * node 3's SNAT, and the router passive towards it, as synthesized.
 */
export async function inClusterReflector(ctx: ScenarioContext): Promise<void> {
  const { checks, procs, workDir } = ctx;
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-e2e-incluster-'));
  ctx.onTeardown(() => fs.rmSync(outdir, { recursive: true, force: true }));
  const { synth, config } = synthesizeInCluster(outdir);
  const routerConf = fs.readFileSync(path.join(synth.routerDir, 'frr.conf'), 'utf8');
  checks.check('router config: passive towards the in-cluster reflector at its node\'s address', routerConf.includes(` neighbor ${nodeIp(REFLECTOR_NODE)} passive\n`),
    routerConf.split('\n').filter((l) => l.includes(nodeIp(REFLECTOR_NODE))).join('; '));

  createLab({ nodes: 3 });
  const ns = 'e2e-rr-ic';
  const reflectorPodIp = addPod(ns, REFLECTOR_NODE, REFLECTOR_POD_SLOT);
  clusterNat(3, reflectorPodIp);
  const dir = path.join(workDir, 'rr-ic');
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(config)) fs.writeFileSync(path.join(dir, file), text);
  procs.start('rr-ic-gobgpd', ns, ['gobgpd', '-f', path.join(dir, 'gobgpd.toml'), '-t', 'toml', '--api-hosts', '127.0.0.1:50051', '--pprof-disable', '-p']);
  const cluster = await startClusterApi(ctx, SOURCE_CLI);
  const gobgp = path.join(workDir, 'gobgp-rr-ic');
  fs.writeFileSync(gobgp, `#!/bin/sh\nexec ip netns exec ${ns} gobgp "$@"\n`, { mode: 0o755 });
  procs.start('rr-ic-agent', undefined, [...cluster.cli, 'reflector-agent', '--config', path.join(dir, 'lb-pod-bindings.json'), '--kubeconfig', cluster.kubeconfig, '--gobgp', gobgp]);
  await startRouter(procs, synth, RouterFlavour.FRR, workDir);

  // Cluster DNS: the reflector's Service name resolves to its ClusterIP.
  const serviceName = 'rr-ic-bgp.lb.svc';
  const pods = new LbPods(procs, workDir, { kind: 'announce-file' }, cluster.api, async (host) => {
    if (host !== serviceName) throw new Error(`the lab's cluster DNS knows only ${serviceName}, not ${host}`);
    return CLUSTER_IP;
  });
  const web1 = synth.services.get('web1')!;
  const lbs: LbPod[] = [await pods.start(web1, 1, 2), await pods.start(web1, 2, 2)];
  const prefix = web1.model.prefixes[0];
  const want = [1, 2].map(nodeIp).sort().join(' ');
  const converged = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === want, 60_000, 250);
  checks.check(`in-cluster reflector: router's route ${prefix} has both LB nodes as nexthops`, converged.ok, `got [${converged.value}] after ${(converged.ms / 1000).toFixed(1)} s`);

  const neighbors = gobgpNeighbors(ns);
  const lbPeers = neighbors.filter((n) => n.address !== ADDRESSES.router).map((n) => n.address).sort();
  checks.check('LB sessions reach the reflector from the LB pods\' own addresses (the ClusterIP is DNATed, the source kept)',
    lbPeers.join(' ') === lbs.map((p) => p.podIp).sort().join(' '), JSON.stringify(neighbors));
  const routerSide = probe(ROUTER_NS, ['vtysh', '--vty_socket', path.join(os.tmpdir(), 'ecmp-e2e-frr'), '-c', `show bgp neighbors ${nodeIp(REFLECTOR_NODE)} json`]);
  checks.check(`router's session with the reflector comes from node ${REFLECTOR_NODE}'s address (SNAT) and is established`, /"bgpState":"Established"/.test(routerSide),
    /"bgpState":"\w+"/.exec(routerSide)?.[0] ?? routerSide.slice(0, 200));

  await pods.remove(lbs[1]);
  const shrunk = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === nodeIp(1), 20_000, 100);
  checks.check('an LB pod gone: its path leaves the router through the in-cluster reflector', shrunk.ok, `got [${shrunk.value}] after ${(shrunk.ms / 1000).toFixed(2)} s`);
}
