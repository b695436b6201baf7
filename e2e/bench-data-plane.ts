/**
 * Data-plane measurements with real IPVS, inside the IPVS VM (software emulation, 2 vCPUs):
 * - failed requests under continuous load during graceful scale-down and abrupt LB loss (every
 *   process of the LB pod killed), 3 trials each (4 -> 3 -> 2 -> 1 LBs), in NAT mode (web1) and in
 *   TUN mode (web3), and during a silent LB failure (the node's link cut, NAT);
 * `capacity`, a run of its own: each LB pod's link capped (e2e/lib/capacity.ts) in NAT mode, the
 *   headroom uncapped, then throughput (wrk) against the number of LBs, 4 -> 3 -> 2 -> 1
 *   (the paper's Fig. 13a), then the number of LB pods changed on a seeded schedule every 30 s between
 *   1 and 4 under load, throughput and each LB's share per second (the paper's Fig. 13b), with where
 *   each added pod's start time went.
 * Printed and written to $E2E_RESULTS_DIR/data-plane.json and data-plane-tun.json; `capacity`:
 * lb-capacity.json, lb-capacity.svg and lb-count-throughput.svg.
 * `rollout`, a run of its own: behind the plain (FRR) and the resilient-hashing (BIRD) router, NAT
 * and TUN, a backend rollout with an LB joining halfway, then a graceful and an abrupt LB loss and an
 * LB join, one each (data-plane-rollout.json).
 *
 * usage (compiled, in the VM): node e2e/.build/e2e/bench-data-plane.js SYNTH_DIR RESILIENT_SYNTH_DIR [capacity|rollout]
 *   (from the host: bash e2e/vm/run.sh bench-data-plane [capacity|rollout])
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { capLbLink, describeThroughput, mbit, netnsLinkBytes, parseWrk, routerNexthopsNow, Throughput, uncapLbLink, WRK_CONNECTIONS_PER_LB, wrkArgs, wrkRun } from './lib/capacity';
import { LbPod } from './lib/daemons';
import { runScenarios, ScenarioContext } from './lib/harness';
import { IpvsLab, LB_SLOT, startIpvsLab } from './lib/ipvs-lab';
import { CLIENT_NS, LAN_NS, nodeIp, routerNexthops } from './lib/lab';
import { describeLoad, startLoad } from './lib/load';
import { probe, run, sleep, waitFor } from './lib/proc';
import { scalingSvg, summarize, timeSeriesSvg } from './lib/stats';
import { backendRolloutTrial, describeJoin, describeRollout, JoinTrial, lbJoinTrial, LbLoss, lossTrials, LossTrial, restoreLbs, trialTotals } from './lib/trials';
import type { LoadResult } from './load-client';

const [SYNTH_DIR, RESILIENT_SYNTH_DIR, RUN] = process.argv.slice(2);
/** The CLI bundled as the LB image has it (e2e/vm/run.sh writes it beside the compiled harness). */
const CLI = [process.execPath, path.resolve(__dirname, '../ecmp-lb.js')];
/** The bench keeps the LB pods' controller and exabgp as host processes (the figures' recipe; the e2e runs the pods from the images). */
const HOST_PROCESSES = { kind: 'host' } as const;
const RESULTS_DIR = process.env.E2E_RESULTS_DIR ?? path.resolve(__dirname, '../../results');
const WRK_SECONDS = 15;
const TRIALS = 3;
const NODES = [1, 2, 3, 4];
/**
 * Each LB pod's link speed in the capacity run (E2E_LB_CAP_MBIT to change it): low enough that 4
 * capped LBs stay well below what the client, router and backends carry together (the run measures
 * that headroom first, uncapped).
 */
const CAP_MBIT = Number(process.env.E2E_LB_CAP_MBIT ?? 0.25);
const SETTLE_MS = 20_000;
/** Fig. 13(b): LB pod count changes (the paper: every 60 s, at random); every 30 s here. */
const STEP_SECONDS = 30;
const STEPS = 6;
const SCHEDULE_SEED = 1;

