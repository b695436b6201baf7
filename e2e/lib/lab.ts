import { probe, run, waitFor } from './proc';
import { ADDRESSES } from './synthesized';

/**
 * The lab network, built from network namespaces that this harness creates and deletes (all named
 * `e2e-*`), never attached to a real interface. Addresses are all in 198.18.0.0/15:
 *
 *   client 198.18.1.2 ── 198.18.1.1 router 198.18.0.110 ─┐
 *                        rr1 198.18.0.109, rr2 .108  ────┤ node network 198.18.0.0/24 (bridge in e2e-lan)
 *   node k 198.18.0.(10+k) ──────────────────────────────┘   [VM only: the API double at 198.18.0.1]
 *     └ cni0 198.19.(128+k).1/24 ── LB pods .2, .3, ...; backend pods .(10+j)
 *
 * Pod CIDRs are routed node to node (host-gw style) and from the reflectors and the API host, so
 * reflectors see each LB pod's own address, as the design's standalone placement requires.
 *
 * With a second router (LabShape.secondRouter, a pair of ToRs), router B joins the node network
 * at 198.18.0.111 and the client gets a link to it too, with an address of its own on each link:
 *
 *   client 198.18.1.2 ── 198.18.1.1 router A 198.18.0.110 ─┐
 *          198.18.2.2 ── 198.18.2.1 router B 198.18.0.111 ─┴─ node network
 *
 * The client's default route goes through A (metric 10), else through B (metric 20), and skips a
 * route whose link has lost its carrier (`ignore_routes_with_linkdown`), as a host reaches a pair
 * of ToRs over two links. The nodes send what goes back to each client address through that
 * address's router (A: their default route; B: 198.18.2.0/24), so a reply takes the router its
 * request came through.
 */
export const NS_PREFIX = 'e2e-';
export const LAN_NS = `${NS_PREFIX}lan`;
export const ROUTER_NS = `${NS_PREFIX}router`;
export const CLIENT_NS = `${NS_PREFIX}client`;
export const CLIENT_IP = '198.18.1.2';
/** The second router of a ToR pair (LabShape.secondRouter): its namespace, its node-network address, the client's address on its link. */
export const ROUTER_B_NS = `${NS_PREFIX}router-b`;
export const ROUTER_B_IP = '198.18.0.111';
export const CLIENT_B_IP = '198.18.2.2';
const CLIENT_B_NET = '198.18.2.0/24';
export const API_HOST_IP = '198.18.0.1';

export const nodeNs = (node: number) => `${NS_PREFIX}n${node}`;
export const nodeIp = (node: number) => `198.18.0.${10 + node}`;
export const podCidr = (node: number) => `198.19.${128 + node}.0/24`;
const cniGateway = (node: number) => `198.19.${128 + node}.1`;
export const reflectorNs = (name: string) => `${NS_PREFIX}${name}`;

export interface LabShape {
  readonly nodes: number;
  /** Give the harness's own (root) namespace a leg on the node network: the VM's API double listens there. */
  readonly apiHost?: boolean;
  /** A second router, B, on the node network and linked to the client (a pair of ToRs; drawn above). */
  readonly secondRouter?: boolean;
}

