import { Chart } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import { BgpPassword, checkBgpPassword } from './bgp-password';
import { ConfigFile } from './config-file';
import { throwInvalid } from './errors';
import { ImageName, imageReference } from './images';
import { addInClusterReflector, IN_CLUSTER_EBGP_TTL } from './in-cluster-reflector';
import { cidrContains, overlappingPairs, parseAddress } from './ip';
import { AddressFamily, BfdModel, BGP_PASSWORD_PLACEHOLDER, BgpNeighborModel, BgpTimersModel, ReflectorPeerModel, RouteReflectorModel } from './model';
import { checkObjectNamesOnce } from './object-names';
import { grantRead } from './rbac';
import { ReflectorPlacement } from './reflector-placement';
import * as k8s from '../imports/k8s';
import { renderFrrDaemons } from './renderers/frr';
import { renderFrrReflector } from './renderers/frr-reflector';
import { renderGobgpdReflector } from './renderers/gobgpd';
import { renderReflectorAgentConfig } from './renderers/reflector-agent';
import { ILoadBalancerService, IRouteReflector, IUpstreamRouter } from './topology-interfaces';
import { checkIpv6Address, ipv6AddressErrors, reflectorTopologyErrors } from './topology-validation';
import {
  BgpTimers, checkAsn, checkCidr, checkCount, checkName, checkNamespace, checkNodeName, checkNonEmpty, checkPeerAddress, checkRouterId, checkTimers,
} from './validate';

/** Which BGP daemon a route reflector runs. */
export enum ReflectorDaemon {
  /**
   * gobgpd, as in the paper: `gobgpd.toml`. Standalone or in-cluster. gobgpd 3.10 (Debian 12's, the
   * default image) cannot sign the LB pod sessions with TCP-MD5 (docs/security.md).
   */
  GOBGP = 'gobgpd',
  /**
   * FRR bgpd (with zebra), standalone only: `frr.conf` and `daemons`. FRR signs the LB pod sessions
   * (`bgp listen range` with a peer-group password), so `signLoadBalancerSessions` works with it.
   */
  FRR = 'frr',
}

