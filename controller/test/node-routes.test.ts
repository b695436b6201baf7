import { PREFIXES_ANNOTATION } from '../../lib/model';
import { LbPod, desiredRoutes, parseIpRouteJson, routeCommands } from '../src/node-routes';

const pod = (name: string, ip: string | undefined, prefixes: string, phase = 'Running'): LbPod => ({
  metadata: { name, annotations: { [PREFIXES_ANNOTATION]: prefixes } },
  status: { phase, podIP: ip },
});

test('routes each prefix to the running LB pods that carry it, terminating ones included (ECMP when several)', () => {
  const routes = desiredRoutes([
    pod('a', '198.18.1.7', '198.19.10.0/24, 198.19.11.0/24'),
    pod('b', '198.18.1.3', '198.19.10.0/24'),
    pod('pending', undefined, '198.19.12.0/24', 'Pending'),
    pod('done', '198.18.1.9', '198.19.13.0/24', 'Succeeded'),
    pod('v6-prefix-on-v4-pod', '198.18.1.8', '2001:db8::/64'),
  ]);
  expect([...routes]).toEqual([['198.19.10.0/24', ['198.18.1.3', '198.18.1.7']], ['198.19.11.0/24', ['198.18.1.7']]]);
});

test('parses ip -j route output, single and multipath, host routes as /32', () => {
  const json = JSON.stringify([
    { dst: '198.19.10.0/24', gateway: '198.18.1.7', dev: 'cni0', protocol: '212', flags: [] },
    { dst: '198.19.11.0/24', nexthops: [{ gateway: '198.18.1.7', dev: 'cni0' }, { gateway: '198.18.1.3', dev: 'cni0' }] },
    { dst: '198.19.12.1', gateway: '198.18.1.3' },
  ]);
  expect([...parseIpRouteJson(json)]).toEqual([
    ['198.19.10.0/24', ['198.18.1.7']], ['198.19.11.0/24', ['198.18.1.3', '198.18.1.7']], ['198.19.12.1/32', ['198.18.1.3']],
  ]);
  expect(parseIpRouteJson('').size).toBe(0);
});

test('commands: replace what differs, delete own stale routes, leave correct ones alone', () => {
  const current = new Map([['198.19.10.0/24', ['198.18.1.7']], ['198.19.11.0/24', ['198.18.1.7']], ['198.19.12.0/24', ['198.18.1.3']]]);
  const desired = new Map([['198.19.10.0/24', ['198.18.1.7']], ['198.19.11.0/24', ['198.18.1.3', '198.18.1.7']], ['2001:db8::/64', ['2001:db8:1::5']]]);
  expect(routeCommands(current, desired, 212)).toEqual([
    ['-4', 'route', 'replace', '198.19.11.0/24', 'nexthop', 'via', '198.18.1.3', 'nexthop', 'via', '198.18.1.7', 'proto', '212'],
    ['-6', 'route', 'replace', '2001:db8::/64', 'via', '2001:db8:1::5', 'proto', '212'],
    ['-4', 'route', 'del', '198.19.12.0/24', 'proto', '212'],
  ]);
});
