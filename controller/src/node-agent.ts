import { execFileSync } from 'node:child_process';
import { loadKubeClient, loadKubeConfig } from './kube-client';
import { Logger } from './log';
import { DEFAULT_ROUTE_PROTO, LB_ROLE_LABEL, LbPod, RouteTable, desiredRoutes, parseIpRouteJson, routeCommands } from './node-routes';
import { ResilientInformer } from './resilient-informer';
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

/** Runs `ip` (in tests, inside a namespace: `ip -n NS ...`). */
export type IpRunner = (args: string[]) => string;

export const hostIp: IpRunner = (args) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Keeps the node's routes for service prefixes pointing at the LB pods running on it. */
export class RouteSyncer {
  private scheduled = false;

  constructor(private readonly pods: () => readonly LbPod[], private readonly ip: IpRunner, private readonly log: Logger, private readonly proto = DEFAULT_ROUTE_PROTO) {}

  /** Coalesces bursts of pod events into one pass. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => { this.scheduled = false; this.sync(); });
  }

  /** One pass: read our routes, apply the difference. Returns the commands run. */
  sync(): string[][] {
    const current: RouteTable = new Map([
      ...parseIpRouteJson(this.ip(['-j', '-4', 'route', 'show', 'proto', String(this.proto)])),
      ...parseIpRouteJson(this.ip(['-j', '-6', 'route', 'show', 'proto', String(this.proto)])),
    ]);
    const commands = routeCommands(current, desiredRoutes(this.pods()), this.proto);
    for (const args of commands) {
      try {
        this.ip(args);
        this.log.log('info', 'route changed', { command: `ip ${args.join(' ')}` });
      } catch (err) {
        this.log.log('error', 'route change failed', { command: `ip ${args.join(' ')}`, error: (err as { stderr?: string }).stderr?.toString().trim() ?? String(err) });
      }
    }
    return commands;
  }
}

export interface NodeAgentOptions {
  readonly nodeName: string;
  readonly namespaces: string[];
  readonly log: Logger;
  readonly kubeConfig?: K8s.KubeConfig;
  readonly kubeconfigPath?: string;
  readonly ip?: IpRunner;
  readonly resyncMs?: number;
}

/** `ecmp-lb node-agent`: one pod informer per namespace, scoped to this node and to LB pods. */
export async function runNodeAgent(options: NodeAgentOptions): Promise<{ stop: () => Promise<void>; syncer: RouteSyncer }> {
  const k8s = await loadKubeClient();
  const kubeConfig = options.kubeConfig ?? await loadKubeConfig(options.kubeconfigPath);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const labelSelector = `${LB_ROLE_LABEL}=lb`;
  const fieldSelector = `spec.nodeName=${options.nodeName}`;
  const informers: ResilientInformer<any>[] = [];
  const syncer = new RouteSyncer(() => informers.filter((i) => i.synced).flatMap((i) => i.list() as LbPod[]), options.ip ?? hostIp, options.log);
  for (const namespace of options.namespaces) {
    informers.push(new ResilientInformer<any>({
      kubeConfig,
      path: `/api/v1/namespaces/${namespace}/pods`,
      labelSelector,
      fieldSelector,
      listPage: (token) => core.listNamespacedPod({ namespace, labelSelector, fieldSelector, limit: 500, _continue: token }),
      description: `pods (${labelSelector}) in namespace ${namespace}`,
      log: options.log,
      onChange: () => { if (informers.every((i) => i.synced)) syncer.schedule(); },
    }));
  }
  await Promise.all(informers.map((i) => i.start()));
  // Repairs routes that someone else removed or changed.
  const resync = setInterval(() => { if (informers.every((i) => i.synced)) syncer.schedule(); }, options.resyncMs ?? 30_000);
  options.log.log('info', 'node agent started', { node: options.nodeName, namespaces: options.namespaces });
  return {
    syncer,
    stop: async () => {
      clearInterval(resync);
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
