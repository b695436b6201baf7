import * as fs from 'fs';
import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { ReflectorDaemon, RouteReflector, ReflectorPlacement } from '../lib';
import { BGP_PASSWORD_PLACEHOLDER } from '../lib/model';
import { checkFrr } from './support/daemons';
import { synthToDisk, testTopology } from './support/topology';
import { renderFrrDaemons } from '../lib/renderers/frr';
import { renderFrrReflector } from '../lib/renderers/frr-reflector';

describe('a standalone FRR route reflector (daemon: ReflectorDaemon.FRR)', () => {
  const { app, topology, outdir } = testTopology({
    topology: {
      routeReflectors: [{ name: 'rr1', address: '198.18.0.109', daemon: ReflectorDaemon.FRR }, { name: 'rr2', address: '198.18.0.108', gobgpdVersion: '3.21.0' }],
      bgpPassword: { secret: kplus.Secret.fromSecretName(new Chart(new App(), 'secrets'), 'bgp', 'bgp-md5'), key: 'password', signLoadBalancerSessions: true },
    },
  });
  const { files } = synthToDisk(app);
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('writes frr.conf and daemons instead of gobgpd.toml; the gobgpd reflector is unchanged', () => {
    const [rr1, rr2] = topology.routeReflectors as RouteReflector[];
    expect(rr1.daemon).toBe(ReflectorDaemon.FRR);
    expect(rr2.daemon).toBe(ReflectorDaemon.GOBGP);
    expect(files.has('route-reflectors/rr1/gobgpd.toml')).toBe(false);
    expect(files.get('route-reflectors/rr1/frr.conf')).toBe(renderFrrReflector(rr1.model()));
    // BFD is on by default, so bfdd runs beside bgpd.
    expect(files.get('route-reflectors/rr1/daemons')).toBe(renderFrrDaemons('an ECMP route reflector', true, true));
    expect(files.get('route-reflectors/rr1/daemons')).toContain('\nbfdd=yes\n');
    expect(files.has('route-reflectors/rr2/gobgpd.toml')).toBe(true);
    expect(files.has('route-reflectors/rr2/frr.conf')).toBe(false);
  });

  test('the reflector config has both services\' prefixes, the filter, and the placeholder on every session; vtysh -C accepts it', () => {
    const conf = files.get('route-reflectors/rr1/frr.conf')!;
    expect(conf).toContain('ip prefix-list ecmp-lb-from-lb-pods-v4-prefixes seq 5 permit 198.18.101.0/24\n');
    expect(conf).toContain('ip prefix-list ecmp-lb-from-lb-pods-v4-prefixes seq 10 permit 198.18.102.0/24\n');
    expect(conf).toContain(' bgp listen range 198.19.128.0/17 peer-group lb-pods\n');
    expect(conf).toContain(` neighbor lb-pods password ${BGP_PASSWORD_PLACEHOLDER}\n`);
    expect(conf).toContain(` neighbor 198.18.0.110 password ${BGP_PASSWORD_PLACEHOLDER}\n`);
    expect(conf).toContain('  neighbor lb-pods maximum-prefix 1\n');
    // BFD on the LB peer group (bfdd: multihop, as the pods are a hop away), from one profile, and
    // with the FRR router (single-hop, on its segment) from a second one, at the reflector's timers.
    expect(conf).toContain([
      'bfd',
      ' profile ecmp-lb-pods', '  transmit-interval 300', '  receive-interval 300', '  detect-multiplier 3', ' exit',
      ' profile ecmp-lb-routers-300x3', '  transmit-interval 300', '  receive-interval 300', '  detect-multiplier 3', ' exit',
      'exit', '',
    ].join('\n'));
    expect(conf).toContain(' neighbor lb-pods bfd profile ecmp-lb-pods\n');
    expect(conf).toContain(' neighbor 198.18.0.110 bfd profile ecmp-lb-routers-300x3\n');
    expect(checkFrr(conf)).toEqual({ code: 0, output: '' });
  });

  test('TOPOLOGY.md lists the FRR files with their install paths', () => {
    const summary = files.get('TOPOLOGY.md')!;
    expect(summary).toContain('route-reflectors/rr1/frr.conf');
    expect(summary).toContain('/etc/frr/frr.conf on route reflector rr1 (198.18.0.109)');
    expect(summary).toContain('/etc/frr/daemons on route reflector rr1 (198.18.0.109)');
  });
});