/**
 * TRIALS graceful losses in a row (4 -> 3 -> 2 -> 1 LBs), then the LBs added back one at a time under
 * load (1 -> 2 -> 3 -> 4, the joins), then TRIALS abrupt losses, all 4 LBs restored after them.
 */
async function lossSeries(
  ctx: ScenarioContext,
  lab: IpvsLab,
  mode: string,
): Promise<Record<LbLoss, LossTrial[]> & { joins: JoinTrial[] }> {
  const trials: Record<LbLoss, LossTrial[]> & { joins: JoinTrial[] } = { graceful: [], abrupt: [], joins: [] };
  for (const loss of ['graceful', 'abrupt'] as LbLoss[]) {
    trials[loss] = await lossTrials(ctx, lab, loss, TRIALS, mode);
    const t = trialTotals(trials[loss]);
    console.log(`failed requests, ${mode}, ${loss} loss, ${TRIALS} trials (4 -> 3 -> 2 -> 1 LBs): ${t.failed} of ${t.total} `
      + `(per trial, short + keep-alive: ${trials[loss].map((x) => `${x.short.failed} + ${x.keepAlive.failed} of ${x.short.ok + x.short.failed} + ${x.keepAlive.ok + x.keepAlive.failed}`).join('; ')}; `
      + `keep-alive flows moved: ${trials[loss].map((x) => x.movedFlows).join(', ')})`);
    if (loss === 'graceful') {
      for (const node of NODES.filter((n) => !lab.lbs.has(n))) {
        const join = await lbJoinTrial(ctx, lab, node, `${mode}-join-${node}`);
        console.log(`  ${mode} ${describeJoin(join)}`);
        trials.joins.push(join);
      }
      const joined = trialTotals(trials.joins);
      console.log(`failed requests, ${mode}, LB joins (1 -> 2 -> 3 -> 4 LBs): ${joined.failed} of ${joined.total} (per join, short + keep-alive: `
        + `${trials.joins.map((j) => `${j.short.failed} + ${j.keepAlive.failed}`).join('; ')}; keep-alive flows moved to the new LB: ${trials.joins.map((j) => j.movedFlows).join(', ')})`);
    }
    await restoreLbs(lab, NODES);
  }
  return trials;
}

async function nat(ctx: ScenarioContext): Promise<void> {
  const { checks, procs, workDir } = ctx;
  const lab = await startIpvsLab(ctx, SYNTH_DIR, 4, NODES, CLI, HOST_PROCESSES);
  const trials = await lossSeries(ctx, lab, 'NAT');

  // Silent failure: node 4's link cut; only the reflectors' hold timers end its sessions.
  const port = `p${nodeIp(4).split('.')[3]}`;
  const during = startLoad(procs, workDir, 'link-cut', { url: lab.vipUrl, count: 1_000_000, concurrency: 4, maxSeconds: 30 });
  await sleep(5000);
  run(LAN_NS, ['ip', 'link', 'set', port, 'down']);
  const dropped = await waitFor(() => routerNexthops(lab.prefix).length, (n) => n === 3, 60_000, 100);
  const linkCut = await during;
  run(LAN_NS, ['ip', 'link', 'set', port, 'up']);
  console.log(`failed requests, NAT, node 4's link cut (path dropped after ${(dropped.ms / 1000).toFixed(1)} s): ${describeLoad(linkCut)}`);
  checks.check('NAT measurements ran', true);
  writeResult('data-plane.json', { nat: { trials, linkCut, linkCutDropSeconds: dropped.ms / 1000 } });
}

