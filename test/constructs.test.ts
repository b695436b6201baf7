import * as fs from 'fs';
import { App, Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import {
  Backends, ForwardingMethod, HealthCheckType, InClusterReflectorOptions, Protocol, LoadBalancerService, LoadBalancerServiceModel, ReflectorDaemon,
  RouteReflector, ReflectorPlacement, RouterDaemon, UpstreamRouterConfig,
} from '../lib';
import { validateManifest } from './support/k8s-schema';
import { nginx, synthToDisk, tempDir, testTopology } from './support/topology';

const byKind = (manifests: any[], kind: string, name?: string) =>
  manifests.filter(m => m.kind === kind && (name === undefined || m.metadata.name === name));
const one = (manifests: any[], kind: string, name: string) => {
  const found = byKind(manifests, kind, name);
  expect(found).toHaveLength(1);
  return found[0];
};
const podSpecs = (manifests: any[]) => manifests.filter(m => m.spec?.template?.spec).map(m => m.spec.template.spec);

describe('the default shape (two services, one standalone reflector, FRR router)', () => {
  const { app, outdir } = testTopology();
  const { manifests, files } = synthToDisk(app);
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('every manifest validates against the Kubernetes 1.27 schema, unknown fields rejected', () => {
    expect(manifests.length).toBeGreaterThan(10);
    for (const m of manifests) validateManifest(m);
  });

  test('the schema check rejects what the API server would', () => {
    const lb = one(manifests, 'Deployment', 'web1-lb');
    const withUnknownField = JSON.parse(JSON.stringify(lb));
    withUnknownField.spec.template.spec.containers[0].capabilities = ['NET_ADMIN'];
    expect(() => validateManifest(withUnknownField)).toThrow(/additional propert/);
    const withBadType = JSON.parse(JSON.stringify(lb));
    withBadType.spec.replicas = 'three';
    expect(() => validateManifest(withBadType)).toThrow(/replicas/);
  });

  test('one LB Deployment per service, replicas = lbCount, spread over distinct nodes', () => {
    const web1 = one(manifests, 'Deployment', 'web1-lb');
    expect(web1.metadata.namespace).toBe('lb');
    expect(web1.spec.replicas).toBe(3);
    expect(one(manifests, 'Deployment', 'web2-lb').spec.replicas).toBe(2);
    const term = web1.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
    expect(term.topologyKey).toBe('kubernetes.io/hostname');
    expect(term.labelSelector.matchLabels).toEqual(web1.spec.selector.matchLabels);
    expect(web1.spec.strategy.rollingUpdate.maxSurge).toBe(0);
    expect(web1.spec.template.metadata.annotations['ecmp-lb.cdk8s.io/prefixes']).toBe('198.18.101.0/24');
  });

  test('the LB pod: init step renders per-pod config from the downward API; ipvs + exabgp containers', () => {
    const pod = one(manifests, 'Deployment', 'web1-lb').spec.template.spec;
    expect(pod.initContainers.map((c: any) => c.command.join(' '))).toEqual(['ecmp-lb init']);
    expect(pod.containers.map((c: any) => c.name)).toEqual(['ipvs', 'exabgp']);
    const env = Object.fromEntries(pod.initContainers[0].env.map((e: any) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({ POD_IP: 'status.podIP', NODE_IP: 'status.hostIP' });
    expect(pod.containers[1].command).toEqual(['exabgp', '/run/ecmp-lb/exabgp.conf']);
    expect(pod.terminationGracePeriodSeconds).toBe(25);
    // NAT (the default): no sloppy_tcp, a moved flow has no SNAT state on the new LB anyway.
    expect(pod.securityContext.sysctls.map((s: any) => s.name)).not.toContain('net.ipv4.vs.sloppy_tcp');
  });

  test('least privilege: only the containers that program the kernel get NET_ADMIN, nothing else', () => {
    for (const spec of podSpecs(manifests)) {
      expect(spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        if (c.image.startsWith('nginx')) continue; // the example backends are cdk8s-plus defaults
        const sc = c.securityContext;
        expect(sc.allowPrivilegeEscalation).toBe(false);
        expect(sc.readOnlyRootFilesystem).toBe(true);
        expect(sc.capabilities.drop).toEqual(['ALL']);
        const programsKernel = c.name === 'ipvs' || c.name === 'node-agent';
        expect(sc.capabilities.add ?? []).toEqual(programsKernel ? ['NET_ADMIN'] : []);
        if (!programsKernel) expect(sc.runAsNonRoot).toBe(true);
      }
    }
  });

  test('RBAC: the controller reads EndpointSlices of its namespace, the node agent and the reflector agent read pods, nothing cluster-wide', () => {
    expect(byKind(manifests, 'ClusterRole')).toHaveLength(0);
    expect(byKind(manifests, 'ClusterRoleBinding')).toHaveLength(0);
    expect(one(manifests, 'Role', 'web1-lb').rules).toEqual([
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(one(manifests, 'Role', 'ecmp-lb-node-agent').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    ]);
    // The standalone reflector's agent reads the LB pods it binds prefixes to.
    expect(one(manifests, 'Role', 'rr1-reflector-agent').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(one(manifests, 'RoleBinding', 'rr1-reflector-agent').subjects).toEqual([{ kind: 'ServiceAccount', name: 'rr1-reflector-agent', namespace: 'lb' }]);
  });

  test('the node agent routes the prefixes on every node from the host network', () => {
    const agent = one(manifests, 'DaemonSet', 'ecmp-lb-node-agent');
    expect(agent.spec.template.spec.hostNetwork).toBe(true);
    expect(agent.spec.template.spec.containers[0].args).toEqual(['--namespaces=lb']);
  });

  test('the ConfigMap carries the typed model the LB pod renders from', () => {
    const config = one(manifests, 'ConfigMap', 'web1-lb');
    const model: LoadBalancerServiceModel = JSON.parse(config.data['service.json']);
    expect(model).toMatchObject({
      name: 'web1', namespace: 'lb', prefixes: ['198.18.101.0/24'], vips: ['198.18.101.1'],
      ports: [{ port: 80, backendPort: 8080, protocol: 'TCP' }], scheduler: 'mh', forwardingMethod: 'NAT',
      backendServiceName: 'web1-backends', asn: 65021,
      timers: { holdTimeSeconds: 9, keepaliveSeconds: 3, connectRetrySeconds: 5 },
      reflectors: [{ name: 'rr1', host: '198.18.0.109', port: 179 }],
      drainSeconds: 10,
    });
    expect(config.data['announcer.py']).toMatch(/^#!\/usr\/bin\/env python3|import/m);
  });

  test('a headless Service gives the controller EndpointSlices for the selected backends', () => {
    const svc = one(manifests, 'Service', 'web1-backends');
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.selector).toEqual({ app: 'web1' });
    expect(svc.spec.ports).toEqual([{ name: 'tcp-8080', port: 8080, targetPort: 8080, protocol: 'TCP' }]);
  });

  test('a PodDisruptionBudget keeps all but one LB pod up during voluntary disruptions', () => {
    expect(one(manifests, 'PodDisruptionBudget', 'web1-lb').spec.maxUnavailable).toBe(1);
  });

  test('non-Kubernetes files: reflector and router configs, kernel settings, TOPOLOGY.md; no stray .yaml', () => {
    expect([...files.keys()].filter(p => !p.endsWith('.k8s.yaml')).sort()).toEqual([
      'TOPOLOGY.md',
      'route-reflectors/rr1/gobgpd.toml',
      'route-reflectors/rr1/lb-pod-bindings.json',
      'routers/router/99-ecmp-router.conf',
      'routers/router/daemons',
      'routers/router/frr.conf',
    ]);
    expect(files.get('routers/router/99-ecmp-router.conf')).toMatch(/fib_multipath_hash_policy\s*=\s*1/);
    const topologyMd = files.get('TOPOLOGY.md')!;
    expect(topologyMd).toContain('```mermaid');
    expect(topologyMd).toContain('| lb/web1 | 198.18.101.0/24 | 198.18.101.1 | 80/TCP -> 8080 | 3 |');
    expect(topologyMd).toContain('`routers/router/frr.conf` | /etc/frr/frr.conf on router router (198.18.0.110)');
  });

  test('the reflector config lists the router and the pod network as dynamic neighbors', () => {
    const toml = files.get('route-reflectors/rr1/gobgpd.toml')!;
    expect(toml).toContain('198.19.128.0/17');
    expect(toml).toContain('198.18.0.110');
    expect(toml).toMatch(/send-max\s*=\s*255/);
  });
});

test('two synths are byte-identical', () => {
  const first = synthToDisk(testTopology().app).files;
  const second = synthToDisk(testTopology().app).files;
  expect([...second.keys()]).toEqual([...first.keys()]);
  for (const [p, text] of first) expect(second.get(p)).toBe(text);
});

test('router daemons write their own files', () => {
  const bird = testTopology({ topology: { upstreamRouters: [{ name: 'edge', address: '198.18.0.110', daemon: RouterDaemon.BIRD }] } });
  expect([...synthToDisk(bird.app).files.keys()].filter(p => p.startsWith('routers/'))).toEqual(['routers/edge/99-ecmp-router.conf', 'routers/edge/bird.conf']);
  const gobgp = testTopology({ topology: { upstreamRouters: [{ name: 'edge', address: '198.18.0.110', daemon: RouterDaemon.GOBGP_ZEBRA }] } });
  expect([...synthToDisk(gobgp.app).files.keys()].filter(p => p.startsWith('routers/'))).toEqual([
    'routers/edge/99-ecmp-router.conf', 'routers/edge/daemons', 'routers/edge/gobgpd.toml', 'routers/edge/zebra.conf',
  ]);
});

test('two reflectors: every LB pod peers with both, each with its own cluster id', () => {
  const { app } = testTopology({
    topology: {
      routeReflectors: [{ name: 'rr1', address: '198.18.0.109' }, { name: 'rr2', address: '198.18.0.108' }],
    },
  });
  const { manifests, files } = synthToDisk(app);
  const model = JSON.parse(one(manifests, 'ConfigMap', 'web1-lb').data['service.json']);
  expect(model.reflectors.map((r: any) => r.host)).toEqual(['198.18.0.109', '198.18.0.108']);
  expect(files.get('route-reflectors/rr2/gobgpd.toml')).toMatch(/route-reflector-cluster-id\s*=\s*"198\.18\.0\.108"/);
});

test('an in-cluster reflector: a pinned gobgpd pod that LB pods dial through a Service; the router waits for it', () => {
  const { app } = testTopology({
    topology: { routeReflectors: [{ name: 'rr1', address: '198.18.0.21', placement: ReflectorPlacement.inCluster({ nodeName: 'node-21' }) }] },
  });
  const { manifests, files } = synthToDisk(app);
  for (const m of manifests) validateManifest(m);
  const rr = one(manifests, 'Deployment', 'rr1-gobgpd');
  expect(rr.spec.template.spec.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'node-21' });
  expect(rr.spec.template.spec.containers[0].securityContext.runAsNonRoot).toBe(true);
  expect(rr.spec.template.spec.securityContext.sysctls).toEqual([{ name: 'net.ipv4.ip_unprivileged_port_start', value: '179' }]);
  expect(one(manifests, 'ConfigMap', 'rr1-gobgpd').data['gobgpd.toml']).toContain('198.19.128.0/17');
  // BGP, and the LB pods' BFD (on by default) through the same ClusterIP to the agent's UDP 4784.
  expect(one(manifests, 'Service', 'rr1-bgp').spec.ports).toEqual([
    { name: 'bgp', port: 179, targetPort: 179, protocol: 'TCP' },
    { name: 'bfd', port: 4784, targetPort: 4784, protocol: 'UDP' },
  ]);
  expect(rr.spec.template.spec.containers[1].ports).toEqual([{ name: 'bfd', containerPort: 4784, protocol: 'UDP' }]);
  const agent = JSON.parse(one(manifests, 'ConfigMap', 'rr1-gobgpd').data['lb-pod-bindings.json']);
  expect(agent.bfd).toEqual({ minIntervalMs: 300, multiplier: 3, localAddress: '0.0.0.0' });
  expect(agent.routerBfd).toBeUndefined();
  const model = JSON.parse(one(manifests, 'ConfigMap', 'web1-lb').data['service.json']);
  expect(model.reflectors).toEqual([{ name: 'rr1', host: 'rr1-bgp.lb.svc', port: 179, bfd: { minIntervalMs: 300, multiplier: 3 } }]);
  expect(files.get('routers/router/frr.conf')).not.toMatch(/neighbor 198\.18\.0\.21 bfd/);
  expect(files.get('TOPOLOGY.md')).toContain('| 300 ms x 3 (the reflector agent, through the Service\'s UDP 4784) |');
  expect(files.get('TOPOLOGY.md')).toContain('| rr1: no, an in-cluster reflector reaches the router through its node\'s SNAT, not on its segment (BGP hold time) |');
  expect(files.has('route-reflectors/rr1/gobgpd.toml')).toBe(false);
  expect(files.get('routers/router/frr.conf')).toMatch(/neighbor 198\.18\.0\.21 passive/);
});

test('backends from a cdk8s-plus workload or an existing Service', () => {
  const { app, topology } = testTopology({ services: [] });
  const web = nginx(topology, 'web');
  new LoadBalancerService(topology, 'from-workload', {
    prefixes: ['198.18.110.0/24'], ports: [{ port: 80, backendPort: 8080 }], backends: Backends.fromWorkload(web), routeReflectors: topology.routeReflectors,
  });
  const svc = web.exposeViaService({ name: 'web-svc', ports: [{ port: 8080 }] });
  new LoadBalancerService(topology, 'from-service', {
    prefixes: ['198.18.111.0/24'], ports: [{ port: 80, backendPort: 8080 }], backends: Backends.fromService(svc), routeReflectors: topology.routeReflectors,
  });
  const { manifests } = synthToDisk(app);
  expect(one(manifests, 'Service', 'from-workload-backends').spec.selector).toEqual(web.matchLabels);
  expect(byKind(manifests, 'Service', 'from-service-backends')).toHaveLength(0);
  expect(JSON.parse(one(manifests, 'ConfigMap', 'from-service-lb').data['service.json']).backendServiceName).toBe('web-svc');
});

test('IPv6 prefixes, HTTP checks, DR forwarding and custom timers reach the model', () => {
  const { app } = testTopology({
    // An IPv6 cluster: nodes, pods, reflector and router (BGP ids stay dotted quads).
    topology: {
      podNetworks: ['2001:db8:130::/64'],
      routeReflectors: [{ name: 'rr1', address: '2001:db8::109', routerId: '198.18.0.109' }],
      upstreamRouters: [{ name: 'router', address: '2001:db8::110', routerId: '198.18.0.110' }],
    },
    services: [{
      id: 'v6', props: {
        prefixes: ['2001:db8:100::/64', '2001:db8:101::/64'], vips: ['2001:db8:100::10', '2001:db8:101::10'],
        ports: [{ port: 80 }], forwardingMethod: ForwardingMethod.DIRECT_ROUTING, backendsPreparedByHand: true, holdTime: Duration.seconds(30),
        healthCheck: { type: HealthCheckType.HTTP, httpPath: '/healthz', interval: Duration.seconds(5) },
      },
    }],
  });
  const { manifests } = synthToDisk(app);
  const model = JSON.parse(one(manifests, 'ConfigMap', 'v6-lb').data['service.json']);
  expect(model.vips).toEqual(['2001:db8:100::10', '2001:db8:101::10']);
  expect(model.forwardingMethod).toBe('DR');
  // DR/TUN: an LB that ECMP hands a flow mid-connection forwards it (docs/design.md, Draining).
  expect(one(manifests, 'Deployment', 'v6-lb').spec.template.spec.securityContext.sysctls).toContainEqual({ name: 'net.ipv4.vs.sloppy_tcp', value: '1' });
  expect(model.timers).toEqual({ holdTimeSeconds: 30, keepaliveSeconds: 10, connectRetrySeconds: 5 });
  expect(model.healthCheck).toMatchObject({ type: 'HTTP', httpPath: '/healthz', intervalSeconds: 5 });
});

describe('bad input is refused at synth with construct, field, value and fix', () => {
  const service = (props: object) => () => testTopology({ services: [{ id: 'web', props: { prefixes: ['198.18.101.0/24'], ...props } }] }).app.synth();
  const topologyWith = (props: object) => () => testTopology({ topology: props as any }).app.synth();

  test.each([
    ['malformed prefix', service({ prefixes: ['198.18.101.0/33'] }), /LoadBalancerService 'ecmp\/web': prefixes\[0\] "198\.18\.101\.0\/33" is not a CIDR prefix\. Fix: /],
    ['prefix with host bits', service({ prefixes: ['198.18.101.7/24'] }), /prefixes\[0\] "198\.18\.101\.7\/24" has host bits set\. Fix: write the network address: "198\.18\.101\.0\/24"/],
    ['malformed VIP', service({ vips: ['198.18.101.300'] }), /vips\[0\] "198\.18\.101\.300" is not an IP address/],
    ['VIP outside its prefix', service({ vips: ['198.18.102.1'] }), /vips\[0\] "198\.18\.102\.1" is outside the announced prefixes 198\.18\.101\.0\/24\. Fix: /],
    ['prefix overlapping the pod network', service({ prefixes: ['198.19.200.0/24'] }), /prefixes "198\.19\.200\.0\/24" overlaps the pod network 198\.19\.128\.0\/17\. Fix: /],
    // Dual-stack services are supported (test/dual-stack.test.ts); an IPv4-only cluster has no IPv6 pods for them.
    ['IPv6 prefix without an IPv6 pod network', service({ prefixes: ['198.18.101.0/24', '2001:db8:1::/64'] }), /prefixes \["2001:db8:1::\/64"\] are IPv6, but the reflectors' pod networks have no IPv6 prefix for the backend pods and the LB pods' IPv6 addresses\. Fix: add the cluster's IPv6 pod network to podNetworks/],
    ['DR with a remapped port', service({ forwardingMethod: ForwardingMethod.DIRECT_ROUTING }), /ports\[0\]\.backendPort 8080 differs from port 80, which DR forwarding cannot remap\. Fix: set backendPort to 80/],
    ['HTTP check on a UDP port', service({ ports: [{ port: 53, protocol: Protocol.UDP }], healthCheck: { type: HealthCheckType.HTTP } }), /healthCheck\.type "HTTP" cannot check a UDP port/],
    ['zero LB pods', service({ lbCount: 0 }), /lbCount 0 is not an integer in 1\.\.255\. Fix: /],
    ['port 0', service({ ports: [{ port: 0 }] }), /ports\[0\]\.port 0 is not a valid port\. Fix: use an integer in 1\.\.65535/],
    ['port 70000', service({ ports: [{ port: 80, backendPort: 70000 }] }), /ports\[0\]\.backendPort 70000 is not a valid port/],
    ['empty backend selector', service({ backends: Backends.fromLabels({}) }), /backends \{\} is an empty selector, which would select every pod in the namespace\. Fix: /],
    ['no route reflector', service({ routeReflectors: [] }), /routeReflectors \[\] is empty\. Fix: pass at least one RouteReflector/],
    ['hold time below 3 s', service({ holdTime: Duration.seconds(2) }), /holdTime "2s" is not a whole number of seconds in 3\.\.65535/],
    ['keepalive above a third of hold', service({ holdTime: Duration.seconds(9), keepaliveInterval: Duration.seconds(4) }), /keepaliveInterval "4s" is not a whole number of seconds between 1 and a third of the hold time \(9s\)/],
    ['bad service name', service({ name: 'Web_1' }), /name "Web_1" is not a DNS label/],
    ['AS differing from the reflectors', service({ asn: 65000 }), /asn 65000 differs from route reflector 'rr1' AS 65021/],
    ['AS out of range', topologyWith({ asn: 4294967296 }), /RouteReflector 'ecmp\/rr1': asn 4294967296 is not a valid AS number\. Fix: use an integer in 1\.\.4294967294 other than 23456 and 65535/],
    ['AS zero', topologyWith({ asn: 0 }), /asn 0 is not a valid AS number/],
    ['router id not a dotted quad', topologyWith({ routeReflectors: [{ name: 'rr1', address: '198.18.0.109', routerId: '1.2.3' }] }), /routerId "1\.2\.3" is not a dotted-quad BGP identifier/],
    ['IPv6 reflector without router id', topologyWith({ routeReflectors: [{ name: 'rr1', address: '2001:db8::109' }] }), /routerId \(defaults to address\) "2001:db8::109" is not a dotted-quad/],
    ['malformed reflector address', topologyWith({ routeReflectors: [{ name: 'rr1', address: '198.18.0' }] }), /address "198\.18\.0" is not an IP address/],
    ['malformed pod network', topologyWith({ podNetworks: ['198.19.128.0/17x'] }), /podNetworks\[0\] "198\.19\.128\.0\/17x" is not a CIDR prefix/],
    ['send-max below an LB count', topologyWith({ routeReflectors: [{ name: 'rr1', address: '198.18.0.109', sendMax: 2 }] }), /sendMax 2 is smaller than the 3 LB pods of service 'web1'.*Fix: set sendMax to at least 3/],
    ['maximum-paths below an LB count', topologyWith({ upstreamRouters: [{ name: 'router', address: '198.18.0.110', maximumPaths: 2 }] }), /UpstreamRouterConfig 'ecmp\/router': maximumPaths 2 is smaller than the 3 LB pods of service 'web1'.*Fix: set maximumPaths to at least 3/],
    ['in-cluster reflector without node', topologyWith({ routeReflectors: [{ name: 'rr1', address: '198.18.0.109', placement: ReflectorPlacement.inCluster({} as InClusterReflectorOptions) }] }), /placement\.nodeName \(not set\) is required for an in-cluster route reflector/],
  ])('%s', (_name, synth, message) => {
    expect(synth).toThrow(message);
  });

  test('a prefix claimed by two services', () => {
    const synth = () => testTopology({
      services: [
        { id: 'web1', props: { prefixes: ['198.18.101.0/24'] } },
        { id: 'web2', props: { prefixes: ['198.18.101.128/25'] } },
      ],
    }).app.synth();
    expect(synth).toThrow(/LoadBalancerService 'ecmp\/web1': prefixes "198\.18\.101\.0\/24" overlaps 198\.18\.101\.128\/25 of ecmp\/web2\. Fix: /);
  });

  test('duplicate service names in one namespace', () => {
    const synth = () => testTopology({
      services: [
        { id: 'a', props: { name: 'web', prefixes: ['198.18.101.0/24'] } },
        { id: 'b', props: { name: 'web', prefixes: ['198.18.102.0/24'] } },
      ],
    }).app.synth();
    expect(synth).toThrow(/name "web" is also used by ecmp\/b in namespace lb\. Fix: give each LoadBalancerService a distinct name/);
  });

  test('duplicate router names collide in the output folder', () => {
    const { app, topology } = testTopology();
    new UpstreamRouterConfig(topology, 'router-again', { name: 'router', address: '198.18.0.111', routeReflectors: topology.routeReflectors });
    expect(() => app.synth()).toThrow(/output path "routers\/router\/frr\.conf" is also written by ecmp\/router\/frr\.conf\. Fix: give each route reflector and upstream router a distinct name/);
  });

  test('a reflector no router peers with', () => {
    const { app, topology } = testTopology();
    new RouteReflector(topology, 'lonely', { asn: 65021, address: '198.18.0.99', podNetworks: ['198.19.128.0/17'] });
    expect(() => app.synth()).toThrow(/RouteReflector 'ecmp\/lonely': upstream routers \[\] is empty: nothing would learn the LB paths\. Fix: /);
  });

  test('files outside manifests need an EcmpApp', () => {
    const app = new App({ outdir: tempDir('ecmp-plain') });
    const chart = new Chart(app, 'c');
    const rr = new RouteReflector(chart, 'rr1', { asn: 65021, address: '198.18.0.109', podNetworks: ['198.19.128.0/17'] });
    new UpstreamRouterConfig(chart, 'router', { address: '198.18.0.110', routeReflectors: [rr] });
    expect(() => app.synth()).toThrow(/ConfigFile 'c\/rr1\/Resource': app "App" cannot write files that are not Kubernetes manifests\. Fix: create the app with `new EcmpApp\(\)`/);
  });

  test('nothing is written when validation fails', () => {
    const { app, outdir } = testTopology({ topology: { routeReflectors: [{ name: 'rr1', address: '198.18.0.109', sendMax: 1 }] } });
    expect(() => app.synth()).toThrow(/sendMax 1/);
    expect(fs.readdirSync(outdir)).toEqual([]);
  });
});

test('the topology creates its namespace, cluster-scoped, at the Pod Security level its pods need', () => {
  const { manifests } = synthToDisk(testTopology().app);
  const namespace = one(manifests, 'Namespace', 'lb');
  expect(namespace.metadata.namespace).toBeUndefined();
  expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
  expect(manifests[0].kind).toBe('Namespace');
  const { manifests: without } = synthToDisk(testTopology({ topology: { createNamespace: false } }).app);
  expect(byKind(without, 'Namespace')).toHaveLength(0);
});

describe('TOPOLOGY.md: BFD between each router and each reflector', () => {
  const { app } = testTopology({
    topology: {
      routeReflectors: [
        { name: 'rr1', address: '198.18.0.109', gobgpdVersion: '3.21.0' },
        { name: 'rr2', address: '198.18.0.108', daemon: ReflectorDaemon.FRR, bfdMinIntervalMs: 100, bfdMultiplier: 5 },
        { name: 'rr3', address: '198.18.0.107', gobgpdVersion: '3.21.0', bfd: false },
      ],
      upstreamRouters: [
        { name: 'frr', address: '198.18.0.110' },
        { name: 'bird', address: '198.18.0.111', daemon: RouterDaemon.BIRD },
        { name: 'gz', address: '198.18.0.112', daemon: RouterDaemon.GOBGP_ZEBRA },
        { name: 'off', address: '198.18.0.113', bfd: false },
      ],
      bgpPassword: { secret: kplus.Secret.fromSecretName(new Chart(new App(), 'secrets'), 'bgp', 'bgp-md5'), key: 'password', signLoadBalancerSessions: true },
    },
  });
  const { files } = synthToDisk(app);
  const row = (router: string) => files.get('TOPOLOGY.md')!.split('\n').find(l => l.startsWith(`| ${router} | `))!;

  test('per reflector: timers, single-hop, who runs it at each end, or why not', () => {
    expect(files.get('TOPOLOGY.md')).toContain('| name | address | AS | daemon | maximum paths | ECMP hashing | BFD with the reflectors |');
    expect(row('frr')).toMatch(/\| rr1: 300 ms x 3, single-hop \(bfdd; the reflector agent, while gobgpd answers\); rr2: 100 ms x 5, single-hop \(bfdd; bfdd\); rr3: no, the reflector's BFD is off \(BGP hold time\) \|$/);
    expect(row('bird')).toMatch(/\| rr1: 300 ms x 3, single-hop \(BIRD; the reflector agent, while gobgpd answers\); rr2: 100 ms x 5, single-hop \(BIRD; bfdd\); rr3: no/);
    expect(row('gz')).toMatch(/\| no: gobgpd \+ zebra has no BFD \(BGP hold time\) \|$/);
    expect(row('off')).toMatch(/\| off \(BGP hold time\) \|$/);
  });

  test('the files agree: the reflectors run BFD only with the routers that do', () => {
    expect(JSON.parse(files.get('route-reflectors/rr1/lb-pod-bindings.json')!).routerBfd.routers.map((r: { address: string }) => r.address)).toEqual(['198.18.0.110', '198.18.0.111']);
    expect(JSON.parse(files.get('route-reflectors/rr3/lb-pod-bindings.json')!).routerBfd).toBeUndefined();
    const rr2 = files.get('route-reflectors/rr2/frr.conf')!;
    expect(rr2).toContain(' neighbor 198.18.0.110 bfd profile ecmp-lb-routers-100x5\n');
    expect(rr2).toContain(' neighbor 198.18.0.111 bfd profile ecmp-lb-routers-100x5\n');
    expect(rr2).not.toMatch(/neighbor 198\.18\.0\.11[23] bfd/);
    expect(files.get('routers/frr/daemons')).toContain('\nbfdd=yes\n');
    expect(files.get('routers/off/daemons')).not.toContain('bfdd');
    expect(files.get('routers/gz/daemons')).not.toContain('bfdd');
    expect(files.get('routers/off/frr.conf')).not.toContain('bfd');
    expect(files.get('routers/frr/frr.conf')).not.toContain('neighbor 198.18.0.107 bfd');
  });
});
