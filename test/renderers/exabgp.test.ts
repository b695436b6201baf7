import { ExabgpModel } from '../../lib/model';
import { renderExabgp } from '../../lib/renderers/exabgp';
import { checkExabgp } from '../support/daemons';
import { paperPod } from '../support/paper-models';

/** `exabgp --test` checks that the program exists: use one that does. */
const ANNOUNCER_COMMAND = '/usr/bin/python3 /etc/ecmp-lb/announcer.py /run/ecmp-lb/announce';

const pod = paperPod;

const healthAware: ExabgpModel = { ...pod, neighbors: ['10.0.0.109', '10.0.0.119'], announcerCommand: ANNOUNCER_COMMAND };

const podV6: ExabgpModel = {
  ...pod,
  localAddress: '2001:db8:16::20:2',
  nextHop: '2001:db8::106',
  neighbors: ['2001:db8::109'],
  prefixes: ['2001:db8:1:1::/64', '2001:db8:1:2::/64'],
};

/** The lines of the block that starts with `header`, up to its closing brace at the same indent. */
function block(text: string, header: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex(line => line.trim() === `${header} {`);
  expect(start).toBeGreaterThanOrEqual(0);
  const indent = lines[start].length - lines[start].trimStart().length;
  const end = lines.findIndex((line, i) => i > start && line === `${' '.repeat(indent)}}`);
  return lines.slice(start + 1, end).map(line => line.trim());
}

const withAttributes: ExabgpModel = {
  ...pod, routeAttributes: { communities: ['65021:100', '65535:65281'], largeCommunities: ['65021:1:100'], localPreference: 200, med: 50 },
};

describe('renderExabgp', () => {
  test('matches the snapshot for the paper\'s pod (static routes)', () => {
    expect(renderExabgp(pod)).toMatchSnapshot();
  });

  test('matches the snapshot with an announcer process', () => {
    expect(renderExabgp(healthAware)).toMatchSnapshot();
  });

  test('one iBGP session to the reflector from the pod\'s address, static route via the node', () => {
    const text = renderExabgp(pod);
    const neighbor = block(text, 'neighbor 10.0.0.109');
    expect(neighbor).toEqual(expect.arrayContaining([
      'router-id 172.16.20.2;', 'local-address 172.16.20.2;', 'local-as 65021;', 'peer-as 65021;', 'hold-time 9;',
    ]));
    expect(block(text, 'family')).toEqual(['ipv4 unicast;']);
    expect(block(text, 'static')).toEqual(['route 10.1.1.0/24 next-hop 10.0.0.106;']);
    expect(text).not.toMatch(/process|api/);
  });

  test('with an announcer: a process, an api block in every neighbor, no static routes', () => {
    const text = renderExabgp(healthAware);
    expect(block(text, 'process announcer')).toEqual([`run ${ANNOUNCER_COMMAND};`, 'encoder text;']);
    for (const reflector of healthAware.neighbors) {
      const neighbor = block(text, `neighbor ${reflector}`);
      expect(neighbor).toContain('processes [ announcer ];');
      expect(neighbor.join('\n')).not.toMatch(/static|route /);
    }
  });

  test('IPv6 prefixes add the ipv6 unicast family', () => {
    const text = renderExabgp(podV6);
    expect(block(text, 'family')).toEqual(['ipv4 unicast;', 'ipv6 unicast;']);
    expect(block(text, 'static')).toEqual([
      'route 2001:db8:1:1::/64 next-hop 2001:db8::106;',
      'route 2001:db8:1:2::/64 next-hop 2001:db8::106;',
    ]);
  });

  test('dual-stack static routes: each prefix with the node\'s address of its family, over the IPv4 session; a family without one is refused', () => {
    const dual: ExabgpModel = { ...pod, prefixes: ['10.1.1.0/24', '2001:db8:1:1::/64'], otherNextHop: '2001:db8:ff::106' };
    const text = renderExabgp(dual);
    expect(text).toMatchSnapshot();
    expect(block(text, 'static')).toEqual([`route 10.1.1.0/24 next-hop ${pod.nextHop};`, 'route 2001:db8:1:1::/64 next-hop 2001:db8:ff::106;']);
    expect(block(text, 'family')).toEqual(['ipv4 unicast;', 'ipv6 unicast;']);
    expect(checkExabgp(text).code).toBe(0);
    expect(() => renderExabgp({ ...dual, otherNextHop: undefined })).toThrow(/exabgp needs a next hop of the family of 2001:db8:1:1::\/64: nextHop is 10\.0\.0\.\d+, otherNextHop not set/);
  });

  test('the announcer command is passed as plain words', () => {
    expect(renderExabgp({ ...healthAware, announcerCommand: '  /usr/bin/python3   a.py\tb ' })).toContain('    run /usr/bin/python3 a.py b;\n');
  });

  test.each([
    '/bin/sh -c "x; y"',
    '/usr/bin/python3 a.py; } neighbor 192.0.2.1 {',
    '/usr/bin/python3 a.py # comment',
    '/usr/bin/python3 [a]',
  ])('refuses an announcer command exabgp would not pass intact: %s', command => {
    expect(() => renderExabgp({ ...healthAware, announcerCommand: command })).toThrow(/announcer command/);
  });

  test.each([
    ['the paper\'s pod', pod],
    ['the health-aware pod', healthAware],
    ['the IPv6 pod', podV6],
    ['static routes with every route attribute', withAttributes],
  ])('exabgp --test accepts %s', (_name, model) => {
    expect(checkExabgp(renderExabgp(model))).toEqual({ code: 0, output: expect.any(String) });
  });

  test('negative control: exabgp --test rejects a corrupted rendering', () => {
    const result = checkExabgp(renderExabgp(pod).replace('next-hop 10.0.0.106', 'next-hop 10.0.0.256'));
    expect(result.code).not.toBe(0);
  });

  test('static routes carry the route attributes in exabgp\'s words, and a malformed one is refused', () => {
    expect(block(renderExabgp(withAttributes), 'static')).toEqual(pod.prefixes.map(prefix =>
      `route ${prefix} next-hop ${pod.nextHop} community [65021:100 65535:65281] large-community [65021:1:100] local-preference 200 med 50;`));
    const injected = { ...withAttributes, routeAttributes: { communities: ['1:1]; } neighbor 6.6.6.6 { local-as 1'], largeCommunities: [] } };
    expect(() => renderExabgp(injected)).toThrow(/route attribute "1:1\]; \} neighbor .*" is not `ASN:VALUE`/);
    expect(() => renderExabgp({ ...withAttributes, routeAttributes: { communities: [], largeCommunities: [], med: -1 } })).toThrow(/route attribute -1 is not an integer/);
  });
});
