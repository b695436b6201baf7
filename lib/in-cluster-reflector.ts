import { Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { hostPrefix } from './ip';
import { BFD_MULTIHOP_PORT, LB_ROLE_LABEL } from './model';
import { containerSecurity, NOBODY, podSecurity } from './pod-security';
import * as k8s from '../imports/k8s';

/** What the workload of an in-cluster route reflector is made of. */
/**
 * eBGP with an in-cluster reflector: its pod's packets cross its node (one routed hop) to the router
 * on the node's segment, and the router's cross it back: TTL 2 both ways (measured: 1 never connects).
 */
export const IN_CLUSTER_EBGP_TTL = 2;

export interface InClusterReflectorWorkload {
  /** The reflector's name: its objects are `<name>-gobgpd` and the Service `<name>-bgp`. */
  readonly reflectorName: string;
  /** The node the pod is pinned to (its `kubernetes.io/hostname` label). */
  readonly nodeName: string;
  /** The BGP port: gobgpd's, the Service's, and the routers' (every speaker here uses the standard one). */
  readonly port: number;
  /** gobgpd's image. */
  readonly image: string;
  /** The reflector agent's image (the LB image). */
  readonly agentImage: string;
  /** Run the reflector agent beside gobgpd (`bindPrefixesToLbPods`), with its config and an API token. */
  readonly reflectorAgent: boolean;
  /** Renders `gobgpd.toml`, at synth time. */
  readonly gobgpdConfig: () => string;
  /** Renders the reflector agent's `lb-pod-bindings.json`, at synth time. */
  readonly agentConfig: () => string;
  /**
   * BFD with the LB pods (multihop, UDP 4784), run by the reflector agent: the Service gets a UDP
   * port for it, and the NetworkPolicy lets it in from the LB pods and out to them.
   */
  readonly bfd: boolean;
  /** Add the NetworkPolicy of the `networkPolicy` prop. */
  readonly networkPolicy: boolean;
  /** The addresses of the upstream routers, at synth time: the NetworkPolicy's egress. */
  readonly routerAddresses: () => string[];
}

/** Where client libraries look for in-cluster credentials. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** What the kubelet's automount puts there: a bound token, the cluster CA and the namespace. */
const SERVICE_ACCOUNT_SOURCES: k8s.VolumeProjection[] = [
  { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
  { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
  { downwardApi: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
];
const API_SERVER_PORTS = [443, 6443];

/**
 * The in-cluster route reflector, as children of `scope` (the RouteReflector): a gobgpd pod pinned
 * to `nodeName` (with the reflector agent beside it when it binds prefixes to LB pods), its config in
 * a ConfigMap, the Service LB pods dial, and on request its NetworkPolicy. Returns the ConfigMap,
 * the child `Resource`.
 */
export function addInClusterReflector(scope: Construct, options: InClusterReflectorWorkload): k8s.KubeConfigMap {
  const name = `${options.reflectorName}-gobgpd`;
  const labels = reflectorLabels(options.reflectorName);
  const port = options.port;
  const agent = options.reflectorAgent;
  const config = new k8s.KubeConfigMap(scope, 'Resource', {
    metadata: { name },
    data: {
      'gobgpd.toml': Lazy.any({ produce: options.gobgpdConfig }),
      ...(agent ? { 'lb-pod-bindings.json': Lazy.any({ produce: options.agentConfig }) } : {}),
    },
  });
  new k8s.KubeServiceAccount(scope, 'ServiceAccount', {
    metadata: { name },
    automountServiceAccountToken: false,
  });
  const configPath = '/etc/gobgpd/gobgpd.toml';
  const quantity = k8s.Quantity.fromString;
  new k8s.KubeDeployment(scope, 'Deployment', {
    metadata: { name, labels },
    spec: {
      replicas: 1,
      // Two gobgpd with one router id must never run side by side.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          nodeSelector: { 'kubernetes.io/hostname': options.nodeName },
          // A safe sysctl: lets the unprivileged gobgpd bind the BGP port.
          securityContext: podSecurity({ 'net.ipv4.ip_unprivileged_port_start': String(Math.min(port, 1024)) }),
          containers: [{
            name: 'gobgpd',
            image: options.image,
            // The gRPC API stays on loopback: anyone reaching it could inject routes.
            command: ['gobgpd', '-t', 'toml', '-f', configPath, '--api-hosts', '127.0.0.1:50051', '--log-plain'],
            ports: [{ name: 'bgp', containerPort: port, protocol: 'TCP' }],
            readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromNumber(port) }, periodSeconds: 5 },
            resources: {
              requests: { cpu: quantity('50m'), memory: quantity('64Mi') },
              limits: { memory: quantity('256Mi') },
            },
            securityContext: { ...containerSecurity(), runAsUser: NOBODY },
            volumeMounts: [{ name: 'config', mountPath: '/etc/gobgpd', readOnly: true }],
          }, ...(agent ? [{
            name: 'reflector-agent',
            image: options.agentImage,
            command: ['ecmp-lb', 'reflector-agent', '--config', '/etc/gobgpd/lb-pod-bindings.json'],
            ...(options.bfd ? { ports: [{ name: 'bfd', containerPort: BFD_MULTIHOP_PORT, protocol: 'UDP' }] } : {}),
            resources: { requests: { cpu: quantity('10m'), memory: quantity('48Mi') }, limits: { memory: quantity('192Mi') } },
            securityContext: containerSecurity(),
            volumeMounts: [
              { name: 'config', mountPath: '/etc/gobgpd', readOnly: true },
              // Only this container gets the API token (the pod does not automount it).
              { name: 'api-token', mountPath: SERVICE_ACCOUNT_DIR, readOnly: true },
            ],
          }] : [])],
          volumes: [
            { name: 'config', configMap: { name: config.name } },
            ...(agent ? [{ name: 'api-token', projected: { sources: SERVICE_ACCOUNT_SOURCES } }] : []),
          ],
        },
      },
    },
  });
  new k8s.KubeService(scope, 'Service', {
    metadata: { name: `${options.reflectorName}-bgp`, labels },
    spec: {
      selector: labels,
      ports: [
        { name: 'bgp', port, targetPort: k8s.IntOrString.fromNumber(port), protocol: 'TCP' },
        // The LB pods' BFD sessions reach the agent through the same ClusterIP (their source kept).
        ...(options.bfd ? [{ name: 'bfd', port: BFD_MULTIHOP_PORT, targetPort: k8s.IntOrString.fromNumber(BFD_MULTIHOP_PORT), protocol: 'UDP' }] : []),
      ],
    },
  });
  if (options.networkPolicy) addNetworkPolicy(scope, options);
  return config;
}

