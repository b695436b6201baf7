import * as fs from 'fs';
import { isIP } from 'net';
import * as path from 'path';
import fc from 'fast-check';
import * as YAML from 'yaml';
import { EndpointSlice } from '../controller/src/endpoint-slices';
import { exabgpModel } from '../controller/src/init';
import { reconcile } from '../controller/src/reconcile';
import { EcmpApp, ForwardingMethod, LoadBalancerServiceModel, Protocol, RouterDaemon } from '../lib';
import { validateTree } from '../lib/config-file';
import { announcerCommand } from '../lib/lb-pod-contract';
import { BGP_PASSWORD_PLACEHOLDER, LB_ROLE_LABEL } from '../lib/model';
import { BatchItem, CheckerKind, checkBatch } from './support/daemon-batch';
import { collisions, manifestRules } from './support/k8s-rules';
import { validateManifest } from './support/k8s-schema';
import { readTree, tempDir } from './support/topology';
import { buildSpec, hostOf, pathsOf, prefixLength, TopologySpec, topologySpecArbitrary } from './support/topology-arbitrary';
import { renderExabgp } from '../lib/renderers/exabgp';
import { renderKeepalived } from '../lib/renderers/keepalived';
import { parseToml } from '../lib/toml';

/**
 * Issue #10, "Nothing that cannot work gets through synth", as properties over random whole
 * topologies built through the public API (test/support/topology-arbitrary.ts):
 *
 * - valid topologies: synth accepts them; every manifest passes the Kubernetes 1.27 schema and the
 *   API server's name and label rules (test/support/k8s-rules.ts); no two objects collide; every
 *   daemon file, the in-cluster reflectors' ConfigMaps and the LB pods' per-pod renderings pass the
 *   real daemons' checkers (for the first DAEMON_RUNS topologies, deduplicated, a few at a time);
 * - corrupted topologies (a valid one with one field made bad, one class per test): synth refuses
 *   with a message naming the construct path and the field, and writes nothing to its outdir.
 *
 * The seed is fixed and printed (override: FC_SEED=n; runs: FC_VALID_RUNS, FC_DAEMON_RUNS, FC_CORRUPT_SAMPLES;
 * FC_CHECKERS: checkers at once; FC_SHOW_MESSAGES=1 prints the first refusals of every corruption class).
 */

const SEED = Number(process.env.FC_SEED ?? 20261202);
const VALID_RUNS = Number(process.env.FC_VALID_RUNS ?? 300);
const DAEMON_RUNS = Math.min(VALID_RUNS, Number(process.env.FC_DAEMON_RUNS ?? 50));
const CORRUPT_SAMPLES = Number(process.env.FC_CORRUPT_SAMPLES ?? 12);
const PARALLELISM = Number(process.env.FC_CHECKERS ?? 3);
/** What an operator fills the placeholder with before a daemon reads the file. */
const LAB_KEY = 'lab+Key/=1';

const WORK = tempDir('ecmp-synth-property');
let outdirCount = 0;
const freshOutdir = () => path.join(WORK, `out-${++outdirCount}`);

interface Synthesized {
  manifests: any[];
  files: Map<string, string>;
}

/** Synthesizes into `outdir` and reads back what was written. */
function synthToDir(spec: TopologySpec, outdir: string): Synthesized {
  const app = buildSpec(spec, outdir);
  app.synth();
  const files = readTree(outdir);
  const manifests = [...files].filter(([p]) => p.endsWith('.yaml'))
    .flatMap(([, text]) => YAML.parseAllDocuments(text).map(d => d.toJSON()).filter(Boolean));
  return { manifests, files: new Map([...files].filter(([p]) => !p.endsWith('.yaml'))) };
}

/** The same as EcmpApp.synth, in memory: validation, every ConfigFile, every chart's manifests (as JSON, not YAML). */
function synthInMemory(spec: TopologySpec): Synthesized {
  const app: EcmpApp = buildSpec(spec, path.join(WORK, 'never-written'));
  validateTree(app);
  const files = new Map(app.renderFiles().map(file => [file.path, file.content]));
  const manifests = app.charts.flatMap(chart => chart.toJson());
  return { manifests, files };
}

const compact = (spec: TopologySpec) => JSON.stringify(spec);
const firstLines = (text: string, n = 12) => text.split('\n').slice(0, n).join('\n');
/** The checker's last words, without exabgp's timestamp and pid columns. */
const lastLines = (output: string) => output.trim().split('\n').slice(-2).map(l => l.replace(/^\d\d:\d\d:\d\d \| \d+ +\| /, '')).join(' | ');

// ---------------------------------------------------------------------------------------------
// Per-pod renderings, as the LB pod makes them from its ConfigMap (cf. synthesized-configs.test.ts)
// ---------------------------------------------------------------------------------------------

/**
 * What the downward API gives an LB pod: status.podIP and status.hostIP are the primary family's,
 * IPv4 (the library requires an IPv4 pod network: LB pods open their reflector sessions over
 * IPv4). Backends are pods of the service's own family.
 */
function podIdentity(model: LoadBalancerServiceModel, spec: TopologySpec) {
  const primary = spec.podNetworks.find(n => !n.includes(':'))!;
  const backendsOf = (v6: boolean) => [11, 12, 13].map(k => hostOf(spec.podNetworks.find(n => n.includes(':') === v6) ?? primary, k));
  return {
    podIp: hostOf(primary, 2), nodeIp: '198.18.0.251', podName: `${model.name}-lb-0`, podNamespace: model.namespace,
    // A dual-stack service's IPv6 next hop: the node's IPv6 address (from its Node object at run time).
    nodeIpv6: '2001:db8:ffff::251',
    backends: { v4: backendsOf(false), v6: backendsOf(true) },
  };
}

