import * as path from 'node:path';
import { BIRD_RUN_DIR, FRR_RUN_DIR } from './daemons';
import { nodeNs, ROUTER_NS } from './lab';
import { probe, run } from './proc';
import { ADDRESSES } from './synthesized';
import { RouterDaemon } from '../../lib/model';

/**
 * What the in-cluster reflector's scenarios share (the host's, e2e/lib/in-cluster-reflector.ts, and
 * the pod runner's in the VM, e2e/lb-pod.ts): where the reflector runs, its Service's name and
 * ClusterIP, the NAT a cluster puts on its path, and how to read both ends of its sessions.
 */

/** The in-cluster reflector's Service, as kube-proxy would give it a ClusterIP (a service range in 198.18.0.0/15). */
export const CLUSTER_IP = '198.18.250.10';
/** The name LB pods dial (`<reflector>-bgp.<namespace>.svc`), and the FQDN cluster DNS answers for. */
export const REFLECTOR_SERVICE_NAME = 'rr-ic-bgp.lb.svc';
export const REFLECTOR_SERVICE_FQDN = `${REFLECTOR_SERVICE_NAME}.cluster.local`;
export const REFLECTOR_NODE = 3;
export const REFLECTOR_POD_SLOT = 5;

/**
 * What a cluster does to the in-cluster reflector's packets, as kube-proxy and a CNI in its usual
 * setting do it: every node DNATs the reflector Service's ClusterIP, at each of the Service's ports
 * (`servicePorts`, default BGP's TCP 179 only), to the reflector pod (so LB pods
 * keep their own source address), and SNATs pod traffic that leaves the pod network to the node's
 * address (Calico's natOutgoing, flannel's ipMasq), so the router sees the reflector at its node's IP.
 */
export function clusterNat(nodes: number, reflectorPodIp: string, servicePorts: readonly { protocol: string; port: number }[] = [{ protocol: 'tcp', port: 179 }]): void {
  // One DNAT per port of the reflector's Service, as kube-proxy programs them (port = targetPort here).
  const dnat = servicePorts.map((p) => `ip daddr ${CLUSTER_IP} ${p.protocol} dport ${p.port} dnat to ${reflectorPodIp}:${p.port};`).join(' ');
  for (let node = 1; node <= nodes; node++) {
    run(nodeNs(node), ['nft', '-f', '-'], {
      input: `table ip e2e_cluster {
  chain prerouting { type nat hook prerouting priority dstnat; ${dnat} }
  chain postrouting { type nat hook postrouting priority srcnat; ip saddr ${ADDRESSES.podNetwork} ip daddr != ${ADDRESSES.podNetwork} oifname "eth0" masquerade; }
}
`,
    });
  }
}

/** gobgp's JSON gives the session state as the API's enum number. */
const SESSION_STATES = ['unknown', 'idle', 'connect', 'active', 'opensent', 'openconfirm', 'established'];

/** gobgpd's neighbors (`gobgp neighbor -j` in `ns`): address and state (`established` when up). */
export function gobgpNeighbors(ns: string): { address: string; state: string }[] {
  const out = probe(ns, ['gobgp', '-u', '127.0.0.1', '-p', '50051', 'neighbor', '-j']);
  try {
    return (JSON.parse(out) as any[]).map((n) => {
      const state = n.state?.session_state;
      return { address: n.state?.neighbor_address ?? n.conf?.neighbor_address, state: typeof state === 'number' ? SESSION_STATES[state] ?? String(state) : String(state ?? '') };
    });
  } catch {
    return [];
  }
}

/** The FRR router's BGP state towards `peer` (`Established` when up), from its vtysh. */
export function routerSessionState(peer: string, daemon: RouterDaemon = RouterDaemon.FRR): string {
  if (daemon === RouterDaemon.BIRD) {
    const bird = probe(ROUTER_NS, ['birdc', '-s', path.join(BIRD_RUN_DIR, 'bird.ctl'), 'show', 'protocols', 'all', `rr_${peer.replace(/[^0-9A-Za-z]/g, '_')}`]);
    return /BGP state:\s+(\w+)/.exec(bird)?.[1] ?? bird.slice(0, 200);
  }
  const out = probe(ROUTER_NS, ['vtysh', '--vty_socket', FRR_RUN_DIR, '-c', `show bgp neighbors ${peer} json`]);
  return /"bgpState":"(\w+)"/.exec(out)?.[1] ?? out.slice(0, 200);
}
