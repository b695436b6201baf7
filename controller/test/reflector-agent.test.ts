import { FakeClock } from './fake-clock';
import { settle } from './wait';
import { ReflectorAgentBinding, UNBOUND_NEIGHBORS } from '../../lib/renderers/reflector-agent';
import { BfdDiagnostic, BfdState } from '../src/bfd';
import { GobgpNeighborSets } from '../src/gobgp-api';
import { Logger, silentLogger } from '../src/log';
import { AgentPod, BindingSyncer, desiredNeighborSets, neighborSetChanges } from '../src/reflector-agent';
import { LbPodBfd } from '../src/reflector-bfd';

const web1: ReflectorAgentBinding = { namespace: 'shop', service: 'web1' };
const web2: ReflectorAgentBinding = { namespace: 'shop', service: 'web2' };

function pod(service: string, ips: string[], extra: { namespace?: string; phase?: string; role?: string } = {}): AgentPod {
  return {
    metadata: { namespace: extra.namespace ?? 'shop', labels: { 'app.kubernetes.io/instance': service, 'ecmp-lb.cdk8s.io/role': extra.role ?? 'lb' } },
    status: { phase: extra.phase ?? 'Running', podIP: ips[0], podIPs: ips.map(ip => ({ ip })) },
  };
}

describe('desiredNeighborSets', () => {
  test('each set holds its own service\'s LB pod IPs in the namespace, plus the never-a-peer addresses', () => {
    const { sets, skipped } = desiredNeighborSets([web1, web2], [
      pod('web1', ['198.19.0.5']),
      pod('web1', ['198.19.0.4'], { phase: 'Pending' }),
      pod('web2', ['198.19.0.9']),
      pod('web1', ['198.19.0.6'], { namespace: 'other' }),
      pod('web1', ['198.19.0.7'], { role: 'backend' }),
      pod('web1', ['198.19.0.8'], { phase: 'Failed' }),
      pod('web1', ['198.19.0.10'], { phase: 'Succeeded' }),
    ]);
    expect(sets).toEqual(new Map([
      ['lb-pods.shop.web1', ['0.0.0.0/32', '198.19.0.4/32', '198.19.0.5/32', '::/128']],
      ['lb-pods.shop.web2', ['0.0.0.0/32', '198.19.0.9/32', '::/128']],
    ]));
    expect(skipped).toEqual([]);
  });

  test('dual-stack and IPv6 pods bind every address in gobgpd\'s form; malformed addresses are skipped and reported', () => {
    const { sets, skipped } = desiredNeighborSets([web1], [
      pod('web1', ['198.19.0.5', '2001:DB8:0:0::5']),
      pod('web1', ['2001:db8::1%eth0', '198.19.0.05', '10.0.0.1/32', ' 198.19.0.6']),
    ]);
    expect(sets.get('lb-pods.shop.web1')).toEqual(['0.0.0.0/32', '198.19.0.5/32', '2001:db8::5/128', '::/128']);
    expect(skipped).toEqual([' 198.19.0.6', '10.0.0.1/32', '198.19.0.05', '2001:db8::1%eth0']);
  });

  test('a service without pods keeps only the never-a-peer addresses: gobgpd would match an empty set against every peer', () => {
    expect(desiredNeighborSets([web1], []).sets.get('lb-pods.shop.web1')).toEqual([...UNBOUND_NEIGHBORS].sort());
  });
});

describe('neighborSetChanges', () => {
  test('adds before deletes, and never removes the never-a-peer addresses', () => {
    const current = new Map([['lb-pods.shop.web1', ['0.0.0.0/32', '198.19.0.4/32', '::/128']], ['lb-pods.shop.web2', []]]);
    const desired = new Map([['lb-pods.shop.web1', ['198.19.0.5/32']], ['lb-pods.shop.web2', ['0.0.0.0/32', '198.19.0.9/32']]]);
    expect(neighborSetChanges(current, desired)).toEqual([
      { op: 'add', set: 'lb-pods.shop.web1', address: '198.19.0.5/32' },
      { op: 'add', set: 'lb-pods.shop.web2', address: '198.19.0.9/32' },
      { op: 'del', set: 'lb-pods.shop.web1', address: '198.19.0.4/32' },
    ]);
    expect(neighborSetChanges(desired, desired)).toEqual([]);
  });
});

