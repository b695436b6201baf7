import { AddressFamily, BGP_PASSWORD_PLACEHOLDER, ExabgpModel, RouteReflectorModel, UpstreamRouterModel } from '../../lib/model';
import { renderBirdRouter } from '../../lib/renderers/bird';
import { renderExabgp } from '../../lib/renderers/exabgp';
import { renderFrrRouter } from '../../lib/renderers/frr';
import { renderGobgpdRouter, renderGobgpdReflector } from '../../lib/renderers/gobgpd';
import { parseToml } from '../../lib/toml';
import { CheckResult, checkBird, checkExabgp, checkFrr, checkGobgpd } from '../support/daemons';
import { paperPod, paperReflector, paperRouter } from '../support/paper-models';

// Prefix filtering and TCP-MD5 in every renderer, checked by the daemons' own checkers.

const reflector: RouteReflectorModel = {
  ...paperReflector,
  families: [AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST],
  filterPrefixes: true,
  acceptedPrefixes: ['10.1.1.0/24', '10.1.2.0/24', '2001:db8:1:1::/64'],
  prefixLimits: [{ family: AddressFamily.IPV4_UNICAST, maxPrefixes: 2 }, { family: AddressFamily.IPV6_UNICAST, maxPrefixes: 1 }],
  routerBgpPassword: BGP_PASSWORD_PLACEHOLDER,
  lbBgpPassword: BGP_PASSWORD_PLACEHOLDER,
};

const router: UpstreamRouterModel = {
  ...paperRouter,
  reflectors: [
    { address: '10.0.0.109', asn: 65021, description: 'rr-rr1', passive: false },
    { address: '2001:db8::119', asn: 65021, description: 'rr-rr2', passive: true },
  ],
  servicePrefixes: ['10.1.1.0/24', '10.1.2.0/24', '2001:db8:1:1::/64'],
  families: [AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST],
  filterPrefixes: true,
  bgpPassword: BGP_PASSWORD_PLACEHOLDER,
};

const exabgp: ExabgpModel = { ...paperPod, bgpPassword: 'c2VjcmV0+/=.key_~@%:-' };

const accepted = (what: string, result: CheckResult) => {
  if (result.code !== 0) throw new Error(`${what} was rejected (exit ${result.code}):\n${result.output}`);
};

