import * as kplus from 'cdk8s-plus-27';
import { Backends, EcmpApp, EcmpTopology, LoadBalancerService } from './lib';

// The paper's evaluation topology (Fig. 12c, appendices B-D): one AS, a route reflector at
// 10.0.0.109, the upstream router at 10.0.0.110, and two services with 3 and 2 LB pods.
const app = new EcmpApp();
const topology = new EcmpTopology(app, 'ecmp', {
  namespace: 'ecmp-lb',
  asn: 65021,
  podNetworks: ['172.16.0.0/16'],
  routeReflectors: [{ name: 'rr1', address: '10.0.0.109' }],
  upstreamRouters: [{ name: 'router', address: '10.0.0.110' }],
});

for (const [name, prefix, lbCount] of [['web1', '10.1.1.0/24', 3], ['web2', '10.1.2.0/24', 2]] as const) {
  const web = new kplus.Deployment(topology, `${name}-nginx`, {
    replicas: 3,
    containers: [{ image: 'nginxinc/nginx-unprivileged:1.25', portNumber: 8080 }],
  });
  new LoadBalancerService(topology, name, {
    prefixes: [prefix],
    ports: [{ port: 80, backendPort: 8080 }],
    backends: Backends.fromWorkload(web),
    lbCount,
  });
}

app.synth();
