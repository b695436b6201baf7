import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readTree, tempDir } from './support/topology';

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'node_modules', '.bin');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

// The app's own cdk8s releases: the oldest of each peer range that works (cdk8s-plus-27 2.7.20 and
// older fail in their own Deployment constructor on cdk8s 2.68), not the ones this repository develops with.
const APP_RELEASES = { 'cdk8s': '2.68.12', 'cdk8s-plus-27': '2.7.32', 'constructs': '10.3.0' };

// Runs a command; a failure shows its output (tsc's errors), not only its exit status.
function run(command: string, args: string[], cwd: string): void {
  try {
    execFileSync(command, args, { cwd, stdio: 'pipe', env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' } });
  } catch (err: any) {
    throw new Error(`${path.basename(command)} ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

const installed = (dir: string, name: string) => JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;

// A user's own cdk8s app on other cdk8s releases than ours: `npm pack` the library, install the
// tarball into it, compose the constructs in TypeScript against the shipped typings, and run
// `cdk8s synth`. The library must use the app's copies (peer dependencies): a second cdk8s-plus-27
// under the library makes tsc refuse the app's Deployment as a Workload.
test('an existing cdk8s app on older cdk8s releases installs the packed library, composes it and synthesizes', () => {
  for (const [name, version] of Object.entries(APP_RELEASES)) {
    expect(PKG.peerDependencies?.[name]).toBeDefined();
    expect(PKG.dependencies?.[name]).toBeUndefined();
    expect(installed(ROOT, name)).not.toBe(version); // the point: a release we do not develop with
  }
  const work = tempDir('ecmp-consumer'); // removed after the file's tests
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '0.0.0' }));
  const npmInstall = (...specs: string[]) => execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...specs], { cwd: app, stdio: 'pipe' });
  // Pinned, as apps often do: npm may not move them to the library's releases to share one copy.
  npmInstall('--save-exact', ...Object.entries(APP_RELEASES).map(([name, version]) => `${name}@${version}`));
  npmInstall(path.join(work, tarball));
  for (const [name, version] of Object.entries(APP_RELEASES)) {
    expect(installed(app, name)).toBe(version);
    expect(fs.existsSync(path.join(app, 'node_modules', 'cdk8s-ecmp-lb', 'node_modules', name))).toBe(false);
  }
  fs.writeFileSync(path.join(app, 'main.ts'), `
import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Backends, EcmpApp, LoadBalancerService, RouteReflector, RouterDaemon, UpstreamRouterConfig } from 'cdk8s-ecmp-lb';

const app: App = new EcmpApp();
const chart = new Chart(app, 'shop', { namespace: 'shop' });
const rr = new RouteReflector(chart, 'rr-a', { asn: 64512, address: '198.18.0.5', podNetworks: ['198.19.0.0/16'] });
new UpstreamRouterConfig(chart, 'edge', { address: '198.18.0.1', routeReflectors: [rr], daemon: RouterDaemon.BIRD });
const web = new kplus.Deployment(chart, 'web', { containers: [{ image: 'nginxinc/nginx-unprivileged:1.25', portNumber: 8080 }] });
new LoadBalancerService(chart, 'shop', {
  prefixes: ['198.18.50.0/24'], ports: [{ port: 80, backendPort: 8080 }], backends: Backends.fromWorkload(web),
  lbCount: 2, routeReflectors: [rr],
});
const api = web.exposeViaService({ name: 'api', ports: [{ port: 8080 }] });
new LoadBalancerService(chart, 'api', {
  prefixes: ['198.18.51.0/24'], ports: [{ port: 80, backendPort: 8080 }], backends: Backends.fromService(api),
  lbCount: 2, routeReflectors: [rr],
});
app.synth();
`);
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, esModuleInterop: true, skipLibCheck: false, types: [] } }));
  run(path.join(BIN, 'tsc'), ['-p', '.'], app);
  fs.writeFileSync(path.join(app, 'cdk8s.yaml'), 'language: typescript\napp: node main.js\n');
  run(path.join(BIN, 'cdk8s'), ['synth'], app);
  const out = readTree(path.join(app, 'dist'));
  expect([...out.keys()].sort()).toEqual(['TOPOLOGY.md', 'route-reflectors/rr-a/gobgpd.toml', 'route-reflectors/rr-a/lb-pod-bindings.json', 'routers/edge/99-ecmp-router.conf', 'routers/edge/bird.conf', 'shop.k8s.yaml']);
  expect(out.get('shop.k8s.yaml')).toContain('name: shop-lb');
  expect(out.get('shop.k8s.yaml')).toContain('name: api-lb');
}, 240_000);
