import * as fs from 'fs';
import * as path from 'path';
import { Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Backends, EcmpApp, LoadBalancerService, ReflectorDaemon, RouteReflector, UpstreamRouterConfig } from '../../lib';
import { BGP_PASSWORD_ENV, BGP_PASSWORD_PLACEHOLDER, LoadBalancerServiceModel } from '../../lib/model';
import { renderExabgp } from '../../lib/renderers/exabgp';
import { bgpPasswordFromEnv } from '../../lib/renderers/password';
import { EXABGP_ENV, kernelBgpRoutes, NetnsLab, nstatCounter, startFrr, waitUntil } from '../support/netns';
import { synthToDisk, tempDir } from '../support/topology';

/**
 * Signed LB pod sessions, for real: an FRR route reflector (`daemon: ReflectorDaemon.FRR`) and an
 * FRR router from the synthesized files, the placeholder filled with the key as an operator would,
 * in network namespaces on one bridge (198.18.0.0/15 only). FRR puts the peer group's key on its
 * listen range (gobgpd 3.10 does not: md5.test.ts), so LB pods without the key get no session.
 *
 *   rr     198.18.0.109  FRR reflector; 198.19.128.1 in the pod network 198.19.128.0/17
 *   router 198.18.0.110  FRR router
 *   lb     198.19.130.2  web1's LB pod, signed with the key; its node (next hop) 198.18.0.101
 *   rogue  198.19.130.3  unsigned, announces web1's prefix and a default route; next hop 198.18.0.102
 *   forger 198.19.130.4  signed with a wrong key, announces only web1's prefix (which the prefix
 *                        filter and limit would let through); next hop 198.18.0.103
 */

const KEY = 'dGhlIGxhYiBrZXk+/=.x';
const POD_NETWORK = '198.19.128.0/17';
const WEB1 = '198.18.101.0/24';

function synthesize(outdir: string) {
  const app = new EcmpApp({ outdir });
  const chart = new Chart(app, 'md5lb', { namespace: 'lb' });
  const bgpPassword = { secret: kplus.Secret.fromSecretName(chart, 'bgp-key', 'bgp-md5'), key: 'password', signLoadBalancerSessions: true };
  const rr = new RouteReflector(chart, 'rr', {
    asn: 65021, address: '198.18.0.109', podNetworks: [POD_NETWORK], daemon: ReflectorDaemon.FRR, bgpPassword, connectRetry: Duration.seconds(1),
  });
  new UpstreamRouterConfig(chart, 'router', { address: '198.18.0.110', routeReflectors: [rr], connectRetry: Duration.seconds(1) });
  new LoadBalancerService(chart, 'web1', {
    prefixes: [WEB1], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'web1' }), routeReflectors: [rr], lbCount: 1,
  });
  return synthToDisk(app);
}

/** What the operator does at install (envsubst limited to the one variable): a literal replacement. */
const fill = (text: string, key: string) => text.split(BGP_PASSWORD_PLACEHOLDER).join(key);

