import { IConstruct } from 'constructs';
import { sameBgpPassword } from './bgp-password';
import { invalidField, throwInvalid } from './errors';
import { Cidr, cidrContains, cidrsOverlap, overlappingPairs, parseAddress, parseCidr } from './ip';
import { RouterDaemon } from './model';
import { ILoadBalancerService, IRouteReflector, IUpstreamRouter } from './topology-interfaces';
import { checkCidr, checkPeerAddress, firstWithSameKey } from './validate';

/**
 * The checks that span constructs: one AS per reflector's LB pods and per router's reflectors, eBGP only where it works, one TCP-MD5 key per speaker's reflector sessions, path
 * counts against LB counts, distinct peers, and prefixes that collide with pod networks, speakers or
 * other services. They run at synth time (`node.addValidation`), once every construct has
 * registered with the others; each construct reports what is wrong from its own side.
 */

/** Parses the pod networks of reflectors (for overlap checks). */
export function podNetworkCidrs(scope: IConstruct, reflectors: IRouteReflector[]): Cidr[] {
  return reflectors.flatMap(r => r.podNetworks.map((n, i) => checkCidr(scope, `${r.reflectorName}.podNetworks[${i}]`, n)));
}

/** A route reflector: its routers, the paths of its services, and its peers' addresses. */
export function reflectorTopologyErrors(reflector: IRouteReflector, routers: readonly IUpstreamRouter[]): string[] {
  const errors: string[] = [];
  if (routers.length === 0) {
    errors.push(invalidField(reflector, 'upstream routers', [], 'is empty: nothing would learn the LB paths', 'create an UpstreamRouterConfig with routeReflectors including this reflector'));
  }
  for (const service of reflector.loadBalancerServices()) {
    errors.push(...tooFewPaths(reflector, 'sendMax', reflector.sendMax, service, `the router would learn only ${reflector.sendMax} of their paths`));
  }
  errors.push(...peerCollisions(reflector, routers));
  return errors;
}

/** An LB service: its reflectors (distinct, one key, one AS), its prefixes against pod networks and the app's other services. */
export function serviceTopologyErrors(service: ILoadBalancerService, reflectors: IRouteReflector[], asn: number): string[] {
  const errors: string[] = [];
  const peer = (r: IRouteReflector) => `${r.lbPeer.host}:${r.lbPeer.port}`;
  firstWithSameKey(reflectors, peer).forEach((first, i) => {
    if (first !== i) errors.push(twoReflectors(service, reflectors, first, i, `at ${peer(reflectors[i])}`, 'exabgp stops on a duplicate neighbor', SEPARATE_REFLECTORS));
  });
  for (const reflector of reflectors) {
    errors.push(...mixedBgpPasswords(service, reflectors, reflector, 'an LB pod'));
    errors.push(...differentAsn(service, asn, `route reflector '${reflector.reflectorName}'`, reflector.asn, 'LB pods peer over iBGP', `set asn to ${reflector.asn} or leave it unset`));
  }
  const prefixes = service.prefixes.map(p => parseCidr(p).cidr!);
  const podNetworks = podNetworkCidrs(service, reflectors);
  for (const prefix of prefixes) {
    for (const network of podNetworks) {
      if (cidrsOverlap(prefix, network)) {
        errors.push(invalidField(service, 'prefixes', prefix.text, `overlaps the pod network ${network.text}`, 'announce a prefix outside the pod network: the node would route it to pods, not to the LB'));
      }
    }
  }
  const registry = servicesOfApp(service);
  const sameName = registry.services.find(other =>
    other !== service && other.serviceName === service.serviceName && other.namespace === service.namespace);
  if (sameName) {
    errors.push(invalidField(service, 'name', service.serviceName, `is also used by ${sameName.node.path} in namespace ${service.namespace}`, 'give each LoadBalancerService a distinct name'));
  }
  for (const [outer, inner] of registry.prefixOverlaps()) {
    const [mine, theirs] = outer.owner === service ? [outer, inner] : inner.owner === service ? [inner, outer] : [];
    if (!mine || !theirs) continue;
    const what = theirs.owner === service ? 'its own prefix' : theirs.owner.node.path;
    errors.push(invalidField(service, 'prefixes', mine.cidr.text, `overlaps ${theirs.cidr.text} of ${what}`, 'give each service its own prefix: the router cannot tell which LB pods serve an address claimed twice'));
  }
  return errors;
}

