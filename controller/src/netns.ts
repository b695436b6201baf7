import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Logger } from './log';
import { lbPodSysctls } from '../../lib/lb-pod-contract';
import { ForwardingMethod, LoadBalancerServiceModel } from '../../lib/model';

/** One command to run at start to prepare the pod's network namespace. */
export interface Command {
  readonly file: string;
  readonly args: string[];
  readonly input?: string;
}

/**
 * Pure: the commands that make the LB pod's namespace serve the service.
 * - Every address of every prefix is local (paper Fig. 7b), so IPVS sees the traffic.
 * - One nftables table per family: VIP traffic that IPVS did not take is dropped where a retry can
 *   succeed, and in NAT mode what IPVS forwards is SNATed to the pod IP of its family (see lbRuleset;
 *   `otherPodIps`: a dual-stack pod's addresses besides `podIp`, from `status.podIPs`).
 */
export function netnsCommands(service: LoadBalancerServiceModel, podIp: string, otherPodIps: readonly string[] = []): Command[] {
  const commands: Command[] = service.prefixes.map((prefix) => ({
    file: 'ip', args: [prefix.includes(':') ? '-6' : '-4', 'route', 'replace', 'local', prefix, 'dev', 'lo'],
  }));
  commands.push({ file: 'nft', args: ['-f', '-'], input: lbRuleset(service, podIp, otherPodIps) });
  return commands;
}

/**
 * The pod's nftables ruleset, replacing its own table atomically (nft -f applies it as one transaction).
 * - input: traffic to a service prefix that IPVS did not take. IPVS is empty while keepalived is not
 *   (yet, or no longer) running: its health checker removes the IPVS services as it exits, also when
 *   keepalived is killed. The local stack would answer with a reset or a port unreachable, on which a
 *   client gives up; a dropped packet is retransmitted, by then to another LB, since the controller
 *   withdraws the route once IPVS is empty. Dropped: UDP; TCP connection attempts; in DR/TUN mode any
 *   TCP packet, since a flow that reaches another LB survives there (sloppy_tcp, mh). A mid-flow NAT
 *   packet is still reset: its flow cannot survive on another LB, and a reset ends it at once instead of
 *   at the client's timeout. The chain hooks after IPVS (LOCAL_IN at NF_IP_PRI_NAT_SRC - 1 = 99), so
 *   it sees only what IPVS left.
 * - postrouting, NAT mode: backends must answer through this LB, so what IPVS forwards is SNATed to
 *   the pod IP. At postrouting the destination is already the backend: match the original destination.
 */
export function lbRuleset(service: LoadBalancerServiceModel, podIp: string, otherPodIps: readonly string[] = []): string {
  const tables = [familyRuleset(service, podIp.includes(':'), podIp)];
  // A dual-stack service: the other family's prefixes get a table of their own, SNATed to the pod's address of that family.
  const v6 = !podIp.includes(':');
  if (service.prefixes.some((prefix) => prefix.includes(':') === v6)) {
    tables.push(familyRuleset(service, v6, otherPodIps.find((ip) => ip.includes(':') === v6)));
  }
  return tables.join('');
}

/** One family's table; without a pod address of that family nothing is SNATed (prepareNetns reports it). */
function familyRuleset(service: LoadBalancerServiceModel, v6: boolean, podIp: string | undefined): string {
  const family = v6 ? 'ip6' : 'ip';
  const prefixes = service.prefixes.filter((prefix) => prefix.includes(':') === v6);
  const vips = service.vips.filter((vip) => vip.includes(':') === v6);
  const lines = [`table ${family} ecmp_lb {}`, `delete table ${family} ecmp_lb`, `table ${family} ecmp_lb {`];
  lines.push('  chain input {', '    type filter hook input priority 100; policy accept;');
  const nat = service.forwardingMethod === ForwardingMethod.NAT;
  if (prefixes.length > 0) {
    const to = `${family} daddr { ${prefixes.join(', ')} }`;
    lines.push(`    ${to} meta l4proto udp drop`, nat ? `    ${to} tcp flags & (syn | ack) == syn drop` : `    ${to} meta l4proto tcp drop`);
  }
  lines.push('  }');
  if (nat) {
    lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
    const protocols = [...new Set(service.ports.map((p) => p.protocol.toLowerCase()))];
    for (const protocol of protocols) {
      const ports = [...new Set(service.ports.filter((p) => p.protocol.toLowerCase() === protocol).map((p) => p.port))];
      if (vips.length === 0 || podIp === undefined) continue;
      lines.push(`    ct original ${family} daddr { ${vips.join(', ')} } ct original protocol ${protocol} ct original proto-dst { ${ports.join(', ')} } snat to ${podIp}`);
    }
    lines.push('  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Runs the commands and checks the sysctls the pod spec sets (lbPodSysctls); failures are logged and returned, not thrown. */
export function prepareNetns(service: LoadBalancerServiceModel, podIp: string, log: Logger, otherPodIps: readonly string[] = []): string[] {
  const problems: string[] = [];
  const v6 = !podIp.includes(':');
  if (service.forwardingMethod === ForwardingMethod.NAT && service.prefixes.some((p) => p.includes(':') === v6) && !otherPodIps.some((ip) => ip.includes(':') === v6)) {
    problems.push(`the pod has no IPv${v6 ? 6 : 4} address (POD_IPS: status.podIPs) to SNAT the IPv${v6 ? 6 : 4} prefixes' traffic to: is the cluster dual-stack?`);
  }
  for (const command of netnsCommands(service, podIp, otherPodIps)) {
    try {
      execFileSync(command.file, command.args, { input: command.input, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      problems.push(`${command.file} ${command.args.join(' ')}: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || String(err)}`);
    }
  }
  for (const [name, wanted] of Object.entries(lbPodSysctls(service))) {
    const file = `/proc/sys/${name.replace(/\./g, '/')}`;
    try {
      if (fs.readFileSync(file, 'utf8').trim() !== wanted) fs.writeFileSync(file, wanted);
    } catch {
      // /proc/sys is read-only in unprivileged containers: the pod spec must set it.
      problems.push(`sysctl ${name} is not ${wanted} and cannot be set here; set it in the pod's securityContext.sysctls`);
    }
  }
  for (const problem of problems) log.log('error', 'network namespace setup incomplete', { problem });
  return problems;
}
