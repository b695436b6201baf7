import * as fs from 'fs';
import { Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import fc from 'fast-check';
import * as YAML from 'yaml';
import { exabgpModel } from '../../controller/src/init';
import { reconcile } from '../../controller/src/reconcile';
import {
  Backends, EcmpApp, EcmpTopology, ForwardingMethod, HealthCheckType, IpvsScheduler, LoadBalancerService, Protocol,
  ReflectorPlacement, RouterDaemon,
} from '../../lib';
import { validateTree } from '../../lib/config-file';
import { announcerCommand } from '../../lib/lb-pod-contract';
import { AddressFamily, ExabgpModel, LoadBalancerServiceModel, RouteReflectorModel, UpstreamRouterModel } from '../../lib/model';
import { renderBirdRouter } from '../../lib/renderers/bird';
import { renderExabgp } from '../../lib/renderers/exabgp';
import { renderFrrRouter } from '../../lib/renderers/frr';
import { renderGobgpdRouter, renderGobgpdReflector } from '../../lib/renderers/gobgpd';
import { renderKeepalived } from '../../lib/renderers/keepalived';
import { parseToml } from '../../lib/toml';
import { CheckResult, checkBird, checkExabgp, checkFrr, checkGobgpd, checkKeepalived } from '../support/daemons';
import { tempDir, testTopology } from '../support/topology';

/**
 * Hostile input, property-based: random and adversarial construct props and renderer models either
 * produce files every real daemon checker accepts, or are refused with an Error in the shape of
 * lib/errors.ts (constructs) or a plain refusal (renderers); never another exception, never an
 * injected directive. Runs are bounded; the seed is fixed and printed (override: FC_SEED=n).
 */

const SEED = Number(process.env.FC_SEED ?? 20261129);
const CONSTRUCT_RUNS = Number(process.env.FC_RUNS ?? 250);
const RENDERER_RUNS = Number(process.env.FC_RUNS ?? 400);
/** How many successful samples go through the real daemons' checkers (the rest: string checks only). */
const CHECKED_SAMPLES = 30;
/**
 * Adversarial strings carry these; construct-level input can never legitimately reach a daemon
 * file with them (names are lower-case DNS labels, addresses are parsed), so finding one is an
 * injection. Renderer-level free text is checked by structure instead (see below).
 */
const MARKERS = ['6.6.6.6', 'INJECTED', 'evil'];

const UNUSED_OUTDIR = tempDir('ecmp-fuzz');
afterAll(() => fs.rmSync(UNUSED_OUTDIR, { recursive: true, force: true }));
beforeAll(() => console.log(`hostile-input: fast-check seed ${SEED} (set FC_SEED to replay), ${CONSTRUCT_RUNS} construct runs, ${RENDERER_RUNS} renderer runs`));

/** Strings built to break out of a config statement in each daemon's syntax. */
const injections = fc.constantFrom(
  'web\nneighbor 6.6.6.6 remote-as 1',
  'web}\nneighbor 6.6.6.6 { }',
  'web"; neighbor 6.6.6.6 as 1; #INJECTED',
  '"]\n[[neighbors]]\n[neighbors.config]\nneighbor-address = "6.6.6.6"',
  'web\r\nexit\nrouter bgp 666 evil',
  '198.18.101.0/24\nneighbor 6.6.6.6',
  '198.18.101.0/24; route 0.0.0.0/0 next-hop 6.6.6.6',
  '$(INJECTED)', '${INJECTED}', '`INJECTED`', 'evil\u0000', 'ėvil-ünïcode-名前', 'evil\u202e', '{evil}', '#evil', '!evil', 'evil\\',
);
const anyString = fc.oneof(injections, fc.string({ unit: 'binary', maxLength: 30 }).map(s => `evil${s}`));
const dnsLabel = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const name = fc.oneof({ weight: 6, arbitrary: dnsLabel }, { weight: 1, arbitrary: anyString }, { weight: 1, arbitrary: fc.constantFrom('', 'A', 'a'.repeat(41), '-web', 'web-') });
/** Mostly valid and distinct 198.18.x.0/24 (outside the pod network 198.19.128.0/17), some edge cases and garbage. */
const prefix = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 250 }).map(n => `198.18.${n}.0/24`) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 0xffff }).map(n => `2001:db8:${n.toString(16)}::/64`) },
  { weight: 2, arbitrary: fc.constantFrom('0.0.0.0/0', '::/0', '198.18.1.7/24', '198.18.1.0/33', '::ffff:198.18.1.0/120', '255.255.255.255/32', '198.18.1.0/24 ', '2001:DB8::/32', '198.19.200.0/24', '1.2.3.4', '01.2.3.0/24', '2001:db8::/129') },
  { weight: 1, arbitrary: anyString },
);
const port = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 65535 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 65536, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER, 1e300) },
);
const count = (min: number, max: number) => fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min, max }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, 256, 1e9, 2.5, Number.NaN, Number.POSITIVE_INFINITY) },
);
const address = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 2, max: 250 }).map(n => `198.18.0.${n}`) },
  { weight: 1, arbitrary: fc.constantFrom('2001:db8::109', '::', '0.0.0.0', '198.18.0', '198.18.0.256', '::ffff:198.18.0.1', 'rr.example') },
  { weight: 1, arbitrary: anyString },
);
/** Durations as a user could write them (cdk8s itself refuses negative ones before we see them). */
const seconds = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 3, max: 600 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 2.5, 70000, Number.POSITIVE_INFINITY) },
);
/**
 * Props for a whole topology. `hostile` mixes adversarial values into every field; otherwise the
 * values are valid one by one (combinations may still be refused: overlapping prefixes, DR with a
 * remapped port, ...), so that enough runs synthesize and reach the daemon checkers.
 */