/** What an upstream router's paths are limited by: its most equal-cost next hops, and the services they serve. */
export interface RouterPaths {
  readonly maximumPaths: number;
  readonly services: readonly ILoadBalancerService[];
}

/**
 * An upstream router: its reflectors (distinct from each other and from it, one key, one AS; eBGP
 * with them only where it works: see ebgpErrors) and,
 * when it has a path limit (`paths`), the LB counts of its services.
 */
export function routerTopologyErrors(
  router: IUpstreamRouter, daemon: RouterDaemon, reflectors: IRouteReflector[], paths: RouterPaths | undefined,
): string[] {
  const errors: string[] = [];
  const sameAddresses = firstWithSameKey(reflectors, r => r.address);
  const sameIds = firstWithSameKey(reflectors, r => r.routerId);
  reflectors.forEach((reflector, i) => {
    const sameAddress = sameAddresses[i];
    if (sameAddress !== i) {
      errors.push(twoReflectors(router, reflectors, sameAddress, i, `at ${reflector.address}`, 'the router keeps one neighbor per address', SEPARATE_REFLECTORS));
    }
    const sameId = sameIds[i];
    if (sameId !== i && sameAddress === i) {
      errors.push(twoReflectors(router, reflectors, sameId, i, `with router id ${reflector.routerId}`, 'BGP tells paths apart by the reflector\'s identifier', 'give every route reflector its own routerId'));
    }
    if (reflector.address === router.address) {
      errors.push(invalidField(router, 'address', router.address, `is also the address of route reflector '${reflector.reflectorName}'`, 'give the router and every reflector their own addresses'));
    } else if (reflector.routerId === router.routerId) {
      errors.push(invalidField(router, 'routerId', router.routerId, `is also the router id of route reflector '${reflector.reflectorName}'; BGP refuses a peer with its own identifier`, 'give the router and every reflector their own router ids'));
    }
  });
  if (paths) {
    for (const service of paths.services) {
      errors.push(...tooFewPaths(router, 'maximumPaths', paths.maximumPaths, service, `only ${paths.maximumPaths} would get traffic`));
    }
  }
  for (const reflector of reflectors) {
    errors.push(...mixedBgpPasswords(router, reflectors, reflector, 'a router'));
  }
  // One neighbor AS: the router's multipath takes equal paths from one AS (iBGP, or eBGP without multipath-relax).
  const otherAs = reflectors.find(r => r.asn !== reflectors[0].asn);
  if (otherAs) {
    errors.push(invalidField(router, 'routeReflectors', reflectors.map(r => r.reflectorName), `are in more than one AS ('${reflectors[0].reflectorName}' AS ${reflectors[0].asn}, '${otherAs.reflectorName}' AS ${otherAs.asn}); a router's reflectors are one AS, the cluster's, so all their paths are equal`,
      `give every reflector of this router asn ${reflectors[0].asn}`));
  }
  errors.push(...ebgpErrors(router, daemon, reflectors));
  return errors;
}

/**
 * eBGP between a router and its reflectors (the router's `asn` is not theirs): the reflectors pass
 * each LB's path on with its next hop unchanged (the LB's node, a third party on the shared
 * segment), and the router installs them as one multipath route. Refused where that cannot work.
 */
function ebgpErrors(router: IUpstreamRouter, daemon: RouterDaemon, reflectors: IRouteReflector[]): string[] {
  const errors: string[] = [];
  const external = reflectors.filter(r => r.asn !== router.asn);
  if (external.length === 0) return errors;
  if (daemon === RouterDaemon.GOBGP_ZEBRA) {
    errors.push(invalidField(router, 'asn', router.asn, `differs from the reflectors' AS ${external[0].asn}, and an eBGP gobgpd + zebra router is not supported: gobgpd 3.10 (Debian 12's) crashes against FRR 8.4's zebra, so its eBGP multipath could not be measured`,
      `use daemon: RouterDaemon.FRR or RouterDaemon.BIRD for eBGP, or give the router asn ${external[0].asn} (iBGP)`));
  }
  return errors;
}

/**
 * A speaker's `ipv6Address` (a router's, an FRR reflector's): its IPv6 address on the nodes' IPv6
 * segment, where the IPv6 next hops of dual-stack services are. `what` names the speaker in the
 * messages. Returns the canonical address; throws for one that is no IPv6 address or would be moot.
 */
