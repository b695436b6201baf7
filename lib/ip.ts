import * as ipaddr from 'ipaddr.js';

/** A parsed, canonical CIDR prefix. */
export interface Cidr {
  /** Canonical text, e.g. `10.1.1.0/24` or `2001:db8::/64`. */
  readonly text: string;
  readonly family: 4 | 6;
  readonly address: ipaddr.IPv4 | ipaddr.IPv6;
  readonly length: number;
}

/** Parses a literal IPv4 (strict dotted quad) or IPv6 address; undefined when it is not one. */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (typeof text !== 'string') return undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes(':') || !ipaddr.IPv6.isValid(text)) return undefined;
  const v6 = ipaddr.IPv6.parse(text);
  // Zone ids (fe80::1%eth0) have no place in a routing config.
  return v6.zoneId ? undefined : v6;
}

/** True when `text` is a strict dotted-quad IPv4 address (BGP router ids and cluster ids). */
export function isDottedQuad(text: string): boolean {
  return typeof text === 'string' && ipaddr.IPv4.isValidFourPartDecimal(text);
}

/** Canonical text of an address: IPv6 compressed, IPv4 as is. */
export function formatAddress(address: ipaddr.IPv4 | ipaddr.IPv6): string {
  return address.toString();
}

/**
 * Parses a CIDR prefix whose host bits are all zero; undefined when the text is not one.
 * `hostBitsSet` tells a near miss (`10.1.1.5/24`) apart from garbage, for a better error.
 */
export function parseCidr(text: string): { cidr?: Cidr; hostBitsSet?: string } {
  if (typeof text !== 'string') return {};
  const slash = text.indexOf('/');
  if (slash < 0) return {};
  const address = parseAddress(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (!address || !/^\d{1,3}$/.test(lengthText)) return {};
  const length = Number(lengthText);
  const family = address.kind() === 'ipv4' ? 4 : 6;
  if (length > (family === 4 ? 32 : 128)) return {};
  const network = family === 4
    ? ipaddr.IPv4.networkAddressFromCIDR(text)
    : ipaddr.IPv6.networkAddressFromCIDR(text);
  const canonical = `${network.toString()}/${length}`;
  if (network.toString() !== address.toString()) return { hostBitsSet: canonical };
  return { cidr: { text: canonical, family, address: network, length } };
}

/** True when `address` lies inside `cidr`. */
export function cidrContains(cidr: Cidr, address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return address.kind() === cidr.address.kind() && address.match([cidr.address, cidr.length] as any);
}

/** True when two prefixes share any address (one contains the other's network address). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.address) || cidrContains(b, a.address);
}

/** The first host address of a prefix: the network address itself for host routes (/32, /128). */
export function firstHostAddress(cidr: Cidr): string {
  const bits = cidr.family === 4 ? 32 : 128;
  if (cidr.length >= bits - 1) return cidr.address.toString();
  const bytes = cidr.address.toByteArray();
  bytes[bytes.length - 1] += 1;
  return ipaddr.fromByteArray(bytes).toString();
}
