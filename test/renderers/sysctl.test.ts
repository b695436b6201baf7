import { AddressFamily } from '../../lib/model';
import { renderRouterSysctl } from '../../lib/renderers/sysctl';
import { checkSysctl } from '../support/daemons';

/** The settings of a sysctl.d file, without comments. */
function settings(text: string): string[] {
  return text.split('\n').filter(line => line !== '' && !line.startsWith('#'));
}

describe('renderRouterSysctl', () => {
  test('matches the snapshot for IPv4', () => {
    expect(renderRouterSysctl([AddressFamily.IPV4_UNICAST])).toMatchSnapshot();
  });

  test('IPv4: forwarding, flows hashed on ports too, dead next hops skipped', () => {
    expect(settings(renderRouterSysctl([AddressFamily.IPV4_UNICAST]))).toEqual([
      'net.ipv4.ip_forward = 1',
      'net.ipv4.fib_multipath_hash_policy = 1',
      'net.ipv4.fib_multipath_use_neigh = 1',
    ]);
  });

  test('IPv6 adds forwarding and the same hash policy', () => {
    expect(settings(renderRouterSysctl([AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST])).slice(3)).toEqual([
      'net.ipv6.conf.all.forwarding = 1',
      'net.ipv6.fib_multipath_hash_policy = 1',
    ]);
  });

  test('every key exists in this kernel (sysctl -p in a throwaway network namespace)', () => {
    const result = checkSysctl(renderRouterSysctl([AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST]));
    expect(result.code).toBe(0);
    expect(result.output).toContain('net.ipv6.fib_multipath_hash_policy = 1');
  });

  test('negative control: sysctl -p rejects an unknown key', () => {
    const result = checkSysctl(renderRouterSysctl([AddressFamily.IPV4_UNICAST]).replace('use_neigh', 'use_neighbour'));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('fib_multipath_use_neighbour');
  });
});
