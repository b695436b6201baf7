import { hostPrefix } from '../../lib/ip';
import { PREFIXES_ANNOTATION } from '../../lib/model';

/**
 * Pure logic of the node agent: which service prefixes the node routes to which LB pods, and
 * the `ip route` commands that take the node from what it has to that.
 */

/** Routes the agent owns carry this protocol number, so it can find and remove its own stale ones. */
export const DEFAULT_ROUTE_PROTO = 212;

export interface LbPod {
  readonly metadata?: { readonly name?: string; readonly annotations?: Record<string, string> };
  readonly status?: { readonly phase?: string; readonly podIP?: string; readonly podIPs?: readonly { readonly ip?: string }[] };
}

/** prefix -> gateway pod IPs (sorted). */
export type RouteTable = Map<string, string[]>;

/**
 * Running LB pods with an IP, terminating ones included: a draining pod still serves the
 * connections it has until it is deleted. Several LB pods of one prefix on one node share it (ECMP).
 */
export function desiredRoutes(pods: readonly LbPod[]): RouteTable {
  const routes: RouteTable = new Map();
  for (const pod of pods) {
    const ips = podIps(pod);
    if (pod.status?.phase !== 'Running' || ips.length === 0) continue;
    const prefixes = (pod.metadata?.annotations?.[PREFIXES_ANNOTATION] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    for (const prefix of prefixes) {
      // A gateway must be of the prefix's family: a dual-stack pod's IPv6 prefixes go via its IPv6 address.
      const ip = ips.find((candidate) => candidate.includes(':') === prefix.includes(':'));
      if (!ip) continue;
      const gateways = routes.get(prefix) ?? [];
      if (!gateways.includes(ip)) gateways.push(ip);
      routes.set(prefix, gateways.sort());
    }
  }
  return routes;
}

/** A pod's IPs: `status.podIPs` (one per family on a dual-stack cluster), else `status.podIP`. */
function podIps(pod: LbPod): string[] {
  const listed = Array.isArray(pod.status?.podIPs) ? pod.status!.podIPs!.flatMap((entry) => (typeof entry?.ip === 'string' && entry.ip ? [entry.ip] : [])) : [];
  const primary = pod.status?.podIP;
  return listed.length > 0 ? listed : primary ? [primary] : [];
}

/** Parses `ip -j route show proto N` output (IPv4 or IPv6). */
export function parseIpRouteJson(json: string): RouteTable {
  const routes: RouteTable = new Map();
  for (const route of JSON.parse(json || '[]') as { dst: string; gateway?: string; nexthops?: { gateway?: string }[] }[]) {
    const dst = routePrefix(route.dst);
    const gateways = route.gateway ? [route.gateway] : (route.nexthops ?? []).flatMap((n) => (n.gateway ? [n.gateway] : []));
    routes.set(dst, gateways.sort());
  }
  return routes;
}

/** `ip` argument lists that turn `current` into `desired`; routes untouched when already right. */
export function routeCommands(current: RouteTable, desired: RouteTable, proto: number): string[][] {
  const commands: string[][] = [];
  for (const [prefix, gateways] of desired) {
    const have = current.get(prefix);
    if (have && have.join() === gateways.join()) continue;
    const via = gateways.length === 1 ? ['via', gateways[0]] : gateways.flatMap((g) => ['nexthop', 'via', g]);
    commands.push([family(prefix), 'route', 'replace', prefix, ...via, 'proto', String(proto)]);
  }
  for (const prefix of current.keys()) {
    if (!desired.has(prefix)) commands.push([family(prefix), 'route', 'del', prefix, 'proto', String(proto)]);
  }
  return commands;
}

/** `ip`'s family flag for a prefix. */
export function family(prefix: string): string {
  return prefix.includes(':') ? '-6' : '-4';
}

/** A route's `dst` as `ip -j` prints it (a host route without its length) as a prefix. */
export function routePrefix(dst: string): string {
  return dst.includes('/') ? dst : hostPrefix(dst);
}
