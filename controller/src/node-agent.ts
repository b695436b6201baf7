import { execFileSync } from 'node:child_process';
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { loadKubeConfig } from './kube-client';
import { LbPodWatch } from './lb-pod-watch';
import { Logger } from './log';
import { DEFAULT_ROUTE_PROTO, LbPod, RouteTable, desiredRoutes, parseIpRouteJson, routeCommands } from './node-routes';

/** Runs `ip` (in tests, inside a namespace: `ip -n NS ...`). */
export type IpRunner = (args: string[]) => string;

export const hostIp: IpRunner = (args) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Keeps the node's routes for service prefixes pointing at the LB pods running on it. */
export class RouteSyncer {
  private scheduled = false;

  constructor(
    private readonly pods: () => readonly LbPod[],
    private readonly ip: IpRunner,
    private readonly log: Logger,
    private readonly proto = DEFAULT_ROUTE_PROTO,
  ) {}

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
    return runIpCommands(this.ip, routeCommands(current, desiredRoutes(this.pods()), this.proto), this.log);
  }
}

/** Runs `ip` commands in order, logging each change and each failure (the rest still run); returns them. */
export function runIpCommands(ip: IpRunner, commands: string[][], log: Logger): string[][] {
  for (const args of commands) {
    try {
      ip(args);
      log.log('info', 'route changed', { command: `ip ${args.join(' ')}` });
    } catch (err) {
      log.log('error', 'route change failed', { command: `ip ${args.join(' ')}`, error: (err as { stderr?: string }).stderr?.toString().trim() ?? String(err) });
    }
  }
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
    onChange: () => syncer.schedule(),
    // The resync also repairs routes that someone else removed or changed.
    resyncMs: options.resyncMs ?? 30_000,
  });
  const syncer = new RouteSyncer(() => watch.pods(), options.ip ?? hostIp, options.log);
  await watch.start();
  options.log.log('info', 'node agent started', { node: options.nodeName, namespaces: options.namespaces });
  return { syncer, stop: () => watch.stop() };
}
