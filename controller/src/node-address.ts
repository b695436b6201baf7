import { backoffDelay, BackoffPolicy } from './backoff';
import { Logger } from './log';
import { parseAddress } from '../../lib/ip';

/** The subset of a Node the controller reads. */
export interface NodeStatusAddresses {
  readonly status?: { readonly addresses?: readonly { readonly type?: string; readonly address?: string }[] | null } | null;
}

/**
 * Pure: the node's address of one family, its first `InternalIP` of that family in the kubelet's
 * order (a dual-stack kubelet lists one per family, `--node-ip=v4,v6`), canonical; undefined when
 * it has none. `status.hostIP` is the first InternalIP too, so both families come from one source.
 * Other address types (ExternalIP, Hostname) are not what the cluster's nodes reach each other on.
 */
export function nodeAddressOfFamily(node: NodeStatusAddresses, family: 4 | 6): string | undefined {
  const addresses = Array.isArray(node?.status?.addresses) ? node.status!.addresses! : [];
  for (const entry of addresses) {
    if (entry?.type !== 'InternalIP' || typeof entry.address !== 'string') continue;
    const address = parseAddress(entry.address);
    if (address && (address.kind() === 'ipv4' ? 4 : 6) === family) return address.toString();
  }
  return undefined;
}

export interface NodeAddressSourceOptions {
  /** Reads the pod's own Node (`get` on nodes: the only verb the ClusterRole grants). */
  readonly read: () => Promise<NodeStatusAddresses>;
  readonly family: 4 | 6;
  readonly nodeName: string;
  readonly log: Logger;
  /** Called when the address changes (found, changed or lost). */
  readonly onChange: () => void;
  /** Re-read interval once the address is known: a node's addresses rarely change, but can. */
  readonly refreshMs?: number;
  readonly retryBackoff?: BackoffPolicy;
}

/**
 * Keeps a node's address of the other family than `status.hostIP`, for a dual-stack service's next
 * hop. Reads the Node at start, again with backoff until it has an address of the family, then every
 * `refreshMs`. A failed read keeps the last address (the API server being away does not move a
 * node's address); a Node without one clears it, and the controller withdraws that family.
 */
export class NodeAddressSource {
  private address?: string;
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  private stopped = false;

  constructor(private readonly options: NodeAddressSourceOptions) {}

  get current(): string | undefined { return this.address; }

  /** The first read, awaited; later reads run on their own. */
  async start(): Promise<void> {
    await this.poll();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    const { family, nodeName, log } = this.options;
    let found: string | undefined;
    let ok = false;
    try {
      found = nodeAddressOfFamily(await this.options.read(), family);
      ok = true;
    } catch (err) {
      log.log('error', 'could not read the node for its address', { node: nodeName, family: `IPv${family}`, error: String((err as Error)?.message ?? err) });
    }
    if (ok && found !== this.address) {
      log.log(found ? 'info' : 'error', found ? 'node address of the other family' : 'the node has no InternalIP of the other family: its prefixes are withdrawn', { node: nodeName, family: `IPv${family}`, address: found ?? null });
      this.address = found;
      this.options.onChange();
    }
    if (this.stopped) return;
    const retry = !ok || found === undefined;
    this.attempt = retry ? this.attempt + 1 : 0;
    const backoff = this.options.retryBackoff ?? { initialMs: 1000, maxMs: 30_000 };
    const delay = retry ? backoffDelay(backoff, this.attempt - 1) : this.options.refreshMs ?? 60_000;
    this.timer = setTimeout(() => void this.poll(), delay);
  }
}
