/**
 * Validates manifests against the Kubernetes 1.27.1 OpenAPI schema (kubernetes-models 4.3.1), and,
 * as `kubectl apply --validate=strict` does, rejects fields the schema does not know: the
 * published schema leaves `additionalProperties` open, so it is closed here before any schema loads.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const validateLib = require('@kubernetes-models/validate');

const register = validateLib.register;
validateLib.register = (id: string, schema: object) => register(id, closeObjects(schema));

function closeObjects(schema: any): any {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== 'object') return schema;
  const closed: any = {};
  for (const [key, value] of Object.entries(schema)) {
    // `properties` maps field names to schemas: recurse into the schemas, never treat names as keywords.
    closed[key] = key === 'properties'
      ? Object.fromEntries(Object.entries(value as object).map(([name, sub]) => [name, closeObjects(sub)]))
      : closeObjects(value);
  }
  if (closed.properties && closed.additionalProperties === undefined) closed.additionalProperties = false;
  return closed;
}

const MODEL_MODULES: Record<string, string> = {
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'v1/Service': 'kubernetes-models/v1/Service',
  'v1/ServiceAccount': 'kubernetes-models/v1/ServiceAccount',
  'v1/Secret': 'kubernetes-models/v1/Secret',
  'v1/Namespace': 'kubernetes-models/v1/Namespace',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'apps/v1/DaemonSet': 'kubernetes-models/apps/v1/DaemonSet',
  'apps/v1/StatefulSet': 'kubernetes-models/apps/v1/StatefulSet',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
  'rbac.authorization.k8s.io/v1/Role': 'kubernetes-models/rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding',
  'networking.k8s.io/v1/NetworkPolicy': 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
};

/** Throws with the schema's complaint when `manifest` is not a valid Kubernetes 1.27 object. */
export function validateManifest(manifest: { apiVersion: string; kind: string }): void {
  const key = `${manifest.apiVersion}/${manifest.kind}`;
  const modulePath = MODEL_MODULES[key];
  if (!modulePath) throw new Error(`no Kubernetes 1.27 schema registered for ${key}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Model = require(modulePath)[manifest.kind];
  try {
    new Model(manifest).validate();
  } catch (e) {
    throw new Error(`${key} ${(manifest as any).metadata?.name}: ${(e as Error).message}`);
  }
}
