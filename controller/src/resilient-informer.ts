import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { BackoffPolicy, DEFAULT_BACKOFF, backoffDelay, retryAfterMs } from './backoff';
import { Clock, realClock } from './clock';
import { loadKubeClient } from './kube-client';
import { Logger, errorFields } from './log';

/**
 * @kubernetes/client-node's ListWatch keeps the cache and handles 410 (relist) itself, but on any
 * other error it just stops. This wraps it, unmodified, to survive what real API servers do:
 * retries with exponential backoff and jitter (honouring Retry-After), a clear message for 403,
 * bookmarks and server-side timeouts requested on every watch, a watchdog for silent streams,
 * and no hot loop when a server closes watches at once. The cache is never cleared on errors,
 * so the last good state stays in force while the API is unreachable.
 */
export interface ResilientInformerOptions<T> {
  readonly kubeConfig: K8s.KubeConfig;
  /** Collection path, e.g. /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices. */
  readonly path: string;
  /** One page of the list; the informer follows `continue` tokens itself. */
  readonly listPage: (continueToken: string | undefined) => Promise<{ items: T[]; metadata?: { resourceVersion?: string; _continue?: string } }>;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** What is watched, for messages (e.g. `endpointslices in namespace shop`). */
  readonly description: string;
  readonly log: Logger;
  /** Called (synchronously) whenever the cache may have changed, and after every successful list. */
  readonly onChange: () => void;
  readonly onRestart?: (reason: string) => void;
  readonly backoff?: BackoffPolicy;
  /** Server-side watch timeout; a random 0-100 % is added so LB pods do not reconnect in step. */
  readonly watchTimeoutSeconds?: number;
  /** Abort a watch that has delivered nothing (not even a bookmark) for this long. */
  readonly idleTimeoutMs?: number;
  /** The retry and watchdog timers (a faster clock in tests). */
  readonly clock?: Clock;
}

type Done = (err: unknown) => void;
type WatchCallback = (phase: string, obj: any, watchObj?: any) => void;

export class ResilientInformer<T extends K8s.KubernetesObject> {
  private listWatch?: K8s.ListWatch<T>;
  private retryTimer?: unknown;
  private attempt = 0;
  private stopped = false;
  private everSynced = false;
  private lastError?: string;

  constructor(private readonly options: ResilientInformerOptions<T>) {}

  private get clock(): Clock { return this.options.clock ?? realClock; }

  /** True once a list has succeeded; stays true through later outages (the cache is kept). */
  get synced(): boolean { return this.everSynced; }

  /** The latest error, cleared by the next successful list or watch event. */
  get error(): string | undefined { return this.lastError; }

  list(): readonly T[] { return this.listWatch?.list() ?? []; }

