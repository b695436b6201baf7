/**
 * Data-plane measurements with real IPVS, inside the IPVS VM (software emulation, 2 vCPUs):
 * - failed requests under continuous load during graceful scale-down, abrupt LB loss (every
 *   process of the LB pod killed) and a silent LB failure (the node's link cut);
 * - throughput (wrk) against the number of LBs, 3 -> 2 -> 1 (the paper's Fig. 13a).
 * Printed and written to $E2E_RESULTS_DIR/data-plane.json.
 *
 * usage (compiled, in the VM): node e2e/.build/e2e/bench-data-plane.js SYNTH_DIR
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadResult } from './load-client';
import { runScenarios, ScenarioContext } from './lib/harness';
import { IpvsLab, startIpvsLab } from './lib/ipvs-lab';
import { CLIENT_NS, LAN_NS, nodeIp, routerNexthops } from './lib/lab';
import { describeLoad, startLoad } from './lib/load';
import { run, sleep, waitFor } from './lib/proc';

const SYNTH_DIR = process.argv[2];
const CLI = [process.execPath, path.resolve(__dirname, '../controller/src/cli.js')];
const RESULTS_DIR = process.env.E2E_RESULTS_DIR ?? path.resolve(__dirname, '../../results');
const WRK_SECONDS = 15;

interface Throughput { lbs: number; requestsPerSecond: number; errors: string; latency: string }

/** wrk from the client: keep-alive connections, each one a flow that ECMP pins to one LB. */
function wrk(lab: IpvsLab, lbs: number): Throughput {
  const out = run(CLIENT_NS, ['wrk', '-t', '2', '-c', '32', '-d', `${WRK_SECONDS}s`, '--timeout', '5s', lab.vipUrl], { timeoutMs: (WRK_SECONDS + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const errors = [/Socket errors:[^\n]*/.exec(out)?.[0], /Non-2xx or 3xx responses:[^\n]*/.exec(out)?.[0]].filter(Boolean).join('; ') || 'none';
  const latency = /Latency\s+(\S+)/.exec(out)?.[1] ?? '?';
  return { lbs, requestsPerSecond: rps, errors, latency };
}

async function bench(ctx: ScenarioContext): Promise<void> {
  const { checks, procs, workDir } = ctx;
  const lab = await startIpvsLab(ctx, SYNTH_DIR, 3, [1, 2, 3], CLI);
  const loadFor = (name: string, seconds: number) => startLoad(procs, workDir, name, { url: lab.vipUrl, count: 1_000_000, concurrency: 4, maxSeconds: seconds });
  const converge = async (nodes: number[]) => {
    const want = nodes.map(nodeIp).sort().join(' ');
    const result = await waitFor(() => routerNexthops(lab.prefix).join(' '), (v) => v === want, 180_000, 250);
    if (!checks.check(`router route back to ${nodes.length} LBs`, result.ok, result.value)) throw new Error('no convergence');
    await sleep(2000);
  };
  const failures: Record<string, LoadResult> = {};
  const throughput: Throughput[] = [];

  throughput.push(wrk(lab, 3));

  // Abrupt loss: every process of the LB pod on node 3 killed; the kernel closes its BGP sessions.
  let during = loadFor('abrupt-loss', 25);
  await sleep(5000);
  await lab.pods.remove(lab.lbs.get(3)!);
  failures.abruptLoss = await during;
  lab.lbs.set(3, await lab.pods.start(lab.service, 3, 2));
  await converge([1, 2, 3]);

  // Silent failure: node 3's link cut; only the reflectors' hold timers end its sessions.
  during = loadFor('link-cut', 30);
  await sleep(5000);
  run(LAN_NS, ['ip', 'link', 'set', `p${nodeIp(3).split('.')[3]}`, 'down']);
  const dropped = await waitFor(() => routerNexthops(lab.prefix).length, (n) => n === 2, 60_000, 100);
  failures.linkCut = await during;
  console.log(`  link cut: the router dropped the path after ${(dropped.ms / 1000).toFixed(1)} s`);
  run(LAN_NS, ['ip', 'link', 'set', `p${nodeIp(3).split('.')[3]}`, 'up']);
  await lab.pods.remove(lab.lbs.get(3)!);
  lab.lbs.set(3, await lab.pods.start(lab.service, 3, 2));
  await converge([1, 2, 3]);

  // Graceful scale-down 3 -> 2 -> 1 under load, with a throughput figure at each size.
  for (const node of [3, 2]) {
    during = loadFor(`graceful-${node}`, lab.service.model.drainSeconds + 20);
    await sleep(3000);
    await lab.pods.drain(lab.lbs.get(node)!);
    lab.lbs.delete(node);
    failures[`gracefulTo${node - 1}`] = await during;
    throughput.push(wrk(lab, node - 1));
  }

  for (const [name, result] of Object.entries(failures)) console.log(`failed requests, ${name}: ${describeLoad(result)}`);
  for (const t of throughput) console.log(`throughput with ${t.lbs} LB(s): ${t.requestsPerSecond} req/s (latency avg ${t.latency}; errors: ${t.errors})`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, 'data-plane.json'), `${JSON.stringify({ date: new Date().toISOString(), where: 'IPVS VM, software emulation, 2 vCPUs', failures, throughput, linkCutDropSeconds: dropped.ms / 1000 }, null, 1)}\n`);
}

if (!SYNTH_DIR) throw new Error('usage: bench-data-plane.js SYNTH_DIR');
void runScenarios('bench: data plane (IPVS VM)', [['failed requests and throughput', bench]], 1300);