/** Two ready backends and one unready one per address family the VIPs use. */
function slices(model: LoadBalancerServiceModel, backends: { v4: string[]; v6: string[] }): EndpointSlice[] {
  const ports = model.ports.map(p => ({ name: `${p.protocol.toLowerCase()}-${p.backendPort}`, port: p.backendPort, protocol: p.protocol }));
  const families = [false, true].filter(v6 => model.vips.some(v => v.includes(':') === v6));
  return families.map(v6 => {
    const of = v6 ? backends.v6 : backends.v4;
    return {
      addressType: v6 ? 'IPv6' : 'IPv4',
      ports,
      endpoints: [
        { addresses: [of[1]], conditions: { ready: true } },
        { addresses: [of[0]], conditions: { ready: true } },
        { addresses: [of[2]], conditions: { ready: false } },
      ],
    };
  });
}

function podRenderings(model: LoadBalancerServiceModel, spec: TopologySpec, origin: string): BatchItem[] {
  const pod = podIdentity(model, spec);
  // A literal reflector address as is; a Service name as the pod's resolver would answer it.
  const neighbors = model.reflectors.map((r, i) => (isIP(r.host) ? r.host : `198.19.255.${i + 1}`));
  const signed = model.signBgpSessions ? { bgpPassword: LAB_KEY } : {};
  const exabgp = renderExabgp({ ...exabgpModel(model, pod, neighbors, announcerCommand()), ...signed });
  // The announcer sends `announce route PREFIX next-hop NODE_IP` at run time, which `exabgp --test`
  // cannot see in the API form: the same routes as static routes, which it decodes and encodes.
  const dual = model.prefixes.some(p => p.includes(':') !== pod.nodeIp.includes(':'));
  const announced = renderExabgp({ ...exabgpModel(model, pod, neighbors, ''), ...signed, ...(dual ? { otherNextHop: pod.nodeIpv6 } : {}) });
  const keepalived = renderKeepalived(reconcile(model, slices(model, pod.backends), pod.podIp));
  return [
    { kind: 'exabgp', text: exabgp, origin: `${origin}: exabgp.conf of LB pod ${model.namespace}/${model.name}` },
    { kind: 'exabgp', text: announced, origin: `${origin}: exabgp.conf of LB pod ${model.namespace}/${model.name} with the announced routes as static routes` },
    { kind: 'keepalived', text: keepalived, origin: `${origin}: keepalived.conf of LB pod ${model.namespace}/${model.name}` },
  ];
}

function checkerOf(file: string): CheckerKind | undefined {
  if (file.endsWith('gobgpd.toml')) return 'gobgpd';
  if (file.endsWith('frr.conf') || file.endsWith('zebra.conf')) return 'frr';
  if (file.endsWith('bird.conf')) return 'bird';
  if (file.endsWith('99-ecmp-router.conf')) return 'sysctl';
  if (file.endsWith('/daemons')) return 'shell';
  if (file.endsWith('.json')) return 'json';
  return undefined;
}

const fill = (text: string) => text.split(BGP_PASSWORD_PLACEHOLDER).join(LAB_KEY);

/** Every file of one synthesized topology that has a checker, and every per-pod rendering. */
function daemonItems(spec: TopologySpec, out: Synthesized, run: number): BatchItem[] {
  const origin = `valid run ${run}`;
  const items: BatchItem[] = [];
  for (const [file, text] of out.files) {
    const kind = checkerOf(file);
    if (kind) items.push({ kind, text: fill(text), origin: `${origin}: ${file}` });
  }
  for (const m of out.manifests.filter(x => x.kind === 'ConfigMap')) {
    for (const [key, text] of Object.entries<string>(m.data ?? {})) {
      const kind: CheckerKind | undefined = key === 'announcer.py' ? 'python' : checkerOf(`/${key}`);
      if (kind) items.push({ kind, text: fill(text), origin: `${origin}: ConfigMap ${m.metadata.namespace ?? 'default'}/${m.metadata.name} ${key}` });
    }
    if (m.data?.['service.json']) items.push(...podRenderings(JSON.parse(m.data['service.json']), spec, origin));
  }
  return items;
}

// ---------------------------------------------------------------------------------------------
// Valid topologies
// ---------------------------------------------------------------------------------------------

interface ValidRun {
  run: number;
  spec: TopologySpec;
  out?: Synthesized;
  refused?: string;
}

let validRuns: ValidRun[] | undefined;

/** The generated valid topologies, each synthesized once (to disk for the first DAEMON_RUNS). */
function valid(): ValidRun[] {
  if (validRuns) return validRuns;
  // One app in eight holds a second EcmpTopology beside the generated one: still one node agent.
  const specs = fc.sample(topologySpecArbitrary(), { seed: SEED, numRuns: VALID_RUNS })
    .map((spec, run) => (run % 8 === 7 ? { ...spec, extras: { ...spec.extras, secondTopology: true } } : spec));
  validRuns = specs.map((spec, run) => {
    try {
      return { run, spec, out: run < DAEMON_RUNS ? synthToDir(spec, freshOutdir()) : synthInMemory(spec) };
    } catch (err) {
      return { run, spec, refused: (err as Error).message };
    }
  });
  return validRuns;
}

/** Fails with every problem, grouped by its first line's shape, a few examples each. */
function expectNoProblems(what: string, problems: { key: string; detail: string }[]) {
  if (problems.length === 0) return;
  const groups = new Map<string, string[]>();
  for (const p of problems) groups.set(p.key, [...(groups.get(p.key) ?? []), p.detail]);
  const report = [...groups].map(([key, details]) => `- ${key} (${details.length}x)\n    ${details.slice(0, 2).join('\n    ')}`).join('\n');
  throw new Error(`${what}: ${problems.length} problem(s) in ${groups.size} group(s)\n${report}`);
}