  async start(): Promise<void> {
    const k8s = await loadKubeClient();
    const watch = new k8s.Watch(this.options.kubeConfig);
    const guardedWatch = {
      watch: (path: string, query: Record<string, unknown>, cb: WatchCallback, done: Done) => this.watchOnce(watch, path, query, cb, done),
    };
    this.listWatch = new k8s.ListWatch<T>(
      this.options.path,
      guardedWatch as unknown as K8s.Watch,
      () => this.listAll(),
      false,
      this.options.labelSelector,
      this.options.fieldSelector,
    );
    for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE]) this.listWatch.on(verb as any, () => this.options.onChange());
    this.listWatch.on(k8s.ERROR, (err: unknown) => this.onError(err));
    await this.listWatch.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.retryTimer);
    await this.listWatch?.stop();
  }

  private async listAll(): Promise<{ items: T[]; metadata: { resourceVersion?: string } }> {
    const items: T[] = [];
    let page = await this.options.listPage(undefined);
    items.push(...page.items);
    // All pages of one list share the first page's snapshot; a stale token fails with 410 and we relist.
    while (page.metadata?._continue) {
      page = await this.options.listPage(page.metadata._continue);
      items.push(...page.items);
    }
    this.succeeded();
    if (!this.everSynced) this.options.log.log('info', 'initial list done', { what: this.options.description, items: items.length });
    this.everSynced = true;
    // ListWatch applies the list right after this resolves; tell the owner once it has.
    setImmediate(() => { if (!this.stopped) this.options.onChange(); });
    return { items, metadata: { resourceVersion: page.metadata?.resourceVersion } };
  }

  private async watchOnce(
    watch: K8s.Watch,
    path: string,
    query: Record<string, unknown>,
    cb: WatchCallback,
    done: Done,
  ): Promise<AbortController> {
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? 300;
    const idleTimeoutMs = this.options.idleTimeoutMs ?? (timeoutSeconds * 2 + 30) * 1000;
    const startedAt = Date.now();
    let received = false;
    let idleTimer: unknown;
    let controller: AbortController | undefined;
    let idled = false;
    const armIdleTimer = () => {
      this.clock.clearTimeout(idleTimer);
      idleTimer = this.clock.setTimeout(() => { idled = true; controller?.abort(); }, idleTimeoutMs);
    };
    const onEvent = (phase: string, obj: any, watchObj?: any) => {
      received = true;
      this.succeeded();
      armIdleTimer();
      cb(phase, obj, watchObj);
    };
    const onDone: Done = (err) => {
      this.clock.clearTimeout(idleTimer);
      if (idled) return done(new WatchStalled(idleTimeoutMs));
      // A stream the server ends at once with nothing in it would make ListWatch reconnect in a
      // tight loop; treat it as an error so the backoff applies.
      if (!err && !received && Date.now() - startedAt < 1000) return done(new WatchClosedEarly());
      done(err);
    };
    const params = { ...query, allowWatchBookmarks: true, timeoutSeconds: Math.round(timeoutSeconds * (1 + Math.random())) };
    armIdleTimer();
    controller = await watch.watch(path, params, onEvent, onDone);
    return controller;
  }

  private succeeded(): void {
    this.attempt = 0;
    this.lastError = undefined;
  }

  private onError(err: unknown): void {
    if (this.stopped) return; // stop() aborts the stream, which reports an abort error.
    const { reason, message, delayMs } = this.classify(err);
    this.lastError = message;
    this.options.log.log(reason === 'forbidden' ? 'error' : 'warn', message, { what: this.options.description, reason, retryInMs: delayMs, ...errorFields(err) });
    this.options.onRestart?.(reason);
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = this.clock.setTimeout(() => { if (!this.stopped) void this.listWatch?.start(); }, delayMs);
  }

  private classify(err: unknown): { reason: string; message: string; delayMs: number } {
    const e = err as { code?: unknown; statusCode?: unknown; headers?: Record<string, string> };
    const status = Number(typeof e?.code === 'number' ? e.code : e?.statusCode);
    let delayMs = backoffDelay(this.options.backoff ?? DEFAULT_BACKOFF, this.attempt++);
    if (err instanceof WatchStalled) return { reason: 'stalled', message: err.message, delayMs };
    if (err instanceof WatchClosedEarly) return { reason: 'closed', message: err.message, delayMs };
    if (status === 403) {
      return { reason: 'forbidden', delayMs, message: `RBAC: access to ${this.options.description} is forbidden (HTTP 403). Grant the pod's ServiceAccount get/list/watch on this resource; retrying` };
    }
    if (status === 401) return { reason: 'unauthorized', delayMs, message: 'the API server rejected the ServiceAccount token (HTTP 401); retrying' };
    if (status === 429) {
      // The watch client drops response headers; API servers send Retry-After: 1 there too.
      delayMs = Math.max(delayMs, retryAfterMs(e.headers?.['retry-after']) ?? 1000);
      return { reason: 'throttled', delayMs, message: 'the API server is throttling (HTTP 429); retrying' };
    }
    if (status >= 500) return { reason: 'server_error', delayMs, message: `the API server failed (HTTP ${status}); retrying` };
    if (status >= 400) return { reason: `http_${status}`, delayMs, message: `the API server refused the request (HTTP ${status}); retrying` };
    return { reason: 'network', delayMs, message: 'the API server is unreachable or the stream broke; keeping the last good state, retrying' };
  }
}

class WatchStalled extends Error {
  constructor(ms: number) { super(`watch delivered nothing for ${ms} ms; reconnecting`); }
}

class WatchClosedEarly extends Error {
  constructor() { super('the API server closed the watch at once; backing off'); }
}
