import { FakeClock } from './fake-clock';
import { settle } from './wait';
import { Logger, silentLogger } from '../src/log';
import { IpRunner, RouteSyncer } from '../src/node-agent';
import { LbPod } from '../src/node-routes';

const pod = (podIP: string, prefixes: string): LbPod => ({
  metadata: { name: `lb-${podIP}`, annotations: { 'ecmp-lb.cdk8s.io/prefixes': prefixes } },
  status: { phase: 'Running', podIP },
});

/** `ip` over an in-memory table of the agent's routes; the next `failures` changes of `failing` fail as the kernel refuses one. */
function fakeIp(): IpRunner & { routes: Map<string, string>; failing?: string; failures: number } {
  const ip = Object.assign((args: string[]): string => {
    if (args[0] === '-j') {
      const v6 = args[1] === '-6';
      return JSON.stringify([...ip.routes].filter(([dst]) => dst.includes(':') === v6).map(([dst, gateway]) => ({ dst, gateway })));
    }
    const [, , verb, prefix, , gateway] = args;
    if (verb === 'replace') {
      if (prefix === ip.failing && ip.failures > 0) {
        ip.failures--;
        throw Object.assign(new Error('Command failed'), { stderr: 'RTNETLINK answers: Network is unreachable\n' });
      }
      ip.routes.set(prefix, gateway);
    } else if (verb === 'del') {
      ip.routes.delete(prefix);
    }
    return '';
  }, { routes: new Map<string, string>(), failing: undefined as string | undefined, failures: 0 });
  return ip;
}

describe('RouteSyncer', () => {
  test('a failed route command fails the pass, which is retried with backoff until the route is in', async () => {
    const ip = fakeIp();
    ip.failing = '198.18.101.0/24';
    ip.failures = 2;
    const errors: { msg: string; fields: Record<string, unknown> }[] = [];
    const log: Logger = { log: (level, msg, fields = {}) => { if (level === 'error') errors.push({ msg, fields }); }, child: () => log };
    const clock = new FakeClock();
    const syncer = new RouteSyncer(() => [pod('198.19.200.2', '198.18.101.0/24, 198.18.102.0/24')], ip, log, { retryBackoff: { initialMs: 1000, maxMs: 10_000 }, clock });
    try {
      await syncer.schedule();
      // Both replaces ran; the first failed and the second went in.
      expect([...ip.routes]).toEqual([['198.18.102.0/24', '198.19.200.2']]);
      expect(errors.map((e) => e.msg)).toEqual(['route change failed', 'routes not in step with the LB pods; retrying']);
      expect(errors[0].fields.error).toBe('RTNETLINK answers: Network is unreachable');
      const firstDelay = errors[1].fields.retryInMs as number;
      expect(firstDelay).toBeGreaterThanOrEqual(500);
      expect(firstDelay).toBeLessThanOrEqual(1000);

      clock.advance(firstDelay - 1);
      await settle();
      expect(errors).toHaveLength(2); // not retried before the backoff
      clock.advance(1);
      await settle();
      expect(errors).toHaveLength(4); // the first route refused again
      const secondDelay = errors[3].fields.retryInMs as number;
      expect(secondDelay).toBeGreaterThanOrEqual(1000);
      expect(secondDelay).toBeLessThanOrEqual(2000);

      clock.advance(secondDelay);
      await settle();
      expect(errors).toHaveLength(4);
      expect(new Map(ip.routes)).toEqual(new Map([['198.18.101.0/24', '198.19.200.2'], ['198.18.102.0/24', '198.19.200.2']]));
      clock.advance(60_000);
      await settle();
      expect(errors).toHaveLength(4); // in step: no further retry
    } finally {
      syncer.stop();
    }
  });

  test('until every namespace is listed, a pass changes nothing', async () => {
    const ip = fakeIp();
    ip.routes.set('198.18.101.0/24', '198.19.200.2');
    const syncer = new RouteSyncer(() => undefined, ip, silentLogger);
    await syncer.schedule();
    expect([...ip.routes]).toEqual([['198.18.101.0/24', '198.19.200.2']]);
    syncer.stop();
  });
});
