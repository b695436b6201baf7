import * as fs from 'fs';
import { App, Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import * as k8s from '../imports/k8s';
import {
  Backends, EcmpApp, EcmpTopology, ForwardingMethod, LoadBalancerService, LoadBalancerServiceProps,
  ReflectorDaemon, RouteReflector, ReflectorPlacement, RouterDaemon,
} from '../lib';
import { isImageReference, isQualifiedName, isQuantity, quantityValue } from '../lib/kubernetes-rules';
import { LIBRARY_VERSION } from '../lib/version';
import { synthToDisk, tempDir, testTopology } from './support/topology';

// Every class of input docs/synth-checks.md lists: refused with the construct path, the field, the
// value and the fix, before anything is written.

const secret = () => kplus.Secret.fromSecretName(new Chart(new App(), 'secrets'), 'bgp', 'bgp-md5');
const service = (props: Partial<LoadBalancerServiceProps>, topology: object = {}) => () => testTopology({ topology, services: [{ id: 'web', props: { prefixes: ['198.18.101.0/24'], ...props } }] });
const topology = (props: object) => () => testTopology({ topology: props as any });
const rr = (extra: object = {}) => ({ name: 'rr1', address: '198.18.0.109', ...extra });
const router = (extra: object = {}) => ({ name: 'router', address: '198.18.0.110', ...extra });

type Build = () => { app: EcmpApp; outdir: string };

describe('synth refuses what cannot work, naming construct, field, value and fix, and writes nothing', () => {
  test.each<[string, Build, RegExp]>([
    // Kubernetes names and values the API server refuses
    ['namespace', topology({ namespace: 'LB_ns' }), /EcmpTopology 'ecmp': namespace "LB_ns" is not a Kubernetes namespace name .*Fix: set the chart's namespace/],
    ['node name', topology({ routeReflectors: [rr({ placement: ReflectorPlacement.inCluster({ nodeName: 'Node_1' }) })] }), /RouteReflector 'ecmp\/rr1': placement\.nodeName "Node_1" is not a node name.*Fix: /],
    ['nodeSelector key', service({ nodeSelector: { 'bad key': 'x' } }), /LoadBalancerService 'ecmp\/web': nodeSelector key "bad key" is not a label key\. Fix: /],
    ['nodeSelector value', service({ nodeSelector: { 'node-role.kubernetes.io/lb': 'yes please' } }), /nodeSelector\["node-role\.kubernetes\.io\/lb"\] "yes please" is not a label value\. Fix: /],
    ['backend label', service({ backends: Backends.fromLabels({ app: 'web!' }) }), /LoadBalancerService 'ecmp\/web': backends\["app"\] "web!" is not a label value\. Fix: /],
    ['resource quantity', service({ resources: { requests: { memory: k8s.Quantity.fromString('64MB') } } }), /resources\.requests\.memory "64MB" is not a resource quantity\. Fix: /],
    ['resource name', service({ resources: { limits: { gpu: k8s.Quantity.fromString('1') } } }), /resources\.limits "gpu" is not a resource name\. Fix: /],
    ['requests above limits', service({ resources: { requests: { memory: k8s.Quantity.fromString('1Gi') }, limits: { memory: k8s.Quantity.fromString('256Mi') } } }), /resources\.requests\.memory "1Gi" is more than the limit 256Mi\. Fix: /],
    ['image reference', service({ image: 'Registry.example.com/ECMP/lb:0.1.0 ' }), /LoadBalancerService 'ecmp\/web': image "Registry\.example\.com\/ECMP\/lb:0\.1\.0 " is not an image reference\. Fix: /],
    ['image digest', service({ images: { lbDigest: 'sha256:abc' } }), /images\.lbDigest "sha256:abc" is not an image digest\. Fix: /],
    ['image registry with a tag', topology({ images: { registry: 'ghcr.io/acme:1.0' } }), /EcmpTopology 'ecmp': images\.registry "ghcr\.io\/acme:1\.0" is not a registry and repository prefix\. Fix: /],
    ['image tag', topology({ images: { tag: '-1' } }), /images\.tag "-1" is not an image tag\. Fix: /],
    // Route attributes
    ['community', service({ communities: ['65021:70000'] }), /LoadBalancerService 'ecmp\/web': communities\[0\] "65021:70000" is not `ASN:VALUE`, each part 0\.\.65535 .*Fix: write it as "65021:100"/],
    ['community injection', service({ communities: ['1:1] next-hop self'] }), /communities\[0\] "1:1\] next-hop self" is not `ASN:VALUE`/],
    ['large community', service({ largeCommunities: ['65021:1'] }), /LoadBalancerService 'ecmp\/web': largeCommunities\[0\] "65021:1" is not `GLOBAL:LOCAL1:LOCAL2`.*Fix: write it as "65021:1:100"/],
    ['repeated community', service({ communities: ['65021:1', '65021:1'] }), /communities\[1\] "65021:1" repeats communities\[0\]\. Fix: list each once/],
    ['too many communities', service({ communities: Array.from({ length: 33 }, (_, i) => `65021:${i}`) }), /communities \[.*is not a list of at most 32\. Fix: /],
    ['local preference', service({ localPreference: -1 }), /LoadBalancerService 'ecmp\/web': localPreference -1 is not an integer in 0\.\.4294967295\. Fix: /],
    ['MED', service({ med: 1.5 }), /LoadBalancerService 'ecmp\/web': med 1\.5 is not an integer in 0\.\.4294967295\. Fix: /],
    // Peers that collide
    ['two reflectors at one address', topology({ routeReflectors: [rr(), rr({ name: 'rr2' })] }), /LoadBalancerService 'ecmp\/web1': routeReflectors \["rr1","rr2"\] list two reflectors at 198\.18\.0\.109:179 .*exabgp stops on a duplicate neighbor\. Fix: /],
    ['two routers at one address', topology({ upstreamRouters: [router(), router({ name: 'router2' })] }), /RouteReflector 'ecmp\/rr1': upstream routers \["router","router2"\] put router 'router2' at 198\.18\.0\.110, the address of router 'router'.*Fix: give every router and reflector its own address/],
    ['a router at a reflector\'s address', topology({ upstreamRouters: [router({ address: '198.18.0.109' })] }), /UpstreamRouterConfig 'ecmp\/router': address "198\.18\.0\.109" is also the address of route reflector 'rr1'\. Fix: /],
    ['router ids that collide', topology({ upstreamRouters: [router({ routerId: '198.18.0.109' })] }), /UpstreamRouterConfig 'ecmp\/router': routerId "198\.18\.0\.109" is also the router id of route reflector 'rr1'.*Fix: /],
    ['two reflectors with one router id', topology({ routeReflectors: [rr({ routerId: '1.1.1.1' }), rr({ name: 'rr2', address: '198.18.0.108', routerId: '1.1.1.1' })] }), /UpstreamRouterConfig 'ecmp\/router': routeReflectors \["rr1","rr2"\] list two reflectors with router id 1\.1\.1\.1.*Fix: give every route reflector its own routerId/],
    ['a router inside a service prefix', service({ prefixes: ['198.18.0.0/24'], vips: ['198.18.0.1'] }), /RouteReflector 'ecmp\/rr1': address "198\.18\.0\.110" of router 'router' is inside 198\.18\.0\.0\/24, the prefix of service 'web'.*Fix: /],
    ['a router inside the pod network', topology({ upstreamRouters: [router({ address: '198.19.128.1' })] }), /RouteReflector 'ecmp\/rr1': podNetworks \["198\.19\.128\.0\/17"\] contain router 'router''s address 198\.19\.128\.1.*Fix: /],
    ['a reflector inside the pod network', topology({ routeReflectors: [rr({ address: '198.19.128.9' })] }), /RouteReflector 'ecmp\/rr1': address "198\.19\.128\.9" is inside the pod network 198\.19\.128\.0\/17\. Fix: .*allowAddressInPodNetwork: true/],
    ['pod networks that overlap', topology({ podNetworks: ['198.19.128.0/17', '198.19.130.0/24'] }), /RouteReflector 'ecmp\/rr1': podNetworks\[1\] "198\.19\.130\.0\/24" overlaps podNetworks\[0\] 198\.19\.128\.0\/17\. Fix: /],
    ['a loopback router', topology({ upstreamRouters: [router({ address: '127.0.0.1' })] }), /UpstreamRouterConfig 'ecmp\/router': address "127\.0\.0\.1" is in IPv4 loopback.*Fix: /],
    // Address families
    ['IPv6 prefix without an IPv6 pod network', service({ prefixes: ['2001:db8:1::/64'] }), /LoadBalancerService 'ecmp\/web': prefixes \["2001:db8:1::\/64"\] are IPv6, but the reflectors' pod networks have no IPv6 prefix.*Fix: add the cluster's IPv6 pod network to podNetworks/],
    ['IPv6 prefix over IPv4 sessions to a router off the nodes\' IPv6 segment', service({ prefixes: ['2001:db8:1::/64'] }, { podNetworks: ['198.19.128.0/17', '2001:db8:130::/64'] }),
      /UpstreamRouterConfig 'ecmp\/router': ipv6Address \(not set\) is needed: service 'web' announces IPv6 prefixes \(2001:db8:1::\/64\) over the IPv4 reflector sessions.*Fix: /],
    ['router ipv6Address not IPv6', topology({ upstreamRouters: [router({ ipv6Address: '198.18.0.111' })] }), /UpstreamRouterConfig 'ecmp\/router': ipv6Address "198\.18\.0\.111" is not an IPv6 address\. Fix: /],
    ['IPv4 prefix over IPv6 sessions', service({ prefixes: ['198.18.101.0/24'] }, {
      podNetworks: ['198.19.128.0/17', '2001:db8:130::/64'], routeReflectors: [rr({ address: '2001:db8::109', routerId: '198.18.0.109' })], upstreamRouters: [router({ address: '2001:db8::110', routerId: '198.18.0.110' })],
    }), /LoadBalancerService 'ecmp\/web': prefixes \["198\.18\.101\.0\/24"\] include IPv4, but route reflector 'rr1' is at the IPv6 address 2001:db8::109.*Fix: /],
    ['an IPv6-only pod network with an IPv4 reflector', topology({ podNetworks: ['2001:db8:130::/64'] }), /RouteReflector 'ecmp\/rr1': podNetworks \["2001:db8:130::\/64"\] has no IPv4 prefix, and the reflector is at the IPv4 address 198\.18\.0\.109.*Fix: /],
    // Prefixes that cannot be a service
    ['multicast prefix', service({ prefixes: ['239.1.1.0/24'] }), /prefixes\[0\] "239\.1\.1\.0\/24" overlaps IPv4 multicast, which no router forwards to a service\. Fix: /],
    ['loopback prefix', service({ prefixes: ['127.0.10.0/24'] }), /prefixes\[0\] "127\.0\.10\.0\/24" overlaps IPv4 loopback/],
    ['link-local prefix', service({ prefixes: ['fe80::/64'] }, { podNetworks: ['198.19.128.0/17', '2001:db8:130::/64'] }), /prefixes\[0\] "fe80::\/64" overlaps IPv6 link-local/],
    ['the default route', service({ prefixes: ['0.0.0.0/0'] }), /prefixes\[0\] "0\.0\.0\.0\/0" overlaps the IPv4 "this network" range/],
    ['a VIP on the network address', service({ vips: ['198.18.101.0'] }), /vips\[0\] "198\.18\.101\.0" is the network address of 198\.18\.101\.0\/24\. Fix: use a host address such as 198\.18\.101\.1/],
    ['a VIP on the broadcast address', service({ vips: ['198.18.101.255'] }), /vips\[0\] "198\.18\.101\.255" is the broadcast address of 198\.18\.101\.0\/24/],
    ['duplicate VIPs', service({ vips: ['198.18.101.1', '198.18.101.1'] }), /vips\[1\] "198\.18\.101\.1" repeats vips\[0\]\. Fix: list each VIP once/],
    ['duplicate ports', service({ ports: [{ port: 80 }, { port: 80, backendPort: 8080 }] }), /ports\[1\] "TCP\/80" repeats ports\[0\].*Fix: list each port and protocol once/],
    ['health-check timeout at the interval', service({ healthCheck: { interval: Duration.seconds(2), timeout: Duration.seconds(2) } }), /healthCheck\.timeout "2s" is not shorter than the interval \(2s\)\. Fix: /],
    // Options the chosen daemons cannot honour
    ['TCP-MD5 on an in-cluster reflector', topology({ routeReflectors: [rr({ placement: ReflectorPlacement.inCluster({ nodeName: 'node-1' }) })], bgpPassword: { secret: secret(), key: 'password' } }),
      /RouteReflector 'ecmp\/rr1': bgpPassword "bgp-md5" cannot sign an in-cluster reflector's sessions.*Fix: run the reflector standalone/],
    ['signed LB sessions on gobgpd 3.10', topology({ bgpPassword: { secret: secret(), key: 'password', signLoadBalancerSessions: true } }), /bgpPassword\.signLoadBalancerSessions true needs gobgpd 3\.21 or later.*Fix: /],
    ['maximumPaths on gobgpd + zebra', topology({ upstreamRouters: [router({ daemon: RouterDaemon.GOBGP_ZEBRA, maximumPaths: 8 })] }), /UpstreamRouterConfig 'ecmp\/router': maximumPaths 8 has no effect on a gobgpd \+ zebra router.*Fix: /],
    ['BFD on a gobgpd + zebra router', topology({ upstreamRouters: [router({ daemon: RouterDaemon.GOBGP_ZEBRA, bfd: true })] }), /UpstreamRouterConfig 'ecmp\/router': bfd true cannot work on a gobgpd \+ zebra router: gobgpd has no BFD.*Fix: use daemon: RouterDaemon\.FRR or RouterDaemon\.BIRD/],
    ['resilient hashing on FRR', topology({ upstreamRouters: [router({ resilientHashing: true })] }), /UpstreamRouterConfig 'ecmp\/router': resilientHashing true cannot work on an FRR router: zebra installs BGP multipath routes as plain.*Fix: use daemon: RouterDaemon\.BIRD/],
    ['resilient tuning without resilient hashing', topology({ upstreamRouters: [router({ daemon: RouterDaemon.BIRD, resilientIdleTimer: 5 })] }), /UpstreamRouterConfig 'ecmp\/router': resilientIdleTimer 5 has no effect without resilientHashing: true\. Fix: /],
    ['fewer buckets than paths', topology({ upstreamRouters: [router({ daemon: RouterDaemon.BIRD, resilientHashing: true, resilientBuckets: 16 })] }), /UpstreamRouterConfig 'ecmp\/router': resilientBuckets 16 .*Fix: use at least 2 x maximumPaths \(32\), at most 32768/],
    ['an unbalanced timer below the idle timer', topology({ upstreamRouters: [router({ daemon: RouterDaemon.BIRD, resilientHashing: true, resilientIdleTimer: 30, resilientUnbalancedTimer: 10 })] }), /resilientUnbalancedTimer 10 is below resilientIdleTimer \(30 s\).*Fix: use 0 \(never\) or at least 30/],
    // Backends for DR and TUN (the construct prepares only a TUN workload it holds)
    ['TUN over labelled pods', service({ ports: [{ port: 80 }], forwardingMethod: ForwardingMethod.TUNNEL, backends: Backends.fromLabels({ app: 'web' }) }),
      /LoadBalancerService 'ecmp\/web': backends \{"app":"web"\} cannot be prepared for TUN forwarding: the service holds no pod template.*Fix: use Backends\.fromWorkload\(workload\), or .*backendsPreparedByHand: true/],
    ['TUN over an existing Service', () => {
      const built = testTopology({ services: [] });
      const svc = new kplus.Service(built.topology, 'svc', { metadata: { name: 'web-svc' }, ports: [{ port: 80 }] });
      new LoadBalancerService(built.topology, 'web', { prefixes: ['198.18.101.0/24'], ports: [{ port: 80 }], forwardingMethod: ForwardingMethod.TUNNEL, backends: Backends.fromService(svc), routeReflectors: built.topology.routeReflectors });
      return built;
    }, /backends "Service web-svc" cannot be prepared for TUN forwarding.*Fix: /],
    ['DR not prepared by hand', service({ ports: [{ port: 80 }], forwardingMethod: ForwardingMethod.DIRECT_ROUTING }),
      /LoadBalancerService 'ecmp\/web': forwardingMethod "DR" needs backends the service cannot prepare .*Fix: set the backend pods up by hand \(docs\/design\.md\) and set backendsPreparedByHand: true/],
    ['backendsPreparedByHand with NAT', service({ backendsPreparedByHand: true }), /backendsPreparedByHand true applies to DR and TUN forwarding; NAT needs nothing from the backends\. Fix: /],
    ['calicoAllowedSourcePrefixes on backends prepared by hand', service({ ports: [{ port: 80 }], forwardingMethod: ForwardingMethod.TUNNEL, backendsPreparedByHand: true, calicoAllowedSourcePrefixes: true }),
      /calicoAllowedSourcePrefixes true applies only to TUN backends the service prepares.*Fix: /],
    ['relaxBackendReversePathFilter with NAT', service({ relaxBackendReversePathFilter: true }), /relaxBackendReversePathFilter true applies only to TUN backends the service prepares/],
    // Reserved AS numbers
    ...[23456, 65535, 4294967295].map((asn): [string, Build, RegExp] => [`reserved AS ${asn}`, topology({ asn }), new RegExp(`asn ${asn} is a reserved AS number.*Fix: `)]),
    // Messages for NaN and Infinity
    ['NaN', service({ lbCount: Number.NaN }), /lbCount NaN is not an integer/],
    ['Infinity', service({ ports: [{ port: Number.POSITIVE_INFINITY }] }), /ports\[0\]\.port Infinity is not a valid port/],
  ])('%s', (_name, build, message) => {
    let outdir: string | undefined;
    const synth = () => {
      const { app, outdir: dir } = build();
      outdir = dir;
      app.synth();
    };
    expect(synth).toThrow(message);
    if (outdir) expect(fs.readdirSync(outdir)).toEqual([]);
  });

  test('an object name that collides with one the user already has in the chart', () => {
    const { app, topology: chart, outdir } = testTopology();
    new k8s.KubeConfigMap(chart, 'mine', { metadata: { name: 'web1-lb' } });
    expect(() => app.synth()).toThrow(/KubeConfigMap 'ecmp\/mine': metadata\.name "web1-lb" is also the name of ecmp\/web1\/Config, another ConfigMap in namespace lb; kubectl apply would keep only one of them\. Fix: /);
    expect(fs.readdirSync(outdir)).toEqual([]);
  });

  test('accepted only with an explicit prop: a reflector inside the pod network', () => {
    const { app } = topology({ routeReflectors: [rr({ address: '198.19.128.9', allowAddressInPodNetwork: true })] })();
    expect(synthToDisk(app).files.get('route-reflectors/rr1/gobgpd.toml')).toContain('neighbor-address = "198.18.0.110"');
  });
});

test('two topologies in one app share one node route agent, which watches both namespaces', () => {
  const app = new EcmpApp({ outdir: tempDir('ecmp-two') });
  for (const [name, n] of [['blue', 1], ['green', 2]] as const) {
    const chart = new EcmpTopology(app, name, {
      namespace: name, asn: 65021, podNetworks: ['198.19.128.0/17'],
      routeReflectors: [{ name: `${name}-rr`, address: `198.18.${n}.109` }], upstreamRouters: [{ name: `${name}-router`, address: `198.18.${n}.110` }],
    });
    new LoadBalancerService(chart, 'web', { prefixes: [`198.18.10${n}.0/24`], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'web' }) });
  }
  const { manifests } = synthToDisk(app);
  const agents = manifests.filter(m => m.kind === 'DaemonSet');
  expect(agents.map(a => [a.metadata.namespace, a.spec.template.spec.containers[0].args])).toEqual([['blue', ['--namespaces=blue,green']]]);
  const bindings = manifests.filter(m => m.kind === 'RoleBinding' && m.metadata.name === 'ecmp-lb-node-agent');
  expect(bindings.map(b => [b.metadata.namespace, b.subjects[0].namespace])).toEqual([['blue', 'blue'], ['green', 'blue']]);
});

describe('images: one place for registry, tag and digest', () => {
  const lbImages = (manifests: any[]) => [...new Set(manifests
    .flatMap(m => [...(m.spec?.template?.spec?.initContainers ?? []), ...(m.spec?.template?.spec?.containers ?? [])])
    .map((c: any) => c.image))].sort();

  test('the default tag is the library version', () => {
    const { manifests } = synthToDisk(testTopology().app);
    const { version } = JSON.parse(fs.readFileSync(`${__dirname}/../package.json`, 'utf8'));
    expect(lbImages(manifests)).toEqual([`cdk8s-ecmp-lb/exabgp:${version}`, `cdk8s-ecmp-lb/lb:${version}`]);
  });

  test('the app sets registry and tag, a chart overrides the tag, a construct pins a digest', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const outdir = tempDir('ecmp-images');
    const app = new EcmpApp({ outdir, images: { registry: 'registry.local:5000/ecmp', tag: '1.0.0' } });
    const chart = new EcmpTopology(app, 'ecmp', {
      namespace: 'lb', asn: 65021, podNetworks: ['198.19.128.0/17'], images: { tag: '1.0.1' },
      routeReflectors: [{ address: '198.18.0.109', placement: ReflectorPlacement.inCluster({ nodeName: 'node-1' }) }], upstreamRouters: [{ address: '198.18.0.110' }],
    });
    new LoadBalancerService(chart, 'web', { prefixes: ['198.18.101.0/24'], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'web' }), images: { lbDigest: digest } });
    expect(lbImages(synthToDisk(app).manifests)).toEqual([
      'registry.local:5000/ecmp/exabgp:1.0.1', 'registry.local:5000/ecmp/gobgpd:1.0.1', 'registry.local:5000/ecmp/lb:1.0.1', `registry.local:5000/ecmp/lb:1.0.1@${digest}`,
    ]);
  });

  test('gobgpdVersion applies only to a gobgpd reflector', () => {
    expect(() => topology({ routeReflectors: [rr({ daemon: ReflectorDaemon.FRR, gobgpdVersion: '3.21.0', bindPrefixesToLbPods: false })] })()).toThrow(/gobgpdVersion "3\.21\.0" only applies to a gobgpd reflector/);
  });

  test('BFD: on where it can run, refused where it cannot, its timers bounded', () => {
    const reflector = (props: Record<string, unknown>, shared: object = {}) =>
      (topology({ ...shared, routeReflectors: [rr(props)] })().topology.routeReflectors[0] as RouteReflector);
    expect(reflector({}).bfd).toEqual({ minIntervalMs: 300, multiplier: 3 });
    expect(reflector({ bfdMinIntervalMs: 100, bfdMultiplier: 5 }).lbPeer.bfd).toEqual({ minIntervalMs: 100, multiplier: 5 });
    expect(reflector({}, { bindPrefixesToLbPods: false }).bfd).toBeUndefined();
    // In-cluster: on by default too, the LB pods' sessions through the Service's UDP 4784, the agent bound to every pod address.
    const inCluster = reflector({ placement: ReflectorPlacement.inCluster({ nodeName: 'node-1' }) });
    expect(inCluster.bfd).toEqual({ minIntervalMs: 300, multiplier: 3 });
    expect(inCluster.lbPeer).toEqual({ name: 'rr1', host: 'rr1-bgp.lb.svc', port: 179, bfd: { minIntervalMs: 300, multiplier: 3 } });
    expect(inCluster.model().bfd).toEqual({ minIntervalMs: 300, multiplier: 3, localAddress: '0.0.0.0' });
    expect(reflector({ placement: ReflectorPlacement.inCluster({ nodeName: 'node-1' }), bfd: true, bfdMinIntervalMs: 100 }).bfd).toEqual({ minIntervalMs: 100, multiplier: 3 });
    expect(reflector({ placement: ReflectorPlacement.inCluster({ nodeName: 'node-1' }) }, { bindPrefixesToLbPods: false }).bfd).toBeUndefined();
    expect(() => reflector({ placement: ReflectorPlacement.inCluster({ nodeName: 'node-1' }), bfd: true }, { bindPrefixesToLbPods: false }))
      .toThrow(/RouteReflector 'ecmp\/rr1': bfd true needs bindPrefixesToLbPods on a gobgpd reflector .*Fix: turn bindPrefixesToLbPods on/);
    expect(() => reflector({ bfd: true }, { bindPrefixesToLbPods: false })).toThrow(/bfd true needs bindPrefixesToLbPods on a gobgpd reflector/);
    expect(() => reflector({ bfd: false, bfdMultiplier: 3 })).toThrow(/bfdMultiplier 3 only applies with BFD, which is off here/);
    expect(() => reflector({ bfdMinIntervalMs: 20 })).toThrow(/bfdMinIntervalMs 20 is not an integer in 50\.\.10000/);
    expect(() => reflector({ bfdMultiplier: 1 })).toThrow(/bfdMultiplier 1 is not an integer in 2\.\.20/);
  });

  test('BFD between router and reflector: where both ends run it, at the reflector\'s timers; a gobgpd + zebra router and bfd: false get none', () => {
    const build = (reflector: object, upstream: object) => {
      const { topology: t } = topology({ routeReflectors: [rr(reflector)], upstreamRouters: [router(upstream)] })();
      const reflectorModel = (t.routeReflectors[0] as RouteReflector).model();
      return { router: t.upstreamRouters[0].model().reflectors[0].bfd, reflector: reflectorModel.routers[0].bfd };
    };
    expect(build({}, {})).toEqual({ router: { minIntervalMs: 300, multiplier: 3 }, reflector: { minIntervalMs: 300, multiplier: 3 } });
    expect(build({ bfdMinIntervalMs: 100, bfdMultiplier: 5 }, { daemon: RouterDaemon.BIRD })).toEqual({
      router: { minIntervalMs: 100, multiplier: 5 },
      reflector: { minIntervalMs: 100, multiplier: 5 },
    });
    expect(build({}, { daemon: RouterDaemon.GOBGP_ZEBRA })).toEqual({ router: undefined, reflector: undefined });
    expect(build({}, { bfd: false })).toEqual({ router: undefined, reflector: undefined });
    expect(build({ bfd: false }, {})).toEqual({ router: undefined, reflector: undefined });
    // In-cluster: BFD with the LB pods, none with the router (not on its segment: its session leaves through the node's SNAT).
    expect(build({ placement: ReflectorPlacement.inCluster({ nodeName: 'node-1' }) }, {})).toEqual({ router: undefined, reflector: undefined });
    expect(build({ placement: ReflectorPlacement.inCluster({ nodeName: 'node-1' }), bfd: true }, { daemon: RouterDaemon.BIRD }))
      .toEqual({ router: undefined, reflector: undefined });
  });
});

