import * as path from 'node:path';
import { ForwardingMethod, LoadBalancerServiceModel, RouteAttributesModel } from './model';
import { checkedRouteAttributes } from './route-attributes';

/**
 * The LB pod's contract: what the pod spec that `LoadBalancerService` writes at synth time and the
 * programs that run in the pod (`ecmp-lb init`, `ecmp-lb controller`, the announcer, exabgp) must
 * agree on. Both sides, and the harnesses in `e2e/` that play the pod, take these facts from here,
 * so a change on one side cannot leave the other behind. The library's own wiring: lib/index.ts
 * does not export it.
 */

/** The LB image's CLI. */
export const LB_POD_CLI = 'ecmp-lb';

/** Its subcommands an LB pod runs: the init container's and the `ipvs` container's. */
export const LB_POD_COMMANDS = { init: 'init', controller: 'controller' } as const;

/** The flags of those subcommands, without the leading `--`. */
export const LB_POD_FLAGS = {
  config: 'config',
  runDir: 'run-dir',
  metricsPort: 'metrics-port',
  kubeconfig: 'kubeconfig',
  keepalived: 'keepalived',
  skipNetnsSetup: 'skip-netns-setup',
} as const;

/** The pod's containers. */
export const LB_POD_CONTAINERS = { init: 'render-config', ipvs: 'ipvs', exabgp: 'exabgp' } as const;

/** Where the ConfigMap is mounted, read-only, in every container. */
export const LB_POD_CONFIG_DIR = '/etc/ecmp-lb';
/** The memory-backed volume every container mounts, where the pod's programs write. */
export const LB_POD_RUN_DIR = '/run/ecmp-lb';

/** File names in those two directories. */
export const LB_POD_FILES = {
  /** The service's `LoadBalancerServiceModel` as JSON (ConfigMap). */
  model: 'service.json',
  /** The exabgp API process that relays the announce file (ConfigMap, `lib/renderers/announcer.ts`). */
  announcer: 'announcer.py',
  /** exabgp's config (run dir, written by `ecmp-lb init`). */
  exabgpConfig: 'exabgp.conf',
  /** keepalived's config (run dir, written by the controller). */
  keepalivedConfig: 'keepalived.conf',
  /** The routes to announce (run dir, written by the controller, followed by the announcer). */
  announce: 'announce',
} as const;

/** The controller's HTTP server: Prometheus metrics and the kubelet's probes. */
export const LB_POD_HTTP = { port: 9100, metricsPath: '/metrics', livenessPath: '/healthz', readinessPath: '/readyz' } as const;

/** What the pod's programs learn of their pod. */
export interface PodEnvironment {
  readonly podIp: string;
  readonly nodeIp: string;
  readonly podName: string;
  readonly podNamespace: string;
  /**
   * Dual-stack services only (`LB_POD_DUAL_STACK_ENV`): every IP of the pod, comma-separated
   * (`status.podIPs`), and the node's name, whose Node object holds its address of the other family.
   */
  readonly podIps?: string;
  readonly nodeName?: string;
}

type RequiredPodFields = { [K in keyof PodEnvironment]-?: undefined extends PodEnvironment[K] ? never : K }[keyof PodEnvironment];

/** An environment variable and the downward API field the pod spec fills it from. */
type DownwardField = { readonly name: string; readonly fieldPath: string };

/** Each field of PodEnvironment: the environment variable it comes in, and the downward API field the pod spec fills it from. */
export const LB_POD_ENV: { readonly [K in RequiredPodFields]: DownwardField } = {
  podIp: { name: 'POD_IP', fieldPath: 'status.podIP' },
  nodeIp: { name: 'NODE_IP', fieldPath: 'status.hostIP' },
  podName: { name: 'POD_NAME', fieldPath: 'metadata.name' },
  podNamespace: { name: 'POD_NAMESPACE', fieldPath: 'metadata.namespace' },
};

/**
 * The downward-API fields a dual-stack service's pods get besides LB_POD_ENV (`dualStack`): Kubernetes
 * 1.27 gives a pod its node's address in one family only (`status.hostIP`; `status.hostIPs` is 1.28+),
 * so the controller reads the other from its Node object, found by name.
 */
