import { BgpPassword, bgpPasswordEnv } from './bgp-password';
import {
  LB_POD_CLI, LB_POD_COMMANDS, LB_POD_CONFIG_DIR, LB_POD_CONTAINERS, LB_POD_DUAL_STACK_ENV, LB_POD_ENV, LB_POD_FILES, LB_POD_HTTP, LB_POD_RUN_DIR,
  lbPodArgs, lbPodSysctls,
} from './lb-pod-contract';
import { LoadBalancerServiceModel, PREFIXES_ANNOTATION } from './model';
import { containerSecurity, podSecurity } from './pod-security';
import * as k8s from '../imports/k8s';

/** What an LB pod is made of besides its service's model. */
export interface LbPodTemplateOptions {
  /** The service's model, which the pod's programs read from `configMap`. */
  readonly model: LoadBalancerServiceModel;
  /** Labels of the pod; LB pods of one service repel each other by them. */
  readonly labels: { [key: string]: string };
  /** The ServiceAccount the pod runs as. */
  readonly serviceAccountName: string;
  /** The ConfigMap holding the model and the announcer. */
  readonly configMap: string;
  /** The LB image: init step and controller. */
  readonly image: string;
  /** The exabgp image. */
  readonly exabgpImage: string;
  /** The reflectors' TCP-MD5 key; reaches the init step only when it signs the LB sessions. */
  readonly bgpPassword?: BgpPassword;
  /** See LoadBalancerServiceProps.loadKernelModules. */
  readonly loadKernelModules: boolean;
  /**
   * The service announces prefixes of a family other than its reflector sessions' (dual-stack):
   * the pods also get their IPs of every family and their node's name (LB_POD_DUAL_STACK_ENV).
   */
  readonly dualStack: boolean;
  /**
   * Resources of the IPVS container.
   * @default requests 100m CPU / 64Mi, limit 256Mi memory
   */
  readonly resources?: k8s.ResourceRequirements;
  /**
   * Labels of the nodes LB pods may run on.
   * @default any node
   */
  readonly nodeSelector?: { [key: string]: string };
  /**
   * Tolerations of the LB pods.
   * @default none
   */
  readonly tolerations?: k8s.Toleration[];
}

/** Time after the drain for keepalived to clean up IPVS and exit (the controller gives it 10 s) before the kubelet kills it. */
const SHUTDOWN_MARGIN_SECONDS = 15;

/**
 * The pod template of a service's LB pods: the `ecmp-lb init` step, then the IPVS container
 * (keepalived driven by the controller) and exabgp, one pod per node. What the spec and the pod's
 * programs must agree on comes from lib/lb-pod-contract.ts.
 */
