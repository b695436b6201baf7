import { IConstruct } from 'constructs';
import { BgpPassword } from './bgp-password';
import { BfdModel, BgpTimersModel, ReflectorPeerModel } from './model';
import { ReflectorPlacement } from './reflector-placement';

/**
 * What the constructs of one topology know of each other: the route reflector, the upstream
 * routers and the LB services register with one another through these interfaces only.
 */

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
  readonly placement: ReflectorPlacement;
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
  /** Whether only each service's own LB pods may announce its prefixes. */
  readonly bindPrefixesToLbPods: boolean;
  /** BFD timers of its sessions with the LB pods, when on. */
  readonly bfd?: BfdModel;
  /**
   * BFD timers of its sessions with routers that run BFD: its `bfd`, when it is on and the
   * reflector shares the routers' segment (single-hop BFD; an in-cluster one is behind its node's SNAT).
   */
  readonly routerBfd?: BfdModel;
  /** Registers an upstream router as a static neighbor (called by UpstreamRouterConfig). */
  addUpstreamRouter(router: IUpstreamRouter): void;
  /** Registers an LB service whose pods peer with it (called by LoadBalancerService). */
  addLoadBalancerService(service: ILoadBalancerService): void;
  /** The LB services registered so far. */
  loadBalancerServices(): ILoadBalancerService[];
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
  /** Whether it runs BFD with the reflectors that have BFD on (FRR and BIRD can; gobgpd + zebra cannot). */
  readonly bfd: boolean;
}

/** What a route reflector needs to know of an LB service. */
export interface ILoadBalancerService extends IConstruct {
  /** The service's name. */
  readonly serviceName: string;
  /** The namespace of its LB pods. */
  readonly namespace: string;
  /** Number of LB pods: one path each. */
  readonly lbCount: number;
  /** Announced prefixes. */
  readonly prefixes: string[];
}
