import * as fs from 'node:fs';
import * as path from 'node:path';
import { RouterFlavour } from '../../lib/model';
import { ApiServerDouble } from '../../controller/test/apiserver-double';
import { LbPod, LbPods, startBackend, startReflectors, startRouter } from './daemons';
import { ScenarioContext } from './harness';
import { addPod, API_HOST_IP, createLab, nodeIp, ROUTER_NS, routerNexthops } from './lab';
import { Daemon, probe, waitFor } from './proc';
import { readSynthesized, SynthesizedService } from './synthesized';

/** The whole chain with real IPVS (inside the VM): router, reflectors, LB pods with the real controller, backends, client. */
export interface IpvsLab {
  readonly service: SynthesizedService;
  readonly prefix: string;
  readonly vipUrl: string;
  readonly pods: LbPods;
  readonly lbs: Map<number, LbPod>;
  readonly backends: { name: string; ns: string; ip: string; daemon?: Daemon }[];
  readonly api: ApiServerDouble;
  /** Starts (again) every backend that is not running. */
  startBackends(): void;
}

const API_PORT = 6443;

/**
 * Builds the lab for one service (`web1` of the synthesized topology) with `lbNodes` LB pods and
 * one backend per node, waits until the router has one nexthop per LB, and warms the router's
 * neighbour entries (it never talks to the nodes before the first packet; see lab facts).
 */
export async function startIpvsLab(ctx: ScenarioContext, synthDir: string, nodes: number, lbNodes: number[], cli: string[]): Promise<IpvsLab> {
  const synth = readSynthesized(synthDir);
  const service = synth.services.get('web1')!;
  const { model } = service;
  createLab({ nodes, apiHost: true });
  const api = new ApiServerDouble();
  await api.start(API_HOST_IP, API_PORT);
  ctx.onTeardown(() => api.stop());

  const backends: IpvsLab['backends'] = [];
  for (let node = 1; node <= nodes; node++) {
    const name = `be${node}`;
    const ns = `e2e-${name}`;
    backends.push({ name, ns, ip: addPod(ns, node, 10 + node) });
  }
  const startBackends = () => {
    for (const backend of backends) {
      if (!backend.daemon || backend.daemon.child.exitCode !== null || backend.daemon.child.signalCode !== null) {
        backend.daemon = startBackend(ctx.procs, ctx.workDir, backend.name, backend.ns, backend.ip);
      }
    }
  };
  startBackends();
  // The backends' EndpointSlice, as the EndpointSlice controller would publish it for the backend Service.
  api.upsert(`/apis/discovery.k8s.io/v1/namespaces/${model.namespace}/endpointslices`, {
    kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1',
    metadata: { name: `${model.backendServiceName}-e2e`, namespace: model.namespace, labels: { 'kubernetes.io/service-name': model.backendServiceName } },
    addressType: 'IPv4',
    endpoints: backends.map((b) => ({ addresses: [b.ip], conditions: { ready: true, serving: true, terminating: false } })),
    ports: [{ name: 'http', port: model.ports[0].backendPort, protocol: 'TCP' }],
  });
  const kubeconfig = path.join(ctx.workDir, 'kubeconfig');
  fs.writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'e2e',
    clusters: [{ name: 'e2e', cluster: { server: `http://${API_HOST_IP}:${API_PORT}`, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'e2e', user: {} }], contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'e2e' } }],
  }));

  startReflectors(ctx.procs, synth);
  await startRouter(ctx.procs, synth, RouterFlavour.FRR, ctx.workDir);
  const pods = new LbPods(ctx.procs, ctx.workDir, { kind: 'controller', cli, kubeconfig });
  const lbs = new Map<number, LbPod>();
  for (const node of lbNodes) lbs.set(node, await pods.start(service, node, 2));

  const prefix = model.prefixes[0];
  const want = lbNodes.map(nodeIp).sort().join(' ');
  // Software emulation: node, keepalived and exabgp start slowly.
  const converged = await waitFor(() => routerNexthops(prefix).join(' '), (v) => v === want, 240_000, 250);
  ctx.checks.check(`router's route ${prefix} has one nexthop per LB node (${lbNodes.length}) with real IPVS behind each`, converged.ok,
    `got [${converged.value}] after ${(converged.ms / 1000).toFixed(1)} s`);
  for (let node = 1; node <= nodes; node++) probe(ROUTER_NS, ['ping', '-c', '1', '-W', '2', nodeIp(node)]);
  return { service, prefix, vipUrl: `http://${model.vips[0]}:${model.ports[0].port}/`, pods, lbs, backends, api, startBackends };
}
