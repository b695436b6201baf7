import type { LoadResult } from '../load-client';
import { Capture } from './capture';
import { ScenarioContext } from './harness';
import { Backend, establishedClientPorts, IpvsLab, ipvsConnections, LB_SLOT } from './ipvs-lab';
import { deletePod, nodeIp, routerNexthops } from './lab';
import { loadStarted, LoadRun, startLoad } from './load';
import { probe, run, sleep, waitFor } from './proc';

/** How an LB pod goes: Kubernetes scale-down (SIGTERM: withdraw, drain, stop) or every process of the pod killed. */
export type LbLoss = 'graceful' | 'abrupt';

export interface LossTrial {
  readonly loss: LbLoss;
  readonly node: number;
  /** Short requests, each on a new connection (a new flow). */
  readonly short: LoadResult;
  /** Requests on long-lived keep-alive connections: the flows in flight at the route change. */
  readonly keepAlive: LoadResult;
  /** Connections IPVS scheduled on each LB (by node) in the 3 s before the loss, and from it to the end of the load. */
  readonly connsBefore: Record<number, number>;
  readonly connsAfter: Record<number, number>;
  /** Keep-alive flows that were established on one LB before the loss and on another one after it. */
  readonly movedFlows: number;
}

/** When the loss happens, seconds into the load. */
const LOSS_AT_SECONDS = 3;
const KEEPALIVE_FLOWS = 16;
const AFTER_LOSS_SNAPSHOT_MS = 3000;
/**
 * A request fails after 10 s without an answer. A flow that the loss really breaks (reset, or sent to
 * a backend without its socket) fails at once, and a black hole outlasts this; what is shorter is a TCP
 * retransmission or a stall of the 2-CPU VM, which a client with its usual 30-60 s timeout never sees.
 * Requests slower than 1 s are counted apart (`slow`) and printed, so a stall stays visible.
 */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * A trial's load, both clients running when it resolves: short requests (4 at a time) and the
 * keep-alive flows, for at most `maxSeconds`; the event comes LOSS_AT_SECONDS after their first requests.
 */
async function startTrialLoad(
  ctx: ScenarioContext,
  lab: IpvsLab,
  tag: string,
  maxSeconds: number,
  requestsPerConnection?: number,
): Promise<{ short: LoadRun; keepAlive: LoadRun }> {
  const options = { url: lab.vipUrl, count: 1_000_000, maxSeconds, timeoutMs: REQUEST_TIMEOUT_MS };
  const short = startLoad(ctx.procs, ctx.workDir, `${tag}-short`, { ...options, concurrency: 4 });
  const keepAlive = startLoad(ctx.procs, ctx.workDir, `${tag}-keepalive`, { ...options, concurrency: KEEPALIVE_FLOWS, keepAlive: true, pauseMs: 200, requestsPerConnection });
  await Promise.all([loadStarted(ctx.workDir, `${tag}-short`), loadStarted(ctx.workDir, `${tag}-keepalive`)]);
  await sleep(LOSS_AT_SECONDS * 1000);
  return { short, keepAlive };
}

/** Keep-alive flows ESTABLISHED on one LB before the event and on another after it (on `to` only, when given). */
function countMovedFlows(keepAlive: LoadResult, before: Map<number, Set<number>>, after: Map<number, Set<number>>, to?: number): number {
  const flows = new Set(keepAlive.ports ?? []);
  let moved = 0;
  for (const [node, ports] of after) {
    if (to !== undefined && node !== to) continue;
    for (const port of ports) {
      if (flows.has(port) && !before.get(node)?.has(port) && [...before].some(([from, was]) => from !== node && was.has(port))) moved++;
    }
  }
  return moved;
}

/**
 * One LB pod lost under continuous load: short requests (4 at a time) plus 16 long-lived keep-alive
 * flows (a request every 200 ms each) from the client, the pod on `node` lost 3 s in, the load
 * running on until the drain is over. Counts what IPVS scheduled on each LB before and after, and
 * how many keep-alive flows the route change moved from one LB to another, so that a zero means
 * moved flows survived, not that none moved.
 */
