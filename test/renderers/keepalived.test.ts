import { ForwardingMethod, HealthCheckModel, HealthCheckType, KeepalivedModel, Protocol, VirtualServerModel } from '../../lib/model';
import { renderKeepalived } from '../../lib/renderers/keepalived';
import { checkKeepalived } from '../support/daemons';

const tcpCheck: HealthCheckModel = {
  type: HealthCheckType.TCP, intervalSeconds: 2, timeoutSeconds: 1, retries: 2, httpPath: '/', httpExpectStatus: 200,
};
const httpCheck: HealthCheckModel = { ...tcpCheck, type: HealthCheckType.HTTP, httpPath: '/healthz', httpExpectStatus: 204 };

/** The paper's service: VIP in 10.1.1.0/24, backends in the pod network. */
const web: VirtualServerModel = {
  vip: '10.1.1.1',
  port: 80,
  protocol: Protocol.TCP,
  scheduler: 'mh',
  forwardingMethod: ForwardingMethod.NAT,
  healthCheck: tcpCheck,
  realServers: [
    { address: '172.16.30.2', port: 8080, weight: 1 },
    { address: '172.16.30.3', port: 8080, weight: 1 },
  ],
};

const lb: KeepalivedModel = { routerId: 'lb-172.16.20.2', virtualServers: [web] };

const webV6: VirtualServerModel = {
  ...web,
  vip: '2001:db8:1:1::1',
  scheduler: 'wrr',
  healthCheck: httpCheck,
  realServers: [
    { address: '2001:db8:16::30:2', port: 8080, weight: 3 },
    { address: '2001:db8:16::30:3', port: 8080, weight: 0 },
  ],
};

