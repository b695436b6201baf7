/**
 * The API server's own rules for names, labels, annotations, ports, env vars, quantities and
 * images (k8s.io/apimachinery/pkg/util/validation and pkg/apis/core/validation, Kubernetes 1.27),
 * which the OpenAPI schema (k8s-schema.ts) does not carry: a manifest can pass the schema and still
 * be refused by `kubectl apply`. Each rule returns the problems it finds; an empty list is a pass.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const show = (value: unknown) => JSON.stringify(value) ?? String(value);

/** IsDNS1123Label: at most 63 lower-case alphanumerics and '-', alphanumeric at both ends. */
export function dns1123Label(value: string): string[] {
  const errors: string[] = [];
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  if (value.length > 63) errors.push(`${show(value)} is longer than 63 characters (a DNS-1123 label)`);
  if (!DNS1123_LABEL.test(value)) errors.push(`${show(value)} is not a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?)`);
  return errors;
}

/** IsDNS1035Label (Service names): like a DNS-1123 label, but starting with a letter. */
export function dns1035Label(value: string): string[] {
  const errors: string[] = [];
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  if (value.length > 63) errors.push(`${show(value)} is longer than 63 characters (a DNS-1035 label)`);
  if (!DNS1035_LABEL.test(value)) errors.push(`${show(value)} is not a DNS-1035 label ([a-z]([-a-z0-9]*[a-z0-9])?)`);
  return errors;
}

/** IsDNS1123Subdomain: at most 253 characters of dot-separated DNS-1123 labels. */
export function dns1123Subdomain(value: string): string[] {
  const errors: string[] = [];
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  if (value.length > 253) errors.push(`${show(value)} is longer than 253 characters (a DNS-1123 subdomain)`);
  if (!DNS1123_SUBDOMAIN.test(value)) errors.push(`${show(value)} is not a DNS-1123 subdomain`);
  return errors;
}

/** ValidatePathSegmentName (RBAC object names): not '.' or '..', no '/' or '%'. */
export function pathSegmentName(value: string): string[] {
  if (typeof value !== 'string' || value === '') return [`${show(value)} is not a name`];
  if (value === '.' || value === '..') return [`${show(value)} may not be '.' or '..'`];
  return /[/%]/.test(value) ? [`${show(value)} may not contain '/' or '%'`] : [];
}

/** IsQualifiedName: label and annotation keys, `[prefix/]name` with a DNS-subdomain prefix and a name of <= 63. */
export function qualifiedName(value: string): string[] {
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  const parts = value.split('/');
  let name: string;
  const errors: string[] = [];
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const [prefix] = parts;
    name = parts[1];
    if (prefix.length === 0) errors.push(`${show(value)} has an empty prefix`);
    else errors.push(...dns1123Subdomain(prefix).map(e => `prefix of ${show(value)}: ${e}`));
  } else {
    return [`${show(value)} has more than one '/'`];
  }
  if (name.length === 0) {
    errors.push(`${show(value)} has an empty name part`);
  } else {
    if (name.length > 63) errors.push(`name part of ${show(value)} is longer than 63 characters`);
    if (!QUALIFIED_NAME.test(name)) errors.push(`name part of ${show(value)} is not ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`);
  }
  return errors;
}

/** IsValidLabelValue: empty, or at most 63 of [-A-Za-z0-9_.], alphanumeric at both ends. */
export function labelValue(value: string): string[] {
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  const errors: string[] = [];
  if (value.length > 63) errors.push(`${show(value)} is longer than 63 characters (a label value)`);
  if (!LABEL_VALUE.test(value)) errors.push(`${show(value)} is not a label value (([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])`);
  return errors;
}

/** ValidateLabels (also nodeSelector and matchLabels): every key a qualified name, every value a label value. */
export function labels(map: Record<string, unknown> | undefined): string[] {
  if (map === undefined || map === null) return [];
  if (typeof map !== 'object') return [`${show(map)} is not a map`];
  return Object.entries(map).flatMap(([key, value]) => [
    ...qualifiedName(key).map(e => `key: ${e}`),
    ...(typeof value === 'string' ? labelValue(value).map(e => `value of ${show(key)}: ${e}`) : [`value of ${show(key)}: ${show(value)} is not a string`]),
  ]);
}

/** The API server's limit on all of an object's annotations together (keys and values). */
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