export async function lbLossTrial(ctx: ScenarioContext, lab: IpvsLab, node: number, loss: LbLoss, tag: string): Promise<LossTrial> {
  const seconds = LOSS_AT_SECONDS + (loss === 'graceful' ? lab.service.model.drainSeconds + 3 : 8);
  const c0 = ipvsConnections(lab);
  const { short, keepAlive } = await startTrialLoad(ctx, lab, tag, seconds);
  const c1 = ipvsConnections(lab);
  const portsBefore = establishedClientPorts(lab);
  const pod = lab.lbs.get(node)!;
  lab.lbs.delete(node);
  const gone = loss === 'graceful' ? lab.pods.drain(pod) : lab.pods.remove(pod);
  gone.catch(() => undefined); // awaited below
  // While the load still runs (its flows still ESTABLISHED): the route changed within ~0.3 s, and
  // each keep-alive flow has sent a request on its new LB since.
  await sleep(AFTER_LOSS_SNAPSHOT_MS);
  const portsAfter = establishedClientPorts(lab);
  await gone;
  const [shortResult, keepAliveResult] = await Promise.all([short, keepAlive]);
  const c2 = ipvsConnections(lab);

  const movedFlows = countMovedFlows(keepAliveResult, portsBefore, portsAfter);
  // Per node running at both ends of the interval.
  const delta = (a: Map<number, number>, b: Map<number, number>) => Object.fromEntries(
    [...a].filter(([n]) => b.has(n)).map(([n, v]) => [n, b.get(n)! - v]),
  );
  return {
    loss, node, short: shortResult, keepAlive: keepAliveResult,
    connsBefore: delta(c0, c1), connsAfter: delta(c1, c2), movedFlows,
  };
}

/**
 * `count` losses of the same kind in a row under load, each of the highest-numbered running LB pod
 * (4 -> 3 -> 2 -> 1 LBs from 4), without re-adding any: every trial moves flows.
 */
export async function lossTrials(
  ctx: ScenarioContext,
  lab: IpvsLab,
  loss: LbLoss,
  count: number,
  tag: string,
  afterEach?: () => void,
): Promise<LossTrial[]> {
  const trials: LossTrial[] = [];
  for (let i = 1; i <= count; i++) {
    const lbs = lab.lbs.size;
    const trial = await lbLossTrial(ctx, lab, Math.max(...lab.lbs.keys()), loss, `${tag}-${loss}-${i}`);
    console.log(`  ${tag} trial ${i}, ${lbs} -> ${lbs - 1} LBs: ${describeTrial(trial)}`);
    trials.push(trial);
    afterEach?.();
  }
  return trials;
}

export interface JoinTrial {
  readonly node: number;
  readonly short: LoadResult;
  readonly keepAlive: LoadResult;
  /** From the pod's start to the router's route with its node as a next hop. */
  readonly routeSeconds: number;
  /** Keep-alive flows established on another LB before the join and on the new one after it. */
  readonly movedFlows: number;
  /** Connections the new LB's IPVS scheduled once it had joined (sloppy_tcp: moved flows included). */
  readonly newLbConnections: number;
}

/** How long a join may take, pod start to route (the VM starts a pod in 10-40 s; exabgp's first announce follows). */
const JOIN_TIMEOUT_MS = 240_000;

/**
 * One LB pod added under continuous load (the paper's Fig. 13b additions): the same short and
 * keep-alive load as a loss trial, an LB pod started on `node` 3 s in, the load ended 3 s after the
 * router's route has its node. The flows that ECMP moves to the new LB keep working only if it picks
 * the same backend as the LB they came from (TUN/DR, `mh`, the same table) and forwards mid-flow
 * packets (sloppy_tcp).
 */
export async function lbJoinTrial(ctx: ScenarioContext, lab: IpvsLab, node: number, tag: string): Promise<JoinTrial> {
  const { short, keepAlive } = await startTrialLoad(ctx, lab, tag, JOIN_TIMEOUT_MS / 1000 + 30);
  const portsBefore = establishedClientPorts(lab);
  const started = performance.now();
  lab.lbs.set(node, await lab.pods.start(lab.service, node, LB_SLOT));
  const routed = await waitFor(() => routerNexthops(lab.prefix), (hops) => hops.includes(nodeIp(node)), JOIN_TIMEOUT_MS, 100);
  const routeSeconds = (performance.now() - started) / 1000;
  const c1 = ipvsConnections(lab);
  await sleep(AFTER_LOSS_SNAPSHOT_MS);
  const portsAfter = establishedClientPorts(lab);
  const c2 = ipvsConnections(lab);
  short.end();
  keepAlive.end();
  const [shortResult, keepAliveResult] = await Promise.all([short, keepAlive]);
  if (!routed.ok) throw new Error(`the LB on node ${node} did not join the route within ${JOIN_TIMEOUT_MS / 1000} s: [${routed.value}]`);
  const movedFlows = countMovedFlows(keepAliveResult, portsBefore, portsAfter, node);
  return {
    node, short: shortResult, keepAlive: keepAliveResult, routeSeconds, movedFlows,
    newLbConnections: (c2.get(node) ?? 0) - (c1.get(node) ?? 0),
  };
}