/** Deletes every `e2e-*` namespace (this harness's, from this or an earlier crashed run) and what runs in it. */
export function destroyLab(): void {
  const namespaces = probe(undefined, ['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(NS_PREFIX));
  for (const ns of namespaces) {
    for (const pid of probe(undefined, ['ip', 'netns', 'pids', ns]).split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
  }
  for (const ns of namespaces) probe(undefined, ['ip', 'netns', 'del', ns]);
  probe(undefined, ['ip', 'link', 'del', 'e2e-api']);
}

function addNs(ns: string): void {
  run(undefined, ['ip', 'netns', 'add', ns]);
  run(ns, ['ip', 'link', 'set', 'lo', 'up']);
}

/** A veth from `ns` (named `ifname`, with `address`) into the node network bridge. */
function joinLan(ns: string | undefined, ifname: string, address: string): void {
  const port = `p${address.split('.')[3]}`;
  run(undefined, ['ip', 'link', 'add', ifname, ...(ns ? ['netns', ns] : []), 'type', 'veth', 'peer', 'name', port, 'netns', LAN_NS]);
  run(LAN_NS, ['ip', 'link', 'set', port, 'master', 'br0', 'up']);
  run(ns, ['ip', 'addr', 'add', `${address}/24`, 'dev', ifname]);
  run(ns, ['ip', 'link', 'set', ifname, 'up']);
}

/** A veth between the client (`clientIf`, `clientIp`/24) and a router (`eth1`, `routerIp`/24). */
function linkClient(routerNs: string, clientIf: string, routerIp: string, clientIp: string): void {
  run(undefined, ['ip', 'link', 'add', clientIf, 'netns', CLIENT_NS, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', routerNs]);
  run(routerNs, ['ip', 'addr', 'add', `${routerIp}/24`, 'dev', 'eth1']);
  run(routerNs, ['ip', 'link', 'set', 'eth1', 'up']);
  run(CLIENT_NS, ['ip', 'addr', 'add', `${clientIp}/24`, 'dev', clientIf]);
  run(CLIENT_NS, ['ip', 'link', 'set', clientIf, 'up']);
}

export function createLab(shape: LabShape): void {
  destroyLab();
  addNs(LAN_NS);
  run(LAN_NS, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  run(LAN_NS, ['ip', 'link', 'set', 'br0', 'up']);

  addNs(ROUTER_NS);
  joinLan(ROUTER_NS, 'eth0', ADDRESSES.router);
  addNs(CLIENT_NS);
  // Before the client's links exist, so that each inherits it.
  if (shape.secondRouter) run(CLIENT_NS, ['sysctl', '-qw', 'net.ipv4.conf.all.ignore_routes_with_linkdown=1', 'net.ipv4.conf.default.ignore_routes_with_linkdown=1']);
  linkClient(ROUTER_NS, 'eth0', '198.18.1.1', CLIENT_IP);
  if (shape.secondRouter) {
    addNs(ROUTER_B_NS);
    joinLan(ROUTER_B_NS, 'eth0', ROUTER_B_IP);
    linkClient(ROUTER_B_NS, 'eth1', '198.18.2.1', CLIENT_B_IP);
    run(CLIENT_NS, ['ip', 'route', 'add', 'default', 'via', '198.18.1.1', 'dev', 'eth0', 'metric', '10']);
    run(CLIENT_NS, ['ip', 'route', 'add', 'default', 'via', '198.18.2.1', 'dev', 'eth1', 'metric', '20']);
  } else {
    run(CLIENT_NS, ['ip', 'route', 'add', 'default', 'via', '198.18.1.1']);
  }

  const podRoutes = (ns: string | undefined) => {
    for (let k = 1; k <= shape.nodes; k++) run(ns, ['ip', 'route', 'replace', podCidr(k), 'via', nodeIp(k)]);
  };
  for (const reflector of ADDRESSES.reflectors) {
    const ns = reflectorNs(reflector.name);
    addNs(ns);
    joinLan(ns, 'eth0', reflector.address);
    podRoutes(ns);
  }
  for (let k = 1; k <= shape.nodes; k++) {
    const ns = nodeNs(k);
    addNs(ns);
    joinLan(ns, 'eth0', nodeIp(k));
    run(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    run(ns, ['ip', 'link', 'add', 'cni0', 'type', 'bridge']);
    run(ns, ['ip', 'addr', 'add', `${cniGateway(k)}/24`, 'dev', 'cni0']);
    run(ns, ['ip', 'link', 'set', 'cni0', 'up']);
    run(ns, ['ip', 'route', 'add', 'default', 'via', ADDRESSES.router]);
    if (shape.secondRouter) run(ns, ['ip', 'route', 'add', CLIENT_B_NET, 'via', ROUTER_B_IP]);
    for (let other = 1; other <= shape.nodes; other++) {
      if (other !== k) run(ns, ['ip', 'route', 'add', podCidr(other), 'via', nodeIp(other)]);
    }
  }
  if (shape.apiHost) {
    joinLan(undefined, 'e2e-api', API_HOST_IP);
    podRoutes(undefined);
  }
}

/** A pod namespace behind node `node`'s cni0 bridge, with address 198.19.(128+node).`host`. */
export function addPod(ns: string, node: number, host: number): string {
  const ip = `198.19.${128 + node}.${host}`;
  addNs(ns);
  const hostSide = `v${host}`;
  run(undefined, ['ip', 'link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', hostSide, 'netns', nodeNs(node)]);
  run(nodeNs(node), ['ip', 'link', 'set', hostSide, 'master', 'cni0', 'up']);
  run(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  run(ns, ['ip', 'link', 'set', 'eth0', 'up']);
  run(ns, ['ip', 'route', 'add', 'default', 'via', cniGateway(node)]);
  return ip;
}

/**
 * Deletes a pod made by addPod as a node loses a killed container: its processes die first, so the
 * kernel closes their sockets over the still intact link (peers see the FIN at once), then its veth
 * (netns removal would free it asynchronously), then its namespace.
 */
export async function deletePod(ns: string, node: number, ip: string): Promise<void> {
  const pids = () => probe(undefined, ['ip', 'netns', 'pids', ns]).split('\n').filter(Boolean);
  for (const pid of pids()) {
    try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
  }
  await waitFor(pids, (left) => left.length === 0, 5_000, 20);
  probe(nodeNs(node), ['ip', 'link', 'del', `v${ip.split('.')[3]}`]);
  probe(undefined, ['ip', 'netns', 'del', ns]);
}

/** The next hops (gateways) of the router's kernel route for `prefix`, sorted ([] when there is no route); `ns`: the router's namespace. */
export function routerNexthops(prefix: string, ns = ROUTER_NS): string[] {
  return routeNexthops(probe(undefined, routeCommand(prefix, ns)));
}

/** `ip -n`, not `ip netns exec`: no mount namespace to set up, which costs under emulation (benches sample this every second). */
export const routeCommand = (prefix: string, ns: string) => ['ip', '-n', ns, '-j', 'route', 'show', 'exact', prefix];

/** The gateways of `ip -j route show` output, sorted and unique. */
export function routeNexthops(out: string): string[] {
  if (!out.trim()) return [];
  const routes = JSON.parse(out) as { gateway?: string; nexthops?: { gateway?: string }[] }[];
  // Unique: a resilient group lists each next hop twice (controller/src/resilient-plan.ts).
  return [...new Set(routes.flatMap((r) => (r.gateway ? [r.gateway] : (r.nexthops ?? []).flatMap((n) => (n.gateway ? [n.gateway] : [])))))].sort();
}
