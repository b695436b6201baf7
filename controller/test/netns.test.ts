import { execFileSync } from 'node:child_process';
import { serviceModel } from './fixtures';
import { lbPodSysctls } from '../../lib/lb-pod-contract';
import { ForwardingMethod, Protocol } from '../../lib/model';
import { lbRuleset, netnsCommands } from '../src/netns';

const tunnel = (forwardingMethod = ForwardingMethod.TUNNEL) => serviceModel({
  forwardingMethod,
  ports: [{ ...serviceModel().ports[0], backendPort: 80 }],
});

/** What the kernel holds after `nft -f` of `ruleset` (twice: re-applying must replace, not add) in a fresh network namespace. */
function appliedRuleset(ruleset: string): string {
  return execFileSync('unshare', ['-n', 'sh', '-c', 'nft -f /dev/stdin <<EOF\n' + ruleset + 'EOF\nnft -f /dev/stdin <<EOF\n' + ruleset + 'EOF\nnft list ruleset'], { encoding: 'utf8' });
}

test('NAT: conntrack for the SNAT rule, no sloppy_tcp', () => {
  const nat = serviceModel();
  expect(lbPodSysctls(nat)).toEqual({ 'net.ipv4.ip_forward': '1', 'net.ipv4.vs.conn_reuse_mode': '0', 'net.ipv4.vs.conntrack': '1' });
  expect(netnsCommands(nat, '198.19.129.2').map((c) => [c.file, ...c.args].join(' '))).toEqual(['ip -4 route replace local 198.19.10.0/24 dev lo', 'nft -f -']);
});

test.each([ForwardingMethod.TUNNEL, ForwardingMethod.DIRECT_ROUTING])('%s: sloppy_tcp so a flow moved here mid-connection is forwarded, no SNAT and no conntrack', (forwardingMethod) => {
  const service = tunnel(forwardingMethod);
  expect(lbPodSysctls(service)).toEqual({ 'net.ipv4.ip_forward': '1', 'net.ipv4.vs.conn_reuse_mode': '2', 'net.ipv4.vs.sloppy_tcp': '1' });
  expect(netnsCommands(service, '198.19.129.2').map((c) => c.file)).toEqual(['ip', 'nft']);
  expect(lbRuleset(service, '198.19.129.2')).not.toContain('snat');
});

describe('the pod ruleset, applied by the real nft', () => {
  test('NAT: connection attempts and UDP that IPVS left dropped (mid-flow TCP still reset), forwarded VIP traffic SNATed to the pod IP', () => {
    const service = serviceModel({
      ports: [{ port: 80, backendPort: 8080, protocol: Protocol.TCP }, { port: 53, backendPort: 5353, protocol: Protocol.UDP }],
    });
    const listed = appliedRuleset(lbRuleset(service, '198.19.129.2'));
    expect(listed.match(/table ip ecmp_lb/g)).toHaveLength(1);
    expect(listed).toContain('type filter hook input priority 100; policy accept;');
    expect(listed).toContain('ip daddr 198.19.10.0/24 meta l4proto udp drop');
    expect(listed).toContain('ip daddr 198.19.10.0/24 tcp flags syn / syn,ack drop');
    expect(listed).not.toContain('l4proto tcp');
    expect(listed).toContain('ct original ip daddr 198.19.10.1 ct protocol tcp ct original proto-dst 80 snat to 198.19.129.2');
    expect(listed).toContain('ct original ip daddr 198.19.10.1 ct protocol udp ct original proto-dst 53 snat to 198.19.129.2');
  });

  test('TUN, IPv6: every TCP and UDP packet that IPVS left dropped, no SNAT, in the ip6 family', () => {
    const service = serviceModel({ forwardingMethod: ForwardingMethod.TUNNEL, prefixes: ['2001:db8:10::/64'], vips: ['2001:db8:10::1'], ports: [{ port: 80, backendPort: 80, protocol: Protocol.TCP }] });
    const listed = appliedRuleset(lbRuleset(service, '2001:db8:129::2'));
    expect(listed).toContain('table ip6 ecmp_lb');
    expect(listed).toContain('ip6 daddr 2001:db8:10::/64 meta l4proto udp drop');
    expect(listed).toContain('ip6 daddr 2001:db8:10::/64 meta l4proto tcp drop');
    expect(listed).not.toContain('postrouting');
  });
});