/** A problem text with names, paths, numbers and addresses blanked: the group key. */
const shape = (text: string) => text
  .replace(/^(\w+)\/\S+: /, '$1: ')
  .replace(/"[^"]*"/g, '"…"').replace(/'[^']*'/g, "'…'")
  .replace(/\b[0-9a-f:.]*\d[0-9a-f:./]*\b/g, 'N').slice(0, 160);

describe(`valid topologies (seed ${SEED}; ${VALID_RUNS} runs, the first ${DAEMON_RUNS} through the daemons' checkers)`, () => {
  beforeAll(() => {
    const started = Date.now();
    const runs = valid();
    const shapes = runs.filter(r => r.out);
    console.log(`synth-property: ${runs.length} valid topologies generated (seed ${SEED}), ${shapes.length} synthesized, ${runs.length - shapes.length} refused; `
      + `${shapes.reduce((n, r) => n + r.out!.manifests.length, 0)} manifests; styles ${runs.filter(r => r.spec.style === 'topology').length} EcmpTopology / ${runs.filter(r => r.spec.style === 'charts').length} charts; `
      + `dual-stack ${runs.filter(r => r.spec.dualStack).length} (dual-stack services ${runs.reduce((n, r) => n + r.spec.services.filter(x => x.prefixes.some(p => p.includes(':'))).length, 0)}); ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 120_000);

  test('synth accepts every generated valid topology', () => {
    expectNoProblems('valid topologies refused', valid().filter(r => r.refused).map(r => ({
      key: shape(r.refused!.split('\n').slice(0, 2).join(' ')),
      detail: `run ${r.run}: ${r.refused!.slice(0, 400)}\n    spec: ${compact(r.spec).slice(0, 1500)}`,
    })));
  });

  test('every manifest passes the Kubernetes 1.27 schema (unknown fields rejected)', () => {
    const problems: { key: string; detail: string }[] = [];
    let count = 0;
    for (const r of valid().filter(x => x.out)) {
      for (const m of r.out!.manifests) {
        count++;
        try {
          validateManifest(m);
        } catch (err) {
          problems.push({ key: shape((err as Error).message), detail: `run ${r.run}: ${(err as Error).message.slice(0, 300)}` });
        }
      }
    }
    console.log(`synth-property: ${count} manifests through the Kubernetes 1.27 schema, ${problems.length} rejected`);
    expectNoProblems('schema', problems);
  });

  test('every manifest passes the API server\'s name, label, annotation, port, env, quantity and image rules', () => {
    const problems: { key: string; detail: string }[] = [];
    for (const r of valid().filter(x => x.out)) {
      for (const m of r.out!.manifests) {
        for (const p of manifestRules(m)) problems.push({ key: shape(p), detail: `run ${r.run}: ${p}\n      spec: ${compact(r.spec).slice(0, 600)}` });
      }
    }
    expectNoProblems('API server rules', problems);
  });

  test('no two objects of the app have the same group, kind, namespace and name', () => {
    const problems: { key: string; detail: string }[] = [];
    for (const r of valid().filter(x => x.out)) {
      for (const p of collisions(r.out!.manifests)) problems.push({ key: shape(p), detail: `run ${r.run}: ${p}\n      spec: ${compact(r.spec).slice(0, 600)}` });
    }
    expectNoProblems('collisions', problems);
  });

  test('the files agree with each other: reflector agent bindings name gobgpd neighbor sets; the node agent watches every LB namespace', () => {
    const problems: { key: string; detail: string }[] = [];
    let bindings = 0;
    let lbs = 0;
    const add = (r: ValidRun, p: string) => problems.push({ key: shape(p), detail: `run ${r.run}: ${p}\n      spec: ${compact(r.spec).slice(0, 600)}` });
    for (const r of valid().filter(x => x.out)) {
      const { files, manifests } = r.out!;
      // (bindings, gobgpd.toml) per reflector: a standalone box's files, or an in-cluster reflector's ConfigMap.
      const pairs: [string, string | undefined, string | undefined][] = [];
      for (const [file, text] of files) {
        const m = /^route-reflectors\/([^/]+)\/lb-pod-bindings\.json$/.exec(file);
        if (m) pairs.push([file, text, files.get(`route-reflectors/${m[1]}/gobgpd.toml`)]);
      }
      for (const cm of manifests.filter(x => x.kind === 'ConfigMap' && x.data?.['lb-pod-bindings.json'])) {
        pairs.push([`ConfigMap ${cm.metadata.name}`, cm.data['lb-pod-bindings.json'], cm.data['gobgpd.toml']]);
      }
      for (const [where, bindingsText, toml] of pairs) {
        if (toml === undefined) {
          add(r, `${where}: no gobgpd.toml beside the reflector agent's bindings`);
          continue;
        }
        const sets = new Set<string>(((parseToml(toml) as any)['defined-sets']?.['neighbor-sets'] ?? []).map((n: any) => n['neighbor-set-name']));
        for (const binding of JSON.parse(bindingsText!).bindings as { namespace: string; service: string }[]) {
          bindings++;
          const set = `lb-pods.${binding.namespace}.${binding.service}`;
          if (!sets.has(set)) add(r, `${where}: binding ${binding.namespace}/${binding.service} has no neighbor set ${set} in gobgpd.toml (sets: ${[...sets].join(', ')})`);
        }
      }
      const agents = manifests.filter(x => x.kind === 'DaemonSet' && x.metadata.name === 'ecmp-lb-node-agent');
      // Two agents would each remove the other's routes (one protocol number): one per app.
      if (agents.length > 1) add(r, `${agents.length} node agents (${agents.map(x => x.metadata.namespace).join(', ')}); the app must have one`);
      const watched = new Set(agents.flatMap(a => a.spec.template.spec.containers[0].args.flatMap((arg: string) => arg.startsWith('--namespaces=') ? arg.slice(13).split(',') : [])));
      for (const lb of manifests.filter(x => x.kind === 'Deployment' && x.spec.template.metadata?.labels?.[LB_ROLE_LABEL] === 'lb')) {
        lbs++;
        const ns = lb.metadata.namespace ?? 'default';
        if (!watched.has(ns)) add(r, `Deployment ${ns}/${lb.metadata.name}: no node agent watches namespace ${ns} (${[...watched].join(', ')})`);
      }
    }
    console.log(`synth-property cross-file: ${bindings} reflector agent bindings, ${lbs} LB Deployments checked`);
    expect(bindings).toBeGreaterThan(0);
    expectNoProblems('cross-file', problems);
  });

  test(`every daemon file, reflector ConfigMap and per-pod rendering of the first ${DAEMON_RUNS} topologies passes its real checker`, async () => {
    const runs = valid().filter(r => r.out && r.run < DAEMON_RUNS);
    const items = runs.flatMap(r => daemonItems(r.spec, r.out!, r.run));
    const report = await checkBatch(items, PARALLELISM);
    console.log(`synth-property daemons: ${runs.length} topologies, ${report.submitted} files, ${report.checked} distinct checked in ${report.seconds.toFixed(1)} s `
      + `(${Object.entries(report.perKind).map(([k, n]) => `${k} ${n}`).join(', ')}), ${report.failures.length} rejected`);
    // Every kind of checker must really have run.
    for (const kind of ['gobgpd', 'frr', 'bird', 'exabgp', 'keepalived'] as const) expect([kind, (report.perKind[kind] ?? 0) > 0]).toEqual([kind, true]);
    expectNoProblems('daemon checkers', report.failures.map(f => ({
      key: `${f.kind} exit ${f.code}: ${shape(lastLines(f.output))}`,
      detail: `${f.origins[0]}${f.origins.length > 1 ? ` (+${f.origins.length - 1} more)` : ''}\n      checker: ${f.output.trim().split('\n').slice(-6).join('\n      ')}\n      file: ${firstLines(f.text, 40).split('\n').join('\n      ')}`,
    })));
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Corrupted topologies
// ---------------------------------------------------------------------------------------------

/** A deterministic PRNG per corruption class (mulberry32). */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] };
}
type Rng = ReturnType<typeof rng>;

