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

/** The one-address prefix of an address: `A/32` or `A/128`. */
export function hostPrefix(address: string): string {
  return `${address}/${address.includes(':') ? 128 : 32}`;
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

/** An address as an integer. */
export function addressValue(address: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return address.toByteArray().reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
}

/** First and last address of a prefix as integers, for sorting and sweeping. */
export function cidrRange(cidr: Cidr): { start: bigint; end: bigint } {
  const bits = BigInt(cidr.family === 4 ? 32 : 128);
  const start = addressValue(cidr.address);
  return { start, end: start + (1n << (bits - BigInt(cidr.length))) - 1n };
}

/**
 * Every pair of overlapping prefixes among `items`, in O(n log n): CIDR prefixes are either nested or
 * disjoint, so after sorting by start (widest first) a stack of the enclosing prefixes finds each
 * prefix's innermost container.
 */
export function overlappingPairs<T>(items: { cidr: Cidr; owner: T }[]): [{ cidr: Cidr; owner: T }, { cidr: Cidr; owner: T }][] {
  const pairs: [{ cidr: Cidr; owner: T }, { cidr: Cidr; owner: T }][] = [];
  for (const family of [4, 6]) {
    const sorted = items.filter(i => i.cidr.family === family)
      .map(item => ({ item, ...cidrRange(item.cidr) }))
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.item.cidr.length - b.item.cidr.length));
    const stack: typeof sorted = [];
    for (const current of sorted) {
      while (stack.length > 0 && stack[stack.length - 1].end < current.start) stack.pop();
      if (stack.length > 0) pairs.push([stack[stack.length - 1].item, current.item]);
      stack.push(current);
    }
  }
  return pairs;
}

/** Ranges no unicast service or BGP peer can live in, with why. */
const SPECIAL_RANGES: [string, string][] = [
  ['0.0.0.0/8', 'the IPv4 "this network" range'],
  ['127.0.0.0/8', 'IPv4 loopback'],
  ['169.254.0.0/16', 'IPv4 link-local'],
  ['224.0.0.0/4', 'IPv4 multicast'],
  ['240.0.0.0/4', 'reserved IPv4 space (and broadcast)'],
  ['::/128', 'the IPv6 unspecified address'],
  ['::1/128', 'IPv6 loopback'],
  ['::ffff:0:0/96', 'IPv4-mapped IPv6 space'],
  ['fe80::/10', 'IPv6 link-local'],
  ['ff00::/8', 'IPv6 multicast'],
];
const SPECIAL_CIDRS = SPECIAL_RANGES.map(([text, why]) => ({ cidr: parseCidr(text).cidr!, why }));

/** Why no router forwards unicast traffic for this prefix (loopback, link-local, multicast, ...), or undefined. */
export function specialPurpose(cidr: Cidr): string | undefined {
  return SPECIAL_CIDRS.find(special => cidrsOverlap(special.cidr, cidr))?.why;
}
