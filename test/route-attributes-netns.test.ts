import * as fs from 'fs';
import * as path from 'path';
import { Chart, Duration } from 'cdk8s';
import { Backends, EcmpApp, LoadBalancerService, ReflectorDaemon, RouteReflector, RouterDaemon, UpstreamRouterConfig } from '../lib';
import { LoadBalancerServiceModel } from '../lib/model';
import { kernelBgpRoutes, NetnsLab, waitUntil } from './support/netns';
import { startLbSpeaker, startTwoReflectorLab } from './support/reflector-lab';
import { synthToDisk, tempDir } from './support/topology';

/**
 * Communities, large communities, LOCAL_PREF and MED on a service's routes, for real: exabgp LB
 * speakers run the synthesized announcer on announce files written as the controller writes them,
 * through a gobgpd and an FRR reflector, to an FRR and a BIRD router, all from the synthesized
 * files, in network namespaces on one bridge (198.18.0.0/15 only).
 *
 *   rr1 198.18.0.109 gobgpd, rr2 198.18.0.108 FRR; both with a leg in the pod network 198.19.128.0/17
 *   edge 198.18.0.110 FRR router, edge2 198.18.0.111 BIRD router
 *   web1's LB pod 198.19.130.2 (node 198.18.0.101): community 65021:100, large 65021:1:100, LOCAL_PREF 200, MED 50
 *   web2's LB pod 198.19.130.3 (node 198.18.0.102): community 65021:666, which a policy on edge then drops
 */

const POD_NETWORK = '198.19.128.0/17';
const WEB1 = '198.18.101.0/24';
const WEB2 = '198.18.102.0/24';
const DROP_COMMUNITY = '65021:666';

function synthesize(outdir: string) {
  const app = new EcmpApp({ outdir });
  const chart = new Chart(app, 'attrs', { namespace: 'lb' });
  const common = { asn: 65021, podNetworks: [POD_NETWORK], bindPrefixesToLbPods: false, connectRetry: Duration.seconds(1) };
  const rr1 = new RouteReflector(chart, 'rr1', { ...common, address: '198.18.0.109' });
  const rr2 = new RouteReflector(chart, 'rr2', { ...common, address: '198.18.0.108', daemon: ReflectorDaemon.FRR });
  new UpstreamRouterConfig(chart, 'edge', { address: '198.18.0.110', routeReflectors: [rr1, rr2], connectRetry: Duration.seconds(1) });
  new UpstreamRouterConfig(chart, 'edge2', { address: '198.18.0.111', routeReflectors: [rr1, rr2], daemon: RouterDaemon.BIRD, connectRetry: Duration.seconds(1) });
  const service = (id: string, prefix: string, attributes: object) => new LoadBalancerService(chart, id, {
    prefixes: [prefix], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: id }), routeReflectors: [rr1, rr2], lbCount: 1, ...attributes,
  });
  service('web1', WEB1, { communities: ['65021:100'], largeCommunities: ['65021:1:100'], localPreference: 200, med: 50 });
  service('web2', WEB2, { communities: [DROP_COMMUNITY] });
  return synthToDisk(app);
}

