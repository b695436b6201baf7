import { execFileSync } from 'node:child_process';
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { loadKubeConfig } from './kube-client';
import { LbPodWatch } from './lb-pod-watch';
import { Logger } from './log';
import { DEFAULT_ROUTE_PROTO, LbPod, RouteTable, desiredRoutes, parseIpRouteJson, routeCommands } from './node-routes';
import { LoopedSyncer, SyncerOptions } from './sync-loop';

/** Runs `ip` (in tests, inside a namespace: `ip -n NS ...`). */
export type IpRunner = (args: string[]) => string;

export const hostIp: IpRunner = (args) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export interface RouteSyncerOptions extends SyncerOptions {
  readonly proto?: number;
}

/** Keeps the node's routes for service prefixes pointing at the LB pods running on it. */
export class RouteSyncer extends LoopedSyncer {
  private readonly proto: number;

  /** `pods` is undefined until every namespace has been listed: a partial view would drop the others' routes. */
  constructor(
    private readonly pods: () => readonly LbPod[] | undefined,
    private readonly ip: IpRunner,
    private readonly log: Logger,
    options: RouteSyncerOptions = {},
  ) {
    super(log, 'routes not in step with the LB pods; retrying', options);
    this.proto = options.proto ?? DEFAULT_ROUTE_PROTO;
  }

  /** One pass: read our routes, apply the difference. Returns the commands run; throws if one failed. */
  sync(): string[][] {
    const pods = this.pods();
    if (!pods) return [];
    const current: RouteTable = new Map([
      ...parseIpRouteJson(this.ip(['-j', '-4', 'route', 'show', 'proto', String(this.proto)])),
      ...parseIpRouteJson(this.ip(['-j', '-6', 'route', 'show', 'proto', String(this.proto)])),
    ]);
    return runIpCommands(this.ip, routeCommands(current, desiredRoutes(pods), this.proto), this.log);
  }
}

/**
 * Runs `ip` commands in order, logging each change and each failure (the rest still run); returns
 * them. Throws once all have run if any failed, so that the caller's pass is retried.
 */
export function runIpCommands(ip: IpRunner, commands: string[][], log: Logger): string[][] {
  let failed = 0;
  for (const args of commands) {
    try {
      ip(args);
      log.log('info', 'route changed', { command: `ip ${args.join(' ')}` });
    } catch (err) {
      failed++;
      log.log('error', 'route change failed', { command: `ip ${args.join(' ')}`, error: (err as { stderr?: string }).stderr?.toString().trim() ?? String(err) });
    }
  }
  if (failed > 0) throw new Error(`${failed} of ${commands.length} route commands failed`);
  return commands;
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

/** `ecmp-lb node-agent`: the LB pods scheduled on this node, in the namespaces with LB services. */
export async function runNodeAgent(options: NodeAgentOptions): Promise<{ stop: () => Promise<void>; syncer: RouteSyncer }> {
  const kubeConfig = options.kubeConfig ?? await loadKubeConfig(options.kubeconfigPath);
  const watch = await LbPodWatch.create<LbPod>({
    kubeConfig, namespaces: options.namespaces, fieldSelector: `spec.nodeName=${options.nodeName}`, log: options.log,
    onChange: () => void syncer.schedule(),
  });
  // The resync also repairs routes that someone else removed or changed.
  const syncer = new RouteSyncer(() => watch.pods(), options.ip ?? hostIp, options.log, { resyncMs: options.resyncMs ?? 30_000 });
  await watch.start();
  syncer.start();
  options.log.log('info', 'node agent started', { node: options.nodeName, namespaces: options.namespaces });
  return { syncer, stop: async () => { syncer.stop(); await watch.stop(); } };
}