interface Corrupted {
  spec: TopologySpec;
  /** Construct paths of which one must be named in the message. */
  paths: string[];
  /** The field as the message names it, right after `'<path>': `. */
  field: RegExp;
  /** What the corruption did, for the report. */
  what: string;
  /** When set, the value must appear in the message as this (NaN and Infinity must not print as null). */
  value?: RegExp;
}

interface CorruptionClass {
  name: string;
  /** Undefined when the class does not apply to this base topology. */
  apply: (spec: TopologySpec, r: Rng, base: Synthesized) => Corrupted | undefined;
}

const clone = (spec: TopologySpec): TopologySpec => JSON.parse(JSON.stringify(spec));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A fresh name no spec part uses. */
const unusedName = (spec: TopologySpec, stem: string) => {
  const used = new Set([...spec.reflectors, ...spec.routers, ...spec.services].map(x => x.name));
  let i = 1;
  while (used.has(`${stem}${i}`)) i++;
  return `${stem}${i}`;
};

/** One numeric field of a valid spec set to `value` (NaN or Infinity). */
function numericCorruption(field: string, value: number): CorruptionClass {
  const word = Number.isNaN(value) ? 'NaN' : 'Infinity';
  const withValue = (c: Omit<Corrupted, 'value'>): Corrupted => ({ ...c, value: new RegExp(`${c.field.source} "?${word}`) });
  return {
    name: `${word} in ${field}`,
    apply: (base, r) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      switch (field) {
        case 'asn':
          spec.asn = value;
          spec.routers.forEach(x => { if (x.asn !== undefined) x.asn = value; });
          spec.services.forEach(x => { if (x.asn !== undefined) x.asn = value; });
          return withValue({ spec, paths: p.all(), field: /(\w+\.)?asn/, what: `asn ${word}` });
        case 'ports[].port': {
          const j = r.int(s.ports.length);
          s.ports[j].port = value;
          return withValue({ spec, paths: [p.service(si)], field: new RegExp(`ports\\[${j}\\]\\.port`), what: `${s.name} ports[${j}].port ${word}` });
        }
        case 'ports[].backendPort': {
          const j = r.int(s.ports.length);
          s.ports[j].backendPort = value;
          return withValue({ spec, paths: [p.service(si)], field: new RegExp(`ports\\[${j}\\]\\.backendPort`), what: `${s.name} ports[${j}].backendPort ${word}` });
        }
        case 'lbCount':
          s.lbCount = value;
          return withValue({ spec, paths: [p.service(si)], field: /lbCount/, what: `${s.name} lbCount ${word}` });
        case 'drainTimeout':
          s.drainSeconds = value;
          return withValue({ spec, paths: [p.service(si)], field: /drainTimeout/, what: `${s.name} drainTimeout ${word} s` });
        case 'healthCheck.interval':
          s.healthCheck = { ...s.healthCheck, intervalSeconds: value, timeoutSeconds: undefined };
          return withValue({ spec, paths: [p.service(si)], field: /healthCheck\.interval/, what: `${s.name} healthCheck.interval ${word} s` });
        case 'healthCheck.timeout':
          s.healthCheck = { ...s.healthCheck, timeoutSeconds: value };
          return withValue({ spec, paths: [p.service(si)], field: /healthCheck\.timeout/, what: `${s.name} healthCheck.timeout ${word} s` });
        case 'healthCheck.retries':
          s.healthCheck = { ...s.healthCheck, retries: value };
          return withValue({ spec, paths: [p.service(si)], field: /healthCheck\.retries/, what: `${s.name} healthCheck.retries ${word}` });
        case 'healthCheck.httpExpectStatus':
          s.healthCheck = { ...s.healthCheck, httpExpectStatus: value };
          return withValue({ spec, paths: [p.service(si)], field: /healthCheck\.httpExpectStatus/, what: `${s.name} healthCheck.httpExpectStatus ${word}` });
        case 'holdTime':
          spec.holdSeconds = value;
          delete spec.keepaliveSeconds;
          return withValue({ spec, paths: p.all(), field: /holdTime/, what: `holdTime ${word} s` });
        case 'service holdTime':
          s.holdSeconds = value;
          delete s.keepaliveSeconds;
          return withValue({ spec, paths: [p.service(si)], field: /holdTime/, what: `${s.name} holdTime ${word} s` });
        case 'sendMax': {
          const ri = r.int(spec.reflectors.length);
          spec.reflectors[ri].sendMax = value;
          return withValue({ spec, paths: [p.reflector(ri), p.chart], field: /sendMax/, what: `${spec.reflectors[ri].name} sendMax ${word}` });
        }
        case 'maximumPaths': {
          const ri = r.int(spec.routers.length);
          if (spec.routers[ri].daemon === RouterDaemon.GOBGP_ZEBRA) delete spec.routers[ri].daemon;
          spec.routers[ri].maximumPaths = value;
          return withValue({ spec, paths: [p.router(ri), p.chart], field: /maximumPaths/, what: `${spec.routers[ri].name} maximumPaths ${word}` });
        }
        default:
          throw new Error(field);
      }
    },
  };
}