/** A fixed pseudo-random sequence (mulberry32): the same schedule on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An added LB pod's start, in seconds from the scale-up that asked for it (undefined: not seen by the end of the run). */
interface AddedPod {
  readonly node: number;
  /** When the scale-up asked for it. */
  readonly askedAt: number;
  /** Its node free (a pod draining there gone): the harness starts it. */
  readonly startAt?: number;
  /** The harness (as kubelet and CNI) has made its namespace, run its init step and spawned the controller and exabgp. */
  readonly spawned?: number;
  /**
   * The controller's own log: Node.js up and the bundle loaded; the pod's namespace set up (routes,
   * SNAT, IPVS emptied); the Kubernetes client loaded; the first list of endpoints done; keepalived
   * started; the first announcement.
   */
  readonly controllerStarting?: number;
  readonly namespacePrepared?: number;
  readonly apiClientLoaded?: number;
  readonly firstListDone?: number;
  readonly keepalivedStarted?: number;
  readonly announcing?: number;
  /** The router's ECMP route has it. */
  readonly routed?: number;
  /** It sent at least half its link's capacity in a second. */
  readonly carrying?: number;
}

/** The first time (seconds after `since`, epoch ms) that the JSON log `file` has each of `messages`. */
function logTimes(file: string | undefined, since: number, messages: readonly string[]): (number | undefined)[] {
  const entries = (file && fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : []).flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { time?: string; msg?: string };
      const at = Date.parse(entry.time ?? '');
      return at >= since ? [{ at, msg: entry.msg }] : [];
    } catch {
      return [];
    }
  });
  return messages.map((m) => {
    const entry = entries.find((e) => e.msg === m);
    return entry ? (entry.at - since) / 1000 : undefined;
  });
}

/**
 * Fig. 13(b): under continuous load (wrk, keep-alive), the LB Deployment scaled on a
 * seeded schedule between 1 and 4 pods every STEP_SECONDS, each new pod's link capped at its start.
 * Scale-down is Kubernetes': the pod drains (SIGTERM) and its node stays taken until it is gone
 * (required anti-affinity), so a scale-up prefers free nodes and otherwise waits. Sampled every
 * second: the pod count, the router's nexthops, the bytes the client received and each LB sent.
 */
