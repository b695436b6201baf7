import { ReflectorDaemon, RouterDaemon } from '../lib';
import { parseToml } from '../lib/toml';
import { checkBird, checkFrr, checkGobgpd } from './support/daemons';
import { synthToDisk, testTopology } from './support/topology';

// A pair of ToRs: two upstream routers (FRR and BIRD) beside each other, both peering with every
// reflector, each getting every LB's path (add-paths) and installing one ECMP route per service.
// The e2e scenario runs these files (e2e/lib/tor-pair.ts); here, what they say.

const ROUTERS = [
  { name: 'tor-a', address: '198.18.0.110', daemon: RouterDaemon.FRR },
  { name: 'tor-b', address: '198.18.0.111', daemon: RouterDaemon.BIRD },
];
const REFLECTORS = [{ name: 'rr1', address: '198.18.0.109' }, { name: 'rr2', address: '198.18.0.108' }];
const PREFIXES = ['198.18.101.0/24', '198.18.102.0/24'];

function synthTorPair(reflectorDaemon = ReflectorDaemon.GOBGP) {
  const { app } = testTopology({
    topology: {
      routeReflectors: REFLECTORS.map((r) => ({ ...r, daemon: reflectorDaemon })),
      upstreamRouters: ROUTERS,
      // FRR reflectors cannot bind prefixes to LB pods (docs/security.md).
      ...(reflectorDaemon === ReflectorDaemon.FRR ? { bindPrefixesToLbPods: false } : {}),
    },
  });
  return synthToDisk(app).files;
}

describe('two upstream routers (a pair of ToRs), gobgpd reflectors', () => {
  const files = synthTorPair();

  test.each(REFLECTORS)('reflector $name peers with both routers: each a route-reflector client with add-paths send-max above every LB count; gobgpd -d accepts it', ({ name, address }) => {
    const text = files.get(`route-reflectors/${name}/gobgpd.toml`)!;
    const routers = (parseToml(text) as any).neighbors;
    expect(routers.map((n: any) => [n.config['neighbor-address'], n.config['peer-as'], n.config.description])).toEqual(
      ROUTERS.map((r) => [r.address, 65021, `router-${r.name}`]));
    for (const router of routers) {
      expect(router['route-reflector'].config).toEqual({ 'route-reflector-client': true, 'route-reflector-cluster-id': address });
      expect(router['add-paths'].config['send-max']).toBeGreaterThanOrEqual(3);
      expect(router['afi-safis'].map((a: any) => a.config['afi-safi-name'])).toEqual(['ipv4-unicast']);
    }
    // The agent runs BFD for gobgpd with both routers.
    expect(JSON.parse(files.get(`route-reflectors/${name}/lb-pod-bindings.json`)!).routerBfd.routers.map((r: { address: string }) => r.address))
      .toEqual(ROUTERS.map((r) => r.address));
    expect(checkGobgpd(text).code).toBe(0);
  });

  test('the FRR router peers with both reflectors, takes both services\' prefixes from each, multipath over at least every LB; vtysh -C accepts it', () => {
    const conf = files.get('routers/tor-a/frr.conf')!;
    expect(conf).toContain(' bgp router-id 198.18.0.110\n');
    for (const rr of REFLECTORS) {
      expect(conf).toContain(` neighbor ${rr.address} remote-as 65021\n`);
      expect(conf).toContain(`  neighbor ${rr.address} activate\n  neighbor ${rr.address} route-map ecmp-lb-in-v4 in\n`);
    }
    for (const prefix of PREFIXES) expect(conf).toMatch(new RegExp(`ip prefix-list ecmp-lb-in-v4-prefixes seq \\d+ permit ${prefix.replace(/\./g, '\\.')}\n`));
    expect(Number(/maximum-paths ibgp (\d+)/.exec(conf)![1])).toBeGreaterThanOrEqual(3);
    expect(conf).not.toContain('198.18.0.111');
    expect(files.get('routers/tor-a/99-ecmp-router.conf')).toContain('net.ipv4.fib_multipath_hash_policy = 1\n');
    expect(conf).toMatchSnapshot();
    expect(checkFrr(conf)).toEqual({ code: 0, output: '' });
  });

  test('the BIRD router peers with both reflectors, add paths rx, merges equal paths into one kernel route; bird -p accepts it', () => {
    const conf = files.get('routers/tor-b/bird.conf')!;
    expect(conf).toContain('router id 198.18.0.111;\n');
    for (const rr of REFLECTORS) expect(conf).toContain(`  neighbor ${rr.address} as 65021;\n  direct;\n`);
    expect(conf.match(/ {4}add paths rx;\n {4}gateway direct;\n/g)).toHaveLength(REFLECTORS.length);
    expect(conf.match(new RegExp(`import where net ~ \\[ ${PREFIXES.join(', ').replace(/[./]/g, (c) => `\\${c}`)} \\];`, 'g'))).toHaveLength(REFLECTORS.length);
    expect(conf).toMatch(/merge paths on limit (\d+);/);
    expect(Number(/merge paths on limit (\d+);/.exec(conf)![1])).toBeGreaterThanOrEqual(3);
    expect(conf).not.toContain('198.18.0.110');
    expect(files.get('routers/tor-b/99-ecmp-router.conf')).toContain('net.ipv4.fib_multipath_hash_policy = 1\n');
    expect(conf).toMatchSnapshot();
    expect(checkBird(conf).code).toBe(0);
  });

  test('TOPOLOGY.md lists both routers and where each one\'s files go', () => {
    const topology = files.get('TOPOLOGY.md')!;
    expect(topology).toMatch(/\n\| tor-a \| 198\.18\.0\.110 \| 65021 \| frr \| 16 \|/);
    expect(topology).toMatch(/\n\| tor-b \| 198\.18\.0\.111 \| 65021 \| bird \| 16 \|/);
    expect(topology).toContain('| `routers/tor-a/frr.conf` | /etc/frr/frr.conf on router tor-a (198.18.0.110) |');
    expect(topology).toContain('| `routers/tor-b/bird.conf` | /etc/bird/bird.conf on router tor-b (198.18.0.111) |');
  });
});

test('two upstream routers, FRR reflectors: each reflector has both routers as route-reflector clients with every path (addpath-tx-all-paths); vtysh -C accepts it', () => {
  const files = synthTorPair(ReflectorDaemon.FRR);
  for (const rr of REFLECTORS) {
    const conf = files.get(`route-reflectors/${rr.name}/frr.conf`)!;
    for (const router of ROUTERS) {
      expect(conf).toContain(` neighbor ${router.address} remote-as 65021\n neighbor ${router.address} description router-${router.name}\n`);
      expect(conf).toContain(`  neighbor ${router.address} activate\n  neighbor ${router.address} route-reflector-client\n  neighbor ${router.address} addpath-tx-all-paths\n`);
    }
    expect(checkFrr(conf)).toEqual({ code: 0, output: '' });
  }
  // The routers' own files do not depend on the reflectors' daemon.
  expect(files.get('routers/tor-a/frr.conf')).toEqual(synthTorPair().get('routers/tor-a/frr.conf'));
});
