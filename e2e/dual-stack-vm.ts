/**
 * A dual-stack service end to end, in the IPVS VM: IPv6 and IPv4 traffic from a client through the
 * synthesized FRR router's two ECMP routes (IPv6 via the nodes' IPv6 addresses) to two LBs, each
 * running the real `ecmp-lb init` and `ecmp-lb controller` (bundled CLI) with keepalived/IPVS, and
 * exabgp announcing both prefixes over IPv4 to the synthesized gobgpd reflector; the controller reads
 * its Node's IPv6 address and the backends' IPv4 and IPv6 EndpointSlices from the API double. Two
 * backends answer with their name and the address they saw (the LB's SNAT address of that family).
 *
 *   rr1 198.18.0.109 (+ pod leg 198.19.128.1/17)    edge 198.18.0.110, 2001:db8:ff::110; client link 198.18.200.1, 2001:db8:c::1
 *   lb1/lb2: node 198.18.0.101-102, 2001:db8:ff::101-102; pod 198.19.130.2-3, 2001:db8:130::2-3
 *   be1/be2: 198.19.131.11-12, 2001:db8:130::11-12 (port 8080)   client 198.18.200.2, 2001:db8:c::2
 *   API double 198.18.0.1 (the VM's root namespace, on the lab's bridge)
 *
 * usage: dual-stack-vm.ts synth DIR (on the host) | dual-stack-vm.ts run DIR CLI (in the VM, as root)
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Chart, Duration } from 'cdk8s';
import * as YAML from 'yaml';
import { ApiServerDouble } from '../controller/test/apiserver-double';
import { slice } from '../controller/test/fixtures';
import { Backends, EcmpApp, LoadBalancerService, RouteReflector, UpstreamRouterConfig } from '../lib';
import { LB_POD_COMMANDS, LB_POD_FILES, lbPodArgs, podEnvironmentVariables } from '../lib/lb-pod-contract';
import { LoadBalancerServiceModel } from '../lib/model';
import { renderAnnouncer } from '../lib/renderers/announcer';
import { EXABGP_ENV, kernelBgpRoutes, NetnsLab, startFrr, waitUntil } from '../test/support/netns';

const V4 = '198.18.101.0/24';
const V6 = '2001:db8:101::/64';
const LBS = [1, 2].map(i => ({
  name: `lb${i}`, node: `n${i}`, nodeIp: `198.18.0.${100 + i}`, nodeIpv6: `2001:db8:ff::${100 + i}`, podIp: `198.19.130.${1 + i}`, podIpv6: `2001:db8:130::${1 + i}`,
}));
const BACKENDS = [1, 2].map(i => ({ name: `be${i}`, ip: `198.19.131.${10 + i}`, ipv6: `2001:db8:130::${10 + i}` }));
const API = { host: '198.18.0.1', port: 6443 };

const [mode, dir, cli] = process.argv.slice(2);

function synth(outdir: string): void {
  const app = new EcmpApp({ outdir });
  const chart = new Chart(app, 'dual', { namespace: 'lb' });
  const rr1 = new RouteReflector(chart, 'rr1', {
    asn: 65021, address: '198.18.0.109', podNetworks: ['198.19.128.0/17', '2001:db8:130::/64'], bindPrefixesToLbPods: false, bfd: false, connectRetry: Duration.seconds(1),
  });
  new UpstreamRouterConfig(chart, 'edge', { address: '198.18.0.110', ipv6Address: '2001:db8:ff::110', routeReflectors: [rr1], connectRetry: Duration.seconds(1) });
  new LoadBalancerService(chart, 'web', {
    prefixes: [V4, V6], ports: [{ port: 80, backendPort: 8080 }], backends: Backends.fromLabels({ app: 'web' }), routeReflectors: [rr1], lbCount: 2,
    drainTimeout: Duration.seconds(1),
  });
  app.synth();
}

let failures = 0;
function check(what: string, ok: boolean, detail = ''): boolean {
  console.log(`${ok ? 'ok' : 'FAIL'} - ${what}${detail ? ` (${detail})` : ''}`);
  if (!ok) failures++;
  return ok;
}

/** The IPv6 routes installed by FRR's zebra in `ns`, as prefix -> sorted next hops. */
function bgpRoutes6(lab: NetnsLab, ns: string): Map<string, string[]> {
  const routes = JSON.parse(lab.probe(ns, ['ip', '-j', '-6', 'route', 'show', 'proto', 'bgp']) || '[]') as any[];
  return new Map(routes.map(r => [r.dst, (r.gateway ? [r.gateway] : (r.nexthops ?? []).map((n: any) => n.gateway)).sort()]));
}

