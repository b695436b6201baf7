import { ForwardingMethod } from '../../lib/model';
import { netnsCommands, requiredSysctls } from '../src/netns';
import { serviceModel } from './fixtures';

test('NAT: conntrack for the SNAT rule, no sloppy_tcp', () => {
  const nat = serviceModel();
  expect(requiredSysctls(nat)).toEqual({ 'net.ipv4.ip_forward': '1', 'net.ipv4.vs.conn_reuse_mode': '0', 'net.ipv4.vs.conntrack': '1' });
  expect(netnsCommands(nat, '198.19.129.2').map((c) => c.file)).toEqual(['ip', 'nft']);
});

test.each([ForwardingMethod.TUNNEL, ForwardingMethod.DIRECT_ROUTING])('%s: sloppy_tcp so a flow moved here mid-connection is forwarded, no SNAT', (forwardingMethod) => {
  const service = serviceModel({ forwardingMethod, ports: [{ ...serviceModel().ports[0], backendPort: 80 }] });
  expect(requiredSysctls(service)).toEqual({ 'net.ipv4.ip_forward': '1', 'net.ipv4.vs.conn_reuse_mode': '0', 'net.ipv4.vs.sloppy_tcp': '1' });
  expect(netnsCommands(service, '198.19.129.2').map((c) => c.file)).toEqual(['ip']);
});
