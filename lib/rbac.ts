import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';

/** Who is granted access, and to what. */
export interface ReadGrant {
  /** Name of the Role and of its RoleBinding. */
  readonly name: string;
  /**
   * Namespace of the Role and the RoleBinding: the resources read are there.
   * @default the chart's
   */
  readonly namespace?: string;
  /** API group of the resources: '' for the core group. */
  readonly apiGroup: string;
  /** The resources read, e.g. `['pods']`. */
  readonly resources: string[];
  /** The ServiceAccount that may read them. */
  readonly serviceAccount: { readonly name: string; readonly namespace: string };
}

/**
 * Lets a ServiceAccount get, list and watch some resources of one namespace, nothing else: a Role
 * and the RoleBinding that gives it to the account, as children `roleId` and `bindingId` of `scope`.
 */
export function grantRead(scope: Construct, roleId: string, bindingId: string, grant: ReadGrant): void {
  const metadata = { name: grant.name, namespace: grant.namespace };
  const role = new k8s.KubeRole(scope, roleId, {
    metadata,
    rules: [{ apiGroups: [grant.apiGroup], resources: grant.resources, verbs: ['get', 'list', 'watch'] }],
  });
  new k8s.KubeRoleBinding(scope, bindingId, {
    metadata,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.name },
    subjects: [{ kind: 'ServiceAccount', name: grant.serviceAccount.name, namespace: grant.serviceAccount.namespace }],
  });
}
