/**
 * Controller benchmark (prints figures; not a test).
 * 1. event -> config written and reload signalled, over 1000 endpoint changes through the API double
 *    and the real informer (client-node), controller and renderer;
 * 2. reconcile + render time for 10,000 endpoints;
 * 3. RSS of the real controller process (compiled) holding 10,000 endpoints.
 * Run: npm run bench:controller
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LB_POD_COMMANDS, LB_POD_FILES, lbPodArgs, podEnvironmentVariables } from '../../lib/lb-pod-contract';
import { renderKeepalived } from '../../lib/renderers/keepalived';
import { Controller } from '../src/controller';
import { loadKubeClient, kubeConfigForUrl } from '../src/kube-client';
import { silentLogger } from '../src/log';
import { ControllerMetrics } from '../src/metrics';
import { reconcile } from '../src/reconcile';
import { ResilientInformer } from '../src/resilient-informer';
import { ApiServerDouble } from '../test/apiserver-double';
import { serviceModel, slice } from '../test/fixtures';
import { sleep, waitFor } from '../test/wait';

const COLLECTION = '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices';
const SELECTOR = 'kubernetes.io/service-name=web-backend';
const REPO = path.resolve(__dirname, '../..');

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** 10,000 endpoints as 100 slices of 100 (the EndpointSlice controller's default size). */
function bigSlices(count = 100, perSlice = 100) {
  return Array.from({ length: count }, (_slice, s) => slice(
    `web-${s}`,
    Array.from({ length: perSlice }, (_endpoint, e) => ({ address: `198.18.${s + 10}.${e + 1}` })),
  ));
}

async function latencyBenchmark(changes: number): Promise<void> {
  const api = new ApiServerDouble();
  await api.start();
  for (const s of bigSlices(10, 10)) api.upsert(COLLECTION, s as any);
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-bench-'));
  const reloads: number[] = [];
  const k8s = await loadKubeClient();
  const kubeConfig = await kubeConfigForUrl(api.url);
  const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  let controller: Controller | undefined;
  const informer = new ResilientInformer<any>({
    kubeConfig, path: COLLECTION, labelSelector: SELECTOR, description: 'bench', log: silentLogger,
    listPage: (token) => discovery.listNamespacedEndpointSlice({ namespace: 'shop', labelSelector: SELECTOR, _continue: token }),
    onChange: () => controller?.endpointsChanged(),
  });
  controller = new Controller({
    service: serviceModel(), routerId: 'bench', nodeIp: '198.18.0.2', runDir, slices: () => informer.list() as any,
    keepalived: { reload: () => { reloads.push(performance.now()); }, restart: () => {}, stop: async () => {} },
    metrics: new ControllerMetrics(), log: silentLogger,
  });
  controller.start();
  await informer.start();
  await waitFor('initial config', () => reloads.length === 1, 10000);
  const latencies: number[] = [];
  for (let i = 0; i < changes; i++) {
    const before = reloads.length;
    // Toggle one endpoint of one slice between ready and unready: every change alters the config.
    const s = i % 10;
    const endpoints = Array.from({ length: 10 }, (_, e) => ({ address: `198.18.${s + 10}.${e + 1}`, ready: !(e === (i % 10) && Math.floor(i / 10) % 2 === 0) }));
    const sentAt = performance.now();
    api.upsert(COLLECTION, slice(`web-${s}`, endpoints) as any);
    await waitFor(`reload ${i}`, () => reloads.length > before, 5000);
    latencies.push(reloads[reloads.length - 1] - sentAt);
    await sleep(25); // past the 20 ms minimum reload spacing, so it measures latency, not rate limiting
  }
  controller.stop();
  await informer.stop();
  await api.stop();
  fs.rmSync(runDir, { recursive: true, force: true });
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(`event -> config written + reload signalled, ${changes} changes (API double -> client-node watch -> controller):`);
  console.log(`  p50 ${percentile(sorted, 50).toFixed(2)} ms   p99 ${percentile(sorted, 99).toFixed(2)} ms   max ${sorted[sorted.length - 1].toFixed(2)} ms   (goal p99 <= 50 ms)`);
}

function renderBenchmark(): void {
  const slices = bigSlices();
  const service = serviceModel();
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 21; i++) {
    const start = performance.now();
    bytes = renderKeepalived(reconcile(service, slices, 'bench')).length;
    times.push(performance.now() - start);
  }
  times.shift(); // first run warms the JIT
  times.sort((a, b) => a - b);
  console.log(`reconcile + render for 10,000 endpoints (${(bytes / 1024).toFixed(0)} KiB config): median ${percentile(times, 50).toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms (20 runs)`);
}

async function rssBenchmark(): Promise<void> {
  const buildDir = path.join(REPO, 'build', 'bench-cli');
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '--outDir', buildDir, '--module', 'node16', '--moduleResolution', 'node16',
    '--target', 'ES2022', '--esModuleInterop', '--skipLibCheck', '--rootDir', REPO, path.join(REPO, 'controller/src/cli.ts')], { stdio: 'inherit' });
  const api = new ApiServerDouble();
  await api.start();
  for (const s of bigSlices()) api.upsert(COLLECTION, s as any);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-bench-rss-'));
  fs.mkdirSync(path.join(dir, 'fake'));
  fs.writeFileSync(path.join(dir, LB_POD_FILES.model), JSON.stringify(serviceModel()));
  api.writeKubeconfig(path.join(dir, 'kubeconfig'));
  const port = 19600 + Math.floor(Math.random() * 300);
  const args = lbPodArgs({
    configFile: path.join(dir, LB_POD_FILES.model), runDir: path.join(dir, 'run'), kubeconfig: path.join(dir, 'kubeconfig'),
    metricsPort: port, keepalived: path.join(REPO, 'controller/test/bin/fake-keepalived.sh'), skipNetnsSetup: true,
  });
  const child = spawn(process.execPath, [path.join(buildDir, 'controller/src/cli.js'), LB_POD_COMMANDS.controller, ...args], {
    env: { ...process.env, FAKE_KEEPALIVED_OUT: path.join(dir, 'fake'), ...podEnvironmentVariables({ podIp: '198.18.0.11', nodeIp: '198.18.0.2', podName: 'bench', podNamespace: 'shop' }) },
    stdio: 'ignore',
  });
  try {
    await waitFor('10,000 real servers rendered', () => {
      const conf = path.join(dir, 'run', LB_POD_FILES.keepalivedConfig);
      return fs.existsSync(conf) && (fs.readFileSync(conf, 'utf8').match(/real_server /g)?.length ?? 0) === 10_000;
    }, 30000);
    await sleep(2000); // let the heap settle after the initial list
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN);
    console.log(`controller process (compiled) with 10,000 endpoints in 100 slices: RSS ${(rssKiB / 1024).toFixed(1)} MiB, JS heap used ${(heap / 1048576).toFixed(1)} MiB`);
  } finally {
    child.kill('SIGKILL');
    await api.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  renderBenchmark();
  await latencyBenchmark(Number(process.env.BENCH_CHANGES ?? 1000));
  await rssBenchmark();
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