export const LB_POD_DUAL_STACK_ENV: { readonly [K in Exclude<keyof PodEnvironment, RequiredPodFields>]-?: DownwardField } = {
  podIps: { name: 'POD_IPS', fieldPath: 'status.podIPs' },
  nodeName: { name: 'NODE_NAME', fieldPath: 'spec.nodeName' },
};

/** The environment the pod spec gives the pod's programs, for harnesses that run them outside a cluster. */
export function podEnvironmentVariables(pod: PodEnvironment): Record<string, string> {
  const all = { ...LB_POD_ENV, ...LB_POD_DUAL_STACK_ENV };
  return Object.fromEntries(Object.entries(all).flatMap(([field, { name }]) => {
    const value = pod[field as keyof PodEnvironment];
    return value === undefined ? [] : [[name, value]];
  }));
}

/** The pod's identity, from the environment the pod spec sets. */
export function podEnvironment(env: NodeJS.ProcessEnv = process.env): PodEnvironment {
  const get = ({ name }: { name: string }) => {
    const value = env[name];
    if (!value) throw new Error(`environment variable ${name} is not set (the pod spec passes it from the downward API)`);
    return value;
  };
  const optional = (key: keyof typeof LB_POD_DUAL_STACK_ENV) => {
    const value = env[LB_POD_DUAL_STACK_ENV[key].name];
    return value ? { [key]: value } : {};
  };
  return {
    podIp: get(LB_POD_ENV.podIp),
    nodeIp: get(LB_POD_ENV.nodeIp),
    podName: get(LB_POD_ENV.podName),
    podNamespace: get(LB_POD_ENV.podNamespace),
    ...optional('podIps'),
    ...optional('nodeName'),
  };
}

/** The pod's IPs: `podIps` when the pod spec passes them, else the one `podIp`. */
export function podAddresses(pod: PodEnvironment): string[] {
  const listed = (pod.podIps ?? '').split(',').map(ip => ip.trim()).filter(Boolean);
  return listed.length > 0 ? listed : [pod.podIp];
}

/** Where `ecmp-lb init` and `ecmp-lb controller` find the model and write their files, and the controller's hooks for harnesses. */
export interface LbPodArgs {
  /** The model file: in the pod, LB_POD_FILES.model in LB_POD_CONFIG_DIR. */
  readonly configFile: string;
  /** In the pod, LB_POD_RUN_DIR. */
  readonly runDir: string;
  /** @default LB_POD_HTTP.port */
  readonly metricsPort?: number;
  /** @default the in-cluster config */
  readonly kubeconfig?: string;
  /** @default keepalived on the PATH */
  readonly keepalived?: string;
  /** Leave the routes, nftables and sysctls to the caller. */
  readonly skipNetnsSetup?: boolean;
}

/** The arguments of `ecmp-lb init` or `ecmp-lb controller`; the pod spec passes only the model file and the run dir. */
export function lbPodArgs(args: LbPodArgs): string[] {
  const flag = (name: string, value: string | number | undefined) => (value === undefined ? [] : [`--${name}`, String(value)]);
  return [
    ...flag(LB_POD_FLAGS.config, args.configFile),
    ...flag(LB_POD_FLAGS.runDir, args.runDir),
    ...flag(LB_POD_FLAGS.metricsPort, args.metricsPort),
    ...flag(LB_POD_FLAGS.kubeconfig, args.kubeconfig),
    ...flag(LB_POD_FLAGS.keepalived, args.keepalived),
    ...(args.skipNetnsSetup ? [`--${LB_POD_FLAGS.skipNetnsSetup}`] : []),
  ];
}

/**
 * The sysctls of the pod's network namespace: the pod spec sets them, the controller checks them.
 * - `ip_forward=1`: the pod routes the traffic IPVS forwards.
 * - `vs.conn_reuse_mode`: what IPVS does with a SYN from a client port whose previous connection
 *   it still remembers. NAT: 0, the same real server, since with conntrack a rescheduled SYN is
 *   dropped once (a one-second stall). DR/TUN: 2, rescheduled when the old connection is closing
 *   (FIN_WAIT, the last state an LB that sees one direction reaches, or TIME_WAIT), at once, as
 *   there is no conntrack entry to drop: with 0 a reused port stayed bound to a backend that had
 *   gone in a rollout and the SYN was dropped until the client gave up.
 * - NAT: `vs.conntrack=1`, so netfilter sees the connections IPVS forwards and SNATs them. Not in DR/TUN,
 *   where no rule matches on conntrack and an entry per connection would only cost memory and room
 *   in the node's conntrack table.
 * - DR/TUN: `vs.sloppy_tcp=1`: an LB that ECMP hands a flow mid-connection schedules its non-SYN
 *   packets too, and `mh` sends them to the same backend, which answers the client directly.
 * In the order the pod spec lists them: the kubelet reports the first it refuses.
 */
