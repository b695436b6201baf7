import * as fs from 'node:fs';
import * as path from 'node:path';
import { startApiFront } from './api-front';
import { AnnounceMode, LbPod, LbPods, publishBackendSlice, startBackend, startReflectors, startRouter } from './daemons';
import { ScenarioContext } from './harness';
import { addPod, API_HOST_IP, CLIENT_IP, createLab, nodeIp, ROUTER_NS, routerNexthops } from './lab';
import { ensureCgroup2, isolateLabCgroup, lbPodTemplate, loadImages, loadManifests, PodCluster, podRunner, warmLbImages } from './lb-pod-images';
import { Daemon, probe, run, sleep, waitFor } from './proc';
import { readSynthesized, SynthesizedService } from './synthesized';
import { ApiServerDouble } from '../../controller/test/apiserver-double';
import { ForwardingMethod, RouterDaemon } from '../../lib/model';

/** A backend pod: nginx in its own network namespace on a node. */
export interface Backend {
  readonly name: string;
  readonly ns: string;
  readonly node: number;
  readonly ip: string;
  daemon?: Daemon;
}

/** The first backends' slot on their node's pod network (pod IP 198.19.(128+node).(10+node)). */
const BACKEND_SLOT = 10;

/** The whole chain with real IPVS (inside the VM): router, reflectors, LB pods with the real controller, backends, client. */
export interface IpvsLab {
  readonly service: SynthesizedService;
  readonly prefix: string;
  readonly vipUrl: string;
  readonly pods: LbPods;
  readonly lbs: Map<number, LbPod>;
  /** The backends the EndpointSlice lists as ready. */
  readonly backends: Backend[];
  readonly api: ApiServerDouble;
  /** Starts (again) every backend that is not running. */
  startBackends(): void;
  /** A new backend pod on `node` at pod slot `slot`, prepared as the service's workload prepares its pods (TUN), serving; not yet published. */
  addBackend(name: string, node: number, slot: number): Promise<Backend>;
  /** Publishes the EndpointSlice: every backend in `backends` ready, those in `terminating` terminating (still serving). */
  publishBackends(terminating?: readonly Backend[]): void;
  /** Waits until the router's route has exactly the LBs on `nodes` (a check), then 2 s more; throws if it does not. */
  converge(nodes: number[]): Promise<void>;
}

const API_PORT = 6443;
/** Pod mode: the plain-HTTP double behind the HTTPS front (which takes API_PORT). */
const DOUBLE_PORT = 6080;

/**
 * How the lab runs its LB pods. `host`: the controller and exabgp as host processes in the pod's
 * network namespace (the bench). `pod`: the LB Deployment's pod template exactly as synthesized,
 * from the built images (`imagesJson`: e2e/unpack-images.ts's images.json) by the pod runner (crun),
 * the controller reaching the API in-cluster through an HTTPS front with the projected token.
 */
export type LbRuntime = { kind: 'host' } | { kind: 'pod'; imagesJson: string };

/** The LB pods' slot on their node's pod network (pod IP 198.19.(128+node).2). */
export const LB_SLOT = 2;

/**
 * TUN: the pod template of the backend workload that the service prepared (its init container
 * `<service>-tunnel`), as synthesized; its own containers are left out, the nginx backends being host
 * processes of the lab.
 */
function tunnelBackendTemplate(manifests: readonly any[], serviceName: string): any {
  const container = `${serviceName}-tunnel`;
  const workload = manifests.find((m) => m.spec?.template?.spec?.initContainers?.some((c: any) => c.name === container));
  if (!workload) throw new Error(`no workload with the init container ${container} in the manifests`);
  const { template } = workload.spec;
  return {
    metadata: template.metadata,
    spec: { ...template.spec, initContainers: template.spec.initContainers.filter((c: any) => c.name === container), containers: [] },
  };
}

/**
 * Builds the lab for one service of the synthesized topology (`web1`, NAT, by default) with
 * `lbNodes` LB pods and one backend per node, waits until the router has one nexthop per LB, and
 * warms the router's neighbour entries (it never talks to the nodes before the first packet; see lab facts).
 */
