import * as ipaddr from 'ipaddr.js';

/**
 * Pure: parses /proc/net/ip_vs, which lists IPVS virtual services and their real servers in the
 * pod's network namespace. keepalived removes a real server that fails its health check, so this
 * is a cheap way (one file read, no process spawn) to see keepalived's verdicts.
 */
export interface IpvsVirtualService {
  readonly protocol: string;
  readonly address: string;
  readonly port: number;
  readonly realServers: { readonly address: string; readonly port: number; readonly weight: number }[];
}

export function parseProcIpvs(text: string): IpvsVirtualService[] {
  const services: { protocol: string; address: string; port: number; realServers: IpvsVirtualService['realServers'][number][] }[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (['TCP', 'UDP', 'SCTP'].includes(fields[0]) && fields.length >= 3) {
      const { address, port } = parseHexEndpoint(fields[1]);
      services.push({ protocol: fields[0], address, port, realServers: [] });
    } else if (fields[0] === '->' && fields.length >= 4 && services.length > 0 && fields[1] !== 'RemoteAddress:Port') {
      const { address, port } = parseHexEndpoint(fields[1]);
      services[services.length - 1].realServers.push({ address, port, weight: Number(fields[3]) });
    }
  }
  return services;
}

/** True when at least one of the given VIPs has a real server with weight > 0 in IPVS. */
export function ipvsHasHealthyRealServer(services: readonly IpvsVirtualService[], vips: readonly string[]): boolean {
  const wanted = new Set(vips);
  return services.some((s) => wanted.has(s.address) && s.realServers.some((r) => r.weight > 0));
}

/** `0A000001:0050` (IPv4) or `[2001:0db8:...]:0050` (IPv6) to an address and a port. */
function parseHexEndpoint(text: string): { address: string; port: number } {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon);
  const port = parseInt(text.slice(colon + 1), 16);
  if (host.startsWith('[')) {
    const groups = host.slice(1, -1).split(':').map((g) => parseInt(g, 16).toString(16));
    return { address: ipaddr.IPv6.parse(groups.join(':')).toString(), port };
  }
  const n = parseInt(host, 16);
  return { address: [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.'), port };
}
