import { AddressFamily, AddressFamily as F, BGP_PASSWORD_PLACEHOLDER, PrefixLimitModel, RouteReflectorModel } from '../../lib/model';
import { renderFrrDaemons } from '../../lib/renderers/frr';
import { renderFrrReflector } from '../../lib/renderers/frr-reflector';
import { checkFrr } from '../support/daemons';
import { paperReflector } from '../support/paper-models';

const reflector = paperReflector;

/** The reflector as a topology with filters and TCP-MD5 on every session synthesizes it. */
const filtered: RouteReflectorModel = {
  ...reflector,
  clusterId: '10.0.0.1',
  filterPrefixes: true,
  acceptedPrefixes: ['10.1.1.0/24', '10.1.2.0/24'],
  prefixLimits: [{ family: F.IPV4_UNICAST, maxPrefixes: 1 }],
  routerBgpPassword: BGP_PASSWORD_PLACEHOLDER,
  lbBgpPassword: BGP_PASSWORD_PLACEHOLDER,
};

const dualStack: RouteReflectorModel = {
  ...filtered,
  lbNeighborPrefixes: ['172.16.0.0/16', '2001:db8:16::/48'],
  routers: [
    { address: '2001:db8::110', asn: 65021, description: 'router-r1', passive: true },
    { address: '10.0.0.111', asn: 65021, description: 'router-r2', passive: false },
  ],
  families: [AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST],
  acceptedPrefixes: ['10.1.1.0/24', '2001:db8:1:1::/64', '2001:db8:1:2::/64'],
  prefixLimits: [{ family: F.IPV4_UNICAST, maxPrefixes: 1 }, { family: F.IPV6_UNICAST, maxPrefixes: 2 }] as PrefixLimitModel[],
};