export async function startIpvsLab(ctx: ScenarioContext, synthDir: string, nodes: number, lbNodes: number[], cli: string[], runtime: LbRuntime,
  serviceName = 'web1'): Promise<IpvsLab> {
  const synth = readSynthesized(synthDir);
  const service = synth.services.get(serviceName)!;
  const { model } = service;
  let podImages: { images: ReturnType<typeof loadImages>; manifests: any[]; warm: Promise<void> } | undefined;
  if (runtime.kind === 'pod') {
    ensureCgroup2();
    isolateLabCgroup();
    const images = loadImages(runtime.imagesJson);
    const manifests = loadManifests(synthDir);
    podImages = { images, manifests, warm: warmLbImages(ctx.procs, images, lbPodTemplate(manifests, serviceName)) };
  }
  createLab({ nodes, apiHost: true });
  const api = new ApiServerDouble();
  await api.start(API_HOST_IP, podImages ? DOUBLE_PORT : API_PORT);
  ctx.onTeardown(() => api.stop());
  let mode: AnnounceMode = { kind: 'controller', cli, kubeconfig: path.join(ctx.workDir, 'kubeconfig') };
  let cluster: PodCluster | undefined;
  if (podImages) {
    const front = await startApiFront(path.join(ctx.workDir, 'api'), { host: API_HOST_IP, port: API_PORT }, { host: API_HOST_IP, port: DOUBLE_PORT });
    ctx.onTeardown(() => front.stop());
    cluster = {
      images: podImages.images, manifests: podImages.manifests, front, apiServer: { host: API_HOST_IP, port: API_PORT },
      logDir: path.join(ctx.workDir, 'pods'), log: (line: string) => console.log(`  ${line}`),
    };
    mode = { kind: 'pod', cluster };
  }

  const backends: Backend[] = [];
  const tunnel = model.forwardingMethod === ForwardingMethod.TUNNEL;
  const manifests = tunnel ? loadManifests(synthDir) : [];
  const newBackend = (name: string, node: number, slot: number): Backend => {
    const ns = `e2e-${name}`;
    return { name, ns, node, ip: addPod(ns, node, slot) };
  };
  for (let node = 1; node <= nodes; node++) backends.push(newBackend(`be${node}`, node, BACKEND_SLOT + node));
  if (tunnel) await prepareTunnelBackends(ctx, serviceName, backends, manifests, cluster);
  // NAT: the backend port on the pod address; TUN: the service port (no remapping) on every local address.
  const listen = (ip: string) => (model.forwardingMethod === ForwardingMethod.NAT ? [`${ip}:${model.ports[0].backendPort}`] : [String(model.ports[0].backendPort)]);
  const startBackends = () => {
    for (const backend of backends) {
      if (!backend.daemon || backend.daemon.child.exitCode !== null || backend.daemon.child.signalCode !== null) {
        backend.daemon = startBackend(ctx.procs, ctx.workDir, backend.name, backend.ns, backend.ip, listen(backend.ip));
      }
    }
  };
  startBackends();
  // The backends' EndpointSlice, as the EndpointSlice controller would publish it for the backend Service.
  const publishBackends = (terminating: readonly Backend[] = []) =>
    publishBackendSlice(api, model, `${model.backendServiceName}-e2e`, backends.map((b) => b.ip), terminating.map((b) => b.ip));
  publishBackends();
  const addBackend = async (name: string, node: number, slot: number) => {
    const backend = newBackend(name, node, slot);
    if (tunnel) await prepareTunnelBackends(ctx, serviceName, [backend], manifests, cluster);
    backend.daemon = startBackend(ctx.procs, ctx.workDir, backend.name, backend.ns, backend.ip, listen(backend.ip));
    // Its readiness probe: published ready only once it listens (nginx takes a while under emulation).
    const port = model.ports[0].backendPort;
    const listening = await waitFor(() => probe(backend.ns, ['ss', '-Hltn', `sport = :${port}`]), (out) => out.trim() !== '', 30_000, 100);
    if (!listening.ok) throw new Error(`backend ${name} does not listen on port ${port} after 30 s`);
    return backend;
  };
  const kubeconfig = path.join(ctx.workDir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);

  startReflectors(ctx.procs, synth, { api, kubeconfig, cli }, true);
  // The synthesized router: FRR, or BIRD, then with resilient hashing when its folder says so.
  await startRouter(ctx.procs, synth, fs.existsSync(path.join(synth.routerDir, 'bird.conf')) ? RouterDaemon.BIRD : RouterDaemon.FRR);
  const resilientRoutes = path.join(synth.routerDir, 'resilient-routes.json');
  if (fs.existsSync(resilientRoutes)) ctx.procs.start('router-resilient-routes', ROUTER_NS, [...cli, 'resilient-routes', '--config', resilientRoutes]);
  const pods = new LbPods(ctx.procs, ctx.workDir, mode, api);
  const lbs = new Map<number, LbPod>();
  if (podImages) {
    // The pods' containers go with the scenario (before the lab's namespaces); started side by side, as a Deployment's replicas are.
    ctx.onTeardown(() => Promise.all([...pods.live].map((p) => p.runner?.teardown())));
    const warmStarted = performance.now();
    await podImages.warm;
    console.log(`  images warm (waited ${((performance.now() - warmStarted) / 1000).toFixed(1)} s)`);
    const started = await Promise.all(lbNodes.map((node) => pods.start(service, node, LB_SLOT)));
    lbNodes.forEach((node, i) => lbs.set(node, started[i]));
  } else {
    for (const node of lbNodes) lbs.set(node, await pods.start(service, node, LB_SLOT));
  }

  const prefix = model.prefixes[0];
  const want = lbNodes.map(nodeIp).sort().join(' ');
  // Software emulation: node, keepalived and exabgp start slowly.
  const converged = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === want, 240_000, 250);
  ctx.checks.check(`router's route ${prefix} has one nexthop per LB node (${lbNodes.length}) with real IPVS behind each`, converged.ok,
    `got [${converged.value}] after ${(converged.ms / 1000).toFixed(1)} s`);
  for (let node = 1; node <= nodes; node++) probe(ROUTER_NS, ['ping', '-c', '1', '-W', '2', nodeIp(node)]);
  const converge = async (wantedNodes: number[]) => {
    const hops = wantedNodes.map(nodeIp).sort().join(' ');
    const result = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === hops, 180_000, 250);
    if (!ctx.checks.check(`router route back to ${wantedNodes.length} LBs`, result.ok, result.value)) throw new Error('no convergence');
    await sleep(2000);
  };
  return { service, prefix, vipUrl: `http://${model.vips[0]}:${model.ports[0].port}/`, pods, lbs, backends, api, startBackends, addBackend, publishBackends, converge };
}

