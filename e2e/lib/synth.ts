import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as kplus from 'cdk8s-plus-27';
import { REFLECTOR_NODE } from './in-cluster-lab';
import { nodeIp } from './lab';
import { loadManifests } from './lb-pod-images';
import { ADDRESSES, readSynthesized, ServiceSpec, Synthesized } from './synthesized';
import { Backends, EcmpApp, EcmpTopology, ForwardingMethod, LoadBalancerService, ReflectorPlacement, RouterDaemon, UpstreamRouterOptions } from '../../lib';

/** The paper's evaluation shape (Fig. 12c): two services with 3 and 2 LBs. */
export const PAPER_SERVICES: ServiceSpec[] = [
  { name: 'web1', prefix: '198.18.101.0/24', lbCount: 3 },
  { name: 'web2', prefix: '198.18.102.0/24', lbCount: 2 },
];

/** The IPVS VM's topology: the paper's, plus web3 in TUN mode (backends answer clients directly, so flows that ECMP moves survive). */
export const VM_SERVICES: ServiceSpec[] = [
  ...PAPER_SERVICES,
  { name: 'web3', prefix: '198.18.103.0/24', lbCount: 4, forwardingMethod: ForwardingMethod.TUNNEL },
];

/**
 * NAT: the pods labelled `app: <service>`. TUN: a Deployment of the app (`<service>-backend`), whose
 * pod template the service prepares; the data plane runs its init container in each backend's
 * network namespace (the nginx backends themselves stay host processes).
 */
function backendsOf(topology: EcmpTopology, service: ServiceSpec): Backends {
  if (service.forwardingMethod !== ForwardingMethod.TUNNEL) return Backends.fromLabels({ app: service.name });
  return Backends.fromWorkload(new kplus.Deployment(topology, `${service.name}-backend`, {
    containers: [{ image: 'nginxinc/nginx-unprivileged:1.25', portNumber: 80 }],
  }));
}

/** How a lab departs from the library's defaults. */
export interface LabOptions {
  /**
   * BFD between the LB pods and the reflectors, with the library's default timers (300 ms x 3).
   * Off by default: under the IPVS VM's software emulation, 300 ms x 3 sessions went down by
   * themselves while LB pods started (the reflector agents unbound live pods, and flows moved
   * mid-rollout: docs/results.md), so the VM labs run without it. The host labs turn it on.
   * @default false
   */
  readonly bfd?: boolean;
  /**
   * Upstream routers beside the lab's `router` (each with its name, address and daemon): a pair of
   * ToRs (e2e/control-plane.ts). Their files are in `routers/<name>/`.
   * @default none
   */
  readonly moreRouters?: UpstreamRouterOptions[];
}

/** Synthesizes the lab topology with the library's public API, into `outdir` (default: a fresh temp directory). */
export function synthesize(daemon: RouterDaemon, services: ServiceSpec[] = PAPER_SERVICES, outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-e2e-synth-')),
  router: Omit<UpstreamRouterOptions, 'address' | 'daemon'> = {}, lab: LabOptions = {}): Synthesized {
  const app = new EcmpApp({ outdir });
  const topology = new EcmpTopology(app, 'ecmp', {
    namespace: 'lb',
    asn: 65021,
    podNetworks: [ADDRESSES.podNetwork],
    // BFD on: the library's default (`bfd` unset); off: what the VM labs run (LabOptions.bfd).
    routeReflectors: ADDRESSES.reflectors.map((r) => (lab.bfd ? { ...r } : { ...r, bfd: false })),
    upstreamRouters: [{ name: 'router', address: ADDRESSES.router, daemon, ...router }, ...(lab.moreRouters ?? [])],
  });
  for (const service of services) {
    new LoadBalancerService(topology, service.name, {
      prefixes: [service.prefix],
      ports: [{ port: 80, backendPort: (service.forwardingMethod ?? ForwardingMethod.NAT) === ForwardingMethod.NAT ? 8080 : 80 }],
      backends: backendsOf(topology, service),
      lbCount: service.lbCount,
      forwardingMethod: service.forwardingMethod,
      routeReflectors: topology.routeReflectors,
    });
  }
  app.synth();
  return readSynthesized(outdir);
}

/**
 * The lab topology with one in-cluster gobgpd reflector `rr-ic` pinned to node 3 (namespace `lb`) and
 * web1 with two LB pods; `router`: its AS (another: eBGP, multihop through the node) and daemon (FRR unless said). BFD as `lab.bfd` says: off unless asked for (the VM's pod-runner scenario
 * synthesizes it without, e2e/synth-in-cluster-cli.ts), on for the host lab (the library's default).
 * Returns the reflector's ConfigMap data and its Service's ports.
 */
export function synthesizeInCluster(outdir: string, lab: LabOptions = {}, router: { asn?: number; daemon?: RouterDaemon } = {}): {
  synth: Synthesized; reflectorConfig: Record<string, string>; servicePorts: { protocol: string; port: number }[];
} {
  const app = new EcmpApp({ outdir });
  const topology = new EcmpTopology(app, 'ecmp', {
    namespace: 'lb', asn: 65021, podNetworks: [ADDRESSES.podNetwork],
    routeReflectors: [{
      name: 'rr-ic', address: nodeIp(REFLECTOR_NODE), placement: ReflectorPlacement.inCluster({ nodeName: `n${REFLECTOR_NODE}` }), ...(lab.bfd ? {} : { bfd: false }),
    }],
    upstreamRouters: [{ name: 'router', address: ADDRESSES.router, daemon: router.daemon ?? RouterDaemon.FRR, ...(router.asn === undefined ? {} : { asn: router.asn }) }],
  });
  new LoadBalancerService(topology, 'web1', { prefixes: ['198.18.101.0/24'], ports: [{ port: 80, backendPort: 8080 }], backends: Backends.fromLabels({ app: 'web1' }), lbCount: 2 });
  app.synth();
  const manifests = loadManifests(outdir);
  const reflectorConfig = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'rr-ic-gobgpd').data as Record<string, string>;
  const service = manifests.find((m) => m.kind === 'Service' && m.metadata.name === 'rr-ic-bgp');
  const servicePorts = ((service?.spec?.ports ?? []) as { protocol?: string; port: number }[]).map((p) => ({ protocol: (p.protocol ?? 'TCP').toLowerCase(), port: p.port }));
  return { synth: readSynthesized(outdir), reflectorConfig, servicePorts };
}
