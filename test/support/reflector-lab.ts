import * as fs from 'fs';
import * as path from 'path';
import { EXABGP_ENV, NetnsLab, startFrr } from './netns';
import { exabgpModel } from '../../controller/src/init';
import { announceFileText } from '../../lib/lb-pod-contract';
import { LoadBalancerServiceModel } from '../../lib/model';
import { renderAnnouncer } from '../../lib/renderers/announcer';
import { renderExabgp } from '../../lib/renderers/exabgp';

/**
 * The routers of a two-reflector lab, from a synthesized dist/ with reflectors rr1 (gobgpd) and rr2
 * (FRR) and routers edge (FRR) and edge2 (BIRD), in network namespaces on one bridge:
 *
 *   rr1 198.18.0.109, rr2 198.18.0.108, each with a leg in the pod network 198.19.128.0/17
 *   edge 198.18.0.110, edge2 198.18.0.111
 */
export interface TwoReflectorLab {
  readonly edge: string;
  /** edge's FRR sockets, for `vtysh --vty_socket`. */
  readonly edgeDir: string;
  readonly edge2: string;
  /** edge2's BIRD control socket, for `birdc -s`. */
  readonly birdSocket: string;
}

export async function startTwoReflectorLab(lab: NetnsLab, dist: string, files: ReadonlyMap<string, string>): Promise<TwoReflectorLab> {
  const rr1 = lab.host('rr1', ['198.18.0.109/24', '198.19.128.1/17']);
  lab.start('rr1', rr1, ['gobgpd', '-t', 'toml', '-f', path.join(dist, 'route-reflectors/rr1/gobgpd.toml'), '--api-hosts', '127.0.0.1:50051', '--pprof-disable']);
  const rr2 = lab.host('rr2', ['198.18.0.108/24', '198.19.128.2/17']);
  const edge = lab.host('edge', ['198.18.0.110/24']);
  const [, edgeDir] = await Promise.all([
    startFrr(lab, rr2, files.get('route-reflectors/rr2/frr.conf')!, 'rr2-'),
    startFrr(lab, edge, files.get('routers/edge/frr.conf')!, 'edge-'),
  ]);
  const edge2 = lab.host('edge2', ['198.18.0.111/24']);
  const birdDir = lab.tempDir('bird');
  const birdSocket = path.join(birdDir, 'bird.ctl');
  lab.start('edge2', edge2, ['bird', '-f', '-c', path.join(dist, 'routers/edge2/bird.conf'), '-s', birdSocket, '-P', path.join(birdDir, 'bird.pid')]);
  return { edge, edgeDir, edge2, birdSocket };
}

/**
 * An LB pod as it runs: exabgp from the pod's own rendering, its announcer following an announce
 * file written as the controller writes it. `name` names its namespace and files; returns the
 * announce file (write '' to withdraw). With `nodeIpv6` (a dual-stack service) the IPv6 prefixes
 * take it as next hop, as the controller announces them.
 */
export function startLbSpeaker(
  lab: NetnsLab, work: string, name: string, model: LoadBalancerServiceModel,
  pod: { readonly podIp: string; readonly nodeIp: string; readonly nodeIpv6?: string },
): string {
  const announcer = path.join(work, 'announcer.py');
  if (!fs.existsSync(announcer)) fs.writeFileSync(announcer, renderAnnouncer());
  const announceFile = path.join(work, `${name}.announce`);
  fs.writeFileSync(announceFile, announceFileText(model.prefixes, pod.nodeIp, model.routeAttributes, pod.nodeIpv6));
  const ns = lab.host(name, [`${pod.podIp}/17`, `${pod.nodeIp}/24`]);
  // A dual-stack node: its IPv6 address on the router's segment (no duplicate detection in a lab).
  if (pod.nodeIpv6) lab.run(ns, ['ip', 'addr', 'add', `${pod.nodeIpv6}/64`, 'dev', 'eth0', 'nodad']);
  const conf = path.join(work, `${name}.exabgp.conf`);
  const identity = { podName: `${name}-lb`, podNamespace: 'lb', podIp: pod.podIp, nodeIp: pod.nodeIp };
  fs.writeFileSync(conf, renderExabgp(exabgpModel(model, identity, model.reflectors.map(r => r.host), `/usr/bin/python3 ${announcer} ${announceFile}`)));
  lab.start(name, ns, ['exabgp', conf], EXABGP_ENV);
  return announceFile;
}