/** ValidateAnnotations: qualified-name keys (lower-cased), at most 256 KiB in all. */
export function annotations(map: Record<string, unknown> | undefined): string[] {
  if (map === undefined || map === null) return [];
  const errors: string[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(map)) {
    errors.push(...qualifiedName(key.toLowerCase()).map(e => `key: ${e}`));
    if (typeof value !== 'string') errors.push(`value of ${show(key)} is not a string`);
    total += key.length + String(value).length;
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errors.push(`annotations total ${total} bytes, more than ${TOTAL_ANNOTATION_SIZE_LIMIT}`);
  return errors;
}

/** IsValidPortName (IANA_SVC_NAME): <= 15 of [-a-z0-9], at least one letter, no '--', no '-' at either end. */
export function ianaSvcName(value: string): string[] {
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  const errors: string[] = [];
  if (value.length < 1 || value.length > 15) errors.push(`${show(value)} is not 1-15 characters (IANA_SVC_NAME)`);
  if (!/^[-a-z0-9]+$/.test(value)) errors.push(`${show(value)} may hold only [-a-z0-9]`);
  if (!/[a-z]/.test(value)) errors.push(`${show(value)} has no letter`);
  if (value.includes('--')) errors.push(`${show(value)} holds '--'`);
  if (value.startsWith('-') || value.endsWith('-')) errors.push(`${show(value)} starts or ends with '-'`);
  return errors;
}

/** IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]*, and not '.', '..' or starting with '..'. */
export function envVarName(value: string): string[] {
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  const errors: string[] = [];
  if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(value)) errors.push(`${show(value)} is not an env var name ([-._a-zA-Z][-._a-zA-Z0-9]*)`);
  if (value === '.' || value === '..' || value.startsWith('..')) errors.push(`${show(value)} may not be '.', '..' or start with '..'`);
  return errors;
}

/** IsConfigMapKey: [-._a-zA-Z0-9]+, at most 253, not '.' or '..'. */
export function configMapKey(value: string): string[] {
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  const errors: string[] = [];
  if (value.length === 0 || value.length > 253) errors.push(`${show(value)} is not 1-253 characters (a ConfigMap key)`);
  if (!/^[-._a-zA-Z0-9]+$/.test(value)) errors.push(`${show(value)} is not [-._a-zA-Z0-9]+`);
  if (value === '.' || value === '..' || value.startsWith('..')) errors.push(`${show(value)} may not be '.', '..' or start with '..'`);
  return errors;
}

/** IsValidSysctlName: dot- or slash-separated segments of [a-z0-9] with inner '-' and '_', <= 253. */
export function sysctlName(value: string): string[] {
  if (typeof value !== 'string') return [`${show(value)} is not a string`];
  if (value.length > 253) return [`${show(value)} is longer than 253 characters`];
  return /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/.test(value) ? [] : [`${show(value)} is not a sysctl name`];
}

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const SUFFIX_VALUE: Record<string, number> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/**
 * resource.ParseQuantity: `<signed number><suffix>`, the suffix binary (Ki..Ei), decimal (n u m
 * "" k M G T P E) or an exponent (e3, E-2). Returns the value as a float, or undefined when it is
 * not a quantity. (The API server takes a number in JSON too; cdk8s always writes strings.)
 */
export function parseQuantity(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = QUANTITY.exec(value);
  if (!m) return undefined;
  const [, sign, number, suffix = ''] = m;
  const scale = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : SUFFIX_VALUE[suffix];
  return (sign === '-' ? -1 : 1) * Number(number) * scale;
}

/** A quantity in a container's resources: parseable and not negative. */
export function resourceQuantity(value: unknown): string[] {
  const parsed = parseQuantity(value);
  if (parsed === undefined) return [`${show(value)} is not a resource quantity`];
  return parsed < 0 ? [`${show(value)} is negative`] : [];
}

/** ValidateResourceRequirements: every quantity valid, and no request above its limit. */
export function resourceRequirements(resources: { requests?: Record<string, unknown>; limits?: Record<string, unknown> } | undefined): string[] {
  if (!resources) return [];
  const errors: string[] = [];
  for (const part of ['requests', 'limits'] as const) {
    for (const [name, quantity] of Object.entries(resources[part] ?? {})) {
      errors.push(...qualifiedName(name).map(e => `${part} name: ${e}`));
      errors.push(...resourceQuantity(quantity).map(e => `${part}.${name}: ${e}`));
    }
  }
  for (const [name, request] of Object.entries(resources.requests ?? {})) {
    const limit = resources.limits?.[name];
    if (limit === undefined) continue;
    const r = parseQuantity(request);
    const l = parseQuantity(limit);
    if (r !== undefined && l !== undefined && r > l) errors.push(`requests.${name} ${show(request)} is above limits.${name} ${show(limit)}`);
  }
  return errors;
}

