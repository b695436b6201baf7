import * as ipaddr from 'ipaddr.js';
import { Endpoint, EndpointPort, EndpointSlice } from './endpoint-slices';
import { parseAddress } from '../../lib/ip';
import { KeepalivedModel, LoadBalancerServiceModel, RealServerModel, VirtualServerModel } from '../../lib/model';

/** Every real server gets this weight so IPVS `mh` builds the same table on every LB pod. */
export const REAL_SERVER_WEIGHT = 1;
/**
 * A terminating backend that still serves: IPVS sends it no new connection (`mh` leaves weight-0
 * servers out of its table) and goes on forwarding the ones it has. Removing it instead would
 * drop their packets from then on.
 */
export const DRAINING_WEIGHT = 0;

/**
 * Pure: the backends' EndpointSlices in, keepalived's whole model out. The output depends only on
 * the set of usable endpoints, never on slice or event order, so every LB pod renders the same file.
 */
export function reconcile(service: LoadBalancerServiceModel, slices: readonly EndpointSlice[], routerId: string): KeepalivedModel {
  return keepalivedModel(service, backendEndpoints(slices), routerId);
}

/** The second half of `reconcile`, for a caller that also reads the endpoints' figures. */
export function keepalivedModel(service: LoadBalancerServiceModel, endpoints: BackendEndpoints, routerId: string): KeepalivedModel {
  const virtualServers: VirtualServerModel[] = [];
  for (const vip of service.vips) {
    const family = addressFamily(vip);
    for (const port of service.ports) {
      virtualServers.push({
        vip,
        port: port.port,
        protocol: port.protocol,
        scheduler: service.scheduler,
        forwardingMethod: service.forwardingMethod,
        healthCheck: service.healthCheck,
        realServers: realServersFor(endpoints, family, port.backendPort, port.protocol),
      });
    }
  }
  return { routerId, virtualServers };
}

/** The backends' slices read once: every usable endpoint address checked and made canonical. */
export interface BackendEndpoints {
  /** Per IP slice: its family, the ports it resolved, its usable addresses and its draining ones (canonical). */
  readonly slices: readonly {
    readonly family: 4 | 6;
    readonly ports: readonly EndpointPort[];
    readonly addresses: readonly string[];
    readonly draining: readonly string[];
  }[];
  /** Distinct usable backend addresses across all slices. */
  readonly usable: number;
  /** `slice/address` of every usable endpoint address that is not a literal of its slice's family, sorted. */
  readonly malformed: string[];
}

export function backendEndpoints(slices: readonly EndpointSlice[]): BackendEndpoints {
  const read: BackendEndpoints['slices'][number][] = [];
  const distinct = new Set<string>();
  const malformed: string[] = [];
  for (const slice of slices) {
    const family = familyOfAddressType(slice.addressType);
    if (family === undefined) continue;
    const addresses: string[] = [];
    const draining: string[] = [];
    for (const endpoint of listOf(slice.endpoints)) {
      const into = isUsable(endpoint) ? addresses : isDraining(endpoint) ? draining : undefined;
      if (!into) continue;
      for (const address of listOf(endpoint.addresses)) {
        const canonical = canonicalAddress(address, family);
        if (canonical) into.push(canonical);
        else malformed.push(`${slice.metadata?.name ?? '?'}/${JSON.stringify(address)}`);
      }
    }
    addresses.forEach((a) => distinct.add(a));
    read.push({ family, ports: listOf(slice.ports), addresses, draining });
  }
  return { slices: read, usable: distinct.size, malformed: malformed.sort() };
}

/** True when the model has at least one real server that takes new connections. */
export function hasRealServers(model: KeepalivedModel): boolean {
  return model.virtualServers.some((vs) => vs.realServers.some((rs) => rs.weight > 0));
}

/**
 * Only endpoints that are ready and not terminating take new connections. The API says a missing
 * `ready` means ready and a missing `terminating` means not terminating.
 */
export function isUsable(endpoint: Endpoint): boolean {
  const conditions = endpoint.conditions ?? {};
  return conditions.ready !== false && conditions.terminating !== true;
}

/** A terminating endpoint that says it still serves: it finishes its connections, takes no new one. */
export function isDraining(endpoint: Endpoint): boolean {
  const conditions = endpoint.conditions ?? {};
  return conditions.terminating === true && conditions.serving === true;
}

function realServersFor(endpoints: BackendEndpoints, family: 4 | 6, backendPort: number, protocol: string): RealServerModel[] {
  // A slice lists ports resolved for its endpoints; it serves this virtual port only if it has ours.
  const serving = endpoints.slices.filter((s) => s.family === family && s.ports.some((p) => p.port === backendPort && (p.protocol ?? 'TCP') === protocol));
  const byKey = new Map<string, RealServerModel>();
  // Draining first, so that an address another slice lists as usable ends up usable.
  const byWeight = [
    [DRAINING_WEIGHT, serving.flatMap((s) => s.draining)],
    [REAL_SERVER_WEIGHT, serving.flatMap((s) => s.addresses)],
  ] as const;
  for (const [weight, addresses] of byWeight) {
    for (const address of addresses) byKey.set(`${address}|${backendPort}`, { address, port: backendPort, weight });
  }
  return sortRealServers([...byKey.values()]);
}

/** Numeric address order, then port: the same on every pod whatever order events came in. */
export function sortRealServers<T extends { readonly address: string; readonly port: number }>(servers: readonly T[]): T[] {
  // Parse each address once: the comparator runs n log n times.
  const keyed = servers.map((server) => ({ server, bytes: ipaddr.parse(server.address).toByteArray() }));
  keyed.sort((a, b) => {
    if (a.bytes.length !== b.bytes.length) return a.bytes.length - b.bytes.length;
    for (let i = 0; i < a.bytes.length; i++) {
      if (a.bytes[i] !== b.bytes[i]) return a.bytes[i] - b.bytes[i];
    }
    return a.server.port - b.server.port;
  });
  return keyed.map((k) => k.server);
}

/**
 * The API server validates EndpointSlices, but the controller must survive any object a list or
 * watch hands it: a missing or non-list field reads as empty, and entries that are not objects
 * (or, for addresses, not strings) are skipped.
 */
function listOf<T>(value: readonly T[] | null | undefined): T[] {
  return Array.isArray(value) ? value.filter((item) => item !== null && (typeof item === 'object' || typeof item === 'string')) : [];
}

/** The address in canonical form, if it is a literal of the slice's family (no zone ids, no junk). */
function canonicalAddress(text: string, family: 4 | 6): string | undefined {
  const address = parseAddress(text);
  return address && (address.kind() === 'ipv4' ? 4 : 6) === family ? address.toString() : undefined;
}

function addressFamily(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

function familyOfAddressType(addressType: string): 4 | 6 | undefined {
  if (addressType === 'IPv4') return 4;
  if (addressType === 'IPv6') return 6;
  return undefined; // FQDN slices cannot become IPVS real servers.
}