function topologyArbitrary(hostile: boolean) {
  const pick = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<any>): fc.Arbitrary<T> =>
    hostile ? fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: bad }) : good;
  const v4Prefix = fc.integer({ min: 1, max: 250 }).map(n => `198.18.${n}.0/24`);
  const v6Prefix = fc.integer({ min: 1, max: 0xffff }).map(n => `2001:db8:${n.toString(16)}::/64`);
  const servicePrefixes = hostile
    ? fc.array(prefix, { minLength: 0, maxLength: 3 })
    : fc.oneof(fc.uniqueArray(v4Prefix, { minLength: 1, maxLength: 3 }), fc.uniqueArray(v6Prefix, { minLength: 1, maxLength: 2 }));
  const service = fc.record({
    name: pick(dnsLabel, name),
    prefixes: servicePrefixes,
    vips: hostile ? fc.option(fc.array(fc.oneof(address, fc.constant('198.18.1.1')), { maxLength: 2 }), { nil: undefined }) : fc.constant(undefined),
    ports: fc.array(fc.record({
      port: pick(fc.integer({ min: 1, max: 65535 }), port),
      backendPort: fc.option(pick(fc.integer({ min: 1, max: 65535 }), port), { nil: undefined }),
      protocol: fc.option(pick(fc.constantFrom(Protocol.TCP, Protocol.UDP), anyString), { nil: undefined }),
    }), { minLength: hostile ? 0 : 1, maxLength: 3 }),
    lbCount: fc.option(pick(fc.integer({ min: 1, max: 8 }), count(1, 8)), { nil: undefined }),
    scheduler: fc.option(pick(fc.constantFrom(...Object.values(IpvsScheduler)), anyString), { nil: undefined }),
    forwardingMethod: fc.option(pick(fc.constantFrom(...Object.values(ForwardingMethod)), anyString), { nil: undefined }),
    healthCheck: fc.option(fc.record({
      type: fc.option(pick(fc.constantFrom(HealthCheckType.TCP, HealthCheckType.HTTP), anyString), { nil: undefined }),
      httpPath: fc.option(pick(fc.constantFrom('/', '/healthz', '/a?b=c&d', '/$HOME', '/%24x'), anyString), { nil: undefined }),
      retries: fc.option(pick(fc.integer({ min: 0, max: 5 }), count(0, 5)), { nil: undefined }),
      httpExpectStatus: fc.option(pick(fc.integer({ min: 100, max: 599 }), count(100, 599)), { nil: undefined }),
    }), { nil: undefined }),
    holdSeconds: fc.option(pick(fc.integer({ min: 3, max: 600 }), seconds), { nil: undefined }),
    backendLabel: pick(dnsLabel, anyString),
    loadKernelModules: fc.option(fc.boolean(), { nil: undefined }),
  });
  const hostNumbers = fc.uniqueArray(fc.integer({ min: 2, max: 250 }), { minLength: 4, maxLength: 4 });
  return fc.record({
    asn: pick(fc.integer({ min: 1, max: 4294967295 }), count(1, 4294967295)),
    podNetwork: pick(fc.constant('198.19.128.0/17'), prefix),
    hosts: hostNumbers,
    names: fc.uniqueArray(dnsLabel, { minLength: 4, maxLength: 4 }),
    reflectors: fc.array(fc.record({
      name: hostile ? fc.option(name, { nil: undefined }) : fc.constant(undefined),
      address: hostile ? fc.option(address, { nil: undefined }) : fc.constant(undefined),
      routerId: hostile ? fc.option(fc.oneof(address, fc.constant('1.2.3')), { nil: undefined }) : fc.constant(undefined),
      inCluster: fc.boolean(),
      nodeName: pick(dnsLabel, fc.option(anyString, { nil: undefined })),
      sendMax: fc.option(pick(fc.constant(255), count(1, 255)), { nil: undefined }),
      networkPolicy: fc.option(fc.boolean(), { nil: undefined }),
    }), { minLength: hostile ? 0 : 1, maxLength: 2 }),
    routers: fc.array(fc.record({
      name: hostile ? fc.option(name, { nil: undefined }) : fc.constant(undefined),
      address: hostile ? fc.option(address, { nil: undefined }) : fc.constant(undefined),
      daemon: fc.option(pick(fc.constantFrom(...Object.values(RouterDaemon)), anyString), { nil: undefined }),
      maximumPaths: fc.option(pick(fc.integer({ min: 8, max: 255 }), count(1, 255)), { nil: undefined }),
      filterPrefixes: fc.option(fc.boolean(), { nil: undefined }),
    }), { minLength: hostile ? 0 : 1, maxLength: 2 }),
    holdSeconds: fc.option(pick(fc.integer({ min: 3, max: 600 }), seconds), { nil: undefined }),
    password: fc.option(fc.record({
      secretName: pick(dnsLabel, anyString), key: pick(fc.constant('password'), anyString), signLoadBalancerSessions: fc.option(fc.boolean(), { nil: undefined }),
    }), { nil: undefined }),
    filterPrefixes: fc.option(fc.boolean(), { nil: undefined }),
    services: fc.array(service, { minLength: 0, maxLength: 3 }),
  }).map(t => ({
    ...t,
    // Valid names and addresses by default, distinct across reflectors and routers.
    reflectors: t.reflectors.map((r, i) => ({ ...r, name: r.name ?? t.names[i], address: r.address ?? `198.18.0.${t.hosts[i]}` })),
    routers: t.routers.map((r, i) => ({
      ...r, name: r.name ?? t.names[2 + i], address: r.address ?? `198.18.0.${t.hosts[2 + i]}`,
      // gobgpd + zebra has no maximum-paths setting, so synth refuses one.
      maximumPaths: !hostile && r.daemon === RouterDaemon.GOBGP_ZEBRA ? undefined : r.maximumPaths,
    })),
    // TCP-MD5 cannot cross an in-cluster reflector's NAT, and gobgpd 3.10 cannot sign LB sessions.
    password: !hostile && t.password && (t.reflectors.some(r => r.inCluster) ? undefined : { ...t.password, signLoadBalancerSessions: undefined }),
  }));
}
const topologyProps = fc.oneof(topologyArbitrary(false), topologyArbitrary(true));

