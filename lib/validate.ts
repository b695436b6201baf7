import { Chart, Duration } from 'cdk8s';
import { IConstruct } from 'constructs';
import { throwInvalid } from './errors';
import { Cidr, hostPrefix, isDottedQuad, parseAddress, parseCidr, specialPurpose } from './ip';
import { isDnsLabel, isDnsSubdomain, isImageReference, isLabelValue, isQualifiedName, isResourceName, quantityValue } from './kubernetes-rules';
import { BgpTimersModel } from './model';
import * as k8s from '../imports/k8s';

/** Field checks shared by the constructs. Each returns the checked (canonical) value or throws. */

/** AS numbers no speaker may use: 23456 is AS_TRANS (RFC 6793), 65535 and 4294967295 are reserved (RFC 7300). */
const RESERVED_ASNS = [23456, 65535, 4294967295];

export function checkAsn(scope: IConstruct, field: string, asn: number): number {
  const fix = 'use an integer in 1..4294967294 other than 23456 and 65535 (private: 64512-65534 or 4200000000-4294967294)';
  if (!Number.isInteger(asn) || asn < 1 || asn > 4294967295) {
    throwInvalid(scope, field, asn, 'is not a valid AS number', fix);
  }
  if (RESERVED_ASNS.includes(asn)) {
    throwInvalid(scope, field, asn, 'is a reserved AS number (23456 is AS_TRANS, RFC 6793; 65535 and 4294967295 are reserved, RFC 7300)', fix);
  }
  return asn;
}

/** The namespace of the construct's chart, which every namespaced object it creates lands in. */
export function checkNamespace(scope: IConstruct): string {
  const namespace = Chart.of(scope).namespace ?? 'default';
  if (!isDnsLabel(namespace)) {
    throwInvalid(scope, 'namespace', namespace, 'is not a Kubernetes namespace name (an RFC 1123 label: at most 63 lower-case letters, digits and "-", starting and ending with a letter or digit)', 'set the chart\'s namespace to a name such as "ecmp-lb"');
  }
  return namespace;
}

/** Label keys and values (nodeSelector, backend selectors), as the API server checks them. */
export function checkLabels(scope: IConstruct, field: string, labels: { [key: string]: string } | undefined): { [key: string]: string } | undefined {
  if (labels === undefined) return undefined;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throwInvalid(scope, field, labels, 'is not a map of labels', 'pass an object such as { "kubernetes.io/os": "linux" }');
  }
  const copy: { [key: string]: string } = {};
  for (const [key, value] of Object.entries(labels)) {
    if (!isQualifiedName(key)) {
      throwInvalid(scope, `${field} key`, key, 'is not a label key', 'use an optional DNS-subdomain prefix and "/", then at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit, e.g. "node-role.kubernetes.io/lb"');
    }
    if (!isLabelValue(value)) {
      throwInvalid(scope, `${field}["${key}"]`, value, 'is not a label value', 'use at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit (or "")');
    }
    copy[key] = value;
  }
  // A plain copy: cdk8s cannot serialize an object without a prototype.
  return copy;
}

/** A node name, as the `kubernetes.io/hostname` label and `spec.nodeName` carry it. */
export function checkNodeName(scope: IConstruct, field: string, name: string | undefined): string | undefined {
  if (name !== undefined && !(isDnsSubdomain(name) && isLabelValue(name))) {
    throwInvalid(scope, field, name, 'is not a node name (an RFC 1123 subdomain that fits a label value: at most 63 lower-case letters, digits, "-" and ".")', 'use the name `kubectl get nodes` prints, e.g. "node-1"');
  }
  return name;
}

/** An image reference the container runtime can pull. */
export function checkImage(scope: IConstruct, field: string, image: string): string {
  if (!isImageReference(image)) {
    throwInvalid(scope, field, image, 'is not an image reference', 'write [registry[:port]/]repository[:tag][@sha256:<64 hex digits>] with a lower-case repository, e.g. "registry.example.com/ecmp/lb:0.1.0"');
  }
  return image;
}

/** Container resources: known resource names, quantities the API server parses, requests no more than limits. */
export function checkResources(
  scope: IConstruct,
  field: string,
  resources: k8s.ResourceRequirements | undefined,
): k8s.ResourceRequirements | undefined {
  if (resources === undefined) return undefined;
  const values: Record<'requests' | 'limits', Map<string, number>> = { requests: new Map(), limits: new Map() };
  for (const kind of ['requests', 'limits'] as const) {
    for (const [name, quantity] of Object.entries(resources[kind] ?? {})) {
      if (!isResourceName(name)) {
        throwInvalid(scope, `${field}.${kind}`, name, 'is not a resource name', 'use "cpu", "memory", "ephemeral-storage", "hugepages-<size>" or an extended resource such as "example.com/device"');
      }
      // Duck-typed: the app's cdk8s-plus copy may not be ours.
      const text = typeof quantity === 'object' && quantity !== null && 'value' in quantity ? (quantity as k8s.Quantity).value : quantity;
      const value = typeof text === 'number' ? text : quantityValue(String(text));
      if (!Number.isFinite(value) || value < 0) {
        throwInvalid(scope, `${field}.${kind}.${name}`, text, 'is not a resource quantity', 'use a non-negative number with an optional suffix, e.g. k8s.Quantity.fromString("100m") or k8s.Quantity.fromString("64Mi")');
      }
      values[kind].set(name, value);
    }
  }
  for (const [name, request] of values.requests) {
    const limit = values.limits.get(name);
    if (limit !== undefined && request > limit) {
      throwInvalid(scope, `${field}.requests.${name}`, resources.requests![name].value, `is more than the limit ${resources.limits![name].value}`, 'request at most the limit (the API server refuses the pod otherwise)');
    }
  }
  return resources;
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

/** The address of a BGP speaker (router, reflector): a unicast address a session can reach. */
export function checkPeerAddress(scope: IConstruct, field: string, text: string): string {
  const address = checkAddress(scope, field, text);
  const special = specialPurpose(parseCidr(hostPrefix(address)).cidr!);
  if (special) {
    throwInvalid(scope, field, text, `is in ${special}, where no BGP session between machines can run`, 'use the speaker\'s unicast address on the node network');
  }
  return address;
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

/**
 * Kubernetes object names and file names derive from these, Service names among them: an RFC 1035
 * label (a Service name must start with a letter), short enough for suffixes.
 */
export function checkName(scope: IConstruct, field: string, name: string): string {
  if (typeof name !== 'string' || !/^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/.test(name)) {
    throwInvalid(scope, field, name, 'is not a DNS label of at most 40 characters starting with a letter', 'use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit, e.g. "web"');
  }
  return name;
}

/** For each item, the index of the first item with the same key: `i` itself when the item is the first of its key. */
export function firstWithSameKey<T>(items: readonly T[], key: (item: T) => string): number[] {
  const first = new Map<string, number>();
  return items.map((item, i) => {
    const k = key(item);
    if (!first.has(k)) first.set(k, i);
    return first.get(k)!;
  });
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
