import * as fs from 'fs';
import * as path from 'path';
import { Chart, Duration } from 'cdk8s';
import { ApiServerDouble } from '../controller/test/apiserver-double';
import { Backends, EcmpApp, LoadBalancerService, ReflectorDaemon, RouteReflector, RouterDaemon, UpstreamRouterConfig } from '../lib';
import { announceFileText } from '../lib/lb-pod-contract';
import { LoadBalancerServiceModel } from '../lib/model';
import { kernelBgpRoutes, NetnsLab, startFrr, waitUntil } from './support/netns';
import { startLbSpeaker } from './support/reflector-lab';
import { synthToDisk, tempDir } from './support/topology';

/**
 * A dual-stack service for real: three LB speakers (exabgp with the synthesized announcer, their
 * announce files as the controller writes them) announce an IPv4 and an IPv6 prefix over IPv4
 * sessions to the synthesized gobgpd reflector, which passes every path on (add-paths) to the
 * synthesized FRR and BIRD routers; each installs one IPv4 and one IPv6 ECMP route, each with one
 * next hop per LB node, the IPv6 one via the nodes' IPv6 addresses. Network namespaces on one bridge,
 * 198.18.0.0/15 and 2001:db8::/32 only:
 *
 *   rr1 198.18.0.109 gobgpd, rr2 198.18.0.108 + 2001:db8:ff::108 FRR, each with a leg in the pod network 198.19.128.0/17
 *   edge 198.18.0.110 + 2001:db8:ff::110 FRR router, edge2 198.18.0.111 + 2001:db8:ff::111 BIRD router
 *   LB pods 198.19.130.2-4 on nodes 198.18.0.101-103 / 2001:db8:ff::101-103, bound to the service by the
 *   reflector agent (fed by the API double); a rogue speaker 198.19.130.9 (node 198.18.0.120 / 2001:db8:ff::120),
 *   in the pod network but no LB pod of the service, announces the same prefixes
 */

const V4 = '198.18.101.0/24';
const V6 = '2001:db8:101::/64';
const NODES = [1, 2, 3].map(i => ({ name: `lb${i}`, podIp: `198.19.130.${i + 1}`, nodeIp: `198.18.0.${100 + i}`, nodeIpv6: `2001:db8:ff::${100 + i}` }));

function synthesize(outdir: string) {
  const app = new EcmpApp({ outdir });
  const chart = new Chart(app, 'dual', { namespace: 'lb' });
  const rr1 = new RouteReflector(chart, 'rr1', {
    // Each service's prefixes bound to its own LB pods (the default): the reflector agent keeps the binding.
    asn: 65021, address: '198.18.0.109', podNetworks: ['198.19.128.0/17', '2001:db8:130::/64'], bfd: false, connectRetry: Duration.seconds(1),
  });
  // An FRR reflector beside it (no binding: FRR's is the signature, not used here), on the nodes' IPv6 segment too.
  const rr2 = new RouteReflector(chart, 'rr2', {
    asn: 65021, address: '198.18.0.108', ipv6Address: '2001:db8:ff::108', podNetworks: ['198.19.128.0/17', '2001:db8:130::/64'],
    daemon: ReflectorDaemon.FRR, bindPrefixesToLbPods: false, bfd: false, connectRetry: Duration.seconds(1),
  });
  const routeReflectors = [rr1, rr2];
  new UpstreamRouterConfig(chart, 'edge', { address: '198.18.0.110', ipv6Address: '2001:db8:ff::110', routeReflectors, connectRetry: Duration.seconds(1) });
  new UpstreamRouterConfig(chart, 'edge2', { address: '198.18.0.111', ipv6Address: '2001:db8:ff::111', routeReflectors, daemon: RouterDaemon.BIRD, connectRetry: Duration.seconds(1) });
  new LoadBalancerService(chart, 'web', { prefixes: [V4, V6], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'web' }), routeReflectors, lbCount: 3 });
  return synthToDisk(app);
}