// The container image reference grammar (github.com/distribution/reference, as the kubelet and
// every runtime parse it): [domain[:port]/]path[:tag][@digest], name at most 255 characters.
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/** A container image reference the runtime can parse (and the API server's no-surrounding-blanks rule). */
export function imageReference(value: string): string[] {
  if (typeof value !== 'string' || value === '') return [`${show(value)} is not an image reference`];
  if (value.trim() !== value) return [`${show(value)} has leading or trailing whitespace`];
  const m = REFERENCE.exec(value);
  if (!m) return [`${show(value)} is not an image reference ([domain[:port]/]path[:tag][@digest], lower-case path)`];
  if (m[1].length > 255) return [`name of ${show(value)} is longer than 255 characters`];
  return [];
}

/** Kinds whose objects have no namespace. */
export const CLUSTER_SCOPED_KINDS = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass', 'StorageClass', 'PersistentVolume', 'Node']);

/** The name rule of `metadata.name` for each kind (pkg/apis/*\/validation, 1.27). */
export function objectName(kind: string, name: string): string[] {
  switch (kind) {
    case 'Service':
      return dns1035Label(name);
    case 'Namespace':
      return dns1123Label(name);
    case 'Role': case 'RoleBinding': case 'ClusterRole': case 'ClusterRoleBinding':
      return pathSegmentName(name);
    default:
      return dns1123Subdomain(name);
  }
}

/** A pod spec's own rules (container, volume, port and env names, resources, images, sysctls, labels). */
export function podSpec(spec: any): string[] {
  const errors: string[] = [];
  const containers: any[] = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const containerNames = new Set<string>();
  const volumeNames = new Set<string>();
  for (const volume of spec.volumes ?? []) {
    errors.push(...dns1123Label(volume.name).map(e => `volume name: ${e}`));
    if (volumeNames.has(volume.name)) errors.push(`volume ${show(volume.name)} is defined twice`);
    volumeNames.add(volume.name);
    if (volume.configMap) errors.push(...dns1123Subdomain(volume.configMap.name).map(e => `configMap volume ${volume.name}: ${e}`));
    if (volume.emptyDir?.sizeLimit !== undefined) errors.push(...resourceQuantity(volume.emptyDir.sizeLimit).map(e => `emptyDir ${volume.name} sizeLimit: ${e}`));
  }
  for (const c of containers) {
    const where = `container ${show(c.name)}`;
    errors.push(...dns1123Label(c.name).map(e => `container name: ${e}`));
    if (containerNames.has(c.name)) errors.push(`${where} is defined twice`);
    containerNames.add(c.name);
    errors.push(...imageReference(c.image).map(e => `${where} image: ${e}`));
    const portNames = new Set<string>();
    for (const port of c.ports ?? []) {
      if (port.name === undefined) continue;
      errors.push(...ianaSvcName(port.name).map(e => `${where} port name: ${e}`));
      if (portNames.has(port.name)) errors.push(`${where} port name ${show(port.name)} is used twice`);
      portNames.add(port.name);
    }
    for (const env of c.env ?? []) errors.push(...envVarName(env.name).map(e => `${where} env: ${e}`));
    errors.push(...resourceRequirements(c.resources).map(e => `${where} resources: ${e}`));
    for (const mount of c.volumeMounts ?? []) {
      if (!volumeNames.has(mount.name)) errors.push(`${where} mounts volume ${show(mount.name)}, which the pod does not define`);
    }
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
      if (typeof port === 'string') errors.push(...ianaSvcName(port).map(e => `${where} probe port: ${e}`));
    }
  }
  errors.push(...labels(spec.nodeSelector).map(e => `nodeSelector ${e}`));
  for (const sysctl of spec.securityContext?.sysctls ?? []) errors.push(...sysctlName(sysctl.name).map(e => `sysctl: ${e}`));
  for (const t of spec.tolerations ?? []) {
    if (t.key !== undefined && t.key !== '') errors.push(...qualifiedName(t.key).map(e => `toleration key: ${e}`));
    if (t.operator === 'Exists' && t.value) errors.push(`toleration ${show(t.key)}: operator Exists with a value`);
  }
  if (spec.serviceAccountName !== undefined) errors.push(...dns1123Subdomain(spec.serviceAccountName).map(e => `serviceAccountName: ${e}`));
  for (const term of spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
    errors.push(...qualifiedName(term.topologyKey).map(e => `anti-affinity topologyKey: ${e}`));
    errors.push(...labels(term.labelSelector?.matchLabels).map(e => `anti-affinity matchLabels ${e}`));
  }
  return errors;
}

