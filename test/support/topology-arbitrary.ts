import { ApiObject, Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import fc from 'fast-check';
import * as ipaddr from 'ipaddr.js';
import * as k8s from '../../imports/k8s';
import {
  Backends, EcmpApp, EcmpTopology, ForwardingMethod, HealthCheckType, IpvsScheduler, LoadBalancerService, Protocol, ReflectorDaemon,
  RouteReflector, ReflectorPlacement, RouterDaemon, UpstreamRouterConfig,
} from '../../lib';

/**
 * Random whole topologies as plain data (a `TopologySpec`), valid by construction, and `buildSpec`,
 * which turns one into constructs through the public API only. Addresses come from the test ranges
 * and are distinct and non-overlapping by construction:
 *
 *   198.18.0.2-250        reflector and router addresses, router ids, cluster ids
 *   198.18.0.251-254      node addresses of the LB pods' renderings
 *   198.18.1-250.x        service prefixes, one /24 each (sub-prefixes /24-/32 at aligned offsets)
 *   198.18.254.0/24       the prefix of a second EcmpTopology beside the generated one (extras.secondTopology)
 *   198.19.0.0/17         pod networks (/20 each), or 198.19.128.0/17
 *   2001:db8:N::/48..128  IPv6 service prefixes, N in 1..0xeffe
 *   2001:db8:f00K::/64    the IPv6 pod network of dual-stack topologies
 */

export type ReflectorKind = 'gobgp' | 'gobgp-in-cluster' | 'frr';

export interface ReflectorSpec {
  name: string;
  address: string;
  /** Dual-stack topologies, FRR reflectors: the box's address on the nodes' IPv6 segment. */
  ipv6Address?: string;
  kind: ReflectorKind;
  routerId?: string;
  clusterId?: string;
  nodeName?: string;
  sendMax?: number;
  networkPolicy?: boolean;
  image?: string;
  agentImage?: string;
  /** Individual constructs only (EcmpTopology sets these for all reflectors). */
  filterPrefixes?: boolean;
  bindPrefixesToLbPods?: boolean;
  connectRetrySeconds?: number;
}

export interface RouterSpec {
  name: string;
  address: string;
  /** Dual-stack topologies: the router's address on the nodes' IPv6 segment. */
  ipv6Address?: string;
  routerId?: string;
  daemon?: RouterDaemon;
  maximumPaths?: number;
  filterPrefixes?: boolean;
  asn?: number;
}

export interface PortSpec {
  port: number;
  backendPort?: number;
  protocol?: Protocol;
}

export interface HealthCheckSpec {
  type?: HealthCheckType;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  retries?: number;
  httpPath?: string;
  httpExpectStatus?: number;
}

export interface ServiceSpec {
  name: string;
  prefixes: string[];
  vips?: string[];
  ports: PortSpec[];
  lbCount?: number;
  scheduler?: IpvsScheduler;
  forwardingMethod?: ForwardingMethod;
  healthCheck?: HealthCheckSpec;
  holdSeconds?: number;
  keepaliveSeconds?: number;
  connectRetrySeconds?: number;
  drainSeconds?: number;
  asn?: number;
  image?: string;
  exabgpImage?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  nodeSelector?: Record<string, string>;
  tolerations?: boolean;
  loadKernelModules?: boolean;
  backends: { kind: 'labels'; labels: Record<string, string> } | { kind: 'workload' };
}

export interface TopologySpec {
  /** EcmpTopology, or RouteReflector / UpstreamRouterConfig / LoadBalancerService in a plain Chart. */
  style: 'topology' | 'charts';
  chartId: string;
  /**
   * Dual stack: an IPv6 pod network besides the IPv4 one(s), every router on the nodes' IPv6 segment
   * too (`ipv6Address`), and services that now and then add an IPv6 prefix to their IPv4 ones (over
   * the IPv4 sessions, as dual-stack services do).
   */
  dualStack: boolean;
  namespace?: string;
  createNamespace?: boolean;
  asn: number;
  podNetworks: string[];
  holdSeconds?: number;
  keepaliveSeconds?: number;
  filterPrefixes?: boolean;
  bindPrefixesToLbPods?: boolean;
  password?: { secretName: string; key: string; sign?: boolean };
  reflectors: ReflectorSpec[];
  routers: RouterSpec[];
  services: ServiceSpec[];
  /** Set only by corruptions. */
  extras?: {
    duplicateObject?: { apiVersion: string; kind: string; name: string };
    secondTopology?: boolean;
  };
}

/** Valid image references of every shape the reference grammar has. */
export const VALID_IMAGES = [
  'cdk8s-ecmp-lb/lb:0.1.0', 'lb', 'registry.example.com:5000/team/lb:1.2.3', 'localhost/ecmp/lb:dev_1', 'example.com/a/b/c:v1.0-rc.1',
  `ghcr.io/org/exabgp@sha256:${'0123456789abcdef'.repeat(4)}`, 'docker.io/library/gobgp:3.10.0', 'my_registry.local/x__y/z--w:TAG.1',
];
const NODE_SELECTOR_KEYS = ['node-role.kubernetes.io/lb', 'ecmp.example.com/edge', 'zone', 'topology.kubernetes.io/zone', 'Rack_1.x'];
const LABEL_VALUES = ['', 'true', 'rack-1', 'a.b_c', 'X'];
const NAMESPACES = ['lb', 'ecmp-lb', 'default', 'kube-system', '0lb', 'n'.repeat(63)];

const ASN = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 64512, max: 65534 }) },
  { weight: 2, arbitrary: fc.integer({ min: 4200000000, max: 4294967294 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 23455 }) },
  { weight: 1, arbitrary: fc.integer({ min: 23457, max: 64495 }) },
);

