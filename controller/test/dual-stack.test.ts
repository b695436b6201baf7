import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiServerDouble } from './apiserver-double';
import { serviceModel, slice } from './fixtures';
import { waitFor } from './wait';
import { lbPodSysctls, podAddresses, podEnvironment } from '../../lib/lb-pod-contract';
import { PREFIXES_ANNOTATION } from '../../lib/model';
import { Controller, KeepalivedControl } from '../src/controller';
import { EndpointSlice } from '../src/endpoint-slices';
import { kubeConfigForUrl, loadKubeClient } from '../src/kube-client';
import { Logger, silentLogger } from '../src/log';
import { ControllerMetrics } from '../src/metrics';
import { lbRuleset, netnsCommands } from '../src/netns';
import { NodeAddressSource, nodeAddressOfFamily } from '../src/node-address';
import { desiredRoutes } from '../src/node-routes';

/**
 * Dual-stack services in the LB pod's programs: an IPv4 and an IPv6 prefix, each announced with
 * the node's address of its family (the IPv6 one from the Node object), each family following its
 * own backends' health; the node routes each prefix to the pod's address of its family, and the
 * pod SNATs each family to its own address.
 */

const dual = serviceModel({ prefixes: ['198.19.10.0/24', '2001:db8:10::/64'], vips: ['198.19.10.1', '2001:db8:10::1'] });

test('the node routes each prefix to the LB pod\'s address of its family (status.podIPs)', () => {
  const annotations = { [PREFIXES_ANNOTATION]: dual.prefixes.join(',') };
  const routes = desiredRoutes([
    { metadata: { name: 'a', annotations }, status: { phase: 'Running', podIP: '198.18.1.7', podIPs: [{ ip: '198.18.1.7' }, { ip: '2001:db8:130::7' }] } },
    { metadata: { name: 'b', annotations }, status: { phase: 'Running', podIP: '198.18.1.3', podIPs: [{ ip: '198.18.1.3' }, { ip: '2001:db8:130::3' }] } },
    // Without an IPv6 address (a single-stack pod) the IPv6 prefix cannot be routed to it.
    { metadata: { name: 'v4-only', annotations }, status: { phase: 'Running', podIP: '198.18.1.9' } },
  ]);
  expect([...routes]).toEqual([
    ['198.19.10.0/24', ['198.18.1.3', '198.18.1.7', '198.18.1.9']],
    ['2001:db8:10::/64', ['2001:db8:130::3', '2001:db8:130::7']],
  ]);
});

test('the pod\'s environment: POD_IPS and NODE_NAME read when the pod spec passes them', () => {
  const base = { POD_IP: '198.19.130.2', NODE_IP: '198.18.0.101', POD_NAME: 'web-lb-0', POD_NAMESPACE: 'shop' };
  expect(podEnvironment(base).nodeName).toBeUndefined();
  expect(podAddresses(podEnvironment(base))).toEqual(['198.19.130.2']);
  const pod = podEnvironment({ ...base, POD_IPS: '198.19.130.2,2001:db8:130::2', NODE_NAME: 'n1' });
  expect(pod).toMatchObject({ nodeName: 'n1' });
  expect(podAddresses(pod)).toEqual(['198.19.130.2', '2001:db8:130::2']);
});

