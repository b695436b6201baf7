import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as kplus from 'cdk8s-plus-27';
import { Backends, ForwardingMethod, LoadBalancerService } from '../lib';
import { CALICO_ALLOWED_SOURCE_PREFIXES, TUNNEL_BACKEND_PROGRAMS, TUNNEL_BACKEND_SCRIPT } from '../lib/tunnel-backend';
import { validateManifest } from './support/k8s-schema';
import { nginx, synthToDisk, tempDir, testTopology } from './support/topology';

// TUN forwarding: the LoadBalancerService prepares the pod template of a workload it holds
// (docs/design.md, "What a backend needs for TUN mode"), and its init container's script works.

const tun = { prefixes: ['198.18.103.0/24'], ports: [{ port: 80 }], forwardingMethod: ForwardingMethod.TUNNEL };
const backendTemplate = (manifests: any[], id: string) =>
  manifests.find(m => m.kind === 'Deployment' && m.metadata.name.startsWith(`ecmp-${id}-`)).spec.template;

describe('a TUN service with Backends.fromWorkload prepares the workload', () => {
  const { app, topology } = testTopology({ services: [] });
  const web = nginx(topology, 'web');
  new LoadBalancerService(topology, 'web3', { ...tun, vips: ['198.18.103.1', '198.18.103.2'], backends: Backends.fromWorkload(web), routeReflectors: topology.routeReflectors });
  const { manifests, files } = synthToDisk(app);
  const template = backendTemplate(manifests, 'web');
  const init = template.spec.initContainers[0];

  test('an init container from the LB image, NET_ADMIN only, that brings up tunl0 with every VIP as /32', () => {
    const lbImage = manifests.find(m => m.kind === 'Deployment' && m.metadata.name === 'web3-lb').spec.template.spec.containers[0].image;
    expect(template.spec.initContainers).toHaveLength(1);
    expect(init).toMatchObject({
      name: 'web3-tunnel', image: lbImage, command: ['sh', '-c', TUNNEL_BACKEND_SCRIPT], args: ['prepare-tunnel-backend', '198.18.103.1/32', '198.18.103.2/32'],
      resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
    });
    // Root, since a pod spec gives effective capabilities to uid 0 only (docs/pod-runner.md).
    expect(init.securityContext).toEqual({
      allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: false, runAsUser: 0, runAsGroup: 0,
      capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
    });
  });

  test('no annotation and no sysctls unless asked for; the manifests pass the Kubernetes 1.27 schema', () => {
    expect(template.metadata.annotations?.[CALICO_ALLOWED_SOURCE_PREFIXES]).toBeUndefined();
    expect(template.spec.securityContext.sysctls).toBeUndefined();
    for (const m of manifests) validateManifest(m);
  });

  test('TOPOLOGY.md says who prepares the backends and what the nodes need', () => {
    expect(files.get('TOPOLOGY.md')).toContain('| TUN | by the construct: init container `web3-tunnel` in ecmp/web; nodes: the ipip module loaded |');
  });
});

test('calicoAllowedSourcePrefixes and relaxBackendReversePathFilter: one annotation for every service on the workload, sysctls appended to the workload\'s', () => {
  const { app, topology } = testTopology({ services: [] });
  const web = new kplus.Deployment(topology, 'web', {
    containers: [{ image: 'nginxinc/nginx-unprivileged:1.25', portNumber: 80 }],
    securityContext: { sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }] },
  });
  const opts = {
    backends: Backends.fromWorkload(web),
    routeReflectors: topology.routeReflectors,
    calicoAllowedSourcePrefixes: true,
    relaxBackendReversePathFilter: true,
  };
  new LoadBalancerService(topology, 'web3', { ...tun, ...opts });
  new LoadBalancerService(topology, 'web4', { ...tun, prefixes: ['198.18.104.0/24'], ...opts });
  const { manifests } = synthToDisk(app);
  const template = backendTemplate(manifests, 'web');
  expect(template.spec.initContainers.map((c: any) => c.name)).toEqual(['web3-tunnel', 'web4-tunnel']);
  expect(JSON.parse(template.metadata.annotations[CALICO_ALLOWED_SOURCE_PREFIXES])).toEqual(['198.18.103.1/32', '198.18.104.1/32']);
  expect(template.spec.securityContext.sysctls).toEqual([
    { name: 'net.ipv4.tcp_syncookies', value: '1' },
    { name: 'net.ipv4.conf.all.rp_filter', value: '2' },
    { name: 'net.ipv4.conf.tunl0.rp_filter', value: '2' },
  ]);
  for (const m of manifests) validateManifest(m);
});

