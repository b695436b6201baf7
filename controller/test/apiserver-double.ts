import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/**
 * A small Kubernetes API server double for list/watch of namespaced collections (and GET of one
 * object, e.g. a Node). It speaks the
 * real wire format so @kubernetes/client-node runs unmodified: JSON lists with
 * metadata.resourceVersion and `continue` paging, chunked watch streams of `{"type","object"}`
 * lines, bookmarks when asked for, `410 Expired` as an ERROR event for a compacted
 * resourceVersion, `timeoutSeconds`, Status bodies for 403/429/5xx. Faults are injected by tests.
 */
export interface KubeObject {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

interface WatchEvent { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject; rv: number }

interface Watcher {
  collection: string;
  filter: (o: KubeObject) => boolean;
  bookmarks: boolean;
  res: http.ServerResponse;
  kind: string;
}

export interface InjectedFailure {
  status: number;
  headers?: Record<string, string>;
  reason?: string;
}

export interface RequestRecord { method: string; path: string; query: URLSearchParams; status: number }

export class ApiServerDouble {
  readonly requests: RequestRecord[] = [];
  /** Events at or below this resourceVersion are gone: watching from there gets 410. */
  compactedRv = 0;
  /** When set, every watch is accepted and ended at once with nothing sent (a misbehaving proxy). */
  endWatchesAtOnce = false;
  private rv = 100;
  private readonly collections = new Map<string, Map<string, KubeObject>>();
  private readonly history: (WatchEvent & { collection: string })[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly failures: { match: 'list' | 'watch' | 'any'; failure: InjectedFailure }[] = [];
  private readonly pages = new Map<string, { items: KubeObject[]; rv: string }>();
  private server?: http.Server;
  private port = 0;

  /** Starts listening, on loopback by default (on the same port as before when restarted). */
  async start(host = '127.0.0.1', port?: number): Promise<void> {
    if (port !== undefined) this.port = port;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket) => { this.sockets.add(socket); socket.on('close', () => this.sockets.delete(socket)); });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.port, host, resolve); });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and cuts every connection: the API server is unreachable until start(). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.watchers.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string { return `http://${(this.server?.address() as AddressInfo | undefined)?.address ?? '127.0.0.1'}:${this.port}`; }

  /** Writes a kubeconfig for this server (plain HTTP, no credentials) for programs run as processes. */
  writeKubeconfig(file: string): void {
    fs.writeFileSync(file, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'double',
      clusters: [{ name: 'double', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'double', user: {} }], contexts: [{ name: 'double', context: { cluster: 'double', user: 'double' } }],
    }));
  }

  /** Number of open watch streams. */
  get openWatches(): number { return this.watchers.size; }

  upsert(collection: string, object: KubeObject): void {
    const objects = this.collectionMap(collection);
    const type = objects.has(object.metadata.name) ? 'MODIFIED' : 'ADDED';
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    objects.set(object.metadata.name, stored);
    this.publish(collection, { type, object: stored, rv: this.rv });
  }

  remove(collection: string, name: string): void {
    const objects = this.collectionMap(collection);
    const old = objects.get(name);
    if (!old) return;
    objects.delete(name);
    const tombstone = { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.rv) } };
    this.publish(collection, { type: 'DELETED', object: tombstone, rv: this.rv });
  }

  /** Forgets history, as etcd compaction does: older watches get 410 Expired. */
  compact(): void { this.compactedRv = this.rv; this.history.length = 0; }

  /** The next matching request(s) fail with this status and a Status body. */
  failNext(match: 'list' | 'watch' | 'any', failure: InjectedFailure, times = 1): void {
    for (let i = 0; i < times; i++) this.failures.push({ match, failure });
  }

  /** Ends every open watch stream cleanly (as an API server's timeout or restart does). */
  closeWatches(): void { for (const w of this.watchers) w.res.end(); this.watchers.clear(); }

  /** Kills the TCP connections of every open watch without a proper end (a dropped connection). */
  dropWatches(): void { for (const w of this.watchers) w.res.socket?.destroy(); this.watchers.clear(); }

  /** Sends a bookmark at the current resourceVersion to watchers that asked for bookmarks. */
  sendBookmarks(): void {
    for (const w of this.watchers) {
      if (w.bookmarks) this.write(w, { type: 'BOOKMARK', object: { kind: w.kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Sends a 410 Expired ERROR event on every open watch and closes them, as a real server does. */
  expireWatches(): void {
    for (const w of this.watchers) {
      this.write(w, { type: 'ERROR', object: status(410, 'Expired', 'too old resource version') });
      w.res.end();
    }
    this.watchers.clear();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://double');
    const watch = url.searchParams.get('watch') === 'true';
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, status: 200 };
    this.requests.push(record);
    const failureIndex = this.failures.findIndex((f) => f.match === 'any' || f.match === (watch ? 'watch' : 'list'));
    if (failureIndex >= 0) {
      const { failure } = this.failures.splice(failureIndex, 1)[0];
      record.status = failure.status;
      return this.sendStatus(res, failure.status, failure.reason ?? http.STATUS_CODES[failure.status] ?? 'Error', failure.headers);
    }
    const collection = url.pathname;
    const parent = collection.slice(0, collection.lastIndexOf('/'));
    if (!watch && !this.collections.has(collection) && this.collections.has(parent)) {
      return this.sendObject(parent, collection.slice(parent.length + 1), res);
    }
    const filter = selectorFilter(url.searchParams.get('labelSelector'), url.searchParams.get('fieldSelector'));
    if (watch) return this.startWatch(collection, url.searchParams, filter, res, record);
    return this.sendList(collection, url.searchParams, filter, res);
  }

  /** GET of one object by name (`<collection>/<name>`): the object, or 404 NotFound. */
  private sendObject(collection: string, name: string, res: http.ServerResponse): void {
    const object = this.collectionMap(collection).get(name);
    if (!object) return this.sendStatus(res, 404, 'NotFound', {}, `${kindOf(collection).toLowerCase()} "${name}" not found`);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: kindOf(collection), apiVersion: apiVersionOf(collection), ...object }));
  }

  private sendList(collection: string, query: URLSearchParams, filter: (o: KubeObject) => boolean, res: http.ServerResponse): void {
    const limit = Number(query.get('limit') ?? 0);
    const token = query.get('continue');
    let snapshot = token ? this.pages.get(token) : undefined;
    if (token && !snapshot) return this.sendStatus(res, 410, 'Expired', {}, 'the provided continue parameter is too old');
    snapshot ??= { items: [...this.collectionMap(collection).values()].filter(filter), rv: String(this.rv) };
    const offset = token ? Number(token.split(':')[1]) : 0;
    const end = limit > 0 ? offset + limit : snapshot.items.length;
    const metadata: Record<string, string> = { resourceVersion: snapshot.rv };
    if (end < snapshot.items.length) {
      const next = `${snapshot.rv}:${end}:${this.pages.size}`;
      this.pages.set(next, snapshot);
      metadata.continue = next;
    }
    const kind = `${kindOf(collection)}List`;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind, apiVersion: apiVersionOf(collection), metadata, items: snapshot.items.slice(offset, end) }));
  }

  private startWatch(
    collection: string,
    query: URLSearchParams,
    filter: (o: KubeObject) => boolean,
    res: http.ServerResponse,
    record: RequestRecord,
  ): void {
    const from = Number(query.get('resourceVersion') || this.rv);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const watcher: Watcher = { collection, filter, bookmarks: query.get('allowWatchBookmarks') === 'true', res, kind: kindOf(collection) };
    if (this.endWatchesAtOnce) {
      res.end();
      return;
    }
    if (from < this.compactedRv) {
      record.status = 410;
      this.write(watcher, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`) });
      res.end();
      return;
    }
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    if (timeout > 0) {
      const timer = setTimeout(() => { this.watchers.delete(watcher); res.end(); }, timeout * 1000);
      res.on('close', () => clearTimeout(timer));
    }
    for (const event of this.history) {
      if (event.collection === collection && event.rv > from && filter(event.object)) this.write(watcher, event);
    }
  }

  private publish(collection: string, event: WatchEvent): void {
    this.history.push({ ...event, collection });
    for (const w of this.watchers) {
      if (w.collection === collection && w.filter(event.object)) this.write(w, event);
    }
  }

  private write(w: Watcher, event: { type: string; object: unknown }): void {
    w.res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }

  private sendStatus(res: http.ServerResponse, code: number, reason: string, headers: Record<string, string> = {}, message?: string): void {
    res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(status(code, reason, message ?? reason)));
  }

  private collectionMap(collection: string): Map<string, KubeObject> {
    let objects = this.collections.get(collection);
    if (!objects) { objects = new Map(); this.collections.set(collection, objects); }
    return objects;
  }
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** Equality-only label and field selectors (`a=b,c=d`), which is all the controller uses. */
function selectorFilter(labelSelector: string | null, fieldSelector: string | null): (o: KubeObject) => boolean {
  const labels = pairs(labelSelector);
  const fields = pairs(fieldSelector);
  return (o) => labels.every(([k, v]) => o.metadata.labels?.[k] === v)
    && fields.every(([path, v]) => path.split('.').reduce<any>((node, key) => node?.[key], o) === v);
}

function pairs(selector: string | null): [string, string][] {
  if (!selector) return [];
  return selector.split(',').map((term) => term.split('=') as [string, string]);
}

function kindOf(collection: string): string {
  if (collection.endsWith('/endpointslices')) return 'EndpointSlice';
  if (collection.endsWith('/pods')) return 'Pod';
  if (collection === '/api/v1/nodes') return 'Node';
  throw new Error(`the double serves endpointslices, pods and nodes, not ${collection}`);
}

function apiVersionOf(collection: string): string {
  return collection.startsWith('/apis/') ? collection.split('/').slice(2, 4).join('/') : 'v1';
}