/** gobgpd's neighbor sets in memory, recording each call; `softResetIn` fails for `notPeers`. */
function fakeGobgpd(sets: Map<string, string[]>, notPeers: string[] = []): GobgpNeighborSets & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    list: async () => { calls.push('list'); return new Map([...sets].map(([k, v]) => [k, [...v].sort()])); },
    add: async (set, address) => { calls.push(`add ${set} ${address}`); sets.set(set, [...(sets.get(set) ?? []), address]); },
    delete: async (set, address) => { calls.push(`delete ${set} ${address}`); sets.set(set, (sets.get(set) ?? []).filter((a) => a !== address)); },
    softResetIn: async (address) => { calls.push(`softresetin ${address}`); if (notPeers.includes(address)) throw new Error('not a neighbor'); },
    close: () => undefined,
  };
}

describe('BindingSyncer', () => {
  test('brings the sets to the pods\' addresses, then re-runs the import policy on the changed peers only', async () => {
    const gobgp = fakeGobgpd(new Map([['lb-pods.shop.web1', ['0.0.0.0/32', '::/128', '198.19.0.4/32']]]), ['198.19.0.4']);
    const syncer = new BindingSyncer({ gobgpApi: '127.0.0.1:50051', bindings: [web1] }, () => [pod('web1', ['198.19.0.5'])], gobgp, silentLogger);
    await syncer.schedule();
    expect(gobgp.calls).toEqual([
      'list',
      'add lb-pods.shop.web1 198.19.0.5/32',
      'delete lb-pods.shop.web1 198.19.0.4/32',
      'softresetin 198.19.0.5',
      'softresetin 198.19.0.4',
    ]);
    gobgp.calls.length = 0;
    await syncer.schedule();
    expect(gobgp.calls).toEqual(['list']);
  });

  test('an unreachable gobgpd is logged, never thrown, and retried with backoff until the sets are bound', async () => {
    const messages: { msg: string; retryInMs: unknown }[] = [];
    const log: Logger = { log: (_level, msg, fields) => { messages.push({ msg, retryInMs: fields?.retryInMs }); }, child: () => log };
    const gobgp = fakeGobgpd(new Map([['lb-pods.shop.web1', ['0.0.0.0/32', '::/128']]]));
    let refusals = 2;
    const flaky = { ...gobgp, list: async () => { if (refusals-- > 0) throw new Error('connection refused'); return gobgp.list(); } };
    const clock = new FakeClock();
    const syncer = new BindingSyncer({ gobgpApi: '127.0.0.1:50051', bindings: [web1] }, () => [pod('web1', ['198.19.0.5'])], flaky, log, {
      retryBackoff: { initialMs: 100, maxMs: 1000 }, clock,
    });
    try {
      await expect(syncer.schedule()).resolves.toBeUndefined();
      expect(messages.map((m) => m.msg)).toEqual(['gobgpd not updated; retrying']);
      expect(messages[0].retryInMs).toBeGreaterThanOrEqual(50); // attempt 0: 50-100 ms
      expect(messages[0].retryInMs).toBeLessThanOrEqual(100);
      const failures = () => messages.filter((m) => m.msg === 'gobgpd not updated; retrying').length;
      clock.advance(100);
      await settle();
      expect(failures()).toBe(2); // refused again: the next retry waits 100-200 ms
      clock.advance(200);
      await settle();
      expect(failures()).toBe(2);
      expect((await gobgp.list()).get('lb-pods.shop.web1')).toEqual(['0.0.0.0/32', '198.19.0.5/32', '::/128']);
    } finally {
      syncer.stop();
    }
  });
});

