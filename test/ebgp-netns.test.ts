import * as path from 'path';
import { Chart, Duration } from 'cdk8s';
import { Backends, EcmpApp, LoadBalancerService, ReflectorDaemon, RouteReflector, RouterDaemon, UpstreamRouterConfig } from '../lib';
import { LoadBalancerServiceModel } from '../lib/model';
import { kernelBgpRoutes, NetnsLab, waitUntil } from './support/netns';
import { startLbSpeaker, startTwoReflectorLab } from './support/reflector-lab';
import { synthToDisk, tempDir } from './support/topology';

/**
 * eBGP to the upstream routers, for real: two exabgp LB pods of one service announce through a
 * gobgpd and an FRR reflector (AS 65021) to an FRR and a BIRD router in AS 65099, all from the
 * synthesized files, in network namespaces on one bridge. Each reflector must pass every LB path on
 * with the LB's node as next hop (gobgpd: the next-hop-unchanged export policy; FRR: attribute-unchanged
 * next-hop), and each router install one route over both nodes.
 *
 *   rr1 198.18.0.109 gobgpd, rr2 198.18.0.108 FRR; both with a leg in the pod network 198.19.128.0/17
 *   edge 198.18.0.110 FRR router, edge2 198.18.0.111 BIRD router, both AS 65099
 *   web1's LB pods 198.19.130.2 (node 198.18.0.101) and 198.19.130.3 (node 198.18.0.102)
 */

const POD_NETWORK = '198.19.128.0/17';
const WEB1 = '198.18.101.0/24';
const NODES = ['198.18.0.101', '198.18.0.102'];

function synthesize(outdir: string) {
  const app = new EcmpApp({ outdir });
  const chart = new Chart(app, 'ebgp', { namespace: 'lb' });
  const common = { asn: 65021, podNetworks: [POD_NETWORK], bindPrefixesToLbPods: false, connectRetry: Duration.seconds(1), bfd: false };
  const rr1 = new RouteReflector(chart, 'rr1', { ...common, address: '198.18.0.109' });
  const rr2 = new RouteReflector(chart, 'rr2', { ...common, address: '198.18.0.108', daemon: ReflectorDaemon.FRR });
  const router = { asn: 65099, routeReflectors: [rr1, rr2], connectRetry: Duration.seconds(1) };
  new UpstreamRouterConfig(chart, 'edge', { ...router, address: '198.18.0.110' });
  new UpstreamRouterConfig(chart, 'edge2', { ...router, address: '198.18.0.111', daemon: RouterDaemon.BIRD });
  new LoadBalancerService(chart, 'web1', { prefixes: [WEB1], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'web1' }), routeReflectors: [rr1, rr2], lbCount: 2 });
  return synthToDisk(app);
}

describe('eBGP to the upstream routers, with real daemons in network namespaces', () => {
  const work = tempDir('ecmp-ebgp');
  const lab = new NetnsLab('eb', path.join(work, 'logs'));
  const { files, manifests } = synthesize(path.join(work, 'dist'));
  afterAll(() => lab.destroy());
  const model: LoadBalancerServiceModel = JSON.parse(manifests.find(m => m.kind === 'ConfigMap' && m.metadata.name === 'web1-lb').data['service.json']);

  test('through a gobgpd and an FRR reflector, an FRR and a BIRD router in another AS each get every LB path with its node as next hop, and install one route over both nodes', async () => {
    const started = Date.now();
    const { edge, edgeDir, edge2, birdSocket } = await startTwoReflectorLab(lab, path.join(work, 'dist'), files);
    NODES.forEach((nodeIp, i) => startLbSpeaker(lab, work, `web1-${i}`, model, { podIp: `198.19.130.${i + 2}`, nodeIp }));

    const frrPaths = (): any[] => JSON.parse(lab.probe(edge, ['vtysh', '--vty_socket', edgeDir, '-c', `show bgp ipv4 unicast ${WEB1} json`]) || '{}').paths ?? [];
    const birdRoute = () => lab.probe(edge2, ['birdc', '-s', birdSocket, 'show', 'route', 'for', WEB1, 'all']);
    const birdKernel = (): string[] => {
      const routes = JSON.parse(lab.probe(edge2, ['ip', '-j', '-4', 'route', 'show', 'proto', 'bird']) || '[]') as any[];
      const route = routes.find(r => r.dst === WEB1);
      return route ? (route.gateway ? [route.gateway] : (route.nexthops ?? []).map((n: any) => n.gateway)).sort() : [];
    };
    const birdPaths = () => [...birdRoute().matchAll(/BGP\.next_hop: (\S+)/g)].length;
    const converged = await waitUntil(() => frrPaths().length === 4 && birdPaths() === 4
      && kernelBgpRoutes(lab, edge).get(WEB1)?.join() === NODES.join() && birdKernel().join() === NODES.join(), 30_000);
    if (!converged) {
      throw new Error(`no convergence within 30 s\n${[JSON.stringify(frrPaths()), birdRoute(), JSON.stringify(birdKernel()), lab.log('rr1').slice(-2000)].join('\n')}`);
    }
    console.log(`eBGP lab converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // FRR: from each reflector, one path per LB with its node as next hop, over eBGP (AS path 65021).
    const byReflector = (paths: any[], reflector: string) => paths.filter(p => p.peer.peerId === reflector).map(p => p.nexthops[0].ip).sort();
    expect(byReflector(frrPaths(), '198.18.0.109')).toEqual(NODES);
    expect(byReflector(frrPaths(), '198.18.0.108')).toEqual(NODES);
    expect(frrPaths().map(p => p.aspath.string)).toEqual(['65021', '65021', '65021', '65021']);
    // BIRD: the same, per reflector session.
    const bird = birdRoute();
    for (const reflector of ['198.18.0.109', '198.18.0.108']) {
      const hops = bird.split(/\n(?=\S|\s+unicast)/).filter(block => block.includes(`rr_${reflector.replace(/\./g, '_')}`))
        .map(block => /BGP\.next_hop: (\S+)/.exec(block)?.[1]).sort();
      expect(hops).toEqual(NODES);
    }
    expect(bird).toContain('BGP.as_path: 65021');
  }, 60_000);
});