/**
 * Runs the synthesized init container of the TUN backend workload in each backend's network
 * namespace: with the pod runner from the LB image (pod mode), else its command with the VM's own
 * tools (the bench's host mode). Then checks what it left: tunl0 up with every VIP, the routes' MTU.
 */
async function prepareTunnelBackends(
  ctx: ScenarioContext,
  serviceName: string,
  backends: readonly Backend[],
  manifests: readonly any[],
  cluster: PodCluster | undefined,
): Promise<void> {
  const template = tunnelBackendTemplate(manifests, serviceName);
  const init = template.spec.initContainers[0];
  const vips = init.args.slice(1) as string[];
  await Promise.all(backends.map(async (backend, i) => {
    if (cluster) {
      const runner = podRunner(cluster, { name: `${serviceName}-backend-${backend.name}`, namespace: 'lb', node: i + 1, podIp: backend.ip, netns: backend.ns, template });
      try {
        await runner.start();
      } finally {
        await runner.teardown();
      }
    } else {
      run(backend.ns, [...init.command, ...init.args]);
    }
    const tunl0 = run(backend.ns, ['ip', '-o', 'addr', 'show', 'dev', 'tunl0']);
    const link = run(backend.ns, ['ip', '-o', 'link', 'show', 'dev', 'tunl0']);
    const routes = run(backend.ns, ['ip', '-o', '-4', 'route', 'show', 'dev', 'eth0']).trim().split('\n');
    ctx.checks.check(`${backend.name}: the synthesized init container ${init.name}${cluster ? ' (pod runner, LB image)' : ''} put every VIP on tunl0, up`,
      vips.every((vip) => tunl0.includes(` ${vip} `)) && /[<,]UP[,>]/.test(link), tunl0.trim());
    ctx.checks.check(`${backend.name}: every route via eth0 has MTU 1480 (eth0 1500 - IPIP), eth0 keeps 1500`,
      routes.every((r) => / mtu 1480\b/.test(r)) && / mtu 1500 /.test(run(backend.ns, ['ip', '-o', 'link', 'show', 'dev', 'eth0'])), routes.join('; '));
  }));
}

/** Connections IPVS has scheduled so far on each running LB pod, by node (`ipvsadm -Ln --stats`, every virtual service). */
export function ipvsConnections(lab: IpvsLab): Map<number, number> {
  const counts = new Map<number, number>();
  for (const [node, pod] of lab.lbs) {
    const lines = probe(pod.ns, ['ipvsadm', '-Ln', '--stats', '--exact']).split('\n');
    counts.set(node, lines.filter((l) => /^(TCP|UDP)\s/.test(l)).reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[2]), 0));
  }
  return counts;
}

/** The client's ports with an ESTABLISHED entry in each running LB pod's IPVS connection table, by node. */
export function establishedClientPorts(lab: IpvsLab): Map<number, Set<number>> {
  const ports = new Map<number, Set<number>>();
  for (const [node, pod] of lab.lbs) {
    const entries = probe(pod.ns, ['ipvsadm', '-Lnc']).split('\n').map((l) => l.trim().split(/\s+/));
    // pro expire state source virtual destination
    ports.set(node, new Set(entries.filter((e) => e[2] === 'ESTABLISHED' && e[3]?.startsWith(`${CLIENT_IP}:`)).map((e) => Number(e[3].split(':')[1]))));
  }
  return ports;
}
