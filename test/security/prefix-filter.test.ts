import * as fs from 'fs';
import * as path from 'path';
import { Chart, Duration } from 'cdk8s';
import { ApiServerDouble } from '../../controller/test/apiserver-double';
import { Backends, EcmpApp, LoadBalancerService, RouteReflector, UpstreamRouterConfig } from '../../lib';
import { renderExabgp } from '../../lib/renderers/exabgp';
import { EXABGP_ENV, kernelBgpRoutes, NetnsLab, startFrr, waitUntil } from '../support/netns';
import { synthToDisk, tempDir } from '../support/topology';

/**
 * The prefix filters, run for real: gobgpd reflectors and an FRR router from the synthesized
 * files, in network namespaces on one bridge (198.18.0.0/15 only), one legitimate exabgp LB per
 * service and rogue exabgp speakers in the pod network. rr1's reflector agent (the real
 * `ecmp-lb reflector-agent`) reads the LB pods from an API server double. The assertion is on
 * the router's kernel table.
 *
 *   rr1 198.18.0.109  reflector with the defaults: prefix filter (exact length, prefix limit) and
 *                     each service's prefix bound to its own LB pods
 *   rr2 198.18.0.108  reflector built with filterPrefixes: false, so rogue routes reach the
 *                     router through it, and only the router's own filter stands in the way
 *   router 198.18.0.110  FRR from the synthesized frr.conf (filter on)
 *   pod network 198.19.128.0/17; "node" addresses 198.18.0.10x are the speakers' next hops
 */

const POD_NETWORK = '198.19.128.0/17';
const WEB1 = '198.18.101.0/24';
const WEB2 = '198.18.102.0/24';

interface Speaker { name: string; podIp: string; nodeIp: string; prefixes: string[]; role: string; reflectors?: string[] }

const legit: Speaker = { name: 'lb1', podIp: '198.19.130.2', nodeIp: '198.18.0.101', prefixes: [WEB1], role: 'web1\'s LB pod' };
const legit2: Speaker = { name: 'lb2', podIp: '198.19.130.8', nodeIp: '198.18.0.100', prefixes: [WEB2], role: 'web2\'s LB pod' };
/** LB pods as the API server lists them: web1's, web2's, and a second web2 pod that announces web1's prefix. */
const apiPods = [[legit, 'web1'], [legit2, 'web2'], [{ podIp: '198.19.130.9', name: 'hijack' }, 'web2']] as const;
// The rogues that the unfiltered rr2 would pass on with a declared prefix speak to rr1 only.
const rogues: Speaker[] = [
  { name: 'default', podIp: '198.19.130.3', nodeIp: '198.18.0.102', prefixes: ['0.0.0.0/0'], role: 'a default route' },
  { name: 'foreign', podIp: '198.19.130.4', nodeIp: '198.18.0.103', prefixes: ['198.18.103.0/24'], role: 'an undeclared prefix' },
  { name: 'specific', podIp: '198.19.130.5', nodeIp: '198.18.0.104', prefixes: ['198.18.101.128/25'], role: 'a more-specific of web1' },
  // Declared prefixes, one too many: only the prefix limit stops it, which rr2 (unfiltered) lacks.
  { name: 'flood', podIp: '198.19.130.6', nodeIp: '198.18.0.105', prefixes: [WEB1, WEB2], role: 'more prefixes than any service has', reflectors: ['198.18.0.109'] },
  { name: 'other', podIp: '198.19.130.7', nodeIp: '198.18.0.106', prefixes: [WEB2], role: 'web2\'s prefix, from a pod that is no LB pod', reflectors: ['198.18.0.109'] },
  { name: 'hijack', podIp: '198.19.130.9', nodeIp: '198.18.0.99', prefixes: [WEB1], role: 'web1\'s prefix, from an LB pod of web2', reflectors: ['198.18.0.109'] },
];

function lbPod(podIp: string, name: string, service: string) {
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { name, namespace: 'lb', labels: { 'app.kubernetes.io/name': 'ecmp-lb', 'app.kubernetes.io/instance': service, 'ecmp-lb.cdk8s.io/role': 'lb' } },
    status: { phase: 'Running', podIP: podIp, podIPs: [{ ip: podIp }] },
  };
}

/** The synthesized topology: two reflectors (one unfiltered), an FRR router, two services. */
function synthesize(outdir: string) {
  const app = new EcmpApp({ outdir });
  const chart = new Chart(app, 'sec', { namespace: 'lb' });
  const fast = { connectRetry: Duration.seconds(1) };
  const rr1 = new RouteReflector(chart, 'rr1', { asn: 65021, address: '198.18.0.109', podNetworks: [POD_NETWORK], ...fast });
  const rr2 = new RouteReflector(chart, 'rr2', { asn: 65021, address: '198.18.0.108', podNetworks: [POD_NETWORK], filterPrefixes: false, ...fast });
  new UpstreamRouterConfig(chart, 'router', { address: '198.18.0.110', routeReflectors: [rr1, rr2], ...fast });
  for (const [id, prefix] of [['web1', WEB1], ['web2', WEB2]]) {
    new LoadBalancerService(chart, id, {
      prefixes: [prefix], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: id }), routeReflectors: [rr1, rr2], lbCount: 1,
    });
  }
  return synthToDisk(app).files;
}