/** DNS labels of at most 40 characters (lib/validate.ts checkName), now and then starting with a digit. */
const NAME = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z]$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{36}[a-z0-9]{2}$/) },
);

const opt = <T>(arb: fc.Arbitrary<T>, freq = 2) => fc.option(arb, { nil: undefined, freq });

/** The network address plus `offset` hosts. */
export function hostOf(prefix: string, offset: number): string {
  const [address] = prefix.split('/');
  const bytes = ipaddr.parse(address).toByteArray();
  let carry = offset;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const sum = bytes[i] + carry;
    bytes[i] = sum % 256;
    carry = Math.floor(sum / 256);
  }
  return ipaddr.fromByteArray(bytes).toString();
}

export function prefixLength(prefix: string): number {
  return Number(prefix.split('/')[1]);
}

/** Number of usable VIP offsets (1..n) inside a prefix: no network or broadcast address, except /31, /32, /127, /128. */
function hostCount(prefix: string): number {
  const bits = (prefix.includes(':') ? 128 : 32) - prefixLength(prefix);
  if (bits <= 1) return 0;
  return Math.min(2 ** Math.min(bits, 30) - 2, 1000);
}

const v4Prefix = (n: number, length: number, slot: number) => {
  const size = 2 ** (32 - length);
  const offset = (slot % (256 / size)) * size;
  return `198.18.${n}.${offset}/${length}`;
};
const v6Prefix = (n: number, length: number) => `2001:db8:${n.toString(16)}::/${length}`;

const V4_POD_NETWORKS = ['198.19.128.0/17', ...Array.from({ length: 8 }, (_, k) => `198.19.${k * 16}.0/20`)];