/** The routes of one family and protocol (`bgp`: FRR's zebra; `bird`) in `ns`'s kernel, as prefix -> sorted next hops. */
function kernelRoutes(lab: NetnsLab, ns: string, family: '-4' | '-6', proto: string): Map<string, string[]> {
  const routes = JSON.parse(lab.probe(ns, ['ip', '-j', family, 'route', 'show', 'proto', proto]) || '[]') as any[];
  return new Map(routes.map(r => [r.dst, (r.gateway ? [r.gateway] : (r.nexthops ?? []).map((n: any) => n.gateway)).sort()]));
}

describe('a dual-stack service, with real daemons in network namespaces', () => {
  const work = tempDir('ecmp-dual');
  const lab = new NetnsLab('ds', path.join(work, 'logs'));
  const dist = path.join(work, 'dist');
  const { files, manifests } = synthesize(dist);
  afterAll(() => lab.destroy());
  const model: LoadBalancerServiceModel = JSON.parse(manifests.find(m => m.kind === 'ConfigMap' && m.metadata.name === 'web-lb').data['service.json']);

  const api = new ApiServerDouble();
  afterAll(() => api.stop());

  test('the router installs an IPv4 and an IPv6 ECMP route, one next hop per LB node in each family, none via a rogue speaker; withdrawing one LB\'s IPv6 prefix leaves its IPv4 path', async () => {
    const started = Date.now();
    const rr1 = lab.host('rr1', ['198.18.0.109/24', '198.19.128.1/17']);
    const rr1Api = `unix://${path.join(work, 'gobgpd-rr1.sock')}`;
    lab.start('rr1', rr1, ['gobgpd', '-t', 'toml', '-f', path.join(dist, 'route-reflectors/rr1/gobgpd.toml'), '--api-hosts', `127.0.0.1:50051,${rr1Api}`, '--pprof-disable']);
    // The reflector agent binds the service's prefixes, both families, to its LB pods' (IPv4) session addresses.
    await api.start();
    for (const node of NODES) {
      api.upsert('/api/v1/namespaces/lb/pods', {
        metadata: { name: `web-lb-${node.name}`, namespace: 'lb', labels: { 'app.kubernetes.io/instance': 'web', 'ecmp-lb.cdk8s.io/role': 'lb' } },
        status: { phase: 'Running', podIP: node.podIp, podIPs: [{ ip: node.podIp }, { ip: node.podIp.replace('198.19.130.', '2001:db8:130::') }] },
      } as any);
    }
    const kubeconfig = path.join(work, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    const repo = path.resolve(__dirname, '..');
    lab.start('agent', undefined, [process.execPath, path.join(repo, 'node_modules/.bin/ts-node'), path.join(repo, 'controller/src/cli.ts'), 'reflector-agent',
      '--config', path.join(dist, 'route-reflectors/rr1/lb-pod-bindings.json'), '--kubeconfig', kubeconfig, '--gobgp-api', rr1Api], { TS_NODE_TRANSPILE_ONLY: '1', NODE_OPTIONS: '' });
    const router = (name: string, v4: string, v6: string) => {
      const ns = lab.host(name, [`${v4}/24`]);
      lab.run(ns, ['ip', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
      // The router's synthesized kernel settings (IPv6 forwarding, multipath hashing).
      for (const line of files.get(`routers/${name}/99-ecmp-router.conf`)!.split('\n').filter(l => l && !l.startsWith('#'))) {
        lab.run(ns, ['sysctl', '-qw', line.replace(' = ', '=')]);
      }
      return ns;
    };
    const edge = router('edge', '198.18.0.110', '2001:db8:ff::110');
    const edge2 = router('edge2', '198.18.0.111', '2001:db8:ff::111');
    const birdDir = lab.tempDir('bird');
    lab.start('edge2', edge2, ['bird', '-f', '-c', path.join(dist, 'routers/edge2/bird.conf'), '-s', path.join(birdDir, 'bird.ctl'), '-P', path.join(birdDir, 'bird.pid')]);
    const rr2 = lab.host('rr2', ['198.18.0.108/24', '198.19.128.2/17']);
    // Its ipv6Address: FRR reflects only paths whose next hop it can resolve (without it, no IPv6 path passed).
    lab.run(rr2, ['ip', 'addr', 'add', '2001:db8:ff::108/64', 'dev', 'eth0', 'nodad']);
    await startFrr(lab, rr2, files.get('route-reflectors/rr2/frr.conf')!, 'rr2-');
    const edgeDir = await startFrr(lab, edge, files.get('routers/edge/frr.conf')!, 'edge-');
    const announceFiles = NODES.map(node => startLbSpeaker(lab, work, node.name, model, node));
    // The rogue tries rr1 only: rr2 binds nothing.
    startLbSpeaker(lab, work, 'rogue', { ...model, reflectors: model.reflectors.filter(r => r.name === 'rr1') }, { podIp: '198.19.130.9', nodeIp: '198.18.0.120', nodeIpv6: '2001:db8:ff::120' });

    const v4Hops = NODES.map(n => n.nodeIp).sort();
    const v6Hops = NODES.map(n => n.nodeIpv6).sort();
    const vtysh = (command: string) => lab.probe(edge, ['vtysh', '--vty_socket', edgeDir, '-c', command]);
    const v6Paths = (): any[] => JSON.parse(vtysh(`show bgp ipv6 unicast ${V6} json`) || '{}').paths ?? [];
    const converged = () => kernelBgpRoutes(lab, edge).get(V4)?.join() === v4Hops.join() && kernelRoutes(lab, edge, '-6', 'bgp').get(V6)?.join() === v6Hops.join()
      && kernelRoutes(lab, edge2, '-4', 'bird').get(V4)?.join() === v4Hops.join() && kernelRoutes(lab, edge2, '-6', 'bird').get(V6)?.join() === v6Hops.join();
    if (!await waitUntil(converged, 45_000)) {
      throw new Error(`no dual-stack ECMP within 45 s\n${lab.probe(edge, ['ip', '-6', 'route'])}\n${lab.probe(edge2, ['ip', '-6', 'route'])}\n${lab.log('edge2').slice(-2000)}\n${vtysh('show bgp ipv6 unicast')}\n${vtysh('show bgp summary')}\n${lab.log('rr1').slice(-3000)}\n${lab.log('lb1').slice(-3000)}`);
    }
    console.log(`dual-stack lab converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`edge: ${lab.run(edge, ['ip', '-6', 'route', 'show', V6])}`);

    // Three IPv6 paths through each reflector (add-paths), learnt over the IPv4 sessions, each with its node's
    // global IPv6 next hop; none from the rogue, which rr1's binding leaves out in both families.
    if (!await waitUntil(() => v6Paths().length === 6, 10_000)) throw new Error(`IPv6 paths: ${JSON.stringify(v6Paths().map(p => [p.peer.peerId, p.nexthops[0].ip]))}\n${vtysh('show bgp summary')}\n${lab.log('rr2-bgpd').slice(-2000)}`);
    expect(v6Paths().map(p => `${p.peer.peerId} ${p.nexthops[0].ip}`).sort()).toEqual(['198.18.0.108', '198.18.0.109'].flatMap(rr => v6Hops.map(hop => `${rr} ${hop}`)));
    expect(lab.log('rogue')).toMatch(/connected to peer-1|established/i);

    // The IPv6 route leads somewhere: the router reaches the VIP, which the LB nodes hold as local as the LB pods do.
    for (const node of NODES) lab.run(lab.ns(node.name), ['ip', '-6', 'route', 'replace', 'local', V6, 'dev', 'lo']);
    expect(lab.run(edge, ['ping', '-6', '-c', '1', '-W', '2', '2001:db8:101::1'])).toContain('1 received');

    // lb1 loses its IPv6 next hop (the controller leaves a family out whose backends or node address are gone): only that path goes.
    fs.writeFileSync(announceFiles[0], announceFileText([V4], NODES[0].nodeIp, model.routeAttributes));
    expect(await waitUntil(() => kernelRoutes(lab, edge, '-6', 'bgp').get(V6)?.join() === v6Hops.slice(1).join()
      && kernelRoutes(lab, edge2, '-6', 'bird').get(V6)?.join() === v6Hops.slice(1).join(), 10_000)).toBe(true);
    expect(kernelBgpRoutes(lab, edge).get(V4)).toEqual(v4Hops);
    expect(kernelRoutes(lab, edge2, '-4', 'bird').get(V4)).toEqual(v4Hops);
  }, 90_000);
});