/** What sets one route reflector apart; EcmpTopology takes a list of these. */
export interface RouteReflectorOptions {
  /**
   * The address the upstream router peers with. Standalone: the box's address, which LB pods
   * connect to as well. In-cluster: the IP of the placement's `nodeName`, the source the router
   * sees once the CNI has SNATed the reflector pod's connection.
   */
  readonly address: string;
  /**
   * FRR reflectors: the box's IPv6 address on the nodes' IPv6 segment, when `address` is IPv4 and a
   * service announces IPv6 prefixes (dual-stack). FRR reflects only paths whose next hop it can
   * resolve, and those next hops are the LB nodes' IPv6 addresses (measured with FRR 8.4: without an
   * IPv6 route to them it passed no IPv6 path on). Required then; a gobgpd reflector passes paths
   * on without resolving them and takes none.
   * @default none
   */
  readonly ipv6Address?: string;
  /**
   * Name used for Kubernetes objects and output folders.
   * @default the construct id
   */
  readonly name?: string;
  /**
   * BGP router id.
   * @default `address` (must then be IPv4)
   */
  readonly routerId?: string;
  /**
   * Route reflector cluster id. Give redundant reflectors distinct ids: each router learns every
   * path through every reflector.
   * @default the router id
   */
  readonly clusterId?: string;
  /**
   * Where the reflector runs: a box of its own, or a pod in the cluster (with that pod's options).
   * @default ReflectorPlacement.standalone()
   */
  readonly placement?: ReflectorPlacement;
  /**
   * The BGP daemon. FRR is for standalone reflectors only; its config is written to
   * `route-reflectors/<name>/frr.conf` and `daemons`, and it can sign the LB pod sessions with
   * TCP-MD5 (`bgpPassword.signLoadBalancerSessions`). FRR 8.4 has no add-paths send-max: it sends
   * every path, so `sendMax` only feeds the synth checks.
   * @default ReflectorDaemon.GOBGP
   */
  readonly daemon?: ReflectorDaemon;
  /**
   * add-paths send-max towards the routers: the most LB paths per prefix a router learns. Must be
   * at least the largest LB count of any service.
   * @default 255, as in the paper
   */
  readonly sendMax?: number;
  /**
   * gobgpd only: the gobgpd version the reflector runs, for the features that depend on it
   * (TCP-MD5 on the LB pods' dynamic-neighbor sessions needs 3.21 or later).
   * @default '3.10.0', Debian 12's and the default image's
   */
  readonly gobgpdVersion?: string;
  /**
   * Accept an `address` inside `podNetworks`. A reflector there is itself a possible LB peer
   * address, and LB pods reach it through the pod network's routing rather than the node
   * network's; only right for a reflector attached to the pod network on purpose.
   * @default false
   */
  readonly allowAddressInPodNetwork?: boolean;
  /**
   * BFD (RFC 5880, multihop) on the LB pods' sessions: an LB pod that dies silently (frozen, its
   * node's link cut) loses its paths after `bfdMinIntervalMs` x `bfdMultiplier` instead of the
   * BGP hold time. gobgpd: the reflector agent runs the sessions and unbinds a pod whose session
   * goes down until it is up again (needs `bindPrefixesToLbPods`); FRR: bfdd, from a profile on
   * the LB peer group (its generated `daemons` file enables bfdd). In-cluster (gobgpd), the LB pods
   * send to the reflector's Service (its ClusterIP, UDP 4784, DNATed to the pod with their own
   * source kept) and the agent in the reflector pod answers from the pod's address, its packets
   * matched by discriminator; the Service gets a `bfd` UDP port and the NetworkPolicy lets UDP
   * 4784 in from and out to the LB pods.
   * The sessions with the upstream routers get BFD too (single-hop, RFC 5881), at the same timers,
   * where the router runs it (`UpstreamRouterOptions.bfd`: FRR and BIRD): FRR's bfdd from a
   * second profile, or for gobgpd the reflector agent, which answers only while gobgpd's API does,
   * so a router drops a dead or hung reflector within the detection time. Not for an in-cluster
   * reflector: it is not on the router's segment and reaches it through its node's SNAT.
   * @default true where it can work: FRR, and gobgpd with bindPrefixesToLbPods (standalone or in-cluster)
   */
  readonly bfd?: boolean;
  /**
   * BFD: the interval each side sends at and asks for, in milliseconds (50..10000).
   * @default 300
   */
  readonly bfdMinIntervalMs?: number;
  /**
   * BFD: packets missed in a row before a session is down (2..20).
   * @default 3
   */
  readonly bfdMultiplier?: number;
}

/** Props of a {@link RouteReflector}: its own options and what the whole topology shares. */
export interface RouteReflectorProps extends RouteReflectorOptions, BgpTimers {
  /**
   * AS number of the whole iBGP topology (reflector, LB pods, upstream router).
   */
  readonly asn: number;
  /**
   * Pod network prefixes LB pods connect from: gobgpd dynamic neighbors accept sessions from these.
   */
  readonly podNetworks: string[];
  /**
   * Accept from LB pods only the prefixes of the LB services registered with this reflector, at
   * their exact length, from the pod networks, and at most as many per LB session as the largest
   * service has (a session announcing more is closed); reject everything else, including routes
   * the routers send. Turn off only to reproduce the paper's accept-everything reflector.
   * @default true
   */
  readonly filterPrefixes?: boolean;
  /**
   * Accept each service's prefixes only from that service's own LB pods, as the Kubernetes API
   * lists them, instead of from any address in `podNetworks`: the reflector agent
   * (`ecmp-lb reflector-agent`) keeps one gobgpd neighbor set per service equal to the IPs of its
   * LB pods. A pod elsewhere in the pod network then cannot announce a service's prefix. Needs
   * `filterPrefixes`. gobgpd only: an FRR reflector must sign the LB sessions instead
   * (`bgpPassword` with `signLoadBalancerSessions`), or set this to false to accept the risk.
   * @default true
   */
  readonly bindPrefixesToLbPods?: boolean;
  /**
   * TCP-MD5 on the sessions with the routers (and, with `signLoadBalancerSessions`, with the LB
   * pods). Standalone: `gobgpd.toml` carries the placeholder `${ECMP_LB_BGP_PASSWORD}` to fill at
   * install; in-cluster: an init container fills it from the Secret into a memory-backed volume.
   * @default no TCP-MD5
   */
  readonly bgpPassword?: BgpPassword;
}

