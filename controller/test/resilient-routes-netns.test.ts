import { execFileSync } from 'node:child_process';
import { waitFor } from './wait';
import { ResilientHashingModel } from '../../lib/model';
import { silentLogger } from '../src/log';
import { runResilientRoutes, syncResilientRoutes } from '../src/resilient-routes';

/**
 * The installer against the real kernel, in a "router" network namespace: the routing daemon's
 * table is filled by hand, as BIRD's kernel protocol would (`kernel table 240`), and the main
 * table's resilient groups are read back bucket by bucket (`ip nexthop bucket show`).
 */
const NS = `ecmprr-${process.pid}`;
const PREFIX = '198.18.100.0/24';
const ip = (...args: string[]) => execFileSync('ip', ['-n', NS, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const gateways = (n: number) => [2, 3, 4, 5].slice(0, n).map((last) => `198.18.5.${last}`);
const setSource = (hops: string[]) => {
  if (hops.length === 0) ip('route', 'del', PREFIX, 'table', '240');
  else ip('route', 'replace', PREFIX, 'table', '240', 'proto', 'bird', ...hops.flatMap((g) => ['nexthop', 'via', g, 'dev', 'v0']));
};
/** The main table's route; a resilient group lists each gateway twice (two members per next hop). */
const mainRoute = () => JSON.parse(ip('-j', 'route', 'show', 'exact', PREFIX, 'table', 'main')) as { nhid?: number; protocol?: string; nexthops?: { gateway: string }[] }[];
/** bucket index -> the gateway it sends to */
function buckets(): Map<number, string> {
  const [route] = mainRoute();
  const gatewayOf = new Map((JSON.parse(ip('-j', 'nexthop', 'show')) as { id: number; gateway?: string }[]).map((n) => [n.id, n.gateway]));
  const out = JSON.parse(ip('-j', 'nexthop', 'bucket', 'show', 'id', String(route.nhid))) as { bucket: { index: number; nhid: number } }[];
  return new Map(out.map((b) => [b.bucket.index, gatewayOf.get(b.bucket.nhid)!]));
}
const count = (map: Map<number, string>) => [...map.values()].reduce((c, g) => c.set(g, (c.get(g) ?? 0) + 1), new Map<string, number>());
const moved = (a: Map<number, string>, b: Map<number, string>) => [...a].filter(([i, g]) => b.get(i) !== g).length;

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', NS]);
  ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  ip('link', 'set', 'v0', 'up');
  ip('link', 'set', 'v1', 'up');
  ip('addr', 'add', '198.18.5.1/24', 'dev', 'v0');
  // Resolved gateways: the test's packets leave at once instead of queueing for ARP.
  for (const last of [2, 3, 4, 5]) ip('neigh', 'add', `198.18.5.${last}`, 'lladdr', `02:00:00:00:00:0${last}`, 'dev', 'v0', 'nud', 'permanent');
  // The router's setting (99-ecmp-router.conf): ports in the hash.
  execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv4.fib_multipath_hash_policy=1']);
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NS]);
});

/** UDP to 2000 ports of one VIP from the router itself: with the L4 hash every bucket sees traffic (the gateways need not answer). */
function touchEveryBucket(): void {
  execFileSync('ip', ['netns', 'exec', NS, 'python3', '-c', [
    'import socket', 's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    'for port in range(20000, 22000):', '  try: s.sendto(b"x", ("198.18.100.7", port))', '  except OSError: pass',
  ].join('\n')]);
}

test('ECMP routes become resilient groups: a joining next hop takes only idle buckets, a leaving one gives up only its own, and a restart changes nothing', async () => {
  // Idle means unused since the bucket was last assigned; a used bucket stays busy for an hour here.
  const config: ResilientHashingModel = { sourceTable: 240, protocol: 213, buckets: 64, idleTimerSeconds: 3600, unbalancedTimerSeconds: 0 };
  setSource(gateways(2));
  const installer = runResilientRoutes({ config, log: silentLogger, ipCommand: ['ip', '-n', NS], resyncMs: 60_000 });
  try {
    await waitFor('the route through a resilient group', () => mainRoute()[0]?.nhid !== undefined, 5000);
    const [route] = mainRoute();
    expect(route.protocol).toBe('213');
    expect(route.nexthops!.map((n) => n.gateway).sort()).toEqual(gateways(2).flatMap((g) => [g, g]));
    const two = buckets();
    expect([...count(two)].sort()).toEqual([['198.18.5.2', 32], ['198.18.5.3', 32]]);

    // A third LB joins before any traffic (the daemon's table changes; `ip monitor` wakes the
    // installer): every bucket is idle, so it takes its share at once, in the same group.
    setSource(gateways(3));
    await waitFor('the third next hop in the group', () => mainRoute()[0]?.nexthops?.length === 6, 5000);
    expect(mainRoute()[0].nhid).toBe(route.nhid);
    const three = buckets();
    expect(count(three).get('198.18.5.4')).toBeGreaterThanOrEqual(21);
    expect(moved(two, three)).toBe(count(three).get('198.18.5.4'));

    // Traffic through every bucket, then a fourth joins: no busy bucket moves.
    touchEveryBucket();
    setSource([...gateways(3), '198.18.5.5']);
    await waitFor('the fourth next hop in the group', () => mainRoute()[0]?.nexthops?.length === 8, 5000);
    const four = buckets();
    expect(moved(three, four)).toBe(0);

    // One LB leaves: only its buckets move, to the others.
    setSource(['198.18.5.2', '198.18.5.4', '198.18.5.5']);
    await waitFor('198.18.5.3 out of the group', () => mainRoute()[0]?.nexthops?.length === 6, 5000);
    const left = buckets();
    const itsBuckets = [...four].filter(([, g]) => g === '198.18.5.3').map(([i]) => i);
    expect(moved(four, left)).toBe(itsBuckets.length);
    expect(itsBuckets.every((i) => left.get(i) !== '198.18.5.3')).toBe(true);
  } finally {
    installer.stop();
  }

  // A new installer adopts what the kernel holds: no command, no bucket moved.
  const before = buckets();
  expect(syncResilientRoutes(config, (args) => ip(...args), silentLogger)).toEqual([]);
  expect(moved(before, buckets())).toBe(0);

  // Withdrawn: the route and every nexthop of the installer go.
  setSource([]);
  syncResilientRoutes(config, (args) => ip(...args), silentLogger);
  expect(mainRoute()).toEqual([]);
  expect(JSON.parse(ip('-j', 'nexthop', 'show', 'protocol', '213') || '[]')).toEqual([]);
}, 30_000);

test('the second LB of a prefix moves no busy flow either: a next hop is two members, so even a group of one LB hashes into its buckets', () => {
  const config: ResilientHashingModel = { sourceTable: 240, protocol: 213, buckets: 64, idleTimerSeconds: 3600, unbalancedTimerSeconds: 0 };
  const sync = () => syncResilientRoutes(config, (args) => ip(...args), silentLogger);
  setSource(gateways(1));
  sync();
  touchEveryBucket();
  const one = buckets();
  setSource(gateways(2));
  sync();
  expect(mainRoute()[0].nexthops!.map((n) => n.gateway).sort()).toEqual(['198.18.5.2', '198.18.5.2', '198.18.5.3', '198.18.5.3']);
  expect(moved(one, buckets())).toBe(0);
  setSource([]);
  sync();
  expect(mainRoute()).toEqual([]);
});
