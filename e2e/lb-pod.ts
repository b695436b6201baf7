/**
 * The LB pod as the synthesized manifest says, run from the built images by the pod runner
 * (lib/pod-runner.ts: crun, a runtime spec per container the way containerd writes it), inside the
 * IPVS VM (e2e/vm/in-vm.sh). The pod template of web1's LB Deployment, unchanged: its init container
 * renders exabgp's config as uid 65534, the `ipvs` container (root, NET_ADMIN only) runs the controller
 * against the API over HTTPS with the projected service-account token (in-cluster config), `exabgp`
 * (uid 65534, no capabilities) announces to the synthesized gobgpd reflectors, the FRR router learns
 * the LB node as next hop, and a client reaches the nginx backends through real IPVS. The node route
 * agent's DaemonSet pod (hostNetwork, in node 1's namespace) routes the service prefix to the LB pod.
 * SIGTERM to the pod withdraws the route and every container exits 0 within the grace period. Then
 * copies of the template broken on purpose must fail, each with a clear error.
 *
 * A second scenario runs the in-cluster reflector placement from the images, with the path a cluster
 * gives it: the reflector Deployment's pod (gobgpd image as uid 65534, the reflector agent from the lb
 * image), LB pods of web1 that resolve the reflector's Service name through cluster DNS and dial its
 * ClusterIP (DNATed by their nodes, as kube-proxy does), and the reflector's session to the passive
 * router leaving through node 3's SNAT.
 *
 * usage (compiled, in the VM): node e2e/.build/e2e/lb-pod.js SYNTH_DIR IN_CLUSTER_SYNTH_DIR IMAGES_JSON
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_ROUTE_PROTO } from '../controller/src/node-routes';
import { ApiServerDouble } from '../controller/test/apiserver-double';
import { LB_POD_CONTAINERS, LB_POD_HTTP, LB_POD_RUN_DIR, lbPodSysctls } from '../lib/lb-pod-contract';
import { LoadBalancerServiceModel, RouterDaemon } from '../lib/model';
import { startApiFront } from './lib/api-front';
import { startClusterDns } from './lib/cluster-dns';
import { publishBackendSlice, startBackend, startReflectors, startRouter, syncNodeRoutes } from './lib/daemons';
import { runScenarios, ScenarioContext } from './lib/harness';
import { CLUSTER_IP, clusterNat, gobgpNeighbors, REFLECTOR_NODE, REFLECTOR_POD_SLOT, REFLECTOR_SERVICE_FQDN, routerSessionState } from './lib/in-cluster-lab';
import { addPod, API_HOST_IP, createLab, nodeIp, nodeNs, ROUTER_NS } from './lib/lab';
import { ensureCgroup2, lbPodTemplate, loadImages, loadManifests, PodCluster, podRunner, upsertPodObject, warmLbImages } from './lib/lb-pod-images';
import { describeLoad, startLoad } from './lib/load';
import { UnpackedImage } from './lib/oci-image';
import { PodRunner, PodRunnerOptions, processStatus } from './lib/pod-runner';
import { PodError } from './lib/pod-spec';
import { probe, run, waitFor } from './lib/proc';
import { ADDRESSES, readSynthesized } from './lib/synthesized';

const [SYNTH_DIR, IN_CLUSTER_SYNTH_DIR, IMAGES_JSON] = process.argv.slice(2);
const CLI = [process.execPath, path.resolve(__dirname, '../controller/src/cli.js')];
const API_PORT = 6443;
const DOUBLE_PORT = 6080;
const SERVICE = 'web1';
const CAP_NET_ADMIN = 1n << 12n;

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

/** The router's next hops for `prefix`, or undefined when `ip` could not be asked (a slow VM): never mistaken for "no route". */
function nexthops(prefix: string): string[] | undefined {
  try {
    const out = run(ROUTER_NS, ['ip', '-j', 'route', 'show', 'exact', prefix], { timeoutMs: 30_000 });
    const routes = (out.trim() ? JSON.parse(out) : []) as { gateway?: string; nexthops?: { gateway?: string }[] }[];
    return routes.flatMap((r) => (r.gateway ? [r.gateway] : (r.nexthops ?? []).flatMap((n) => (n.gateway ? [n.gateway] : [])))).sort();
  } catch {
    return undefined;
  }
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The lab's API server (the double behind its HTTPS front) and what every pod gets from the cluster; the pods' runners are torn down with the scenario. */
async function startPodCluster(ctx: ScenarioContext, images: Map<string, UnpackedImage>, manifests: any[]) {
  const api = new ApiServerDouble();
  await api.start(API_HOST_IP, DOUBLE_PORT);
  ctx.onTeardown(() => api.stop());
  const front = await startApiFront(path.join(ctx.workDir, 'api'), { host: API_HOST_IP, port: API_PORT }, { host: API_HOST_IP, port: DOUBLE_PORT });
  ctx.onTeardown(() => front.stop());
  const cluster: PodCluster = { images, manifests, front, apiServer: { host: API_HOST_IP, port: API_PORT }, logDir: path.join(ctx.workDir, 'pods'), log: (line) => console.log(`  ${line}`) };
  const runners: PodRunner[] = [];
  ctx.onTeardown(() => Promise.all(runners.map((r) => r.teardown())));
  return { api, front, cluster, runners };
}

/** nginx backends be1 and be2 on nodes 1 and 2, published as the service's EndpointSlice. */
function startBackends(ctx: ScenarioContext, api: ApiServerDouble, model: LoadBalancerServiceModel): { name: string; ip: string }[] {
  const backends = [1, 2].map((node) => ({ name: `be${node}`, ns: `e2e-be${node}`, ip: addPod(`e2e-be${node}`, node, 10 + node) }));
  for (const b of backends) startBackend(ctx.procs, ctx.workDir, b.name, b.ns, b.ip, [`${b.ip}:${model.ports[0].backendPort}`]);
  publishBackendSlice(api, model, `${model.backendServiceName}-pods`, backends.map((b) => b.ip));
  return backends;
}

/** A pod of `template` on node `n<node>` with pod IP .slot: its netns (the CNI's part), its Pod object in the API, its runner. */
function labPod(
  api: ApiServerDouble,
  cluster: PodCluster,
  runners: PodRunner[],
  pod: { name: string; namespace: string; node: number; slot: number; template: any },
  overrides: Partial<PodRunnerOptions>,
): { runner: PodRunner; podIp: string; netns: string; name: string } {
  const netns = `e2e-pod-${pod.name}`.slice(0, 30);
  const podIp = addPod(netns, pod.node, pod.slot);
  const placed = { ...pod, podIp, netns };
  upsertPodObject(api, placed);
  const runner = podRunner(cluster, placed, overrides);
  runners.push(runner);
  return { runner, podIp, netns, name: pod.name };
}

async function lbPod(ctx: ScenarioContext): Promise<void> {
  const { checks, procs, workDir } = ctx;
  ensureCgroup2();
  const manifests = loadManifests(SYNTH_DIR);
  const synth = readSynthesized(SYNTH_DIR);
  const service = synth.services.get(SERVICE)!;
  const { model } = service;
  const template = lbPodTemplate(manifests, SERVICE);
  const images = loadImages(IMAGES_JSON);
  console.log(`  images: ${[...images.values()].map((i) => `${i.reference} (${i.digest.slice(7, 19)})`).join(', ')}`);

  // The page-cache warm-up (the VM's stand-in for an image pull) while the lab is built.
  const warm = warmLbImages(procs, images, template);
  const labStarted = performance.now();
  createLab({ nodes: 2, apiHost: true });
  const { api, front, cluster, runners } = await startPodCluster(ctx, images, manifests);
  const backends = startBackends(ctx, api, model);
  const kubeconfig = path.join(workDir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  startReflectors(procs, synth, { api, kubeconfig, cli: CLI }, true);
  await startRouter(procs, synth, RouterDaemon.FRR);
  console.log(`  lab, API, backends, reflectors and router up in ${seconds(performance.now() - labStarted)}`);

  /** A pod of the template on `node` (pod IP .slot), with the node agent's route to it unless the agent pod makes it. */
  const makePod = (name: string, node: number, slot: number, podTemplate: any, overrides: Partial<PodRunnerOptions> = {}, nodeRoute = true) => {
    const pod = labPod(api, cluster, runners, { name, namespace: model.namespace, node, slot, template: podTemplate }, overrides);
    if (nodeRoute) syncNodeRoutes(node, [{ node, ns: name, podIp: pod.podIp, service } as any]);
    return pod;
  };

  await warm;
  console.log(`  images warm after ${seconds(performance.now() - labStarted)}`);

  // 1. The node route agent's DaemonSet pod on node 1, as synthesized (hostNetwork: the node's namespace).
  const agentTemplate = manifests.find((m) => m.kind === 'DaemonSet' && m.spec.template.metadata.labels?.['app.kubernetes.io/name'] === 'ecmp-lb-node-agent').spec.template;
  const agent = podRunner(cluster, { name: 'ecmp-lb-node-agent-7xk2p', namespace: model.namespace, node: 1, podIp: nodeIp(1), netns: nodeNs(1), template: agentTemplate },
    { allowedUnsafeSysctls: undefined });
  runners.push(agent);
  await agent.start();
  const agentStatus = processStatus(agent.containers.get('node-agent')!.pid);
  checks.check('node agent pod (hostNetwork, from the lb image): uid 0, CapEff NET_ADMIN only', agentStatus.Uid.split(/\s+/)[0] === '0'
    && BigInt(`0x${agentStatus.CapEff}`) === CAP_NET_ADMIN, `Uid ${agentStatus.Uid} CapEff ${agentStatus.CapEff}`);

  // 2. The LB pod exactly as synthesized; node 1's route to it is the agent's.
  const started = performance.now();
  const pod = makePod('web1-lb-6c9f7d5b8-x2k4q', 1, 2, template, {}, false);
  await pod.runner.start();
  const startMs = performance.now() - started;
  console.log(`  pod started (init container done, containers running) in ${seconds(startMs)}`);
  const init = pod.runner.initContainers.get(LB_POD_CONTAINERS.init)!;
  checks.check(`init container ${LB_POD_CONTAINERS.init} ran to completion (exit 0) before the containers started`, init.exitCode === 0
    && [...pod.runner.containers.values()].every((c) => c.startedAt >= init.startedAt), `exit ${init.exitCode}, pod started in ${seconds(startMs)}`);
  const ipvs = pod.runner.containers.get(LB_POD_CONTAINERS.ipvs)!;
  const exabgp = pod.runner.containers.get(LB_POD_CONTAINERS.exabgp)!;
  const ipvsStatus = processStatus(ipvs.pid);
  const exabgpStatus = processStatus(exabgp.pid);
  const capEff = (s: Record<string, string>) => BigInt(`0x${s.CapEff}`);
  checks.check('ipvs container: uid 0, CapEff/CapPrm/CapBnd = NET_ADMIN only, no_new_privs, seccomp filter', ipvsStatus.Uid.split(/\s+/)[0] === '0'
    && capEff(ipvsStatus) === CAP_NET_ADMIN && BigInt(`0x${ipvsStatus.CapPrm}`) === CAP_NET_ADMIN && BigInt(`0x${ipvsStatus.CapBnd}`) === CAP_NET_ADMIN
    && ipvsStatus.NoNewPrivs === '1' && ipvsStatus.Seccomp === '2',
    `Uid ${ipvsStatus.Uid} CapEff ${ipvsStatus.CapEff} CapPrm ${ipvsStatus.CapPrm} CapBnd ${ipvsStatus.CapBnd} NoNewPrivs ${ipvsStatus.NoNewPrivs} Seccomp ${ipvsStatus.Seccomp}`);
  checks.check('exabgp container: uid/gid 65534, no capability at all, no_new_privs', exabgpStatus.Uid.split(/\s+/)[0] === '65534'
    && exabgpStatus.Gid.split(/\s+/)[0] === '65534' && capEff(exabgpStatus) === 0n && BigInt(`0x${exabgpStatus.CapBnd}`) === 0n && exabgpStatus.NoNewPrivs === '1',
    `Uid ${exabgpStatus.Uid} Gid ${exabgpStatus.Gid} CapEff ${exabgpStatus.CapEff} CapBnd ${exabgpStatus.CapBnd}`);
  const rootMount = fs.readFileSync(`/proc/${ipvs.pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/') ?? '';
  const runMount = fs.readFileSync(`/proc/${ipvs.pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === LB_POD_RUN_DIR) ?? '';
  checks.check(`ipvs container: read-only root file system (the image's), ${LB_POD_RUN_DIR} a 16 MiB tmpfs (emptyDir medium Memory)`,
    rootMount.split(' ')[5]?.split(',').includes('ro') && / tmpfs /.test(runMount) && /size=16384k/.test(runMount), `${rootMount.split(' ').slice(4, 6).join(' ')} | ${runMount.split(' - ')[1] ?? runMount}`);
  const sysctls = Object.entries(lbPodSysctls(model)).map(([name, wanted]) => ({ name, wanted, got: run(pod.netns, ['sysctl', '-n', name], { timeoutMs: 30_000 }).trim() }));
  checks.check('pod sysctls set in the pod\'s network namespace', sysctls.every((s) => s.got === s.wanted), sysctls.map((s) => `${s.name} ${s.got}`).join(', '));

  const prefix = model.prefixes[0];
  const agentRoute = () => probe(nodeNs(1), ['ip', '-4', 'route', 'show', 'proto', String(DEFAULT_ROUTE_PROTO)], 30_000).trim();
  const routed = await waitFor(agentRoute, (r) => r.startsWith(`${prefix} via ${pod.podIp}`), 90_000, 250);
  checks.check(`node agent pod: node 1 routes ${prefix} via the LB pod (proto ${DEFAULT_ROUTE_PROTO}), from the pod list it watches in-cluster`,
    routed.ok && (front.authorized.get(nodeIp(1)) ?? 0) > 0, `"${routed.value}" after ${seconds(routed.ms)}; ${front.authorized.get(nodeIp(1)) ?? 0} authorized requests from the node`);
  const announced = await waitFor(() => nexthops(prefix)?.join(' '), (v) => v === nodeIp(1), 150_000, 250);
  checks.check(`announce: the router's route ${prefix} has the LB node ${nodeIp(1)} as next hop`, announced.ok, `[${announced.value}] after ${seconds(announced.ms)} from the pod start`);
  const ready = await waitFor(() => pod.runner.isReady(LB_POD_CONTAINERS.ipvs), Boolean, 30_000, 250);
  checks.check(`ipvs container ready (readinessProbe GET ${LB_POD_HTTP.readinessPath} :${LB_POD_HTTP.port} from the node)`, ready.ok, `after ${seconds(ready.ms)}`);
  const fromPod = front.authorized.get(pod.podIp) ?? 0;
  checks.check('the controller reached the API in-cluster (HTTPS verified with the projected ca.crt, the projected token as bearer)',
    fromPod > 0 && front.unauthorized === 0, `${fromPod} authorized requests from the pod, ${front.unauthorized} refused`);
  const realServers = run(pod.netns, ['ipvsadm', '-Ln'], { timeoutMs: 30_000 }).split('\n').filter((l) => l.includes('->') && /\d+\.\d+\.\d+\.\d+:\d+/.test(l) && !l.includes('RemoteAddress'));
  checks.check('real IPVS in the pod: the VIP with both backends', realServers.length === 2, realServers.map((l) => l.trim()).join(' | '));

  probe(ROUTER_NS, ['ping', '-c', '1', '-W', '2', nodeIp(1)]);
  const vipUrl = `http://${model.vips[0]}:${model.ports[0].port}/`;
  const load = await startLoad(procs, workDir, 'through-the-pod', { url: vipUrl, count: 200, concurrency: 4, maxSeconds: 60 });
  console.log(`  traffic: ${describeLoad(load)}`);
  checks.check('200 requests from the client to the VIP through the pod\'s IPVS, none failed, both backends answered', load.ok === 200 && load.failed === 0
    && backends.every((b) => (load.byBackend[b.name] ?? 0) > 0), `${load.ok} ok, ${load.failed} failed, ${JSON.stringify(load.byBackend)}`);

  // SIGTERM to every container (what a kubelet does on pod deletion); SIGKILL only after terminationGracePeriodSeconds.
  const grace = template.spec.terminationGracePeriodSeconds;
  const stopStarted = performance.now();
  const stopping = pod.runner.stop();
  const withdrawn = await waitFor(() => nexthops(prefix)?.length, (n) => n === 0, 20_000, 100);
  const drainingIpvs = run(pod.netns, ['ipvsadm', '-Ln'], { timeoutMs: 30_000 }).includes(model.vips[0]);
  checks.check('withdraw on SIGTERM: the router loses the route while the pod drains (IPVS still serving)', announced.ok && withdrawn.ok && drainingIpvs,
    `route gone after ${seconds(withdrawn.ms)}, IPVS ${drainingIpvs ? 'still' : 'no longer'} has the VIP then`);
  const stopped = await stopping;
  checks.check(`every container exited 0 within terminationGracePeriodSeconds (${grace} s), none SIGKILLed`,
    Object.values(stopped.exitCodes).every((c) => c === 0) && stopped.killed.length === 0 && stopped.seconds < grace,
    `${JSON.stringify(stopped.exitCodes)} after ${stopped.seconds.toFixed(1)} s (stop took ${seconds(performance.now() - stopStarted)})`);
  api.remove(`/api/v1/namespaces/${model.namespace}/pods`, 'web1-lb-6c9f7d5b8-x2k4q');
  const unrouted = await waitFor(agentRoute, (r) => r === '', 30_000, 250);
  const agentStop = await agent.stop();
  checks.check('node agent pod: the LB pod deleted, its route goes; the agent exits 0 on SIGTERM', unrouted.ok && agentStop.exitCodes['node-agent'] === 0,
    `route "${unrouted.value}" after ${seconds(unrouted.ms)}; agent exit ${agentStop.exitCodes['node-agent']} after ${agentStop.seconds.toFixed(1)} s`);

  // 3. Copies of the template broken on purpose: each must fail, with a clear error.
  let nextSlot = 4; // pod addresses on node 2: .4, .5, ...
  const expectFailure = async (what: string, name: string, mutate: (t: any) => void, expected: RegExp, overrides: Partial<PodRunnerOptions> = {}) => {
    const broken = clone(template);
    mutate(broken.spec);
    const t0 = performance.now();
    const { runner } = makePod(name, 2, nextSlot++, broken, overrides);
    let error = '';
    try {
      await runner.start();
      await runner.teardown();
      error = '(started)';
    } catch (err) {
      error = err instanceof PodError ? err.message : `unexpected: ${(err as Error).stack}`;
    }
    console.log(`  broken (${what}): ${error}`);
    checks.check(`broken on purpose, ${what}: refused with a clear error`, expected.test(error), `${error} (${seconds(performance.now() - t0)})`);
  };
  const container = (spec: any, name: string) => [...(spec.initContainers ?? []), ...spec.containers].find((c: any) => c.name === name);
  // Run side by side (each in a pod of its own): the VM is slow, and they do not interact.
  const failures = [
    expectFailure('the init container\'s command names a binary absent from the image (nginx, which the VM itself has)', 'broken-binary',
      (spec) => { container(spec, LB_POD_CONTAINERS.init).command = ['nginx']; }, /StartError: container render-config: .*nginx.*not found/),
    expectFailure('readOnlyRootFilesystem and the init container renders into /run, an image directory outside its volumes', 'broken-rofs',
      (spec) => { const c = container(spec, LB_POD_CONTAINERS.init); c.args = c.args.map((a: string) => (a === LB_POD_RUN_DIR ? '/run' : a)); },
      /InitContainerFailed: init container render-config exited 1: .*(EROFS|read-only file system)/i),
    expectFailure('an image reference the node does not have (the exabgp image tagged 0.0.0)', 'broken-image',
      (spec) => { const c = container(spec, LB_POD_CONTAINERS.exabgp); c.image = c.image.replace(/:[^:]+$/, ':0.0.0'); }, /ErrImageNeverPull/),
    expectFailure('runAsNonRoot on the ipvs container, which runs as uid 0', 'broken-nonroot',
      (spec) => { container(spec, LB_POD_CONTAINERS.ipvs).securityContext.runAsNonRoot = true; }, /CreateContainerConfigError: container's runAsUser breaks non-root policy/),
    expectFailure('a kubelet without --allowed-unsafe-sysctls for the pod\'s IPVS sysctls', 'broken-sysctl', () => undefined,
      /SysctlForbidden: forbidden sysctl: "net.ipv4.ip_forward" not allowlisted/, { allowedUnsafeSysctls: [] }),
  ];

  // The ipvs container without NET_ADMIN: it starts, but cannot program the pod's network or IPVS, and nothing is announced.
  const noCaps = clone(template);
  container(noCaps.spec, LB_POD_CONTAINERS.ipvs).securityContext.capabilities.add = [];
  const t0 = performance.now();
  const weak = makePod('web1-lb-nocap', 2, nextSlot++, noCaps);
  await weak.runner.start();
  const logOf = () => fs.readFileSync(weak.runner.containers.get(LB_POD_CONTAINERS.ipvs)!.logFile, 'utf8');
  const refused = await waitFor(() => /network namespace setup incomplete[^\n]*(Operation not permitted|not permitted)/.test(logOf()), Boolean, 60_000, 250);
  const line = logOf().split('\n').find((l) => /network namespace setup incomplete/.test(l)) ?? '';
  const weakStatus = processStatus(weak.runner.containers.get(LB_POD_CONTAINERS.ipvs)!.pid);
  console.log(`  broken (ipvs without NET_ADMIN): CapEff ${weakStatus.CapEff}; ${line.slice(0, 300)}`);
  const neverAnnounced = await waitFor(() => nexthops(prefix)?.includes(nodeIp(2)), Boolean, 5_000, 250);
  checks.check('broken on purpose, the ipvs container without NET_ADMIN: CapEff 0, the controller reports "Operation not permitted", node 2 never announced',
    capEff(weakStatus) === 0n && refused.ok && !neverAnnounced.ok, `${line.slice(0, 200)} (${seconds(performance.now() - t0)})`);
  await weak.runner.teardown();
  await Promise.all(failures);
}

/**
 * The in-cluster reflector from its images: the synthesized reflector Deployment's pod on node 3 and
 * two LB pods of web1 on nodes 1 and 2, all by the pod runner, with cluster DNS, the ClusterIP DNAT
 * and the nodes' SNAT (e2e/lib/in-cluster-lab.ts). The router must learn both LB nodes through the
 * reflector pod, and lose one when its LB pod is deleted.
 */
async function inClusterReflectorPod(ctx: ScenarioContext): Promise<void> {
  const { checks, procs } = ctx;
  ensureCgroup2();
  const manifests = loadManifests(IN_CLUSTER_SYNTH_DIR);
  const synth = readSynthesized(IN_CLUSTER_SYNTH_DIR);
  const { model } = synth.services.get(SERVICE)!;
  const lbTemplate = lbPodTemplate(manifests, SERVICE);
  const reflectorTemplate = manifests.find((m) => m.kind === 'Deployment' && m.spec.template.metadata.labels?.['ecmp-lb.cdk8s.io/reflector'] === 'rr-ic')?.spec.template;
  if (!reflectorTemplate) throw new Error('no Deployment of the in-cluster reflector rr-ic in the manifests');
  const images = loadImages(IMAGES_JSON);
  const warm = warmLbImages(procs, images, lbTemplate);

  createLab({ nodes: 3, apiHost: true });
  const { api, front, cluster, runners } = await startPodCluster(ctx, images, manifests);
  const dns = await startClusterDns(API_HOST_IP, new Map([[REFLECTOR_SERVICE_FQDN, CLUSTER_IP]]));
  ctx.onTeardown(() => dns.stop());
  startBackends(ctx, api, model);
  await startRouter(procs, synth, RouterDaemon.FRR);
  /** A pod of the template on `node` (pod IP .slot) whose resolv.conf names the lab's cluster DNS. */
  const makePod = (name: string, node: number, slot: number, template: any, overrides: Partial<PodRunnerOptions> = {}) =>
    labPod(api, cluster, runners, { name, namespace: model.namespace, node, slot, template }, { dns: { nameservers: [API_HOST_IP] }, ...overrides });
  await warm;

  // The reflector pod: a node without --allowed-unsafe-sysctls (ip_unprivileged_port_start is a safe sysctl).
  const reflector = makePod('rr-ic-gobgpd-5d8c7b9f4-q7w2e', REFLECTOR_NODE, REFLECTOR_POD_SLOT, reflectorTemplate, { allowedUnsafeSysctls: [] });
  clusterNat(3, reflector.podIp);
  await reflector.runner.start();
  const gobgpd = processStatus(reflector.runner.containers.get('gobgpd')!.pid);
  const agent = processStatus(reflector.runner.containers.get('reflector-agent')!.pid);
  checks.check('reflector pod from the gobgpd and lb images: gobgpd and the reflector agent as uid/gid 65534 without any capability, no_new_privs',
    [gobgpd, agent].every((s) => s.Uid.split(/\s+/)[0] === '65534' && s.Gid.split(/\s+/)[0] === '65534' && BigInt(`0x${s.CapEff}`) === 0n
      && BigInt(`0x${s.CapBnd}`) === 0n && s.NoNewPrivs === '1'), `gobgpd Uid ${gobgpd.Uid} CapEff ${gobgpd.CapEff}; agent Uid ${agent.Uid} CapEff ${agent.CapEff}`);
  const listening = await waitFor(() => reflector.runner.isReady('gobgpd'), Boolean, 60_000, 250);
  checks.check('gobgpd (uid 65534) listens on TCP 179 thanks to the pod\'s net.ipv4.ip_unprivileged_port_start=179: its tcpSocket readiness probe passes',
    listening.ok, `ready after ${seconds(listening.ms)}`);
  const toRouter = await waitFor(() => routerSessionState(nodeIp(REFLECTOR_NODE)), (state) => state === 'Established', 90_000, 500);
  checks.check(`the reflector pod's session to the passive router leaves through node ${REFLECTOR_NODE}'s SNAT and is established`, toRouter.ok,
    `${toRouter.value} after ${seconds(toRouter.ms)}`);

  // Two LB pods of web1, on nodes 1 and 2; each node routes the prefix to its pod (the node agent's job, proven above).
  const lbs = await Promise.all([1, 2].map(async (node) => {
    const pod = makePod(`web1-lb-6c9f7d5b8-ic${node}`, node, 2, lbTemplate);
    syncNodeRoutes(node, [{ node, ns: pod.name, podIp: pod.podIp, service: synth.services.get(SERVICE)! } as any]);
    await pod.runner.start();
    return { ...pod, node };
  }));
  const prefix = model.prefixes[0];
  const both = [1, 2].map(nodeIp).sort().join(' ');
  const converged = await waitFor(() => nexthops(prefix)?.join(' '), (v) => v === both, 180_000, 250);
  checks.check(`router's route ${prefix} has both LB nodes as next hops, learnt through the reflector pod`, converged.ok, `[${converged.value}] after ${seconds(converged.ms)}`);
  const resolved = dns.answered.get(REFLECTOR_SERVICE_FQDN) ?? 0;
  const lbPeers = gobgpNeighbors(reflector.netns).filter((n) => n.address !== ADDRESSES.router);
  checks.check('the LB pods resolved the reflector\'s Service name through cluster DNS and their sessions reach the reflector pod from their own addresses (ClusterIP DNAT, source kept)',
    resolved >= 2 && lbPeers.map((n) => n.address).sort().join(' ') === lbs.map((p) => p.podIp).sort().join(' ') && lbPeers.every((n) => n.state === 'established'),
    `${resolved} answers for ${REFLECTOR_SERVICE_FQDN}; peers ${JSON.stringify(lbPeers)}`);
  // The agent's requests leave the pod network, so node 3's SNAT gives them the node's address.
  const agentRequests = front.authorized.get(nodeIp(REFLECTOR_NODE)) ?? 0;
  checks.check('the reflector agent reached the API in-cluster (projected token and ca.crt) through node 3\'s SNAT', agentRequests > 0 && front.unauthorized === 0,
    `${agentRequests} authorized requests from ${nodeIp(REFLECTOR_NODE)}, ${front.unauthorized} refused`);

  // An LB pod deleted: SIGTERM (its exabgp withdraws), then the Pod object goes.
  const gone = lbs[1];
  const stopping = gone.runner.stop();
  const shrunk = await waitFor(() => nexthops(prefix)?.join(' '), (v) => v === nodeIp(1), 30_000, 100);
  await stopping;
  api.remove(`/api/v1/namespaces/${model.namespace}/pods`, gone.name);
  checks.check('an LB pod deleted: its path leaves the router through the reflector pod', shrunk.ok, `[${shrunk.value}] after ${seconds(shrunk.ms)}`);
  const stopped = await reflector.runner.stop();
  checks.check('the reflector pod stops on SIGTERM: gobgpd and the agent exit 0 within the grace period, none SIGKILLed',
    Object.values(stopped.exitCodes).every((c) => c === 0) && stopped.killed.length === 0, `${JSON.stringify(stopped.exitCodes)} after ${stopped.seconds.toFixed(1)} s`);
}

if (!SYNTH_DIR || !IN_CLUSTER_SYNTH_DIR || !IMAGES_JSON) throw new Error('usage: lb-pod.js SYNTH_DIR IN_CLUSTER_SYNTH_DIR IMAGES_JSON');
void runScenarios('LB pod from its images (IPVS VM)', [['LB pod run as the manifest says', lbPod], ['in-cluster reflector pod from its images', inClusterReflectorPod]], 1000);
