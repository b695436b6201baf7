import { IpvsRealServer, IpvsVirtualService } from './ipvs-table';
import { sortRealServers } from './reconcile';

/**
 * Pure: what to re-insert so that every `mh` virtual service holds its real servers in one
 * canonical order, whatever order keepalived added them in.
 *
 * IPVS `mh` (Maglev) builds its lookup table by walking the service's destination list, so two LB
 * pods with the same real servers inserted in different orders pick different backends for the
 * same flow. keepalived inserts in the order it learns of servers: a reload adds new ones after
 * the others, a server that fails its check is removed and re-added on recovery. The canonical
 * insertion order is the controller's config order (sortRealServers: address bytes, then port),
 * so a keepalived that starts with the final set produces it without any reordering.
 *
 * The kernel puts a new destination at the head of the list (`list_add_rcu` in
 * `__ip_vs_update_dest`), so /proc/net/ip_vs lists the newest first: the insertion order is
 * the reverse of what it shows.
 *
 * The only way to move a destination is to delete it and add it again, which makes it the newest.
 * The real servers not moved keep their relative order and end up inserted before every moved
 * one, so they must be a prefix of the canonical order and already in that order among
 * themselves: the plan keeps the longest such prefix (found greedily as a subsequence of the
 * insertion order) and moves the rest, in canonical order. No plan does fewer moves. Moving one
 * server at a time (delete, then add) keeps every other server in the table meanwhile.
 */
export interface ServiceReorder {
  readonly service: IpvsVirtualService;
  /** Real servers to delete and add again, one after the other, in this order. */
  readonly moves: readonly IpvsRealServer[];
}

/** Forwarding methods ipvsadm can set again on a re-added server (`Local` it cannot). */
const IPVSADM_FORWARD_FLAGS: Readonly<Record<string, string>> = { Masq: '-m', Tunnel: '-i', Route: '-g' };

const PROTOCOL_FLAGS: Readonly<Record<string, string>> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };

/** One entry per `mh` service whose real servers are out of canonical order; other services are left alone. */
export function ipvsReorderPlan(services: readonly IpvsVirtualService[]): ServiceReorder[] {
  return services.filter(canBeReordered).flatMap((service) => {
    const moves = movesToCanonicalOrder(service.realServers);
    return moves.length > 0 ? [{ service, moves }] : [];
  });
}

function canBeReordered(service: IpvsVirtualService): boolean {
  return service.scheduler === 'mh' && service.protocol in PROTOCOL_FLAGS
    && service.realServers.every((rs) => rs.forward in IPVSADM_FORWARD_FLAGS);
}

function movesToCanonicalOrder(listOrder: readonly IpvsRealServer[]): IpvsRealServer[] {
  const insertionOrder = [...listOrder].reverse();
  const canonical = sortRealServers(insertionOrder);
  let kept = 0;
  for (const rs of insertionOrder) {
    if (kept < canonical.length && sameEndpoint(rs, canonical[kept])) kept++;
  }
  return canonical.slice(kept);
}

function sameEndpoint(a: IpvsRealServer, b: IpvsRealServer): boolean {
  return a.address === b.address && a.port === b.port;
}

/** The two ipvsadm commands (argument lists) that move one real server, with its weight and forwarding method. */
export function ipvsadmMove(service: IpvsVirtualService, rs: IpvsRealServer): { remove: string[]; add: string[] } {
  const target = [PROTOCOL_FLAGS[service.protocol], hostPort(service.address, service.port), '-r', hostPort(rs.address, rs.port)];
  return { remove: ['-d', ...target], add: ['-a', ...target, IPVSADM_FORWARD_FLAGS[rs.forward], '-w', String(rs.weight)] };
}

/** `198.18.0.21:8080` or `[2001:db8::5]:8080`, as ipvsadm and log lines write them. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