describe('route attributes, with real daemons in network namespaces', () => {
  const work = tempDir('ecmp-attrs');
  const lab = new NetnsLab('ra', path.join(work, 'logs'));
  const { files, manifests } = synthesize(path.join(work, 'dist'));
  afterAll(() => lab.destroy());
  const modelOf = (service: string): LoadBalancerServiceModel =>
    JSON.parse(manifests.find(m => m.kind === 'ConfigMap' && m.metadata.name === `${service}-lb`).data['service.json']);

  test('the LB pods\' attributes reach both routers through both reflectors, a router policy acts on a community, and a withdrawal carries them too', async () => {
    const started = Date.now();
    const { edge, edgeDir, edge2, birdSocket } = await startTwoReflectorLab(lab, path.join(work, 'dist'), files);
    const pods = [{ service: 'web1', podIp: '198.19.130.2', nodeIp: '198.18.0.101' }, { service: 'web2', podIp: '198.19.130.3', nodeIp: '198.18.0.102' }];
    const announceFiles = new Map(pods.map(pod => {
      const model = modelOf(pod.service);
      expect(model.routeAttributes).toBeDefined();
      return [pod.service, startLbSpeaker(lab, work, pod.service, model, pod)] as const;
    }));

    const vtysh = (command: string) => lab.probe(edge, ['vtysh', '--vty_socket', edgeDir, '-c', command]);
    const frrPaths = (prefix: string): any[] => JSON.parse(vtysh(`show bgp ipv4 unicast ${prefix} json`) || '{}').paths ?? [];
    const birdRoute = (prefix: string) => lab.probe(edge2, ['birdc', '-s', birdSocket, 'show', 'route', 'for', prefix, 'all']);
    const birdKernel = () => lab.probe(edge2, ['ip', '-4', 'route', 'show', 'proto', 'bird']);
    const converged = await waitUntil(() => frrPaths(WEB1).length === 2 && frrPaths(WEB2).length === 2
      && kernelBgpRoutes(lab, edge).has(WEB2) && birdKernel().includes(WEB1) && birdKernel().includes(WEB2), 30_000);
    const diagnostics = () => [JSON.stringify(frrPaths(WEB1)), birdRoute(WEB1), birdKernel(), lab.log('rr1').slice(-2000), lab.log('web1').slice(-2000)].join('\n');
    if (!converged) throw new Error(`no convergence within 30 s\n${diagnostics()}`);
    console.log(`route attributes lab converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // FRR: one path through each reflector, every attribute as the LB pod sent it.
    const viaReflectors = frrPaths(WEB1).map(p => p.peer.peerId).sort();
    expect(viaReflectors).toEqual(['198.18.0.108', '198.18.0.109']);
    for (const p of frrPaths(WEB1)) {
      expect({ community: p.community?.string, large: p.largeCommunity?.string, localPreference: p.locPrf, med: p.metric, nextHop: p.nexthops[0].ip })
        .toEqual({ community: '65021:100', large: '65021:1:100', localPreference: 200, med: 50, nextHop: '198.18.0.101' });
    }
    // BIRD: the same attributes.
    const bird = birdRoute(WEB1);
    for (const attribute of ['BGP.community: (65021,100)', 'BGP.large_community: (65021, 1, 100)', 'BGP.local_pref: 200', 'BGP.med: 50']) {
      expect(bird).toContain(attribute);
    }

    // A policy on the FRR router acting on web2's community: routes carrying it are dropped on import.
    expect(frrPaths(WEB2)[0].community?.string).toBe(DROP_COMMUNITY);
    lab.run(edge, ['vtysh', '--vty_socket', edgeDir, '-c', 'configure terminal', '-c', `bgp community-list standard lab-drop seq 5 permit ${DROP_COMMUNITY}`,
      '-c', 'route-map ecmp-lb-in-v4 deny 5', '-c', 'match community lab-drop', '-c', 'end', '-c', 'clear bgp ipv4 unicast * soft in']);
    expect(await waitUntil(() => !kernelBgpRoutes(lab, edge).has(WEB2), 10_000)).toBe(true);
    expect(kernelBgpRoutes(lab, edge).get(WEB1)).toEqual(['198.18.0.101']);
    // BIRD has no such policy: web2 stays there.
    expect(birdKernel()).toContain(WEB2);

    // A withdrawal carries the attributes too (the announcer turns the line into `withdraw route ...`): exabgp takes it.
    fs.writeFileSync(announceFiles.get('web1')!, '');
    expect(await waitUntil(() => !kernelBgpRoutes(lab, edge).has(WEB1) && !birdKernel().includes(WEB1), 10_000)).toBe(true);
  }, 60_000);
});