describe('renderFrrReflector', () => {
  test('matches the snapshot for the paper\'s reflector, and vtysh -C accepts it', () => {
    const text = renderFrrReflector(reflector);
    expect(text).toMatchSnapshot();
    expect(checkFrr(text)).toEqual({ code: 0, output: '' });
  });

  test('matches the snapshot with filters and passwords, and vtysh -C accepts it', () => {
    const text = renderFrrReflector(filtered);
    expect(text).toMatchSnapshot();
    expect(checkFrr(text)).toEqual({ code: 0, output: '' });
  });

  test('LB pods: a listen range per pod network into the signed peer group; routers: signed RR clients with all paths', () => {
    const text = renderFrrReflector(filtered);
    expect(text).toContain([
      'router bgp 65021',
      ' bgp router-id 10.0.0.109',
      ' bgp cluster-id 10.0.0.1',
      ' no bgp ebgp-requires-policy',
      ' no bgp default ipv4-unicast',
      ' neighbor lb-pods peer-group',
      ' neighbor lb-pods remote-as 65021',
      ' neighbor lb-pods timers 3 9',
      ` neighbor lb-pods password ${BGP_PASSWORD_PLACEHOLDER}`,
      ' bgp listen range 172.16.0.0/16 peer-group lb-pods',
      ' neighbor 10.0.0.110 remote-as 65021',
      ' neighbor 10.0.0.110 description router-r1',
      ' neighbor 10.0.0.110 timers 3 9',
      ' neighbor 10.0.0.110 timers connect 5',
      ` neighbor 10.0.0.110 password ${BGP_PASSWORD_PLACEHOLDER}`,
      ' !',
      ' address-family ipv4 unicast',
      '  neighbor lb-pods activate',
      '  neighbor lb-pods route-map ecmp-lb-from-lb-pods-v4 in',
      '  neighbor lb-pods maximum-prefix 1',
      '  neighbor 10.0.0.110 activate',
      '  neighbor 10.0.0.110 route-reflector-client',
      '  neighbor 10.0.0.110 addpath-tx-all-paths',
      '  neighbor 10.0.0.110 route-map ecmp-lb-from-routers in',
      ' exit-address-family',
    ].join('\n'));
    expect(text).toContain([
      'ip prefix-list ecmp-lb-from-lb-pods-v4-prefixes seq 5 permit 10.1.1.0/24',
      'ip prefix-list ecmp-lb-from-lb-pods-v4-prefixes seq 10 permit 10.1.2.0/24',
      '!',
      'route-map ecmp-lb-from-lb-pods-v4 permit 10',
      ' match ip address prefix-list ecmp-lb-from-lb-pods-v4-prefixes',
      'exit',
      '!',
      'route-map ecmp-lb-from-routers deny 10',
    ].join('\n'));
  });

  test('unfiltered and unsigned (the paper): no route-map, no limit, no password', () => {
    const text = renderFrrReflector(reflector);
    expect(text).not.toMatch(/route-map|prefix-list|maximum-prefix|password/);
  });

  test('signs only the router sessions when LB sessions are not signed', () => {
    const text = renderFrrReflector({ ...filtered, lbBgpPassword: '' });
    expect(text).not.toContain('neighbor lb-pods password');
    expect(text).toContain(` neighbor 10.0.0.110 password ${BGP_PASSWORD_PLACEHOLDER}\n`);
  });

  test('IPv6: both families, per-family filters and limits, passive routers, vtysh -C accepts it', () => {
    const text = renderFrrReflector(dualStack);
    expect(text).toContain(' bgp listen range 2001:db8:16::/48 peer-group lb-pods\n');
    expect(text).toContain('ipv6 nht resolve-via-default\n');
    expect(text).toContain('ipv6 prefix-list ecmp-lb-from-lb-pods-v6-prefixes seq 10 permit 2001:db8:1:2::/64\n');
    expect(text).toContain(' neighbor 2001:db8::110 passive\n');
    expect(text).toContain(' address-family ipv6 unicast\n  neighbor lb-pods activate\n  neighbor lb-pods route-map ecmp-lb-from-lb-pods-v6 in\n  neighbor lb-pods maximum-prefix 2\n');
    expect(checkFrr(text)).toEqual({ code: 0, output: '' });
  });

  test('a family without accepted prefixes denies everything from the LB pods', () => {
    const text = renderFrrReflector({ ...filtered, acceptedPrefixes: [] });
    expect(text).toContain('route-map ecmp-lb-from-lb-pods-v4 deny 10\n');
    expect(text).not.toContain('prefix-list');
    expect(checkFrr(text)).toEqual({ code: 0, output: '' });
  });

  test('refuses a key or a description that would read as more configuration', () => {
    expect(() => renderFrrReflector({ ...filtered, lbBgpPassword: 'a b\n neighbor 1.2.3.4 remote-as 1' })).toThrow(/TCP-MD5 key/);
    expect(() => renderFrrReflector({ ...filtered, routers: [{ ...filtered.routers[0], description: 'x\nrouter bgp 1' }] })).toThrow(/description/);
  });

  test('negative control: vtysh -C rejects a corrupted rendering', () => {
    const result = checkFrr(renderFrrReflector(filtered).replace('addpath-tx-all-paths', 'addpath-tx-some-paths'));
    expect(result.code).not.toBe(0);
  });

  test('BFD: the LB pods\' profile on the peer group, and one per set of timers on the routers that have BFD; vtysh -C accepts it', () => {
    const text = renderFrrReflector({
      ...filtered,
      bfd: { minIntervalMs: 300, multiplier: 3, localAddress: '10.0.0.109' },
      routers: [
        { address: '10.0.0.110', asn: 65021, description: 'router-r1', passive: false, bfd: { minIntervalMs: 300, multiplier: 3 } },
        { address: '10.0.0.111', asn: 65021, description: 'router-r2', passive: false },
      ],
    });
    expect(text).toMatchSnapshot();
    expect(text).toContain('bfd\n profile ecmp-lb-pods\n  transmit-interval 300\n  receive-interval 300\n  detect-multiplier 3\n exit\n'
      + ' profile ecmp-lb-routers-300x3\n  transmit-interval 300\n  receive-interval 300\n  detect-multiplier 3\n exit\nexit\n');
    expect(text).toContain(' neighbor lb-pods bfd profile ecmp-lb-pods\n');
    expect(text).toContain(' neighbor 10.0.0.110 bfd profile ecmp-lb-routers-300x3\n');
    expect(text).not.toContain(' neighbor 10.0.0.111 bfd');
    expect(checkFrr(text)).toEqual({ code: 0, output: '' });
  });

  test('daemons: zebra and bgpd', () => {
    expect(renderFrrDaemons('an ECMP route reflector', true)).toMatchSnapshot();
    expect(renderFrrDaemons('an ECMP route reflector', true)).toContain('bgpd=yes\n');
  });
});