test('backendsPreparedByHand leaves the workload as it is', () => {
  const { app, topology } = testTopology({ services: [] });
  const web = nginx(topology, 'web');
  new LoadBalancerService(topology, 'web3', { ...tun, backends: Backends.fromWorkload(web), routeReflectors: topology.routeReflectors, backendsPreparedByHand: true });
  const { manifests, files } = synthToDisk(app);
  expect(backendTemplate(manifests, 'web').spec.initContainers).toBeUndefined();
  expect(files.get('TOPOLOGY.md')).toContain('| TUN | by hand (docs/design.md); nodes: the ipip module loaded |');
});

test('an IPv6 TUN service is refused preparation, naming the fix', () => {
  const build = () => {
    const { app, topology } = testTopology({
      topology: {
        podNetworks: ['2001:db8:130::/64'],
        routeReflectors: [{ name: 'rr1', address: '2001:db8::109', routerId: '198.18.0.109' }],
        upstreamRouters: [{ name: 'router', address: '2001:db8::110', routerId: '198.18.0.110' }],
      },
      services: [],
    });
    new LoadBalancerService(topology, 'v6', { ...tun, prefixes: ['2001:db8:100::/64'], backends: Backends.fromWorkload(nginx(topology, 'web')), routeReflectors: topology.routeReflectors });
    app.synth();
  };
  expect(build).toThrow(/LoadBalancerService 'ecmp\/v6': prefixes \["2001:db8:100::\/64"\] include IPv6: the service prepares IPv4 tunnel backends only.*Fix: .*backendsPreparedByHand: true/);
});

// The script in a network namespace of its own (root; `unshare -n`), with a veth pair named eth0 and
// tunl0 standing in for the pod's interface and the ipip module's device (this host has no ipip),
// and a PATH holding only TUNNEL_BACKEND_PROGRAMS: any other program it called would not be found.
describe('the init container\'s script', () => {
  const bin = tempDir('tunnel-bin');
  for (const program of TUNNEL_BACKEND_PROGRAMS) fs.symlinkSync(execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim(), path.join(bin, program));
  const inPod = (rpFilter: number, runs: number) => spawnSync('unshare', ['-n', 'sh', '-ec', `
    ip link add eth0 type veth peer name tunl0; ip link set lo up; ip link set eth0 up
    ip addr add 198.19.129.11/24 dev eth0; ip route add default via 198.19.129.1
    echo ${rpFilter} > /proc/sys/net/ipv4/conf/all/rp_filter
    for run in $(seq ${runs}); do env -i PATH=${bin} ${bin}/sh -c "$1" prepare-tunnel-backend 198.18.103.1/32 198.18.104.1/32; done
    ip -o addr show dev tunl0; ip -o -4 route show dev eth0; ip -o link show dev eth0; ip -o link show dev tunl0`, 'pod', TUNNEL_BACKEND_SCRIPT], { encoding: 'utf8' });

  test('brings tunl0 up with the VIPs and lowers every route\'s MTU by 20, eth0 unchanged; again on a second run', () => {
    const result = inPod(2, 2);
    expect([result.status, result.stderr]).toEqual([0, '']);
    expect(result.stdout).toMatch(/tunl0\s+inet 198\.18\.103\.1\/32 /);
    expect(result.stdout).toMatch(/tunl0\s+inet 198\.18\.104\.1\/32 /);
    expect(result.stdout).toContain('default via 198.19.129.1 mtu 1480');
    expect(result.stdout).toMatch(/198\.19\.129\.0\/24 proto kernel scope link src 198\.19\.129\.11 mtu 1480/);
    expect(result.stdout).toMatch(/eth0@tunl0: <[^>]*> mtu 1500 /);
    expect(result.stdout).toMatch(/tunl0@eth0: <[^>]*\bUP\b/);
  });

  test('stops the pod, saying why and what to do, when rp_filter is strict', () => {
    const result = inPod(1, 1);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('prepare-tunnel-backend: net.ipv4.conf.all.rp_filter is 1 (strict, inherited from the node): tunnelled packets would be dropped. Fix: relaxBackendReversePathFilter: true');
  });
});
