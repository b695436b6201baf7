import { AddressFamily, RESILIENT_ROUTE_PROTOCOL, RESILIENT_SOURCE_TABLE, UpstreamRouterModel } from '../../lib/model';
import { renderBirdRouter } from '../../lib/renderers/bird';
import { checkBird } from '../support/daemons';
import { paperRouter, paperRouterWithBfd } from '../support/paper-models';

const router = paperRouter;

const routerV6: UpstreamRouterModel = {
  ...router,
  reflectors: [
    { address: '2001:db8::109', asn: 65021, description: 'rr-rr1', passive: true },
    { address: '10.0.0.119', asn: 65021, description: 'rr-rr2', passive: false },
  ],
  maximumPaths: 8,
  families: [AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST],
};

const resilientRouter: UpstreamRouterModel = {
  ...routerV6,
  resilientHashing: {
    sourceTable: RESILIENT_SOURCE_TABLE,
    protocol: RESILIENT_ROUTE_PROTOCOL,
    buckets: 512,
    idleTimerSeconds: 10,
    unbalancedTimerSeconds: 300,
  },
};

/** The lines of the top-level block that starts with `header`. */
function block(text: string, header: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`${header} {`);
  expect(start).toBeGreaterThanOrEqual(0);
  return lines.slice(start + 1, lines.indexOf('}', start));
}

describe('renderBirdRouter with BFD to the reflectors', () => {
  test('matches the snapshot', () => {
    expect(renderBirdRouter(paperRouterWithBfd)).toMatchSnapshot();
  });

  test('one protocol bfd; each session with BFD sets its own timers, the others none', () => {
    const text = renderBirdRouter(paperRouterWithBfd);
    expect(block(text, 'protocol bfd')).toEqual([]);
    expect(block(text, 'protocol bgp rr_10_0_0_109')).toContain('  bfd { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };');
    expect(block(text, 'protocol bgp rr_10_0_0_108')).toContain('  bfd { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };');
    expect(block(text, 'protocol bgp rr_10_0_0_107')).toContain('  bfd { min rx interval 100 ms; min tx interval 100 ms; multiplier 5; };');
    expect(block(text, 'protocol bgp rr_10_0_0_106').join('\n')).not.toContain('bfd');
    expect(renderBirdRouter(router)).not.toMatch(/bfd/);
  });

  test('bird -p accepts it, and rejects FRR\'s word for the multiplier in the block', () => {
    expect(checkBird(renderBirdRouter(paperRouterWithBfd))).toEqual({ code: 0, output: '' });
    expect(checkBird(renderBirdRouter(paperRouterWithBfd).replace('multiplier 5;', 'detect-multiplier 5;')).code).not.toBe(0);
  });
});

describe('renderBirdRouter', () => {
  test('matches the snapshot for the paper\'s router', () => {
    expect(renderBirdRouter(router)).toMatchSnapshot();
  });

  test('the kernel protocol merges up to maximumPaths equal paths into one route', () => {
    expect(block(renderBirdRouter(router), 'protocol kernel kernel_ipv4')).toEqual([
      '  ipv4 {',
      '    import none;',
      '    export all;',
      '  };',
      '  # Install equal paths as one ECMP route, not just the best one.',
      '  merge paths on limit 16;',
    ]);
  });

  test('one directly connected session per reflector receiving every path', () => {
    const session = block(renderBirdRouter(router), 'protocol bgp rr_10_0_0_109');
    expect(session).toEqual(expect.arrayContaining([
      '  description "rr-rr1";',
      '  local as 65021;',
      '  neighbor 10.0.0.109 as 65021;',
      '  direct;',
      '  hold time 9;',
      '  keepalive time 3;',
      '  connect retry time 5;',
      '  ipv4 {',
      '    import all;',
      '    export none;',
      '    add paths rx;',
      '    gateway direct;',
    ]));
    expect(session).not.toContain('  passive on;');
  });

  test('IPv6: a kernel protocol and a channel per family, passive where set', () => {
    const text = renderBirdRouter(routerV6);
    expect(block(text, 'protocol kernel kernel_ipv6')).toContain('  merge paths on limit 8;');
    const v6 = block(text, 'protocol bgp rr_2001_db8__109');
    expect(v6).toContain('  passive on;');
    expect(v6.filter(line => /^ {2}ipv[46] \{$/.test(line))).toEqual(['  ipv4 {', '  ipv6 {']);
    expect(block(text, 'protocol bgp rr_10_0_0_119')).not.toContain('  passive on;');
  });

  test('resilient hashing: each kernel protocol exports to table 240, for the installer', () => {
    const text = renderBirdRouter(resilientRouter);
    for (const channel of ['ipv4', 'ipv6']) expect(block(text, `protocol kernel kernel_${channel}`)).toContain('  kernel table 240;');
    expect(renderBirdRouter(router)).not.toContain('kernel table');
  });

  test.each([
    ['the paper\'s router', router],
    ['the dual-stack router', routerV6],
    ['the resilient-hashing router', resilientRouter],
  ])('bird -p accepts %s', (_name, model) => {
    expect(checkBird(renderBirdRouter(model))).toEqual({ code: 0, output: '' });
  });

  test('negative control: bird -p rejects a corrupted rendering', () => {
    const result = checkBird(renderBirdRouter(router).replace('add paths rx;', 'add paths rxx;'));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('syntax error');
  });
});
