import { checkBatch } from './support/daemon-batch';
import { checkExabgp, checkFrr, checkGobgpd } from './support/daemons';

// The batched checkers give the same verdict as the one-file checkers of daemons.ts.

const exabgp = (nextHop: string) => [
  'neighbor 198.18.0.109 {', '    router-id 198.19.130.2;', '    local-address 198.19.130.2;', '    local-as 65021;', '    peer-as 65021;',
  '    family {', '        ipv4 unicast;', '        ipv6 unicast;', '    }',
  '    static {', `        route 2001:db8:1::/64 next-hop ${nextHop};`, '    }', '}', '',
].join('\n');

test('exabgp (forked from one Python process), vtysh and gobgpd: same verdicts as the commands, duplicates checked once', async () => {
  const good = exabgp('2001:db8::106');
  // exabgp refuses an IPv6 route with an IPv4 next hop.
  const bad = exabgp('198.18.0.106');
  const frrBad = 'router bgp 65021\n neighbor 198.18.0.109 remote-as\n';
  const gobgpdBad = '[global.config]\nas = "x"\n';
  expect([checkExabgp(good).code, checkExabgp(bad).code]).toEqual([0, 1]);
  const report = await checkBatch([
    { kind: 'exabgp', text: good, origin: 'good' },
    { kind: 'exabgp', text: bad, origin: 'bad' },
    { kind: 'exabgp', text: good, origin: 'good again' },
    { kind: 'frr', text: frrBad, origin: 'frr' },
    { kind: 'gobgpd', text: gobgpdBad, origin: 'gobgpd' },
    { kind: 'json', text: '{"a":', origin: 'json' },
  ], 2);
  expect(report.submitted).toBe(6);
  expect(report.checked).toBe(5);
  expect(report.failures.map(f => [f.origins, f.code]).sort()).toEqual([
    [['bad'], 1], [['frr'], checkFrr(frrBad).code], [['gobgpd'], checkGobgpd(gobgpdBad).code], [['json'], 1],
  ].sort());
  expect(report.failures.find(f => f.kind === 'exabgp')!.output).toContain('decoding routes in configuration');
}, 30_000);