/** lib/errors.ts: `Construct 'path': field value problem. Fix: ...`, thrown alone or collected by validateTree. */
const ONE_ERROR = /^[A-Z]\w* '[^']*': .+ Fix: .+$/s;
const TREE_ERRORS = /^Validation failed with the following errors:\n {2}\[[^\]]*\] [A-Z]\w* '[^']*': .+ Fix: .+$/s;

function build(p: any) {
  // Nothing is written: validateTree, renderFiles and synthYaml work in memory.
  const app = new EcmpApp({ outdir: UNUSED_OUTDIR });
  const secrets = new Chart(app, 'secrets');
  const bgpPassword = p.password && {
    secret: kplus.Secret.fromSecretName(secrets, 'bgp', p.password.secretName), key: p.password.key, signLoadBalancerSessions: p.password.signLoadBalancerSessions,
  };
  const topology = new EcmpTopology(app, 'ecmp', {
    namespace: 'lb',
    asn: p.asn,
    podNetworks: [p.podNetwork, '2001:db8:ff00::/56'],
    routeReflectors: p.reflectors.map((r: any) => ({
      name: r.name, address: r.address, routerId: r.routerId, sendMax: r.sendMax,
      ...(r.inCluster ? { placement: ReflectorPlacement.inCluster({ nodeName: r.nodeName, networkPolicy: r.networkPolicy }) } : {}),
    })),
    upstreamRouters: p.routers,
    holdTime: p.holdSeconds === undefined ? undefined : Duration.seconds(p.holdSeconds),
    filterPrefixes: p.filterPrefixes,
    bgpPassword,
  });
  p.services.forEach((s: any, i: number) => new LoadBalancerService(topology, `svc${i}`, {
    name: s.name, prefixes: s.prefixes, vips: s.vips, ports: s.ports, lbCount: s.lbCount, scheduler: s.scheduler,
    forwardingMethod: s.forwardingMethod, backends: Backends.fromLabels({ app: s.backendLabel }),
    routeReflectors: topology.routeReflectors, loadKernelModules: s.loadKernelModules,
    healthCheck: s.healthCheck && {
      ...s.healthCheck,
      interval: undefined, timeout: undefined,
    },
    holdTime: s.holdSeconds === undefined ? undefined : Duration.seconds(s.holdSeconds),
  }));
  validateTree(app);
  const files = new Map(app.renderFiles().map(file => [file.path, file.content]));
  return { files, manifests: YAML.parseAllDocuments(app.synthYaml()).map(d => d.toJSON()).filter(Boolean) };
}

