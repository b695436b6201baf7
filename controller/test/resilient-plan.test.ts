import { ResilientHashingModel } from '../../lib/model';
import { FIRST_NEXTHOP_ID, InstalledState, parseInstalledState, parseSourceRoutes, planResilientRoutes } from '../src/resilient-plan';

const CONFIG: ResilientHashingModel = { sourceTable: 240, protocol: 213, buckets: 64, idleTimerSeconds: 10, unbalancedTimerSeconds: 120 };
const GROUP_ARGS = ['type', 'resilient', 'buckets', '64', 'idle_timer', '10', 'unbalanced_timer', '120', 'proto', '213'];
const hop = (gateway: string) => ({ gateway, dev: 'eth1' });
const empty = (): InstalledState => ({ hops: new Map(), groups: new Map(), routes: new Map(), usedIds: new Set() });
const id = (n: number) => String(FIRST_NEXTHOP_ID + n);

describe('parseSourceRoutes', () => {
  test('reads multipath and single-path routes, skips routes without a gateway, sorts the hops', () => {
    const routes = parseSourceRoutes(JSON.stringify([
      { dst: '198.18.100.0/24', nexthops: [{ gateway: '198.18.0.3', dev: 'eth1' }, { gateway: '198.18.0.2', dev: 'eth1' }] },
      { dst: '198.18.101.7', gateway: '198.18.0.2', dev: 'eth1' },
      { dst: '198.18.102.0/24', type: 'blackhole' },
    ]));
    expect([...routes]).toEqual([
      ['198.18.100.0/24', [hop('198.18.0.2'), hop('198.18.0.3')]],
      ['198.18.101.7/32', [hop('198.18.0.2')]],
    ]);
  });
});