export function describeJoin(t: JoinTrial): string {
  return `join of an LB on node ${t.node} (routed ${t.routeSeconds.toFixed(1)} s after its start): short requests ${describeRequests(t.short)}; keep-alive requests ${describeRequests(t.keepAlive)}; `
    + `${t.movedFlows} of ${t.keepAlive.ports?.length ?? 0} keep-alive flows moved to the new LB; it scheduled ${t.newLbConnections} connections in its first 3 s`;
}

export interface RolloutTrial {
  readonly short: LoadResult;
  readonly keepAlive: LoadResult;
  /** Backends replaced, one at a time. */
  readonly replaced: number;
  /** The LB that joined halfway through: its node, pod start to route, connections it scheduled. */
  readonly joinNode: number;
  readonly joinRouteSeconds: number;
  readonly newLbConnections: number;
  /** From each old backend's terminating endpoint until every LB's IPVS gave it weight 0 (no new connection). */
  readonly propagationSeconds: number[];
  /** Each old backend's ESTABLISHED connections in the LBs' IPVS tables once no LB scheduled it any more: flows it went on serving while terminating. */
  readonly terminatingFlows: number[];
  /** How long each old backend's preStop waited, after weight 0 everywhere, for its connections to end. */
  readonly preStopSeconds: number[];
  /** Each old backend's own ESTABLISHED connections when it got its signal (0 unless the preStop's bound ran out). */
  readonly connectionsAtSignal: number[];
  /** How long each old backend took to exit after its signal. */
  readonly drainSeconds: number[];
  /** What happened when, in seconds of the load (the clients' error times count from the same start). */
  readonly events: string[];
}

/** A terminating backend's grace period after its signal: nginx finishes its connections (SIGQUIT), then is killed. */
const BACKEND_GRACE_MS = 10_000;
/** The longest the endpoint's update may take to reach every LB's IPVS table. */
const PROPAGATION_TIMEOUT_MS = 20_000;
/** Requests per keep-alive connection in the rollout: 20, one every 200 ms, so a connection lives about 4-5 s. */
const ROLLOUT_REQUESTS_PER_CONNECTION = 20;
/**
 * The preStop hook's bound, after the LBs dropped a terminating backend: its established flows end on their
 * own (a client closes its connection after 20 requests), so the hook waits for that, at most this long.
 * A fixed sleep was not enough: under emulation a connection can outlive any guess, and nginx's graceful
 * quit closes an idle keep-alive connection at once, racing the client's next request on it.
 */
const PRE_STOP_MAX_MS = 30_000;

/**
 * A rolling update of every backend under continuous load (maxSurge 1, maxUnavailable 0), with an LB
 * pod joining on `joinNode` halfway through: for each old backend, a new pod on its node starts and
 * is published ready; then the old one is published terminating (not ready, still serving). Its
 * preStop hook waits as Kubernetes users' do: until every LB's IPVS has it at weight 0 (measured:
 * the update's propagation), then until its own connections have ended (the clients close each after 20
 * requests and open another), at most 30 s. Then SIGQUIT
 * (nginx stops accepting and exits once idle, killed after 10 s), and the pod is deleted. The LBs
 * send it no new flow once it is terminating and keep forwarding its established ones (weight 0).
 */
