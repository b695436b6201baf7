/**
 * Data-plane measurements with real IPVS, inside the IPVS VM (software emulation, 2 vCPUs):
 * - failed requests under continuous load during graceful scale-down and abrupt LB loss (every
 *   process of the LB pod killed), 3 trials each (4 -> 3 -> 2 -> 1 LBs), in NAT mode (web1) and in
 *   TUN mode (web3), and during a silent LB failure (the node's link cut, NAT);
 * - throughput (wrk) against the number of LBs, 4 -> 3 -> 2 -> 1 (the paper's Fig. 13a);
 * - the number of LB pods changed on a seeded schedule every 30 s between 1 and 4 under load,
 *   throughput and each LB's share per second (the paper's Fig. 13b).
 * Printed and written to $E2E_RESULTS_DIR/data-plane.json, lb-count-throughput.json and .svg.
 * `rollout`, a run of its own: behind the plain (FRR) and the resilient-hashing (BIRD) router, NAT
 * and TUN, a backend rollout with an LB joining halfway, then a graceful and an abrupt LB loss and an
 * LB join, one each (data-plane-rollout.json).
 *
 * usage (compiled, in the VM): node e2e/.build/e2e/bench-data-plane.js SYNTH_DIR RESILIENT_SYNTH_DIR [lb-count|rollout]
 *   (from the host: bash e2e/vm/run.sh bench-data-plane [lb-count|rollout])
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runScenarios, ScenarioContext } from './lib/harness';
import { IpvsLab, ipvsConnections, LB_SLOT, startIpvsLab } from './lib/ipvs-lab';
import { CLIENT_NS, LAN_NS, nodeIp, routerNexthops } from './lib/lab';
import { describeLoad, startLoad } from './lib/load';
import { run, sleep, waitFor } from './lib/proc';
import { timeSeriesSvg } from './lib/stats';
import { backendRolloutTrial, describeJoin, describeRollout, JoinTrial, lbJoinTrial, LbLoss, lossTrials, LossTrial, restoreLbs, trialTotals } from './lib/trials';
import type { LoadResult } from './load-client';

const [SYNTH_DIR, RESILIENT_SYNTH_DIR, RUN] = process.argv.slice(2);
const CLI = [process.execPath, path.resolve(__dirname, '../controller/src/cli.js')];
/** The bench keeps the LB pods' controller and exabgp as host processes (the figures' recipe; the e2e runs the pods from the images). */
const HOST_PROCESSES = { kind: 'host' } as const;
const RESULTS_DIR = process.env.E2E_RESULTS_DIR ?? path.resolve(__dirname, '../../results');
const WRK_SECONDS = 15;
const TRIALS = 3;
const NODES = [1, 2, 3, 4];
/**
 * Fig. 13(b): LB pod count changes (the paper: every 60 s, at random). 30 s, not 10: a new LB pod's
 * controller (node) takes 20-40 s to start under the VM's software emulation.
 */
const STEP_SECONDS = 30;
const STEPS = 6;
const SCHEDULE_SEED = 1;

interface Throughput { lbs: number; requestsPerSecond: number; errors: string; latency: string }