function reflectorLabels(reflectorName: string): { [key: string]: string } {
  return { 'app.kubernetes.io/name': 'ecmp-lb-route-reflector', 'ecmp-lb.cdk8s.io/reflector': reflectorName };
}

/**
 * Only LB pods reach the BGP port (and with BFD, UDP 4784); the reflector connects only to the
 * routers' BGP port (and with BFD, the LB pods' UDP 4784: BFD's two directions are separate flows,
 * neither a reply to the other). Replies on established connections are allowed by every
 * NetworkPolicy implementation (they are stateful).
 */
function addNetworkPolicy(scope: Construct, options: InClusterReflectorWorkload): void {
  const labels = reflectorLabels(options.reflectorName);
  const bgp = () => [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(options.port) }];
  const bfd = () => [{ protocol: 'UDP', port: k8s.IntOrString.fromNumber(BFD_MULTIHOP_PORT) }];
  // LB pods of every namespace: LoadBalancerServices may live in other charts.
  const lbPods = () => [{ namespaceSelector: {}, podSelector: { matchLabels: { [LB_ROLE_LABEL]: 'lb' } } }];
  new k8s.KubeNetworkPolicy(scope, 'NetworkPolicy', {
    metadata: { name: `${options.reflectorName}-gobgpd`, labels },
    spec: {
      podSelector: { matchLabels: labels },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: lbPods(), ports: options.bfd ? [...bgp(), ...bfd()] : bgp() }],
      egress: Lazy.any({
        produce: () => {
          const routers = options.routerAddresses();
          return [
            ...(routers.length === 0 ? [] : [{
              to: [...new Set(routers)].sort().map(address => ({ ipBlock: { cidr: hostPrefix(address) } })),
              ports: bgp(),
            }]),
            // The reflector agent reads LB pods from the API server, whose address is not known
            // here: its ports only (the kubernetes Service's 443, and 6443 after the CNI's DNAT).
            ...(options.reflectorAgent ? [{ ports: API_SERVER_PORTS.map(port => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) })) }] : []),
            // The agent's BFD packets to the LB pods' multihop port.
            ...(options.bfd ? [{ to: lbPods(), ports: bfd() }] : []),
          ];
        },
      }),
    },
  });
}