export async function backendRolloutTrial(ctx: ScenarioContext, lab: IpvsLab, joinNode: number, tag: string): Promise<RolloutTrial> {
  const capture = Capture.fromEnv(ctx, tag, 900, 4);
  const olds = [...lab.backends];
  for (const [node, pod] of lab.lbs) capture?.lb(node, pod.ns);
  for (const b of olds) capture?.backend(b.name, b.ns);
  const { short, keepAlive } = await startTrialLoad(ctx, lab, tag, 600, ROLLOUT_REQUESTS_PER_CONNECTION);
  const loadStart = performance.now() - LOSS_AT_SECONDS * 1000;
  capture?.note(`load started ${((performance.now() - loadStart) / 1000).toFixed(2)} s ago`);
  const events: string[] = [];
  const note = (what: string) => {
    events.push(`${((performance.now() - loadStart) / 1000).toFixed(2)} ${what}`);
    capture?.note(events[events.length - 1]);
  };
  const drainSeconds: number[] = [];
  const preStopSeconds: number[] = [];
  const connectionsAtSignal: number[] = [];
  const propagationSeconds: number[] = [];
  const terminatingFlows: number[] = [];
  let join: { routeSeconds: number; connections: number } | undefined;
  for (const [i, old] of olds.entries()) {
    const fresh = await lab.addBackend(`${old.name}-v2`, old.node, ROLLOUT_SLOT + old.node);
    capture?.backend(fresh.name, fresh.ns);
    lab.backends.push(fresh);
    lab.publishBackends([]);
    note(`${fresh.name} ready`);
    await sleep(1000);
    lab.backends.splice(lab.backends.indexOf(old), 1);
    lab.publishBackends([old]);
    note(`${old.name} terminating`);
    const dropped = await waitFor(
      () => [...lab.lbs.values()].filter((pod) => schedules(pod.ns, old.ip)).length,
      (n) => n === 0,
      PROPAGATION_TIMEOUT_MS,
      50,
    );
    if (!dropped.ok) throw new Error(`${dropped.value} LBs still schedule to the terminating backend ${old.name} after ${PROPAGATION_TIMEOUT_MS / 1000} s`);
    propagationSeconds.push(dropped.ms / 1000);
    terminatingFlows.push(establishedTo(lab, old.ip));
    note(`${old.name} at weight 0 in every LB`);
    const idle = await waitFor(() => backendConnections(lab, old), (n) => n === 0, PRE_STOP_MAX_MS, 100);
    preStopSeconds.push(idle.ms / 1000);
    connectionsAtSignal.push(idle.value);
    note(`${old.name} SIGQUIT (${idle.value} connections left)`);
    const signalled = performance.now();
    ctx.procs.signal(old.daemon!, 'SIGQUIT');
    const timer = setTimeout(() => ctx.procs.signal(old.daemon!, 'SIGKILL'), BACKEND_GRACE_MS);
    await old.daemon!.exited;
    clearTimeout(timer);
    drainSeconds.push((performance.now() - signalled) / 1000);
    note(`${old.name} exited`);
    lab.publishBackends([]);
    await deletePod(old.ns, old.node, old.ip);
    if (i === Math.floor(olds.length / 2) - 1) {
      // Halfway: an LB pod joins, its backend set the one of the moment (half old, half new).
      const before = ipvsConnections(lab).get(joinNode) ?? 0;
      note(`LB on node ${joinNode} starting`);
      const started = performance.now();
      lab.lbs.set(joinNode, await lab.pods.start(lab.service, joinNode, LB_SLOT));
      capture?.lb(joinNode, lab.lbs.get(joinNode)!.ns);
      const routed = await waitFor(() => routerNexthops(lab.prefix), (hops) => hops.includes(nodeIp(joinNode)), JOIN_TIMEOUT_MS, 100);
      if (!routed.ok) throw new Error(`the LB on node ${joinNode} did not join the route within ${JOIN_TIMEOUT_MS / 1000} s: [${routed.value}]`);
      const routeSeconds = (performance.now() - started) / 1000;
      note(`LB on node ${joinNode} on the route`);
      await sleep(AFTER_LOSS_SNAPSHOT_MS);
      join = { routeSeconds, connections: (ipvsConnections(lab).get(joinNode) ?? 0) - before };
    }
  }
  await sleep(AFTER_LOSS_SNAPSHOT_MS);
  short.end();
  keepAlive.end();
  const [shortResult, keepAliveResult] = await Promise.all([short, keepAlive]);
  await capture?.stop();
  return {
    short: shortResult, keepAlive: keepAliveResult, replaced: olds.length, joinNode,
    joinRouteSeconds: join?.routeSeconds ?? NaN, newLbConnections: join?.connections ?? 0, propagationSeconds, terminatingFlows,
    preStopSeconds, connectionsAtSignal, drainSeconds, events,
  };
}

/** True while the LB's IPVS lists `ip` as a real server with a weight above 0 (one that takes new connections). */
function schedules(ns: string, ip: string): boolean {
  // `  -> ADDRESS:PORT  FORWARD  WEIGHT  ACTIVE  INACTIVE`
  return probe(ns, ['ipvsadm', '-Ln']).split('\n').map((l) => l.trim().split(/\s+/)).some((f) => f[0] === '->' && f[1]?.startsWith(`${ip}:`) && Number(f[3]) > 0);
}

/**
 * The backend's own ESTABLISHED connections on the service's backend port (its socket table, not IPVS's, whose TUN entries outlive the flows).
 * NaN when `ss` failed (its 5 s timeout in a loaded VM): not a 0, which would end the preStop with a connection still open
 * (seen in a captured run: nginx's graceful quit then closed it as the client's next request was on its way, a reset).
 */