describe('ReflectorDaemon validation', () => {
  const reflector = (props: Record<string, unknown>) => () => new RouteReflector(new Chart(new App(), 'c'), 'rr', {
    asn: 65021, address: '198.18.0.109', podNetworks: ['198.19.128.0/17'], ...props,
  });

  test('FRR with placement IN_CLUSTER is refused', () => {
    expect(reflector({ daemon: ReflectorDaemon.FRR, placement: ReflectorPlacement.inCluster({ nodeName: 'n1' }) }))
      .toThrow(/RouteReflector 'c\/rr': daemon "frr" is only supported for a standalone route reflector \(in-cluster reflectors run gobgpd\)\. Fix: /);
  });

  test('an unknown daemon is refused', () => {
    expect(reflector({ daemon: 'bird' })).toThrow(/daemon "bird" is not a reflector daemon\. Fix: use ReflectorDaemon\.GOBGP or ReflectorDaemon\.FRR/);
  });

  test('FRR without signed LB sessions is refused unless the risk is accepted: it cannot bind prefixes to LB pods', () => {
    expect(reflector({ daemon: ReflectorDaemon.FRR })).toThrow(new RegExp(
      "^RouteReflector 'c/rr': bgpPassword \\(not set\\) leaves an FRR reflector open to any pod in podNetworks announcing a service's prefix \\(FRR cannot bind prefixes to LB pods\\)\\. " +
      'Fix: set bgpPassword with signLoadBalancerSessions: true, or bindPrefixesToLbPods: false to accept that risk'));
    expect(reflector({ daemon: ReflectorDaemon.FRR, bindPrefixesToLbPods: true })).toThrow(/bindPrefixesToLbPods true is not supported by an FRR reflector/);
    const accepted = reflector({ daemon: ReflectorDaemon.FRR, bindPrefixesToLbPods: false })() as RouteReflector;
    expect(accepted.bindPrefixesToLbPods).toBe(false);
    // The paper's accept-everything reflector asks for no binding either.
    expect((reflector({ daemon: ReflectorDaemon.FRR, filterPrefixes: false })() as RouteReflector).bindPrefixesToLbPods).toBe(false);
  });

  test('EcmpTopology passes the choice to every reflector', () => {
    const { topology, outdir } = testTopology({ topology: { routeReflectors: [{ name: 'rr1', address: '198.18.0.109', daemon: ReflectorDaemon.FRR }], bindPrefixesToLbPods: false } });
    expect(topology.routeReflectors.map(r => r.bindPrefixesToLbPods)).toEqual([false]);
    fs.rmSync(outdir, { recursive: true, force: true });
  });

  test('binding needs the prefix filter; gobgpd binds by default', () => {
    expect(reflector({ filterPrefixes: false, bindPrefixesToLbPods: true })).toThrow(/bindPrefixesToLbPods true needs filterPrefixes, which is false\. Fix: remove bindPrefixesToLbPods, or turn filterPrefixes back on/);
    expect((reflector({})() as RouteReflector).bindPrefixesToLbPods).toBe(true);
    expect((reflector({ filterPrefixes: false })() as RouteReflector).bindPrefixesToLbPods).toBe(false);
  });

  test('the default stays gobgpd, standalone and in-cluster', () => {
    expect((reflector({})() as RouteReflector).daemon).toBe(ReflectorDaemon.GOBGP);
    expect((reflector({ placement: ReflectorPlacement.inCluster({ nodeName: 'n1' }) })() as RouteReflector).daemon).toBe(ReflectorDaemon.GOBGP);
  });
});
