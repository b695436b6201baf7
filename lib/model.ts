/**
 * The typed configuration model. Constructs build it at synth time, the pure renderers in
 * `lib/renderers/` turn it into each daemon's file format, and the LB pod's programs
 * (init step and controller) load the same model from a ConfigMap at run time.
 *
 * Everything here is plain data (JSON-serialisable, no classes) and already validated:
 * renderers trust it and never re-check it.
 */

/** Label every LB pod carries; the node agent and the reflector agent select LB pods by it. */
export const LB_ROLE_LABEL = 'ecmp-lb.cdk8s.io/role';
/** Annotation on every LB pod: the comma-separated prefixes the node routes to it. */
export const PREFIXES_ANNOTATION = 'ecmp-lb.cdk8s.io/prefixes';
/** Label naming the LB service an LB pod belongs to. */
export const LB_SERVICE_LABEL = 'app.kubernetes.io/instance';

/** An address family as BGP names it. */
export enum AddressFamily {
  IPV4_UNICAST = 'ipv4-unicast',
  IPV6_UNICAST = 'ipv6-unicast',
}

/** BGP session timers, in seconds. */
export interface BgpTimersModel {
  /** Hold time announced in OPEN. At least 3. */
  readonly holdTimeSeconds: number;
  /** Keepalive interval. At most a third of the hold time. */
  readonly keepaliveSeconds: number;
  /** Delay between connection attempts. */
  readonly connectRetrySeconds: number;
}

/**
 * BFD on BGP sessions (RFC 5880 asynchronous mode): multihop (RFC 5883) between LB pods and
 * reflectors, single-hop (RFC 5881) between reflectors and routers, which share a segment.
 */
export interface BfdModel {
  /** Desired minimum TX and required minimum RX interval, in milliseconds. */
  readonly minIntervalMs: number;
  /** Detection multiplier: packets missed in a row before the session is down. */
  readonly multiplier: number;
}

/** BFD's UDP ports: multihop (RFC 5883), the LB pods' sessions; single-hop (RFC 5881), the routers'. */
export const BFD_MULTIHOP_PORT = 4784;
export const BFD_SINGLE_HOP_PORT = 3784;

/** A reflector's side of BFD with the LB pods: the address its sessions use, and the timers. */
export interface ReflectorBfdModel extends BfdModel {
  /** The reflector's address, which the LB pods' sessions go to. */
  readonly localAddress: string;
}

/** A static BGP neighbor. */
export interface BgpNeighborModel {
  /** The neighbor's address. */
  readonly address: string;
  /** The neighbor's AS number. */
  readonly asn: number;
  /** A human-readable description (already sanitised: [A-Za-z0-9._-] only). */
  readonly description: string;
  /** When true, never open the TCP connection to this neighbor; wait for it. */
  readonly passive: boolean;
  /**
   * BFD on this router-reflector session, single-hop (RFC 5881: the two share a segment, as BIRD's
   * `direct` requires); absent: none, the BGP hold time finds a dead peer.
   */
  readonly bfd?: BfdModel;
  /**
   * eBGP across this many hops (IP TTL), for an in-cluster reflector and a router in another AS:
   * the session crosses the reflector's node (SNAT), a routed hop, so single-hop eBGP's TTL 1 dies
   * there. Absent: directly connected (iBGP, or single-hop eBGP).
   */
  readonly ebgpMultihopTtl?: number;
}

