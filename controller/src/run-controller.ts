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
import { ResilientInformer } from './resilient-informer';
import { loadServiceModel } from './service-config';
import { LB_POD_FILES, PodEnvironment } from '../../lib/lb-pod-contract';

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
  if (!options.skipNetnsSetup) prepareNetns(service, pod.podIp, log);

  const metrics = new ControllerMetrics({ processMetrics: true });
  const ipvsReorderer = new IpvsReorderer({ log });
  await ipvsReorderer.clear();
  const keepalived = new KeepalivedSupervisor({
    configPath: path.join(runDir, LB_POD_FILES.keepalivedConfig), runDir, log, metrics, binary: options.keepalivedBinary,
    onLogLine: (line) => ipvsReorderer.noteKeepalivedLine(line),
  });
  const k8s = await loadKubeClient();
  const kubeConfig = await loadKubeConfig(options.kubeconfig);
  const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  const namespace = pod.podNamespace;
  const labelSelector = `kubernetes.io/service-name=${service.backendServiceName}`;
  let controller: Controller | undefined;
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
    service, routerId: pod.podName, nodeIp: pod.nodeIp, runDir,
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
  // Not awaited: the process must end on SIGTERM even while the first list hangs; a failed start is fatal.
  const started = informer.start().then(() => log.log('info', 'controller started', { service: service.name, namespace, metricsPort: options.metricsPort }));
  return { done: Promise.race([done, started.then(() => done)]) };
}
