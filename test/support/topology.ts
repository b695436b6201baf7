import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as kplus from 'cdk8s-plus-27';
import * as YAML from 'yaml';
import { Backends, EcmpApp, EcmpTopology, EcmpTopologyProps, LoadBalancerService, LoadBalancerServiceProps } from '../../lib';

const tempDirs: string[] = [];
// Every test file that synthesizes removes its output directories when it is done.
afterAll(() => {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp directory, removed after the test file's tests. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** The paper's topology shape in test addresses (198.18.0.0/15), with overridable parts. */
export function testTopology(options: {
  topology?: Partial<EcmpTopologyProps>;
  services?: { id: string; props: Partial<LoadBalancerServiceProps> }[];
} = {}) {
  const outdir = tempDir('ecmp-synth');
  const app = new EcmpApp({ outdir });
  const topology = new EcmpTopology(app, 'ecmp', {
    namespace: 'lb',
    asn: 65021,
    podNetworks: ['198.19.128.0/17'],
    routeReflectors: [{ name: 'rr1', address: '198.18.0.109' }],
    upstreamRouters: [{ name: 'router', address: '198.18.0.110' }],
    ...options.topology,
  });
  const services = (options.services ?? [
    { id: 'web1', props: { prefixes: ['198.18.101.0/24'], lbCount: 3 } },
    { id: 'web2', props: { prefixes: ['198.18.102.0/24'], lbCount: 2 } },
  ]).map(({ id, props }) => new LoadBalancerService(topology, id, {
    ports: [{ port: 80, backendPort: 8080 }],
    backends: Backends.fromLabels({ app: id }),
    routeReflectors: topology.routeReflectors,
    prefixes: [],
    ...props,
  } as LoadBalancerServiceProps));
  return { app, topology, services, outdir };
}

/** Synthesizes and reads back every manifest and every other file. */
export function synthToDisk(app: EcmpApp): { manifests: any[]; files: Map<string, string> } {
  app.synth();
  const files = readTree(app.outdir);
  const manifests = [...files].filter(([p]) => p.endsWith('.yaml'))
    .flatMap(([, text]) => YAML.parseAllDocuments(text).map(d => d.toJSON()).filter(Boolean));
  return { manifests, files };
}

/** Every file under `dir`, keyed by relative path, sorted. */
export function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else out.set(child, fs.readFileSync(path.join(dir, child), 'utf8'));
    }
  };
  walk('');
  return out;
}

/** A cdk8s-plus nginx Deployment, as users write backends. */
export function nginx(scope: EcmpTopology, id: string): kplus.Deployment {
  return new kplus.Deployment(scope, id, { containers: [{ image: 'nginxinc/nginx-unprivileged:1.25', portNumber: 8080 }] });
}