/**
 * Every rule above that applies to one manifest, each problem prefixed with kind/name. Not the
 * whole of the API server's validation; the parts a construct library's input can break.
 */
export function manifestRules(m: any): string[] {
  const where = `${m?.kind}/${m?.metadata?.name}`;
  const errors: string[] = [];
  const md = m?.metadata ?? {};
  errors.push(...objectName(m.kind, md.name).map(e => `metadata.name: ${e}`));
  if (CLUSTER_SCOPED_KINDS.has(m.kind)) {
    if (md.namespace !== undefined) errors.push(`metadata.namespace ${show(md.namespace)} on a cluster-scoped ${m.kind}`);
  } else if (md.namespace !== undefined) {
    errors.push(...dns1123Label(md.namespace).map(e => `metadata.namespace: ${e}`));
  }
  errors.push(...labels(md.labels).map(e => `metadata.labels ${e}`));
  errors.push(...annotations(md.annotations).map(e => `metadata.annotations ${e}`));
  const spec = m.spec ?? {};
  if (spec.selector?.matchLabels) errors.push(...labels(spec.selector.matchLabels).map(e => `spec.selector ${e}`));
  if (m.kind === 'Service') {
    errors.push(...labels(spec.selector).map(e => `spec.selector ${e}`));
    const names = new Set<string>();
    for (const port of spec.ports ?? []) {
      if (port.name !== undefined) errors.push(...dns1123Label(port.name).map(e => `spec.ports name: ${e}`));
      if ((spec.ports.length > 1) && !port.name) errors.push('spec.ports: a port without a name in a multi-port Service');
      if (names.has(port.name)) errors.push(`spec.ports name ${show(port.name)} is used twice`);
      names.add(port.name);
      if (typeof port.targetPort === 'string') errors.push(...ianaSvcName(port.targetPort).map(e => `spec.ports targetPort: ${e}`));
    }
    const keys = new Set((spec.ports ?? []).map((p: any) => `${p.protocol ?? 'TCP'}/${p.port}`));
    if (keys.size !== (spec.ports ?? []).length) errors.push('spec.ports: a port and protocol listed twice');
  }
  if (m.kind === 'ConfigMap' || m.kind === 'Secret') {
    let size = 0;
    for (const [key, value] of Object.entries({ ...(m.data ?? {}), ...(m.binaryData ?? {}) })) {
      errors.push(...configMapKey(key).map(e => `data key: ${e}`));
      size += key.length + String(value).length;
    }
    if (size > 1024 * 1024) errors.push(`data is ${size} bytes, more than 1 MiB`);
  }
  if (m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding') {
    for (const s of m.subjects ?? []) {
      if (s.kind === 'ServiceAccount') {
        errors.push(...dns1123Subdomain(s.name).map(e => `subject name: ${e}`));
        if (s.namespace !== undefined) errors.push(...dns1123Label(s.namespace).map(e => `subject namespace: ${e}`));
      }
    }
    errors.push(...pathSegmentName(m.roleRef?.name).map(e => `roleRef.name: ${e}`));
  }
  const template = spec.template;
  if (template) {
    errors.push(...labels(template.metadata?.labels).map(e => `template labels ${e}`));
    errors.push(...annotations(template.metadata?.annotations).map(e => `template annotations ${e}`));
    const selector = spec.selector?.matchLabels ?? {};
    for (const [key, value] of Object.entries(selector)) {
      if (template.metadata?.labels?.[key] !== value) errors.push(`spec.selector ${key}=${show(value)} does not match the template's labels`);
    }
    errors.push(...podSpec(template.spec ?? {}).map(e => `pod: ${e}`));
  }
  return errors.map(e => `${where}: ${e}`);
}

/** The API group of an apiVersion: '' for the core group (`v1`). */
export function apiGroup(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
}

/**
 * Objects that the API server would treat as one: same group, kind, namespace and name. cdk8s
 * fills in no namespace for charts without one; those objects land in `defaultNamespace`.
 */
export function collisions(manifests: any[], defaultNamespace = 'default'): string[] {
  const seen = new Map<string, number>();
  for (const m of manifests) {
    const namespace = CLUSTER_SCOPED_KINDS.has(m.kind) ? '' : (m.metadata?.namespace ?? defaultNamespace);
    const key = `${apiGroup(m.apiVersion)}/${m.kind} ${namespace ? `${namespace}/` : ''}${m.metadata?.name}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].filter(([, count]) => count > 1).map(([key, count]) => `${key} is defined ${count} times`);
}