async function lbCountSchedule(ctx: ScenarioContext, lab: IpvsLab, nodes: number[], cap: (pod: LbPod) => void) {
  const random = seeded(SCHEDULE_SEED);
  const schedule: number[] = [];
  // The first step keeps the running pods; each later one picks another count.
  schedule.push(lab.lbs.size);
  for (let i = 1, n = lab.lbs.size; i < STEPS; i++) {
    const choices = [1, 2, 3, 4].filter((c) => c !== n);
    n = choices[Math.floor(random() * choices.length)];
    schedule.push(n);
  }
  const runStart = Date.now();
  const now = () => (Date.now() - runStart) / 1000;
  const draining = new Map<number, Promise<void>>();
  /** Pods scheduled but not running yet (their node still draining, or starting). */
  const starting = new Map<number, { cancelled: boolean }>();
  const added: { node: number; askedAt: number; startAt?: number; spawnedAt?: number; pod?: LbPod }[] = [];
  const failed = (what: string) => (err: unknown) => console.log(`  ${what}: ${String(err)}`);
  const unclean: string[] = [];
  const drain = (node: number) => {
    const pod = lab.lbs.get(node)!;
    lab.lbs.delete(node);
    // Kubernetes deletes a terminating pod whatever its exit status: so does the lab.
    draining.set(node, lab.pods.drain(pod).catch(async (err: Error) => {
      unclean.push(err.message);
      await lab.pods.remove(pod);
    }).catch(failed(`drain of node ${node}`)).finally(() => draining.delete(node)));
  };
  const scaleTo = (count: number) => {
    // Pods not running yet go first, then the highest nodes' pods.
    for (const [node, token] of [...starting].slice(0, Math.max(0, lab.lbs.size + starting.size - count))) {
      token.cancelled = true;
      starting.delete(node);
    }
    const live = [...lab.lbs.keys()].sort((a, b) => b - a);
    for (const node of live.slice(0, Math.max(0, live.length + starting.size - count))) drain(node);
    const free = nodes.filter((n) => !lab.lbs.has(n) && !starting.has(n)).sort((a, b) => Number(draining.has(a)) - Number(draining.has(b)) || a - b);
    for (const node of free.slice(0, Math.max(0, count - lab.lbs.size - starting.size))) {
      const token = { cancelled: false };
      const record: (typeof added)[number] = { node, askedAt: now() };
      starting.set(node, token);
      void (draining.get(node) ?? Promise.resolve()).then(async () => {
        if (token.cancelled) return;
        record.startAt = now();
        added.push(record);
        const pod = await lab.pods.start(lab.service, node, LB_SLOT);
        record.spawnedAt = now();
        cap(pod);
        record.pod = pod;
        lab.lbs.set(node, pod);
        if (token.cancelled) drain(node);
        else starting.delete(node);
      }).catch(failed(`start on node ${node}`));
    }
  };
  const seconds = STEPS * STEP_SECONDS;
  const load = ctx.procs.start('wrk-lb-count', CLIENT_NS, wrkArgs(lab, seconds, WRK_CONNECTIONS_PER_LB * nodes.length));
  /** A read that failed is undefined (nexthops) or NaN (bytes), and skipped below. */
  const samples: { t: number; nexthops?: string[]; clientBytes: number; lbBytes: Record<number, number> }[] = [];
  let step = 0;
  while (now() < seconds) {
    const t = now();
    if (Math.floor(t / STEP_SECONDS) > step && step < STEPS - 1) scaleTo(schedule[++step]);
    // Counters through the namespaces' own processes (the controller's, wrk's), read at once, before
    // the one spawn per sample (the router's route), whose answer a pod start can hold up for seconds.
    const lbBytes = Object.fromEntries([...lab.lbs].map(([node, pod]) => [node, netnsLinkBytes(pod.controller?.child.pid, 'tx')]));
    const clientBytes = netnsLinkBytes(load.child.pid, 'rx');
    samples.push({ t, nexthops: await routerNexthopsNow(lab.prefix), clientBytes, lbBytes });
    await sleep(Math.max(0, samples.length * 1000 - now() * 1000));
  }
  await load.exited;
  await Promise.all([...draining.values()]);
  const wrkOut = fs.readFileSync(load.logFile, 'utf8');
  // Per second of the run (samples can run late under emulation): the router's nexthops read last
  // by its middle, and the rates over the interval between the readings around its middle.
  const perSecond = Array.from({ length: seconds }, (_, k) => k);
  const routed = samples.filter((x) => x.nexthops !== undefined);
  const nexthopsAt = perSecond.map((k) => (routed.filter((x) => x.t <= k + 0.5).pop() ?? routed[0])?.nexthops ?? []);
  const rate = (k: number, bytes: (x: (typeof samples)[number]) => number | undefined) => {
    const read = samples.filter((x) => Number.isFinite(bytes(x)));
    const i = read.findIndex((x) => x.t > k + 0.5);
    if (i < 1) return 0;
    const [ba, bb] = [bytes(read[i - 1])!, bytes(read[i])!];
    return bb >= ba ? mbit(bb - ba, read[i].t - read[i - 1].t) : 0;
  };
  const clientMbit = perSecond.map((k) => rate(k, (x) => x.clientBytes));
  const lbMbit: Record<number, number[]> = Object.fromEntries(nodes.map((n) => [n, perSecond.map((k) => rate(k, (x) => x.lbBytes[n]))]));
  const additions: AddedPod[] = added.map(({ node, askedAt, startAt, spawnedAt, pod }) => {
    const since = runStart + (startAt ?? 0) * 1000;
    const phases = ['starting', 'namespace prepared', 'api client loaded', 'initial list done', 'keepalived started', 'announcing service prefixes'];
    const [controllerStarting, namespacePrepared, apiClientLoaded, firstListDone, keepalivedStarted, announcing] = logTimes(
      pod?.controller?.logFile, since, phases)
      .map((v) => (v === undefined || startAt === undefined ? undefined : startAt - askedAt + v));
    const routedAt = routed.find((x) => x.t >= askedAt && x.nexthops!.includes(nodeIp(node)));
    const carrying = perSecond.find((k) => k >= askedAt && lbMbit[node][k] >= CAP_MBIT / 2);
    return {
      node,
      askedAt,
      startAt: startAt === undefined ? undefined : startAt - askedAt,
      spawned: spawnedAt === undefined ? undefined : spawnedAt - askedAt,
      controllerStarting, namespacePrepared, apiClientLoaded, firstListDone, keepalivedStarted, announcing,
      routed: routedAt && routedAt.t - askedAt, carrying: carrying === undefined ? undefined : carrying + 0.5 - askedAt,
    };
  });
  for (const message of unclean) console.log(`  drain not clean (pod deleted anyway): ${message}`);
  return {
    schedule,
    stepSeconds: STEP_SECONDS,
    seed: SCHEDULE_SEED,
    sampleTimes: samples.map((x) => Number(x.t.toFixed(2))),
    wrk: parseWrk(wrkOut),
    pods: perSecond.map((k) => schedule[Math.min(STEPS - 1, Math.floor(k / STEP_SECONDS))]),
    nexthops: nexthopsAt.map((hops) => hops.length),
    failedReads: { nexthops: samples.length - routed.length, client: samples.filter((x) => !Number.isFinite(x.clientBytes)).length },
    clientMbit,
    lbMbit,
    additions,
    unclean,
  };
}