function checkerFor(file: string): ((text: string) => CheckResult) | undefined {
  if (file.endsWith('gobgpd.toml')) return checkGobgpd;
  if (file.endsWith('frr.conf') || file.endsWith('zebra.conf')) return checkFrr;
  if (file.endsWith('bird.conf')) return checkBird;
  return undefined;
}

const accepted = (what: string, result: CheckResult) => {
  if (result.code !== 0) throw new Error(`${what} was rejected by its daemon (exit ${result.code}):\n${result.output}`);
};

/** The per-pod renderings the LB pod makes at run time from its ConfigMap. */
function podConfigs(model: LoadBalancerServiceModel): [string, string, (text: string) => CheckResult][] {
  const v6 = model.prefixes[0].includes(':');
  const pod = v6
    ? { podIp: '2001:db8:130::2', nodeIp: '2001:db8::106', podName: 'lb-0', podNamespace: model.namespace }
    : { podIp: '198.19.130.2', nodeIp: '198.18.0.106', podName: 'lb-0', podNamespace: model.namespace };
  const exabgp = renderExabgp({
    ...exabgpModel(model, pod, model.reflectors.map((_r, i) => v6 ? `2001:db8::${200 + i}` : `198.18.0.${200 + i}`), announcerCommand()),
    ...(model.signBgpSessions ? { bgpPassword: 'fuzz+key/=' } : {}),
  });
  const ports = model.ports.map(p => ({ name: `p${p.backendPort}`, port: p.backendPort, protocol: p.protocol }));
  const keepalived = renderKeepalived(reconcile(model, [{
    addressType: v6 ? 'IPv6' : 'IPv4', ports,
    endpoints: [{ addresses: [v6 ? '2001:db8:130::11' : '198.19.130.11'], conditions: { ready: true } }],
  }], pod.podIp));
  return [['exabgp.conf', exabgp, checkExabgp], ['keepalived.conf', keepalived, checkKeepalived]];
}