describe('route reflector (gobgpd)', () => {
  const text = renderGobgpdReflector(reflector);
  const config = parseToml(text) as any;

  test('snapshot', () => expect(text).toMatchSnapshot());

  test('a global import policy accepts only the declared prefixes (exact length) from the pod networks; the rest is rejected', () => {
    expect(config.global['apply-policy'].config).toEqual({ 'import-policy-list': ['from-lb-pods'], 'default-import-policy': 'reject-route' });
    expect(config['defined-sets']['prefix-sets']).toEqual([
      { 'prefix-set-name': 'from-lb-pods-v4', 'prefix-list': [{ 'ip-prefix': '10.1.1.0/24' }, { 'ip-prefix': '10.1.2.0/24' }] },
      { 'prefix-set-name': 'from-lb-pods-v6', 'prefix-list': [{ 'ip-prefix': '2001:db8:1:1::/64' }] },
    ]);
    // No masklength-range anywhere: a more-specific of a service prefix is not matched.
    expect(text).not.toContain('masklength-range');
    expect(config['defined-sets']['neighbor-sets']).toEqual([{ 'neighbor-set-name': 'from-lb-pods-sources', 'neighbor-info-list': ['172.16.0.0/16'] }]);
    for (const statement of config['policy-definitions'][0].statements) {
      expect(statement.conditions['match-neighbor-set']).toEqual({ 'neighbor-set': 'from-lb-pods-sources', 'match-set-options': 'any' });
      expect(statement.actions['route-disposition']).toBe('accept-route');
    }
  });

  test('a per-session prefix limit per family on the LB peer group; none towards the routers', () => {
    expect(config['peer-groups'][0]['afi-safis'].map((a: any) => a['prefix-limit']?.config['max-prefixes'])).toEqual([2, 1]);
    expect(config.neighbors[0]['afi-safis'].every((a: any) => a['prefix-limit'] === undefined)).toBe(true);
  });

  test('TCP-MD5: the placeholder, never a key, on the peer group and the router sessions', () => {
    expect(config['peer-groups'][0].config['auth-password']).toBe(BGP_PASSWORD_PLACEHOLDER);
    expect(config.neighbors[0].config['auth-password']).toBe(BGP_PASSWORD_PLACEHOLDER);
    const routerOnly = parseToml(renderGobgpdReflector({ ...reflector, lbBgpPassword: '' })) as any;
    expect(routerOnly['peer-groups'][0].config['auth-password']).toBeUndefined();
  });

  test('no service yet: a policy without statements, rejecting every route', () => {
    const empty = parseToml(renderGobgpdReflector({ ...reflector, acceptedPrefixes: [], prefixLimits: [] })) as any;
    expect(empty['defined-sets']).toBeUndefined();
    expect(empty['policy-definitions']).toEqual([{ name: 'from-lb-pods' }]);
    expect(empty.global['apply-policy'].config['default-import-policy']).toBe('reject-route');
  });

  test('filterPrefixes false: the paper\'s accept-everything reflector, no policy', () => {
    const open = parseToml(renderGobgpdReflector({ ...reflector, filterPrefixes: false })) as any;
    expect(open.global['apply-policy']).toBeUndefined();
    expect(open['policy-definitions']).toBeUndefined();
    expect(open['peer-groups'][0]['afi-safis'][0]['prefix-limit']).toBeUndefined();
  });

  test.each([
    ['filtered, signed', reflector],
    ['no service yet', { ...reflector, acceptedPrefixes: [], prefixLimits: [] }],
    ['IPv4 only, a real key', { ...reflector, acceptedPrefixes: ['10.1.1.0/24'], families: [AddressFamily.IPV4_UNICAST], routerBgpPassword: 'k3y+/=', lbBgpPassword: '' }],
  ])('gobgpd -d accepts it: %s', (_name, model) => accepted('gobgpd.toml', checkGobgpd(renderGobgpdReflector(model))));

  test('gobgpd -d does not check policy contents (an unknown prefix set, a /33 pass): test/security/ runs the policy for real', () => {
    expect(checkGobgpd(text.replace('ip-prefix = "10.1.1.0/24"', 'ip-prefix = "10.1.1.0/33"')).code).toBe(0);
    expect(checkGobgpd(text.replace('prefix-set = "from-lb-pods-v4"', 'prefix-set = "nope"')).code).toBe(0);
  });
});