describe('planResilientRoutes', () => {
  const group = (members: number[], buckets = 64, idleTimer = 10) => ({ members, buckets, idleTimer, unbalancedTimer: 120 });

  test('from nothing: two nexthops per gateway (a group of one would not hash), one resilient group per prefix, the route through it', () => {
    const source = new Map([['198.18.100.0/24', [hop('198.18.0.2'), hop('198.18.0.3')]]]);
    expect(planResilientRoutes(source, empty(), CONFIG)).toEqual([
      ['nexthop', 'add', 'id', id(0), 'via', '198.18.0.2', 'dev', 'eth1', 'proto', '213'],
      ['nexthop', 'add', 'id', id(1), 'via', '198.18.0.2', 'dev', 'eth1', 'proto', '213'],
      ['nexthop', 'add', 'id', id(2), 'via', '198.18.0.3', 'dev', 'eth1', 'proto', '213'],
      ['nexthop', 'add', 'id', id(3), 'via', '198.18.0.3', 'dev', 'eth1', 'proto', '213'],
      ['nexthop', 'add', 'id', id(4), 'group', `${id(0)}/${id(1)}/${id(2)}/${id(3)}`, ...GROUP_ARGS],
      ['-4', 'route', 'replace', '198.18.100.0/24', 'nhid', id(4), 'proto', '213'],
    ]);
  });

  test('a next hop joins: the group is replaced in place (its buckets stay), the route is untouched', () => {
    const installed: InstalledState = {
      hops: new Map([[1, hop('198.18.0.2')], [2, hop('198.18.0.2')]]),
      groups: new Map([[3, group([1, 2])]]),
      routes: new Map([['198.18.100.0/24', 3]]),
      usedIds: new Set([1, 2, 3, FIRST_NEXTHOP_ID]),
    };
    const source = new Map([['198.18.100.0/24', [hop('198.18.0.2'), hop('198.18.0.3')]]]);
    expect(planResilientRoutes(source, installed, CONFIG)).toEqual([
      // id(0) is someone else's: the next free ones are taken.
      ['nexthop', 'add', 'id', id(1), 'via', '198.18.0.3', 'dev', 'eth1', 'proto', '213'],
      ['nexthop', 'add', 'id', id(2), 'via', '198.18.0.3', 'dev', 'eth1', 'proto', '213'],
      ['nexthop', 'replace', 'id', '3', 'group', `1/2/${id(1)}/${id(2)}`, ...GROUP_ARGS],
    ]);
    expect(planResilientRoutes(new Map([['198.18.100.0/24', [hop('198.18.0.2')]]]), installed, CONFIG)).toEqual([]);
  });

  test('a next hop leaves: the group shrinks first, then its nexthops go', () => {
    const installed: InstalledState = {
      hops: new Map([[1, hop('198.18.0.2')], [2, hop('198.18.0.2')], [4, hop('198.18.0.3')], [5, hop('198.18.0.3')]]),
      groups: new Map([[3, group([1, 2, 4, 5])]]),
      routes: new Map([['198.18.100.0/24', 3]]),
      usedIds: new Set([1, 2, 3, 4, 5]),
    };
    expect(planResilientRoutes(new Map([['198.18.100.0/24', [hop('198.18.0.3')]]]), installed, CONFIG)).toEqual([
      ['nexthop', 'replace', 'id', '3', 'group', '4/5', ...GROUP_ARGS],
      ['nexthop', 'del', 'id', '1'],
      ['nexthop', 'del', 'id', '2'],
    ]);
  });

  test('a prefix withdrawn: route, group and its unshared nexthops go, in that order; shared nexthops stay', () => {
    const installed: InstalledState = {
      hops: new Map([[1, hop('198.18.0.2')], [2, hop('198.18.0.2')], [4, hop('198.18.0.3')], [5, hop('198.18.0.3')]]),
      groups: new Map([[3, group([1, 2, 4, 5])], [6, group([4, 5])]]),
      routes: new Map([['198.18.100.0/24', 3], ['198.18.101.0/24', 6]]),
      usedIds: new Set([1, 2, 3, 4, 5, 6]),
    };
    expect(planResilientRoutes(new Map([['198.18.101.0/24', [hop('198.18.0.3')]]]), installed, CONFIG)).toEqual([
      ['-4', 'route', 'del', '198.18.100.0/24', 'proto', '213'],
      ['nexthop', 'del', 'id', '3'],
      ['nexthop', 'del', 'id', '1'],
      ['nexthop', 'del', 'id', '2'],
    ]);
  });

  test('a new bucket count (the kernel cannot change it): a new group beside the old, the route moved, the old group removed', () => {
    const installed: InstalledState = {
      hops: new Map([[1, hop('198.18.0.2')], [2, hop('198.18.0.2')]]),
      groups: new Map([[3, group([1, 2], 32)]]),
      routes: new Map([['2001:db8:100::/64', 3]]),
      usedIds: new Set([1, 2, 3]),
    };
    expect(planResilientRoutes(new Map([['2001:db8:100::/64', [hop('198.18.0.2')]]]), installed, CONFIG)).toEqual([
      ['nexthop', 'add', 'id', id(0), 'group', '1/2', ...GROUP_ARGS],
      ['-6', 'route', 'replace', '2001:db8:100::/64', 'nhid', id(0), 'proto', '213'],
      ['nexthop', 'del', 'id', '3'],
    ]);
  });

  test('a new timer is applied in place; a third twin is removed', () => {
    const installed: InstalledState = {
      hops: new Map([[1, hop('198.18.0.2')], [2, hop('198.18.0.2')], [4, hop('198.18.0.2')]]),
      groups: new Map([[3, group([1, 2, 4], 64, 5)]]),
      routes: new Map([['198.18.100.0/24', 3]]),
      usedIds: new Set([1, 2, 3, 4]),
    };
    expect(planResilientRoutes(new Map([['198.18.100.0/24', [hop('198.18.0.2')]]]), installed, CONFIG)).toEqual([
      ['nexthop', 'replace', 'id', '3', 'group', '1/2', ...GROUP_ARGS],
      ['nexthop', 'del', 'id', '4'],
    ]);
  });
});

describe('parseInstalledState', () => {
  test('keeps only its own objects, but every id as used', () => {
    const state = parseInstalledState(JSON.stringify([
      { id: 1, gateway: '198.18.0.2', dev: 'eth1', protocol: '213' },
      { id: 3, group: [{ id: 1 }], type: 'resilient', resilient_args: { buckets: 64, idle_timer: 10, unbalanced_timer: 120 }, protocol: '213' },
      { id: 9, gateway: '198.18.0.9', dev: 'eth1', protocol: 'zebra' },
    ]), 213, [JSON.stringify([{ dst: '198.18.100.0/24', nhid: 3 }]), '']);
    expect(state).toEqual({
      hops: new Map([[1, hop('198.18.0.2')]]),
      groups: new Map([[3, { members: [1], buckets: 64, idleTimer: 10, unbalancedTimer: 120 }]]),
      routes: new Map([['198.18.100.0/24', 3]]),
      usedIds: new Set([1, 3, 9]),
    });
  });
});