const BGP_PORT = 179;
/** Debian 12's gobgpd, which the default gobgpd image carries. */
const DEFAULT_GOBGPD_VERSION = '3.10.0';

/**
 * A route reflector (paper appendix C; gobgpd, or FRR when standalone): LB pods connect to it as
 * dynamic neighbors from the pod network, and it reflects every LB's path, with add-paths, to the
 * upstream routers.
 */
export class RouteReflector extends Construct implements IRouteReflector {
  public readonly reflectorName: string;
  public readonly asn: number;
  public readonly routerId: string;
  public readonly clusterId: string;
  public readonly address: string;
  /** An FRR reflector's IPv6 address on the nodes' segment (dual-stack services over IPv4 sessions). */
  public readonly ipv6Address?: string;
  public readonly placement: ReflectorPlacement;
  public readonly daemon: ReflectorDaemon;
  public readonly podNetworks: string[];
  public readonly sendMax: number;
  public readonly port: number;
  public readonly timers: BgpTimersModel;
  public readonly lbPeer: ReflectorPeerModel;
  public readonly filterPrefixes: boolean;
  public readonly bindPrefixesToLbPods: boolean;
  public readonly bgpPassword?: BgpPassword;
  /** BFD on the LB pods' sessions, when on. */
  public readonly bfd?: BfdModel;
  public readonly routerBfd?: BfdModel;
  /** The rendered config (gobgpd.toml or frr.conf): a ConfigFile (standalone) or a ConfigMap (in-cluster). */
  public readonly configResource: IConstruct;
  private readonly routers: IUpstreamRouter[] = [];
  private readonly services: ILoadBalancerService[] = [];
  /** Namespaces whose LB pods the reflector agent may read. */
  private readonly agentNamespaces = new Set<string>();

