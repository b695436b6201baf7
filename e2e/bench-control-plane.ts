/**
 * Control-plane measurements on this host (network namespaces, FRR router from the synthesized
 * config, two gobgpd reflectors, exabgp LB pods with the announcer), printed and written to the
 * results folder:
 * - ECMP update delay after an LB pod starts, and after it stops (gracefully: the controller's
 *   withdrawal; abruptly: exabgp terminated), as the paper's Fig. 13(c) histogram;
 * - silent LB failure (exabgp frozen, the node's link cut): time until the router drops the path
 *   with the default timers.
 *
 * usage: bench-control-plane.ts [EVENTS] [SILENT_EVENTS]   (default 100 and 5)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RouterFlavour } from '../lib';
import { LbPod, LbPods, SOURCE_CLI, startClusterApi, startReflectors, startRouter } from './lib/daemons';
import { runScenarios, ScenarioContext } from './lib/harness';
import { createLab, LAN_NS, nodeIp, routerNexthops } from './lib/lab';
import { run, sleep, waitFor } from './lib/proc';
import { formatSummary, histogramSvg, summarize } from './lib/stats';
import { synthesize } from './lib/synth';

const EVENTS = Number(process.argv[2] ?? 100);
const SILENT_EVENTS = Number(process.argv[3] ?? 5);
const RESULTS_DIR = process.env.E2E_RESULTS_DIR ?? path.resolve(__dirname, 'results');
/** The node whose LB pod comes and goes; nodes 1-3 keep theirs. */
const MOVING_NODE = 4;

async function bench(ctx: ScenarioContext): Promise<void> {
  const { checks, procs, workDir } = ctx;
  const synth = synthesize(RouterFlavour.FRR);
  const web1 = synth.services.get('web1')!;
  const prefix = web1.model.prefixes[0];
  const hold = web1.model.timers.holdTimeSeconds;
  createLab({ nodes: MOVING_NODE });
  const cluster = await startClusterApi(ctx, SOURCE_CLI);
  startReflectors(procs, synth, cluster);
  await startRouter(procs, synth, RouterFlavour.FRR);
  const pods = new LbPods(procs, workDir, { kind: 'announce-file' }, cluster.api);
  for (const node of [1, 2, 3]) await pods.start(web1, node, 2);
  const hasMoving = (hops: string[]) => hops.includes(nodeIp(MOVING_NODE));
  const base = await waitFor(() => routerNexthops(prefix), (h) => h.length === 3, 60_000);
  if (!checks.check('3 LBs converged before measuring', base.ok, base.value.join(' '))) return;

  /** Seconds from `act` until the router's route has (or lacks) the moving node; undefined on timeout. */
  const timeRouteChange = async (act: () => unknown, wantPresent: boolean, timeoutMs: number) => {
    const start = performance.now();
    await act();
    const result = await waitFor(() => routerNexthops(prefix), (h) => hasMoving(h) === wantPresent, timeoutMs, 5);
    return result.ok ? (performance.now() - start) / 1000 : undefined;
  };
  const series = { start: [] as number[], withdraw: [] as number[], exabgpStop: [] as number[], frozen: [] as number[], linkCut: [] as number[] };
  let timeouts = 0;
  const record = (into: number[], value: number | undefined) => (value === undefined ? timeouts++ : into.push(value));

  // LB start (pod created: namespace, init rendering, exabgp) and LB stop, alternating the two kinds of stop.
  for (let i = 0; i < EVENTS; i++) {
    let pod: LbPod | undefined;
    record(series.start, await timeRouteChange(async () => { pod = await pods.start(web1, MOVING_NODE, 2); }, true, 30_000));
    if (i % 2 === 0) record(series.withdraw, await timeRouteChange(() => pods.withdraw(pod!), false, 30_000));
    else record(series.exabgpStop, await timeRouteChange(() => procs.stop(pod!.exabgp!), false, 30_000));
    await pods.remove(pod!);
    await sleep(200);
  }

  // Silent failures: nothing tells the reflectors; only the hold timer ends the sessions.
  for (let i = 0; i < 2 * SILENT_EVENTS; i++) {
    const pod = await pods.start(web1, MOVING_NODE, 2);
    if (!(await waitFor(() => hasMoving(routerNexthops(prefix)), Boolean, 30_000)).ok) { timeouts++; await pods.remove(pod); continue; }
    await sleep(Math.random() * 3000); // a random phase against the 3 s keepalive
    const port = `p${nodeIp(MOVING_NODE).split('.')[3]}`;
    if (i % 2 === 0) record(series.frozen, await timeRouteChange(() => procs.signalGroup(pod.exabgp!, 'SIGSTOP'), false, (hold + 15) * 1000));
    else record(series.linkCut, await timeRouteChange(() => run(LAN_NS, ['ip', 'link', 'set', port, 'down']), false, (hold + 15) * 1000));
    run(LAN_NS, ['ip', 'link', 'set', port, 'up']);
    await pods.remove(pod);
    await sleep(500);
  }

  checks.check('every event changed the route within its bound', timeouts === 0, `${timeouts} timed out`);
  const labels: Record<keyof typeof series, string> = {
    start: 'LB start -> route gains the LB',
    withdraw: 'LB stop, graceful (controller withdraws) -> route loses the LB',
    exabgpStop: 'LB stop, exabgp terminated (session closes) -> route loses the LB',
    frozen: `silent: exabgp frozen (SIGSTOP), hold ${hold} s`,
    linkCut: `silent: node link cut, hold ${hold} s`,
  };
  const summaries = Object.fromEntries(Object.entries(series).filter(([, v]) => v.length > 0).map(([k, v]) => [k, summarize(v)]));
  for (const [key, summary] of Object.entries(summaries)) console.log(`${labels[key as keyof typeof series]}: ${formatSummary(summary)}`);
  const stops = [...series.withdraw, ...series.exabgpStop];
  console.log(`LB stop, both kinds: ${formatSummary(summarize(stops))}`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, 'control-plane.json'), `${JSON.stringify({ date: new Date().toISOString(), router: 'frr', labels, summaries, series }, null, 1)}\n`);
  fs.writeFileSync(path.join(RESULTS_DIR, 'ecmp-update-delay.svg'), histogramSvg(
    'ECMP update delay on the router (FRR), this host, network namespaces',
    [{ label: 'LB start', values: series.start }, { label: 'LB stop (graceful and exabgp stop)', values: stops }], 0.05));
  fs.writeFileSync(path.join(RESULTS_DIR, 'silent-failure.svg'), histogramSvg(
    `Silent LB failure: time until the router drops the path (hold time ${hold} s)`,
    [{ label: 'exabgp frozen', values: series.frozen }, { label: 'node link cut', values: series.linkCut }], 0.5));
  console.log(`results: ${RESULTS_DIR}`);
  fs.rmSync(synth.outdir, { recursive: true, force: true });
}

void runScenarios('bench: control plane', [['ECMP update delay and silent failure', bench]], 3600);