describe('construct props: synthesized files pass every daemon checker, or the input is refused in the lib/errors.ts shape', () => {
  test('random and adversarial props', () => {
    let checked = 0;
    let synthesized = 0;
    let refused = 0;
    fc.assert(fc.property(topologyProps, (p) => {
      let out: ReturnType<typeof build>;
      try {
        out = build(p);
      } catch (err) {
        if (!(err instanceof Error) || err.constructor !== Error) throw new Error(`not a validation error: ${String(err)}\n${(err as Error)?.stack}`);
        if (!ONE_ERROR.test(err.message) && !TREE_ERRORS.test(err.message)) throw new Error(`an error without construct, field and fix: ${err.message}\n${err.stack}`);
        refused++;
        return;
      }
      synthesized++;
      for (const [file, text] of out.files) {
        for (const marker of MARKERS) if (text.includes(marker)) throw new Error(`${file} carries injected input (${marker}):\n${text}`);
      }
      const models: LoadBalancerServiceModel[] = out.manifests.filter((m: any) => m.kind === 'ConfigMap' && m.data?.['service.json']).map((m: any) => JSON.parse(m.data['service.json']));
      const pods = models.flatMap(podConfigs);
      for (const [file, text] of pods) {
        for (const marker of MARKERS) if (text.includes(marker)) throw new Error(`${file} carries injected input (${marker}):\n${text}`);
      }
      if (checked >= CHECKED_SAMPLES) return;
      checked++;
      for (const [file, text] of out.files) {
        const checker = checkerFor(file);
        if (checker) accepted(file, checker(text));
      }
      for (const [file, text, checker] of pods) accepted(file, checker(text));
    }), { seed: SEED, numRuns: CONSTRUCT_RUNS, endOnFailure: true });
    console.log(`hostile-input constructs: ${synthesized} synthesized (${checked} through the daemon checkers), ${refused} refused`);
    // The generator must exercise both outcomes, and the checkers must really have run.
    expect(refused).toBeGreaterThan(CONSTRUCT_RUNS / 10);
    expect(synthesized).toBeGreaterThan(CONSTRUCT_RUNS / 10);
    expect(checked).toBe(CHECKED_SAMPLES);
  }, 120_000);
});