  constructor(scope: Construct, id: string, props: RouteReflectorProps) {
    super(scope, id);
    this.reflectorName = checkName(this, 'name', props.name ?? id);
    this.asn = checkAsn(this, 'asn', props.asn);
    this.address = checkPeerAddress(this, 'address', props.address);
    this.routerId = checkRouterId(this, props.routerId === undefined ? 'routerId (defaults to address)' : 'routerId', props.routerId ?? this.address);
    this.clusterId = checkRouterId(this, 'clusterId', props.clusterId ?? this.routerId);
    this.placement = props.placement ?? ReflectorPlacement.standalone();
    this.daemon = props.daemon ?? ReflectorDaemon.GOBGP;
    if (!Object.values(ReflectorDaemon).includes(this.daemon)) {
      throwInvalid(this, 'daemon', this.daemon, 'is not a reflector daemon', 'use ReflectorDaemon.GOBGP or ReflectorDaemon.FRR');
    }
    if (this.daemon === ReflectorDaemon.FRR && this.placement.isInCluster) {
      throwInvalid(this, 'daemon', this.daemon, 'is only supported for a standalone route reflector (in-cluster reflectors run gobgpd)', 'remove daemon (gobgpd) for an in-cluster reflector, or set placement: ReflectorPlacement.standalone()');
    }
    this.podNetworks = this.checkPodNetworks(props);
    this.sendMax = checkCount(this, 'sendMax', props.sendMax ?? 255, 1, 255, 'use at least the largest lbCount of any service, at most 255');
    // Always 179: exabgp, FRR and BIRD are rendered to dial the standard port.
    this.port = BGP_PORT;
    this.timers = checkTimers(this, props);
    this.filterPrefixes = props.filterPrefixes ?? true;
    this.bgpPassword = checkBgpPassword(this, 'bgpPassword', props.bgpPassword);
    if (this.bgpPassword && this.placement.isInCluster) {
      // Measured in namespaces: with TCP-MD5 and SNAT the session never comes up (either alone works).
      throwInvalid(this, 'bgpPassword', this.bgpPassword.secret.name, 'cannot sign an in-cluster reflector\'s sessions: its session to the router leaves through the node\'s SNAT and the LB pods reach it through the ClusterIP\'s DNAT, and TCP-MD5 signs the addresses NAT rewrites',
        'run the reflector standalone (placement: ReflectorPlacement.standalone()) to sign its sessions, or remove bgpPassword');
    }
    this.checkGobgpdVersion(props);
    this.bindPrefixesToLbPods = this.checkBinding(props);
    this.bfd = this.checkBfd(props);
    this.routerBfd = !this.placement.isInCluster ? this.bfd : undefined;

    const inCluster = this.placement.inClusterOptions;
    if (inCluster) {
      const nodeName = checkNodeName(this, 'placement.nodeName', inCluster.nodeName);
      if (!nodeName) {
        throwInvalid(this, 'placement.nodeName', inCluster.nodeName, 'is required for an in-cluster route reflector', 'name the node whose IP is `address`, so the upstream router always sees the reflector at that address');
      }
      const namespace = checkNamespace(this);
      this.lbPeer = { name: this.reflectorName, host: `${this.reflectorName}-bgp.${namespace}.svc`, port: this.port, ...(this.bfd ? { bfd: this.bfd } : {}) };
      this.configResource = addInClusterReflector(this, {
        reflectorName: this.reflectorName,
        nodeName,
        port: this.port,
        image: imageReference(this, ImageName.GOBGPD, inCluster.images, { field: 'placement.image', value: inCluster.image }),
        agentImage: imageReference(this, ImageName.LB, inCluster.images, { field: 'placement.agentImage', value: inCluster.agentImage }),
        reflectorAgent: this.bindPrefixesToLbPods,
        bfd: this.bfd !== undefined,
        gobgpdConfig: () => renderGobgpdReflector(this.model()),
        agentConfig: () => renderReflectorAgentConfig(this.model()),
        networkPolicy: inCluster.networkPolicy ?? false,
        routerAddresses: () => this.routers.map(r => r.address),
      });
    } else {
      this.lbPeer = { name: this.reflectorName, host: this.address, port: this.port, ...(this.bfd ? { bfd: this.bfd } : {}) };
      this.configResource = this.daemon === ReflectorDaemon.FRR ? this.frrFiles() : new ConfigFile(this, 'Resource', {
        path: `route-reflectors/${this.reflectorName}/gobgpd.toml`,
        installTo: `/etc/gobgpd/gobgpd.toml on route reflector ${this.reflectorName} (${this.address})`,
        produce: () => renderGobgpdReflector(this.model()),
      });
      if (this.bindPrefixesToLbPods) this.standaloneAgent();
    }
    checkObjectNamesOnce(this);
    this.ipv6Address = checkIpv6Address(this, 'reflector', props.ipv6Address, this.address);
    if (this.ipv6Address !== undefined && this.daemon !== ReflectorDaemon.FRR) {
      throwInvalid(this, 'ipv6Address', this.ipv6Address, 'has no effect on a gobgpd reflector: it passes the IPv6 paths on without resolving their next hops', 'remove ipv6Address');
    }
    this.node.addValidation({ validate: () => [
      ...reflectorTopologyErrors(this, this.routers),
      ...(this.daemon === ReflectorDaemon.FRR ? ipv6AddressErrors(this, 'reflector', this.ipv6Address, this.address, this.podNetworks, this.services,
        'which FRR reflects only once it resolves them: on the nodes\' IPv6 segment') : []),
    ] });
  }

  public addUpstreamRouter(router: IUpstreamRouter): void {
    this.routers.push(router);
  }

