import * as fs from 'node:fs';
import * as path from 'node:path';
import { Controller } from './controller';
import { EndpointSlice } from './endpoint-slices';
import { IpvsReorderer } from './ipvs-reorder';
import { readProcIpvs } from './ipvs-table';
import { KeepalivedSupervisor } from './keepalived-process';
import { loadKubeClient, loadKubeConfig } from './kube-client';
import { startLbBfd } from './lb-bfd';
import { Logger } from './log';
import { ControllerMetrics, startMetricsServer } from './metrics';
import { prepareNetns } from './netns';
import { NodeAddressSource } from './node-address';
import { ResilientInformer } from './resilient-informer';
import { loadServiceModel } from './service-config';
import { LB_POD_FILES, podAddresses, PodEnvironment } from '../../lib/lb-pod-contract';
import { LoadBalancerServiceModel } from '../../lib/model';

export interface RunControllerOptions {
  readonly configFile: string;
  readonly runDir: string;
  readonly pod: PodEnvironment;
  readonly metricsPort: number;
  readonly log: Logger;
  readonly kubeconfig?: string;
  readonly keepalivedBinary?: string;
  /** Skip the namespace setup (routes, SNAT, sysctls): for tests that bring their own. */
  readonly skipNetnsSetup?: boolean;
}

/** `ecmp-lb controller`: wires the informer, the controller, keepalived and the HTTP endpoints. */
export async function runController(options: RunControllerOptions): Promise<{ done: Promise<void> }> {
  const { log, pod, runDir } = options;
  // Installed before anything starts, and kept: a pod deleted while its controller is still starting
  // (a first list that hangs, a slow node) must drain, not die by SIGTERM's default action after
  // announcing, and a second SIGTERM must not end a drain.
  let terminate: (() => void) | undefined;
  let terminationRequested = false;
  process.on('SIGTERM', () => {
    if (terminate) terminate();
    else terminationRequested = true;
  });
  const service = loadServiceModel(options.configFile);
  fs.mkdirSync(runDir, { recursive: true });
  const podIps = podAddresses(pod);
  if (!options.skipNetnsSetup) prepareNetns(service, pod.podIp, log, podIps.filter((ip) => ip !== pod.podIp));

  const metrics = new ControllerMetrics({ processMetrics: true });
  const ipvsReorderer = new IpvsReorderer({ log });
  await ipvsReorderer.clear();
  // The start's phases, each logged once: how long a new LB pod takes, and where (docs/results.md).
  log.log('info', 'namespace prepared');
  const keepalived = new KeepalivedSupervisor({
    configPath: path.join(runDir, LB_POD_FILES.keepalivedConfig), runDir, log, metrics, binary: options.keepalivedBinary,
    onLogLine: (line) => ipvsReorderer.noteKeepalivedLine(line),
  });
  const k8s = await loadKubeClient();
  const kubeConfig = await loadKubeConfig(options.kubeconfig);
  log.log('info', 'api client loaded');
  const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  const namespace = pod.podNamespace;
  const labelSelector = `kubernetes.io/service-name=${service.backendServiceName}`;
  let controller: Controller | undefined;
  const nodeAddress = otherFamilyNodeAddress(service, pod, kubeConfig.makeApiClient(k8s.CoreV1Api), log, () => controller?.endpointsChanged());
  const informer = new ResilientInformer<any>({
    kubeConfig,
    path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    labelSelector,
    listPage: (token) => discovery.listNamespacedEndpointSlice({ namespace, labelSelector, limit: 500, _continue: token }),
    description: `endpointslices (${labelSelector}) in namespace ${namespace}`,
    log,
    onChange: () => controller?.endpointsChanged(),
    onRestart: (reason) => metrics.watchRestarts.inc({ reason }),
  });
  controller = new Controller({
    service, routerId: pod.podName, nodeIp: pod.nodeIp, runDir, otherNextHop: () => nodeAddress?.current,
    slices: () => informer.list() as EndpointSlice[],
    keepalived, readIpvs: () => readProcIpvs(), reorderIpvs: () => ipvsReorderer.reorder(), metrics, log,
  });
  const bfd = await startLbBfd(service, pod.podIp, metrics, log);
  const server = await startMetricsServer(metrics.registry, {
    healthy: () => true,
    // Not ready while keepalived is down (being restarted) or IPVS has drifted from its config.
    ready: () => informer.synced && controller!.configured && keepalived.running && controller!.ipvsConsistent,
  }, options.metricsPort);
  const done = new Promise<void>((resolve) => {
    let draining = false;
    terminate = () => {
      if (draining) {
        log.log('info', 'SIGTERM again: already draining');
        return;
      }
      draining = true;
      log.log('info', 'SIGTERM: draining');
      void controller!.drain()
        .then(() => informer.stop())
        .finally(() => {
          nodeAddress?.stop();
          bfd?.close();
          server.close(() => resolve());
        });
    };
  });
  if (terminationRequested) {
    terminate!();
    return { done };
  }
  controller.start();
  // Not awaited either: the IPv4 prefixes need not wait for the node's IPv6 address.
  void nodeAddress?.start();
  // Not awaited: the process must end on SIGTERM even while the first list hangs; a failed start is fatal.
  const started = informer.start().then(() => log.log('info', 'controller started', { service: service.name, namespace, metricsPort: options.metricsPort }));
  return { done: Promise.race([done, started.then(() => done)]) };
}

/**
 * A dual-stack service (prefixes of the family other than `status.hostIP`'s): its pods announce
 * those with the node's address of that family, read from the pod's own Node (docs/design.md,
 * "Dual-stack services"). Undefined for a single-family service, which reads no Node.
 */
function otherFamilyNodeAddress(
  service: LoadBalancerServiceModel, pod: PodEnvironment, core: { readNode(request: { name: string }): Promise<unknown> },
  log: Logger, onChange: () => void,
): NodeAddressSource | undefined {
  const nodeV6 = pod.nodeIp.includes(':');
  if (!service.prefixes.some((p) => p.includes(':') !== nodeV6)) return undefined;
  if (!pod.nodeName) {
    log.log('error', 'dual-stack service but NODE_NAME is not set (spec.nodeName): the prefixes of the other family are not announced', { prefixes: service.prefixes.filter((p) => p.includes(':') !== nodeV6) });
    return undefined;
  }
  const nodeName = pod.nodeName;
  return new NodeAddressSource({
    read: async () => (await core.readNode({ name: nodeName })) as never, family: nodeV6 ? 4 : 6, nodeName, log, onChange,
  });
}