/** A prefix of `spec`'s family from a bad class; the service keeps no explicit VIPs. */
function badPrefixCorruption(name: string, v4: string[], v6: string[]): CorruptionClass {
  return {
    name,
    apply: (base, r) => {
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      const prefix = r.pick(s.prefixes[0].includes(':') ? v6 : v4);
      const k = r.int(s.prefixes.length);
      s.prefixes[k] = prefix;
      delete s.vips;
      return { spec, paths: [pathsOf(spec).service(si)], field: /prefixes(\[\d+\])?/, what: `${s.name} prefixes[${k}] ${prefix}` };
    },
  };
}

const IMAGE_BAD = ['Nginx:1.0', 'lb:', ':1.0', 'foo bar', 'a@sha256:xyz', ' lb', 'lb:tag:tag', 'http://lb', 'lb:-x', 'reg.example.com/Team/lb'];

const corruptions: CorruptionClass[] = [
  ...[0, 23456, 65535, 4294967295].map((asn): CorruptionClass => ({
    name: `reserved ASN ${asn}`,
    apply: (base, r) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      const where = r.int(3);
      if (where === 0 || spec.style === 'topology') {
        spec.asn = asn;
        spec.routers.forEach(x => { if (x.asn !== undefined) x.asn = asn; });
        spec.services.forEach(x => { if (x.asn !== undefined) x.asn = asn; });
        return { spec, paths: p.all(), field: /(\w+\.)?asn/, what: `the topology's asn ${asn}`, value: new RegExp(`asn ${asn}`) };
      }
      // Charts: every construct takes the AS, so set it on all of them.
      spec.asn = asn;
      spec.routers.forEach(x => { x.asn = asn; });
      spec.services.forEach(x => { x.asn = asn; });
      return { spec, paths: p.all(), field: /(\w+\.)?asn/, what: `asn ${asn} on every construct`, value: new RegExp(`asn ${asn}`) };
    },
  })),
  ...['asn', 'ports[].port', 'ports[].backendPort', 'lbCount', 'drainTimeout', 'healthCheck.interval', 'healthCheck.timeout', 'healthCheck.retries',
    'healthCheck.httpExpectStatus', 'holdTime', 'service holdTime', 'sendMax', 'maximumPaths']
    .flatMap(field => [numericCorruption(field, Number.NaN), numericCorruption(field, Number.POSITIVE_INFINITY)]),
  {
    name: 'duplicate reflector addresses',
    apply: (base, r) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      if (spec.reflectors.length < 2) {
        spec.reflectors.push({ ...spec.reflectors[0], name: unusedName(spec, 'rrdup') });
        delete spec.reflectors[1].routerId;
        delete spec.reflectors[1].clusterId;
      } else {
        spec.reflectors[1].address = spec.reflectors[0].address;
      }
      const i = r.int(2);
      return { spec, paths: p.all(), field: /routeReflectors(\[\d+\](\.address)?)?|address|routerId/, what: `reflectors ${spec.reflectors[0].name} and ${spec.reflectors[1].name} both at ${spec.reflectors[0].address} (${i})` };
    },
  },
  {
    name: 'duplicate router addresses',
    apply: (base) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      if (spec.routers.length < 2) spec.routers.push({ ...spec.routers[0], name: unusedName(spec, 'routerdup') });
      else spec.routers[1].address = spec.routers[0].address;
      return { spec, paths: p.all(), field: /upstream ?[rR]outers(\[\d+\](\.address)?)?|address|routerId/, what: `routers ${spec.routers[0].name} and ${spec.routers[1].name} both at ${spec.routers[0].address}` };
    },
  },
  {
    name: 'a router at a reflector\'s address',
    apply: (base, r) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      const ri = r.int(spec.reflectors.length);
      const ui = r.int(spec.routers.length);
      spec.routers[ui].address = spec.reflectors[ri].address;
      delete spec.routers[ui].routerId;
      return { spec, paths: p.all(), field: /(upstreamRouters\[\d+\]\.|routeReflectors\[\d+\]\.)?(address|routerId)|upstream ?[rR]outers|routeReflectors/, what: `router ${spec.routers[ui].name} at reflector ${spec.reflectors[ri].name}'s ${spec.reflectors[ri].address}` };
    },
  },
  {
    name: 'a reflector address inside a service prefix',
    apply: (base, r) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      const ri = r.int(spec.reflectors.length);
      const v4Services = spec.services.map((x, i) => [x, i] as const).filter(([x]) => !x.prefixes[0].includes(':'));
      if (v4Services.length === 0) return undefined;
      const [, si] = r.pick(v4Services);
      const prefix = spec.services[si].prefixes[0];
      const bits = 32 - prefixLength(prefix);
      const address = hostOf(prefix, bits === 0 ? 0 : Math.min(2 ** bits - 1, 1 + r.int(200)));
      spec.reflectors[ri].address = address;
      delete spec.reflectors[ri].routerId;
      return { spec, paths: p.all(), field: /(routeReflectors\[\d+\]\.)?address|prefixes(\[\d+\])?|routeReflectors/, what: `reflector ${spec.reflectors[ri].name} at ${address} inside ${spec.services[si].name}'s ${prefix}` };
    },
  },
  {
    name: 'a reflector address inside the pod network',
    apply: (base, r) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      const ri = r.int(spec.reflectors.length);
      const network = r.pick(spec.podNetworks.filter(n => !n.includes(':')));
      const address = hostOf(network, 1 + r.int(200));
      spec.reflectors[ri].address = address;
      delete spec.reflectors[ri].routerId;
      return { spec, paths: [p.chart, p.reflector(ri)], field: /(routeReflectors\[\d+\]\.)?address|podNetworks(\[\d+\])?/, what: `reflector ${spec.reflectors[ri].name} at ${address} inside the pod network ${network}` };
    },
  },
  {
    name: 'overlapping pod networks',
    apply: (base, r) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      const network = r.pick(spec.podNetworks);
      const length = prefixLength(network);
      const inner = `${hostOf(network, 0)}/${length + 1 + r.int(4)}`;
      spec.podNetworks.push(inner);
      return { spec, paths: [p.chart, ...spec.reflectors.map((_x, i) => p.reflector(i))], field: /podNetworks(\[\d+\])?/, what: `podNetworks ${JSON.stringify(spec.podNetworks)}` };
    },
  },
  {
    name: 'an IPv6 prefix in an IPv4 topology',
    apply: (base, r) => {
      if (base.dualStack) return undefined;
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      s.prefixes = [`2001:db8:${(0xe000 + r.int(0xfff)).toString(16)}::/64`];
      delete s.vips;
      return { spec, paths: [pathsOf(spec).service(si), pathsOf(spec).chart], field: /prefixes(\[\d+\])?/, what: `${s.name} prefixes ${s.prefixes[0]} with IPv4 pod networks ${spec.podNetworks.join(', ')}` };
    },
  },
  badPrefixCorruption('a multicast prefix', ['224.1.2.0/24', '239.255.0.0/16', '224.0.0.0/4', '232.1.1.1/32'], ['ff05::/16', 'ff02::1:0/112', 'ff0e:db8::/32']),
  badPrefixCorruption('a loopback prefix', ['127.0.0.0/8', '127.1.2.0/24', '127.0.0.1/32'], ['::1/128']),
  badPrefixCorruption('a link-local prefix', ['169.254.0.0/16', '169.254.10.0/24', '169.254.169.254/32'], ['fe80::/64', 'fe80::/10', 'febf:ffff::/32']),
  {
    name: 'a VIP equal to its prefix\'s network address',
    apply: (base, r) => {
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      const v4 = !s.prefixes[0].includes(':');
      const max = v4 ? 30 : 126;
      let k = s.prefixes.findIndex(x => prefixLength(x) <= max);
      if (k < 0) {
        // Only /32 (/128) prefixes: widen the first to an aligned /28 (/120).
        k = 0;
        s.prefixes[0] = v4 ? `${hostOf(s.prefixes[0], 0).replace(/\.\d+$/, '.0')}/28` : `${hostOf(s.prefixes[0], 0).replace(/:[0-9a-f]*$/, ':')}/120`;
        delete s.vips;
      }
      const vip = hostOf(s.prefixes[k], 0);
      s.vips = [vip];
      return { spec, paths: [pathsOf(spec).service(si)], field: /vips(\[\d+\])?/, what: `${s.name} vips [${vip}] for prefix ${s.prefixes[k]}` };
    },
  },
  {
    name: 'duplicate VIPs',
    apply: (base, r) => {
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      const prefix = s.prefixes[0];
      const vip = s.vips?.[0] ?? hostOf(prefix, (prefix.includes(':') ? 128 : 32) - prefixLength(prefix) <= 1 ? 0 : 1);
      s.vips = [vip, ...(s.vips ?? []).filter(v => v !== vip), vip];
      return { spec, paths: [pathsOf(spec).service(si)], field: /vips(\[\d+\])?/, what: `${s.name} vips ${JSON.stringify(s.vips)}` };
    },
  },
  {
    name: 'duplicate ports',
    apply: (base, r) => {
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      const j = r.int(s.ports.length);
      const copy = { ...s.ports[j] };
      // The same port and protocol; sometimes another backend port (NAT), sometimes the protocol spelled out.
      if (r.int(2) === 0 && copy.protocol === undefined) copy.protocol = Protocol.TCP;
      if ((s.forwardingMethod ?? ForwardingMethod.NAT) === ForwardingMethod.NAT && r.int(2) === 0) {
        copy.backendPort = ((copy.backendPort ?? copy.port) % 65535) + 1;
      }
      s.ports.splice(r.int(s.ports.length + 1), 0, copy);
      return { spec, paths: [pathsOf(spec).service(si)], field: /ports(\[\d+\])?(\.port)?/, what: `${s.name} ports ${JSON.stringify(s.ports)}` };
    },
  },
  {
    name: 'health-check timeout >= interval',
    apply: (base, r) => {
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      const interval = 1 + r.int(10);
      const timeout = interval + r.int(3);
      s.healthCheck = { ...s.healthCheck, intervalSeconds: interval, timeoutSeconds: timeout };
      if (r.int(3) === 0 && interval === 2) delete s.healthCheck.intervalSeconds;
      return { spec, paths: [pathsOf(spec).service(si)], field: /healthCheck(\.(timeout|interval))?/, what: `${s.name} healthCheck interval ${interval} s, timeout ${timeout} s` };
    },
  },
  {
    name: 'an invalid namespace',
    apply: (base, r) => {
      const spec = clone(base);
      spec.namespace = r.pick(['Bad_NS', 'lb.ns', '-lb', 'lb-', 'a'.repeat(64), 'ns with space', 'UPPER', 'lb/x', 'lb\n']);
      return { spec, paths: pathsOf(spec).all(), field: /namespace/, what: `namespace ${JSON.stringify(spec.namespace)}` };
    },
  },
  {
    name: 'an invalid nodeSelector key',
    apply: (base, r) => {
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      const key = r.pick(['bad key', 'a/b/c', 'x'.repeat(64), '-lead', 'Example.com/x', '/x', 'x/', 'zone!', 'example.com/-x']);
      s.nodeSelector = { ...s.nodeSelector, [key]: 'x' };
      return { spec, paths: [pathsOf(spec).service(si)], field: /nodeSelector/, what: `${s.name} nodeSelector key ${JSON.stringify(key)}` };
    },
  },
  {
    name: 'an invalid label (backend selector key or value, nodeSelector value)',
    apply: (base, r) => {
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      const where = r.int(3);
      if (where === 2) {
        const value = r.pick(['bad value', 'x'.repeat(64), '-x', 'x_', 'a/b']);
        s.nodeSelector = { zone: value };
        return { spec, paths: [pathsOf(spec).service(si)], field: /nodeSelector/, what: `${s.name} nodeSelector value ${JSON.stringify(value)}` };
      }
      const [key, value] = where === 0
        ? [r.pick(['bad key', 'a/b/c', 'x'.repeat(64), 'Example.com/app']), 'web']
        : ['app', r.pick(['bad value', 'x'.repeat(64), '-x', 'x_', 'a/b', 'ä'])];
      s.backends = { kind: 'labels', labels: { [key]: value } };
      return { spec, paths: [pathsOf(spec).service(si)], field: /backends/, what: `${s.name} backends labels ${JSON.stringify({ [key]: value })}` };
    },
  },
  {
    name: 'a malformed image reference',
    apply: (base, r) => {
      const spec = clone(base);
      const p = pathsOf(spec);
      const bad = r.pick(IMAGE_BAD);
      const inCluster = spec.reflectors.findIndex(x => x.kind === 'gobgp-in-cluster');
      const where = r.int(inCluster >= 0 ? 4 : 2);
      if (where >= 2) {
        const field = where === 2 ? 'image' : 'agentImage';
        spec.reflectors[inCluster][field] = bad;
        return { spec, paths: [p.reflector(inCluster), p.chart], field: new RegExp(`(routeReflectors\\[\\d+\\]\\.)?${field}`), what: `reflector ${spec.reflectors[inCluster].name} ${field} ${JSON.stringify(bad)}` };
      }
      const si = r.int(spec.services.length);
      const field = where === 0 ? 'image' : 'exabgpImage';
      spec.services[si][field] = bad;
      return { spec, paths: [p.service(si)], field: new RegExp(field), what: `${spec.services[si].name} ${field} ${JSON.stringify(bad)}` };
    },
  },
  {
    name: 'a bad resource quantity',
    apply: (base, r) => {
      const spec = clone(base);
      const si = r.int(spec.services.length);
      const s = spec.services[si];
      const bad = r.pick(['1.5.5', '100 m', 'abc', '-1', '64mb', '1KI', '', 'NaN', '1e', '0x10']);
      const [part, name] = r.pick([['requests', 'cpu'], ['requests', 'memory'], ['limits', 'memory'], ['limits', 'cpu']] as const);
      s.resources = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' }, ...s.resources };
      s.resources[part] = { ...s.resources[part], [name]: bad };
      return { spec, paths: [pathsOf(spec).service(si)], field: /resources/, what: `${s.name} resources.${part}.${name} ${JSON.stringify(bad)}` };
    },
  },
  {
    name: 'a name colliding with an existing object in the chart',
    apply: (base, r, synthesized) => {
      const spec = clone(base);
      const ns = spec.namespace;
      // An object of the main chart (same namespace), not the Namespace itself.
      const candidates = synthesized.manifests.filter(m => m.kind !== 'Namespace' && (m.metadata?.namespace ?? undefined) === ns);
      if (candidates.length === 0) return undefined;
      const m = r.pick(candidates);
      spec.extras = { duplicateObject: { apiVersion: m.apiVersion, kind: m.kind, name: m.metadata.name } };
      return {
        spec, paths: [`${spec.chartId}/UserObject`, ...pathsOf(spec).all()], field: /(metadata\.)?name/,
        what: `a user ${m.kind} named ${m.metadata.name} beside the generated one`,
      };
    },
  },
  {
    name: 'bgpPassword on an in-cluster reflector\'s router session',
    apply: (base, r) => {
      const spec = clone(base);
      const ri = r.int(spec.reflectors.length);
      for (const x of spec.reflectors) if (x.kind === 'frr') x.kind = 'gobgp';
      const x = spec.reflectors[ri];
      if (x.kind !== 'gobgp-in-cluster') {
        x.kind = 'gobgp-in-cluster';
        x.nodeName = 'node-rr';
      }
      delete spec.bindPrefixesToLbPods;
      spec.reflectors.forEach(y => { delete y.bindPrefixesToLbPods; });
      spec.password = { secretName: 'bgp-md5', key: 'password', ...(r.int(2) ? { sign: false } : {}) };
      return { spec, paths: [pathsOf(spec).reflector(ri), ...pathsOf(spec).all()], field: /bgpPassword/, what: `in-cluster reflector ${x.name} with bgpPassword` };
    },
  },
  {
    name: 'maximumPaths set on a GOBGP_ZEBRA router',
    apply: (base, r) => {
      const spec = clone(base);
      const ui = r.int(spec.routers.length);
      const maxLb = Math.max(...spec.services.map(s => s.lbCount ?? 2));
      spec.routers[ui].daemon = RouterDaemon.GOBGP_ZEBRA;
      spec.routers[ui].maximumPaths = Math.max(16, maxLb) + r.int(10);
      return { spec, paths: [pathsOf(spec).router(ui), pathsOf(spec).chart], field: /(upstreamRouters\[\d+\]\.)?maximumPaths/, what: `GOBGP_ZEBRA router ${spec.routers[ui].name} with maximumPaths ${spec.routers[ui].maximumPaths}` };
    },
  },
];