export function checkIpv6Address(scope: IConstruct, what: string, text: string | undefined, address: string): string | undefined {
  if (text === undefined) return undefined;
  const checked = checkPeerAddress(scope, 'ipv6Address', text);
  if (!checked.includes(':')) {
    throwInvalid(scope, 'ipv6Address', text, 'is not an IPv6 address', `give the ${what}'s IPv6 address on the nodes' IPv6 segment, e.g. "2001:db8:ff::1", or remove ipv6Address`);
  }
  if (address.includes(':')) {
    throwInvalid(scope, 'ipv6Address', text, `has no effect: the ${what}'s address ${address} is IPv6 already, and its sessions carry IPv6 prefixes with next hops on that segment`, 'remove ipv6Address');
  }
  return checked;
}

/**
 * Dual-stack services reaching a speaker that must resolve their IPv6 next hops (the LB nodes' IPv6
 * addresses): it needs `ipv6Address` on the nodes' segment when its own address is IPv4, and that
 * address outside the pod networks and the service prefixes. `why` says why it must resolve them.
 */
export function ipv6AddressErrors(
  scope: IConstruct, what: string, ipv6Address: string | undefined, address: string,
  podNetworks: readonly string[], services: readonly ILoadBalancerService[], why: string,
): string[] {
  if (ipv6Address !== undefined) {
    // As for `address`: an address a pod or a service holds would capture the next hops' traffic.
    const parsed = parseAddress(ipv6Address)!;
    const network = podNetworks.map(n => parseCidr(n).cidr!).find(n => cidrContains(n, parsed));
    if (network) return [invalidField(scope, 'ipv6Address', ipv6Address, `is inside the pod network ${network.text}`, `give the ${what} its address on the nodes' IPv6 segment, outside the pod networks`)];
    const service = services.find(s => s.prefixes.some(p => cidrContains(parseCidr(p).cidr!, parsed)));
    if (service) return [invalidField(scope, 'ipv6Address', ipv6Address, `is inside a prefix of service '${service.serviceName}'; the route to the service would capture it`, `give the ${what} an address outside the service prefixes`)];
    return [];
  }
  if (address.includes(':')) return [];
  const v6 = services.find(s => s.prefixes.some(p => p.includes(':')));
  if (!v6) return [];
  return [invalidField(scope, 'ipv6Address', undefined, `is needed: service '${v6.serviceName}' announces IPv6 prefixes (${v6.prefixes.filter(p => p.includes(':')).join(', ')}) over the IPv4 reflector sessions, with its LB nodes' IPv6 addresses as next hops, ${why}`,
    `give the ${what} an address on the nodes' IPv6 segment and set ipv6Address to it (e.g. "2001:db8:ff::1"), or announce the IPv6 prefixes elsewhere`)];
}

/** Registers an LB service with its app, for the checks against the app's other services. */
export function registerService(service: ILoadBalancerService): void {
  servicesOfApp(service).services.push(service);
}

const SEPARATE_REFLECTORS = 'give every route reflector its own address, and list each one once';

/** iBGP: `scope`, at `asn`, and its peer are in one AS. */
function differentAsn(scope: IConstruct, asn: number, peer: string, peerAsn: number, why: string, fix: string): string[] {
  return peerAsn === asn ? [] : [invalidField(scope, 'asn', asn, `differs from ${peer} AS ${peerAsn}; ${why}`, fix)];
}

/** A speaker (an LB pod, a router) has one TCP-MD5 key for all its reflector sessions: `reflector`'s must be the first reflector's. */
function mixedBgpPasswords(scope: IConstruct, reflectors: IRouteReflector[], reflector: IRouteReflector, speaker: string): string[] {
  if (sameBgpPassword(reflector.bgpPassword, reflectors[0].bgpPassword)) return [];
  return [invalidField(scope, 'routeReflectors', reflectors.map(r => r.reflectorName), `mix TCP-MD5 settings ('${reflector.reflectorName}' differs from '${reflectors[0].reflectorName}'); ${speaker} has one key for its reflector sessions`,
    'give every reflector the same bgpPassword (Secret, key and signLoadBalancerSessions), or none')];
}

