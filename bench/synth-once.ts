// Synthesizes a topology of N services into OUTDIR and prints what it cost, as one JSON line.
// Run by synth-bench.ts in a fresh process per size, so memory figures do not mix.
import { Backends, EcmpApp, EcmpTopology, LoadBalancerService } from '../lib';

const [count, outdir] = [Number(process.argv[2]), process.argv[3]];
const start = process.hrtime.bigint();
const app = new EcmpApp({ outdir });
const topology = new EcmpTopology(app, 'bench', {
  namespace: 'bench',
  asn: 65021,
  podNetworks: ['198.19.128.0/17'],
  routeReflectors: [{ name: 'rr1', address: '198.18.0.109' }, { name: 'rr2', address: '198.18.0.108' }],
  upstreamRouters: [{ name: 'router', address: '198.18.0.110' }],
});
for (let i = 0; i < count; i++) {
  // A /28 each, from 198.18.16.0 up: 3840 fit before 198.19.0.0.
  const offset = 16 * 256 + i * 16;
  const prefix = `198.18.${offset >> 8}.${offset & 255}/28`;
  new LoadBalancerService(topology, `svc${i}`, {
    prefixes: [prefix],
    ports: [{ port: 80, backendPort: 8080 }, { port: 443, backendPort: 8443 }],
    backends: Backends.fromLabels({ app: `svc${i}` }),
    lbCount: 3,
    routeReflectors: topology.routeReflectors,
  });
}
const built = process.hrtime.bigint();
app.synth();
const done = process.hrtime.bigint();
console.log(JSON.stringify({
  services: count,
  constructMs: Number(built - start) / 1e6,
  synthMs: Number(done - built) / 1e6,
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
}));
