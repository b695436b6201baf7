import { BfdModel, ReflectorBfdModel, RouteReflectorModel } from '../model';

/**
 * Where the reflector agent reaches gobgpd's gRPC API: loopback only (in-cluster, the agent shares
 * the reflector pod's network namespace), since anyone reaching it could inject routes.
 */
export const GOBGPD_API = '127.0.0.1:50051';

/**
 * Addresses no BGP peer can have. Every bound neighbor set keeps them: gobgpd matches an empty
 * neighbor set against every peer, so a set must never become empty.
 */
export const UNBOUND_NEIGHBORS = ['0.0.0.0/32', '::/128'];

/** The gobgpd neighbor set of one service's LB pods. Namespaces and names are DNS labels: no dots, so no clashes. */
export function lbPodNeighborSet(binding: ReflectorAgentBinding): string {
  return `lb-pods.${binding.namespace}.${binding.service}`;
}

/** One service the reflector agent keeps bound; its neighbor set is `lbPodNeighborSet(binding)`. */
export interface ReflectorAgentBinding {
  readonly namespace: string;
  readonly service: string;
}

/** The reflector agent's configuration, `lb-pod-bindings.json`. */
export interface ReflectorAgentConfig {
  readonly gobgpApi: string;
  readonly bindings: ReflectorAgentBinding[];
  /** BFD with every bound LB pod: a pod whose session goes down is unbound until it is up again. */
  readonly bfd?: ReflectorBfdModel;
  /**
   * BFD with the upstream routers that run it, single-hop (RFC 5881), from the reflector's address:
   * the agent keeps these sessions up only while gobgpd's API answers, standing in for gobgpd's own.
   */
  readonly routerBfd?: RouterBfdConfig;
}

/** The reflector agent's BFD sessions with the routers. */
export interface RouterBfdConfig {
  /** The reflector's address, which the sessions run from. */
  readonly localAddress: string;
  /** Each router's address and the session's timers. */
  readonly routers: (BfdModel & { readonly address: string })[];
}

/** `lb-pod-bindings.json` for `ecmp-lb reflector-agent`: the services whose neighbor sets it keeps. */
export function renderReflectorAgentConfig(model: RouteReflectorModel): string {
  const config: ReflectorAgentConfig = {
    gobgpApi: GOBGPD_API,
    bindings: model.lbPodBindings.map(binding => ({ namespace: binding.namespace, service: binding.service })),
    ...(model.bfd ? { bfd: model.bfd } : {}),
    ...(model.bfd && model.routers.some(r => r.bfd) ? {
      routerBfd: { localAddress: model.bfd.localAddress, routers: model.routers.filter(r => r.bfd).map(r => ({ address: r.address, ...r.bfd! })) },
    } : {}),
  };
  return `${JSON.stringify(config, undefined, 2)}\n`;
}