describe('the API server\'s rules', () => {
  test.each([
    ['nginx', true], ['nginx:1.25', true], ['ghcr.io/acme/lb:0.1.0', true], ['localhost:5000/a/b@sha256:' + '0'.repeat(64), true],
    ['[::1]:5000/a:b', true], ['registry.local:5000/ecmp/lb:1.0.1@sha256:' + 'ab'.repeat(32), true],
    ['', false], ['Nginx', false], ['a b', false], ['a:b:c', false], ['a@sha256:abc', false], ['a/', false], ['-a', false], ['a:-b', false],
  ])('image reference %j: %s', (text, valid) => {
    expect(isImageReference(text)).toBe(valid);
  });

  test.each([
    ['app', true], ['app.kubernetes.io/name', true], ['a/b/c', false], ['-a', false], ['a'.repeat(64), false], ['Example.com/x', false], ['x/', false],
  ])('label key %j: %s', (text, valid) => {
    expect(isQualifiedName(text)).toBe(valid);
  });

  test.each([
    ['100m', 0.1], ['64Mi', 64 * 2 ** 20], ['1.5', 1.5], ['2e3', 2000], ['1Ki', 1024], ['.5', 0.5],
  ])('quantity %j is %d', (text, value) => {
    expect(isQuantity(text)).toBe(true);
    expect(quantityValue(text)).toBe(value);
  });

  test.each(['64MB', '-1', '1.2.3', 'm', '', '1 Gi'])('%j is not a quantity', (text) => {
    expect(isQuantity(text)).toBe(false);
  });
});

test('the library version in lib/version.ts is package.json\'s', () => {
  expect(LIBRARY_VERSION).toBe(JSON.parse(fs.readFileSync(`${__dirname}/../package.json`, 'utf8')).version);
});
