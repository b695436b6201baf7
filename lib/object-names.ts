import { ApiObject } from 'cdk8s';
import { IConstruct } from 'constructs';
import { invalidField } from './errors';

/** Kinds that live outside namespaces: their names are unique in the whole cluster. */
const CLUSTER_SCOPED_KINDS = new Set([
  'APIService', 'CSIDriver', 'CSINode', 'CertificateSigningRequest', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition',
  'FlowSchema', 'IngressClass', 'MutatingWebhookConfiguration', 'Namespace', 'Node', 'PersistentVolume', 'PriorityClass',
  'PriorityLevelConfiguration', 'RuntimeClass', 'StorageClass', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
  'ValidatingWebhookConfiguration', 'VolumeAttachment',
]);

const checkedApps = new WeakSet<IConstruct>();

/**
 * Adds, once per app, the check that no two Kubernetes objects of the app share a group, kind,
 * namespace and name: `kubectl apply` would keep only the last one, silently. Our constructs name
 * their objects after the service or reflector, so a user's own object can collide with them.
 */
export function checkObjectNamesOnce(scope: IConstruct): void {
  const root = scope.node.root;
  if (checkedApps.has(root)) return;
  checkedApps.add(root);
  scope.node.addValidation({ validate: () => objectNameCollisions(root) });
}

function objectNameCollisions(root: IConstruct): string[] {
  const seen = new Map<string, ApiObject>();
  const errors: string[] = [];
  for (const object of root.node.findAll().filter(ApiObject.isApiObject)) {
    const namespace = CLUSTER_SCOPED_KINDS.has(object.kind) ? '' : object.metadata.namespace ?? 'default';
    const key = `${object.apiGroup}/${object.kind}/${namespace}/${object.name}`;
    const other = seen.get(key);
    if (!other) {
      seen.set(key, object);
      continue;
    }
    const where = namespace ? ` in namespace ${namespace}` : '';
    errors.push(invalidField(object, 'metadata.name', object.name, `is also the name of ${other.node.path}, another ${object.kind}${where}; kubectl apply would keep only one of them`,
      'rename one of the two (an LB service\'s objects are named after its `name`, a reflector\'s after its name)'));
  }
  return errors;
}
