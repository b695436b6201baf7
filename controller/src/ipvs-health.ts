import * as fs from 'node:fs';
import { ipvsHasHealthyRealServer, parseProcIpvs } from './ipvs-table';

/**
 * keepalived's health verdicts as this namespace's IPVS shows them; undefined when the kernel
 * has no IPVS (nothing to observe, e.g. a test machine).
 */
export function ipvsHealthReader(vips: readonly string[], file = '/proc/net/ip_vs'): () => boolean | undefined {
  return () => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    return ipvsHasHealthyRealServer(parseProcIpvs(text), vips);
  };
}