describe('renderers: adversarial free-text fields are written harmlessly or refused', () => {
  const timers = { holdTimeSeconds: 9, keepaliveSeconds: 3, connectRetrySeconds: 5 };
  const password = fc.oneof(fc.constant(''), fc.constant('${ECMP_LB_BGP_PASSWORD}'), fc.stringMatching(/^[A-Za-z0-9._~+=/@%:-]{1,80}$/), anyString);
  const description = fc.oneof(fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/), anyString);
  const prefixes = fc.uniqueArray(fc.oneof(fc.integer({ min: 1, max: 250 }).map(n => `198.18.${n}.0/24`), fc.integer({ min: 1, max: 0xffff }).map(n => `2001:db8:${n.toString(16)}::/64`)), { maxLength: 4 });
  const v4 = fc.integer({ min: 2, max: 250 }).map(n => `198.18.0.${n}`);
  const neighbor = fc.record({ address: fc.oneof(v4, fc.integer({ min: 2, max: 0xfff }).map(n => `2001:db8::${n.toString(16)}`)), asn: fc.constant(65021), description, passive: fc.boolean() });

  const models = fc.record({
    reflectors: fc.uniqueArray(neighbor, { minLength: 1, maxLength: 3, selector: n => n.address }),
    prefixes,
    password,
    lbBgpPassword: password,
    filter: fc.boolean(),
    announcer: fc.oneof(fc.constant(''), fc.constant(announcerCommand()), anyString),
    maxPrefixes: fc.integer({ min: 1, max: 1000 }),
  });

  test('gobgpd, FRR, BIRD and exabgp renderings', () => {
    let checked = 0;
    let refusals = 0;
    fc.assert(fc.property(models, (m) => {
      const families = m.prefixes.some(p => p.includes(':')) || m.reflectors.some(r => r.address.includes(':'))
        ? [AddressFamily.IPV4_UNICAST, AddressFamily.IPV6_UNICAST] : [AddressFamily.IPV4_UNICAST];
      const router: UpstreamRouterModel = {
        asn: 65021, routerId: '198.18.0.110', reflectors: m.reflectors, maximumPaths: 16, servicePrefixes: m.prefixes, families, timers,
        filterPrefixes: m.filter, bgpPassword: m.password,
      };
      const reflector: RouteReflectorModel = {
        asn: 65021, routerId: '198.18.0.109', clusterId: '198.18.0.109', listenPort: 179, lbPeerGroup: 'lb-pods', lbNeighborPrefixes: ['198.19.128.0/17'],
        routers: m.reflectors, sendMax: 255, families, timers, filterPrefixes: m.filter, acceptedPrefixes: m.prefixes,
        prefixLimits: families.map(family => ({ family, maxPrefixes: m.maxPrefixes })), routerBgpPassword: m.password, lbBgpPassword: m.lbBgpPassword,
        lbPodBindings: m.filter && m.prefixes.length > 0 ? [{ namespace: 'lb', service: 'web', prefixes: m.prefixes }] : [],
      };
      const exabgp: ExabgpModel = {
        asn: 65021, routerId: '198.19.130.2', localAddress: '198.19.130.2', nextHop: '198.18.0.106', holdTimeSeconds: 9,
        // The LB pod always has at least one reflector (the construct requires one).
        neighbors: ['198.18.0.109', ...m.reflectors.filter(r => !r.address.includes(':')).map(r => r.address)].filter((a, i, all) => all.indexOf(a) === i), prefixes: m.prefixes.filter(p => !p.includes(':')),
        announcerCommand: m.announcer, bgpPassword: m.password,
      };
      const renderings: [string, () => string, (text: string) => CheckResult][] = [
        ['frr.conf', () => renderFrrRouter(router), checkFrr],
        ['bird.conf', () => renderBirdRouter(router), checkBird],
        ['router gobgpd.toml', () => renderGobgpdRouter(router), checkGobgpd],
        ['reflector gobgpd.toml', () => renderGobgpdReflector(reflector), checkGobgpd],
        ['exabgp.conf', () => renderExabgp(exabgp), checkExabgp],
      ];
      const check = checked < CHECKED_SAMPLES;
      if (check) checked++;
      for (const [what, render, checker] of renderings) {
        let text: string;
        try {
          text = render();
        } catch (err) {
          // A renderer refuses with a plain Error that says what is wrong; never a TypeError or the like.
          if (!(err instanceof Error) || err.constructor !== Error || !/TCP-MD5 key|description|exabgp cannot pass/.test(err.message)) throw err;
          refusals++;
          continue;
        }
        if (what === 'exabgp.conf') {
          // The announcer command is the one free word list exabgp gets: it may only be plain words on
          // its own `run` line; everything else must be marker-free.
          const run = /^ {4}run (.*);$/m.exec(text);
          if (run) expect(run[1]).toMatch(/^[A-Za-z0-9_./:=@%+ -]+$/);
          expect(text.match(/^neighbor /gm)).toHaveLength(exabgp.neighbors.length);
          const rest = text.replace(/^ {4}run .*;$/m, '');
          for (const line of rest.split('\n').filter(l => l.includes('md5-password'))) expect(line).toMatch(/^ {4}md5-password "[A-Za-z0-9._~+=/@%:-]+";$/);
          expect(rest).not.toContain('6.6.6.6');
        } else if (what === 'frr.conf') {
          // One `router bgp`, one `remote-as` per reflector, every description a single plain word.
          expect(text.match(/^router bgp /gm)).toHaveLength(1);
          expect(text.match(/^ neighbor \S+ remote-as /gm)).toHaveLength(m.reflectors.length);
          for (const line of text.split('\n').filter(l => l.includes(' description '))) expect(line).toMatch(/^ neighbor \S+ description [A-Za-z0-9._-]+$/);
          expect(text).not.toContain('6.6.6.6');
        } else if (what === 'bird.conf') {
          expect(text.match(/^protocol bgp /gm)).toHaveLength(m.reflectors.length);
          for (const line of text.split('\n').filter(l => l.includes('description'))) expect(line).toMatch(/^ {2}description "[A-Za-z0-9._-]+";$/);
          expect(text).not.toContain('6.6.6.6');
        } else {
          const parsed = JSON.stringify(parseToml(text));
          expect(parsed).not.toMatch(/"neighbor-address":"6\.6\.6\.6"/);
        }
        // exabgp --test also requires the announcer program to exist: check only with a real one.
        if (check && (what !== 'exabgp.conf' || m.announcer === '' || m.announcer.startsWith('/usr/bin/python3'))) accepted(what, checker(text));
      }
    }), { seed: SEED, numRuns: RENDERER_RUNS, endOnFailure: true });
    console.log(`hostile-input renderers: ${refusals} refusals, ${checked} samples through the daemon checkers`);
    expect(refusals).toBeGreaterThan(0);
  }, 120_000);
});

