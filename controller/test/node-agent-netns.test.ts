import { execFileSync } from 'node:child_process';
import { ApiServerDouble, KubeObject } from './apiserver-double';
import { waitFor } from './wait';
import { silentLogger } from '../src/log';
import { runNodeAgent } from '../src/node-agent';

/**
 * The node agent for real: fed by the API double, it edits the routing table of a "node" network
 * namespace whose two "pods" sit behind the two shapes CNIs give them: a /32 on a veth (Calico)
 * and an address on a bridge (flannel's cni0), the Calico one dual-stack (an IPv6 /128 too, and an IPv6
 * prefix routed via it). A ping from the node to an address of the service prefix must then reach the
 * LB pod, which takes the whole prefix as local (as the controller sets up).
 */
const PODS = '/api/v1/namespaces/shop/pods';
const NODE = `ecmpna-node-${process.pid}`;
const CALICO_POD = `ecmpna-cal-${process.pid}`;
const FLANNEL_POD = `ecmpna-fl-${process.pid}`;
const sh = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inNode = (args: string[]) => sh('-n', NODE, ...args);

function lbPod(name: string, nodeName: string, podIP: string, prefixes: string, podIPv6?: string): KubeObject {
  return {
    metadata: { name, namespace: 'shop', labels: { 'ecmp-lb.cdk8s.io/role': 'lb' }, annotations: { 'ecmp-lb.cdk8s.io/prefixes': prefixes } },
    spec: { nodeName },
    // A dual-stack pod lists one IP per family in status.podIPs, the primary first.
    status: { phase: 'Running', podIP, ...(podIPv6 ? { podIPs: [{ ip: podIP }, { ip: podIPv6 }] } : {}) },
  };
}

/** The agent's routes (`ip route show proto N` leaves the protocol out of each line). */
const agentRoutes = () => inNode(['-4', 'route', 'show', 'proto', '212']).split('\n').map(l => l.trim()).filter(Boolean).sort();
const agentRoutes6 = () => inNode(['-6', 'route', 'show', 'proto', '212']).split('\n').map(l => l.trim()).filter(Boolean).sort();
const pings = (address: string) => {
  try { sh('netns', 'exec', NODE, 'ping', '-c', '1', '-W', '1', address); return true; } catch { return false; }
};

