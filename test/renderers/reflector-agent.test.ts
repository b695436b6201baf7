import { GOBGPD_API, renderReflectorAgentConfig } from '../../lib/renderers/reflector-agent';
import { paperReflector } from '../support/paper-models';

const bound = { ...paperReflector, filterPrefixes: true, lbPodBindings: [{ namespace: 'lb', service: 'web1', prefixes: ['10.1.1.0/24'] }] };
const bfd = { minIntervalMs: 300, multiplier: 3, localAddress: '10.0.0.109' };

describe('renderReflectorAgentConfig', () => {
  test('the bindings; no BFD of either kind without the reflector\'s', () => {
    expect(JSON.parse(renderReflectorAgentConfig(bound))).toEqual({ gobgpApi: GOBGPD_API, bindings: [{ namespace: 'lb', service: 'web1' }] });
  });

  test('BFD with the LB pods, and with each router whose session has BFD, from the reflector\'s address', () => {
    const config = JSON.parse(renderReflectorAgentConfig({
      ...bound,
      bfd,
      routers: [
        { address: '10.0.0.110', asn: 65021, description: 'router-r1', passive: false, bfd: { minIntervalMs: 300, multiplier: 3 } },
        { address: '10.0.0.111', asn: 65021, description: 'router-r2', passive: false },
        { address: '10.0.0.112', asn: 65021, description: 'router-r3', passive: false, bfd: { minIntervalMs: 100, multiplier: 5 } },
      ],
    }));
    expect(config.bfd).toEqual(bfd);
    expect(config.routerBfd).toEqual({
      localAddress: '10.0.0.109',
      routers: [{ address: '10.0.0.110', minIntervalMs: 300, multiplier: 3 }, { address: '10.0.0.112', minIntervalMs: 100, multiplier: 5 }],
    });
  });

  test('no router session with BFD (a gobgpd + zebra router): no routerBfd', () => {
    expect(JSON.parse(renderReflectorAgentConfig({ ...bound, bfd })).routerBfd).toBeUndefined();
  });
});