  public addLoadBalancerService(service: ILoadBalancerService): void {
    this.services.push(service);
    if (this.bindPrefixesToLbPods) this.allowAgentToReadPods(service.namespace);
  }

  public loadBalancerServices(): ILoadBalancerService[] {
    return [...this.services];
  }

  /** The reflector model (either daemon), complete once every router and service has registered. */
  public model(): RouteReflectorModel {
    const families = new Set<AddressFamily>([AddressFamily.IPV4_UNICAST]);
    for (const prefix of this.services.flatMap(s => s.prefixes)) {
      if (prefix.includes(':')) families.add(AddressFamily.IPV6_UNICAST);
    }
    const routers: BgpNeighborModel[] = this.routers.map(r => ({
      address: r.address, asn: r.asn, description: `router-${r.routerName}`, passive: false,
      ...(this.placement.isInCluster && r.asn !== this.asn ? { ebgpMultihopTtl: IN_CLUSTER_EBGP_TTL } : {}),
      // Both ends must run it: a router without BFD (gobgpd + zebra, or bfd: false) gets no session.
      ...(this.routerBfd && r.bfd ? { bfd: this.routerBfd } : {}),
    }));
    const accepted = [...new Set(this.services.flatMap(s => s.prefixes))].sort();
    // The key itself never reaches a file: the placeholder is filled at install or pod start.
    const password = this.bgpPassword ? BGP_PASSWORD_PLACEHOLDER : '';
    return {
      asn: this.asn,
      routerId: this.routerId,
      clusterId: this.clusterId,
      listenPort: this.port,
      lbPeerGroup: 'lb-pods',
      lbNeighborPrefixes: this.podNetworks,
      routers,
      sendMax: this.sendMax,
      families: [...families].sort(),
      timers: this.timers,
      filterPrefixes: this.filterPrefixes,
      acceptedPrefixes: accepted,
      prefixLimits: [...families].sort().map(family => ({
        family,
        maxPrefixes: Math.max(0, ...this.services.map(s => s.prefixes.filter(p => p.includes(':') === (family === AddressFamily.IPV6_UNICAST)).length)),
      })).filter(limit => limit.maxPrefixes > 0),
      routerBgpPassword: password,
      lbBgpPassword: this.bgpPassword?.signLoadBalancerSessions ? password : '',
      ...(this.bfd ? { bfd: { ...this.bfd, localAddress: this.bfdLocalAddress() } } : {}),
      lbPodBindings: !this.bindPrefixesToLbPods ? [] : this.services
        .map(s => ({ namespace: s.namespace, service: s.serviceName, prefixes: [...s.prefixes].sort() }))
        // Plain code-point order: the same bytes whatever the machine's locale.
        .sort((a, b) => (`${a.namespace}/${a.service}` < `${b.namespace}/${b.service}` ? -1 : 1)),
    };
  }

  /** Pod networks: CIDRs that do not overlap, at least one IPv4 (LB pods reach reflectors and give router ids over IPv4). */
  private checkPodNetworks(props: RouteReflectorProps): string[] {
    const networks = checkNonEmpty(this, 'podNetworks', props.podNetworks, 'list the pod network CIDR(s) LB pods get addresses from, e.g. ["172.16.0.0/16"]')
      .map((n, i) => ({ cidr: checkCidr(this, `podNetworks[${i}]`, n), owner: i }));
    for (const [outer, inner] of overlappingPairs(networks)) {
      throwInvalid(this, `podNetworks[${inner.owner}]`, inner.cidr.text, `overlaps podNetworks[${outer.owner}] ${outer.cidr.text}`, 'list each pod network once, without nesting');
    }
    const address = parseAddress(this.address)!;
    const family = address.kind() === 'ipv4' ? 4 : 6;
    if (!networks.some(n => n.cidr.family === family)) {
      throwInvalid(this, 'podNetworks', networks.map(n => n.cidr.text), `has no IPv${family} prefix, and the reflector is at the IPv${family} address ${this.address}; LB pods open their sessions from their pod address, of the reflector's family`,
        `add the cluster's IPv${family} pod network, or give the reflector an address of the pod network's family`);
    }
    const home = networks.find(n => cidrContains(n.cidr, address));
    if (home && !props.allowAddressInPodNetwork) {
      throwInvalid(this, 'address', this.address, `is inside the pod network ${home.cidr.text}`, 'use the reflector\'s address on the node network, or set allowAddressInPodNetwork: true if it sits on the pod network on purpose (docs/synth-checks.md)');
    }
    return networks.map(n => n.cidr.text);
  }

