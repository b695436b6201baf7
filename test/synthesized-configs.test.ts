import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { EndpointSlice } from '../controller/src/endpoint-slices';
import { exabgpModel } from '../controller/src/init';
import { reconcile } from '../controller/src/reconcile';
import { HealthCheckType, LoadBalancerServiceModel, Protocol, ReflectorPlacement, RouterDaemon } from '../lib';
import { announcerCommand } from '../lib/lb-pod-contract';
import { CheckResult, checkBird, checkExabgp, checkFrr, checkGobgpd, checkKeepalived, checkSysctl } from './support/daemons';
import { synthToDisk, testTopology } from './support/topology';
import { renderExabgp } from '../lib/renderers/exabgp';
import { renderKeepalived } from '../lib/renderers/keepalived';

// Every file a synth writes for a daemon, and every per-pod rendering the LB pod makes from its
// ConfigMap at run time, must pass that daemon's own checker.

const expectAccepted = (what: string, result: CheckResult) => {
  if (result.code !== 0) throw new Error(`${what} was rejected (exit ${result.code}):\n${result.output}`);
};

function checkerFor(file: string): ((text: string) => CheckResult) | undefined {
  if (file.endsWith('gobgpd.toml')) return checkGobgpd;
  if (file.endsWith('frr.conf') || file.endsWith('zebra.conf')) return checkFrr;
  if (file.endsWith('bird.conf')) return checkBird;
  if (file.endsWith('99-ecmp-router.conf')) return checkSysctl;
  if (file.endsWith('/daemons')) return text => shellSyntax(text);
  return undefined;
}

