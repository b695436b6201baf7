import * as fs from 'node:fs';
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { BfdEndpoint } from './bfd';
import { GobgpNeighborSets, gobgpApi } from './gobgp-api';
import { loadKubeConfig } from './kube-client';
import { LbPodWatch } from './lb-pod-watch';
import { Logger, errorFields } from './log';
import { LbPodBfd } from './reflector-bfd';
import { startRouterBfd } from './router-bfd';
import { LoopedSyncer, SyncerOptions } from './sync-loop';
import { formatAddress, hostPrefix, parseAddress } from '../../lib/ip';
import { LB_ROLE_LABEL, LB_SERVICE_LABEL } from '../../lib/model';
import { lbPodNeighborSet, ReflectorAgentBinding, ReflectorAgentConfig, UNBOUND_NEIGHBORS } from '../../lib/renderers/reflector-agent';

/**
 * `ecmp-lb reflector-agent`: binds each service's prefixes to its own LB pods. gobgpd accepts a
 * service's prefix only from the addresses in the service's neighbor set; this agent keeps every
 * such set equal to the IPs of the service's LB pods as the API server lists them, so a pod
 * elsewhere in the pod network cannot announce it. Runs beside gobgpd and drives it through its
 * gRPC API on loopback (gobgp-api.ts).
 */

/** The subset of a Pod the agent reads. */
export interface AgentPod {
  readonly metadata?: { readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly status?: { readonly phase?: string; readonly podIP?: string; readonly podIPs?: { readonly ip?: string }[] };
}

/** neighbor set -> addresses as gobgpd lists them (`A/32`, `A/128`), sorted. */
export type NeighborSets = Map<string, string[]>;

/**
 * Pure: the addresses each bound neighbor set must hold. A pod counts from the moment it has an IP
 * until it is gone, terminating included (a draining LB pod withdraws its routes itself), except
 * when it has finished. Addresses that do not parse strictly are skipped (and returned).
 */
export function desiredNeighborSets(
  bindings: readonly ReflectorAgentBinding[],
  pods: readonly AgentPod[],
): { sets: NeighborSets; skipped: string[] } {
  const sets: NeighborSets = new Map();
  const skipped: string[] = [];
  for (const binding of bindings) {
    const addresses = new Set(UNBOUND_NEIGHBORS);
    for (const pod of pods) {
      const labels = pod.metadata?.labels ?? {};
      if (pod.metadata?.namespace !== binding.namespace || labels[LB_ROLE_LABEL] !== 'lb' || labels[LB_SERVICE_LABEL] !== binding.service) continue;
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
      const ips = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p?.ip)].filter((ip): ip is string => typeof ip === 'string' && ip !== '');
      for (const ip of ips) {
        const address = parseAddress(ip);
        if (!address) skipped.push(ip);
        else addresses.add(hostPrefix(formatAddress(address)));
      }
    }
    sets.set(lbPodNeighborSet(binding), [...addresses].sort());
  }
  return { sets, skipped: [...new Set(skipped)].sort() };
}

/** One membership change of a neighbor set. */
export interface NeighborChange {
  readonly op: 'add' | 'del';
  readonly set: string;
  readonly address: string;
}

/**
 * Pure: what takes gobgpd's bound sets from `current` to `desired`, adds first (so a set never
 * passes through empty, which gobgpd would match against every peer). The never-a-peer addresses
 * stay.
 */
export function neighborSetChanges(current: NeighborSets, desired: NeighborSets): NeighborChange[] {
  const adds: NeighborChange[] = [];
  const dels: NeighborChange[] = [];
  for (const [set, wanted] of desired) {
    const have = current.get(set) ?? [];
    for (const address of wanted) if (!have.includes(address) && !UNBOUND_NEIGHBORS.includes(address)) adds.push({ op: 'add', set, address });
    for (const address of have) if (!wanted.includes(address) && !UNBOUND_NEIGHBORS.includes(address)) dels.push({ op: 'del', set, address });
  }
  return [...adds, ...dels];
}

export interface BindingSyncerOptions extends SyncerOptions {
  /** BFD with the pods: a pod whose session failed is left out of its set. */
  readonly bfd?: LbPodBfd;
}

/**
 * Brings gobgpd's sets to what the pods say; re-applies the import policy to the peers it changed.
 * The resync also repairs a restarted gobgpd, which comes back with the config's sets only.
 */
export class BindingSyncer extends LoopedSyncer {
  private readonly bfd?: LbPodBfd;
  private lastSkipped = '';

  /** `pods` is undefined until every namespace has been listed: a partial view would unbind the others' pods. */
  constructor(
    private readonly config: ReflectorAgentConfig,
    private readonly pods: () => readonly AgentPod[] | undefined,
    private readonly gobgp: GobgpNeighborSets,
    private readonly log: Logger,
    options: BindingSyncerOptions = {},
  ) {
    super(log, 'gobgpd not updated; retrying', options);
    this.bfd = options.bfd;
  }