beforeAll(() => {
  for (const ns of [NODE, CALICO_POD, FLANNEL_POD]) sh('netns', 'add', ns);
  for (const ns of [NODE, CALICO_POD, FLANNEL_POD]) sh('-n', ns, 'link', 'set', 'lo', 'up');
  // Calico: the pod's /32 behind a veth, routed on-link from the node.
  inNode(['link', 'add', 'cali1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CALICO_POD]);
  inNode(['link', 'set', 'cali1', 'up']);
  inNode(['route', 'add', '198.19.200.2/32', 'dev', 'cali1', 'scope', 'link']);
  sh('-n', CALICO_POD, 'addr', 'add', '198.19.200.2/32', 'dev', 'eth0');
  sh('-n', CALICO_POD, 'link', 'set', 'eth0', 'up');
  // Calico points the pod's default route at a link-local gateway the host answers by proxy ARP;
  // an on-link default route is the same to the kernel here: the node answers ARP for its addresses.
  sh('-n', CALICO_POD, 'route', 'add', 'default', 'dev', 'eth0', 'scope', 'link');
  // Dual-stack Calico: the pod's IPv6 /128 on the same veth, its default route via the host side's link-local address.
  inNode(['-6', 'addr', 'add', 'fe80::1/64', 'dev', 'cali1', 'nodad']);
  inNode(['-6', 'addr', 'add', '2001:db8:250::1/128', 'dev', 'lo']);
  inNode(['-6', 'route', 'add', '2001:db8:200::2/128', 'dev', 'cali1']);
  sh('-n', CALICO_POD, '-6', 'addr', 'add', '2001:db8:200::2/128', 'dev', 'eth0', 'nodad');
  sh('-n', CALICO_POD, '-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0');
  // flannel: the pod on the node's cni0 bridge.
  inNode(['link', 'add', 'cni0', 'type', 'bridge']);
  inNode(['addr', 'add', '198.19.201.1/24', 'dev', 'cni0']);
  inNode(['link', 'set', 'cni0', 'up']);
  inNode(['link', 'add', 'veth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', FLANNEL_POD]);
  inNode(['link', 'set', 'veth1', 'master', 'cni0', 'up']);
  sh('-n', FLANNEL_POD, 'addr', 'add', '198.19.201.2/24', 'dev', 'eth0');
  sh('-n', FLANNEL_POD, 'link', 'set', 'eth0', 'up');
  sh('-n', FLANNEL_POD, 'route', 'add', 'default', 'via', '198.19.201.1');
  // Inside each LB pod the whole service prefix is local (the controller's `local PREFIX dev lo`).
  sh('-n', CALICO_POD, 'route', 'add', 'local', '198.18.101.0/24', 'dev', 'lo');
  sh('-n', CALICO_POD, '-6', 'route', 'add', 'local', '2001:db8:101::/64', 'dev', 'lo');
  sh('-n', FLANNEL_POD, 'route', 'add', 'local', '198.18.102.0/24', 'dev', 'lo');
});

afterAll(() => {
  for (const ns of [NODE, CALICO_POD, FLANNEL_POD]) {
    try { sh('netns', 'del', ns); } catch { /* already gone */ }
  }
});

test('routes each LB pod\'s prefixes to it on Calico- and flannel-shaped nodes, and only its own routes', async () => {
  const api = new ApiServerDouble();
  await api.start();
  const agent = await runNodeAgent({
    nodeName: 'node-a', namespaces: ['shop'], log: silentLogger, resyncMs: 300,
    kubeConfig: await kubeConfigFor(api.url), ip: inNode,
  });
  try {
    // A route the agent does not own must survive everything it does.
    inNode(['route', 'add', '198.18.250.0/24', 'via', '198.19.201.9', 'proto', 'static']);
    expect(pings('198.18.101.7')).toBe(false);

    // web1 is dual-stack: its IPv6 prefix goes via the pod's IPv6 address.
    api.upsert(PODS, lbPod('web1-lb-a', 'node-a', '198.19.200.2', '198.18.101.0/24,2001:db8:101::/64', '2001:db8:200::2'));
    api.upsert(PODS, lbPod('web2-lb-a', 'node-a', '198.19.201.2', '198.18.102.0/24'));
    api.upsert(PODS, lbPod('web1-lb-b', 'node-b', '198.19.210.2', '198.18.101.0/24'));
    await waitFor('both routes', () => agentRoutes().length === 2, 10000);
    expect(agentRoutes()).toEqual(['198.18.101.0/24 via 198.19.200.2 dev cali1', '198.18.102.0/24 via 198.19.201.2 dev cni0']);
    expect(pings('198.18.101.7')).toBe(true);
    expect(pings('198.18.102.200')).toBe(true);
    await waitFor('the IPv6 route', () => agentRoutes6().length === 1, 10000);
    expect(agentRoutes6()[0]).toMatch(/^2001:db8:101::\/64 via 2001:db8:200::2 dev cali1 /);
    // The first packet may wait for neighbour discovery on the new veth.
    await waitFor('the IPv6 VIP answers through the route', () => pings('2001:db8:101::7'), 10000);

    // Someone deletes a route: the periodic resync puts it back.
    inNode(['route', 'del', '198.18.102.0/24', 'proto', '212']);
    await waitFor('route repaired', () => agentRoutes().length === 2, 5000);

    // The pod is gone: its route goes, the other stays, the foreign route is untouched.
    api.remove(PODS, 'web1-lb-a');
    await waitFor('route removed', () => agentRoutes().length === 1 && agentRoutes6().length === 0, 10000);
    expect(agentRoutes()[0]).toMatch(/^198\.18\.102\.0\/24 via 198\.19\.201\.2 /);
    expect(pings('198.18.101.7')).toBe(false);
    expect(inNode(['route', 'show', '198.18.250.0/24'])).toContain('proto static');
  } finally {
    await agent.stop();
    await api.stop();
  }
}, 60000);

async function kubeConfigFor(server: string) {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 't', server, skipTLSVerify: true }], users: [{ name: 't' }],
    contexts: [{ name: 't', cluster: 't', user: 't' }], currentContext: 't',
  });
  return config;
}
