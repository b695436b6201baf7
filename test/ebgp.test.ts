import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { ReflectorDaemon, ReflectorPlacement, RouteReflector, RouterDaemon, UpstreamRouterConfig, UpstreamRouterOptions } from '../lib';
import { parseToml } from '../lib/toml';
import { checkBird, checkFrr, checkGobgpd } from './support/daemons';
import { synthToDisk, testTopology } from './support/topology';

// The router in an AS of its own (65099) and the cluster in 65021: eBGP between router and reflectors.
const ROUTER_ASN = 65099;

function synthEbgp(router: Partial<UpstreamRouterOptions> = {}, reflector: Record<string, unknown> = {}, topology: Record<string, unknown> = {}) {
  const { app } = testTopology({
    topology: {
      routeReflectors: [{ name: 'rr1', address: '198.18.0.109', ...reflector }],
      upstreamRouters: [{ name: 'router', address: '198.18.0.110', asn: ROUTER_ASN, ...router }],
      ...topology,
    },
  });
  return synthToDisk(app).files;
}

describe('eBGP to the upstream router (its asn differs from the cluster\'s)', () => {
  test('gobgpd reflector: the router is an external neighbor, not a reflector client, and a global export policy keeps the LB\'s next hop; gobgpd -d accepts it', () => {
    const text = synthEbgp({ daemon: RouterDaemon.FRR }).get('route-reflectors/rr1/gobgpd.toml')!;
    const toml = parseToml(text) as any;
    const [router] = toml.neighbors;
    expect(router.config['peer-as']).toBe(ROUTER_ASN);
    expect(router['route-reflector']).toBeUndefined();
    expect(router['add-paths'].config['send-max']).toBe(255);
    expect(toml.global['apply-policy'].config).toEqual({
      'import-policy-list': ['from-lb-pods'], 'default-import-policy': 'reject-route',
      'export-policy-list': ['next-hop-unchanged'], 'default-export-policy': 'accept-route',
    });
    expect(toml['policy-definitions'].map((p: any) => p.name)).toEqual(['from-lb-pods', 'next-hop-unchanged']);
    expect(toml['policy-definitions'][1].statements[0].actions['bgp-actions']).toEqual({ 'set-next-hop': 'unchanged' });
    expect(text).toMatchSnapshot();
    expect(checkGobgpd(text).code).toBe(0);
  });

  test('FRR router: eBGP neighbor at the cluster\'s AS, multipath over eBGP paths (maximum-paths without ibgp); vtysh -C accepts it', () => {
    const files = synthEbgp({ daemon: RouterDaemon.FRR });
    const conf = files.get('routers/router/frr.conf')!;
    expect(conf).toContain('router bgp 65099\n');
    expect(conf).toContain(' neighbor 198.18.0.109 remote-as 65021\n');
    expect(conf).toContain('  maximum-paths 16\n');
    expect(conf).not.toContain('maximum-paths ibgp');
    expect(conf).toMatchSnapshot();
    expect(checkFrr(conf)).toEqual({ code: 0, output: '' });
  });

  test('BIRD router: local as 65099, neighbor as 65021, direct with gateway direct and add paths rx; bird -p accepts it', () => {
    const conf = synthEbgp({ daemon: RouterDaemon.BIRD }).get('routers/router/bird.conf')!;
    expect(conf).toContain('  local as 65099;\n  neighbor 198.18.0.109 as 65021;\n  direct;\n');
    expect(conf).toContain('    add paths rx;\n    gateway direct;\n');
    expect(conf).toMatchSnapshot();
    expect(checkBird(conf).code).toBe(0);
  });

  test('FRR reflector: no route-reflector-client (FRR refuses it on an external neighbor), attribute-unchanged next-hop instead; vtysh -C accepts it', () => {
    const conf = synthEbgp({ daemon: RouterDaemon.FRR }, { daemon: ReflectorDaemon.FRR }, { bindPrefixesToLbPods: false }).get('route-reflectors/rr1/frr.conf')!;
    expect(conf).toContain(' neighbor 198.18.0.110 remote-as 65099\n');
    expect(conf).toContain('  neighbor 198.18.0.110 attribute-unchanged next-hop\n  neighbor 198.18.0.110 addpath-tx-all-paths\n');
    expect(conf).not.toContain('neighbor 198.18.0.110 route-reflector-client');
    expect(conf).toMatchSnapshot();
    expect(checkFrr(conf)).toEqual({ code: 0, output: '' });
  });

  test('the iBGP default is unchanged: reflector client, no export policy, maximum-paths ibgp', () => {
    const files = synthEbgp({ asn: undefined, daemon: RouterDaemon.FRR });
    const toml = parseToml(files.get('route-reflectors/rr1/gobgpd.toml')!) as any;
    expect(toml.neighbors[0]['route-reflector'].config['route-reflector-client']).toBe(true);
    expect(toml.global['apply-policy'].config['export-policy-list']).toBeUndefined();
    expect(files.get('routers/router/frr.conf')).toContain('  maximum-paths ibgp 16\n');
  });

  test('TOPOLOGY.md says which routers peer over eBGP', () => {
    const summary = synthEbgp({ daemon: RouterDaemon.BIRD }).get('TOPOLOGY.md')!;
    expect(summary).toContain('| 65099 (eBGP) |');
    expect(summary).toContain('rr_rr1 -- "eBGP, add-paths" --> router_router');
    expect(synthEbgp({ asn: undefined }).get('TOPOLOGY.md')).not.toContain('eBGP');
  });

  test('refused: an eBGP gobgpd + zebra router', () => {
    expect(() => synthEbgp({ daemon: RouterDaemon.GOBGP_ZEBRA, bfd: false })).toThrow(
      /UpstreamRouterConfig 'ecmp\/router': asn 65099 differs from the reflectors' AS 65021, and an eBGP gobgpd \+ zebra router is not supported.*Fix: use daemon: RouterDaemon\.FRR or RouterDaemon\.BIRD for eBGP, or give the router asn 65021/);
  });

  test('in-cluster reflector: eBGP multihop (TTL 2, through its node) on both ends; BIRD resolves the next hops recursively, as it refuses gateway direct on multihop', () => {
    const inCluster = { address: '198.18.0.11', placement: ReflectorPlacement.inCluster({ nodeName: 'n1' }) };
    const { manifests, files } = (() => {
      const { app } = testTopology({ topology: { routeReflectors: [{ name: 'rr1', ...inCluster }], upstreamRouters: [{ name: 'router', address: '198.18.0.110', asn: ROUTER_ASN, daemon: RouterDaemon.FRR }] } });
      return synthToDisk(app);
    })();
    const gobgpd = manifests.find(m => m.kind === 'ConfigMap' && m.metadata.name === 'rr1-gobgpd').data['gobgpd.toml'];
    expect((parseToml(gobgpd) as any).neighbors[0]['ebgp-multihop']).toEqual({ config: { 'enabled': true, 'multihop-ttl': 2 } });
    expect(checkGobgpd(gobgpd).code).toBe(0);
    const frr = files.get('routers/router/frr.conf')!;
    expect(frr).toContain(' neighbor 198.18.0.11 passive\n neighbor 198.18.0.11 ebgp-multihop 2\n');
    expect(checkFrr(frr)).toEqual({ code: 0, output: '' });
    const bird = synthEbgp({ daemon: RouterDaemon.BIRD }, inCluster).get('routers/router/bird.conf')!;
    expect(bird).toContain('protocol direct {\n  ipv4;\n}\n');
    expect(bird).toContain('    export where source = RTS_BGP;\n');
    expect(bird).toContain('  neighbor 198.18.0.11 as 65021;\n  multihop 2;\n');
    expect(bird).toContain('    gateway recursive;\n    igp table master4;\n');
    expect(bird).not.toContain('direct;');
    expect(bird).toMatchSnapshot();
    expect(checkBird(bird).code).toBe(0);
    // A standalone reflector stays single-hop.
    expect(synthEbgp({ daemon: RouterDaemon.BIRD }).get('routers/router/bird.conf')).not.toContain('multihop');
  });

  test('refused: a router whose reflectors are in two ASes', () => {
    const chart = new Chart(new App(), 'two-as');
    const rr1 = new RouteReflector(chart, 'rr1', { asn: 65021, address: '198.18.0.109', podNetworks: ['198.19.128.0/17'] });
    const rr2 = new RouteReflector(chart, 'rr2', { asn: 65022, address: '198.18.0.108', podNetworks: ['198.19.128.0/17'] });
    new UpstreamRouterConfig(chart, 'router', { address: '198.18.0.110', asn: ROUTER_ASN, routeReflectors: [rr1, rr2] });
    new kplus.ConfigMap(chart, 'keep');
    const errors = chart.node.findAll().flatMap(c => c.node.validate());
    expect(errors).toContainEqual(expect.stringMatching(/UpstreamRouterConfig 'two-as\/router': routeReflectors \["rr1","rr2"\] are in more than one AS \('rr1' AS 65021, 'rr2' AS 65022\).*Fix: give every reflector of this router asn 65021/));
  });
});