  /** One pass; returns the changes made. */
  async sync(): Promise<NeighborChange[]> {
    const pods = this.pods();
    if (!pods) return [];
    const { sets: bound, skipped } = desiredNeighborSets(this.config.bindings, pods);
    const desired = this.withoutFailed(bound);
    if (skipped.join() !== this.lastSkipped) {
      this.lastSkipped = skipped.join();
      if (skipped.length > 0) this.log.log('warn', 'LB pod addresses ignored: not IP addresses', { addresses: skipped });
    }
    const changes = neighborSetChanges(await this.gobgp.list(), desired);
    for (const change of changes) {
      await (change.op === 'add' ? this.gobgp.add(change.set, change.address) : this.gobgp.delete(change.set, change.address));
      this.log.log('info', change.op === 'add' ? 'LB pod bound' : 'LB pod unbound', { neighborSet: change.set, address: change.address });
    }
    // gobgpd evaluates import policy when a route arrives: re-run it over what these peers sent.
    for (const address of new Set(changes.map((c) => bareAddress(c.address)))) {
      await this.gobgp.softResetIn(address).catch(() => undefined); // not connected (yet): nothing to re-evaluate
    }
    return changes;
  }

  private withoutFailed(sets: NeighborSets): NeighborSets {
    const bfd = this.bfd;
    if (!bfd) return sets;
    const family = this.config.bfd?.localAddress.includes(':') ? ':' : '.';
    bfd.track([...new Set([...sets.values()].flat())]
      .filter((a) => !UNBOUND_NEIGHBORS.includes(a))
      .map(bareAddress)
      .filter((a) => a.includes(family)));
    return new Map([...sets].map(([set, addresses]) => [
      set,
      addresses.filter((a) => UNBOUND_NEIGHBORS.includes(a) || !bfd.isFailed(bareAddress(a))),
    ]));
  }
}

/** `A` of `A/32` or `A/128`. */
function bareAddress(prefix: string): string {
  return prefix.slice(0, prefix.lastIndexOf('/'));
}

export function loadAgentConfig(file: string): ReflectorAgentConfig {
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as ReflectorAgentConfig;
  if (typeof config.gobgpApi !== 'string' || !Array.isArray(config.bindings)) throw new Error(`${file}: not a reflector agent config (gobgpApi, bindings)`);
  return config;
}

export interface ReflectorAgentOptions {
  readonly config: ReflectorAgentConfig;
  readonly log: Logger;
  readonly kubeconfigPath?: string;
  readonly kubeConfig?: K8s.KubeConfig;
  /** gobgpd's API, when not the config's `gobgpApi` (`HOST:PORT` or `unix:///PATH`). */
  readonly gobgpApi?: string;
  readonly resyncMs?: number;
}

/** Watches the LB pods of every bound namespace and keeps gobgpd's sets in step. */
export async function runReflectorAgent(options: ReflectorAgentOptions): Promise<{ stop: () => Promise<void>; syncer: BindingSyncer }> {
  const kubeConfig = options.kubeConfig ?? await loadKubeConfig(options.kubeconfigPath);
  const namespaces = [...new Set(options.config.bindings.map((b) => b.namespace))].sort();
  const watch = await LbPodWatch.create<AgentPod>({
    kubeConfig, namespaces, log: options.log,
    onChange: () => void syncer.schedule(),
  });
  const gobgp = gobgpApi(options.gobgpApi ?? options.config.gobgpApi);
  const bfdConfig = options.config.bfd;
  let bfd: LbPodBfd | undefined;
  const endpoint = bfdConfig && await BfdEndpoint.open(
    bfdConfig.localAddress,
    (peer, state, diagnostic) => bfd!.onState(peer, state, diagnostic),
  ).catch((err) => {
    // Binding matters more: without BFD a dead pod is still found by the BGP hold timer.
    options.log.log('error', 'BFD not started: the reflector address cannot be bound here; binding LB pods without it', { localAddress: bfdConfig.localAddress, ...errorFields(err) });
    return undefined;
  });
  if (endpoint && bfdConfig) {
    bfd = new LbPodBfd(
      endpoint,
      { minTxMs: bfdConfig.minIntervalMs, minRxMs: bfdConfig.minIntervalMs, multiplier: bfdConfig.multiplier },
      () => void syncer.schedule(),
      options.log,
    );
  }
  const syncer = new BindingSyncer(options.config, () => watch.pods(), gobgp, options.log, { bfd, resyncMs: options.resyncMs ?? 10_000 });
  // gobgpd has no BFD: the agent runs its sessions with the routers, speaking while gobgpd answers.
  const routerBfd = options.config.routerBfd && await startRouterBfd(options.config.routerBfd, gobgp, options.log);
  await watch.start();
  syncer.start();
  options.log.log('info', 'reflector agent started', {
    namespaces, neighborSets: options.config.bindings.map(lbPodNeighborSet), bfd: bfdConfig ?? 'off', routerBfd: options.config.routerBfd?.routers.map((r) => r.address) ?? 'off',
  });
  return { syncer, stop: async () => { syncer.stop(); await watch.stop(); endpoint?.close(); routerBfd?.stop(); gobgp.close(); } };
}