test('the pod forwards IPv6, and its ruleset, applied by the real nft, has a table per family SNATing to the pod\'s address of that family', () => {
  expect(lbPodSysctls(dual)).toMatchObject({ 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' });
  expect(netnsCommands(dual, '198.19.129.2', ['2001:db8:129::2']).map((c) => [c.file, ...c.args].join(' '))).toEqual([
    'ip -4 route replace local 198.19.10.0/24 dev lo', 'ip -6 route replace local 2001:db8:10::/64 dev lo', 'nft -f -',
  ]);
  const ruleset = lbRuleset(dual, '198.19.129.2', ['2001:db8:129::2']);
  const listed = execFileSync('unshare', ['-n', 'sh', '-c', `nft -f /dev/stdin <<EOF\n${ruleset}EOF\nnft -f /dev/stdin <<EOF\n${ruleset}EOF\nnft list ruleset`], { encoding: 'utf8' });
  expect(listed.match(/table ip ecmp_lb/g)).toHaveLength(1);
  expect(listed.match(/table ip6 ecmp_lb/g)).toHaveLength(1);
  expect(listed).toContain('ct original ip daddr 198.19.10.1 ct protocol tcp ct original proto-dst 80 snat to 198.19.129.2');
  expect(listed).toContain('ct original ip6 daddr 2001:db8:10::1 ct protocol tcp ct original proto-dst 80 snat to 2001:db8:129::2');
  expect(listed).toContain('ip6 daddr 2001:db8:10::/64 meta l4proto udp drop');
  // A pod without an IPv6 address: the IPv6 table still drops, but SNATs nothing (the controller reports it).
  expect(lbRuleset(dual, '198.19.129.2')).not.toContain('snat to 2001');
});

test('the node\'s address of a family: its first InternalIP of that family, canonical', () => {
  const node = { status: { addresses: [
    { type: 'Hostname', address: 'n1' }, { type: 'ExternalIP', address: '2001:db8:ee::1' },
    { type: 'InternalIP', address: '198.18.0.101' }, { type: 'InternalIP', address: '2001:DB8:FF:0::101' }, { type: 'InternalIP', address: '2001:db8:ff::999' },
  ] } };
  expect(nodeAddressOfFamily(node, 6)).toBe('2001:db8:ff::101');
  expect(nodeAddressOfFamily(node, 4)).toBe('198.18.0.101');
  expect(nodeAddressOfFamily({ status: { addresses: [{ type: 'ExternalIP', address: '2001:db8:ee::1' }] } }, 6)).toBeUndefined();
  expect(nodeAddressOfFamily({ status: null }, 6)).toBeUndefined();
  expect(nodeAddressOfFamily({ status: { addresses: [{ type: 'InternalIP', address: 'not-an-ip' }] } }, 6)).toBeUndefined();
});

describe('against the API double', () => {
  let api: ApiServerDouble;
  let source: NodeAddressSource | undefined;
  beforeEach(async () => {
    api = new ApiServerDouble();
    await api.start();
  });
  afterEach(async () => {
    source?.stop();
    await api.stop();
  });

  test('the controller\'s Node reader: GET of its own Node by name (the one verb its ClusterRole grants), retried until the Node has an IPv6 InternalIP, followed on change', async () => {
    const node = (addresses: { type: string; address: string }[]) => ({ metadata: { name: 'n1', namespace: '' }, status: { addresses } });
    api.upsert('/api/v1/nodes', node([{ type: 'InternalIP', address: '198.18.0.101' }]) as any);
    const k8s = await loadKubeClient();
    const core = (await kubeConfigForUrl(api.url)).makeApiClient(k8s.CoreV1Api);
    let changes = 0;
    const logs: string[] = [];
    const log: Logger = { log: (_level, msg) => logs.push(msg), child: () => log };
    source = new NodeAddressSource({
      read: () => core.readNode({ name: 'n1' }) as never, family: 6, nodeName: 'n1', log, onChange: () => changes++, refreshMs: 50, retryBackoff: { initialMs: 20, maxMs: 40 },
    });
    await source.start();
    expect(source.current).toBeUndefined();
    api.upsert('/api/v1/nodes', node([{ type: 'InternalIP', address: '198.18.0.101' }, { type: 'InternalIP', address: '2001:db8:ff::101' }]) as any);
    await waitFor('the IPv6 address is read', () => source!.current === '2001:db8:ff::101', 3000);
    expect(changes).toBe(1);
    // The API server away: the address is kept.
    await api.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(source.current).toBe('2001:db8:ff::101');
    await api.start(undefined, Number(new URL(api.url).port));
    api.upsert('/api/v1/nodes', node([{ type: 'InternalIP', address: '198.18.0.101' }, { type: 'InternalIP', address: '2001:db8:ff::201' }]) as any);
    await waitFor('the changed address is followed', () => source!.current === '2001:db8:ff::201', 3000);
    expect(api.requests.every((r) => r.method === 'GET' && r.path === '/api/v1/nodes/n1' && !r.query.has('watch'))).toBe(true);
    expect(logs).toContain('could not read the node for its address');
  });
});

describe('the announcement, per family', () => {
  let dir: string;
  let controller: Controller | undefined;
  let slices: EndpointSlice[];
  let nodeIpv6: string | undefined;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-dual-')); });
  afterEach(() => {
    controller?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const keepalived: KeepalivedControl = { reload: () => {}, restart: () => {}, stop: async () => {} };
  const announced = () => (fs.existsSync(path.join(dir, 'announce')) ? fs.readFileSync(path.join(dir, 'announce'), 'utf8') : '');
  const V4_LINE = 'announce route 198.19.10.0/24 next-hop 198.18.0.2\n';
  const V6_LINE = 'announce route 2001:db8:10::/64 next-hop 2001:db8:ff::2\n';

  test('each prefix with the node\'s address of its family; a family without usable backends, or without the node\'s address, is withdrawn alone', async () => {
    slices = [slice('v4', [{ address: '198.18.5.1' }]), slice('v6', [{ address: '2001:db8:5::1' }], { addressType: 'IPv6' })];
    nodeIpv6 = undefined;
    controller = new Controller({
      service: dual, routerId: 'lb-0', nodeIp: '198.18.0.2', otherNextHop: () => nodeIpv6, runDir: dir, slices: () => slices, keepalived,
      metrics: new ControllerMetrics(), log: silentLogger, healthPollMs: 20, resyncMs: 50,
    });
    controller.start();
    controller.endpointsChanged();
    // The node's IPv6 address not read yet: IPv4 only.
    await waitFor('IPv4 announced', () => announced() === V4_LINE, 3000);
    nodeIpv6 = '2001:db8:ff::2';
    await waitFor('both announced', () => announced() === V4_LINE + V6_LINE, 3000);
    // The IPv6 backends go: IPv6 withdrawn, IPv4 kept.
    slices = [slices[0], slice('v6', [{ address: '2001:db8:5::1', ready: false }], { addressType: 'IPv6' })];
    controller.endpointsChanged();
    await waitFor('IPv6 withdrawn alone', () => announced() === V4_LINE, 3000);
    // The IPv4 backends go while IPv6 is back: the other way round.
    slices = [slice('v4', [{ address: '198.18.5.1', ready: false }]), slice('v6', [{ address: '2001:db8:5::1' }], { addressType: 'IPv6' })];
    controller.endpointsChanged();
    await waitFor('IPv4 withdrawn alone', () => announced() === V6_LINE, 3000);
  });
});
