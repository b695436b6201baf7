import { IConstruct } from 'constructs';
import { configFilesOf } from './config-file';
import { LoadBalancerService } from './load-balancer-service';
import { ForwardingMethod, ResilientHashingModel, RouterDaemon } from './model';
import { TopologySummaryModel } from './renderers/topology';
import { ReflectorDaemon, RouteReflector } from './route-reflector';
import { UpstreamRouterConfig } from './upstream-router-config';

/** Collects what TOPOLOGY.md shows from the constructs under `root`. */
export function summarizeTopology(root: IConstruct): TopologySummaryModel {
  const all = root.node.findAll();
  const reflectors = all.filter((c): c is RouteReflector => c instanceof RouteReflector);
  return {
    routers: all.filter((c): c is UpstreamRouterConfig => c instanceof UpstreamRouterConfig).map(r => ({
      name: r.routerName,
      address: r.ipv6Address ? `${r.address}, ${r.ipv6Address} (IPv6 next hops)` : r.address,
      asn: r.asn,
      daemon: r.daemon,
      maximumPaths: r.maximumPaths,
      reflectors: r.model().reflectors.map(n => n.address),
      hashing: routerHashing(r.model().resilientHashing),
      reflectorsBfd: routerBfd(r, reflectors),
    })),
    reflectors: reflectors.map(r => ({
      name: r.reflectorName,
      address: r.address,
      placement: r.placement.name,
      routerId: r.routerId,
      clusterId: r.clusterId,
      asn: r.asn,
      podNetworks: r.podNetworks,
      sendMax: r.sendMax,
      lbPeerHost: r.lbPeer.host,
      lbSessionsBfd: reflectorBfd(r),
    })),
    services: all.filter((c): c is LoadBalancerService => c instanceof LoadBalancerService).map(s => ({
      name: s.serviceName,
      namespace: s.namespace,
      prefixes: s.prefixes,
      vips: s.vips,
      ports: s.model.ports.map(p => `${p.port}/${p.protocol} -> ${p.backendPort}`),
      lbCount: s.lbCount,
      scheduler: s.model.scheduler,
      forwardingMethod: s.model.forwardingMethod,
      backendSetup: backendSetup(s),
      reflectors: s.routeReflectors.map(r => r.reflectorName),
    })),
    files: configFilesOf(root).map(f => ({ path: f.path, installTo: f.installTo })),
  };
}

/** Who prepares a service's backends for its forwarding method, and what their nodes need (docs/design.md). */
function backendSetup(service: LoadBalancerService): string {
  const method = service.model.forwardingMethod;
  if (method === ForwardingMethod.NAT) return 'none needed (NAT)';
  const nodes = method === ForwardingMethod.TUNNEL ? '; nodes: the ipip module loaded' : '';
  if (service.tunnelInitContainer) return `by the construct: init container \`${service.tunnelInitContainer}\` in ${service.preparedWorkload}${nodes}`;
  return `by hand (docs/design.md)${nodes}`;
}

function routerHashing(resilient: ResilientHashingModel | undefined): string {
  if (!resilient) return 'hash-threshold (a joining or leaving LB re-divides every flow\'s hash)';
  const unbalanced = resilient.unbalancedTimerSeconds === 0 ? 'never forced' : `busy ones after ${resilient.unbalancedTimerSeconds} s unbalanced`;
  return `resilient, ${resilient.buckets} buckets (\`ecmp-lb resilient-routes\` on the router): a joining LB takes buckets idle ${resilient.idleTimerSeconds} s, ${unbalanced}`;
}

/** Whether the LB pods' sessions with a reflector have BFD, who runs it there, and if not, why not. */
function reflectorBfd(r: RouteReflector): string {
  if (r.bfd) {
    const where = r.daemon === ReflectorDaemon.FRR ? 'bfdd' : r.placement.isInCluster ? 'the reflector agent, through the Service\'s UDP 4784' : 'the reflector agent';
    return `${r.bfd.minIntervalMs} ms x ${r.bfd.multiplier} (${where})`;
  }
  return r.daemon === ReflectorDaemon.GOBGP && !r.bindPrefixesToLbPods ? 'no: needs bindPrefixesToLbPods (BGP hold time)' : 'off (BGP hold time)';
}

/** Per reflector of a router, whether their session has BFD and who runs it at each end, or why not. */
function routerBfd(router: UpstreamRouterConfig, reflectors: RouteReflector[]): string {
  if (!router.bfd) return router.daemon === RouterDaemon.GOBGP_ZEBRA ? 'no: gobgpd + zebra has no BFD (BGP hold time)' : 'off (BGP hold time)';
  const here = router.daemon === RouterDaemon.BIRD ? 'BIRD' : 'bfdd';
  return router.model().reflectors.map(session => {
    const reflector = reflectors.find(r => r.address === session.address);
    const name = reflector?.reflectorName ?? session.address;
    if (!session.bfd && reflector?.placement.isInCluster) return `${name}: no, an in-cluster reflector reaches the router through its node's SNAT, not on its segment (BGP hold time)`;
    if (!session.bfd) return `${name}: no, the reflector's BFD is off (BGP hold time)`;
    const there = reflector?.daemon === ReflectorDaemon.FRR ? 'bfdd' : 'the reflector agent, while gobgpd answers';
    return `${name}: ${session.bfd.minIntervalMs} ms x ${session.bfd.multiplier}, single-hop (${here}; ${there})`;
  }).join('; ');
}
