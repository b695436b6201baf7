import { isIP } from 'node:net';
import { BfdDiagnostic, BfdEndpoint, BfdState } from './bfd';
import { dnsResolver, Resolver } from './init';
import { errorFields, Logger } from './log';
import { ControllerMetrics } from './metrics';
import { LoadBalancerServiceModel } from '../../lib/model';

/**
 * The LB pod's BFD sessions: one from the pod's address to each reflector that runs BFD, at the
 * address the pod knows it by: a standalone reflector's own address, or an in-cluster reflector's
 * Service name, resolved once (as the init step resolves it for exabgp) to its ClusterIP, which
 * the node DNATs to the reflector pod. That pod's packets come from the pod's own address, not the
 * ClusterIP (they are a flow of their own, not replies), and are matched to the session by our
 * discriminator, which the reflector learns from our first packet. The reflector side acts on the
 * sessions (the reflector agent unbinds a pod whose session goes down, FRR's bgpd drops the peer);
 * the pod only answers and reports. Closing says AdminDown, so a pod that stops is not counted as
 * failed.
 */
export async function startLbBfd(service: LoadBalancerServiceModel, podIp: string, metrics: ControllerMetrics, log: Logger,
  resolve: Resolver = dnsResolver(isIP(podIp) === 6 ? 6 : 4)): Promise<{ close(): void } | undefined> {
  const reflectors = service.reflectors.filter((r) => r.bfd);
  if (reflectors.length === 0) return undefined;
  const names = new Map<string, string>();
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
  let closed = false;
  for (const reflector of reflectors) {
    metrics.bfdSessionUp.set({ reflector: reflector.name }, 0);
    const timers = { minTxMs: reflector.bfd!.minIntervalMs, minRxMs: reflector.bfd!.minIntervalMs, multiplier: reflector.bfd!.multiplier };
    // A literal address at once; a Service name once resolved (the init step already has, so soon).
    void resolve(reflector.host).then((address) => {
      if (closed) return;
      names.set(address, reflector.name);
      endpoint.add(address, timers);
    }, (err) => {
      metrics.errors.inc({ kind: 'bfd' });
      log.log('error', `BFD with reflector ${reflector.name} not started: its address does not resolve; it falls back to the BGP hold timer`, { host: reflector.host, ...errorFields(err) });
    });
  }
  return { close: () => { closed = true; endpoint.close(); } };
}