/** One path per LB pod: a limit (`field`) below a service's LB count loses some of them. */
function tooFewPaths(scope: IConstruct, field: string, limit: number, service: ILoadBalancerService, loss: string): string[] {
  if (service.lbCount <= limit) return [];
  return [invalidField(scope, field, limit, `is smaller than the ${service.lbCount} LB pods of service '${service.serviceName}': ${loss}`, `set ${field} to at least ${service.lbCount}`)];
}

/** Reflectors `first` and `i` of the list are one peer (`how`: at one address, with one id). */
function twoReflectors(scope: IConstruct, reflectors: IRouteReflector[], first: number, i: number, how: string, why: string, fix: string): string {
  return invalidField(scope, 'routeReflectors', reflectors.map(r => r.reflectorName), `list two reflectors ${how} ('${reflectors[first].reflectorName}' and '${reflectors[i].reflectorName}'); ${why}`, fix);
}

/** A reflector's routers and itself: one address and one router id each, none inside a pod network or a service prefix. */
function peerCollisions(reflector: IRouteReflector, routers: readonly IUpstreamRouter[]): string[] {
  const errors: string[] = [];
  const routerNames = routers.map(r => r.routerName);
  const speakers = [
    { what: `reflector '${reflector.reflectorName}'`, address: reflector.address, routerId: reflector.routerId },
    ...routers.map(r => ({ what: `router '${r.routerName}'`, address: r.address, routerId: r.routerId })),
  ];
  const sameAddresses = firstWithSameKey(speakers, s => s.address);
  const sameIds = firstWithSameKey(speakers, s => s.routerId);
  speakers.forEach((speaker, i) => {
    const sameAddress = sameAddresses[i];
    if (sameAddress !== i) {
      errors.push(invalidField(reflector, 'upstream routers', routerNames, `put ${speaker.what} at ${speaker.address}, the address of ${speakers[sameAddress].what}; gobgpd keeps one neighbor per address`, 'give every router and reflector its own address'));
    }
    const sameId = sameIds[i];
    if (sameId !== i && sameAddress === i) {
      errors.push(invalidField(reflector, 'upstream routers', routerNames, `give ${speaker.what} the router id ${speaker.routerId} of ${speakers[sameId].what}; BGP refuses a peer with its own identifier`, 'give every router and reflector its own routerId'));
    }
  });
  const podNetworks = reflector.podNetworks.map(n => parseCidr(n).cidr!);
  const prefixes = reflector.loadBalancerServices().flatMap(s => s.prefixes.map(p => ({ service: s.serviceName, cidr: parseCidr(p).cidr! })));
  for (const speaker of speakers) {
    const address = parseAddress(speaker.address)!;
    const network = podNetworks.find(n => cidrContains(n, address));
    // The reflector's own address was checked against its pod networks at construction.
    if (network && speaker.address !== reflector.address) {
      errors.push(invalidField(reflector, 'podNetworks', reflector.podNetworks, `contain ${speaker.what}'s address ${speaker.address} (${network.text}); its session would be taken for an LB pod's`, 'give the router an address on the node network, outside the pod networks'));
    }
    const prefix = prefixes.find(p => cidrContains(p.cidr, address));
    if (prefix) {
      errors.push(invalidField(reflector, 'address', speaker.address, `of ${speaker.what} is inside ${prefix.cidr.text}, the prefix of service '${prefix.service}'; the route to the service would capture the BGP session`, 'announce service prefixes outside the routers\' and reflectors\' addresses'));
    }
  }
  return errors;
}

/**
 * The LB services of one app, so cross-service checks need no walk of the whole tree per service,
 * and the prefix overlaps are found once (in O(n log n)) for all of them.
 */
class ServiceRegistry {
  public readonly services: ILoadBalancerService[] = [];
  private overlaps?: { count: number; pairs: ReturnType<typeof overlappingPairs<ILoadBalancerService>> };

  public prefixOverlaps() {
    if (this.overlaps?.count !== this.services.length) {
      const items = this.services.flatMap(owner => owner.prefixes.map(p => ({ owner, cidr: parseCidr(p).cidr! })));
      this.overlaps = { count: this.services.length, pairs: overlappingPairs(items) };
    }
    return this.overlaps.pairs;
  }
}

const registries = new WeakMap<IConstruct, ServiceRegistry>();

function servicesOfApp(scope: IConstruct): ServiceRegistry {
  const root = scope.node.root;
  let registry = registries.get(root);
  if (!registry) registries.set(root, registry = new ServiceRegistry());
  return registry;
}
