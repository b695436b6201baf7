import { IpvsVirtualService } from './ipvs-table';
import { KeepalivedModel } from '../../lib/model';

/**
 * Pure: how this namespace's IPVS table differs from what keepalived was told to build, in words
 * (empty when it does not). What keepalived changes by itself is not drift: it removes a real
 * server that fails its health check, and re-adds it on recovery, so a missing real server is
 * normal. Everything else is: a virtual service of the config missing, one on a service VIP that
 * the config does not have, a real server the config does not list, a weight or a scheduler that
 * the config does not say. keepalived never repairs these by itself (a reload only applies the
 * difference between its old and new config), so the controller must.
 */
export function ipvsDrift(model: KeepalivedModel, services: readonly IpvsVirtualService[], vips: readonly string[]): string[] {
  const drift: string[] = [];
  const key = (protocol: string, address: string, port: number) => `${protocol} ${address}:${port}`;
  // The renderer leaves out a virtual server with no real server of weight > 0.
  const wanted = new Map(model.virtualServers.filter((vs) => vs.realServers.some((rs) => rs.weight > 0))
    .map((vs) => [key(vs.protocol, vs.vip, vs.port), vs]));
  const ours = new Set(vips);
  const seen = new Set<string>();
  for (const service of services) {
    const name = key(service.protocol, service.address, service.port);
    const vs = wanted.get(name);
    if (!vs) {
      if (ours.has(service.address)) drift.push(`${name}: not in the config`);
      continue;
    }
    seen.add(name);
    if (service.scheduler !== vs.scheduler) drift.push(`${name}: scheduler ${service.scheduler}, config ${vs.scheduler}`);
    const weights = new Map(vs.realServers.map((rs) => [`${rs.address}:${rs.port}`, rs.weight]));
    for (const rs of service.realServers) {
      const weight = weights.get(`${rs.address}:${rs.port}`);
      if (weight === undefined) drift.push(`${name}: real server ${rs.address}:${rs.port} not in the config`);
      else if (weight !== rs.weight) drift.push(`${name}: real server ${rs.address}:${rs.port} weight ${rs.weight}, config ${weight}`);
    }
  }
  for (const name of wanted.keys()) if (!seen.has(name)) drift.push(`${name}: missing`);
  return drift;
}