/**
 * The paper's Fig. 13(a) and (b), each LB pod's link capped at CAP_MBIT (NAT, web1, 4 nodes, the
 * LB pods' programs as host processes): first the headroom (4 LBs uncapped), then throughput at 4,
 * 3, 2 and 1 capped LBs (graceful scale-downs between) and 1 LB uncapped (the cap binds), then the
 * LB count schedule. The figures are checked by nothing here but printed, written and drawn; the
 * e2e holds the one loose check (2 capped LBs carry more than 1.5 times what 1 carries).
 */
async function capacity(ctx: ScenarioContext): Promise<void> {
  // The first parts of an LB pod's start, alone (median of 3): Node.js doing nothing, and Node.js
  // loading the bundled CLI (no command: it prints its usage).
  const startSeconds = (argv: string[]) => summarize([0, 1, 2].map(() => {
    const started = performance.now();
    probe(undefined, argv, 60_000);
    return (performance.now() - started) / 1000;
  })).median;
  const processStart = { node: startSeconds([process.execPath, '-e', '']), nodeWithBundle: startSeconds(CLI) };
  console.log(`capacity: Node.js starts in ${processStart.node.toFixed(2)} s, with the bundled CLI loaded in ${processStart.nodeWithBundle.toFixed(2)} s`);
  const lab = await startIpvsLab(ctx, SYNTH_DIR, 4, NODES, CLI, HOST_PROCESSES);
  const cap = (pod: LbPod) => capLbLink(pod, CAP_MBIT);
  // The LB pods' programs are still busy starting when their routes are in: measure after.
  await sleep(SETTLE_MS);
  const headroom = await wrkRun(lab, WRK_SECONDS);
  console.log(`capacity: uncapped, ${describeThroughput(headroom)}`);
  for (const pod of lab.lbs.values()) cap(pod);
  const capped: Throughput[] = [];
  for (let node = NODES.length; node >= 1; node--) {
    capped.unshift(await wrkRun(lab, WRK_SECONDS));
    console.log(`capacity: capped at ${CAP_MBIT} Mbit/s each, ${describeThroughput(capped[0])}`);
    if (node === 1) break;
    await lab.pods.drain(lab.lbs.get(node)!);
    lab.lbs.delete(node);
    await lab.converge([...lab.lbs.keys()]);
  }
  const [lone] = lab.lbs.values();
  uncapLbLink(lone);
  const oneUncapped = await wrkRun(lab, WRK_SECONDS);
  console.log(`capacity: 1 LB uncapped, ${describeThroughput(oneUncapped)}`);
  cap(lone);
  const perLb = capped[0].requestsPerSecond;
  const linearity = capped.map((t) => Number((t.requestsPerSecond / (t.lbs * perLb)).toFixed(3)));
  console.log(`capacity: throughput / (LBs x 1 LB's) at 1-4 LBs: ${linearity.join(' / ')}; headroom: 4 uncapped LBs carry ${(headroom.requestsPerSecond / (4 * perLb)).toFixed(2)} x what 4 capped LBs would if linear`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, 'lb-capacity.svg'), scalingSvg(
    'Throughput against the number of LB pods (NAT, IPVS VM, 2 vCPUs)',
    `each LB pod's link capped at ${CAP_MBIT} Mbit/s each way (tbf); wrk, ${WRK_CONNECTIONS_PER_LB} keep-alive connections per LB, ${WRK_SECONDS} s per point`,
    capped.map((t) => ({ x: t.lbs, value: t.requestsPerSecond })),
    [
      { label: `4 LBs uncapped (headroom): ${headroom.requestsPerSecond} req/s`, value: headroom.requestsPerSecond },
      { label: `1 LB uncapped: ${oneUncapped.requestsPerSecond} req/s`, value: oneUncapped.requestsPerSecond },
    ],
    'requests answered per second', 'LB pods'));

  await restoreLbs(lab, NODES);
  for (const pod of lab.lbs.values()) cap(pod);
  await sleep(SETTLE_MS);
  const fig = await lbCountSchedule(ctx, lab, NODES, cap);
  console.log(`LB count schedule (every ${STEP_SECONDS} s, seed ${SCHEDULE_SEED}): ${fig.schedule.join(' -> ')}; wrk ${fig.wrk.requestsPerSecond} req/s, errors: ${fig.wrk.errors}`);
  console.log(`  per second: pods ${fig.pods.join('')}, router nexthops ${fig.nexthops.join('')}`);
  console.log(`  client Mbit/s: ${fig.clientMbit.join(' ')}`);
  for (const node of NODES) console.log(`  LB on node ${node}, Mbit/s sent: ${fig.lbMbit[node].join(' ')}`);
  for (const a of fig.additions) console.log(`  added LB on node ${a.node} (asked at ${a.askedAt.toFixed(1)} s), s after the ask: ${JSON.stringify({ ...a, node: undefined, askedAt: undefined })}`);
  ctx.checks.check('capacity measurements ran', true);
  writeResult('lb-capacity.json', { processStart, capMbit: CAP_MBIT, wrkConnectionsPerLb: WRK_CONNECTIONS_PER_LB, wrkSeconds: WRK_SECONDS, headroom, capped, oneUncapped, linearity, schedule: fig });
  const colors = ['#2a9d8f', '#e9c46a', '#8e6bb8', '#f4a261'];
  fs.writeFileSync(path.join(RESULTS_DIR, 'lb-count-throughput.svg'), timeSeriesSvg(
    `Throughput while the number of LB pods changes every ${STEP_SECONDS} s (NAT, each LB's link ${CAP_MBIT} Mbit/s, IPVS VM)`,
    [
      { label: 'answers to the client (Mbit/s)', values: fig.clientMbit, color: '#1f5fbf', width: 2.5 },
      ...NODES.map((n, i) => ({ label: `sent by the LB on node ${n} (Mbit/s)`, values: fig.lbMbit[n], color: colors[i], width: 1 })),
      { label: 'LB pods (Deployment replicas)', values: fig.pods, color: '#d62828', axis: 'right' as const, width: 2 },
      { label: "router's ECMP nexthops", values: fig.nexthops, color: '#d62828', axis: 'right' as const, dashed: true },
    ],
    'Mbit/s', 'LB pods / nexthops', 4));
}