/** The base topologies corruptions start from: generated with another seed, each one synthesizing. */
let bases: { spec: TopologySpec; out: Synthesized }[] | undefined;
function basePool(): { spec: TopologySpec; out: Synthesized }[] {
  if (bases) return bases;
  bases = [];
  for (const spec of fc.sample(topologySpecArbitrary(), { seed: SEED + 1, numRuns: 80 })) {
    try {
      bases.push({ spec, out: synthInMemory(spec) });
    } catch {
      // Reported by the valid-topology test; a corruption needs a base that synthesizes.
    }
  }
  return bases;
}

/** Builds and synthesizes into a fresh outdir; returns the error (or undefined) and what is in the outdir afterwards. */
function trySynth(spec: TopologySpec): { error?: Error; written: string[] } {
  const outdir = freshOutdir();
  let error: Error | undefined;
  try {
    buildSpec(spec, outdir).synth();
  } catch (err) {
    error = err as Error;
  }
  const written = fs.existsSync(outdir) ? [...readTree(outdir).keys()] : [];
  return { error, written };
}

const results: { name: string; samples: number; failures: string[] }[] = [];
afterAll(() => {
  if (results.length === 0) return;
  const failing = results.filter(r => r.failures.length > 0);
  console.log(`synth-property corruptions: ${results.length} classes, ${results.reduce((n, r) => n + r.samples, 0)} corrupted topologies; `
    + `${results.length - failing.length} classes refused every time, ${failing.length} did not:\n${failing.map(r => `  ${r.name}: ${r.failures.length}/${r.samples}`).join('\n')}`);
});

