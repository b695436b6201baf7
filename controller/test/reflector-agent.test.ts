import { ReflectorAgentBinding, UNBOUND_NEIGHBORS } from '../../lib/renderers/reflector-agent';
import { silentLogger } from '../src/log';
import { AgentPod, BindingSyncer, desiredNeighborSets, neighborSetChanges, parseNeighborSets } from '../src/reflector-agent';

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
    const current = parseNeighborSets(JSON.stringify([
      { defined_type: 1, name: 'lb-pods.shop.web1', list: ['0.0.0.0/32', '::/128', '198.19.0.4/32'] },
      { defined_type: 1, name: 'lb-pods.shop.web2' },
    ]));
    const desired = new Map([['lb-pods.shop.web1', ['198.19.0.5/32']], ['lb-pods.shop.web2', ['0.0.0.0/32', '198.19.0.9/32']]]);
    expect(neighborSetChanges(current, desired)).toEqual([
      { op: 'add', set: 'lb-pods.shop.web1', address: '198.19.0.5/32' },
      { op: 'add', set: 'lb-pods.shop.web2', address: '198.19.0.9/32' },
      { op: 'del', set: 'lb-pods.shop.web1', address: '198.19.0.4/32' },
    ]);
    expect(neighborSetChanges(desired, desired)).toEqual([]);
  });
});

describe('BindingSyncer', () => {
  test('drives the gobgp CLI with bare addresses, then re-runs the import policy on the changed peers only', async () => {
    const calls: string[][] = [];
    let sets = [{ name: 'lb-pods.shop.web1', list: ['0.0.0.0/32', '::/128', '198.19.0.4/32'] }];
    const gobgp = async (args: string[]) => {
      calls.push(args);
      if (args.join(' ') === 'policy neighbor -j') return JSON.stringify(sets);
      if (args[2] === 'add') sets = [{ ...sets[0], list: [...sets[0].list, `${args[4]}/32`] }];
      if (args[2] === 'del') sets = [{ ...sets[0], list: sets[0].list.filter(a => a !== `${args[4]}/32`) }];
      if (args[0] === 'neighbor' && args[1] === '198.19.0.4') throw new Error('not a neighbor');
      return '';
    };
    const syncer = new BindingSyncer({ gobgpApi: '127.0.0.1:50051', bindings: [web1] }, () => [pod('web1', ['198.19.0.5'])], gobgp, silentLogger);
    await syncer.schedule();
    expect(calls).toEqual([
      ['policy', 'neighbor', '-j'],
      ['policy', 'neighbor', 'add', 'lb-pods.shop.web1', '198.19.0.5'],
      ['policy', 'neighbor', 'del', 'lb-pods.shop.web1', '198.19.0.4'],
      ['neighbor', '198.19.0.5', 'softresetin'],
      ['neighbor', '198.19.0.4', 'softresetin'],
    ]);
    calls.length = 0;
    await syncer.schedule();
    expect(calls).toEqual([['policy', 'neighbor', '-j']]);
  });

  test('an unreachable gobgpd is logged and retried on the next pass, never thrown', async () => {
    const messages: string[] = [];
    const log = { log: (_level: string, msg: string) => { messages.push(msg); }, child: () => log };
    const syncer = new BindingSyncer({ gobgpApi: '127.0.0.1:50051', bindings: [web1] }, () => [], async () => { throw new Error('connection refused'); }, log);
    await expect(syncer.schedule()).resolves.toBeUndefined();
    expect(messages).toEqual(['gobgpd not updated; retrying on the next change or resync']);
  });
});
