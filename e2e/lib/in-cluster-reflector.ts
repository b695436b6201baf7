import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LbPod, LbPods, SOURCE_CLI, startClusterApi, startRouter } from './daemons';
import { ScenarioContext } from './harness';
import { CLUSTER_IP, clusterNat, gobgpNeighbors, REFLECTOR_NODE, REFLECTOR_POD_SLOT, REFLECTOR_SERVICE_NAME, routerSessionState } from './in-cluster-lab';
import { addPod, createLab, nodeIp, routerNexthops } from './lab';
import { waitFor } from './proc';
import { synthesizeInCluster } from './synth';
import { ADDRESSES } from './synthesized';
import { RouterFlavour } from '../../lib';

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
  const { synth, reflectorConfig: config } = synthesizeInCluster(outdir);
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
  const api = `unix://${path.join(workDir, 'gobgpd-rr-ic.sock')}`;
  procs.start('rr-ic-gobgpd', ns, ['gobgpd', '-f', path.join(dir, 'gobgpd.toml'), '-t', 'toml', '--api-hosts', `127.0.0.1:50051,${api}`, '--pprof-disable', '-p']);
  const cluster = await startClusterApi(ctx, SOURCE_CLI);
  procs.start('rr-ic-agent', undefined, [...cluster.cli, 'reflector-agent', '--config', path.join(dir, 'lb-pod-bindings.json'), '--kubeconfig', cluster.kubeconfig, '--gobgp-api', api]);
  await startRouter(procs, synth, RouterFlavour.FRR);

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

  const neighbors = gobgpNeighbors(ns);
  const lbPeers = neighbors.filter((n) => n.address !== ADDRESSES.router).map((n) => n.address).sort();
  checks.check('LB sessions reach the reflector from the LB pods\' own addresses (the ClusterIP is DNATed, the source kept)',
    lbPeers.join(' ') === lbs.map((p) => p.podIp).sort().join(' '), JSON.stringify(neighbors));
  const routerSide = routerSessionState(nodeIp(REFLECTOR_NODE));
  checks.check(`router's session with the reflector comes from node ${REFLECTOR_NODE}'s address (SNAT) and is established`, routerSide === 'Established', routerSide);

  await pods.remove(lbs[1]);
  const shrunk = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === nodeIp(1), 20_000, 100);
  checks.check('an LB pod gone: its path leaves the router through the in-cluster reflector', shrunk.ok, `got [${shrunk.value}] after ${(shrunk.ms / 1000).toFixed(2)} s`);
}