describe(`corrupted topologies are refused, naming the construct and the field, with nothing written (seed ${SEED + 1}, up to ${CORRUPT_SAMPLES} each)`, () => {
  test.each(corruptions.map((c, i) => [c.name, c, i] as const))('%s', (_name, corruption, index) => {
    const pool = basePool();
    const r = rng(SEED * 31 + index * 7919);
    const failures: string[] = [];
    let samples = 0;
    for (let attempt = 0; attempt < CORRUPT_SAMPLES * 4 && samples < CORRUPT_SAMPLES; attempt++) {
      const base = pool[r.int(pool.length)];
      const c = corruption.apply(base.spec, r, base.out);
      if (!c) continue;
      samples++;
      const { error, written } = trySynth(c.spec);
      const problems: string[] = [];
      if (!error) {
        problems.push('got through synth');
      } else {
        const message = error.message;
        const named = c.paths.some(p => new RegExp(`'${escape(p)}': (${c.field.source})`).test(message));
        if (!named) problems.push(`refused without naming ${c.paths.length === 1 ? c.paths[0] : `one of ${c.paths.slice(0, 4).join(', ')}${c.paths.length > 4 ? ', ...' : ''}`} and ${c.field.source}: ${JSON.stringify(message.slice(0, 300))}`);
        if (c.value && !c.value.test(message)) problems.push(`the message does not print the value as ${c.value.source}: ${JSON.stringify(message.slice(0, 300))}`);
      }
      if (written.length > 0) problems.push(`wrote ${written.length} file(s) to the outdir (${written.slice(0, 3).join(', ')})`);
      if (problems.length > 0) failures.push(`${c.what}: ${problems.join('; ')}`);
      if (process.env.FC_SHOW_MESSAGES && samples <= 2) console.log(`${corruption.name} | ${c.what} | ${error?.message.slice(0, 400)}`);
    }
    results.push({ name: corruption.name, samples, failures });
    expect(samples).toBeGreaterThan(0);
    if (failures.length > 0) {
      throw new Error(`${failures.length} of ${samples} corrupted topologies were not refused as they should be:\n  ${[...new Set(failures)].slice(0, 6).join('\n  ')}`);
    }
  }, 60_000);
});
