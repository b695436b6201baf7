import { Construct } from 'constructs';
import { ConfigFile } from './config-file';
import { throwInvalid } from './errors';
import { IN_CLUSTER_EBGP_TTL } from './in-cluster-reflector';
import { AddressFamily, BGP_PASSWORD_PLACEHOLDER, RESILIENT_MEMBERS_PER_HOP, RESILIENT_ROUTE_PROTOCOL, RESILIENT_SOURCE_TABLE, ResilientHashingModel, RouterDaemon, UpstreamRouterModel } from './model';
import { renderBirdRouter } from './renderers/bird';
import { renderFrrRouter, renderFrrDaemons, renderZebraRouter } from './renderers/frr';
import { renderGobgpdRouter } from './renderers/gobgpd';
import { renderResilientRoutes } from './renderers/resilient-routes';
import { renderRouterSysctl } from './renderers/sysctl';
import { ILoadBalancerService, IRouteReflector, IUpstreamRouter } from './topology-interfaces';
import { checkIpv6Address, ipv6AddressErrors, routerTopologyErrors } from './topology-validation';
import { BgpTimers, checkAsn, checkCount, checkName, checkNonEmpty, checkPeerAddress, checkRouterId, checkTimers } from './validate';

/** What sets one upstream router apart; EcmpTopology takes a list of these. */
export interface UpstreamRouterOptions {
  /** The router's address on the node network: reflectors peer with it here. */
  readonly address: string;
  /**
   * The router's IPv6 address on the nodes' IPv6 segment, when `address` is IPv4 and a service
   * announces IPv6 prefixes (dual-stack): the IPv4 sessions carry those prefixes with the LB nodes'
   * IPv6 addresses as next hops, which the router must reach directly on that segment (BIRD takes
   * them as direct gateways). Required then, and the router's interface on the segment must have it;
   * listed in TOPOLOGY.md.
   * @default none: the router serves the family of `address` only
   */
  readonly ipv6Address?: string;
  /**
   * Name of the output folder `routers/<name>/`.
   * @default the construct id
   */
  readonly name?: string;
  /**
   * BGP router id.
   * @default `address` (must then be IPv4)
   */
  readonly routerId?: string;
  /**
   * AS number. The reflectors' AS (the default): iBGP, as in the paper. Another AS: eBGP with the
   * reflectors, which pass every LB's path on with its next hop unchanged (the LB's node, on the
   * router's segment), and the router installs them as one multipath route (docs/design.md,
   * "eBGP to the upstream router"). FRR and BIRD routers only: a gobgpd + zebra router is refused
   * at synth. With an in-cluster reflector the session is eBGP multihop (TTL 2), as it crosses the
   * reflector's node.
   * @default the reflectors' AS
   */
  readonly asn?: number;
  /**
   * Which routing daemon the router runs.
   * @default RouterDaemon.FRR
   */
  readonly daemon?: RouterDaemon;
  /**
   * The most equal-cost next hops installed per prefix; at least the largest LB count. FRR and
   * BIRD only: gobgpd + zebra has no such setting (zebra installs every path it is given).
   * @default 16
   */
  readonly maximumPaths?: number;
  /**
   * Accept from the reflectors only the prefixes of the LB services registered with them, at
   * their exact length (FRR: prefix-list and route-map in; BIRD: import filter; gobgpd: import
   * policy); reject everything else. A second line behind the reflectors' own filter.
   * @default true
   */
  readonly filterPrefixes?: boolean;
  /**
   * Resilient ECMP hashing (BIRD only): BIRD installs its routes into kernel table 240 and
   * `ecmp-lb resilient-routes`, run on the router from the LB image, installs each as a kernel
   * nexthop group of type `resilient` (`routers/<name>/resilient-routes.json`). A plain multipath
   * route re-divides the hash space whenever an LB comes or goes, moving flows between LBs that
   * stay; a resilient group moves only the buckets it must: a leaving LB's to the others, and to a
   * joining LB only buckets idle for `resilientIdleTimer`. So an LB join moves no active flow (no
   * NAT flow reset, no TUN flow to a backend set the new LB does not know), and a loss moves only
   * the lost LB's flows (docs/design.md, "Resilient hashing").
   * @default false
   */
  readonly resilientHashing?: boolean;
  /**
   * Hash buckets per service prefix: the granularity of each LB's share (512 buckets: each of 16
   * LBs gets 32, within 1 of its fair share). At least twice `maximumPaths` (each LB path is two
   * members of the group: see RESILIENT_MEMBERS_PER_HOP), at most 32768.
   * @default 512
   */
  readonly resilientBuckets?: number;
  /**
   * Seconds a bucket must see no packet before it may move to a joining LB: a flow that sends at
   * least this often is never moved by a join. Whole seconds, 1 to 3600.
   * @default 10
   */
  readonly resilientIdleTimer?: number;
  /**
   * Seconds a group may stay unbalanced (a joining LB short of its share because every bucket is
   * busy) before busy buckets move too, breaking the NAT flows on them; 0: never, so a new LB on a
   * busy router gets only the buckets that go idle. Whole seconds, 0 or at least
   * `resilientIdleTimer`, at most 86400.
   * @default 300
   */
  readonly resilientUnbalancedTimer?: number;
  /**
   * BFD with the route reflectors whose `bfd` is on, at their `bfdMinIntervalMs` x `bfdMultiplier`,
   * single-hop (RFC 5881: the router and the reflectors share a segment): a reflector that dies
   * silently loses its BGP session within the detection time instead of the hold time. FRR: `neighbor
   * ... bfd profile` and bfdd in `daemons`; BIRD: `protocol bfd` and `bfd { ... }` on the session. On
   * the reflector's side FRR's bfdd runs it, or for gobgpd the reflector agent, which keeps the
   * session up only while gobgpd answers its API. gobgpd + zebra has no BFD: refused there.
   * @default true on FRR and BIRD routers, false on gobgpd + zebra
   */
  readonly bfd?: boolean;
}