describe('TCP-MD5 on LB pod sessions with an FRR route reflector, real daemons in network namespaces', () => {
  const work = tempDir('ecmp-sec-md5lb');
  const lab = new NetnsLab('ml', path.join(work, 'logs'));
  const { files, manifests } = synthesize(path.join(work, 'dist'));
  // The work directory goes with the test file (tempDir).
  afterAll(() => lab.destroy());

  test('the synthesized reflector signs the LB peer group with the placeholder only', () => {
    const conf = files.get('route-reflectors/rr/frr.conf')!;
    expect(conf).toContain(` neighbor lb-pods password ${BGP_PASSWORD_PLACEHOLDER}\n`);
    expect(conf).not.toContain(KEY);
    expect(files.has('route-reflectors/rr/gobgpd.toml')).toBe(false);
  });

  test('only the LB pod with the key gets a session: the router\'s kernel has its next hop only', async () => {
    const started = Date.now();
    const rrConf = fill(files.get('route-reflectors/rr/frr.conf')!, KEY);
    const routerConf = fill(files.get('routers/router/frr.conf')!, KEY);
    expect(rrConf).toContain(` neighbor lb-pods password ${KEY}\n`);
    expect(routerConf).toContain(` neighbor 198.18.0.109 password ${KEY}\n`);
    const rr = lab.host('rr', ['198.18.0.109/24', '198.19.128.1/17']);
    const router = lab.host('router', ['198.18.0.110/24']);
    const [rrDir] = await Promise.all([startFrr(lab, rr, rrConf, 'rr-'), startFrr(lab, router, routerConf, 'router-')]);

    // The LB pod's own rendering, as `ecmp-lb init` does it: the service model plus the key from the environment.
    const model: LoadBalancerServiceModel = JSON.parse(manifests.find(m => m.kind === 'ConfigMap' && m.metadata.name === 'web1-lb').data['service.json']);
    expect(model.signBgpSessions).toBe(true);
    const speakers = [
      { name: 'lb', podIp: '198.19.130.2', nodeIp: '198.18.0.101', key: bgpPasswordFromEnv(model, { [BGP_PASSWORD_ENV]: KEY }), prefixes: model.prefixes },
      { name: 'rogue', podIp: '198.19.130.3', nodeIp: '198.18.0.102', key: '', prefixes: [...model.prefixes, '0.0.0.0/0'] },
      { name: 'forger', podIp: '198.19.130.4', nodeIp: '198.18.0.103', key: 'not-the-lab-key', prefixes: model.prefixes },
    ];
    for (const s of speakers) {
      const ns = lab.host(s.name, [`${s.podIp}/17`, `${s.nodeIp}/24`]);
      const conf = path.join(work, `${s.name}.exabgp.conf`);
      fs.writeFileSync(conf, renderExabgp({
        asn: model.asn, routerId: s.podIp, localAddress: s.podIp, nextHop: s.nodeIp, holdTimeSeconds: model.timers.holdTimeSeconds,
        neighbors: model.reflectors.map(r => r.host), prefixes: s.prefixes, announcerCommand: '', bgpPassword: s.key,
      }));
      lab.start(s.name, ns, ['exabgp', conf], EXABGP_ENV);
    }

    const summary = () => JSON.parse(lab.probe(rr, ['vtysh', '--vty_socket', rrDir, '-c', 'show bgp summary json']) || '{}');
    const peers = (): Record<string, { state: string }> => summary().ipv4Unicast?.peers ?? {};
    const converged = await waitUntil(() => peers()['198.19.130.2']?.state === 'Established'
      && peers()['198.18.0.110']?.state === 'Established' && (kernelBgpRoutes(lab, lab.ns('router')).get(WEB1) ?? []).length > 0, 20_000);
    // The unsigned and wrongly signed speakers retry quickly: give them as long again before judging.
    await new Promise(resolve => setTimeout(resolve, 3_000));
    const routes = kernelBgpRoutes(lab, lab.ns('router'));
    const diagnostics = () => [`router routes: ${JSON.stringify([...routes])}`, `rr peers: ${JSON.stringify(peers())}`,
      lab.log('rr-bgpd').slice(-2000), lab.log('rogue').slice(-1000), lab.log('lb').slice(-1000)].join('\n');
    if (!converged) throw new Error(`no convergence within 20 s\n${diagnostics()}`);
    console.log(`md5 LB sessions lab (FRR reflector) converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The router: web1 through the signed LB only, no default route.
    expect(routes.get(WEB1)).toEqual(['198.18.0.101']);
    expect(routes.has('0.0.0.0/0')).toBe(false);
    // The reflector: a session with the signed LB and the router; none with the rogue or the forger,
    // whose SYNs the kernel dropped (unsigned: MD5NotFound; wrong key: MD5Failure).
    const now = peers();
    expect(now['198.19.130.2'].state).toBe('Established');
    expect(now['198.19.130.3']?.state).not.toBe('Established');
    expect(now['198.19.130.4']?.state).not.toBe('Established');
    expect(nstatCounter(lab, rr, 'TcpExtTCPMD5NotFound')).toBeGreaterThan(0);
    // `bgp no-rib`: the reflector only reflects, like gobgpd; its own kernel learns nothing.
    expect(JSON.parse(lab.probe(rr, ['ip', '-j', '-4', 'route', 'show', 'proto', 'bgp']) || '[]')).toEqual([]);
    expect(nstatCounter(lab, rr, 'TcpExtTCPMD5Failure')).toBeGreaterThan(0);
  }, 30_000);
});
