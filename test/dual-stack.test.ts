import { Chart } from 'cdk8s';
import { Backends, EcmpApp, ForwardingMethod, LoadBalancerService, ReflectorDaemon, RouteReflector, RouterDaemon, UpstreamRouterConfig } from '../lib';
import { manifestRules } from './support/k8s-rules';
import { validateManifest } from './support/k8s-schema';
import { nginx, synthToDisk, tempDir, testTopology } from './support/topology';

/**
 * Dual-stack services: one LoadBalancerService announcing an IPv4 and an IPv6 prefix over the IPv4
 * reflector sessions (MP-BGP), each with its node's address of the prefix's family as next hop. The
 * real daemons check these files in test/synthesized-configs.test.ts; the route through them is
 * test/dual-stack-netns.test.ts.
 */

const DUAL = {
  podNetworks: ['198.19.128.0/17', '2001:db8:130::/64'],
  upstreamRouters: [{ name: 'router', address: '198.18.0.110', ipv6Address: '2001:db8:ff::110' }],
};
const PREFIXES = ['198.18.101.0/24', '2001:db8:101::/64'];
const byKind = (manifests: any[], kind: string) => manifests.filter(m => m.kind === kind);

describe('a dual-stack service', () => {
  const { app } = testTopology({ topology: DUAL, services: [{ id: 'web', props: { prefixes: PREFIXES, lbCount: 2 } }] });
  const { manifests, files } = synthToDisk(app);
  const deployment = manifests.find(m => m.kind === 'Deployment' && m.metadata.name === 'web-lb');
  const pod = deployment.spec.template.spec;

  test('manifests pass the 1.27 schema and the API server\'s rules', () => {
    for (const m of manifests) {
      validateManifest(m);
      expect(manifestRules(m)).toEqual([]);
    }
  });

  test('the model keeps both prefixes and a VIP in each; the node routes both to the LB pod', () => {
    const model = JSON.parse(manifests.find(m => m.kind === 'ConfigMap' && m.metadata.name === 'web-lb').data['service.json']);
    expect(model.prefixes).toEqual(PREFIXES);
    expect(model.vips).toEqual(['198.18.101.1', '2001:db8:101::1']);
    expect(deployment.spec.template.metadata.annotations['ecmp-lb.cdk8s.io/prefixes']).toBe(PREFIXES.join(','));
  });

  test('its pods get their IPs of both families and their node\'s name, and forward IPv6', () => {
    for (const container of [...pod.initContainers, ...pod.containers]) {
      const fromFields = container.env.filter((e: any) => e.valueFrom?.fieldRef);
      const env = Object.fromEntries(fromFields.map((e: any) => [e.name, e.valueFrom.fieldRef.fieldPath]));
      expect(env).toMatchObject({ NODE_IP: 'status.hostIP', POD_IP: 'status.podIP', POD_IPS: 'status.podIPs', NODE_NAME: 'spec.nodeName' });
    }
    expect(pod.securityContext.sysctls).toContainEqual({ name: 'net.ipv6.conf.all.forwarding', value: '1' });
  });

  test('RBAC: the controller may get Nodes (its node\'s IPv6 address) and nothing else cluster-wide', () => {
    const [role] = byKind(manifests, 'ClusterRole');
    expect(byKind(manifests, 'ClusterRole')).toHaveLength(1);
    expect(role.metadata).toEqual({ name: 'lb-web-lb-node-reader' });
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
    const [binding] = byKind(manifests, 'ClusterRoleBinding');
    expect(binding.metadata).toEqual({ name: 'lb-web-lb-node-reader' });
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lb-web-lb-node-reader' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'web-lb', namespace: 'lb' }]);
  });

  test('the reflector and the router carry IPv6 unicast beside IPv4 over the IPv4 sessions, with add-paths and ECMP', () => {
    const gobgpd = files.get('route-reflectors/rr1/gobgpd.toml')!;
    expect(gobgpd).toContain('afi-safi-name = "ipv6-unicast"');
    expect(gobgpd).toContain('"2001:db8:101::/64"');
    const frr = files.get('routers/router/frr.conf')!;
    expect(frr).toMatch(/ address-family ipv6 unicast\n {2}maximum-paths ibgp 16\n {2}neighbor 198\.18\.0\.109 activate\n {2}neighbor 198\.18\.0\.109 route-map ecmp-lb-in-v6 in/);
    expect(frr).toContain('ipv6 prefix-list ecmp-lb-in-v6-prefixes seq 5 permit 2001:db8:101::/64');
    expect(files.get('routers/router/99-ecmp-router.conf')).toContain('net.ipv6.fib_multipath_hash_policy = 1');
    expect(files.get('TOPOLOGY.md')).toContain('| router | 198.18.0.110, 2001:db8:ff::110 (IPv6 next hops) |');
  });

  test('a BIRD router gets an IPv6 channel and kernel protocol merging the paths', () => {
    const { app: birdApp } = testTopology({
      topology: { ...DUAL, upstreamRouters: [{ ...DUAL.upstreamRouters[0], daemon: RouterDaemon.BIRD }] },
      services: [{ id: 'web', props: { prefixes: PREFIXES } }],
    });
    const bird = synthToDisk(birdApp).files.get('routers/router/bird.conf')!;
    expect(bird).toMatch(/protocol kernel kernel_ipv6 \{\n {2}ipv6 \{[^}]*\};\n[^}]*merge paths on limit 16;/);
    expect(bird).toContain('import where net ~ [ 2001:db8:101::/64 ];');
  });

  test('single-family services stay as they were: no Node access, no extra environment', () => {
    const { app: plain } = testTopology({ topology: DUAL, services: [{ id: 'v4', props: { prefixes: ['198.18.101.0/24'] } }] });
    const out = synthToDisk(plain).manifests;
    expect(byKind(out, 'ClusterRole')).toHaveLength(0);
    const spec = out.find(m => m.kind === 'Deployment').spec.template.spec;
    expect(spec.containers[0].env.map((e: any) => e.name)).not.toContain('NODE_NAME');
    expect(spec.securityContext.sysctls.map((s: any) => s.name)).not.toContain('net.ipv6.conf.all.forwarding');
  });
});

