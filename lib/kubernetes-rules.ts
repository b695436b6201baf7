/**
 * The API server's own rules for names and values (k8s.io/apimachinery validation, Kubernetes
 * 1.27), as predicates: synth refuses what the API server would, with a message that says why.
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** RFC 1123 label: namespaces, Service names, container names. */
export function isDnsLabel(text: unknown): boolean {
  return typeof text === 'string' && text.length <= 63 && DNS_LABEL.test(text);
}

/** RFC 1123 subdomain: most object names, node names, label-key prefixes. */
export function isDnsSubdomain(text: unknown): boolean {
  return typeof text === 'string' && text.length >= 1 && text.length <= 253 && text.split('.').every(part => DNS_LABEL.test(part));
}

/** A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
export function isQualifiedName(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  const parts = text.split('/');
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1];
  if (parts.length === 2 && !isDnsSubdomain(parts[0])) return false;
  return name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

/** A label value: empty, or at most 63 characters of the qualified-name alphabet. */
export function isLabelValue(text: unknown): boolean {
  return typeof text === 'string' && (text === '' || (text.length <= 63 && QUALIFIED_NAME_PART.test(text)));
}

/** A resource quantity such as `100m`, `64Mi`, `1.5`, `2e3` (resource.Quantity's grammar), not negative. */
export function isQuantity(text: unknown): boolean {
  return typeof text === 'string' && /^\+?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/.test(text);
}

const SUFFIX_FACTORS: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The value of a quantity, to compare requests with limits; NaN when it is not one. */
export function quantityValue(text: string): number {
  if (!isQuantity(text)) return NaN;
  const match = /^\+?([\d.]+)(.*)$/.exec(text)!;
  const suffix = match[2];
  if (/^[eE]/.test(suffix)) return Number(`${match[1]}${suffix}`);
  return Number(match[1]) * SUFFIX_FACTORS[suffix];
}

/** A resource name: `cpu`, `memory`, `ephemeral-storage`, `hugepages-2Mi`, or an extended resource `example.com/gpu`. */
export function isResourceName(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  if (['cpu', 'memory', 'ephemeral-storage'].includes(text)) return true;
  if (text.startsWith('hugepages-')) return isQuantity(text.slice('hugepages-'.length));
  return text.includes('/') && isQualifiedName(text) && !text.startsWith('kubernetes.io/') && !text.startsWith('requests.');
}

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REGISTRY_HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::\\d+)?';
const IMAGE_REFERENCE = new RegExp(`^(?:(${REGISTRY_HOST})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$`);
const PATH_COMPONENT_ONLY = new RegExp(`^${PATH_COMPONENT}$`);

/**
 * An image reference as the container runtime parses it (distribution's reference grammar):
 * `[host[:port]/]path[:tag][@algorithm:hex]`, path components in lower case.
 */
export function isImageReference(text: unknown): boolean {
  if (typeof text !== 'string' || text.length === 0 || text.length > 512) return false;
  const match = IMAGE_REFERENCE.exec(text);
  if (!match) return false;
  const [, hostText, repository, , digestText] = match;
  if (repository.length > 255) return false;
  // Without a dot, a colon or `localhost`, the first part is a path component, which is lower case.
  if (hostText !== undefined && !/[.:]/.test(hostText) && hostText !== 'localhost' && !PATH_COMPONENT_ONLY.test(hostText)) return false;
  // sha256 is the algorithm registries use; its digests have exactly 64 hex digits.
  return digestText === undefined || !digestText.startsWith('sha256:') || /^sha256:[0-9a-f]{64}$/.test(digestText);
}
