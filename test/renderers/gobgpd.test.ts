import { AddressFamily, RouteReflectorModel } from '../../lib/model';
import { renderGobgpdRouter, renderGobgpdReflector } from '../../lib/renderers/gobgpd';
import { parseToml as parse } from '../../lib/toml';
import { checkGobgpd } from '../support/daemons';
import { paperReflector, paperRouter } from '../support/paper-models';

const reflector = paperReflector;

const reflectorV6: RouteReflectorModel = {
  ...reflector,
  listenPort: 1790,
  lbNeighborPrefixes: ['2001:db8:16::/48'],
  routers: [
    { address: '2001:db8::110', asn: 65021, description: 'router-r1', passive: true },
    { address: '2001:db8::111', asn: 65021, description: 'router-r2', passive: false },
  ],
  sendMax: 8,
  families: [AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST],
};

const router = paperRouter;

/** Decoded TOML, loosely typed for assertions. */
function decode(toml: string): any {
  return parse(toml);
}

describe('renderGobgpdReflector', () => {
  test('matches the snapshot for the paper\'s reflector', () => {
    expect(renderGobgpdReflector(reflector)).toMatchSnapshot();
  });

  test('global section: AS, router id, listen port, IPv4-only listener, multiple paths', () => {
    const global = decode(renderGobgpdReflector(reflector)).global;
    expect(global.config).toEqual({ 'as': 65021, 'router-id': '10.0.0.109', 'port': 179, 'local-address-list': ['0.0.0.0'] });
    expect(global['use-multiple-paths'].config.enabled).toBe(true);
  });

  test('LB pods fall into the peer group through dynamic neighbors', () => {
    const config = decode(renderGobgpdReflector(reflector));
    expect(config['peer-groups']).toEqual([{
      'config': { 'peer-group-name': 'lb-pods', 'peer-as': 65021 },
      'timers': { config: { 'hold-time': 9, 'keepalive-interval': 3, 'connect-retry': 5 } },
      'afi-safis': [{ config: { 'afi-safi-name': 'ipv4-unicast' } }],
    }]);
    expect(config['dynamic-neighbors']).toEqual([{ config: { 'prefix': '172.16.0.0/16', 'peer-group': 'lb-pods' } }]);
  });

  test('each router is a route-reflector client that gets every path through add-paths', () => {
    const [neighbor] = decode(renderGobgpdReflector(reflector)).neighbors;
    expect(neighbor.config).toEqual({ 'neighbor-address': '10.0.0.110', 'peer-as': 65021, 'description': 'router-r1' });
    expect(neighbor.timers.config).toEqual({ 'hold-time': 9, 'keepalive-interval': 3, 'connect-retry': 5 });
    expect(neighbor['route-reflector'].config).toEqual({ 'route-reflector-client': true, 'route-reflector-cluster-id': '10.0.0.109' });
    expect(neighbor['add-paths'].config).toEqual({ 'send-max': 255, 'receive': true });
    expect(neighbor['afi-safis']).toEqual([{ config: { 'afi-safi-name': 'ipv4-unicast' } }]);
    expect(neighbor.transport).toBeUndefined();
  });

  test('IPv6: listens on :: only, both families, passive where set, one entry per router', () => {
    const config = decode(renderGobgpdReflector(reflectorV6));
    expect(config.global.config['local-address-list']).toEqual(['::']);
    expect(config.global.config.port).toBe(1790);
    expect(config['peer-groups'][0]['afi-safis'].map((a: any) => a.config['afi-safi-name'])).toEqual(['ipv4-unicast', 'ipv6-unicast']);
    expect(config.neighbors.map((n: any) => [n.config['neighbor-address'], n.transport?.config['passive-mode']]))
      .toEqual([['2001:db8::110', true], ['2001:db8::111', undefined]]);
    expect(config.neighbors[0]['add-paths'].config['send-max']).toBe(8);
  });

  test('dual stack peers: listens on both families', () => {
    const dual = { ...reflector, routers: [...reflector.routers, ...reflectorV6.routers] };
    expect(decode(renderGobgpdReflector(dual)).global.config['local-address-list']).toEqual(['0.0.0.0', '::']);
  });

  test('a description is a TOML string, whatever it holds', () => {
    const odd = { ...reflector, routers: [{ ...reflector.routers[0], description: 'a"b\n[global]' }] };
    expect(decode(renderGobgpdReflector(odd)).neighbors[0].config.description).toBe('a"b\n[global]');
  });

  test.each([
    ['the paper\'s reflector', reflector],
    ['the IPv6 reflector', reflectorV6],
    ['a reflector without routers yet', { ...reflector, routers: [] }],
  ])('gobgpd -d accepts %s', (_name, model) => {
    const result = checkGobgpd(renderGobgpdReflector(model));
    expect(result).toEqual({ code: 0, output: expect.stringContaining('Finished reading the config file') });
  });

  test('negative control: gobgpd -d rejects a corrupted rendering', () => {
    // Every family name: gobgpd -d checks the neighbors' families but not the peer group's.
    const broken = renderGobgpdReflector(reflector).replaceAll('"ipv4-unicast"', '"ipv4-unicats"');
    const result = checkGobgpd(broken);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('ipv4-unicats isn\'t a valid route family name');
  });
});

describe('renderGobgpdRouter', () => {
  test('matches the snapshot for the paper\'s router', () => {
    expect(renderGobgpdRouter(router)).toMatchSnapshot();
  });

  test('receives every path from each reflector and installs them through FRR\'s zebra', () => {
    const config = decode(renderGobgpdRouter(router));
    expect(config.global.config).toEqual({ 'as': 65021, 'router-id': '10.0.0.110', 'local-address-list': ['0.0.0.0'] });
    expect(config.global['use-multiple-paths'].config.enabled).toBe(true);
    expect(config.neighbors).toEqual([{
      'config': { 'neighbor-address': '10.0.0.109', 'peer-as': 65021, 'description': 'rr-rr1' },
      'timers': { config: { 'hold-time': 9, 'keepalive-interval': 3, 'connect-retry': 5 } },
      'add-paths': { config: { receive: true } },
      'afi-safis': [{ config: { 'afi-safi-name': 'ipv4-unicast' } }],
    }]);
    expect(config.zebra.config).toEqual({ 'enabled': true, 'url': 'unix:/var/run/frr/zserv.api', 'version': 6, 'software-name': 'frr8.4' });
  });

  test('passive reflectors and IPv6', () => {
    const model = {
      ...router,
      reflectors: [{ address: '2001:db8::109', asn: 65021, description: 'rr-rr1', passive: true }],
      families: [AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST],
    };
    const text = renderGobgpdRouter(model);
    const [neighbor] = decode(text).neighbors;
    expect(neighbor.transport.config['passive-mode']).toBe(true);
    expect(neighbor['afi-safis']).toHaveLength(2);
    expect(decode(text).global.config['local-address-list']).toEqual(['::']);
    expect(checkGobgpd(text).code).toBe(0);
  });

  test('gobgpd -d accepts the paper\'s router', () => {
    expect(checkGobgpd(renderGobgpdRouter(router)).code).toBe(0);
  });
});