describe('upstream router', () => {
  test('FRR: a prefix-list and a route-map in per family, on every reflector; the password placeholder', () => {
    const text = renderFrrRouter(router);
    expect(text).toMatchSnapshot();
    expect(text).toContain('ip prefix-list ecmp-lb-in-v4-prefixes seq 5 permit 10.1.1.0/24\nip prefix-list ecmp-lb-in-v4-prefixes seq 10 permit 10.1.2.0/24\n');
    expect(text).toContain('ipv6 prefix-list ecmp-lb-in-v6-prefixes seq 5 permit 2001:db8:1:1::/64\n');
    expect(text).not.toMatch(/ ge | le /);
    expect(text).toContain('  neighbor 10.0.0.109 route-map ecmp-lb-in-v4 in\n');
    expect(text).toContain('  neighbor 2001:db8::119 route-map ecmp-lb-in-v6 in\n');
    expect(text).toContain(` neighbor 10.0.0.109 password ${BGP_PASSWORD_PLACEHOLDER}\n`);
    accepted('frr.conf', checkFrr(text));
  });

  test('FRR: a family without service prefixes denies everything', () => {
    const text = renderFrrRouter({ ...router, servicePrefixes: ['10.1.1.0/24'] });
    expect(text).toContain('route-map ecmp-lb-in-v6 deny 10\n');
    accepted('frr.conf', checkFrr(text));
    accepted('frr.conf (unsigned, no service)', checkFrr(renderFrrRouter({ ...router, servicePrefixes: [], bgpPassword: '' })));
  });

  test('BIRD: an import filter per channel with the exact prefixes; the password placeholder', () => {
    const text = renderBirdRouter(router);
    expect(text).toMatchSnapshot();
    expect(text).toContain('    import where net ~ [ 10.1.1.0/24, 10.1.2.0/24 ];\n');
    expect(text).toContain('    import where net ~ [ 2001:db8:1:1::/64 ];\n');
    expect(text).toContain(`  password "${BGP_PASSWORD_PLACEHOLDER}";\n`);
    expect(text).not.toContain('import all');
    accepted('bird.conf', checkBird(text));
    const v4only = renderBirdRouter({ ...router, servicePrefixes: ['10.1.1.0/24'] });
    expect(v4only).toContain('  ipv6 {\n    import none;\n    export none;\n    add paths rx;');
    accepted('bird.conf (v4 services only)', checkBird(v4only));
  });

  test('gobgpd router: a global import policy with the service prefixes; the password placeholder', () => {
    const text = renderGobgpdRouter(router);
    expect(text).toMatchSnapshot();
    const config = parseToml(text) as any;
    expect(config.global['apply-policy'].config).toEqual({ 'import-policy-list': ['from-reflectors'], 'default-import-policy': 'reject-route' });
    expect(config['defined-sets']['neighbor-sets']).toBeUndefined();
    expect(config.neighbors.map((n: any) => n.config['auth-password'])).toEqual([BGP_PASSWORD_PLACEHOLDER, BGP_PASSWORD_PLACEHOLDER]);
    accepted('gobgpd.toml', checkGobgpd(text));
  });
});

describe('exabgp (LB pod)', () => {
  test('md5-password on every neighbor, accepted by exabgp --test', () => {
    const text = renderExabgp({ ...exabgp, neighbors: ['10.0.0.109', '10.0.0.119'] });
    expect(text.match(/md5-password "c2VjcmV0\+\/=\.key_~@%:-";/g)).toHaveLength(2);
    accepted('exabgp.conf', checkExabgp(text));
    expect(renderExabgp({ ...exabgp, bgpPassword: '' })).not.toContain('md5');
  });
});

describe('every renderer refuses a key that is not plain', () => {
  test.each([
    ['a quote', 'ab"c'], ['a space', 'a b'], ['a newline', 'a\nneighbor 1.2.3.4 remote-as 1'], ['a brace', 'a}'],
    ['a semicolon', 'a;'], ['a backslash', 'a\\'], ['81 characters', 'k'.repeat(81)], ['non-ASCII', 'pässword'],
  ])('%s', (_name, key) => {
    expect(() => renderExabgp({ ...exabgp, bgpPassword: key })).toThrow(/a TCP-MD5 key must be 1-80 characters/);
    expect(() => renderFrrRouter({ ...router, bgpPassword: key })).toThrow(/TCP-MD5 key/);
    expect(() => renderBirdRouter({ ...router, bgpPassword: key })).toThrow(/TCP-MD5 key/);
    expect(() => renderGobgpdRouter({ ...router, bgpPassword: key })).toThrow(/TCP-MD5 key/);
    expect(() => renderGobgpdReflector({ ...reflector, lbBgpPassword: key })).toThrow(/TCP-MD5 key/);
    expect(() => renderGobgpdReflector({ ...reflector, routerBgpPassword: key })).toThrow(/TCP-MD5 key/);
  });

  test('the message never echoes the key', () => {
    expect(() => renderExabgp({ ...exabgp, bgpPassword: 'hunter2 "x' })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
  });
});