  /** gobgpd before 3.21 sets no TCP-MD5 key for dynamic neighbors: signed LB sessions never come up (test/security/md5.test.ts). */
  private checkGobgpdVersion(props: RouteReflectorProps): void {
    if (props.gobgpdVersion !== undefined && this.daemon !== ReflectorDaemon.GOBGP) {
      throwInvalid(this, 'gobgpdVersion', props.gobgpdVersion, 'only applies to a gobgpd reflector', 'remove gobgpdVersion');
    }
    const version = props.gobgpdVersion ?? DEFAULT_GOBGPD_VERSION;
    const parts = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
    if (!parts) throwInvalid(this, 'gobgpdVersion', version, 'is not a version', 'write major.minor.patch, e.g. "3.21.0"');
    const [major, minor] = [Number(parts[1]), Number(parts[2])];
    if (this.daemon === ReflectorDaemon.GOBGP && this.bgpPassword?.signLoadBalancerSessions && (major < 3 || (major === 3 && minor < 21))) {
      throwInvalid(this, 'bgpPassword.signLoadBalancerSessions', true, `needs gobgpd 3.21 or later, and this reflector runs gobgpd ${version}, which puts no TCP-MD5 key on dynamic neighbors (signed LB pods then get no session)`,
        'use daemon: ReflectorDaemon.FRR (standalone), or run gobgpd >= 3.21 and say so with gobgpdVersion, or sign only the router sessions (signLoadBalancerSessions: false)');
    }
  }

  /**
   * Where the reflector agent binds its BFD sessions with the LB pods. Standalone: the reflector's
   * address, which the LB pods send to. In-cluster: every address of the pod (the unspecified
   * address of the reflector's family), since the pod IP is known only at run time: the LB pods
   * send to the Service's ClusterIP, their nodes DNAT it to the pod IP, and the agent answers from
   * the pod IP (its own flow, not a reply: the LB pods match it by discriminator).
   */
  private bfdLocalAddress(): string {
    if (!this.placement.isInCluster) return this.address;
    return parseAddress(this.address)?.kind() === 'ipv6' ? '::' : '0.0.0.0';
  }

  /** BFD is on by default wherever it can work: FRR, and gobgpd with bindPrefixesToLbPods (the reflector agent runs it), standalone or in-cluster. */
  private checkBfd(props: RouteReflectorProps): BfdModel | undefined {
    const reason = this.daemon === ReflectorDaemon.GOBGP && !this.bindPrefixesToLbPods
      ? { why: 'needs bindPrefixesToLbPods on a gobgpd reflector (the reflector agent runs its sessions and unbinds a pod whose session goes down)', fix: 'turn bindPrefixesToLbPods on, use daemon: ReflectorDaemon.FRR, or remove bfd' }
      : undefined;
    if (props.bfd && reason) throwInvalid(this, 'bfd', props.bfd, reason.why, reason.fix);
    const on = props.bfd ?? reason === undefined;
    if (!on) {
      for (const field of ['bfdMinIntervalMs', 'bfdMultiplier'] as const) {
        if (props[field] !== undefined) throwInvalid(this, field, props[field], 'only applies with BFD, which is off here', `remove ${field}, or turn bfd on`);
      }
      return undefined;
    }
    return {
      minIntervalMs: checkCount(this, 'bfdMinIntervalMs', props.bfdMinIntervalMs ?? 300, 50, 10_000, 'use 50..10000 ms; 300 with bfdMultiplier 3 detects a dead LB pod in under a second'),
      multiplier: checkCount(this, 'bfdMultiplier', props.bfdMultiplier ?? 3, 2, 20, 'use 2..20; 3 is the common choice'),
    };
  }