/** wrk from the client: keep-alive connections, each one a flow that ECMP pins to one LB. */
function wrk(lab: IpvsLab, lbs: number): Throughput {
  const out = run(CLIENT_NS, ['wrk', '-t', '2', '-c', '32', '-d', `${WRK_SECONDS}s`, '--timeout', '5s', lab.vipUrl], { timeoutMs: (WRK_SECONDS + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const errors = [/Socket errors:[^\n]*/.exec(out)?.[0], /Non-2xx or 3xx responses:[^\n]*/.exec(out)?.[0]].filter(Boolean).join('; ') || 'none';
  const latency = /Latency\s+(\S+)/.exec(out)?.[1] ?? '?';
  return { lbs, requestsPerSecond: rps, errors, latency };
}

/**
 * TRIALS graceful losses in a row (4 -> 3 -> 2 -> 1 LBs), then the LBs added back one at a time under
 * load (1 -> 2 -> 3 -> 4, the joins), then TRIALS abrupt losses, all 4 LBs restored after them.
 */
async function lossSeries(
  ctx: ScenarioContext,
  lab: IpvsLab,
  mode: string,
  between?: (lbs: number) => void,
): Promise<Record<LbLoss, LossTrial[]> & { joins: JoinTrial[] }> {
  const trials: Record<LbLoss, LossTrial[]> & { joins: JoinTrial[] } = { graceful: [], abrupt: [], joins: [] };
  for (const loss of ['graceful', 'abrupt'] as LbLoss[]) {
    trials[loss] = await lossTrials(ctx, lab, loss, TRIALS, mode, () => (loss === 'graceful' ? between?.(lab.lbs.size) : undefined));
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
  // Throughput at 4 LBs, then after each graceful scale-down: 3, 2, 1 (Fig. 13a).
  const throughput: Throughput[] = [wrk(lab, 4)];
  const trials = await lossSeries(ctx, lab, 'NAT', (lbs) => throughput.push(wrk(lab, lbs)));

  // Silent failure: node 4's link cut; only the reflectors' hold timers end its sessions.
  const port = `p${nodeIp(4).split('.')[3]}`;
  const during = startLoad(procs, workDir, 'link-cut', { url: lab.vipUrl, count: 1_000_000, concurrency: 4, maxSeconds: 30 });
  await sleep(5000);
  run(LAN_NS, ['ip', 'link', 'set', port, 'down']);
  const dropped = await waitFor(() => routerNexthops(lab.prefix).length, (n) => n === 3, 60_000, 100);
  const linkCut = await during;
  run(LAN_NS, ['ip', 'link', 'set', port, 'up']);
  console.log(`failed requests, NAT, node 4's link cut (path dropped after ${(dropped.ms / 1000).toFixed(1)} s): ${describeLoad(linkCut)}`);
  for (const t of throughput) console.log(`throughput with ${t.lbs} LB(s): ${t.requestsPerSecond} req/s (latency avg ${t.latency}; errors: ${t.errors})`);
  checks.check('NAT measurements ran', true);
  writeResult('data-plane.json', { nat: { trials, linkCut, linkCutDropSeconds: dropped.ms / 1000 }, throughput });
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

/**
 * Fig. 13(b): under continuous load, the LB Deployment scaled on a seeded schedule between 1 and 4
 * pods every STEP_SECONDS. Scale-down is Kubernetes': the pod drains (SIGTERM) and its node stays
 * taken until it is gone (required anti-affinity), so a scale-up prefers free nodes and otherwise
 * waits. Sampled every second: the pod count, the router's nexthops, requests answered, and the
 * connections IPVS scheduled on each LB.
 */
async function lbCountSchedule(ctx: ScenarioContext, lab: IpvsLab, nodes: number[]) {
  const random = seeded(SCHEDULE_SEED);
  const schedule: number[] = [];
  // The first step keeps the running pods; each later one picks another count.
  schedule.push(lab.lbs.size);
  for (let i = 1, n = lab.lbs.size; i < STEPS; i++) {
    const choices = [1, 2, 3, 4].filter((c) => c !== n);
    n = choices[Math.floor(random() * choices.length)];
    schedule.push(n);
  }
  const draining = new Map<number, Promise<void>>();
  /** Pods scheduled but not running yet (their node still draining, or starting). */
  const starting = new Map<number, { cancelled: boolean }>();
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
      starting.set(node, token);
      void (draining.get(node) ?? Promise.resolve()).then(async () => {
        if (token.cancelled) return;
        const pod = await lab.pods.start(lab.service, node, LB_SLOT);
        lab.lbs.set(node, pod);
        if (token.cancelled) drain(node);
        else starting.delete(node);
      }).catch(failed(`start on node ${node}`));
    }
  };
  const seconds = STEPS * STEP_SECONDS;
  const load = startLoad(ctx.procs, ctx.workDir, 'lb-count', { url: lab.vipUrl, count: 1_000_000, concurrency: 8, maxSeconds: seconds });
  const started = performance.now();
  const samples: { t: number; pods: number; nexthops: number; conns: Record<number, number> }[] = [];
  let step = 0;
  while (performance.now() - started < seconds * 1000) {
    const t = (performance.now() - started) / 1000;
    if (Math.floor(t / STEP_SECONDS) > step && step < STEPS - 1) scaleTo(schedule[++step]);
    samples.push({ t, pods: schedule[step], nexthops: routerNexthops(lab.prefix).length, conns: Object.fromEntries(ipvsConnections(lab)) });
    await sleep(Math.max(0, samples.length * 1000 - (performance.now() - started)));
  }
  const result = await load;
  await Promise.all([...draining.values()]);
  // Per second of the run (samples can run late under emulation): the last sample taken by then.
  const at = Array.from({ length: seconds }, (_, k) => samples.filter((x) => x.t < k + 1).pop() ?? samples[0]);
  // Connections each LB scheduled per second, from its cumulative IPVS counter, which the kernel's
  // estimator updates every 2 s: averaged over the last 2 s.
  const perLb: Record<number, number[]> = Object.fromEntries(nodes.map((n) => [n, at.map((x, k) => {
    const before = at[k - 2]?.conns[n];
    return before !== undefined && x.conns[n] !== undefined ? Math.max(0, x.conns[n] - before) / 2 : 0;
  })]));
  for (const message of unclean) console.log(`  drain not clean (pod deleted anyway): ${message}`);
  return {
    schedule,
    stepSeconds: STEP_SECONDS,
    seed: SCHEDULE_SEED,
    load: result,
    samples,
    pods: at.map((x) => x.pods),
    nexthops: at.map((x) => x.nexthops),
    perLb,
    unclean,
  };
}

async function tunnel(ctx: ScenarioContext): Promise<void> {
  const lab = await startIpvsLab(ctx, SYNTH_DIR, 4, NODES, CLI, HOST_PROCESSES, 'web3');
  const trials = await lossSeries(ctx, lab, 'TUN');
  writeResult('data-plane-tun.json', { tun: { trials } });
  await lbCount(ctx, lab);
}

/** Fig. 13(b) alone, in a fresh TUN lab (`bench-data-plane.js SYNTH_DIR lb-count`). */
async function lbCountOnly(ctx: ScenarioContext): Promise<void> {
  await lbCount(ctx, await startIpvsLab(ctx, SYNTH_DIR, 4, NODES, CLI, HOST_PROCESSES, 'web3'));
}

async function lbCount(ctx: ScenarioContext, lab: IpvsLab): Promise<void> {
  const nodes = NODES;
  const fig = await lbCountSchedule(ctx, lab, nodes);
  console.log(`LB count schedule (every ${STEP_SECONDS} s, seed ${SCHEDULE_SEED}): ${fig.schedule.join(' -> ')}; load: ${describeLoad(fig.load)}`);
  console.log(`  per second: pods ${fig.pods.join('')}, router nexthops ${fig.nexthops.join('')}`);
  console.log(`  requests/s: ${fig.load.okPerSecond.join(' ')}`);
  for (const node of nodes) console.log(`  LB on node ${node}, connections/s: ${fig.perLb[node].join(' ')}`);
  ctx.checks.check('LB count schedule ran', true);
  writeResult('lb-count-throughput.json', fig);
  const colors = ['#2a9d8f', '#e9c46a', '#8e6bb8', '#f4a261'];
  fs.writeFileSync(path.join(RESULTS_DIR, 'lb-count-throughput.svg'), timeSeriesSvg(
    `Throughput while the number of LB pods changes every ${STEP_SECONDS} s (TUN, IPVS VM, 2 vCPUs)`,
    [
      { label: 'requests/s (all)', values: fig.load.okPerSecond, color: '#1f5fbf', width: 2.5 },
      ...nodes.map((n, i) => ({ label: `connections/s via LB on node ${n}`, values: fig.perLb[n], color: colors[i], width: 1 })),
      { label: 'LB pods (Deployment replicas)', values: fig.pods, color: '#d62828', axis: 'right' as const, width: 2 },
      { label: "router's ECMP nexthops", values: fig.nexthops, color: '#d62828', axis: 'right' as const, dashed: true },
    ],
    'requests or connections per second', 'LB pods / nexthops', 4));
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

if (!SYNTH_DIR || !RESILIENT_SYNTH_DIR) throw new Error('usage: bench-data-plane.js SYNTH_DIR RESILIENT_SYNTH_DIR [lb-count|rollout]');
const RUNS: Record<string, [string, (ctx: ScenarioContext) => Promise<void>][]> = {
  'lb-count': [['TUN: LB count schedule', lbCountOnly]],
  'rollout': (['plain', 'resilient'] as const).flatMap((router) => (['NAT', 'TUN'] as const).map((mode) =>
    [`${mode}, ${router} hashing: rollout with a join, losses, join`, rollout(router, mode)] as [string, (ctx: ScenarioContext) => Promise<void>])),
  '': [['NAT: failed requests and throughput', nat], ['TUN: failed requests and LB count schedule', tunnel]],
};
void runScenarios('bench: data plane (IPVS VM)', RUNS[RUN ?? ''], 2400);