/** Props of an {@link UpstreamRouterConfig}. */
export interface UpstreamRouterConfigProps extends UpstreamRouterOptions, BgpTimers {
  /** The route reflectors it peers with; it learns every LB path through each of them. */
  readonly routeReflectors: IRouteReflector[];
}

/**
 * Files for the upstream Linux router under `routers/<name>/`: the routing daemon's config in the
 * chosen daemon and the kernel settings ECMP needs. The router learns each service prefix with
 * one path per LB pod and installs a single multipath route.
 */
export class UpstreamRouterConfig extends Construct implements IUpstreamRouter {
  public readonly routerName: string;
  public readonly address: string;
  /** Its IPv6 address on the nodes' segment, for IPv6 prefixes over IPv4 sessions (dual-stack). */
  public readonly ipv6Address?: string;
  public readonly routerId: string;
  public readonly asn: number;
  public readonly daemon: RouterDaemon;
  public readonly maximumPaths: number;
  public readonly filterPrefixes: boolean;
  /** Whether it runs BFD with the reflectors that have BFD on. */
  public readonly bfd: boolean;
  private readonly reflectors: IRouteReflector[];
  private readonly timers: UpstreamRouterModel['timers'];
  private readonly resilientHashing?: ResilientHashingModel;

  constructor(scope: Construct, id: string, props: UpstreamRouterConfigProps) {
    super(scope, id);
    this.routerName = checkName(this, 'name', props.name ?? id);
    this.reflectors = [...checkNonEmpty(this, 'routeReflectors', props.routeReflectors, 'pass the RouteReflector construct(s) this router peers with')];
    this.address = checkPeerAddress(this, 'address', props.address);
    this.ipv6Address = checkIpv6Address(this, 'router', props.ipv6Address, this.address);
    this.routerId = checkRouterId(this, props.routerId === undefined ? 'routerId (defaults to address)' : 'routerId', props.routerId ?? this.address);
    this.asn = checkAsn(this, 'asn', props.asn ?? this.reflectors[0].asn);
    this.daemon = props.daemon ?? RouterDaemon.FRR;
    if (!Object.values(RouterDaemon).includes(this.daemon)) {
      throwInvalid(this, 'daemon', this.daemon, 'is not a router daemon', 'use RouterDaemon.FRR, RouterDaemon.BIRD or RouterDaemon.GOBGP_ZEBRA');
    }
    if (this.daemon === RouterDaemon.GOBGP_ZEBRA && props.maximumPaths !== undefined) {
      throwInvalid(this, 'maximumPaths', props.maximumPaths, 'has no effect on a gobgpd + zebra router: no file it reads carries it', 'remove maximumPaths (zebra installs every path gobgpd learns), or use RouterDaemon.FRR or RouterDaemon.BIRD');
    }
    // 255: the most paths a reflector's add-paths send-max passes on.
    this.maximumPaths = checkCount(this, 'maximumPaths', props.maximumPaths ?? 16, 1, 255, 'use at least the largest lbCount of any service, at most 255');
    this.timers = checkTimers(this, props, this.reflectors[0].timers);
    this.filterPrefixes = props.filterPrefixes ?? true;
    this.resilientHashing = this.checkResilientHashing(props);
    if (props.bfd && this.daemon === RouterDaemon.GOBGP_ZEBRA) {
      throwInvalid(this, 'bfd', true, 'cannot work on a gobgpd + zebra router: gobgpd has no BFD, so a dead reflector is found by the BGP hold time only',
        'use daemon: RouterDaemon.FRR or RouterDaemon.BIRD for BFD with the reflectors, or remove bfd');
    }
    this.bfd = props.bfd ?? this.daemon !== RouterDaemon.GOBGP_ZEBRA;
    for (const reflector of this.reflectors) reflector.addUpstreamRouter(this);

    for (const [file, installTo, produce] of this.files()) {
      new ConfigFile(this, file, { path: `routers/${this.routerName}/${file}`, installTo: `${installTo} on router ${this.routerName} (${this.address})`, produce });
    }
    // gobgpd + zebra has no path limit: zebra installs every path it is given.
    const paths = () => (this.daemon === RouterDaemon.GOBGP_ZEBRA ? undefined : { maximumPaths: this.maximumPaths, services: this.services() });
    this.node.addValidation({ validate: () => [...routerTopologyErrors(this, this.daemon, this.reflectors, paths()), ...this.dualStackErrors()] });
  }