/** gobgpd route reflector (paper appendix C). */
export interface RouteReflectorModel {
  /** Local AS number (iBGP: the same AS as the LB pods and the router). */
  readonly asn: number;
  /** Dotted-quad BGP router id. */
  readonly routerId: string;
  /** Dotted-quad route reflector cluster id. */
  readonly clusterId: string;
  /** TCP port gobgpd listens on. */
  readonly listenPort: number;
  /** Name of the peer group the LB pods fall into. */
  readonly lbPeerGroup: string;
  /** Prefixes (CIDR) LB pods may connect from: gobgpd dynamic neighbors. */
  readonly lbNeighborPrefixes: string[];
  /** Upstream routers: static neighbors, route-reflector clients with add-paths send. */
  readonly routers: BgpNeighborModel[];
  /** add-paths send-max towards the routers: the most paths per prefix the router learns. */
  readonly sendMax: number;
  /** Families exchanged with LB pods and routers. */
  readonly families: AddressFamily[];
  readonly timers: BgpTimersModel;
  /**
   * When true, routes from LB pods are accepted only if their prefix is one of `acceptedPrefixes`
   * (exact length) and they come from `lbNeighborPrefixes`; everything else, including anything
   * the routers send, is rejected. When false, every route is accepted (the paper's behaviour).
   */
  readonly filterPrefixes: boolean;
  /** The service prefixes (CIDR) LB pods may announce: exact matches only. May be empty. */
  readonly acceptedPrefixes: string[];
  /**
   * Per family, the most prefixes one LB session may announce (the largest prefix count of a
   * service of that family); beyond it the session is closed. A family not listed has no limit.
   */
  readonly prefixLimits: PrefixLimitModel[];
  /**
   * TCP-MD5 key of the sessions with the routers: '' for none, else a key matching
   * `BGP_PASSWORD_PATTERN` or exactly `BGP_PASSWORD_PLACEHOLDER`.
   */
  readonly routerBgpPassword: string;
  /** TCP-MD5 key of the LB pod sessions (the dynamic-neighbor peer group), in the same form. */
  readonly lbBgpPassword: string;
  /**
   * With `filterPrefixes`: when not empty, each service's prefixes are accepted only from the
   * addresses in its own neighbor set, which the reflector agent keeps equal to the IPs of the
   * service's LB pods; `acceptedPrefixes` then only sets the limits. Empty: any LB pod address.
   */
  readonly lbPodBindings: LbPodBindingModel[];
  /** BFD with the LB pods; absent: none. gobgpd: run by the reflector agent; FRR: by bfdd. */
  readonly bfd?: ReflectorBfdModel;
}

/** One LB service whose prefixes only its own LB pods may announce through a reflector. */
export interface LbPodBindingModel {
  /** Namespace of the LB pods. */
  readonly namespace: string;
  /** The LB service's name: its pods carry `app.kubernetes.io/instance=<service>`. */
  readonly service: string;
  /** The service's prefixes (CIDR). */
  readonly prefixes: string[];
}

/** A per-session prefix limit in one family. */
export interface PrefixLimitModel {
  readonly family: AddressFamily;
  /** At least 1. */
  readonly maxPrefixes: number;
}

/**
 * Characters and length a TCP-MD5 key may have here: what every daemon's config syntax carries
 * without quoting or escaping (letters, digits and `. _ ~ + = / @ % : -`, covering base64), and at
 * most 80 bytes, Linux's TCP_MD5SIG_MAXKEYLEN.
 */
export const BGP_PASSWORD_PATTERN = /^[A-Za-z0-9._~+=/@%:-]{1,80}$/;

/**
 * What files that leave the cluster (standalone reflector, router configs) and the in-cluster
 * reflector's ConfigMap carry instead of the key; filled in from the secret store at install or
 * pod start (see docs/security.md), e.g. `envsubst '$ECMP_LB_BGP_PASSWORD'`.
 */
export const BGP_PASSWORD_PLACEHOLDER = '${ECMP_LB_BGP_PASSWORD}';

/** The environment variable that carries the TCP-MD5 key into the pods that render configs. */
export const BGP_PASSWORD_ENV = 'ECMP_LB_BGP_PASSWORD';

/** Which routing daemon the upstream router runs. */
export enum RouterDaemon {
  /** FRR bgpd + zebra (default). */
  FRR = 'frr',
  /** BIRD 2. */
  BIRD = 'bird',
  /** The paper's gobgpd + zebra (needs gobgp >= 3.18 with FRR >= 8.3 zebra). */
  GOBGP_ZEBRA = 'gobgp-zebra',
}