describe('dual-stack input that cannot work is refused at synth', () => {
  const synth = (topology: object, props: object = {}) => () => testTopology({ topology: { ...DUAL, ...topology }, services: [{ id: 'web', props: { prefixes: PREFIXES, ...props } }] }).app.synth();

  test.each([
    ['a router without an IPv6 address', synth({ upstreamRouters: [{ name: 'router', address: '198.18.0.110' }] }),
      /UpstreamRouterConfig 'ecmp\/router': ipv6Address \(not set\) is needed: service 'web' announces IPv6 prefixes \(2001:db8:101::\/64\) over the IPv4 reflector sessions.*Fix: give the router an address on the nodes' IPv6 segment and set ipv6Address/],
    ['an IPv4 address as ipv6Address', synth({ upstreamRouters: [{ name: 'router', address: '198.18.0.110', ipv6Address: '198.18.0.111' }] }),
      /UpstreamRouterConfig 'ecmp\/router': ipv6Address "198\.18\.0\.111" is not an IPv6 address\. Fix: /],
    ['ipv6Address on an IPv6 router', synth({ upstreamRouters: [{ name: 'router', address: '2001:db8::110', routerId: '198.18.0.110', ipv6Address: '2001:db8:ff::110' }] }),
      /ipv6Address "2001:db8:ff::110" has no effect: the router's address 2001:db8::110 is IPv6 already.*Fix: remove ipv6Address/],
    ['an ipv6Address inside the IPv6 pod network', synth({ upstreamRouters: [{ name: 'router', address: '198.18.0.110', ipv6Address: '2001:db8:130::1' }] }),
      /UpstreamRouterConfig 'ecmp\/router': ipv6Address "2001:db8:130::1" is inside the pod network 2001:db8:130::\/64\. Fix: /],
    ['an ipv6Address inside the service prefix', synth({ upstreamRouters: [{ name: 'router', address: '198.18.0.110', ipv6Address: '2001:db8:101::9' }] }),
      /ipv6Address "2001:db8:101::9" is inside a prefix of service 'web'; the route to the service would capture it\. Fix: /],
    ['a link-local ipv6Address', synth({ upstreamRouters: [{ name: 'router', address: '198.18.0.110', ipv6Address: 'fe80::1' }] }), /ipv6Address "fe80::1" is in IPv6 link-local/],
    ['IPv4 prefixes over IPv6 reflector sessions', synth({ routeReflectors: [{ name: 'rr1', address: '2001:db8::109', routerId: '198.18.0.109' }], upstreamRouters: [{ name: 'router', address: '2001:db8::110', routerId: '198.18.0.110' }] }),
      /LoadBalancerService 'ecmp\/web': prefixes \["198\.18\.101\.0\/24","2001:db8:101::\/64"\] include IPv4, but route reflector 'rr1' is at the IPv6 address 2001:db8::109: IPv4 prefixes are announced over IPv4 sessions only.*Fix: /],
  ])('%s', (_name, run, message) => {
    expect(run).toThrow(message);
  });

  test('an FRR reflector off the nodes\' IPv6 segment; ipv6Address on a gobgpd reflector', () => {
    const frr = { bindPrefixesToLbPods: false, routeReflectors: [{ name: 'rr1', address: '198.18.0.109', daemon: ReflectorDaemon.FRR }] };
    expect(synth(frr)).toThrow(/RouteReflector 'ecmp\/rr1': ipv6Address \(not set\) is needed: service 'web' announces IPv6 prefixes \(2001:db8:101::\/64\) over the IPv4 reflector sessions, with its LB nodes' IPv6 addresses as next hops, which FRR reflects only once it resolves them.*Fix: /);
    expect(synth({ ...frr, routeReflectors: [{ ...frr.routeReflectors[0], ipv6Address: '2001:db8:ff::109' }] })).not.toThrow();
    expect(synth({ routeReflectors: [{ name: 'rr1', address: '198.18.0.109', ipv6Address: '2001:db8:ff::109' }] }))
      .toThrow(/RouteReflector 'ecmp\/rr1': ipv6Address "2001:db8:ff::109" has no effect on a gobgpd reflector.*Fix: remove ipv6Address/);
  });

  test('TUN backends the service would prepare', () => {
    const { topology } = testTopology({ topology: DUAL, services: [] });
    expect(() => new LoadBalancerService(topology, 'web', {
      prefixes: PREFIXES, ports: [{ port: 80 }], backends: Backends.fromWorkload(nginx(topology, 'nginx')), forwardingMethod: ForwardingMethod.TUNNEL,
    })).toThrow(/LoadBalancerService 'ecmp\/web': prefixes \["198\.18\.101\.0\/24","2001:db8:101::\/64"\] include IPv6: the service prepares IPv4 tunnel backends only.*Fix: /);
  });

  test('reflectors of two families for one service', () => {
    const app = new EcmpApp({ outdir: tempDir('ecmp-dual') });
    const chart = new Chart(app, 'mixed', { namespace: 'lb' });
    const podNetworks = DUAL.podNetworks;
    const rr1 = new RouteReflector(chart, 'rr1', { asn: 65021, podNetworks, address: '198.18.0.109' });
    const rr2 = new RouteReflector(chart, 'rr2', { asn: 65021, podNetworks, address: '2001:db8::108', routerId: '198.18.0.108' });
    new UpstreamRouterConfig(chart, 'router', { address: '198.18.0.110', ipv6Address: '2001:db8:ff::110', routeReflectors: [rr1, rr2] });
    expect(() => new LoadBalancerService(chart, 'web', { prefixes: PREFIXES, ports: [{ port: 80 }], backends: Backends.fromWorkload(nginx(chart as any, 'nginx')), routeReflectors: [rr1, rr2] }))
      .toThrow(/LoadBalancerService 'mixed\/web': routeReflectors \["rr1","rr2"\] mix address families \('rr1' at 198\.18\.0\.109, 'rr2' at 2001:db8::108\).*Fix: give every reflector of the service an address of one family/);
  });
});
