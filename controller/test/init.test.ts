import { serviceModel } from './fixtures';
import { bgpRouterId, dnsResolver, exabgpModel } from '../src/init';

test('exabgp model: pod IP as local address and router id, node IP as next hop', () => {
  const pod = { podIp: '198.18.1.7', nodeIp: '198.18.0.5', podName: 'lb-0', podNamespace: 'shop' };
  expect(exabgpModel(serviceModel(), pod, ['198.18.0.1'], 'cmd')).toEqual({
    asn: 65000, routerId: '198.18.1.7', localAddress: '198.18.1.7', nextHop: '198.18.0.5', holdTimeSeconds: 9,
    neighbors: ['198.18.0.1'], prefixes: ['198.19.10.0/24'], announcerCommand: 'cmd',
  });
});

test('an IPv6 pod gets a dotted-quad router id from its low 32 bits', () => {
  expect(bgpRouterId('2001:db8:130::c612:107')).toBe('198.18.1.7');
  expect(bgpRouterId('198.18.1.7')).toBe('198.18.1.7');
});

test('literal reflector addresses are used as they are', async () => {
  const resolve = dnsResolver(4, 1, 0);
  expect(await resolve('198.18.0.1')).toBe('198.18.0.1');
  await expect(resolve('no-such-host.invalid')).rejects.toThrow(/cannot resolve route reflector no-such-host.invalid/);
});