/** The upstream router (paper appendix B): learns every LB's path and installs one ECMP route. */
export interface UpstreamRouterModel {
  /** Local AS number. */
  readonly asn: number;
  /** Dotted-quad BGP router id. */
  readonly routerId: string;
  /** The route reflectors it peers with. */
  readonly reflectors: BgpNeighborModel[];
  /** The most equal-cost next hops installed per prefix. */
  readonly maximumPaths: number;
  /** Service prefixes (CIDR) it expects; with `filterPrefixes`, the only ones it accepts (exact length). */
  readonly servicePrefixes: string[];
  readonly families: AddressFamily[];
  readonly timers: BgpTimersModel;
  /** When true, only `servicePrefixes` (exact length) are accepted from the reflectors. */
  readonly filterPrefixes: boolean;
  /** TCP-MD5 key of the reflector sessions: '' for none, a key, or `BGP_PASSWORD_PLACEHOLDER`. */
  readonly bgpPassword: string;
  /** When set, the daemon exports to `sourceTable` and `ecmp-lb resilient-routes` installs resilient groups. */
  readonly resilientHashing?: ResilientHashingModel;
}

/** The router's resilient-route installer (`routers/<name>/resilient-routes.json`). */
export interface ResilientHashingModel {
  /** The kernel table the routing daemon installs its ECMP routes into, for the installer to read. */
  readonly sourceTable: number;
  /** The protocol number of the installer's nexthop objects and main-table routes. */
  readonly protocol: number;
  readonly buckets: number;
  readonly idleTimerSeconds: number;
  readonly unbalancedTimerSeconds: number;
}

/**
 * Each next hop is two identical members of the group. The kernel hashes a packet into the buckets
 * (and marks the bucket busy) only for a group of two or more members: a group of one sends every
 * packet to its member without touching a bucket, so when the second LB joined, every bucket would
 * look idle and half the flows would move (measured in namespaces: 16 of 32 flows reset; with two
 * members per next hop, 0 of 32).
 */
export const RESILIENT_MEMBERS_PER_HOP = 2;

/** The table BIRD exports the service routes to when the router hashes resiliently. */
export const RESILIENT_SOURCE_TABLE = 240;
/** The protocol number of the routes the resilient-route installer owns (the node agent's is 212). */
export const RESILIENT_ROUTE_PROTOCOL = 213;

/** Transport protocol of a virtual service. */
export enum Protocol {
  TCP = 'TCP',
  UDP = 'UDP',
}

/** How IPVS forwards packets to real servers. */
export enum ForwardingMethod {
  /** Masquerade: DNAT to the backend; replies return through the LB (the LB SNATs). */
  NAT = 'NAT',
  /** Direct routing: backends answer clients directly; they must hold the VIP. */
  DIRECT_ROUTING = 'DR',
  /** IP-in-IP tunnelling to the backends; they answer clients directly from the VIP (see LoadBalancerServiceProps.forwardingMethod). */
  TUNNEL = 'TUN',
}

/** How real servers are health-checked. */
export enum HealthCheckType {
  /** A transport-level check: a TCP connect, or for UDP ports a datagram that must draw no ICMP error. */
  TCP = 'TCP',
  /** An HTTP GET that must return the expected status (TCP ports only). */
  HTTP = 'HTTP',
}

/** A health check, as keepalived runs it against every real server. */
export interface HealthCheckModel {
  readonly type: HealthCheckType;
  /** Seconds between checks. */
  readonly intervalSeconds: number;
  /** Seconds before one check counts as failed. */
  readonly timeoutSeconds: number;
  /** Retries after a failed check (keepalived `retry`): a real server goes after `retries + 1` failures in a row. */
  readonly retries: number;
  /** HTTP only: the path to GET. */
  readonly httpPath: string;
  /** HTTP only: the status code that counts as healthy. */
  readonly httpExpectStatus: number;
}

/** One port of a load-balanced service. */
export interface ServicePortModel {
  /** Port clients connect to on the VIP. */
  readonly port: number;
  /** Port on the backend pods. */
  readonly backendPort: number;
  readonly protocol: Protocol;
}

/** A real server (one ready backend endpoint). */
export interface RealServerModel {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
}

/** One IPVS virtual server as keepalived manages it. */
export interface VirtualServerModel {
  readonly vip: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** IPVS scheduler name: rr, wrr, lc, wlc, sh, mh, ... */
  readonly scheduler: string;
  readonly forwardingMethod: ForwardingMethod;
  readonly healthCheck: HealthCheckModel;
  /** Real servers, in the order they are to be written (the controller sorts them). */
  readonly realServers: RealServerModel[];
}

