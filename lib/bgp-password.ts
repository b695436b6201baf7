import * as kplus from 'cdk8s-plus-27';
import { IConstruct } from 'constructs';
import { throwInvalid } from './errors';
import { BGP_PASSWORD_ENV } from './model';
import * as k8s from '../imports/k8s';

/**
 * A TCP-MD5 key (RFC 2385) for BGP sessions, kept in a Kubernetes Secret. The key never appears in
 * a synthesized file: pods get it through an environment variable from the Secret, and files for
 * machines outside the cluster carry the placeholder `${ECMP_LB_BGP_PASSWORD}` that the operator
 * fills from their secret store (docs/security.md).
 *
 * The key must be 1-80 characters of `A-Z a-z 0-9 . _ ~ + = / @ % : -` (e.g. `openssl rand -base64 48`);
 * the pods refuse to start with anything else.
 */
export interface BgpPassword {
  /** The Secret holding the key, in the namespace of the pods that use it. */
  readonly secret: kplus.ISecret;
  /** The key of the Secret's data entry holding the TCP-MD5 key. */
  readonly key: string;
  /**
   * Also sign the sessions between the LB pods and the route reflectors, not only those between
   * reflectors and routers. Needs every reflector to run `daemon: ReflectorDaemon.FRR` (standalone)
   * or gobgpd >= 3.21: older gobgpd (3.10, Debian 12's, the default image) sets no TCP-MD5 key for
   * dynamic neighbors, so signed LB sessions never come up (and unsigned ones are still accepted);
   * see docs/security.md.
   * @default false
   */
  readonly signLoadBalancerSessions?: boolean;
}

/** Checks a BgpPassword prop; returns it or throws with the usual message shape. */
export function checkBgpPassword(scope: IConstruct, field: string, password: BgpPassword | undefined): BgpPassword | undefined {
  if (password === undefined) return undefined;
  if (typeof password !== 'object' || password === null || !password.secret || typeof password.secret.name !== 'string') {
    throwInvalid(scope, `${field}.secret`, password?.secret === undefined ? undefined : String(password.secret), 'is not a Secret', 'pass a cdk8s-plus Secret, e.g. kplus.Secret.fromSecretName(this, "bgp", "bgp-md5")');
  }
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(password.secret.name)) {
    throwInvalid(scope, `${field}.secret`, password.secret.name, 'is not a Secret name', 'use a DNS subdomain name: lower-case letters, digits, "-" and ".", e.g. "bgp-md5"');
  }
  if (typeof password.key !== 'string' || !/^[-._a-zA-Z0-9]{1,253}$/.test(password.key)) {
    throwInvalid(scope, `${field}.key`, password.key, 'is not a Secret data key', 'use letters, digits, "-", "_" and "." only, e.g. "password"');
  }
  return password;
}

/** The same key (Secret name and data key) for both, or both unset. */
export function sameBgpPassword(a: BgpPassword | undefined, b: BgpPassword | undefined): boolean {
  if (!a || !b) return a === b;
  return a.secret.name === b.secret.name && a.key === b.key && (a.signLoadBalancerSessions ?? false) === (b.signLoadBalancerSessions ?? false);
}

/** The container env entry carrying the key from the Secret. */
export function bgpPasswordEnv(password: BgpPassword): k8s.EnvVar {
  return { name: BGP_PASSWORD_ENV, valueFrom: { secretKeyRef: { name: password.secret.name, key: password.key } } };
}