describe('regressions the properties found: each is now refused in the lib/errors.ts shape', () => {
  const service = (props: object) => () => testTopology({ services: [{ id: 'web', props: { prefixes: ['198.18.101.0/24'], ...props } }] }).app.synth();
  const topology = (props: object) => () => testTopology({ topology: props as any }).app.synth();
  test.each([
    ['an empty router name (a construct id cdk8s refuses)', topology({ upstreamRouters: [{ name: '', address: '198.18.0.110' }] }), /^EcmpTopology 'ecmp': upstreamRouters\[0\]\.name "" is not a DNS label .*Fix: /],
    ['a reflector and a router with one name', topology({ upstreamRouters: [{ name: 'rr1', address: '198.18.0.110' }] }), /^EcmpTopology 'ecmp': upstreamRouters\[0\]\.name "rr1" is also the name of routeReflectors\[0\]\.name\. Fix: /],
    ['an unknown router daemon (reached TOPOLOGY.md)', topology({ upstreamRouters: [{ name: 'router', address: '198.18.0.110', daemon: '{evil}' }] }), /^UpstreamRouterConfig 'ecmp\/router': daemon "\{evil\}" is not a router daemon\. Fix: /],
    ['a fractional hold time (cdk8s threw its own error)', topology({ holdTime: Duration.millis(2500) }), /^RouteReflector 'ecmp\/rr1': holdTime "2\.5s" is not a whole number of seconds/],
    ['a fractional drain timeout', service({ drainTimeout: Duration.millis(1500) }), /^LoadBalancerService 'ecmp\/web': drainTimeout 1\.5 is not an integer in 0\.\.3600\. Fix: /],
    ['an unknown scheduler (a bare word in keepalived.conf)', service({ scheduler: 'rr\n}\nvirtual_server 6.6.6.6 80 {' }), /^LoadBalancerService 'ecmp\/web': scheduler "rr\\n}\\nvirtual_server 6\.6\.6\.6 80 \{" is not an IPVS scheduler\. Fix: /],
    ['an unknown forwarding method', service({ forwardingMethod: 'NAT\nevil' }), /^LoadBalancerService 'ecmp\/web': forwardingMethod "NAT\\nevil" is not a forwarding method\. Fix: /],
  ])('%s', (_name, synth, message) => {
    expect(synth).toThrow(message);
  });

  test('a Secret name that is no DNS subdomain', () => {
    const app = new EcmpApp({ outdir: UNUSED_OUTDIR });
    const chart = new Chart(app, 'c');
    const secret = kplus.Secret.fromSecretName(chart, 's', 'bad"]\nname');
    expect(() => new EcmpTopology(app, 'ecmp', {
      asn: 65021, podNetworks: ['198.19.128.0/17'], routeReflectors: [{ name: 'rr1', address: '198.18.0.109' }], upstreamRouters: [],
      bgpPassword: { secret, key: 'password' },
    })).toThrow(/^RouteReflector 'ecmp\/rr1': bgpPassword\.secret "bad\\"]\\nname" is not a Secret name\. Fix: /);
  });

  test('renderers refuse what constructs never produce: a multi-line announcer, a non-plain description, the placeholder as exabgp key', () => {
    const exabgp: ExabgpModel = {
      asn: 65021, routerId: '198.19.130.2', localAddress: '198.19.130.2', nextHop: '198.18.0.106', holdTimeSeconds: 9,
      neighbors: ['198.18.0.109'], prefixes: ['198.18.101.0/24'], announcerCommand: '',
    };
    expect(() => renderExabgp({ ...exabgp, announcerCommand: '/bin/true\nneighbor 6.6.6.6 {' })).toThrow(/holds a line break/);
    expect(() => renderExabgp({ ...exabgp, bgpPassword: '${ECMP_LB_BGP_PASSWORD}' })).toThrow(/not the placeholder/);
    const router: UpstreamRouterModel = {
      asn: 65021, routerId: '198.18.0.110', reflectors: [{ address: '198.18.0.109', asn: 65021, description: 'rr\n neighbor 6.6.6.6 remote-as 1', passive: false }],
      maximumPaths: 16, servicePrefixes: [], families: [AddressFamily.IPV4_UNICAST],
      timers: { holdTimeSeconds: 9, keepaliveSeconds: 3, connectRetrySeconds: 5 },
      filterPrefixes: true, bgpPassword: '',
    };
    expect(() => renderFrrRouter(router)).toThrow(/neighbor description must be/);
    expect(() => renderBirdRouter(router)).toThrow(/neighbor description must be/);
  });
});
