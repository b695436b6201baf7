import { AddressFamily, ExabgpModel, RouteReflectorModel, UpstreamRouterModel } from '../../lib/model';

// The paper's evaluation setup as renderer models (appendices B-D): AS 65021, route reflector
// 10.0.0.109, router 10.0.0.110, pod network 172.16.0.0/16, service 10.1.1.0/24 behind node 10.0.0.106.

export const PAPER_TIMERS = { holdTimeSeconds: 9, keepaliveSeconds: 3, connectRetrySeconds: 5 };

/** The route reflector (appendix C), without prefix filtering or passwords. */
export const paperReflector: RouteReflectorModel = {
  asn: 65021,
  routerId: '10.0.0.109',
  clusterId: '10.0.0.109',
  listenPort: 179,
  lbPeerGroup: 'lb-pods',
  lbNeighborPrefixes: ['172.16.0.0/16'],
  routers: [{ address: '10.0.0.110', asn: 65021, description: 'router-r1', passive: false }],
  sendMax: 255,
  families: [AddressFamily.IPV4_UNICAST],
  timers: PAPER_TIMERS,
  filterPrefixes: false,
  acceptedPrefixes: [],
  prefixLimits: [],
  routerBgpPassword: '',
  lbBgpPassword: '',
  lbPodBindings: [],
};

/** The upstream router (appendix B), without prefix filtering or passwords. */
export const paperRouter: UpstreamRouterModel = {
  asn: 65021,
  routerId: '10.0.0.110',
  reflectors: [{ address: '10.0.0.109', asn: 65021, description: 'rr-rr1', passive: false }],
  maximumPaths: 16,
  servicePrefixes: ['10.1.1.0/24'],
  families: [AddressFamily.IPV4_UNICAST],
  timers: PAPER_TIMERS,
  filterPrefixes: false,
  bgpPassword: '',
};

/** The router with BFD to three reflectors at two sets of timers, and a fourth reflector without. */
export const paperRouterWithBfd: UpstreamRouterModel = {
  ...paperRouter,
  reflectors: [
    { address: '10.0.0.109', asn: 65021, description: 'rr-rr1', passive: false, bfd: { minIntervalMs: 300, multiplier: 3 } },
    { address: '10.0.0.108', asn: 65021, description: 'rr-rr2', passive: false, bfd: { minIntervalMs: 300, multiplier: 3 } },
    { address: '10.0.0.107', asn: 65021, description: 'rr-rr3', passive: false, bfd: { minIntervalMs: 100, multiplier: 5 } },
    { address: '10.0.0.106', asn: 65021, description: 'rr-rr4', passive: false },
  ],
};

/** One LB pod (appendix D), with static routes. */
export const paperPod: ExabgpModel = {
  asn: 65021,
  routerId: '172.16.20.2',
  localAddress: '172.16.20.2',
  nextHop: '10.0.0.106',
  holdTimeSeconds: 9,
  neighbors: ['10.0.0.109'],
  prefixes: ['10.1.1.0/24'],
  announcerCommand: '',
};