/** A backend: answers every GET with its name and the client address it saw, on IPv4 and IPv6. */
const BACKEND_SERVER = `import http.server, socket, sys
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s %s\\n" % (sys.argv[1], self.client_address[0].removeprefix("::ffff:"))).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
Server(("::", 8080), Handler).serve_forever()
`;

/** COUNT requests, each on a new connection, from the client; returns "backend seen-address" -> count, and failures. */
const CLIENT = `import collections, http.client, sys
host, count = sys.argv[1], int(sys.argv[2])
seen, failed = collections.Counter(), 0
for _ in range(count):
    try:
        c = http.client.HTTPConnection(host, 80, timeout=5); c.request("GET", "/"); seen[c.getresponse().read().decode().strip()] += 1; c.close()
    except Exception:
        failed += 1
        if failed >= 10 and not seen: break  # nothing gets through: no point in waiting out the rest
print(dict(seen), failed)
`;

async function run(synthDir: string, cliPath: string): Promise<void> {
  const work = fs.mkdtempSync('/tmp/ecmp-ds-');
  const lab = new NetnsLab('ds', path.join(work, 'logs'));
  const api = new ApiServerDouble();
  const stop = async () => { lab.destroy(); await api.stop(); };
  try {
    // The API double in the VM's own namespace, on the lab's bridge.
    lab.run(undefined, ['ip', 'link', 'add', 'ds-api', 'type', 'veth', 'peer', 'name', 'papi', 'netns', lab.ns('lan')]);
    lab.run(lab.ns('lan'), ['ip', 'link', 'set', 'papi', 'master', 'br0', 'up']);
    lab.run(undefined, ['ip', 'addr', 'add', `${API.host}/24`, 'dev', 'ds-api']);
    lab.run(undefined, ['ip', 'link', 'set', 'ds-api', 'up']);
    await api.start(API.host, API.port);
    const kubeconfig = path.join(work, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    const manifests = fs.readdirSync(synthDir).filter(f => f.endsWith('.k8s.yaml'))
      .flatMap(f => YAML.parseAllDocuments(fs.readFileSync(path.join(synthDir, f), 'utf8')).map(d => d.toJSON()));
    const modelJson: string = manifests.find(m => m?.kind === 'ConfigMap' && m.metadata.name === 'web-lb').data['service.json'];
    const model: LoadBalancerServiceModel = JSON.parse(modelJson);
    const v6Address = (ns: string, cidr: string) => lab.run(ns, ['ip', 'addr', 'add', cidr, 'dev', 'eth0', 'nodad']);

    const rr1 = lab.host('rr1', ['198.18.0.109/24', '198.19.128.1/17']);
    lab.start('rr1', rr1, ['gobgpd', '-t', 'toml', '-f', path.join(synthDir, 'route-reflectors/rr1/gobgpd.toml'), '--api-hosts', '127.0.0.1:50051', '--pprof-disable']);
    const edge = lab.host('edge', ['198.18.0.110/24']);
    v6Address(edge, '2001:db8:ff::110/64');
    for (const line of fs.readFileSync(path.join(synthDir, 'routers/edge/99-ecmp-router.conf'), 'utf8').split('\n').filter(l => l && !l.startsWith('#'))) {
      lab.run(edge, ['sysctl', '-qw', line.replace(' = ', '=')]);
    }
    // The client on a link of its own behind the router.
    // (lab.host puts it on the bridge too, without an address: the lab tears it down with the rest.)
    const client = lab.host('client', []);
    lab.run(undefined, ['ip', 'link', 'add', 'up0', 'netns', client, 'type', 'veth', 'peer', 'name', 'cl0', 'netns', edge]);
    for (const [ns, dev, v4, v6] of [[client, 'up0', '198.18.200.2/24', '2001:db8:c::2/64'], [edge, 'cl0', '198.18.200.1/24', '2001:db8:c::1/64']]) {
      lab.run(ns, ['ip', 'addr', 'add', v4, 'dev', dev]);
      lab.run(ns, ['ip', 'addr', 'add', v6, 'dev', dev, 'nodad']);
      lab.run(ns, ['ip', 'link', 'set', dev, 'up']);
      lab.run(ns, ['ip', 'link', 'set', 'lo', 'up']);
    }
    lab.run(client, ['ip', 'route', 'add', 'default', 'via', '198.18.200.1']);
    lab.run(client, ['ip', '-6', 'route', 'add', 'default', 'via', '2001:db8:c::1']);
    const edgeDir = await startFrr(lab, edge, fs.readFileSync(path.join(synthDir, 'routers/edge/frr.conf'), 'utf8'), 'edge-');

    for (const be of BACKENDS) {
      const ns = lab.host(be.name, [`${be.ip}/17`]);
      v6Address(ns, `${be.ipv6}/64`);
      fs.writeFileSync(path.join(work, 'backend.py'), BACKEND_SERVER);
      lab.start(be.name, ns, ['python3', path.join(work, 'backend.py'), be.name]);
    }
    // The backend Service's EndpointSlices, one per family (the EndpointSlice controller's), and the Nodes.
    const collection = `/apis/discovery.k8s.io/v1/namespaces/${model.namespace}/endpointslices`;
    const publish = (v6Ready: boolean) => {
      for (const [family, key] of [['IPv4', 'ip'], ['IPv6', 'ipv6']] as const) {
        const s = slice(`${model.backendServiceName}-${family.toLowerCase()}`, BACKENDS.map(b => ({ address: b[key], ready: family === 'IPv4' || v6Ready })), { addressType: family });
        api.upsert(collection, { ...s, metadata: { ...s.metadata, namespace: model.namespace, labels: { 'kubernetes.io/service-name': model.backendServiceName } } } as any);
      }
    };
    publish(true);
    for (const lb of LBS) {
      api.upsert('/api/v1/nodes', { metadata: { name: lb.node, namespace: '' }, status: { addresses: [{ type: 'InternalIP', address: lb.nodeIp }, { type: 'InternalIP', address: lb.nodeIpv6 }, { type: 'Hostname', address: lb.node }] } } as any);
    }

    // The LB pods: pod and node addresses in one namespace (the node's route to the pod is the identity here).
    for (const lb of LBS) {
      const ns = lab.host(lb.name, [`${lb.podIp}/17`, `${lb.nodeIp}/24`]);
      v6Address(ns, `${lb.podIpv6}/64`);
      v6Address(ns, `${lb.nodeIpv6}/64`);
      lab.run(ns, ['ip', 'route', 'add', 'default', 'via', '198.18.0.110']);
      lab.run(ns, ['ip', '-6', 'route', 'add', 'default', 'via', '2001:db8:ff::110']);
      const etc = path.join(work, lb.name, 'etc');
      const runDir = path.join(work, lb.name, 'run');
      fs.mkdirSync(etc, { recursive: true });
      fs.mkdirSync(runDir, { recursive: true });
      fs.writeFileSync(path.join(etc, LB_POD_FILES.model), modelJson);
      fs.writeFileSync(path.join(etc, LB_POD_FILES.announcer), renderAnnouncer());
      const env = Object.entries(podEnvironmentVariables({
        podIp: lb.podIp, nodeIp: lb.nodeIp, podName: `web-lb-${lb.name}`, podNamespace: model.namespace, podIps: `${lb.podIp},${lb.podIpv6}`, nodeName: lb.node,
      })).map(([k, v]) => `${k}=${v}`);
      const args = lbPodArgs({ configFile: path.join(etc, LB_POD_FILES.model), runDir });
      lab.run(ns, ['env', ...env, process.execPath, cliPath, LB_POD_COMMANDS.init, ...args], 60_000);
      lab.start(`${lb.name}-controller`, ns, ['env', ...env, process.execPath, cliPath, LB_POD_COMMANDS.controller, ...lbPodArgs({ configFile: path.join(etc, LB_POD_FILES.model), runDir, kubeconfig })]);
      lab.start(`${lb.name}-exabgp`, ns, ['exabgp', path.join(runDir, LB_POD_FILES.exabgpConfig)], EXABGP_ENV);
    }

    const v4Hops = LBS.map(l => l.nodeIp).sort().join();
    const v6Hops = LBS.map(l => l.nodeIpv6).sort().join();
    const started = Date.now();
    const routed = () => kernelBgpRoutes(lab, edge).get(V4)?.join() === v4Hops && bgpRoutes6(lab, edge).get(V6)?.join() === v6Hops;
    const both = await waitUntil(routed, 180_000);
    if (!check(`the router has an IPv4 and an IPv6 ECMP route over both LBs, the IPv6 one via the nodes' IPv6 addresses (${((Date.now() - started) / 1000).toFixed(1)} s)`, both,
      `${lab.probe(edge, ['ip', '-6', 'route', 'show', V6]).trim()} | ${lab.probe(edge, ['ip', 'route', 'show', V4]).trim()}`.replace(/\s+/g, ' '))) {
      console.log(lab.probe(edge, ['vtysh', '--vty_socket', edgeDir, '-c', 'show bgp ipv6 unicast']), lab.log('lb1-controller').slice(-3000), lab.log('lb1-exabgp').slice(-2000));
      return;
    }
    for (const lb of LBS) {
      const ipvs = lab.probe(lab.ns(lb.name), ['ipvsadm', '-Ln']);
      check(`${lb.name}: IPVS serves [2001:db8:101::1]:80 with both IPv6 backends, 198.18.101.1:80 with both IPv4 ones`,
        BACKENDS.every(b => ipvs.includes(`[${b.ipv6}]:8080`) && ipvs.includes(`${b.ip}:8080`)) && ipvs.includes('[2001:db8:101::1]:80') && ipvs.includes('198.18.101.1:80'),
        ipvs.split('\n').filter(l => /TCP|->\s+[0-9[]/.test(l)).map(l => l.trim().replace(/\s+/g, ' ')).join(' | '));
    }
    for (const node of LBS) { lab.probe(edge, ['ping', '-c', '1', '-W', '2', node.nodeIp]); lab.probe(edge, ['ping', '-6', '-c', '1', '-W', '2', node.nodeIpv6]); }
    fs.writeFileSync(path.join(work, 'client.py'), CLIENT);
    const traffic = (host: string, count: number) => {
      const out = lab.run(client, ['python3', path.join(work, 'client.py'), host, String(count)], 240_000).trim();
      const [, seenText, failedText] = /^(\{.*\}) (\d+)$/.exec(out)!;
      return { seen: JSON.parse(seenText.replace(/'/g, '"')) as Record<string, number>, failed: Number(failedText) };
    };
    const COUNT = 200;
    for (const [family, host, lbAddress] of [['IPv6', '2001:db8:101::1', (l: typeof LBS[number]) => l.podIpv6], ['IPv4', '198.18.101.1', (l: typeof LBS[number]) => l.podIp]] as const) {
      const { seen, failed } = traffic(host, COUNT);
      const byLb = LBS.map(l => Object.entries(seen).filter(([k]) => k.endsWith(` ${lbAddress(l)}`)).reduce((n, [, v]) => n + v, 0));
      const byBackend = BACKENDS.map(b => Object.entries(seen).filter(([k]) => k.startsWith(`${b.name} `)).reduce((n, [, v]) => n + v, 0));
      check(`${family}: ${COUNT} requests through the router's ${family} ECMP route and real IPVS, none failed, both LBs (SNAT to their ${family} pod address) and both backends used`,
        failed === 0 && byLb.every(n => n >= COUNT * 0.2) && byBackend.every(n => n >= COUNT * 0.2) && byLb[0] + byLb[1] === COUNT, `${JSON.stringify(seen)}, ${failed} failed`);
    }
    // The IPv6 backends all unready: the IPv6 route goes, the IPv4 one stays, IPv4 still served.
    publish(false);
    const gone = await waitUntil(() => !bgpRoutes6(lab, edge).has(V6), 30_000);
    check('the IPv6 backends unready: the router loses the IPv6 route, keeps the IPv4 one over both LBs', gone && kernelBgpRoutes(lab, edge).get(V4)?.join() === v4Hops,
      `${lab.probe(edge, ['ip', '-6', 'route', 'show', V6]).trim() || 'no IPv6 route'}`);
    const after = traffic('198.18.101.1', 50);
    check('IPv4 still served: 50 of 50', after.failed === 0 && Object.values(after.seen).reduce((a, b) => a + b, 0) === 50, JSON.stringify(after));
  } finally {
    if (process.env.IPVS_VM_OUT) execFileSync('cp', ['-r', path.join(work, 'logs'), path.join(process.env.IPVS_VM_OUT, 'dual-stack-logs')]);
    await stop();
  }
}

if (mode === 'synth' && dir) {
  synth(dir);
} else if (mode === 'run' && dir && cli) {
  void run(dir, cli).then(() => {
    console.log(failures === 0 ? '# dual-stack: all checks passed' : `# dual-stack: ${failures} checks failed`);
    process.exit(failures === 0 ? 0 : 1);
  }, (err) => { console.error(err); process.exit(1); });
} else {
  console.error('usage: dual-stack-vm.ts synth DIR | dual-stack-vm.ts run DIR CLI');
  process.exit(2);
}
