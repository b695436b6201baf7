import { Chart, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { containerSecurity, podSecurity } from './pod-security';
import { grantRead } from './rbac';
import * as k8s from '../imports/k8s';

const agents = new WeakMap<Construct, NodeRouteAgent>();

/** Props of a {@link NodeRouteAgent}. */
export interface NodeRouteAgentProps {
  /** The LB controller image, which carries the `ecmp-lb node-agent` command. */
  readonly image: string;
}

/**
 * The node half of the paper's Fig. 7b: a DaemonSet on the host network that routes each service
 * prefix to the LB pod on its node (`ip route replace PREFIX via POD_IP`). It reads LB pods from the
 * API, only in the namespaces that have LB services, so it needs no cluster-wide permission.
 *
 * One per app, in the chart of the app's first LB service, whatever charts the other services are
 * in: two agents on one node would each remove the other's routes as stale (they own the routes of
 * one protocol number). Use {@link NodeRouteAgent.of}.
 */
export class NodeRouteAgent extends Construct {
  /** The app's agent, created on first use. */
  public static of(scope: Construct, props: NodeRouteAgentProps): NodeRouteAgent {
    const root = scope.node.root;
    let agent = agents.get(root);
    if (!agent) agents.set(root, agent = new NodeRouteAgent(Chart.of(scope), NodeRouteAgent.ID, props));
    return agent;
  }

  private static readonly ID = 'NodeRouteAgent';
  private readonly namespaces = new Set<string>();
  private readonly agentNamespace: string;

  private constructor(scope: Construct, id: string, props: NodeRouteAgentProps) {
    super(scope, id);
    this.agentNamespace = Chart.of(this).namespace ?? 'default';
    const name = 'ecmp-lb-node-agent';
    const labels = { 'app.kubernetes.io/name': name };
    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: { name } });
    new k8s.KubeDaemonSet(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        selector: { matchLabels: labels },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(1) } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            // It edits the node's own routing table.
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            securityContext: podSecurity(),
            tolerations: [{ operator: 'Exists' }],
            containers: [{
              name: 'node-agent',
              image: props.image,
              command: ['ecmp-lb', 'node-agent'],
              args: [Lazy.any({ produce: () => `--namespaces=${[...this.namespaces].sort().join(',')}` })],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                // Named in the error another app's agent on this node stops with.
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              ],
              resources: {
                requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('32Mi') },
                limits: { memory: k8s.Quantity.fromString('128Mi') },
              },
              // `ip route` needs CAP_NET_ADMIN in its effective set, which only root gets from a pod spec.
              securityContext: containerSecurity({ addCapabilities: ['NET_ADMIN'], runAsRoot: true }),
            }],
          },
        },
      },
    });
  }

  /** Grants the agent read access to the pods of one namespace holding LB services. */
  public watchNamespace(namespace: string): void {
    if (this.namespaces.has(namespace)) return;
    this.namespaces.add(namespace);
    const name = 'ecmp-lb-node-agent';
    grantRead(this, `Role-${namespace}`, `RoleBinding-${namespace}`, {
      name, namespace, apiGroup: '', resources: ['pods'], serviceAccount: { name, namespace: this.agentNamespace },
    });
  }
}
