import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readTree, tempDir } from './support/topology';

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'node_modules', '.bin');

// A user's own cdk8s app: `npm pack` the library, install the tarball into a fresh project,
// compose the constructs in TypeScript against the shipped typings, and run `cdk8s synth`.
test('a fresh cdk8s app installs the packed library, composes it and synthesizes', () => {
  const work = tempDir('ecmp-consumer'); // removed after the file's tests
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '0.0.0' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(work, tarball), 'cdk8s-plus-27@2.9.5'], { cwd: app, stdio: 'pipe' });
  fs.writeFileSync(path.join(app, 'main.ts'), `
import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Backends, EcmpApp, LoadBalancerService, RouteReflector, RouterFlavour, UpstreamRouterConfig } from 'cdk8s-ecmp-lb';

const app: App = new EcmpApp();
const chart = new Chart(app, 'shop', { namespace: 'shop' });
const rr = new RouteReflector(chart, 'rr-a', { asn: 64512, address: '198.18.0.5', podNetworks: ['198.19.0.0/16'] });
new UpstreamRouterConfig(chart, 'edge', { address: '198.18.0.1', routeReflectors: [rr], flavour: RouterFlavour.BIRD });
const web = new kplus.Deployment(chart, 'web', { containers: [{ image: 'nginxinc/nginx-unprivileged:1.25', portNumber: 8080 }] });
new LoadBalancerService(chart, 'shop', {
  prefixes: ['198.18.50.0/24'], ports: [{ port: 80, backendPort: 8080 }], backends: Backends.fromWorkload(web),
  lbCount: 2, routeReflectors: [rr],
});
app.synth();
`);
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, esModuleInterop: true, skipLibCheck: false, types: [] } }));
  execFileSync(path.join(BIN, 'tsc'), ['-p', '.'], { cwd: app, stdio: 'pipe' });
  fs.writeFileSync(path.join(app, 'cdk8s.yaml'), 'language: typescript\napp: node main.js\n');
  execFileSync(path.join(BIN, 'cdk8s'), ['synth'], { cwd: app, stdio: 'pipe', env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' } });
  const out = readTree(path.join(app, 'dist'));
  expect([...out.keys()].sort()).toEqual(['TOPOLOGY.md', 'route-reflectors/rr-a/gobgpd.toml', 'route-reflectors/rr-a/lb-pod-bindings.json', 'routers/edge/99-ecmp-router.conf', 'routers/edge/bird.conf', 'shop.k8s.yaml']);
  expect(out.get('shop.k8s.yaml')).toContain('name: shop-lb');
}, 240_000);
