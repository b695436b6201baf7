import { ipvsHasHealthyRealServer, readProcIpvs } from './ipvs-table';

/**
 * keepalived's health verdicts as this namespace's IPVS shows them; undefined when the kernel
 * has no IPVS (nothing to observe, e.g. a test machine).
 */
export function ipvsHealthReader(vips: readonly string[], file = '/proc/net/ip_vs'): () => boolean | undefined {
  return () => {
    const services = readProcIpvs(file);
    return services && ipvsHasHealthyRealServer(services, vips);
  };
}
