import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { loadKubeClient } from './kube-client';
import { Logger } from './log';
import { ResilientInformer } from './resilient-informer';
import { LB_ROLE_LABEL } from '../../lib/model';

export interface LbPodWatchOptions {
  readonly kubeConfig: K8s.KubeConfig;
  /** Namespaces with LB services: one informer each, so only namespaced read access is needed. */
  readonly namespaces: string[];
  /** e.g. `spec.nodeName=N` for the node agent. */
  readonly fieldSelector?: string;
  readonly log: Logger;
  /**
   * Called on every pod event, but only once every namespace has been listed: acting on a partial
   * view would drop the routes or bindings of the namespaces not listed yet. (The callers' SyncLoops resync.)
   */
  readonly onChange: () => void;
}

/**
 * The LB pods (label `ecmp-lb.cdk8s.io/role=lb`) of some namespaces, kept by resilient informers.
 * `T`: the subset of a Pod the caller reads.
 */
export class LbPodWatch<T> {
  static async create<T>(options: LbPodWatchOptions): Promise<LbPodWatch<T>> {
    return new LbPodWatch<T>(options, await loadKubeClient());
  }

  private readonly informers: ResilientInformer<any>[];

  private constructor(private readonly options: LbPodWatchOptions, k8s: typeof K8s) {
    const core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const labelSelector = `${LB_ROLE_LABEL}=lb`;
    const { fieldSelector } = options;
    this.informers = options.namespaces.map((namespace) => new ResilientInformer<any>({
      kubeConfig: options.kubeConfig,
      path: `/api/v1/namespaces/${namespace}/pods`,
      labelSelector,
      fieldSelector,
      listPage: (token) => core.listNamespacedPod({ namespace, labelSelector, fieldSelector, limit: 500, _continue: token }),
      description: `LB pods (${labelSelector}) in namespace ${namespace}`,
      log: options.log,
      onChange: () => this.changed(),
    }));
  }

  /** Every namespace listed at least once. */
  get synced(): boolean { return this.informers.every((i) => i.synced); }

  /** The LB pods of every namespace, or undefined until each has been listed. */
  pods(): T[] | undefined { return this.synced ? this.informers.flatMap((i) => i.list() as T[]) : undefined; }

  /** Starts the informers; returns once each has tried its first list. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  private changed(): void {
    if (this.synced) this.options.onChange();
  }
}