  /** IPv6 prefixes over IPv4 sessions: the next hops are the LB nodes' IPv6 addresses, which the router must reach on their segment. */
  private dualStackErrors(): string[] {
    return ipv6AddressErrors(this, 'router', this.ipv6Address, this.address, this.reflectors.flatMap(r => r.podNetworks), this.services(),
      'which this router reaches only on the nodes\' IPv6 segment');
  }

  /** The router model, complete once every service has registered with the reflectors. */
  public model(): UpstreamRouterModel {
    const prefixes = [...new Set(this.services().flatMap(s => s.prefixes))].sort();
    const families = [AddressFamily.IPV4_UNICAST];
    if (prefixes.some(p => p.includes(':'))) families.push(AddressFamily.IPV6_UNICAST);
    return {
      asn: this.asn,
      routerId: this.routerId,
      reflectors: this.reflectors.map(r => ({
        address: r.address,
        asn: r.asn,
        description: `rr-${r.reflectorName}`,
        // An in-cluster reflector sits behind the CNI's SNAT: only it can open the session.
        passive: r.placement.isInCluster,
        ...(r.placement.isInCluster && r.asn !== this.asn ? { ebgpMultihopTtl: IN_CLUSTER_EBGP_TTL } : {}),
        ...(this.bfd && r.routerBfd ? { bfd: { minIntervalMs: r.routerBfd.minIntervalMs, multiplier: r.routerBfd.multiplier } } : {}),
      })),
      maximumPaths: this.maximumPaths,
      servicePrefixes: prefixes,
      families,
      timers: this.timers,
      filterPrefixes: this.filterPrefixes,
      // The reflectors' TCP-MD5 key, as a placeholder: router files leave the cluster.
      bgpPassword: this.reflectors[0].bgpPassword ? BGP_PASSWORD_PLACEHOLDER : '',
      resilientHashing: this.resilientHashing,
    };
  }