function backendConnections(lab: IpvsLab, backend: Backend): number {
  const port = lab.service.model.ports[0].backendPort;
  try {
    return run(backend.ns, ['ss', '-Htn', 'state', 'established', `sport = :${port}`], { timeoutMs: 5_000 }).split('\n').filter((l) => l.trim() !== '').length;
  } catch {
    return NaN;
  }
}

/** ESTABLISHED entries to `ip` in every running LB pod's IPVS connection table. */
function establishedTo(lab: IpvsLab, ip: string): number {
  return [...lab.lbs.values()].reduce((sum, pod) => sum + probe(pod.ns, ['ipvsadm', '-Lnc']).split('\n')
    // pro expire state source virtual destination
    .map((l) => l.trim().split(/\s+/)).filter((e) => e[2] === 'ESTABLISHED' && e[5]?.startsWith(`${ip}:`)).length, 0);
}

/** The replacement backends' slot (pod IP 198.19.(128+node).(20+node)). */
const ROLLOUT_SLOT = 20;

export function describeRollout(t: RolloutTrial): string {
  return `rollout of ${t.replaced} backends with an LB joining on node ${t.joinNode} halfway (routed ${t.joinRouteSeconds.toFixed(1)} s after its start, `
    + `${t.newLbConnections} connections in its first 3 s): short requests ${describeRequests(t.short)}; keep-alive requests ${describeRequests(t.keepAlive)}; `
    + `${t.keepAlive.ports?.length ?? 0} keep-alive connections used (16 at a time, ${ROLLOUT_REQUESTS_PER_CONNECTION} requests each); every LB dropped each terminating backend `
    + `${t.propagationSeconds.map((d) => d.toFixed(1)).join(' / ')} s after its endpoint changed (weight 0), with ${t.terminatingFlows.join(' / ')} established flows still forwarded to it; their preStop waited ${t.preStopSeconds.map((d) => d.toFixed(1)).join(' / ')} s more for their connections to end (${t.connectionsAtSignal.join(' / ')} left at the signal); old backends exited ${t.drainSeconds.map((d) => d.toFixed(1)).join(' / ')} s after SIGQUIT; `
    + `events (s of the load): ${t.events.join(', ')}`;
}

/** Starts an LB pod on each of `nodes` that has none (in parallel, as a Deployment scaling up), then waits for the route. */
export async function restoreLbs(lab: IpvsLab, nodes: number[]): Promise<void> {
  await Promise.all(nodes.filter((n) => !lab.lbs.has(n)).map(async (n) => lab.lbs.set(n, await lab.pods.start(lab.service, n, LB_SLOT))));
  await lab.converge(nodes);
}

/** One line per trial: failed requests (short, keep-alive), the flows that moved, and what each LB scheduled before/after. */
export function describeTrial(t: LossTrial): string {
  return `${t.loss} loss of the LB on node ${t.node}: short requests ${describeRequests(t.short)}; keep-alive requests ${describeRequests(t.keepAlive)}; `
    + `${t.movedFlows} of ${t.keepAlive.ports?.length ?? 0} keep-alive flows moved to another LB; IPVS connections per LB node before ${JSON.stringify(t.connsBefore)}, after ${JSON.stringify(t.connsAfter)}`;
}

/** Failed requests (and when), then answers slower than 1 s (and when they were sent). */
function describeRequests(r: LoadResult): string {
  const errors = Object.entries(r.errors).map(([k, v]) => `${k}:${v}`).join(',');
  const flows = r.errorFlows?.length ? `; client ports ${r.errorFlows.map((f) => `${f.port} at ${f.at}`).join(', ')}` : '';
  return `${r.failed} of ${r.ok + r.failed} failed${r.failed ? ` (${errors} at ${r.errorTimes.join(',')} s${flows})` : ''}, `
    + `${r.slow} slower than 1 s${r.slow ? ` (sent at ${r.slowTimes.join(',')} s; slowest ${r.maxMs} ms)` : ''}`;
}

/** Failed and total requests over trials (losses or joins), short and keep-alive together, and the flows they moved. */
export function trialTotals(
  trials: readonly { short: LoadResult; keepAlive: LoadResult; movedFlows: number }[],
): { failed: number; total: number; moved: number } {
  const results = trials.flatMap((t) => [t.short, t.keepAlive]);
  return {
    failed: results.reduce((n, r) => n + r.failed, 0),
    total: results.reduce((n, r) => n + r.ok + r.failed, 0),
    moved: trials.reduce((n, t) => n + t.movedFlows, 0),
  };
}