describe('renderKeepalived', () => {
  test('matches the snapshot for the paper\'s service', () => {
    expect(renderKeepalived(lb)).toMatchSnapshot();
  });

  test('matches the snapshot for IPv6 with an HTTP check, and an empty virtual server', () => {
    const model = { routerId: 'lb-2', virtualServers: [webV6, { ...web, port: 443, realServers: [] }] };
    expect(renderKeepalived(model)).toMatchSnapshot();
  });

  test('virtual server: scheduler, mh-port and mh-fallback for Maglev only, forwarding method, protocol, check interval', () => {
    const text = renderKeepalived(lb);
    expect(text).toContain([
      'virtual_server 10.1.1.1 80 {',
      '    delay_loop 2',
      '    lb_algo mh',
      '    mh-port',
      '    mh-fallback',
      '    lb_kind NAT',
      '    protocol TCP',
    ].join('\n'));
    const rr = renderKeepalived({ ...lb, virtualServers: [{ ...web, scheduler: 'rr', forwardingMethod: ForwardingMethod.DIRECT_ROUTING, protocol: Protocol.UDP }] });
    expect(rr).not.toContain('mh-port');
    expect(rr).not.toContain('mh-fallback');
    expect(rr).toContain('    lb_algo rr\n    lb_kind DR\n    protocol UDP\n');
  });

  test('TCP check against the real server\'s port', () => {
    expect(renderKeepalived(lb)).toContain([
      '    real_server 172.16.30.2 8080 {',
      '        weight 1',
      '        TCP_CHECK {',
      '            connect_port 8080',
      '            connect_timeout 1',
      '            retry 2',
      '            delay_before_retry 2',
      '        }',
      '    }',
    ].join('\n'));
  });

  test('HTTP check: path, expected status, timing', () => {
    const text = renderKeepalived({ ...lb, virtualServers: [webV6] });
    expect(text).toContain([
      '    real_server 2001:db8:16::30:3 8080 {',
      '        weight 0',
      '        HTTP_GET {',
      '            url {',
      '                path "/healthz"',
      '                status_code 204',
      '            }',
      '            connect_port 8080',
      '            connect_timeout 1',
      '            retry 2',
      '            delay_before_retry 2',
      '        }',
      '    }',
    ].join('\n'));
    expect(text).not.toContain('TCP_CHECK');
  });

  test('an HTTP path keeps `!` and `#` (quoted) and cannot expand a keepalived definition', () => {
    const model = { ...lb, virtualServers: [{ ...web, healthCheck: { ...httpCheck, httpPath: '/a!b#c?x=$_PWD' } }] };
    expect(renderKeepalived(model)).toContain('path "/a!b#c?x=%24_PWD"');
  });

  test('refuses strings keepalived cannot quote', () => {
    expect(() => renderKeepalived({ ...lb, routerId: 'a"b' })).toThrow(/cannot hold/);
    expect(() => renderKeepalived({ ...lb, routerId: 'a\nvirtual_server' })).toThrow(/cannot hold/);
  });

  test('writes real servers in the order given, and equal input gives equal output', () => {
    const unsorted = { ...web, realServers: [...web.realServers].reverse() };
    const text = renderKeepalived({ ...lb, virtualServers: [unsorted] });
    expect(text.indexOf('172.16.30.3')).toBeLessThan(text.indexOf('172.16.30.2'));
    expect(renderKeepalived(structuredClone(lb))).toBe(renderKeepalived(lb));
  });

  test('a virtual server without real servers is left out, with a note', () => {
    const text = renderKeepalived({ ...lb, virtualServers: [{ ...web, realServers: [] }] });
    expect(text).not.toContain('virtual_server 10.1.1.1 80 {');
    expect(text).toContain('# virtual_server 10.1.1.1 80 TCP: no ready real server');
  });

  test.each([
    ['the paper\'s service', lb],
    ['IPv6 with an HTTP check', { ...lb, virtualServers: [webV6] }],
    ['every method and protocol, other schedulers, no retry', {
      ...lb,
      virtualServers: [
        // DR and TUN cannot map ports: keepalived -t warns (exit 5) unless the ports match.
        { ...web, port: 8080, scheduler: 'sh', forwardingMethod: ForwardingMethod.DIRECT_ROUTING, protocol: Protocol.UDP },
        { ...web, port: 8080, scheduler: 'wlc', forwardingMethod: ForwardingMethod.TUNNEL },
        { ...web, port: 82, healthCheck: { ...tcpCheck, retries: 0 } },
      ],
    }],
    ['a virtual server without real servers', { ...lb, virtualServers: [{ ...web, realServers: [] }] }],
    ['no virtual servers', { ...lb, virtualServers: [] }],
  ])('keepalived -t accepts %s', (_name, model) => {
    expect(checkKeepalived(renderKeepalived(model))).toEqual({ code: 0, output: '' });
  });

  test('a UDP port gets a UDP probe, a TCP port a connect', () => {
    const text = renderKeepalived({ ...lb, virtualServers: [{ ...web, protocol: Protocol.UDP, port: 53, realServers: [{ address: '10.1.0.5', port: 53, weight: 1 }] }, web] });
    expect(text.match(/UDP_CHECK \{/g)).toHaveLength(1);
    expect(text).toContain('TCP_CHECK {');
    expect(checkKeepalived(text)).toEqual({ code: 0, output: '' });
  });

  test('why empty virtual servers are left out: keepalived -t fails on one', () => {
    const empty = 'virtual_server 10.1.1.1 80 {\n    lb_algo mh\n    lb_kind NAT\n    protocol TCP\n}\n';
    const result = checkKeepalived(renderKeepalived({ ...lb, virtualServers: [] }) + empty);
    expect(result).toEqual({ code: 5, output: expect.stringContaining('has no real servers - ignoring') });
  });

  test('negative control: keepalived -t rejects a corrupted rendering', () => {
    const result = checkKeepalived(renderKeepalived(lb).replace('connect_timeout', 'connect_timeuot'));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Unknown keyword \'connect_timeuot\'');
  });
});
