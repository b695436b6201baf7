import { Duration } from 'cdk8s';
import { IConstruct } from 'constructs';
import { throwInvalid } from './errors';
import { Cidr, isDottedQuad, parseAddress, parseCidr } from './ip';
import { BgpTimersModel } from './model';

/** Field checks shared by the constructs. Each returns the checked (canonical) value or throws. */

export function checkAsn(scope: IConstruct, field: string, asn: number): number {
  if (!Number.isInteger(asn) || asn < 1 || asn > 4294967295) {
    throwInvalid(scope, field, asn, 'is not a valid AS number', 'use an integer in 1..4294967295 (private: 64512-65534 or 4200000000-4294967294)');
  }
  return asn;
}

export function checkRouterId(scope: IConstruct, field: string, id: string): string {
  if (!isDottedQuad(id)) {
    throwInvalid(scope, field, id, 'is not a dotted-quad BGP identifier', 'write four decimal octets such as "10.0.0.109" (BGP ids are 32-bit even on IPv6 sessions)');
  }
  return id;
}

export function checkAddress(scope: IConstruct, field: string, text: string): string {
  const address = parseAddress(text);
  if (!address) {
    throwInvalid(scope, field, text, 'is not an IP address', 'write a literal IPv4 address such as "10.0.0.109" or an IPv6 address such as "2001:db8::1"');
  }
  return address.toString();
}

export function checkCidr(scope: IConstruct, field: string, text: string): Cidr {
  const { cidr, hostBitsSet } = parseCidr(text);
  if (hostBitsSet) {
    throwInvalid(scope, field, text, 'has host bits set', `write the network address: "${hostBitsSet}"`);
  }
  if (!cidr) {
    throwInvalid(scope, field, text, 'is not a CIDR prefix', 'write an address and a prefix length such as "10.1.1.0/24" or "2001:db8:1::/64"');
  }
  return cidr;
}

export function checkPort(scope: IConstruct, field: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throwInvalid(scope, field, port, 'is not a valid port', 'use an integer in 1..65535');
  }
  return port;
}

export function checkCount(scope: IConstruct, field: string, count: number, min: number, max: number, fix: string): number {
  if (!Number.isInteger(count) || count < min || count > max) {
    throwInvalid(scope, field, count, `is not an integer in ${min}..${max}`, fix);
  }
  return count;
}

/** Kubernetes object names and file names derive from these: a DNS label, short enough for suffixes. */
export function checkName(scope: IConstruct, field: string, name: string): string {
  if (typeof name !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/.test(name)) {
    throwInvalid(scope, field, name, 'is not a DNS label of at most 40 characters', 'use lower-case letters, digits and "-", starting and ending with a letter or digit, e.g. "web"');
  }
  return name;
}

export function checkNonEmpty<T>(scope: IConstruct, field: string, list: readonly T[] | undefined, fix: string): readonly T[] {
  if (!Array.isArray(list) || list.length === 0) {
    throwInvalid(scope, field, list, 'is empty', fix);
  }
  return list;
}

/** BGP timers as constructs take them. */
export interface BgpTimers {
  /**
   * Hold time: a silent peer is declared dead after this long.
   * @default Duration.seconds(9)
   */
  readonly holdTime?: Duration;
  /**
   * Keepalive interval, at most a third of the hold time.
   * @default a third of the hold time
   */
  readonly keepaliveInterval?: Duration;
  /**
   * Delay between attempts to open a session.
   * @default Duration.seconds(5)
   */
  readonly connectRetry?: Duration;
}

/** Default hold time: a frozen LB is dropped within ~9 s (the paper's exabgp used 1800 s). */
export const DEFAULT_HOLD_TIME_SECONDS = 9;

/** Durations are read with `integral: false`, so a fraction of a second is refused here, in the usual shape, not by cdk8s. */
export function checkTimers(scope: IConstruct, timers: BgpTimers, inherited?: BgpTimersModel): BgpTimersModel {
  const hold = timers.holdTime?.toSeconds({ integral: false }) ?? inherited?.holdTimeSeconds ?? DEFAULT_HOLD_TIME_SECONDS;
  if (!Number.isInteger(hold) || hold < 3 || hold > 65535) {
    throwInvalid(scope, 'holdTime', `${hold}s`, 'is not a whole number of seconds in 3..65535 (RFC 4271 forbids 1-2 s)', 'use Duration.seconds(3) or more; 9 s detects a frozen speaker in under 10 s');
  }
  const keepalive = timers.keepaliveInterval?.toSeconds({ integral: false })
    ?? (timers.holdTime ? Math.floor(hold / 3) : inherited?.keepaliveSeconds ?? Math.floor(hold / 3));
  if (!Number.isInteger(keepalive) || keepalive < 1 || keepalive * 3 > hold) {
    throwInvalid(scope, 'keepaliveInterval', `${keepalive}s`, `is not a whole number of seconds between 1 and a third of the hold time (${hold}s)`, `use Duration.seconds(${Math.max(1, Math.floor(hold / 3))}) or leave it unset`);
  }
  const connectRetry = timers.connectRetry?.toSeconds({ integral: false }) ?? inherited?.connectRetrySeconds ?? 5;
  if (!Number.isInteger(connectRetry) || connectRetry < 1 || connectRetry > 65535) {
    throwInvalid(scope, 'connectRetry', `${connectRetry}s`, 'is not a whole number of seconds in 1..65535', 'use Duration.seconds(5)');
  }
  return { holdTimeSeconds: hold, keepaliveSeconds: keepalive, connectRetrySeconds: connectRetry };
}
