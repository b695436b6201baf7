import { AddressFamily, UpstreamRouterModel } from '../../lib/model';
import { renderFrrRouter, renderFrrDaemons, renderZebraRouter } from '../../lib/renderers/frr';
import { checkFrr } from '../support/daemons';
import { paperRouter, paperRouterWithBfd } from '../support/paper-models';

const router = paperRouter;

const routerV6: UpstreamRouterModel = {
  ...router,
  reflectors: [
    { address: '2001:db8::109', asn: 65021, description: 'rr-rr1', passive: true },
    { address: '10.0.0.119', asn: 65021, description: 'rr-rr2', passive: false },
  ],
  maximumPaths: 64,
  servicePrefixes: ['10.1.1.0/24', '2001:db8:1:1::/64'],
  families: [AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST],
};

/** The lines from `start` to `end`, both included. */
function section(text: string, start: string, end: string): string[] {
  const lines = text.split('\n');
  const from = lines.indexOf(start);
  expect(from).toBeGreaterThanOrEqual(0);
  return lines.slice(from, lines.indexOf(end, from) + 1);
}

describe('renderFrrRouter', () => {
  test('matches the snapshot for the paper\'s router', () => {
    expect(renderFrrRouter(router)).toMatchSnapshot();
  });

  test('one iBGP session per reflector with the model\'s timers', () => {
    const text = renderFrrRouter(router);
    expect(text).toContain([
      'router bgp 65021',
      ' bgp router-id 10.0.0.110',
      ' no bgp ebgp-requires-policy',
      ' no bgp default ipv4-unicast',
      ' neighbor 10.0.0.109 remote-as 65021',
      ' neighbor 10.0.0.109 description rr-rr1',
      ' neighbor 10.0.0.109 timers 3 9',
      ' neighbor 10.0.0.109 timers connect 5',
    ].join('\n'));
    expect(text).not.toContain('passive');
  });

  test('installs up to maximumPaths iBGP paths per prefix', () => {
    expect(section(renderFrrRouter(router), ' address-family ipv4 unicast', ' exit-address-family')).toEqual([
      ' address-family ipv4 unicast',
      '  maximum-paths ibgp 16',
      '  neighbor 10.0.0.109 activate',
      ' exit-address-family',
    ]);
    expect(renderFrrRouter(router)).not.toContain('ipv6');
  });

  test('IPv6: a second family, every reflector active in both, passive where set', () => {
    const text = renderFrrRouter(routerV6);
    expect(text).toContain(' neighbor 2001:db8::109 passive\n');
    expect(text).not.toContain(' neighbor 10.0.0.119 passive');
    expect(section(text, ' address-family ipv6 unicast', ' exit-address-family')).toEqual([
      ' address-family ipv6 unicast',
      '  maximum-paths ibgp 64',
      '  neighbor 2001:db8::109 activate',
      '  neighbor 10.0.0.119 activate',
      ' exit-address-family',
    ]);
  });

  test.each([
    ['the paper\'s router', router],
    ['the dual-stack router', routerV6],
  ])('vtysh -C accepts %s', (_name, model) => {
    expect(checkFrr(renderFrrRouter(model))).toEqual({ code: 0, output: '' });
  });

  test('negative control: vtysh -C rejects a corrupted rendering', () => {
    const result = checkFrr(renderFrrRouter(router).replace('maximum-paths ibgp 16', 'maximum-paths ibgp 1000'));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('% Unknown command');
  });
});

describe('renderFrrRouter with BFD to the reflectors', () => {
  test('matches the snapshot', () => {
    expect(renderFrrRouter(paperRouterWithBfd)).toMatchSnapshot();
  });

  test('one bfdd profile per set of timers, before router bgp; each reflector with BFD names its own', () => {
    const text = renderFrrRouter(paperRouterWithBfd);
    expect(section(text, 'bfd', 'exit')).toEqual([
      'bfd',
      ' profile ecmp-lb-reflectors-300x3', '  transmit-interval 300', '  receive-interval 300', '  detect-multiplier 3', ' exit',
      ' profile ecmp-lb-reflectors-100x5', '  transmit-interval 100', '  receive-interval 100', '  detect-multiplier 5', ' exit',
      'exit',
    ]);
    expect(text.indexOf('\nbfd\n')).toBeLessThan(text.indexOf('router bgp'));
    expect(text).toContain(' neighbor 10.0.0.109 bfd profile ecmp-lb-reflectors-300x3\n');
    expect(text).toContain(' neighbor 10.0.0.108 bfd profile ecmp-lb-reflectors-300x3\n');
    expect(text).toContain(' neighbor 10.0.0.107 bfd profile ecmp-lb-reflectors-100x5\n');
    expect(text).not.toContain(' neighbor 10.0.0.106 bfd');
    // Without BFD on any session, no bfd block at all.
    expect(renderFrrRouter(router)).not.toMatch(/bfd/);
  });

  test('vtysh -C accepts it, and rejects a profile name that no profile defines', () => {
    expect(checkFrr(renderFrrRouter(paperRouterWithBfd))).toEqual({ code: 0, output: '' });
    const broken = checkFrr(renderFrrRouter(paperRouterWithBfd).replace(' profile ecmp-lb-reflectors-100x5\n  transmit-interval 100', ' profile ecmp-lb-reflectors-100x5\n  transmit-interval 1'));
    expect(broken.code).not.toBe(0);
  });
});

describe('renderFrrDaemons', () => {
  test('FRR daemon runs bgpd; zebra always runs', () => {
    expect(renderFrrDaemons('the upstream ECMP router', true)).toMatchSnapshot();
  });

  test('bfdd where the sessions have BFD, with its options', () => {
    const text = renderFrrDaemons('the upstream ECMP router', true, true);
    expect(text).toContain('\nbgpd=yes\nbfdd=yes\n');
    expect(text).toContain('\nbfdd_options="   -A 127.0.0.1"\n');
    expect(renderFrrDaemons('the upstream ECMP router', true)).not.toContain('bfdd');
  });

  test('the gobgpd daemon needs zebra only', () => {
    const text = renderFrrDaemons('the upstream ECMP router', false);
    expect(text).toContain('\nbgpd=no\n');
    expect(text).toContain('\nvtysh_enable=yes\n');
  });
});

describe('renderZebraRouter', () => {
  test('matches the snapshot, and vtysh -C accepts it', () => {
    const text = renderZebraRouter(router);
    expect(text).toMatchSnapshot();
    expect(checkFrr(text)).toEqual({ code: 0, output: '' });
  });
});
