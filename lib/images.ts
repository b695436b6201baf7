import { IConstruct } from 'constructs';
import { throwInvalid } from './errors';
import { isImageReference } from './kubernetes-rules';
import { checkImage } from './validate';
import { LIBRARY_VERSION } from './version';

/** The images a topology runs, as `npm run images` builds them (docs/images.md). */
export enum ImageName {
  /** `ecmp-lb` (controller, init, node and reflector agents) with keepalived, ipvsadm and nftables. */
  LB = 'lb',
  /** exabgp, the LB pods' BGP speaker. */
  EXABGP = 'exabgp',
  /** gobgpd, the in-cluster route reflector. */
  GOBGPD = 'gobgpd',
}

/**
 * Where the images come from: one registry and tag for all of them, optionally pinned by digest.
 * Set on `EcmpApp`, `EcmpTopology` or a construct; a construct's settings win over its chart's,
 * which win over the app's, field by field.
 */
export interface ImageSource {
  /**
   * Registry and repository prefix: the images are `<registry>/lb`, `<registry>/exabgp` and
   * `<registry>/gobgpd`, e.g. `ghcr.io/acme/cdk8s-ecmp-lb`.
   * @default 'cdk8s-ecmp-lb' (the names `npm run images` tags locally)
   */
  readonly registry?: string;
  /**
   * Tag of every image.
   * @default this library's version
   */
  readonly tag?: string;
  /**
   * Pins the LB image by digest (`sha256:` and 64 hex digits, as `npm run images` prints it).
   * @default the tag alone
   */
  readonly lbDigest?: string;
  /**
   * Pins the exabgp image by digest.
   * @default the tag alone
   */
  readonly exabgpDigest?: string;
  /**
   * Pins the gobgpd image by digest.
   * @default the tag alone
   */
  readonly gobgpdDigest?: string;
}

export const DEFAULT_IMAGE_REGISTRY = 'cdk8s-ecmp-lb';

/** Constructs that carry an ImageSource for their subtree (EcmpApp, EcmpTopology). */
const IMAGE_SOURCE = Symbol.for('cdk8s-ecmp-lb.image-source');

/** Checks `source` and attaches it to `scope` for every construct below it. */
export function setImageSource(scope: IConstruct, field: string, source: ImageSource | undefined): void {
  if (source === undefined) return;
  checkImageSource(scope, field, source);
  (scope as any)[IMAGE_SOURCE] = source;
}

/**
 * The reference of one image for `scope`: `explicit` when given (checked), else composed from the
 * image sources of `own`, the enclosing chart and the app.
 */
export function imageReference(
  scope: IConstruct,
  name: ImageName,
  own: ImageSource | undefined,
  explicit: { field: string; value: string | undefined },
): string {
  if (explicit.value !== undefined) return checkImage(scope, explicit.field, explicit.value);
  if (own !== undefined) checkImageSource(scope, 'images', own);
  const sources = [own, ...[...scope.node.scopes].reverse().map(s => (s as any)[IMAGE_SOURCE] as ImageSource | undefined)]
    .filter((s): s is ImageSource => s !== undefined);
  const pick = <K extends keyof ImageSource>(key: K) => sources.find(s => s[key] !== undefined)?.[key];
  const digest = pick(`${name}Digest` as keyof ImageSource);
  const reference = `${pick('registry') ?? DEFAULT_IMAGE_REGISTRY}/${name}:${pick('tag') ?? LIBRARY_VERSION}${digest ? `@${digest}` : ''}`;
  return checkImage(scope, 'images (the composed reference)', reference);
}

function checkImageSource(scope: IConstruct, field: string, source: ImageSource): void {
  if (typeof source !== 'object' || source === null) {
    throwInvalid(scope, field, source, 'is not an ImageSource', 'pass { registry, tag } or leave it unset');
  }
  if (source.registry !== undefined && (typeof source.registry !== 'string' || !isRegistryPrefix(source.registry))) {
    throwInvalid(scope, `${field}.registry`, source.registry, 'is not a registry and repository prefix', 'write host[:port]/path without a tag, e.g. "ghcr.io/acme/cdk8s-ecmp-lb" or "registry.local:5000/ecmp"');
  }
  if (source.tag !== undefined && !(typeof source.tag === 'string' && /^[\w][\w.-]{0,127}$/.test(source.tag))) {
    throwInvalid(scope, `${field}.tag`, source.tag, 'is not an image tag', 'use at most 128 letters, digits, "_", "." and "-", not starting with "." or "-", e.g. "0.1.0"');
  }
  for (const key of ['lbDigest', 'exabgpDigest', 'gobgpdDigest'] as const) {
    const digest = source[key];
    if (digest !== undefined && !(typeof digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(digest))) {
      throwInvalid(scope, `${field}.${key}`, digest, 'is not an image digest', 'write "sha256:" and 64 lower-case hex digits, as `npm run images` prints them');
    }
  }
}

/** A registry prefix is valid when a reference built on it is (a tag or digest in it is not). */
function isRegistryPrefix(registry: string): boolean {
  return isImageReference(`${registry}/lb:x`);
}