/** Prefixes in a gobgpd's RIB (or what it sent to a neighbor), via its own CLI inside its namespace. */
function gobgpPrefixes(lab: NetnsLab, ns: string, args: string[]): string[] {
  const out = lab.probe(ns, ['gobgp', '-u', '127.0.0.1', '-p', '50051', ...args, '-j']);
  if (!out.trim()) return [];
  const rib = JSON.parse(out);
  // `global rib -j` is an object keyed by prefix; `adj-out -j` is a list of paths with their nlri.
  return (Array.isArray(rib) ? rib.map((p: any) => p.nlri.prefix) : Object.keys(rib)).sort();
}

describe('prefix filtering, with real daemons in network namespaces', () => {
  const work = tempDir('ecmp-sec-filter');
  const rr1Api = `unix://${path.join(work, 'gobgpd-rr1.sock')}`;
  const lab = new NetnsLab('sf', path.join(work, 'logs'));
  const files = synthesize(path.join(work, 'dist'));
  const api = new ApiServerDouble();
  // The work directory goes with the test file (tempDir).
  afterAll(async () => {
    lab.destroy();
    await api.stop();
  });

  /** rr1's agent runs here, reaching rr1's gobgpd through its unix API socket. */
  async function startAgent(): Promise<void> {
    await api.start();
    for (const [speaker, service] of apiPods) api.upsert('/api/v1/namespaces/lb/pods', lbPod(speaker.podIp, `${service}-lb-${speaker.name}`, service));
    const kubeconfig = path.join(work, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    const repo = path.resolve(__dirname, '../..');
    lab.start('agent', undefined, [process.execPath, path.join(repo, 'node_modules/.bin/ts-node'), path.join(repo, 'controller/src/cli.ts'), 'reflector-agent',
      '--config', path.join(work, 'dist/route-reflectors/rr1/lb-pod-bindings.json'), '--kubeconfig', kubeconfig, '--gobgp-api', rr1Api], { TS_NODE_TRANSPILE_ONLY: '1', NODE_OPTIONS: '' });
  }

  test('the router installs only the declared prefixes, each from its own service\'s LB pods; rogues are filtered by the reflector, and by the router behind an unfiltered one', async () => {
    const started = Date.now();
    for (const [name, address] of [['rr1', '198.18.0.109'], ['rr2', '198.18.0.108']]) {
      // A reflector sees the pods' own addresses (docs/design.md): it has a leg in the pod network.
      const ns = lab.host(name, [`${address}/24`, name === 'rr1' ? '198.19.128.1/17' : '198.19.128.2/17']);
      lab.start(name, ns, ['gobgpd', '-t', 'toml', '-f', path.join(work, 'dist', `route-reflectors/${name}/gobgpd.toml`),
        '--api-hosts', name === 'rr1' ? `127.0.0.1:50051,${rr1Api}` : '127.0.0.1:50051', '--pprof-disable']);
    }
    await startAgent();
    const router = lab.host('router', ['198.18.0.110/24']);
    await startFrr(lab, router, files.get('routers/router/frr.conf')!);

    for (const speaker of [legit, legit2, ...rogues]) {
      const ns = lab.host(speaker.name, [`${speaker.podIp}/17`, `${speaker.nodeIp}/24`]);
      const conf = path.join(work, `${speaker.name}.exabgp.conf`);
      // The LB pod's own renderer, with static routes (no announcer): what a rogue pod could run too.
      fs.writeFileSync(conf, renderExabgp({
        asn: 65021, routerId: speaker.podIp, localAddress: speaker.podIp, nextHop: speaker.nodeIp, holdTimeSeconds: 9,
        neighbors: speaker.reflectors ?? ['198.18.0.109', '198.18.0.108'], prefixes: speaker.prefixes, announcerCommand: '',
      }));
      lab.start(speaker.name, ns, ['exabgp', conf], EXABGP_ENV);
    }
    // A speaker outside the pod network (on the node network) is no dynamic neighbor at all.
    const outsider = lab.host('outsider', ['198.18.0.107/24']);
    const outsiderConf = path.join(work, 'outsider.exabgp.conf');
    fs.writeFileSync(outsiderConf, renderExabgp({
      asn: 65021, routerId: '198.18.0.107', localAddress: '198.18.0.107', nextHop: '198.18.0.107', holdTimeSeconds: 9,
      neighbors: ['198.18.0.109'], prefixes: [WEB1], announcerCommand: '',
    }));
    lab.start('outsider', outsider, ['exabgp', outsiderConf], EXABGP_ENV);

    // Converged: the legitimate routes are installed, and rr2 has passed the rogue routes on.
    const rr2Sent = () => gobgpPrefixes(lab, lab.ns('rr2'), ['neighbor', '198.18.0.110', 'adj-out']);
    const rr1Peers = () => lab.probe(lab.ns('rr1'), ['gobgp', 'neighbor']);
    const converged = await waitUntil(() => {
      const routes = kernelBgpRoutes(lab, lab.ns('router'));
      return routes.get(WEB1)?.includes(legit.nodeIp) === true && routes.get(WEB2)?.includes(legit2.nodeIp) === true &&
        rr2Sent().includes('0.0.0.0/0') && rr2Sent().includes('198.18.101.128/25') && /198\.19\.130\.7\s.*Establ/.test(rr1Peers()) && /198\.19\.130\.9\s.*Establ/.test(rr1Peers()) &&
        gobgpPrefixes(lab, lab.ns('rr1'), ['global', 'rib']).length === 2;
    }, 30_000);
    // Give a late rogue update the same chance to land before judging the table.
    await new Promise(resolve => setTimeout(resolve, 1_000));
    const routes = kernelBgpRoutes(lab, lab.ns('router'));
    const diagnostics = () => [
      `router routes: ${JSON.stringify([...routes])}`, `rr1 rib: ${gobgpPrefixes(lab, lab.ns('rr1'), ['global', 'rib'])}`,
      `rr2 sent: ${rr2Sent()}`, rr1Peers(), lab.log('rr1').slice(-3000), lab.log('agent').slice(-3000),
    ].join('\n');
    if (!converged) throw new Error(`no convergence within 30 s\n${diagnostics()}`);
    console.log(`prefix-filter lab converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The router's kernel: web1 through the legitimate LB only; nothing for the default, the
    // undeclared prefix or the more-specific, although rr2 sent all of them.
    expect(routes.get(WEB1)).toEqual([legit.nodeIp]);
    expect(routes.has('0.0.0.0/0')).toBe(false);
    expect(routes.has('198.18.103.0/24')).toBe(false);
    expect(routes.has('198.18.101.128/25')).toBe(false);
    expect(rr2Sent()).toEqual(expect.arrayContaining(['0.0.0.0/0', '198.18.103.0/24', '198.18.101.128/25', WEB1, WEB2]));

    // rr1's own filter: only declared prefixes in its RIB...
    expect(gobgpPrefixes(lab, lab.ns('rr1'), ['global', 'rib'])).toEqual([WEB1, WEB2]);
    // ...the flooding speaker's session was closed by the prefix limit (1: each service has one prefix),
    // and the outsider never got a session.
    expect(lab.log('rr1')).toMatch(/198\.19\.130\.6.*maximum number of prefixes reached|prefix limit reached.*198\.19\.130\.6|198\.19\.130\.6.*prefix limit reached/);
    const peers = lab.probe(lab.ns('rr1'), ['gobgp', 'neighbor']);
    expect(peers).not.toMatch(/198\.18\.0\.107/);
    expect(peers).not.toMatch(/198\.19\.130\.6\s.*Establ/);

    // A declared prefix from the wrong pod: web2's from a pod that is no LB pod, web1's from an LB
    // pod of web2. Both sessions are up at rr1, and rr1 drops both routes: each service's prefix is
    // bound to its own LB pods.
    expect(routes.get(WEB2)).toEqual([legit2.nodeIp]);
    expect(peers).toMatch(/198\.19\.130\.7\s.*Establ/);
    expect(peers).toMatch(/198\.19\.130\.9\s.*Establ/);

    // The binding follows the API: web1's LB pod deleted, rr1 drops its route (the router keeps
    // it through the unfiltered rr2); the pod back, the route is back.
    const rr1HasWeb1 = () => gobgpPrefixes(lab, lab.ns('rr1'), ['global', 'rib']).includes(WEB1);
    let mark = Date.now();
    api.remove('/api/v1/namespaces/lb/pods', 'web1-lb-lb1');
    expect(await waitUntil(() => !rr1HasWeb1(), 10_000)).toBe(true);
    const unbound = (Date.now() - mark) / 1000;
    mark = Date.now();
    api.upsert('/api/v1/namespaces/lb/pods', lbPod(legit.podIp, 'web1-lb-lb1', 'web1'));
    expect(await waitUntil(rr1HasWeb1, 10_000)).toBe(true);
    console.log(`reflector agent: web1's route left rr1 ${unbound.toFixed(2)} s after its LB pod was deleted, and was back ${((Date.now() - mark) / 1000).toFixed(2)} s after it returned`);
    expect(lab.log('agent')).toMatch(/"msg":"LB pod unbound","level"|"level":"info","msg":"LB pod unbound"/);
  }, 60_000);
});