function serviceArbitrary() {
  const prefixPart = fc.record({
    length: fc.oneof(
      { weight: 5, arbitrary: fc.constant(24) },
      { weight: 3, arbitrary: fc.integer({ min: 25, max: 30 }) },
      { weight: 1, arbitrary: fc.constant(32) },
    ),
    slot: fc.nat(255),
    length6: fc.constantFrom(48, 56, 64, 64, 120, 128),
  });
  const port = fc.record({
    port: fc.integer({ min: 1, max: 65535 }),
    backendPort: opt(fc.integer({ min: 1, max: 65535 })),
    protocol: opt(fc.constantFrom(Protocol.TCP, Protocol.UDP)),
  });
  return fc.record({
    // IPv6-only services need IPv6 nodes and reflectors: not in these topologies. Dual-stack ones add an IPv6 prefix.
    v6: fc.constant(false),
    dualStack: fc.boolean(),
    prefixParts: fc.array(prefixPart, { minLength: 1, maxLength: 3 }),
    vipChoice: fc.array(fc.nat(), { minLength: 0, maxLength: 3 }),
    explicitVips: fc.boolean(),
    ports: fc.uniqueArray(port, { minLength: 1, maxLength: 3, selector: p => `${p.port}/${p.protocol ?? Protocol.TCP}` }),
    lbCount: opt(fc.integer({ min: 1, max: 8 })),
    scheduler: opt(fc.constantFrom(...Object.values(IpvsScheduler))),
    forwardingMethod: opt(fc.constantFrom(...Object.values(ForwardingMethod))),
    healthCheck: opt(fc.record({
      type: opt(fc.constantFrom(HealthCheckType.TCP, HealthCheckType.HTTP)),
      intervalSeconds: opt(fc.integer({ min: 2, max: 30 })),
      timeoutFraction: fc.double({ min: 0, max: 0.999, noNaN: true }),
      setTimeout: fc.boolean(),
      retries: opt(fc.integer({ min: 0, max: 5 })),
      httpPath: opt(fc.constantFrom('/', '/healthz', '/a?b=c&d', '/$HOME', '/%24x', '/ready/now')),
      httpExpectStatus: opt(fc.constantFrom(200, 204, 301, 404)),
    })),
    hold: opt(fc.record({ holdSeconds: fc.integer({ min: 3, max: 600 }), keepalive: opt(fc.double({ min: 0, max: 1, noNaN: true })) })),
    connectRetrySeconds: opt(fc.integer({ min: 1, max: 120 }), 4),
    drainSeconds: opt(fc.integer({ min: 0, max: 120 })),
    explicitAsn: fc.boolean(),
    image: opt(fc.constantFrom(...VALID_IMAGES)),
    exabgpImage: opt(fc.constantFrom(...VALID_IMAGES)),
    resources: opt(fc.record({
      cpu: fc.constantFrom('50m', '100m', '0.25', '1', '2500m'),
      memory: fc.constantFrom('32Mi', '64Mi', '100M', '1e8'),
      limitMemory: fc.constantFrom('256Mi', '512Mi', '1Gi', '2G'),
    }), 4),
    nodeSelector: opt(fc.dictionary(
      fc.constantFrom(...NODE_SELECTOR_KEYS),
      fc.constantFrom(...LABEL_VALUES),
      { minKeys: 1, maxKeys: 2, noNullPrototype: true },
    ), 3),
    tolerations: fc.boolean(),
    loadKernelModules: opt(fc.boolean()),
    backends: fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('labels' as const), extra: opt(fc.constantFrom({ tier: 'web' }, { 'example.com/role': 'backend' }, { 'app.kubernetes.io/part-of': 'shop' })) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('workload' as const) }) },
    ),
  });
}

function reflectorArbitrary() {
  return fc.record({
    kind: fc.oneof({ weight: 3, arbitrary: fc.constant<ReflectorKind>('gobgp') }, { weight: 2, arbitrary: fc.constant<ReflectorKind>('gobgp-in-cluster') }, { weight: 2, arbitrary: fc.constant<ReflectorKind>('frr') }),
    explicitRouterId: fc.boolean(),
    explicitClusterId: fc.boolean(),
    nodeName: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,14}[a-z0-9]$/), fc.constantFrom('node-1.example.com', 'n21', `k8s-${'x'.repeat(59)}`)),
    sendMax: opt(fc.double({ min: 0, max: 1, noNaN: true })),
    networkPolicy: opt(fc.boolean()),
    image: opt(fc.constantFrom(...VALID_IMAGES)),
    agentImage: opt(fc.constantFrom(...VALID_IMAGES)),
    filterPrefixes: opt(fc.boolean(), 4),
    bind: opt(fc.boolean(), 3),
    connectRetrySeconds: opt(fc.integer({ min: 1, max: 120 }), 4),
  });
}

function routerArbitrary() {
  return fc.record({
    daemon: opt(fc.constantFrom(RouterDaemon.FRR, RouterDaemon.BIRD, RouterDaemon.GOBGP_ZEBRA), 4),
    explicitRouterId: fc.boolean(),
    maximumPaths: opt(fc.double({ min: 0, max: 1, noNaN: true })),
    filterPrefixes: opt(fc.boolean(), 4),
    explicitAsn: fc.boolean(),
  });
}

