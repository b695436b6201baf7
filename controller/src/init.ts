import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import * as path from 'node:path';
import * as ipaddr from 'ipaddr.js';
import { writeFileAtomic } from './atomic-file';
import { Logger } from './log';
import { announcerCommand, LB_POD_FILES, PodEnvironment } from '../../lib/lb-pod-contract';
import { ExabgpModel, LoadBalancerServiceModel } from '../../lib/model';
import { renderExabgp } from '../../lib/renderers/exabgp';
import { bgpPasswordFromEnv } from '../../lib/renderers/password';

/** Pure: the exabgp model for this pod. */
export function exabgpModel(service: LoadBalancerServiceModel, pod: PodEnvironment, neighbors: string[], command: string): ExabgpModel {
  return {
    asn: service.asn,
    routerId: bgpRouterId(pod.podIp),
    localAddress: pod.podIp,
    nextHop: pod.nodeIp,
    holdTimeSeconds: service.timers.holdTimeSeconds,
    neighbors,
    prefixes: service.prefixes,
    announcerCommand: command,
    // Used by static routes only: with an announcer, the announce file carries them.
    ...(service.routeAttributes ? { routeAttributes: service.routeAttributes } : {}),
  };
}

/**
 * A BGP router id is a dotted quad and must differ between the reflector's clients. An IPv4 pod IP
 * is one; for an IPv6 pod, its low 32 bits, which differ between pods of one cluster's pod range.
 */
export function bgpRouterId(podIp: string): string {
  if (!podIp.includes(':')) return podIp;
  const bytes = ipaddr.IPv6.parse(podIp).toByteArray();
  return bytes.slice(12).join('.');
}

export type Resolver = (host: string) => Promise<string>;

/** A literal address as is; a name resolved in the pod IP's family, retried while DNS is not ready. */
export function dnsResolver(family: 4 | 6, attempts = 30, delayMs = 2000): Resolver {
  return async (host) => {
    if (isIP(host)) return host;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await lookup(host, { family })).address;
      } catch (err) {
        if (attempt >= attempts) throw new Error(`cannot resolve route reflector ${host}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  };
}

/** `ecmp-lb init`: writes exabgp.conf into the run dir. */
export async function runInit(
  service: LoadBalancerServiceModel,
  pod: PodEnvironment,
  configDir: string,
  runDir: string,
  resolve: Resolver,
  log: Logger,
): Promise<string> {
  const neighbors = await Promise.all(service.reflectors.map((r) => resolve(r.host)));
  const file = path.join(runDir, LB_POD_FILES.exabgpConfig);
  // TCP-MD5 (bgpPassword with signLoadBalancerSessions): the key comes from the Secret through the env, never the ConfigMap.
  const bgpPassword = bgpPasswordFromEnv(service, process.env);
  writeFileAtomic(file, renderExabgp({
    ...exabgpModel(service, pod, neighbors, announcerCommand(configDir, runDir)),
    ...(bgpPassword ? { bgpPassword } : {}),
  }));
  log.log('info', 'wrote exabgp config', { file, neighbors });
  return file;
}