async function tunnel(ctx: ScenarioContext): Promise<void> {
  const lab = await startIpvsLab(ctx, SYNTH_DIR, 4, NODES, CLI, HOST_PROCESSES, 'web3');
  const trials = await lossSeries(ctx, lab, 'TUN');
  writeResult('data-plane-tun.json', { tun: { trials } });
}

/** What the rollout run has measured so far, by lab (`NAT-plain`, ...); rewritten after each lab. */
const rolloutResults: Record<string, object> = {};

/**
 * One lab per router and mode, LB pods on nodes 1 and 2: the rollout of all 4 backends with an LB
 * joining on node 3 halfway, then a graceful loss (node 3) and an abrupt one (node 2), then a join
 * (node 2 again). What moves and what fails, behind hash-threshold and resilient ECMP.
 */
function rollout(router: 'plain' | 'resilient', mode: 'NAT' | 'TUN'): (ctx: ScenarioContext) => Promise<void> {
  return async (ctx) => {
    const tag = `${mode}-${router}`;
    const lab = await startIpvsLab(ctx, router === 'plain' ? SYNTH_DIR : RESILIENT_SYNTH_DIR, 4, [1, 2], CLI, HOST_PROCESSES, mode === 'NAT' ? 'web1' : 'web3');
    const rolledOut = await backendRolloutTrial(ctx, lab, 3, `${tag}-rollout`);
    console.log(`  ${tag}: ${describeRollout(rolledOut)}`);
    const [graceful] = await lossTrials(ctx, lab, 'graceful', 1, tag);
    const [abrupt] = await lossTrials(ctx, lab, 'abrupt', 1, tag);
    const join = await lbJoinTrial(ctx, lab, 2, `${tag}-join-2`);
    console.log(`  ${tag} ${describeJoin(join)}`);
    const failed = (t: { short: LoadResult; keepAlive: LoadResult }) => `${t.short.failed + t.keepAlive.failed} of ${t.short.ok + t.short.failed + t.keepAlive.ok + t.keepAlive.failed}`;
    console.log(`failed requests, ${mode}, ${router} hashing: rollout with a join ${failed(rolledOut)}; graceful loss ${failed(graceful)} (${graceful.movedFlows} flows moved); `
      + `abrupt loss ${failed(abrupt)} (${abrupt.movedFlows} moved); join ${failed(join)} (${join.movedFlows} moved)`);
    ctx.checks.check(`${tag}: rollout measurements ran`, true);
    rolloutResults[tag] = { rollout: rolledOut, graceful, abrupt, join };
    writeResult('data-plane-rollout.json', rolloutResults);
  };
}

function writeResult(file: string, data: object): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, file), `${JSON.stringify({ date: new Date().toISOString(), where: 'IPVS VM, software emulation, 2 vCPUs', ...data }, null, 1)}\n`);
}

if (!SYNTH_DIR || !RESILIENT_SYNTH_DIR) throw new Error('usage: bench-data-plane.js SYNTH_DIR RESILIENT_SYNTH_DIR [capacity|rollout]');
const RUNS: Record<string, [string, (ctx: ScenarioContext) => Promise<void>][]> = {
  'capacity': [['NAT, capped LB links: throughput against the LB count, and the LB count schedule', capacity]],
  'rollout': (['plain', 'resilient'] as const).flatMap((router) => (['NAT', 'TUN'] as const).map((mode) =>
    [`${mode}, ${router} hashing: rollout with a join, losses, join`, rollout(router, mode)] as [string, (ctx: ScenarioContext) => Promise<void>])),
  '': [['NAT: failed requests', nat], ['TUN: failed requests', tunnel]],
};
void runScenarios('bench: data plane (IPVS VM)', RUNS[RUN ?? ''], 2400);