describe('BFD with the LB pods', () => {
  /** Sessions in memory: what the agent asked for. */
  const sessions = () => {
    const peers = new Set<string>();
    return { get peers() { return [...peers].sort(); }, add: (p: string) => { peers.add(p); }, remove: (p: string) => { peers.delete(p); } };
  };
  const timers = { minTxMs: 300, minRxMs: 300, multiplier: 3 };
  const bfdConfig = { gobgpApi: '127.0.0.1:50051', bindings: [web1], bfd: { localAddress: '198.18.0.20', minIntervalMs: 300, multiplier: 3 } };

  test('a pod whose session went down by detection time is unbound, and bound again once it is up', async () => {
    let changes = 0;
    const s = sessions();
    const bfd = new LbPodBfd(s, timers, () => { changes++; }, silentLogger);
    const gobgp = fakeGobgpd(new Map([['lb-pods.shop.web1', ['0.0.0.0/32', '::/128']]]));
    const syncer = new BindingSyncer(bfdConfig, () => [pod('web1', ['198.19.0.5', '2001:db8::5']), pod('web1', ['198.19.0.6'])], gobgp, silentLogger, { bfd });
    await syncer.schedule();
    expect((await gobgp.list()).get('lb-pods.shop.web1')).toEqual(['0.0.0.0/32', '198.19.0.5/32', '198.19.0.6/32', '2001:db8::5/128', '::/128']);
    expect(s.peers).toEqual(['198.19.0.5', '198.19.0.6']); // the local address's family only

    bfd.onState('198.19.0.5', BfdState.UP, BfdDiagnostic.NONE);
    bfd.onState('198.19.0.5', BfdState.DOWN, BfdDiagnostic.DETECTION_TIME_EXPIRED);
    expect(changes).toBe(1);
    gobgp.calls.length = 0;
    await syncer.schedule();
    expect(gobgp.calls).toEqual(['list', 'delete lb-pods.shop.web1 198.19.0.5/32', 'softresetin 198.19.0.5']);

    bfd.onState('198.19.0.5', BfdState.UP, BfdDiagnostic.NONE);
    expect(changes).toBe(2);
    await syncer.schedule();
    expect((await gobgp.list()).get('lb-pods.shop.web1')).toContain('198.19.0.5/32');
  });

  test('no unbinding for a pod that said AdminDown, nor for one whose session never came up', () => {
    let changes = 0;
    const bfd = new LbPodBfd(sessions(), timers, () => { changes++; }, silentLogger);
    bfd.track(['198.19.0.5', '198.19.0.6']);
    bfd.onState('198.19.0.5', BfdState.UP, BfdDiagnostic.NONE);
    bfd.onState('198.19.0.5', BfdState.DOWN, BfdDiagnostic.NEIGHBOR_SIGNALED_DOWN);
    bfd.onState('198.19.0.6', BfdState.DOWN, BfdDiagnostic.DETECTION_TIME_EXPIRED);
    expect(changes).toBe(0);
    expect([bfd.isFailed('198.19.0.5'), bfd.isFailed('198.19.0.6')]).toEqual([false, false]);
  });

  test('one session per bound address of the local family; a pod gone ends its session and is forgotten', () => {
    const s = sessions();
    const bfd = new LbPodBfd(s, timers, () => undefined, silentLogger);
    bfd.track(['198.19.0.5', '198.19.0.6']);
    bfd.onState('198.19.0.6', BfdState.UP, BfdDiagnostic.NONE);
    bfd.onState('198.19.0.6', BfdState.DOWN, BfdDiagnostic.DETECTION_TIME_EXPIRED);
    expect(bfd.isFailed('198.19.0.6')).toBe(true);
    bfd.track(['198.19.0.5']);
    expect(s.peers).toEqual(['198.19.0.5']);
    expect(bfd.isFailed('198.19.0.6')).toBe(false);
  });
});
