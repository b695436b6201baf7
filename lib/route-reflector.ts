import { Chart, Lazy } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import * as k8s from '../imports/k8s';
import { BgpPassword, checkBgpPassword } from './bgp-password';
import { ConfigFile } from './config-file';
import { ImageName, imageReference, ImageSource } from './images';
import { invalidField, throwInvalid } from './errors';
import { checkObjectNamesOnce } from './object-names';
import { Cidr, cidrContains, hostPrefix, overlappingPairs, parseAddress, parseCidr } from './ip';
import { AddressFamily, BfdModel, BGP_PASSWORD_PLACEHOLDER, BgpNeighborModel, BgpTimersModel, LB_ROLE_LABEL, ReflectorPeerModel, RouteReflectorModel } from './model';
import { containerSecurity, NOBODY, podSecurity } from './pod-security';
import { renderFrrDaemons } from './renderers/frr';
import { renderFrrRouteReflector } from './renderers/frr-reflector';
import { renderRouteReflector } from './renderers/gobgpd';
import { renderReflectorAgentConfig } from './renderers/reflector-agent';
import {
  BgpTimers, checkAsn, checkCidr, checkCount, checkName, checkNamespace, checkNodeName, checkNonEmpty, checkPeerAddress, checkRouterId, checkTimers, firstWithSameKey,
} from './validate';

/** Where a route reflector runs. */
export enum RouteReflectorPlacement {
  /**
   * A Linux box outside Kubernetes (the paper's). Its gobgpd config is written to
   * `route-reflectors/<name>/gobgpd.toml`. LB pods must reach it without SNAT (see docs/design.md).
   */
  STANDALONE = 'standalone',
  /**
   * A pod in the cluster's pod network, pinned to one node; LB pods reach it through a ClusterIP
   * Service, so their connections are never SNATed.
   */
  IN_CLUSTER = 'in-cluster',
}

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
   * connect to as well. In-cluster: the IP of `nodeName`, the source the router sees once the
   * CNI has SNATed the reflector pod's connection.
   */
  readonly address: string;
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
   * Where the reflector runs.
   * @default RouteReflectorPlacement.STANDALONE
   */
  readonly placement?: RouteReflectorPlacement;
  /**
   * The BGP daemon. FRR is for standalone reflectors only; its config is written to
   * `route-reflectors/<name>/frr.conf` and `daemons`, and it can sign the LB pod sessions with
   * TCP-MD5 (`bgpPassword.signLoadBalancerSessions`). FRR 8.4 has no add-paths send-max: it sends
   * every path, so `sendMax` only feeds the synth checks.
   * @default ReflectorDaemon.GOBGP
   */
  readonly daemon?: ReflectorDaemon;
  /**
   * In-cluster only: the node the reflector pod is pinned to (its `kubernetes.io/hostname` label).
   * @default none; required when placement is IN_CLUSTER
   */
  readonly nodeName?: string;
  /**
   * add-paths send-max towards the routers: the most LB paths per prefix a router learns. Must be
   * at least the largest LB count of any service.
   * @default 255, as in the paper
   */
  readonly sendMax?: number;
  /**
   * In-cluster only: registry, tag and digests of the images (see ImageSource).
   * @default the enclosing EcmpTopology's, then the EcmpApp's, then `cdk8s-ecmp-lb/<image>:<library version>`
   */
  readonly images?: ImageSource;
  /**
   * In-cluster only: full reference of the gobgpd image, overriding `images`.
   * @default from `images`
   */
  readonly image?: string;
  /**
   * In-cluster only: full reference of the reflector agent's image (`ecmp-lb reflector-agent`:
   * the LB image), overriding `images`.
   * @default from `images`
   */
  readonly agentImage?: string;
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
   * In-cluster only: a NetworkPolicy that lets only LB pods (label `ecmp-lb.cdk8s.io/role=lb`, any
   * namespace) reach the reflector's BGP port, and lets the reflector connect only to the routers'
   * BGP port. Needs a CNI that enforces NetworkPolicy.
   * @default false
   */
  readonly networkPolicy?: boolean;
  /**
   * BFD (RFC 5880, multihop) on the LB pods' sessions: an LB pod that dies silently (frozen, its
   * node's link cut) loses its paths after `bfdMinIntervalMs` x `bfdMultiplier` instead of the
   * BGP hold time. gobgpd: the reflector agent runs the sessions and unbinds a pod whose session
   * goes down until it is up again (needs `bindPrefixesToLbPods`); FRR: bfdd, from a profile on
   * the LB peer group (its generated `daemons` file enables bfdd). Standalone reflectors only: an in-cluster
   * reflector is reached through its Service's DNAT, which BFD's sessions do not cross yet.
   * @default true for a standalone reflector (with bindPrefixesToLbPods for gobgpd), else false
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

/** What LB services and routers need to know of a route reflector. */
export interface IRouteReflector extends IConstruct {
  /** The reflector's name. */
  readonly reflectorName: string;
  /** AS number of the topology. */
  readonly asn: number;
  /** BGP router id. */
  readonly routerId: string;
  /** Address the upstream router peers with. */
  readonly address: string;
  /** Where it runs. */
  readonly placement: RouteReflectorPlacement;
  /** Pod network prefixes LB pods connect from. */
  readonly podNetworks: string[];
  /** add-paths send-max towards routers. */
  readonly sendMax: number;
  /** Timers of its sessions; LB services inherit them. */
  readonly timers: BgpTimersModel;
  /** How an LB pod reaches it. */
  readonly lbPeer: ReflectorPeerModel;
  /** Whether it accepts only the registered services' prefixes. */
  readonly filterPrefixes: boolean;
  /** The TCP-MD5 key of its sessions, if any; routers and LB services use the same. */
  readonly bgpPassword?: BgpPassword;
  /** Registers an upstream router as a static neighbor (called by UpstreamRouterConfig). */
  addUpstreamRouter(router: IUpstreamRouter): void;
  /** Registers an LB service whose pods peer with it (called by LoadBalancerService). */
  addLoadBalancerService(service: ILoadBalancerServiceSummary): void;
  /** The LB services registered so far. */
  loadBalancerServices(): ILoadBalancerServiceSummary[];
  /** Whether only each service's own LB pods may announce its prefixes. */
  readonly bindPrefixesToLbPods: boolean;
}