  /** Binding is the default wherever it can work; an FRR reflector must sign LB sessions instead. */
  private checkBinding(props: RouteReflectorProps): boolean {
    const bind = props.bindPrefixesToLbPods;
    if (bind && !this.filterPrefixes) {
      throwInvalid(this, 'bindPrefixesToLbPods', bind, 'needs filterPrefixes, which is false', 'remove bindPrefixesToLbPods, or turn filterPrefixes back on');
    }
    if (this.daemon === ReflectorDaemon.FRR) {
      if (bind) throwInvalid(this, 'bindPrefixesToLbPods', bind, 'is not supported by an FRR reflector (the reflector agent drives gobgpd)', 'sign the LB sessions instead: bgpPassword with signLoadBalancerSessions: true');
      if (bind === undefined && this.filterPrefixes && !this.bgpPassword?.signLoadBalancerSessions) {
        throwInvalid(this, 'bgpPassword', this.bgpPassword ? 'without signLoadBalancerSessions' : undefined,
          'leaves an FRR reflector open to any pod in podNetworks announcing a service\'s prefix (FRR cannot bind prefixes to LB pods)',
          'set bgpPassword with signLoadBalancerSessions: true, or bindPrefixesToLbPods: false to accept that risk');
      }
      return false;
    }
    return (bind ?? true) && this.filterPrefixes;
  }

  /** The account the reflector agent runs as: the reflector pod's, or one for the standalone box. */
  private agentAccount(): string {
    return this.placement.isInCluster ? `${this.reflectorName}-gobgpd` : `${this.reflectorName}-reflector-agent`;
  }

  /** The reflector agent reads the LB pods (get/list/watch pods) of each namespace with LB services. */
  private allowAgentToReadPods(namespace: string): void {
    if (this.agentNamespaces.has(namespace)) return;
    this.agentNamespaces.add(namespace);
    grantRead(this, `AgentRole-${namespace}`, `AgentRoleBinding-${namespace}`, {
      name: `${this.reflectorName}-reflector-agent`,
      namespace,
      apiGroup: '',
      resources: ['pods'],
      serviceAccount: { name: this.agentAccount(), namespace: Chart.of(this).namespace ?? 'default' },
    });
  }

  /**
   * The standalone box runs `ecmp-lb reflector-agent` beside gobgpd with `lb-pod-bindings.json` and
   * a kubeconfig made from this account's token Secret (docs/security.md).
   */
  private standaloneAgent(): void {
    const name = this.agentAccount();
    new ConfigFile(this, 'AgentConfig', {
      path: `route-reflectors/${this.reflectorName}/lb-pod-bindings.json`,
      installTo: `/etc/ecmp-lb/lb-pod-bindings.json on route reflector ${this.reflectorName} (${this.address}), for ecmp-lb reflector-agent`,
      produce: () => renderReflectorAgentConfig(this.model()),
    });
    new k8s.KubeServiceAccount(this, 'AgentServiceAccount', { metadata: { name }, automountServiceAccountToken: false });
    new k8s.KubeSecret(this, 'AgentToken', {
      metadata: { name: `${name}-token`, annotations: { 'kubernetes.io/service-account.name': name } },
      type: 'kubernetes.io/service-account-token',
    });
  }

  /** The standalone FRR reflector's files; returns frr.conf's. */
  private frrFiles(): IConstruct {
    const where = `on route reflector ${this.reflectorName} (${this.address})`;
    new ConfigFile(this, 'Daemons', {
      path: `route-reflectors/${this.reflectorName}/daemons`,
      installTo: `/etc/frr/daemons ${where}`,
      produce: () => renderFrrDaemons('an ECMP route reflector', true, this.bfd !== undefined),
    });
    return new ConfigFile(this, 'Resource', {
      path: `route-reflectors/${this.reflectorName}/frr.conf`,
      installTo: `/etc/frr/frr.conf ${where}`,
      produce: () => renderFrrReflector(this.model()),
    });
  }
}