/** A whole valid topology. */
export function topologySpecArbitrary(): fc.Arbitrary<TopologySpec> {
  return fc.record({
    style: fc.constantFrom<'topology' | 'charts'>('topology', 'charts'),
    dualStack: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    names: fc.uniqueArray(NAME, { minLength: 9, maxLength: 9 }),
    hosts: fc.uniqueArray(fc.integer({ min: 2, max: 250 }), { minLength: 11, maxLength: 11 }),
    prefixSlots: fc.uniqueArray(fc.integer({ min: 1, max: 250 }), { minLength: 12, maxLength: 12 }),
    v6Slots: fc.uniqueArray(fc.integer({ min: 1, max: 0xeffe }), { minLength: 12, maxLength: 12 }),
    namespace: opt(fc.oneof(fc.constantFrom(...NAMESPACES), fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/)), 5),
    createNamespace: opt(fc.boolean()),
    asn: ASN,
    podNetworks: fc.uniqueArray(fc.constantFrom(...V4_POD_NETWORKS), { minLength: 1, maxLength: 2 }),
    v6PodNetwork: fc.integer({ min: 0, max: 15 }),
    hold: opt(fc.record({ holdSeconds: fc.integer({ min: 3, max: 600 }), keepalive: opt(fc.double({ min: 0, max: 1, noNaN: true })) })),
    filterPrefixes: opt(fc.boolean(), 5),
    bind: opt(fc.boolean(), 3),
    password: opt(fc.record({ secretName: fc.constantFrom('bgp-md5', 'bgp.key', 'x'), key: fc.constantFrom('password', 'md5.key', 'K_1'), sign: opt(fc.boolean()) })),
    reflectors: fc.array(reflectorArbitrary(), { minLength: 1, maxLength: 3 }),
    routers: fc.array(routerArbitrary(), { minLength: 1, maxLength: 2 }),
  }).chain(base => fc.record({
    base: fc.constant(base),
    services: fc.array(serviceArbitrary(), { minLength: 1, maxLength: 4 }),
  })).map(({ base, services: rawServices }) => finish(base, rawServices));
}

