import { BfdDiagnostic, BfdEndpoint, BfdState } from './bfd';
import { errorFields, Logger } from './log';
import { ControllerMetrics } from './metrics';
import { LoadBalancerServiceModel } from '../../lib/model';

/**
 * The LB pod's BFD sessions: one from the pod's address to each reflector that runs BFD (its
 * `host` is a literal address then). The reflector side acts on them (the reflector agent unbinds
 * a pod whose session goes down, FRR's bgpd drops the peer); the pod only answers and reports.
 * Closing says AdminDown, so a pod that stops is not counted as failed.
 */
export async function startLbBfd(service: LoadBalancerServiceModel, podIp: string, metrics: ControllerMetrics, log: Logger): Promise<{ close(): void } | undefined> {
  const reflectors = service.reflectors.filter((r) => r.bfd);
  if (reflectors.length === 0) return undefined;
  const names = new Map(reflectors.map((r) => [r.host, r.name]));
  let endpoint: BfdEndpoint;
  try {
    endpoint = await BfdEndpoint.open(podIp, (peer, state, diagnostic) => {
      const reflector = names.get(peer) ?? peer;
      metrics.bfdSessionUp.set({ reflector }, state === BfdState.UP ? 1 : 0);
      log.log(state === BfdState.UP || state === BfdState.INIT ? 'info' : 'warn', `BFD session with reflector ${reflector} ${BfdState[state].toLowerCase()}`,
        { peer, diagnostic: BfdDiagnostic[diagnostic]?.toLowerCase() ?? diagnostic });
    });
  } catch (err) {
    // Serving matters more: without BFD a dead pod is still found by the BGP hold timer.
    metrics.errors.inc({ kind: 'bfd' });
    log.log('error', 'BFD not started: the pod address cannot be bound; the reflectors fall back to the BGP hold timer', { podIp, ...errorFields(err) });
    return undefined;
  }
  for (const reflector of reflectors) {
    metrics.bfdSessionUp.set({ reflector: reflector.name }, 0);
    endpoint.add(reflector.host, { minTxMs: reflector.bfd!.minIntervalMs, minRxMs: reflector.bfd!.minIntervalMs, multiplier: reflector.bfd!.multiplier });
  }
  return endpoint;
}