export function lbPodSysctls(service: Pick<LoadBalancerServiceModel, 'forwardingMethod'> & Partial<Pick<LoadBalancerServiceModel, 'prefixes'>>): Record<string, string> {
  const nat = service.forwardingMethod === ForwardingMethod.NAT;
  return {
    'net.ipv4.ip_forward': '1',
    // IPv6 prefixes: the pod routes IPv6 too (a NAT backend's replies pass through it). IPVS's own
    // sysctls (`net.ipv4.vs.*`) apply to both families.
    ...(service.prefixes?.some(p => p.includes(':')) ? { 'net.ipv6.conf.all.forwarding': '1' } : {}),
    ...(nat ? { 'net.ipv4.vs.conntrack': '1' } : {}),
    'net.ipv4.vs.conn_reuse_mode': nat ? '0' : '2',
    ...(nat ? {} : { 'net.ipv4.vs.sloppy_tcp': '1' }),
  };
}

/** The exabgp API commands the announcer sends: each announce file line as it is, a vanished one as withdraw. */
export const EXABGP_ROUTE_COMMANDS = { announce: 'announce', withdraw: 'withdraw' } as const;
/** How every line of the announce file starts; the announcer relays no other line. */
export const ANNOUNCE_LINE_START = `${EXABGP_ROUTE_COMMANDS.announce} route `;

/**
 * The announce file while the pod announces, a line `announce route PREFIX next-hop NODE_IP` per
 * prefix, followed by the service's path attributes; an empty file withdraws everything. Each prefix
 * takes the next hop of its own family: `nextHop`, or for a dual-stack service's other family
 * `otherNextHop`; a prefix with no next hop of its family is left out.
 */
export function announceFileText(prefixes: readonly string[], nextHop: string, attributes?: RouteAttributesModel, otherNextHop?: string): string {
  if (attributes) checkedRouteAttributes(attributes);
  return prefixes.flatMap((prefix) => {
    const hop = nextHopFor(prefix, nextHop, otherNextHop);
    return hop === undefined ? [] : [`${ANNOUNCE_LINE_START}${exabgpRoute(prefix, hop, attributes)}\n`];
  }).join('');
}

/** The next hop of a prefix's family among `nextHop` and `otherNextHop`; undefined when neither is. */
export function nextHopFor(prefix: string, nextHop: string, otherNextHop?: string): string | undefined {
  const v6 = prefix.includes(':');
  return [nextHop, otherNextHop].find(hop => hop !== undefined && hop.includes(':') === v6);
}

/**
 * One route in exabgp's words, the same in its API and its config's static routes:
 * `PREFIX next-hop N [community [..]] [large-community [..]] [local-preference N] [med N]`.
 * The caller has checked the attributes (`checkedRouteAttributes`), once for all its routes.
 */
export function exabgpRoute(prefix: string, nextHop: string, attributes?: RouteAttributesModel): string {
  const words = [prefix, 'next-hop', nextHop];
  if (attributes?.communities.length) words.push('community', `[${attributes.communities.join(' ')}]`);
  if (attributes?.largeCommunities.length) words.push('large-community', `[${attributes.largeCommunities.join(' ')}]`);
  if (attributes?.localPreference !== undefined) words.push('local-preference', String(attributes.localPreference));
  if (attributes?.med !== undefined) words.push('med', String(attributes.med));
  return words.join(' ');
}

/** exabgp's `run` line for the announcer: the script from the config dir, following the announce file of the run dir. */
export function announcerCommand(configDir = LB_POD_CONFIG_DIR, runDir = LB_POD_RUN_DIR): string {
  return `/usr/bin/python3 ${path.posix.join(configDir, LB_POD_FILES.announcer)} ${path.posix.join(runDir, LB_POD_FILES.announce)}`;
}