export function lbPodTemplate(options: LbPodTemplateOptions): k8s.PodTemplateSpec {
  const { model, labels } = options;
  const downwardFields = options.dualStack ? [...Object.values(LB_POD_ENV), ...Object.values(LB_POD_DUAL_STACK_ENV)] : Object.values(LB_POD_ENV);
  const downwardEnv: k8s.EnvVar[] = downwardFields.map(({ name, fieldPath }) => ({ name, valueFrom: { fieldRef: { fieldPath } } }));
  const configArgs = lbPodArgs({ configFile: `${LB_POD_CONFIG_DIR}/${LB_POD_FILES.model}`, runDir: LB_POD_RUN_DIR });
  const mounts: k8s.VolumeMount[] = [
    { name: 'config', mountPath: LB_POD_CONFIG_DIR, readOnly: true },
    { name: 'run', mountPath: LB_POD_RUN_DIR },
  ];
  const quantity = k8s.Quantity.fromString;
  const bgpPassword = options.bgpPassword;
  // The key reaches only the init step, which renders it into the memory-backed run dir.
  const initEnv = bgpPassword?.signLoadBalancerSessions ? [...downwardEnv, bgpPasswordEnv(bgpPassword)] : downwardEnv;
  const modules = options.loadKernelModules;
  return {
    metadata: {
      labels,
      annotations: { [PREFIXES_ANNOTATION]: model.prefixes.join(',') },
    },
    spec: {
      serviceAccountName: options.serviceAccountName,
      terminationGracePeriodSeconds: model.drainSeconds + SHUTDOWN_MARGIN_SECONDS,
      // The next hop is the node: two LB pods of one service on one node would add no path.
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{
            topologyKey: 'kubernetes.io/hostname',
            labelSelector: { matchLabels: labels },
          }],
        },
      },
      nodeSelector: options.nodeSelector,
      tolerations: options.tolerations,
      // Namespaced but "unsafe" sysctls: the kubelet must allow them (docs/design.md).
      securityContext: podSecurity(lbPodSysctls(model)),
      initContainers: [{
        name: LB_POD_CONTAINERS.init,
        image: options.image,
        command: [LB_POD_CLI, LB_POD_COMMANDS.init],
        args: configArgs,
        env: initEnv,
        volumeMounts: mounts,
        resources: { requests: { cpu: quantity('10m'), memory: quantity('32Mi') }, limits: { memory: quantity('128Mi') } },
        securityContext: containerSecurity(),
      }],
      containers: [
        {
          name: LB_POD_CONTAINERS.ipvs,
          image: options.image,
          command: [LB_POD_CLI, LB_POD_COMMANDS.controller],
          args: configArgs,
          env: downwardEnv,
          ports: [{ name: 'metrics', containerPort: LB_POD_HTTP.port, protocol: 'TCP' }],
          readinessProbe: { httpGet: { path: LB_POD_HTTP.readinessPath, port: k8s.IntOrString.fromNumber(LB_POD_HTTP.port) }, periodSeconds: 2 },
          livenessProbe: {
            httpGet: { path: LB_POD_HTTP.livenessPath, port: k8s.IntOrString.fromNumber(LB_POD_HTTP.port) },
            periodSeconds: 10,
            failureThreshold: 3,
          },
          resources: options.resources ?? {
            requests: { cpu: quantity('100m'), memory: quantity('64Mi') },
            limits: { memory: quantity('256Mi') },
          },
          volumeMounts: [
            ...mounts,
            { name: 'tmp', mountPath: '/tmp' },
            ...(modules ? [{ name: 'modules', mountPath: '/lib/modules', readOnly: true }] : []),
          ],
          // keepalived programs IPVS and `ip`/`nft` set up the pod's routes and SNAT: NET_ADMIN as root.
          // With loadKernelModules, keepalived may also `modprobe ip_vs` (SYS_MODULE, the node's modules).
          securityContext: containerSecurity({ addCapabilities: modules ? ['NET_ADMIN', 'SYS_MODULE'] : ['NET_ADMIN'], runAsRoot: true }),
        },
        {
          name: LB_POD_CONTAINERS.exabgp,
          image: options.exabgpImage,
          command: ['exabgp', `${LB_POD_RUN_DIR}/${LB_POD_FILES.exabgpConfig}`],
          env: [
            ...downwardEnv,
            // exabgp connects out only; it needs no privilege and no writable root.
            { name: 'exabgp_daemon_user', value: 'nobody' },
            { name: 'exabgp_log_destination', value: 'stdout' },
            // The CLI's named pipes are not used: the announcer process drives exabgp.
            { name: 'exabgp_api_cli', value: 'false' },
          ],
          volumeMounts: mounts,
          resources: { requests: { cpu: quantity('20m'), memory: quantity('48Mi') }, limits: { memory: quantity('128Mi') } },
          securityContext: containerSecurity(),
        },
      ],
      volumes: [
        { name: 'config', configMap: { name: options.configMap } },
        { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: quantity('16Mi') } },
        { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: quantity('16Mi') } },
        ...(modules ? [{ name: 'modules', hostPath: { path: '/lib/modules', type: 'Directory' } }] : []),
      ],
    },
  };
}