/** keepalived's whole configuration for one LB pod. */
export interface KeepalivedModel {
  /** Written as `router_id` in global_defs. */
  readonly routerId: string;
  readonly virtualServers: VirtualServerModel[];
}

/**
 * Everything an LB pod of one service needs, stored in its ConfigMap as JSON and read by the
 * init step and the controller.
 */
export interface LoadBalancerServiceModel {
  /** The service name (a DNS label). */
  readonly name: string;
  /** Kubernetes namespace of the LB pods and the backends. */
  readonly namespace: string;
  /** The prefixes announced over BGP (CIDR). */
  readonly prefixes: string[];
  /** The virtual IPs inside those prefixes that IPVS serves. */
  readonly vips: string[];
  readonly ports: ServicePortModel[];
  readonly scheduler: string;
  readonly forwardingMethod: ForwardingMethod;
  readonly healthCheck: HealthCheckModel;
  /** Name of the Kubernetes Service whose EndpointSlices list the backends. */
  readonly backendServiceName: string;
  readonly asn: number;
  readonly timers: BgpTimersModel;
  /** Route reflectors every LB pod peers with. */
  readonly reflectors: ReflectorPeerModel[];
  /** Seconds the LB pod keeps serving after withdrawing its route on shutdown. */
  readonly drainSeconds: number;
  /**
   * When true, the reflector sessions are signed with TCP-MD5: `ecmp-lb init` reads the key from
   * the environment variable `BGP_PASSWORD_ENV` (set from a Secret) and refuses to start without it.
   * Absent or false: no signature.
   */
  readonly signBgpSessions?: boolean;
  /** Path attributes on the service's routes; absent: none. */
  readonly routeAttributes?: RouteAttributesModel;
}

/**
 * BGP path attributes an LB pod puts on its service's routes. The reflectors keep them, so the
 * routers can act on them (a route map, a filter).
 */
export interface RouteAttributesModel {
  /** Standard communities (RFC 1997), `ASN:VALUE`, each part 0..65535. */
  readonly communities: string[];
  /** Large communities (RFC 8092), `GLOBAL:LOCAL1:LOCAL2`, each part 0..4294967295. */
  readonly largeCommunities: string[];
  /** LOCAL_PREF (seen only inside the AS); absent: not sent, the receiver uses its default (100). */
  readonly localPreference?: number;
  /** MULTI_EXIT_DISC; absent: not sent. */
  readonly med?: number;
}

/** How an LB pod reaches one route reflector. */
export interface ReflectorPeerModel {
  /** The reflector's name (a DNS label). */
  readonly name: string;
  /** A literal address, or a DNS name the init step resolves at pod start. */
  readonly host: string;
  readonly port: number;
  /** BFD with this reflector (its `host` is then a literal address); absent: none. */
  readonly bfd?: BfdModel;
}

/** Per-pod facts known only at pod start (downward API). */
export interface PodIdentityModel {
  /** The LB pod's own IP: BGP local address and router id. */
  readonly podIp: string;
  /** The node's IP: the BGP next hop the router forwards to. */
  readonly nodeIp: string;
}

/** exabgp for one LB pod: the service model joined with the pod's identity and resolved reflectors. */
export interface ExabgpModel {
  readonly asn: number;
  readonly routerId: string;
  readonly localAddress: string;
  /** The next hop of the prefixes of its family: the node's address. */
  readonly nextHop: string;
  /**
   * Dual-stack: the node's address of the other family, the next hop of the prefixes of that family.
   * @default none: every prefix is of `nextHop`'s family
   */
  readonly otherNextHop?: string;
  readonly holdTimeSeconds: number;
  /** Resolved reflector addresses. */
  readonly neighbors: string[];
  readonly prefixes: string[];
  /**
   * When set, routes are not static: exabgp runs this command as an API process and announces or
   * withdraws what it prints (health-aware announcement). When empty, the prefixes are static routes.
   */
  readonly announcerCommand: string;
  /** TCP-MD5 key of every session (matching `BGP_PASSWORD_PATTERN`); absent or '' for none. */
  readonly bgpPassword?: string;
  /** Path attributes on the static routes (with an announcer, the announce file carries them); absent: none. */
  readonly routeAttributes?: RouteAttributesModel;
}
