import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiServerDouble } from './apiserver-double';
import { serviceModel, slice } from './fixtures';
import { sleep, waitFor } from './wait';
import { LB_POD_COMMANDS, lbPodArgs, podEnvironmentVariables } from '../../lib/lb-pod-contract';

const COLLECTION = '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices';
const REPO = path.resolve(__dirname, '../..');

/**
 * The real `ecmp-lb controller` process (run from source), fed by the API double, with a fake
 * keepalived that keeps every config it is told to load (this kernel has no IPVS).
 */
describe('ecmp-lb controller (process) against the API double', () => {
  let api: ApiServerDouble;
  let dir: string;
  let proc: ChildProcess | undefined;
  let stdout: string;
  const fakeOut = () => path.join(dir, 'fake');
  const runDir = () => path.join(dir, 'run');
  const announce = () => fs.existsSync(path.join(runDir(), 'announce')) ? fs.readFileSync(path.join(runDir(), 'announce'), 'utf8') : undefined;
  const loaded = () => fs.readdirSync(fakeOut()).filter((f) => f.endsWith('.conf')).sort();
  const lastLoaded = () => { const files = loaded(); return files.length ? fs.readFileSync(path.join(fakeOut(), files[files.length - 1]), 'utf8') : ''; };
  const realServers = (conf: string) => [...conf.matchAll(/real_server (\S+) (\d+)/g)].map((m) => `${m[1]}:${m[2]}`);

  beforeEach(async () => {
    api = new ApiServerDouble();
    await api.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-controller-'));
    fs.mkdirSync(fakeOut());
    fs.writeFileSync(path.join(dir, 'service.json'), JSON.stringify(serviceModel({ drainSeconds: 1 })));
    api.writeKubeconfig(path.join(dir, 'kubeconfig'));
  });

  afterEach(async () => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    await api.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function startController(port: number, pod: Partial<Parameters<typeof podEnvironmentVariables>[0]> = {}): ChildProcess {
    stdout = '';
    const child = spawn(process.execPath, [path.join(REPO, 'node_modules/.bin/ts-node'), path.join(REPO, 'controller/src/cli.ts'), LB_POD_COMMANDS.controller,
      ...lbPodArgs({
        configFile: path.join(dir, 'service.json'), runDir: runDir(), kubeconfig: path.join(dir, 'kubeconfig'),
        metricsPort: port, keepalived: path.join(__dirname, 'bin/fake-keepalived.sh'), skipNetnsSetup: true,
      })], {
      cwd: REPO,
      env: {
        ...process.env, TS_NODE_TRANSPILE_ONLY: '1', NODE_OPTIONS: '', FAKE_KEEPALIVED_OUT: fakeOut(),
        ...podEnvironmentVariables({ podIp: '198.18.0.11', nodeIp: '198.18.0.2', podName: 'web-lb-0', podNamespace: 'shop', ...pod }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    proc = child;
    return child;
  }

  test('follows endpoints into keepalived configs that pass keepalived -t, announces with health, drains on SIGTERM', async () => {
    const port = 19100 + Math.floor(Math.random() * 500);
    api.upsert(COLLECTION, slice('web-a', [{ address: '198.18.5.2' }, { address: '198.18.5.1' }]) as any);
    const child = startController(port);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    await waitFor('keepalived started with the first config', () => loaded().includes('0000.conf'), 15000);
    expect(realServers(lastLoaded())).toEqual(['198.18.5.1:8080', '198.18.5.2:8080']);
    await waitFor('announced', () => announce() === 'announce route 198.19.10.0/24 next-hop 198.18.0.2\n');
    expect(await httpStatus(port, '/readyz')).toBe(200);
    expect(await httpStatus(port, '/healthz')).toBe(200);

    // Unready and terminating endpoints drop out; a new one comes in.
    api.upsert(COLLECTION, slice('web-a', [{ address: '198.18.5.2', ready: false }, { address: '198.18.5.1' }]) as any);
    await waitFor('unready removed', () => realServers(lastLoaded()).join() === '198.18.5.1:8080');
    api.upsert(COLLECTION, slice('web-b', [{ address: '198.18.5.3' }]) as any);
    await waitFor('added', () => realServers(lastLoaded()).join() === '198.18.5.1:8080,198.18.5.3:8080');

    // An event that changes nothing keepalived sees (another unready endpoint) causes no reload.
    const reloadsBefore = loaded().length;
    api.upsert(COLLECTION, slice('web-b', [{ address: '198.18.5.3' }, { address: '198.18.5.4', ready: false }]) as any);
    await sleep(300);
    expect(loaded().length).toBe(reloadsBefore);

    // A malformed address is logged once and ignored; the config keeps serving the rest.
    api.upsert(COLLECTION, slice('web-b', [{ address: '198.18.5.3' }, { address: '2001:db8::9%eth0' }]) as any);
    await waitFor('malformed address logged', () => stdout.includes('"level":"warn","msg":"ignoring endpoint addresses'));
    await sleep(300);
    expect(stdout.split('ignoring endpoint addresses').length - 1).toBe(1);
    expect(loaded().length).toBe(reloadsBefore);

    // A burst of 50 changes is coalesced into far fewer reloads, ending in the right state.
    for (let i = 0; i < 50; i++) api.upsert(COLLECTION, slice('web-c', [{ address: `198.18.6.${i + 1}` }]) as any);
    await waitFor('burst applied', () => realServers(lastLoaded()).includes('198.18.6.50:8080'));
    await sleep(200);
    expect(realServers(lastLoaded())).toEqual(['198.18.5.1:8080', '198.18.5.3:8080', '198.18.6.50:8080']);
    expect(loaded().length - reloadsBefore).toBeLessThan(25);

    // No usable backend: routes withdrawn.
    api.remove(COLLECTION, 'web-a');
    api.remove(COLLECTION, 'web-b');
    api.remove(COLLECTION, 'web-c');
    await waitFor('withdrawn', () => announce() === '');
    await waitFor('no real servers loaded', () => realServers(lastLoaded()).length === 0);

    // Every config keepalived was given passes its own checker.
    for (const file of loaded()) {
      expect(() => execFileSync('keepalived', ['-t', '-l', '-f', path.join(fakeOut(), file)], { stdio: 'pipe' })).not.toThrow();
    }

    const metrics = await httpText(port, '/metrics');
    expect(metrics).toMatch(/ecmp_lb_keepalived_reloads_total \d+/);
    expect(metrics).toMatch(/ecmp_lb_reload_latency_seconds_count \d+/);
    expect(metrics).toMatch(/ecmp_lb_announced 0/);
    const logLines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(logLines.some((l) => l.msg === 'withdrawing service prefixes')).toBe(true);

    // Drain: withdraw at once, keep keepalived for drainSeconds (1 s), then stop it and exit 0.
    api.upsert(COLLECTION, slice('web-a', [{ address: '198.18.5.1' }]) as any);
    await waitFor('announced again', () => announce() !== '');
    const termAt = Date.now();
    child.kill('SIGTERM');
    await waitFor('withdrawn on SIGTERM', () => announce() === '', 1000);
    // A second SIGTERM mid-drain changes nothing: the drain runs its course and the exit is clean.
    child.kill('SIGTERM');
    expect(fs.existsSync(path.join(fakeOut(), 'terminated'))).toBe(false);
    await waitFor('keepalived stopped', () => fs.existsSync(path.join(fakeOut(), 'terminated')), 5000);
    expect(Date.now() - termAt).toBeGreaterThanOrEqual(950);
    expect(await exited).toBe(0);
    expect(stdout.trim().split('\n').map((l) => JSON.parse(l)).some((l) => l.msg === 'SIGTERM again: already draining')).toBe(true);
  }, 60000);

  test('a dual-stack service: announces its IPv6 prefix with the node\'s IPv6 address, read from its Node, beside the IPv4 one with NODE_IP', async () => {
    const port = 19100 + Math.floor(Math.random() * 500);
    fs.writeFileSync(path.join(dir, 'service.json'), JSON.stringify(serviceModel({ prefixes: ['198.19.10.0/24', '2001:db8:10::/64'], vips: ['198.19.10.1', '2001:db8:10::1'], drainSeconds: 1 })));
    api.upsert(COLLECTION, slice('web-a', [{ address: '198.18.5.1' }]) as any);
    api.upsert(COLLECTION, slice('web-a6', [{ address: '2001:db8:5::1' }], { addressType: 'IPv6' }) as any);
    api.upsert('/api/v1/nodes', { metadata: { name: 'n1', namespace: '' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.2' }, { type: 'InternalIP', address: '2001:db8:ff::2' }] } } as any);
    const child = startController(port, { podIps: '198.18.0.11,2001:db8:130::11', nodeName: 'n1' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('both families announced', () => announce() === 'announce route 198.19.10.0/24 next-hop 198.18.0.2\nannounce route 2001:db8:10::/64 next-hop 2001:db8:ff::2\n', 15000);
    await waitFor('keepalived has both families\' real servers', () => realServers(lastLoaded()).join() === '198.18.5.1:8080,2001:db8:5::1:8080');
    expect(api.requests.filter((r) => r.path.startsWith('/api/v1/nodes')).map((r) => r.path)).toContain('/api/v1/nodes/n1');
    child.kill('SIGTERM');
    await waitFor('withdrawn on SIGTERM', () => announce() === '', 2000);
    expect(await exited).toBe(0);
  }, 60000);

  test('a SIGTERM while it starts (its first list hanging) drains and exits 0, not by the signal', async () => {
    const silent = await silentApiServer(path.join(dir, 'kubeconfig'));
    try {
      const child = startController(19600 + Math.floor(Math.random() * 300));
      const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
      await waitFor('the first list is pending', () => silent.held.length > 0, 15000);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const messages = stdout.trim().split('\n').map((l) => JSON.parse(l).msg);
      expect(messages).toContain('SIGTERM: draining');
      expect(messages).not.toContain('controller started');
      expect(announce()).toBe('');
    } finally {
      silent.close();
    }
  }, 30000);
});

/**
 * The agents wait on the API while they start (the first list). A pod stopped then must still end
 * with exit 0 on SIGTERM: as a container's PID 1 a process without a handler never ends by it.
 */
describe.each([
  ['node-agent', () => ['--namespaces', 'ecmp-lb'], { NODE_NAME: 'n1' }],
  ['reflector-agent', (dir: string) => {
    fs.writeFileSync(path.join(dir, 'lb-pod-bindings.json'), JSON.stringify({ gobgpApi: '127.0.0.1:50051', bindings: [{ namespace: 'ecmp-lb', service: 'web1' }] }));
    return ['--config', path.join(dir, 'lb-pod-bindings.json')];
  }, {}],
] as const)('ecmp-lb %s (process)', (command, args, env) => {
  test('a SIGTERM while it starts (its first list hanging) ends it with exit 0, not by the signal', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ecmp-${command}-`));
    const silent = await silentApiServer(path.join(dir, 'kubeconfig'));
    const child = spawn(process.execPath, [path.join(REPO, 'node_modules/.bin/ts-node'), path.join(REPO, 'controller/src/cli.ts'), command,
      ...args(dir), '--kubeconfig', path.join(dir, 'kubeconfig')], {
      cwd: REPO, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    try {
      const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
      await waitFor('the first list is pending', () => silent.held.length > 0, 15000);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout).not.toMatch(/agent started/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      silent.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30000);
});

/** An API server that accepts connections and never answers, and a kubeconfig for it at `kubeconfigPath`. */
async function silentApiServer(kubeconfigPath: string): Promise<{ held: net.Socket[]; close: () => void }> {
  const held: net.Socket[] = [];
  const server = net.createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fs.writeFileSync(kubeconfigPath, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'silent',
    clusters: [{ name: 'silent', cluster: { server: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'silent', user: {} }], contexts: [{ name: 'silent', context: { cluster: 'silent', user: 'silent' } }],
  }));
  return { held, close: () => { held.forEach((socket) => socket.destroy()); server.close(); } };
}

function httpStatus(port: number, urlPath: string): Promise<number> {
  return fetch(`http://127.0.0.1:${port}${urlPath}`).then((r) => r.status);
}

function httpText(port: number, urlPath: string): Promise<string> {
  return fetch(`http://127.0.0.1:${port}${urlPath}`).then((r) => r.text());
}
