import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiServerDouble } from './apiserver-double';
import { FastClock } from './fake-clock';
import { serviceModel, slice } from './fixtures';
import { sleep, waitFor } from './wait';
import { DEFAULT_BACKOFF } from '../src/backoff';
import { Controller } from '../src/controller';
import { EndpointSlice } from '../src/endpoint-slices';
import { loadKubeClient, kubeConfigForUrl } from '../src/kube-client';
import { Logger, silentLogger } from '../src/log';
import { ControllerMetrics } from '../src/metrics';
import { ResilientInformer, ResilientInformerOptions } from '../src/resilient-informer';

const COLLECTION = '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices';
const SELECTOR = 'kubernetes.io/service-name=web-backend';

describe('ResilientInformer against the API double', () => {
  let api: ApiServerDouble;
  let informer: ResilientInformer<any>;
  let logs: { level: string; msg: string; fields: Record<string, unknown> }[];
  let restarts: string[];
  let newInformer: (overrides?: Partial<ResilientInformerOptions<any>>) => ResilientInformer<any>;

  const addresses = () => informer.list().flatMap((s: any) => s.endpoints.map((e: any) => e.addresses[0])).sort();
  const lists = () => api.requests.filter((r) => !r.query.has('watch')).length;
  const watches = () => api.requests.filter((r) => r.query.get('watch') === 'true');

  beforeEach(async () => {
    api = new ApiServerDouble();
    await api.start();
    api.upsert(COLLECTION, slice('web-a', [{ address: '198.18.5.1' }]) as any);
    api.upsert(COLLECTION, { ...slice('other', [{ address: '198.18.9.9' }]), metadata: { name: 'other', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'other' } } } as any);
    logs = [];
    restarts = [];
    const log: Logger = { log: (level, msg, fields = {}) => logs.push({ level, msg, fields }), child: () => log };
    const kubeConfig = await kubeConfigForUrl(api.url);
    const k8s = await loadKubeClient();
    const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
    newInformer = (overrides = {}) => new ResilientInformer({
      kubeConfig,
      path: COLLECTION,
      labelSelector: SELECTOR,
      listPage: (token) => discovery.listNamespacedEndpointSlice({ namespace: 'shop', labelSelector: SELECTOR, limit: 1, _continue: token }),
      description: 'endpointslices in namespace shop',
      log,
      onChange: () => {},
      onRestart: (reason) => restarts.push(reason),
      backoff: { initialMs: 40, maxMs: 400 },
      watchTimeoutSeconds: 60,
      ...overrides,
    });
    informer = newInformer();
  });

  afterEach(async () => {
    await informer.stop();
    await api.stop();
  });

  test('lists (following continue pages), then watches with the selector, bookmarks and a timeout', async () => {
    api.upsert(COLLECTION, slice('web-b', [{ address: '198.18.5.2' }]) as any);
    await informer.start();
    await waitFor('initial list', () => informer.synced && api.openWatches === 1);
    expect(addresses()).toEqual(['198.18.5.1', '198.18.5.2']);
    expect(lists()).toBe(2); // limit=1: two pages
    const watch = watches()[0].query;
    expect(watch.get('labelSelector')).toBe(SELECTOR);
    expect(watch.get('allowWatchBookmarks')).toBe('true');
    expect(Number(watch.get('timeoutSeconds'))).toBeGreaterThanOrEqual(60);
    api.upsert(COLLECTION, slice('web-a', [{ address: '198.18.5.3' }]) as any);
    api.remove(COLLECTION, 'web-b');
    await waitFor('events applied', () => addresses().join() === '198.18.5.3');
  });

  test('a closed stream resumes from the last resourceVersion without relisting', async () => {
    await informer.start();
    await waitFor('watching', () => api.openWatches === 1);
    api.closeWatches();
    api.upsert(COLLECTION, slice('web-b', [{ address: '198.18.5.2' }]) as any);
    await waitFor('event after reconnect', () => addresses().length === 2);
    expect(lists()).toBe(1);
    expect(watches()).toHaveLength(2);
  });

  test('bookmarks move the resourceVersion forward, so compaction does not force a relist', async () => {
    await informer.start();
    await waitFor('watching', () => api.openWatches === 1);
    api.upsert(COLLECTION, { ...slice('noise', []), metadata: { name: 'noise', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'other' } } } as any);
    api.sendBookmarks();
    await sleep(100);
    api.compact();
    api.closeWatches();
    await waitFor('rewatch', () => api.openWatches === 1);
    expect(lists()).toBe(1);
  });

  test('410 Expired as an ERROR event relists and catches up, deletions included', async () => {
    await informer.start();
    await waitFor('watching', () => api.openWatches === 1);
    api.dropWatches(); // changes made while disconnected...
    api.remove(COLLECTION, 'web-a');
    api.upsert(COLLECTION, slice('web-c', [{ address: '198.18.5.4' }]) as any);
    api.compact(); // ...and then compacted away
    await waitFor('relist after 410', () => addresses().join() === '198.18.5.4');
    expect(lists()).toBe(2);
    expect(watches().some((w) => w.status === 410)).toBe(true);
  });

  test('403 is reported as missing RBAC, retried with backoff, and recovers', async () => {
    api.failNext('list', { status: 403, reason: 'Forbidden' }, 3);
    await informer.start();
    await waitFor('recovered', () => informer.synced, 5000);
    const forbidden = logs.filter((l) => l.fields.reason === 'forbidden');
    expect(forbidden).toHaveLength(3);
    expect(forbidden[0].level).toBe('error');
    expect(forbidden[0].msg).toMatch(/RBAC.*endpointslices in namespace shop.*forbidden.*get\/list\/watch/);
    expect(restarts.slice(0, 3)).toEqual(['forbidden', 'forbidden', 'forbidden']);
    expect(informer.error).toBeUndefined();
  });

  test('5xx backs off with growing delays; 429 waits at least Retry-After', async () => {
    api.failNext('list', { status: 503 }, 4);
    await informer.start();
    await waitFor('recovered from 503s', () => api.openWatches === 1, 5000);
    expect(api.requests.filter((r) => r.status === 503)).toHaveLength(4);
    expect(restarts).toEqual(['server_error', 'server_error', 'server_error', 'server_error']);
    const retryDelays = (logs.filter((l) => l.fields.reason === 'server_error').map((l) => l.fields.retryInMs as number));
    // Full-jitter bounds for attempts 0..3 with initial 40 ms: [20,40], [40,80], [80,160], [160,320].
    retryDelays.forEach((d, i) => { expect(d).toBeGreaterThanOrEqual(20 * 2 ** i); expect(d).toBeLessThanOrEqual(40 * 2 ** i); });

    // Force a relist (410) whose list is throttled.
    api.failNext('list', { status: 429, headers: { 'Retry-After': '2' } });
    api.dropWatches();
    api.upsert(COLLECTION, slice('web-b', [{ address: '198.18.5.2' }]) as any);
    api.compact();
    const before = Date.now();
    await waitFor('throttled', () => restarts.includes('throttled'), 2000);
    await waitFor('rewatch after 429', () => api.openWatches === 1, 4000);
    expect(Date.now() - before).toBeGreaterThanOrEqual(1950);
    expect(addresses()).toEqual(['198.18.5.1', '198.18.5.2']);
  });

  test('keeps the last good state while the API is unreachable, and catches up when it is back', async () => {
    await informer.start();
    await waitFor('watching', () => api.openWatches === 1);
    await api.stop();
    await waitFor('several failed retries', () => restarts.filter((r) => r === 'network').length >= 3, 5000);
    expect(addresses()).toEqual(['198.18.5.1']);
    expect(informer.error).toMatch(/unreachable/);
    api.upsert(COLLECTION, slice('web-b', [{ address: '198.18.5.2' }]) as any);
    await api.start();
    await waitFor('caught up', () => addresses().length === 2, 5000);
  });

  test('a server that ends every watch at once gets backoff, not a hot loop', async () => {
    await informer.start();
    await waitFor('watching', () => api.openWatches === 1);
    api.endWatchesAtOnce = true;
    api.closeWatches();
    const before = watches().length;
    await sleep(1000);
    // Backoff 40..400 ms: at most ~10 attempts in a second (a hot loop makes thousands).
    expect(watches().length - before).toBeLessThanOrEqual(12);
    expect(restarts).toContain('closed');
  });

  test('the API gone for 60 s, then a 410 on the next watch: the last good state kept, then relisted (deletions included), and the controller follows', async () => {
    // The default backoff on a clock 100 times as fast: the minute of outage takes 0.6 s.
    const clock = new FastClock(100);
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-outage-'));
    let reloads = 0;
    const controller = new Controller({
      service: serviceModel(), routerId: 'lb-0', nodeIp: '198.18.0.2', runDir, slices: () => informer.list() as EndpointSlice[],
      keepalived: { reload: () => { reloads++; }, restart: () => undefined, stop: async () => undefined },
      metrics: new ControllerMetrics(), log: silentLogger, healthPollMs: 20,
    });
    const realServers = () => [...fs.readFileSync(controller.keepalivedConfigPath, 'utf8').matchAll(/real_server (\S+)/g)].map((m) => m[1]);
    const announced = () => fs.readFileSync(controller.announcePath, 'utf8') !== '';
    informer = newInformer({ backoff: DEFAULT_BACKOFF, clock, onChange: () => controller.endpointsChanged() });
    try {
      controller.start();
      await informer.start();
      await waitFor('watching, configured and announced', () => api.openWatches === 1 && controller.configured && announced());
      expect(realServers()).toEqual(['198.18.5.1']);

      await api.stop();
      const downAt = clock.now;
      // Meanwhile the cluster changes, and the events are compacted away.
      api.remove(COLLECTION, 'web-a');
      api.upsert(COLLECTION, slice('web-c', [{ address: '198.18.5.4' }]) as any);
      api.compact();
      await waitFor('60 s of outage on the informer\'s clock', () => clock.now - downAt >= 60_000, 5000);
      expect(addresses()).toEqual(['198.18.5.1']);
      expect(realServers()).toEqual(['198.18.5.1']);
      expect(announced()).toBe(true); // the last good state stays in force
      const retries = logs.filter((l) => l.fields.reason === 'network').map((l) => l.fields.retryInMs as number);
      // 500 ms doubling to 30 s, jittered down to half: 7 to 9 failures fall in the minute, the first when the watch broke.
      expect(retries.length).toBeGreaterThanOrEqual(6);
      expect(retries.length).toBeLessThanOrEqual(10);
      expect(Math.max(...retries)).toBeGreaterThanOrEqual(15_000);
      expect(Math.max(...retries)).toBeLessThanOrEqual(30_000);

      const before = api.requests.length;
      const reloadsBefore = reloads;
      await api.start();
      await waitFor('the relist applied', () => addresses().join() === '198.18.5.4', 5000);
      await waitFor('watching again', () => api.openWatches === 1, 5000);
      const after = api.requests.slice(before);
      // The first request back is the watch from the old resourceVersion: 410, then one list, then a new watch.
      expect(after.map((r) => `${r.query.get('watch') === 'true' ? 'watch' : 'list'} ${r.status}`)).toEqual(['watch 410', 'list 200', 'watch 200']);
      await waitFor('the controller\'s config follows', () => realServers().join() === '198.18.5.4', 2000);
      expect(reloads).toBe(reloadsBefore + 1);
      expect(announced()).toBe(true);
    } finally {
      controller.stop();
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  });
});