/** /etc/frr/daemons is sourced by FRR's init script: it must be valid shell. */
function shellSyntax(text: string): CheckResult {
  const result = spawnSync('bash', ['-n'], { input: text, encoding: 'utf8' });
  return { code: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
}

/** Two ready backends, one unready, one terminating, as the API would list them. */
function sampleSlices(model: LoadBalancerServiceModel): EndpointSlice[] {
  const v6 = model.vips.some(v => v.includes(':'));
  const ports = model.ports.map(p => ({ name: `p${p.backendPort}`, port: p.backendPort, protocol: p.protocol }));
  const slices: EndpointSlice[] = [{
    addressType: 'IPv4',
    ports,
    endpoints: [
      { addresses: ['198.19.130.12'], conditions: { ready: true } },
      { addresses: ['198.19.130.11'], conditions: { ready: true } },
      { addresses: ['198.19.130.13'], conditions: { ready: false } },
      { addresses: ['198.19.130.14'], conditions: { ready: true, terminating: true } },
    ],
  }];
  if (v6) slices.push({ addressType: 'IPv6', ports, endpoints: [{ addresses: ['2001:db8:130::11'], conditions: { ready: true } }] });
  return slices;
}

const variants: [string, Parameters<typeof testTopology>[0]][] = [
  ['the paper topology on FRR', {}],
  ['BIRD router, two reflectors', {
    topology: {
      routeReflectors: [{ name: 'rr1', address: '198.18.0.109' }, { name: 'rr2', address: '198.18.0.108' }],
      upstreamRouters: [{ name: 'edge', address: '198.18.0.110', daemon: RouterDaemon.BIRD }],
    },
  }],
  ['the paper\'s gobgpd + zebra router', { topology: { upstreamRouters: [{ name: 'edge', address: '198.18.0.110', daemon: RouterDaemon.GOBGP_ZEBRA }] } }],
  ['an IPv6 cluster: nodes, pods, reflector and router', {
    topology: {
      podNetworks: ['2001:db8:130::/64'],
      routeReflectors: [{ name: 'rr1', address: '2001:db8::109', routerId: '198.18.0.109' }],
      upstreamRouters: [{ name: 'router', address: '2001:db8::110', routerId: '198.18.0.110' }],
    },
    services: [
      { id: 'v6', props: { prefixes: ['2001:db8:120::/64', '2001:db8:121::/64'], ports: [{ port: 80, backendPort: 8080 }, { port: 443, backendPort: 8443 }] } },
    ],
  }],
  ['a dual-stack service over IPv4 sessions, to FRR, BIRD and gobgpd + zebra routers', {
    topology: {
      podNetworks: ['198.19.128.0/17', '2001:db8:130::/64'],
      upstreamRouters: [
        { name: 'router', address: '198.18.0.110', ipv6Address: '2001:db8:ff::110' },
        { name: 'edge2', address: '198.18.0.111', ipv6Address: '2001:db8:ff::111', daemon: RouterDaemon.BIRD },
        { name: 'edge3', address: '198.18.0.112', ipv6Address: '2001:db8:ff::112', daemon: RouterDaemon.GOBGP_ZEBRA },
      ],
    },
    services: [{ id: 'dual', props: { prefixes: ['198.18.101.0/24', '2001:db8:101::/64'], ports: [{ port: 80, backendPort: 8080 }, { port: 53, protocol: Protocol.UDP }] } }],
  }],
  ['an in-cluster reflector; UDP and HTTP-checked services', {
    topology: { routeReflectors: [{ name: 'rr1', address: '198.18.0.21', placement: ReflectorPlacement.inCluster({ nodeName: 'n21' }) }] },
    services: [
      { id: 'dns', props: { prefixes: ['198.18.53.0/24'], ports: [{ port: 53, protocol: Protocol.UDP }, { port: 53, protocol: Protocol.TCP }] } },
      { id: 'web', props: { prefixes: ['198.18.80.0/24'], healthCheck: { type: HealthCheckType.HTTP, httpPath: '/healthz' } } },
    ],
  }],
];

describe.each(variants)('%s', (_name, options) => {
  const { app, outdir } = testTopology(options);
  const { manifests, files } = synthToDisk(app);
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('every file for a daemon passes its checker', () => {
    const checked = [...files].filter(([file]) => checkerFor(file));
    expect(checked.length).toBeGreaterThanOrEqual(3);
    for (const [file, text] of checked) expectAccepted(file, checkerFor(file)!(text));
    for (const config of manifests.filter(m => m.kind === 'ConfigMap' && m.data?.['gobgpd.toml'])) {
      expectAccepted(`ConfigMap ${config.metadata.name}`, checkGobgpd(config.data['gobgpd.toml']));
    }
  });

  test('each LB pod\'s exabgp and keepalived configs, rendered as the pod renders them, pass their checkers', () => {
    const models: LoadBalancerServiceModel[] = manifests
      .filter(m => m.kind === 'ConfigMap' && m.data?.['service.json'])
      .map(m => JSON.parse(m.data['service.json']));
    expect(models.length).toBeGreaterThan(0);
    for (const model of models) {
      const v6 = model.prefixes[0].includes(':');
      const pod = v6
        ? { podIp: '2001:db8:130::2', nodeIp: '2001:db8::106', podName: 'lb-0', podNamespace: model.namespace }
        : { podIp: '198.19.130.2', nodeIp: '198.18.0.106', podName: 'lb-0', podNamespace: model.namespace };
      const neighbors = model.reflectors.map((_r, i) => v6 ? `2001:db8::${109 - i}` : `198.18.0.${109 - i}`);
      const exabgp = renderExabgp(exabgpModel(model, pod, neighbors, announcerCommand()));
      expectAccepted(`exabgp.conf of ${model.name}`, checkExabgp(exabgp));
      const keepalived = renderKeepalived(reconcile(model, sampleSlices(model), pod.podIp));
      expect(keepalived).toContain(v6 ? '2001:db8:130::11' : '198.19.130.11');
      if (model.prefixes.some(p => p.includes(':') !== v6)) {
        // Dual-stack: each family's VIPs get the real servers of that family's slices.
        expect(keepalived).toMatch(/virtual_server 2001:db8:101::1 80 \{[^]*?real_server 2001:db8:130::11 8080/);
        expect(keepalived).toMatch(/virtual_server 198\.18\.101\.1 80 \{[^]*?real_server 198\.19\.130\.11 8080/);
        // Static routes (exabgp without the announcer), each prefix with its node's address of its family.
        const nodeIpv6 = '2001:db8:ff::106';
        const staticRoutes = renderExabgp({ ...exabgpModel(model, pod, neighbors, ''), otherNextHop: nodeIpv6 });
        expect(staticRoutes).toContain(`route 2001:db8:101::/64 next-hop ${nodeIpv6};`);
        expect(staticRoutes).toContain('route 198.18.101.0/24 next-hop 198.18.0.106;');
        expect(staticRoutes).toContain('        ipv6 unicast;');
        expectAccepted(`static exabgp.conf of ${model.name}`, checkExabgp(staticRoutes));
      }
      expect(keepalived).not.toContain('198.19.130.13');
      expectAccepted(`keepalived.conf of ${model.name}`, checkKeepalived(keepalived));
    }
  });
});
