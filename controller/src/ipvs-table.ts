import * as fs from 'node:fs';
import * as ipaddr from 'ipaddr.js';

/**
 * Pure: parses /proc/net/ip_vs, which lists IPVS virtual services and their real servers in the
 * pod's network namespace. keepalived removes a real server that fails its health check, so this
 * is a cheap way (one file read, no process spawn) to see keepalived's verdicts. Real servers are
 * kept in the kernel's list order, the order the `mh` scheduler builds its table from.
 */
export interface IpvsVirtualService {
  readonly protocol: string;
  readonly address: string;
  readonly port: number;
  /** The scheduler's name as the kernel shows it: `mh`, `rr`, `wlc`, ... */
  readonly scheduler: string;
  readonly realServers: IpvsRealServer[];
}

export interface IpvsRealServer {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** The forwarding method as the kernel names it: `Masq`, `Tunnel`, `Route` or `Local`. */
  readonly forward: string;
}

export function parseProcIpvs(text: string): IpvsVirtualService[] {
  const services: IpvsVirtualService[] = [];
  // A fwmark service (`FWM`) is not parsed: its real servers must not land on the service before it.
  let current: IpvsVirtualService | undefined;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (['TCP', 'UDP', 'SCTP'].includes(fields[0]) && fields.length >= 3) {
      const { address, port } = parseHexEndpoint(fields[1]);
      current = { protocol: fields[0], address, port, scheduler: fields[2], realServers: [] };
      services.push(current);
    } else if (fields[0] === 'FWM') {
      current = undefined;
    } else if (fields[0] === '->' && fields.length >= 4 && current && fields[1] !== 'RemoteAddress:Port') {
      const { address, port } = parseHexEndpoint(fields[1]);
      current.realServers.push({ address, port, weight: Number(fields[3]), forward: fields[2] });
    }
  }
  return services;
}

/** This namespace's IPVS table (one file read), or undefined when the kernel has no IPVS (a test machine). */
export function readProcIpvs(file = '/proc/net/ip_vs'): IpvsVirtualService[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcIpvs(text);
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
