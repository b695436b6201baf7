import * as fc from 'fast-check';
import { serviceModel, slice } from './fixtures';
import { Protocol } from '../../lib/model';
import { backendEndpoints, hasRealServers, isUsable, reconcile } from '../src/reconcile';

/** The figures the controller reports from the slices. */
function figures(slices: Parameters<typeof backendEndpoints>[0]): { usable: number; malformed: string[] } {
  const { usable, malformed } = backendEndpoints(slices);
  return { usable, malformed };
}

describe('reconcile', () => {
  test('ready, non-terminating endpoints become real servers, sorted numerically, equal weights; terminating ones that still serve stay at weight 0', () => {
    const model = reconcile(serviceModel(), [
      slice('a', [{ address: '198.18.5.10' }, { address: '198.18.5.9' }, { address: '198.18.5.11', ready: false }]),
      slice('b', [{ address: '198.18.5.100' }, { address: '198.18.5.12', terminating: true, ready: true }, { address: '198.18.5.13', terminating: true, ready: false }]),
    ], 'lb-0');
    expect(model.routerId).toBe('lb-0');
    expect(model.virtualServers).toHaveLength(1);
    const vs = model.virtualServers[0];
    expect(vs).toMatchObject({ vip: '198.19.10.1', port: 80, protocol: Protocol.TCP, scheduler: 'mh' });
    expect(vs.realServers).toEqual([
      { address: '198.18.5.9', port: 8080, weight: 1 },
      { address: '198.18.5.10', port: 8080, weight: 1 },
      { address: '198.18.5.12', port: 8080, weight: 0 },
      { address: '198.18.5.100', port: 8080, weight: 1 },
    ]);
  });

  test('only draining real servers left: nothing takes new connections, so nothing to announce', () => {
    const model = reconcile(serviceModel(), [slice('a', [{ address: '198.18.5.12', terminating: true, ready: true }])], 'lb-0');
    expect(model.virtualServers[0].realServers).toEqual([{ address: '198.18.5.12', port: 8080, weight: 0 }]);
    expect(hasRealServers(model)).toBe(false);
  });

  test('maps each service port to the slices that carry its backend port and protocol', () => {
    const service = serviceModel({
      vips: ['198.19.10.1', '198.19.10.2'],
      ports: [
        { port: 80, backendPort: 8080, protocol: Protocol.TCP },
        { port: 53, backendPort: 5353, protocol: Protocol.UDP },
      ],
    });
    const model = reconcile(service, [
      slice('http', [{ address: '198.18.5.1' }]),
      slice('dns', [{ address: '198.18.5.2' }], { port: 5353, protocol: 'UDP' }),
      slice('wrong-proto', [{ address: '198.18.5.3' }], { port: 5353, protocol: 'TCP' }),
    ], 'lb-0');
    expect(model.virtualServers.map((vs) => [vs.vip, vs.port, vs.protocol, vs.realServers.map((r) => `${r.address}:${r.port}`)])).toEqual([
      ['198.19.10.1', 80, 'TCP', ['198.18.5.1:8080']],
      ['198.19.10.1', 53, 'UDP', ['198.18.5.2:5353']],
      ['198.19.10.2', 80, 'TCP', ['198.18.5.1:8080']],
      ['198.19.10.2', 53, 'UDP', ['198.18.5.2:5353']],
    ]);
  });

  test('keeps address families apart, skips FQDN slices and dedupes an address listed twice', () => {
    const service = serviceModel({ vips: ['198.19.10.1', '2001:db8::1'] });
    const model = reconcile(service, [
      slice('v4', [{ address: '198.18.5.1' }]),
      slice('v4-dup', [{ address: '198.18.5.1' }]),
      slice('v6', [{ address: '2001:db8:0:0::5' }], { addressType: 'IPv6' }),
      slice('fqdn', [{ address: 'backend.example' }], { addressType: 'FQDN' }),
    ], 'lb-0');
    expect(model.virtualServers[0].realServers.map((r) => r.address)).toEqual(['198.18.5.1']);
    expect(model.virtualServers[1].realServers.map((r) => r.address)).toEqual(['2001:db8::5']);
    expect(figures([slice('v4', [{ address: '198.18.5.1' }]), slice('v4b', [{ address: '198.18.5.1' }, { address: '198.18.5.2', ready: false }])])).toEqual({ usable: 1, malformed: [] });
    // Usable endpoints whose address is no literal of the slice's family are reported, not used.
    expect(figures([slice('v4', [{ address: '2001:db8::1' }, { address: '198.18.5.1\n}' }, { address: '198.18.5.3' }])]))
      .toEqual({ usable: 1, malformed: ['v4/"198.18.5.1\\n}"', 'v4/"2001:db8::1"'] });
  });

  test('missing conditions follow the API defaults (ready, not terminating)', () => {
    expect(isUsable({ addresses: ['198.18.5.1'] })).toBe(true);
    expect(isUsable({ addresses: ['198.18.5.1'], conditions: { ready: null } })).toBe(true);
    expect(isUsable({ addresses: ['198.18.5.1'], conditions: { ready: false } })).toBe(false);
    expect(isUsable({ addresses: ['198.18.5.1'], conditions: { ready: true, terminating: true } })).toBe(false);
  });

  test('no usable endpoint leaves virtual servers empty', () => {
    const model = reconcile(serviceModel(), [slice('a', [{ address: '198.18.5.1', ready: false }])], 'lb-0');
    expect(model.virtualServers[0].realServers).toEqual([]);
    expect(hasRealServers(model)).toBe(false);
  });

  test('the result does not depend on slice order or on how endpoints are spread over slices', () => {
    const endpoint = fc.record({ host: fc.integer({ min: 1, max: 254 }), ready: fc.boolean(), terminating: fc.boolean() });
    fc.assert(fc.property(fc.array(endpoint, { maxLength: 40 }), fc.integer({ min: 1, max: 5 }), fc.integer(), (endpoints, sliceCount, seed) => {
      const toTest = endpoints.map((e) => ({ address: `198.18.7.${e.host}`, ready: e.ready, terminating: e.terminating }));
      const oneSlice = reconcile(serviceModel(), [slice('all', toTest)], 'lb');
      const shuffled = [...toTest].sort((a, b) => ((hash(a.address, seed) - hash(b.address, seed)) || 0));
      const groups = Array.from({ length: sliceCount }, (_group, i) => slice(`s${i}`, shuffled.filter((_endpoint, j) => j % sliceCount === i)));
      const spread = reconcile(serviceModel(), groups.reverse(), 'lb');
      // An address listed usable in one slice and unusable in another is usable; the same holds in one slice.
      expect(spread).toEqual(oneSlice);
      const byHost = (a: string, b: string) => Number(a.split('.')[3]) - Number(b.split('.')[3]);
      const servers = oneSlice.virtualServers[0].realServers;
      const usable = new Set(toTest.filter((e) => e.ready && !e.terminating).map((e) => e.address));
      // The fixture's terminating endpoints serve while ready: those drain at weight 0.
      const draining = new Set(toTest.filter((e) => e.ready && e.terminating && !usable.has(e.address)).map((e) => e.address));
      expect(servers.filter((r) => r.weight === 1).map((r) => r.address)).toEqual([...usable].sort(byHost));
      expect(servers.filter((r) => r.weight === 0).map((r) => r.address)).toEqual([...draining].sort(byHost));
    }), { numRuns: 200 });
  });
});

function hash(text: string, seed: number): number {
  let h = seed | 0;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h;
}