  private checkResilientHashing(props: UpstreamRouterOptions): ResilientHashingModel | undefined {
    const tuning = (['resilientBuckets', 'resilientIdleTimer', 'resilientUnbalancedTimer'] as const).filter(key => props[key] !== undefined);
    if (!props.resilientHashing) {
      if (tuning.length > 0) throwInvalid(this, tuning[0], props[tuning[0]], 'has no effect without resilientHashing: true', `set resilientHashing: true, or remove ${tuning.join(', ')}`);
      return undefined;
    }
    if (this.daemon !== RouterDaemon.BIRD) {
      throwInvalid(this, 'resilientHashing', true, `cannot work on ${this.daemon === RouterDaemon.FRR ? 'an FRR' : 'a gobgpd + zebra'} router: zebra installs BGP multipath routes as plain (hash-threshold) nexthop groups and owns them, so no installer can make them resilient`, 'use daemon: RouterDaemon.BIRD, or your router\'s own resilient ECMP (and resilientHashing: false here)');
    }
    const idleTimerSeconds = checkCount(this, 'resilientIdleTimer', props.resilientIdleTimer ?? 10, 1, 3600, 'give whole seconds from 1 to 3600');
    const unbalancedTimerSeconds = checkCount(this, 'resilientUnbalancedTimer', props.resilientUnbalancedTimer ?? 300, 0, 86400, 'give whole seconds from 0 (never force) to 86400');
    if (unbalancedTimerSeconds !== 0 && unbalancedTimerSeconds < idleTimerSeconds) {
      throwInvalid(this, 'resilientUnbalancedTimer', unbalancedTimerSeconds, `is below resilientIdleTimer (${idleTimerSeconds} s): busy buckets would move before idle ones could`, `use 0 (never) or at least ${idleTimerSeconds}`);
    }
    return {
      sourceTable: RESILIENT_SOURCE_TABLE,
      protocol: RESILIENT_ROUTE_PROTOCOL,
      // Each LB path is two members of its group (RESILIENT_MEMBERS_PER_HOP), each needs a bucket.
      buckets: checkCount(this, 'resilientBuckets', props.resilientBuckets ?? 512, RESILIENT_MEMBERS_PER_HOP * this.maximumPaths, 32768,
        `use at least ${RESILIENT_MEMBERS_PER_HOP} x maximumPaths (${RESILIENT_MEMBERS_PER_HOP * this.maximumPaths}), at most 32768`),
      idleTimerSeconds,
      unbalancedTimerSeconds,
    };
  }

  /** The LB services whose paths reach this router. */
  public services(): ILoadBalancerService[] {
    return [...new Set(this.reflectors.flatMap(r => r.loadBalancerServices()))];
  }

  private files(): [string, string, () => string][] {
    const sysctl: [string, string, () => string] = ['99-ecmp-router.conf', '/etc/sysctl.d/99-ecmp-router.conf', () => renderRouterSysctl(this.model().families)];
    switch (this.daemon) {
      case RouterDaemon.BIRD:
        return [
          ['bird.conf', '/etc/bird/bird.conf', () => renderBirdRouter(this.model())],
          sysctl,
          ...(this.resilientHashing ? [['resilient-routes.json', '/etc/ecmp-lb/resilient-routes.json', () => renderResilientRoutes(this.resilientHashing!)] as [string, string, () => string]] : []),
        ];
      case RouterDaemon.GOBGP_ZEBRA:
        return [
          ['gobgpd.toml', '/etc/gobgpd/gobgpd.toml', () => renderGobgpdRouter(this.model())],
          ['zebra.conf', '/etc/frr/zebra.conf', () => renderZebraRouter(this.model())],
          ['daemons', '/etc/frr/daemons', () => renderFrrDaemons('the upstream ECMP router', false)],
          sysctl,
        ];
      default:
        return [
          ['frr.conf', '/etc/frr/frr.conf', () => renderFrrRouter(this.model())],
          ['daemons', '/etc/frr/daemons', () => renderFrrDaemons('the upstream ECMP router', true, this.model().reflectors.some(r => r.bfd))],
          sysctl,
        ];
    }
  }
}