/** What a route reflector needs to know of an upstream router. */
export interface IUpstreamRouter extends IConstruct {
  /** The router's name. */
  readonly routerName: string;
  /** Its peering address. */
  readonly address: string;
  /** Its BGP router id. */
  readonly routerId: string;
  /** Its AS number. */
  readonly asn: number;
}

/** What a route reflector needs to know of an LB service. */
export interface ILoadBalancerServiceSummary extends IConstruct {
  /** The service's name. */
  readonly serviceName: string;
  /** The namespace of its LB pods. */
  readonly namespace: string;
  /** Number of LB pods: one path each. */
  readonly lbCount: number;
  /** Announced prefixes. */
  readonly prefixes: string[];
}

const BGP_PORT = 179;
/** Debian 12's gobgpd, which the default gobgpd image carries. */
const DEFAULT_GOBGPD_VERSION = '3.10.0';
const API_SERVER_PORTS = [443, 6443];

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
  public readonly placement: RouteReflectorPlacement;
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
  /** The rendered config (gobgpd.toml or frr.conf): a ConfigFile (standalone) or a ConfigMap (in-cluster). */
  public readonly configResource: IConstruct;
  private readonly routers: IUpstreamRouter[] = [];
  private readonly services: ILoadBalancerServiceSummary[] = [];
  /** Namespaces whose LB pods the reflector agent may read. */
  private readonly agentNamespaces = new Set<string>();

  constructor(scope: Construct, id: string, props: RouteReflectorProps) {
    super(scope, id);
    this.reflectorName = checkName(this, 'name', props.name ?? id);
    this.asn = checkAsn(this, 'asn', props.asn);
    this.address = checkPeerAddress(this, 'address', props.address);
    this.routerId = checkRouterId(this, props.routerId === undefined ? 'routerId (defaults to address)' : 'routerId', props.routerId ?? this.address);
    this.clusterId = checkRouterId(this, 'clusterId', props.clusterId ?? this.routerId);
    this.placement = props.placement ?? RouteReflectorPlacement.STANDALONE;
    this.daemon = props.daemon ?? ReflectorDaemon.GOBGP;
    if (!Object.values(ReflectorDaemon).includes(this.daemon)) {
      throwInvalid(this, 'daemon', this.daemon, 'is not a reflector daemon', 'use ReflectorDaemon.GOBGP or ReflectorDaemon.FRR');
    }
    if (this.daemon === ReflectorDaemon.FRR && this.placement === RouteReflectorPlacement.IN_CLUSTER) {
      throwInvalid(this, 'daemon', this.daemon, 'is only supported for a standalone route reflector (in-cluster reflectors run gobgpd)', 'remove daemon (gobgpd) for an in-cluster reflector, or set placement: RouteReflectorPlacement.STANDALONE');
    }
    this.podNetworks = this.checkPodNetworks(props);
    this.sendMax = checkCount(this, 'sendMax', props.sendMax ?? 255, 1, 255, 'use at least the largest lbCount of any service, at most 255');
    // Always 179: exabgp, FRR and BIRD are rendered to dial the standard port.
    this.port = BGP_PORT;
    this.timers = checkTimers(this, props);
    this.filterPrefixes = props.filterPrefixes ?? true;
    this.bgpPassword = checkBgpPassword(this, 'bgpPassword', props.bgpPassword);
    if (this.bgpPassword && this.placement === RouteReflectorPlacement.IN_CLUSTER) {
      // Measured in namespaces: with TCP-MD5 and SNAT the session never comes up (either alone works).
      throwInvalid(this, 'bgpPassword', this.bgpPassword.secret.name, 'cannot sign an in-cluster reflector\'s sessions: its session to the router leaves through the node\'s SNAT and the LB pods reach it through the ClusterIP\'s DNAT, and TCP-MD5 signs the addresses NAT rewrites',
        'run the reflector standalone (placement: RouteReflectorPlacement.STANDALONE) to sign its sessions, or remove bgpPassword');
    }
    this.checkGobgpdVersion(props);
    this.bindPrefixesToLbPods = this.checkBinding(props);
    this.bfd = this.checkBfd(props);
    if (props.networkPolicy && this.placement !== RouteReflectorPlacement.IN_CLUSTER) {
      throwInvalid(this, 'networkPolicy', props.networkPolicy, 'only applies to an in-cluster route reflector', 'filter the standalone box\'s port 179 with its own firewall (docs/security.md), or remove networkPolicy');
    }

    if (this.placement === RouteReflectorPlacement.IN_CLUSTER) {
      const nodeName = checkNodeName(this, 'nodeName', props.nodeName);
      if (!nodeName) {
        throwInvalid(this, 'nodeName', props.nodeName, 'is required for an in-cluster route reflector', 'name the node whose IP is `address`, so the upstream router always sees the reflector at that address');
      }
      const namespace = checkNamespace(this);
      this.lbPeer = { name: this.reflectorName, host: `${this.reflectorName}-bgp.${namespace}.svc`, port: this.port };
      this.configResource = this.inClusterManifests(nodeName,
        imageReference(this, ImageName.GOBGPD, props.images, { field: 'image', value: props.image }),
        imageReference(this, ImageName.LB, props.images, { field: 'agentImage', value: props.agentImage }));
      if (props.networkPolicy) this.networkPolicy();
    } else {
      for (const field of ['nodeName', 'image', 'agentImage', 'images'] as const) {
        if (props[field] !== undefined) {
          throwInvalid(this, field, props[field], 'only applies to an in-cluster route reflector', `remove ${field}, or set placement: RouteReflectorPlacement.IN_CLUSTER`);
        }
      }
      this.lbPeer = { name: this.reflectorName, host: this.address, port: this.port, ...(this.bfd ? { bfd: this.bfd } : {}) };
      this.configResource = this.daemon === ReflectorDaemon.FRR ? this.frrFiles() : new ConfigFile(this, 'Resource', {
        path: `route-reflectors/${this.reflectorName}/gobgpd.toml`,
        installTo: `/etc/gobgpd/gobgpd.toml on route reflector ${this.reflectorName} (${this.address})`,
        produce: () => renderRouteReflector(this.model()),
      });
      if (this.bindPrefixesToLbPods) this.standaloneAgent();
    }
    checkObjectNamesOnce(this);
    this.node.addValidation({ validate: () => this.validateTopology() });
  }

  public addUpstreamRouter(router: IUpstreamRouter): void {
    this.routers.push(router);
  }

  public addLoadBalancerService(service: ILoadBalancerServiceSummary): void {
    this.services.push(service);
    if (this.bindPrefixesToLbPods) this.allowAgentToReadPods(service.namespace);
  }

  public loadBalancerServices(): ILoadBalancerServiceSummary[] {
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
      routerPassword: password,
      lbPassword: this.bgpPassword?.signLoadBalancerSessions ? password : '',
      ...(this.bfd ? { bfd: { ...this.bfd, localAddress: this.address } } : {}),
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

  /** Binding is the default wherever it can work; an FRR reflector must sign LB sessions instead. */
  private checkBfd(props: RouteReflectorProps): BfdModel | undefined {
    const reason = this.placement === RouteReflectorPlacement.IN_CLUSTER
      ? { why: 'is not supported by an in-cluster route reflector (its LB sessions cross the Service\'s DNAT)', fix: 'run the reflector standalone for BFD, or remove bfd' }
      : this.daemon === ReflectorDaemon.GOBGP && !this.bindPrefixesToLbPods
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
    return this.placement === RouteReflectorPlacement.IN_CLUSTER ? `${this.reflectorName}-gobgpd` : `${this.reflectorName}-reflector-agent`;
  }

  /** The reflector agent reads the LB pods (get/list/watch pods) of each namespace with LB services. */
  private allowAgentToReadPods(namespace: string): void {
    if (this.agentNamespaces.has(namespace)) return;
    this.agentNamespaces.add(namespace);
    const name = `${this.reflectorName}-reflector-agent`;
    new k8s.KubeRole(this, `AgentRole-${namespace}`, {
      metadata: { name, namespace },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    });
    new k8s.KubeRoleBinding(this, `AgentRoleBinding-${namespace}`, {
      metadata: { name, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: this.agentAccount(), namespace: Chart.of(this).namespace ?? 'default' }],
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

  private validateTopology(): string[] {
    const errors: string[] = [];
    if (this.routers.length === 0) {
      errors.push(invalidField(this, 'upstream routers', [], 'is empty: nothing would learn the LB paths', `create an UpstreamRouterConfig with routeReflectors including this reflector`));
    }
    for (const service of this.services) {
      if (service.lbCount > this.sendMax) {
        errors.push(invalidField(this, 'sendMax', this.sendMax, `is smaller than the ${service.lbCount} LB pods of service '${service.serviceName}': the router would learn only ${this.sendMax} of their paths`, `set sendMax to at least ${service.lbCount}`));
      }
    }
    for (const router of this.routers) {
      if (router.asn !== this.asn) {
        errors.push(invalidField(this, 'asn', this.asn, `differs from router '${router.routerName}' AS ${router.asn}; the topology is one iBGP AS`, `give the router asn ${this.asn}`));
      }
    }
    errors.push(...this.peerCollisions());
    return errors;
  }

  /** Its routers and itself: one address and one router id each, none inside a pod network or a service prefix. */
  private peerCollisions(): string[] {
    const errors: string[] = [];
    const speakers = [{ what: `reflector '${this.reflectorName}'`, address: this.address, routerId: this.routerId }, ...this.routers.map(r => ({ what: `router '${r.routerName}'`, address: r.address, routerId: r.routerId }))];
    const sameAddresses = firstWithSameKey(speakers, s => s.address);
    const sameIds = firstWithSameKey(speakers, s => s.routerId);
    speakers.forEach((speaker, i) => {
      const sameAddress = sameAddresses[i];
      if (sameAddress !== i) {
        errors.push(invalidField(this, 'upstream routers', this.routers.map(r => r.routerName), `put ${speaker.what} at ${speaker.address}, the address of ${speakers[sameAddress].what}; gobgpd keeps one neighbor per address`, 'give every router and reflector its own address'));
      }
      const sameId = sameIds[i];
      if (sameId !== i && sameAddress === i) {
        errors.push(invalidField(this, 'upstream routers', this.routers.map(r => r.routerName), `give ${speaker.what} the router id ${speaker.routerId} of ${speakers[sameId].what}; BGP refuses a peer with its own identifier`, 'give every router and reflector its own routerId'));
      }
    });
    const podNetworks = this.podNetworks.map(n => parseCidr(n).cidr!);
    const prefixes = this.services.flatMap(s => s.prefixes.map(p => ({ service: s.serviceName, cidr: parseCidr(p).cidr! })));
    for (const speaker of speakers) {
      const address = parseAddress(speaker.address)!;
      const network = podNetworks.find(n => cidrContains(n, address));
      // The reflector's own address was checked against its pod networks at construction.
      if (network && speaker.address !== this.address) {
        errors.push(invalidField(this, 'podNetworks', this.podNetworks, `contain ${speaker.what}'s address ${speaker.address} (${network.text}); its session would be taken for an LB pod's`, 'give the router an address on the node network, outside the pod networks'));
      }
      const prefix = prefixes.find(p => cidrContains(p.cidr, address));
      if (prefix) {
        errors.push(invalidField(this, 'address', speaker.address, `of ${speaker.what} is inside ${prefix.cidr.text}, the prefix of service '${prefix.service}'; the route to the service would capture the BGP session`, 'announce service prefixes outside the routers\' and reflectors\' addresses'));
      }
    }
    return errors;
  }

  /**
   * Only LB pods reach the BGP port; the reflector connects only to the routers' BGP port. Replies
   * on established connections are allowed by every NetworkPolicy implementation (they are stateful).
   */
  private networkPolicy(): void {
    const labels = { 'app.kubernetes.io/name': 'ecmp-lb-route-reflector', 'ecmp-lb.cdk8s.io/reflector': this.reflectorName };
    const bgp = [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(this.port) }];
    new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name: `${this.reflectorName}-gobgpd`, labels },
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{
          // LB pods of every namespace: LoadBalancerServices may live in other charts.
          from: [{ namespaceSelector: {}, podSelector: { matchLabels: { [LB_ROLE_LABEL]: 'lb' } } }],
          ports: bgp,
        }],
        egress: Lazy.any({
          produce: () => [
            ...(this.routers.length === 0 ? [] : [{
              to: [...new Set(this.routers.map(r => r.address))].sort().map(address => ({ ipBlock: { cidr: hostPrefix(address) } })),
              ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(BGP_PORT) }],
            }]),
            // The reflector agent reads LB pods from the API server, whose address is not known
            // here: its ports only (the kubernetes Service's 443, and 6443 after the CNI's DNAT).
            ...(this.bindPrefixesToLbPods ? [{ ports: API_SERVER_PORTS.map(port => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) })) }] : []),
          ],
        }),
      },
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
      produce: () => renderFrrRouteReflector(this.model()),
    });
  }

  /** A gobgpd pod pinned to `nodeName`, its config in a ConfigMap, and the Service LB pods dial. */
  private inClusterManifests(nodeName: string, image: string, agentImage: string): IConstruct {
    const labels = { 'app.kubernetes.io/name': 'ecmp-lb-route-reflector', 'ecmp-lb.cdk8s.io/reflector': this.reflectorName };
    const config = new k8s.KubeConfigMap(this, 'Resource', {
      metadata: { name: `${this.reflectorName}-gobgpd` },
      data: {
        'gobgpd.toml': Lazy.any({ produce: () => renderRouteReflector(this.model()) }),
        ...(this.bindPrefixesToLbPods ? { 'lb-pod-bindings.json': Lazy.any({ produce: () => renderReflectorAgentConfig(this.model()) }) } : {}),
      },
    });
    new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: `${this.reflectorName}-gobgpd` },
      automountServiceAccountToken: false,
    });
    const configPath = '/etc/gobgpd/gobgpd.toml';
    const quantity = k8s.Quantity.fromString;
    new k8s.KubeDeployment(this, 'Deployment', {
      metadata: { name: `${this.reflectorName}-gobgpd`, labels },
      spec: {
        replicas: 1,
        // Two gobgpd with one router id must never run side by side.
        strategy: { type: 'Recreate' },
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: `${this.reflectorName}-gobgpd`,
            automountServiceAccountToken: false,
            nodeSelector: { 'kubernetes.io/hostname': nodeName },
            // A safe sysctl: lets the unprivileged gobgpd bind the BGP port.
            securityContext: podSecurity({ 'net.ipv4.ip_unprivileged_port_start': String(Math.min(this.port, 1024)) }),
            containers: [{
              name: 'gobgpd',
              image,
              // The gRPC API stays on loopback: anyone reaching it could inject routes.
              command: ['gobgpd', '-t', 'toml', '-f', configPath, '--api-hosts', '127.0.0.1:50051', '--log-plain'],
              ports: [{ name: 'bgp', containerPort: this.port, protocol: 'TCP' }],
              readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromNumber(this.port) }, periodSeconds: 5 },
              resources: {
                requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') },
                limits: { memory: k8s.Quantity.fromString('256Mi') },
              },
              securityContext: { ...containerSecurity(), runAsUser: NOBODY },
              volumeMounts: [{ name: 'config', mountPath: '/etc/gobgpd', readOnly: true }],
            }, ...(this.bindPrefixesToLbPods ? [{
              name: 'reflector-agent',
              image: agentImage,
              command: ['ecmp-lb', 'reflector-agent', '--config', '/etc/gobgpd/lb-pod-bindings.json'],
              resources: { requests: { cpu: quantity('10m'), memory: quantity('48Mi') }, limits: { memory: quantity('192Mi') } },
              securityContext: containerSecurity(),
              volumeMounts: [
                { name: 'config', mountPath: '/etc/gobgpd', readOnly: true },
                // Only this container gets the API token (the pod does not automount it).
                { name: 'api-token', mountPath: SERVICE_ACCOUNT_DIR, readOnly: true },
              ],
            }] : [])],
            volumes: [
              { name: 'config', configMap: { name: config.name } },
              ...(this.bindPrefixesToLbPods ? [{ name: 'api-token', projected: { sources: SERVICE_ACCOUNT_SOURCES } }] : []),
            ],
          },
        },
      },
    });
    new k8s.KubeService(this, 'Service', {
      metadata: { name: `${this.reflectorName}-bgp`, labels },
      spec: {
        selector: labels,
        ports: [{ name: 'bgp', port: this.port, targetPort: k8s.IntOrString.fromNumber(this.port), protocol: 'TCP' }],
      },
    });
    return config;
  }
}

/** Where client libraries look for in-cluster credentials. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** What the kubelet's automount puts there: a bound token, the cluster CA and the namespace. */
const SERVICE_ACCOUNT_SOURCES: k8s.VolumeProjection[] = [
  { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
  { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
  { downwardApi: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
];

/** Parses the pod networks of reflectors (for overlap checks). */
export function podNetworkCidrs(scope: IConstruct, reflectors: IRouteReflector[]): Cidr[] {
  return reflectors.flatMap(r => r.podNetworks.map((n, i) => checkCidr(scope, `${r.reflectorName}.podNetworks[${i}]`, n)));
}