/** Turns the raw draws into a spec that satisfies every cross-field rule the library documents. */
function finish(base: any, rawServices: any[]): TopologySpec {
  // LB pods open their reflector sessions over IPv4: every reflector and router has an IPv4 address.
  const nodeAddress = (i: number) => `198.18.0.${base.hosts[i]}`;
  const idAddress = (i: number) => `198.18.0.${base.hosts[i]}`;
  const chartId = base.style === 'topology' ? 'ecmp' : 'c';
  const podNetworks: string[] = base.dualStack ? [...base.podNetworks, `2001:db8:${(0xf000 + base.v6PodNetwork).toString(16)}::/64`] : base.podNetworks;

  let slot = 0;
  const services: ServiceSpec[] = rawServices.map((s, i) => {
    const v6 = s.v6 as boolean;
    const prefixes = s.prefixParts.map((part: any) => {
      const n = v6 ? base.v6Slots[slot] : base.prefixSlots[slot];
      slot++;
      return v6 ? v6Prefix(n, part.length6) : v4Prefix(n, part.length, part.slot);
    });
    const forwardingMethod = s.forwardingMethod as ForwardingMethod | undefined;
    // A dual-stack service: one IPv6 prefix besides the IPv4 ones (not with TUN backends the service prepares: IPv4 only).
    if (base.dualStack && s.dualStack && !(forwardingMethod === ForwardingMethod.TUNNEL && s.backends.kind === 'workload')) {
      prefixes.push(v6Prefix(base.v6Slots[i], s.prefixParts[0].length6));
    }
    const ports: PortSpec[] = s.ports.map((p: any) => ({
      port: p.port,
      ...(p.protocol ? { protocol: p.protocol } : {}),
      // DR and TUN cannot remap a port.
      ...(p.backendPort !== undefined ? {
        backendPort: (forwardingMethod ?? ForwardingMethod.NAT) === ForwardingMethod.NAT ? p.backendPort : p.port,
      } : {}),
    }));
    const allTcp = ports.every(p => (p.protocol ?? Protocol.TCP) === Protocol.TCP);
    let healthCheck: HealthCheckSpec | undefined;
    if (s.healthCheck) {
      const h = s.healthCheck;
      const interval = h.intervalSeconds;
      const timeout = h.setTimeout ? 1 + Math.floor(h.timeoutFraction * ((interval ?? 2) - 1)) : undefined;
      healthCheck = {
        ...(h.type !== undefined ? { type: allTcp ? h.type : HealthCheckType.TCP } : {}),
        ...(interval !== undefined ? { intervalSeconds: interval } : {}),
        ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
        ...(h.retries !== undefined ? { retries: h.retries } : {}),
        ...(h.httpPath !== undefined ? { httpPath: h.httpPath } : {}),
        ...(h.httpExpectStatus !== undefined ? { httpExpectStatus: h.httpExpectStatus } : {}),
      };
    }
    let vips: string[] | undefined;
    if (s.explicitVips) {
      const picked = new Set<string>();
      for (const [k, choice] of (s.vipChoice as number[]).entries()) {
        const p = prefixes[k % prefixes.length];
        const count = hostCount(p);
        picked.add(count === 0 ? hostOf(p, 0) : hostOf(p, 1 + (choice % count)));
      }
      if (picked.size === 0) picked.add(hostCount(prefixes[0]) === 0 ? hostOf(prefixes[0], 0) : hostOf(prefixes[0], 1));
      vips = [...picked];
    }
    const hold = s.hold;
    const resources = s.resources && {
      requests: { cpu: s.resources.cpu, memory: s.resources.memory },
      limits: { memory: s.resources.limitMemory },
    };
    return {
      name: base.names[3 + i],
      prefixes,
      ...(vips ? { vips } : {}),
      ports,
      ...(s.lbCount !== undefined ? { lbCount: s.lbCount } : {}),
      ...(s.scheduler !== undefined ? { scheduler: s.scheduler } : {}),
      ...(forwardingMethod !== undefined ? { forwardingMethod } : {}),
      ...(healthCheck ? { healthCheck } : {}),
      ...(hold ? { holdSeconds: hold.holdSeconds } : {}),
      ...(hold && hold.keepalive !== undefined ? {
        keepaliveSeconds: Math.max(1, Math.floor(hold.keepalive * Math.floor(hold.holdSeconds / 3))),
      } : {}),
      ...(s.connectRetrySeconds !== undefined ? { connectRetrySeconds: s.connectRetrySeconds } : {}),
      ...(s.drainSeconds !== undefined ? { drainSeconds: s.drainSeconds } : {}),
      ...(s.explicitAsn ? { asn: base.asn } : {}),
      ...(s.image ? { image: s.image } : {}),
      ...(s.exabgpImage ? { exabgpImage: s.exabgpImage } : {}),
      ...(resources ? { resources } : {}),
      ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
      ...(s.tolerations ? { tolerations: true } : {}),
      ...(s.loadKernelModules !== undefined ? { loadKernelModules: s.loadKernelModules } : {}),
      backends: s.backends.kind === 'workload' ? { kind: 'workload' } : { kind: 'labels', labels: { app: base.names[3 + i], ...(s.backends.extra ?? {}) } },
    } as ServiceSpec;
  });
  const maxLb = Math.max(...services.map(s => s.lbCount ?? 2));

  const anyInCluster = base.reflectors.some((r: any) => r.kind === 'gobgp-in-cluster');
  // TCP-MD5 signs the IP addresses, which the CNI's SNAT of an in-cluster reflector rewrites.
  const anyFrr = base.reflectors.some((r: any) => r.kind === 'frr');
  const allFrr = base.reflectors.every((r: any) => r.kind === 'frr');
  // Signed LB sessions need FRR reflectors (gobgpd 3.10 puts no key on dynamic neighbors).
  const password = anyInCluster ? undefined : base.password && (base.password.sign && !allFrr ? { ...base.password, sign: false } : base.password);
  const signs = password?.sign === true;
  const style = base.style as 'topology' | 'charts';

  // EcmpTopology: one filterPrefixes / bindPrefixesToLbPods for every reflector.
  let filterPrefixes: boolean | undefined = base.filterPrefixes;
  let bind: boolean | undefined = base.bind;
  if (style === 'topology') {
    if (bind === true && (filterPrefixes === false || anyFrr)) bind = undefined;
    if (anyFrr && filterPrefixes !== false && !signs && bind === undefined) bind = false;
  } else {
    filterPrefixes = undefined;
    bind = undefined;
  }

  const reflectors: ReflectorSpec[] = base.reflectors.map((r: any, i: number) => {
    const kind = r.kind as ReflectorKind;
    let rFilter: boolean | undefined;
    let rBind: boolean | undefined;
    if (style === 'charts') {
      rFilter = r.filterPrefixes;
      rBind = r.bind;
      if (rBind === true && (rFilter === false || kind === 'frr')) rBind = undefined;
      if (kind === 'frr' && rFilter !== false && !signs && rBind === undefined) rBind = false;
    }
    return {
      name: base.names[i],
      address: nodeAddress(i),
      // FRR resolves the IPv6 next hops of dual-stack services before it reflects them.
      ...(base.dualStack && kind === 'frr' ? { ipv6Address: `2001:db8:ffff::${(0x100 + i).toString(16)}` } : {}),
      kind,
      ...(r.explicitRouterId ? { routerId: idAddress(5 + i) } : {}),
      ...(r.explicitClusterId ? { clusterId: idAddress(8 + i) } : {}),
      ...(kind === 'gobgp-in-cluster' ? { nodeName: r.nodeName } : {}),
      ...(r.sendMax !== undefined ? { sendMax: maxLb + Math.floor(r.sendMax * (255 - maxLb)) } : {}),
      ...(kind === 'gobgp-in-cluster' && r.networkPolicy !== undefined ? { networkPolicy: r.networkPolicy } : {}),
      ...(kind === 'gobgp-in-cluster' && r.image ? { image: r.image } : {}),
      ...(kind === 'gobgp-in-cluster' && r.agentImage ? { agentImage: r.agentImage } : {}),
      ...(rFilter !== undefined ? { filterPrefixes: rFilter } : {}),
      ...(rBind !== undefined ? { bindPrefixesToLbPods: rBind } : {}),
      ...(style === 'charts' && r.connectRetrySeconds !== undefined ? { connectRetrySeconds: r.connectRetrySeconds } : {}),
    };
  });
  const routers: RouterSpec[] = base.routers.map((r: any, i: number) => {
    const zebra = r.daemon === RouterDaemon.GOBGP_ZEBRA;
    return {
      name: base.names[7 + i],
      address: nodeAddress(3 + i),
      // Outside every service prefix (2001:db8:N::, N up to 0xeffe) and pod network (2001:db8:f00K::).
      ...(base.dualStack ? { ipv6Address: `2001:db8:ffff::${(3 + i).toString(16)}` } : {}),
      ...(r.daemon !== undefined ? { daemon: r.daemon } : {}),
      ...(r.explicitRouterId ? { routerId: idAddress(3 + i) } : {}),
      // gobgpd + zebra has no maximum-paths setting.
      ...(r.maximumPaths !== undefined && !zebra ? { maximumPaths: maxLb + Math.floor(r.maximumPaths * (255 - maxLb)) } : {}),
      ...(r.filterPrefixes !== undefined ? { filterPrefixes: r.filterPrefixes } : {}),
      ...(r.explicitAsn ? { asn: base.asn } : {}),
    };
  });
  const hold = base.hold;
  return {
    style,
    chartId,
    dualStack: base.dualStack,
    ...(base.namespace !== undefined ? { namespace: base.namespace } : {}),
    ...(style === 'topology' && base.namespace !== undefined && base.createNamespace !== undefined ? { createNamespace: base.createNamespace } : {}),
    asn: base.asn,
    podNetworks,
    ...(hold ? { holdSeconds: hold.holdSeconds } : {}),
    ...(hold && hold.keepalive !== undefined ? { keepaliveSeconds: Math.max(1, Math.floor(hold.keepalive * Math.floor(hold.holdSeconds / 3))) } : {}),
    ...(filterPrefixes !== undefined ? { filterPrefixes } : {}),
    ...(bind !== undefined ? { bindPrefixesToLbPods: bind } : {}),
    ...(password ? { password } : {}),
    reflectors,
    routers,
    services,
  };
}

/** The construct path of each part of a spec, as error messages name them. */
export function pathsOf(spec: TopologySpec) {
  return {
    chart: spec.chartId,
    reflector: (i: number) => `${spec.chartId}/${spec.reflectors[i].name}`,
    router: (i: number) => `${spec.chartId}/${spec.routers[i].name}`,
    service: (i: number) => `${spec.chartId}/${spec.services[i].name}`,
    all: () => [spec.chartId, ...spec.reflectors.map(r => `${spec.chartId}/${r.name}`), ...spec.routers.map(r => `${spec.chartId}/${r.name}`), ...spec.services.map(s => `${spec.chartId}/${s.name}`)],
  };
}

const seconds = (n: number | undefined) => (n === undefined ? undefined : Duration.seconds(n));

/** Builds the constructs of a spec in a new EcmpApp writing to `outdir`; constructor errors propagate. */
export function buildSpec(spec: TopologySpec, outdir: string): EcmpApp {
  const app = new EcmpApp({ outdir });
  const secrets = spec.password ? new Chart(app, 'secrets') : undefined;
  const bgpPassword = spec.password && secrets && {
    secret: kplus.Secret.fromSecretName(secrets, 'bgp', spec.password.secretName),
    key: spec.password.key,
    ...(spec.password.sign !== undefined ? { signLoadBalancerSessions: spec.password.sign } : {}),
  };
  const reflectorOptions = (r: ReflectorSpec) => ({
    name: r.name,
    address: r.address,
    ...(r.ipv6Address !== undefined ? { ipv6Address: r.ipv6Address } : {}),
    ...(r.routerId !== undefined ? { routerId: r.routerId } : {}),
    ...(r.clusterId !== undefined ? { clusterId: r.clusterId } : {}),
    ...(r.kind === 'gobgp-in-cluster' ? {
      placement: ReflectorPlacement.inCluster({
        nodeName: r.nodeName!,
        ...(r.networkPolicy !== undefined ? { networkPolicy: r.networkPolicy } : {}),
        ...(r.image !== undefined ? { image: r.image } : {}),
        ...(r.agentImage !== undefined ? { agentImage: r.agentImage } : {}),
      }),
    } : {}),
    ...(r.kind === 'frr' ? { daemon: ReflectorDaemon.FRR } : {}),
    ...(r.sendMax !== undefined ? { sendMax: r.sendMax } : {}),
  });
  const routerOptions = (r: RouterSpec) => ({
    name: r.name,
    address: r.address,
    ...(r.ipv6Address !== undefined ? { ipv6Address: r.ipv6Address } : {}),
    ...(r.routerId !== undefined ? { routerId: r.routerId } : {}),
    ...(r.daemon !== undefined ? { daemon: r.daemon } : {}),
    ...(r.maximumPaths !== undefined ? { maximumPaths: r.maximumPaths } : {}),
    ...(r.filterPrefixes !== undefined ? { filterPrefixes: r.filterPrefixes } : {}),
    ...(r.asn !== undefined ? { asn: r.asn } : {}),
  });

  let chart: Chart;
  let reflectors: RouteReflector[];
  if (spec.style === 'topology') {
    const topology = new EcmpTopology(app, spec.chartId, {
      ...(spec.namespace !== undefined ? { namespace: spec.namespace } : {}),
      ...(spec.createNamespace !== undefined ? { createNamespace: spec.createNamespace } : {}),
      asn: spec.asn,
      podNetworks: spec.podNetworks,
      routeReflectors: spec.reflectors.map(reflectorOptions),
      upstreamRouters: spec.routers.map(routerOptions),
      ...(spec.holdSeconds !== undefined ? { holdTime: seconds(spec.holdSeconds) } : {}),
      ...(spec.keepaliveSeconds !== undefined ? { keepaliveInterval: seconds(spec.keepaliveSeconds) } : {}),
      ...(spec.filterPrefixes !== undefined ? { filterPrefixes: spec.filterPrefixes } : {}),
      ...(spec.bindPrefixesToLbPods !== undefined ? { bindPrefixesToLbPods: spec.bindPrefixesToLbPods } : {}),
      ...(bgpPassword ? { bgpPassword } : {}),
    });
    chart = topology;
    reflectors = topology.routeReflectors;
  } else {
    chart = new Chart(app, spec.chartId, spec.namespace !== undefined ? { namespace: spec.namespace } : {});
    const timers = {
      ...(spec.holdSeconds !== undefined ? { holdTime: seconds(spec.holdSeconds) } : {}),
      ...(spec.keepaliveSeconds !== undefined ? { keepaliveInterval: seconds(spec.keepaliveSeconds) } : {}),
    };
    reflectors = spec.reflectors.map(r => new RouteReflector(chart, r.name, {
      ...reflectorOptions(r), ...timers, asn: spec.asn, podNetworks: spec.podNetworks,
      ...(r.filterPrefixes !== undefined ? { filterPrefixes: r.filterPrefixes } : {}),
      ...(r.bindPrefixesToLbPods !== undefined ? { bindPrefixesToLbPods: r.bindPrefixesToLbPods } : {}),
      ...(r.connectRetrySeconds !== undefined ? { connectRetry: seconds(r.connectRetrySeconds) } : {}),
      ...(bgpPassword ? { bgpPassword } : {}),
    }));
    for (const r of spec.routers) new UpstreamRouterConfig(chart, r.name, { ...routerOptions(r), routeReflectors: reflectors });
  }

  spec.services.forEach((s, i) => {
    const backends = s.backends.kind === 'workload'
      ? Backends.fromWorkload(new kplus.Deployment(chart, `Backend${i}`, { containers: [{ image: 'nginxinc/nginx-unprivileged:1.25', portNumber: 8080 }] }))
      : Backends.fromLabels(s.backends.labels);
    const hc = s.healthCheck;
    new LoadBalancerService(chart, s.name, {
      prefixes: s.prefixes,
      ports: s.ports,
      backends,
      routeReflectors: reflectors,
      ...(s.vips !== undefined ? { vips: s.vips } : {}),
      ...(s.lbCount !== undefined ? { lbCount: s.lbCount } : {}),
      ...(s.scheduler !== undefined ? { scheduler: s.scheduler } : {}),
      ...(s.forwardingMethod !== undefined ? { forwardingMethod: s.forwardingMethod } : {}),
      // The service prepares TUN backends it holds the workload of; the rest are prepared by hand.
      ...(s.forwardingMethod === ForwardingMethod.DIRECT_ROUTING || (s.forwardingMethod === ForwardingMethod.TUNNEL && s.backends.kind !== 'workload')
        ? { backendsPreparedByHand: true } : {}),
      ...(hc ? {
        healthCheck: {
          ...(hc.type !== undefined ? { type: hc.type } : {}),
          ...(hc.intervalSeconds !== undefined ? { interval: seconds(hc.intervalSeconds) } : {}),
          ...(hc.timeoutSeconds !== undefined ? { timeout: seconds(hc.timeoutSeconds) } : {}),
          ...(hc.retries !== undefined ? { retries: hc.retries } : {}),
          ...(hc.httpPath !== undefined ? { httpPath: hc.httpPath } : {}),
          ...(hc.httpExpectStatus !== undefined ? { httpExpectStatus: hc.httpExpectStatus } : {}),
        },
      } : {}),
      ...(s.holdSeconds !== undefined ? { holdTime: seconds(s.holdSeconds) } : {}),
      ...(s.keepaliveSeconds !== undefined ? { keepaliveInterval: seconds(s.keepaliveSeconds) } : {}),
      ...(s.connectRetrySeconds !== undefined ? { connectRetry: seconds(s.connectRetrySeconds) } : {}),
      ...(s.drainSeconds !== undefined ? { drainTimeout: seconds(s.drainSeconds) } : {}),
      ...(s.asn !== undefined ? { asn: s.asn } : {}),
      ...(s.image !== undefined ? { image: s.image } : {}),
      ...(s.exabgpImage !== undefined ? { exabgpImage: s.exabgpImage } : {}),
      ...(s.resources ? {
        resources: {
          ...(s.resources.requests ? {
            requests: Object.fromEntries(Object.entries(s.resources.requests).map(([k, v]) => [k, k8s.Quantity.fromString(v)])),
          } : {}),
          ...(s.resources.limits ? {
            limits: Object.fromEntries(Object.entries(s.resources.limits).map(([k, v]) => [k, k8s.Quantity.fromString(v)])),
          } : {}),
        },
      } : {}),
      ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
      ...(s.tolerations ? { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'lb', effect: 'NoSchedule' }] } : {}),
      ...(s.loadKernelModules !== undefined ? { loadKernelModules: s.loadKernelModules } : {}),
    });
  });

  const extras = spec.extras ?? {};
  if (extras.duplicateObject) {
    const { apiVersion, kind, name } = extras.duplicateObject;
    new ApiObject(chart, 'UserObject', { apiVersion, kind, metadata: { name } });
  }
  if (extras.secondTopology) {
    const second = new EcmpTopology(app, 'second', {
      namespace: spec.namespace === 'second-topology' ? 'second-topology-2' : 'second-topology',
      asn: spec.asn,
      podNetworks: spec.podNetworks,
      routeReflectors: [{ name: 'rr-second', address: '198.18.0.253' }],
      upstreamRouters: [{ name: 'router-second', address: '198.18.0.254' }],
    });
    new LoadBalancerService(second, 'web-second', {
      prefixes: ['198.18.254.0/24'], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'web-second' }),
      routeReflectors: second.routeReflectors,
    });
  }
  return app;
}
