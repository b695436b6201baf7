import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic-file';
import { BackoffPolicy } from './backoff';
import { EndpointSlice } from './endpoint-slices';
import { ipvsDrift } from './ipvs-drift';
import { ipvsHasHealthyRealServer, IpvsVirtualService } from './ipvs-table';
import { Logger } from './log';
import { ControllerMetrics } from './metrics';
import { backendEndpoints, keepalivedModel } from './reconcile';
import { SyncLoop } from './sync-loop';
import { announceFileText, LB_POD_FILES } from '../../lib/lb-pod-contract';
import { KeepalivedModel, LoadBalancerServiceModel } from '../../lib/model';
import { renderKeepalived } from '../../lib/renderers/keepalived';

/** What the controller needs from keepalived: (re)load the config file, restart, and stop. */
export interface KeepalivedControl {
  /** Starts keepalived on the first call, signals a reload (SIGHUP) on later calls. */
  reload(): void;
  /** Stops keepalived and starts it again on the current file: it then builds IPVS from scratch. */
  restart(): void;
  stop(): Promise<void>;
}

export interface ControllerOptions {
  readonly service: LoadBalancerServiceModel;
  readonly routerId: string;
  /** BGP next hop for the announcements: the node's IP. */
  readonly nodeIp: string;
  /**
   * Dual-stack: the node's address of the other family (NodeAddressSource), the next hop of the
   * prefixes of that family; undefined while unknown, and those prefixes are not announced then.
   */
  readonly otherNextHop?: () => string | undefined;
  readonly runDir: string;
  /** The informer's current cache of the backends' EndpointSlices. */
  readonly slices: () => readonly EndpointSlice[];
  readonly keepalived: KeepalivedControl;
  /**
   * This namespace's IPVS table (keepalived's health verdicts are in it); undefined when it cannot
   * be observed (a kernel without IPVS).
   */
  readonly readIpvs?: () => readonly IpvsVirtualService[] | undefined;
  /**
   * Puts IPVS `mh` real servers in canonical order (IpvsReorderer): run on every poll tick and
   * shortly after every reload, one pass at a time, and never once keepalived is being stopped.
   */
  readonly reorderIpvs?: () => Promise<void>;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
  /** Reloads closer together than this are merged: bounds the SIGHUP rate during bursts. */
  readonly minReloadIntervalMs?: number;
  /** How often IPVS health is re-read for the announcement (and its order checked). */
  readonly healthPollMs?: number;
  /** How long after a reload signal the IPVS order is checked: keepalived applies a reload asynchronously. */
  readonly reorderAfterReloadMs?: number;
  /** How often the whole state is compared with the desired one and repaired, whatever the events. */
  readonly resyncMs?: number;
  /** Retries of a failed write or reload signal. */
  readonly retryBackoff?: BackoffPolicy;
  /**
   * How long IPVS may differ from the config before keepalived is restarted: keepalived applies a
   * reload asynchronously, slowly under load, and a restart flushes IPVS and withdraws the LB.
   */
  readonly ipvsDriftGraceMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_RETRY: BackoffPolicy = { initialMs: 200, maxMs: 10_000 };

/** Logged when IPVS drift restarts keepalived (the e2e counts these lines). */
export const DRIFT_RESTART_LOG = 'IPVS differs from the config keepalived loaded; restarting keepalived';

/** A failed step of a sync: its kind labels the error metric. */
class SyncStepFailed extends Error {
  constructor(readonly kind: 'sync' | 'reload', message: string, readonly reason: unknown) { super(message); }
}

/**
 * Endpoint events in, keepalived config and announce file out. Syncs run on a SyncLoop: a burst
 * of events is one sync, and reloads are spaced by at least `minReloadIntervalMs`.
 *
 * Level-triggered: a sync compares the desired state with the real one (the files on disk, the
 * config keepalived last loaded, and IPVS), not with what the controller last did, so a periodic
 * resync repairs any drift and a failed step is retried with backoff until it succeeds.
 */
export class Controller {
  readonly keepalivedConfigPath: string;
  readonly announcePath: string;
  private readonly syncs: SyncLoop;
  private burstStartedAt?: number;
  /** The config keepalived was last told to load (the file held it when the signal went). */
  private appliedConfig?: string;
  private desired?: { readonly config: string; readonly model: KeepalivedModel };
  private lastMalformed = '';
  private lastAnnounce?: string;
  private driftSince?: number;
  /** keepalived restarts for drift since IPVS last matched: each waits twice as long as the one before. */
  private driftRestarts = 0;
  private lastReloadAt = -Infinity;
  private pendingReload?: NodeJS.Timeout;
  private pendingReloadBurstStart?: number;
  private healthTimer?: NodeJS.Timeout;
  private reorderTimer?: NodeJS.Timeout;
  private reorderPass?: Promise<void>;
  /** keepalived is being restarted for drift: no reorder pass may cross its stop or its rebuild. */
  private restarting = false;
  private draining = false;
  /** The VIPs with a real server that takes new connections, in the config last rendered. */
  private servingVips = new Set<string>();

  constructor(private readonly options: ControllerOptions) {
    this.keepalivedConfigPath = path.join(options.runDir, LB_POD_FILES.keepalivedConfig);
    this.announcePath = path.join(options.runDir, LB_POD_FILES.announce);
    this.syncs = new SyncLoop({
      pass: () => this.sync(),
      onError: (err, retryInMs) => {
        // Anything else was thrown by the announcement's update, which the pass ends with.
        const step = err instanceof SyncStepFailed ? err : new SyncStepFailed('sync', 'sync failed', err);
        options.metrics.errors.inc({ kind: step.kind });
        options.log.log('error', step.message, { error: String(step.reason), retryInMs });
      },
      backoff: options.retryBackoff ?? DEFAULT_RETRY,
      resyncMs: options.resyncMs ?? 10_000,
    });
  }

  /** True once a config has been written and keepalived told to load it. */
  get configured(): boolean { return this.appliedConfig !== undefined; }

  /** False while IPVS differs from the loaded config (repair pending): the pod's readiness says so. */
  get ipvsConsistent(): boolean { return this.driftSince === undefined; }

  /** Starts the periodic health re-check and resync, and writes the initial (empty) announcement. */
  start(): void {
    this.updateAnnouncement();
    this.healthTimer = setInterval(() => {
      this.startReorderPass();
      this.updateAnnouncement();
    }, this.options.healthPollMs ?? 500);
    this.syncs.start();
  }

  /** Called by the informer for every change; cheap, the work happens once per burst. */
  endpointsChanged(): void {
    if (this.draining) return;
    this.burstStartedAt ??= performance.now();
    void this.syncs.request();
  }

  /** Withdraws the routes, keeps serving for drainSeconds, then stops keepalived. */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.updateAnnouncement();
    const seconds = this.options.service.drainSeconds;
    this.options.log.log('info', 'draining: routes withdrawn, still serving established connections', { drainSeconds: seconds });
    await (this.options.sleep ?? defaultSleep)(seconds * 1000);
    this.stop();
    await this.reorderPass; // a server re-added after keepalived's cleanup would outlive it
    await this.options.keepalived.stop();
    this.options.log.log('info', 'drained: keepalived stopped');
  }

  stop(): void {
    clearInterval(this.healthTimer);
    this.syncs.stop();
    clearTimeout(this.reorderTimer);
    clearTimeout(this.pendingReload);
    this.pendingReload = undefined;
  }

  /** Logs ignored endpoint addresses once per change of the set, not on every sync. */
  private reportMalformed(malformed: string[]): void {
    const key = malformed.join('\n');
    if (key === this.lastMalformed) return;
    this.lastMalformed = key;
    if (malformed.length > 0) {
      this.options.log.log('warn', 'ignoring endpoint addresses that are not IP literals of their slice\'s family', { count: malformed.length, first: malformed.slice(0, 10) });
    }
  }

  /** One pass of the SyncLoop; throws SyncStepFailed for the loop to retry. */
  private sync(): void {
    if (this.draining) return;
    const { service, metrics } = this.options;
    try {
      const endpoints = backendEndpoints(this.options.slices());
      const model = keepalivedModel(service, endpoints, this.options.routerId);
      this.servingVips = new Set(model.virtualServers.filter((vs) => vs.realServers.some((rs) => rs.weight > 0)).map((vs) => vs.vip));
      metrics.endpoints.set(endpoints.usable);
      this.reportMalformed(endpoints.malformed);
      metrics.realServers.set(model.virtualServers.reduce((n, vs) => n + vs.realServers.length, 0));
      const config = renderKeepalived(model);
      this.desired = { config, model };
      // Compared with the file itself: one removed or left half-written by a full disk is rewritten.
      if (readFileIfAny(this.keepalivedConfigPath) !== config) writeFileAtomic(this.keepalivedConfigPath, config);
      if (config !== this.appliedConfig) this.reloadWhenSpaced(this.burstStartedAt);
    } catch (err) {
      throw err instanceof SyncStepFailed ? err : new SyncStepFailed('sync', 'sync failed; keeping the previous config', err);
    } finally {
      this.burstStartedAt = undefined;
      this.updateAnnouncement();
    }
  }

  /** Reloads now, or asks for another sync once `minReloadIntervalMs` has passed since the last reload. */
  private reloadWhenSpaced(burstStartedAt: number | undefined): void {
    this.pendingReloadBurstStart ??= burstStartedAt;
    if (this.pendingReload) return; // the sync it asks for will pick up this config too
    const wait = this.lastReloadAt + (this.options.minReloadIntervalMs ?? 20) - performance.now();
    if (wait <= 0) return this.reloadNow();
    this.pendingReload = setTimeout(() => { this.pendingReload = undefined; void this.syncs.request(); }, wait);
  }

  private reloadNow(): void {
    const { metrics, log } = this.options;
    const config = this.desired!.config;
    try {
      this.options.keepalived.reload();
    } catch (err) {
      throw new SyncStepFailed('reload', 'could not signal keepalived', err);
    }
    this.appliedConfig = config;
    this.driftSince = undefined;
    this.lastReloadAt = performance.now();
    if (this.options.reorderIpvs) {
      clearTimeout(this.reorderTimer);
      this.reorderTimer = setTimeout(() => this.startReorderPass(), this.options.reorderAfterReloadMs ?? 200);
    }
    metrics.reloads.inc();
    if (this.pendingReloadBurstStart !== undefined) metrics.reloadLatency.observe((this.lastReloadAt - this.pendingReloadBurstStart) / 1000);
    this.pendingReloadBurstStart = undefined;
    log.log('debug', 'keepalived reload signalled');
  }

  private startReorderPass(): void {
    const reorder = this.options.reorderIpvs;
    if (!reorder || this.reorderPass || this.restarting) return;
    this.reorderPass = reorder()
      .catch((err) => {
        this.options.metrics.errors.inc({ kind: 'ipvs_reorder' });
        this.options.log.log('error', 'IPVS reorder failed', { error: String(err) });
      })
      .finally(() => { this.reorderPass = undefined; });
  }

  /**
   * Restarts keepalived when IPVS has differed from the applied config for longer than the grace:
   * a restarted keepalived flushes IPVS (`lvs_flush`) and builds it from the file.
   */
  private repairIpvs(ipvs: readonly IpvsVirtualService[] | undefined): void {
    const applied = this.desired?.config === this.appliedConfig ? this.desired?.model : undefined;
    const drift = ipvs && applied && !this.draining ? ipvsDrift(applied, ipvs, this.options.service.vips) : [];
    if (drift.length === 0) {
      this.driftSince = undefined;
      this.driftRestarts = 0;
      this.restarting = false;
      return;
    }
    const now = performance.now();
    this.driftSince ??= now;
    // A restarted keepalived needs time to build IPVS again, more under load: do not restart it in a loop.
    if (now - this.driftSince < (this.options.ipvsDriftGraceMs ?? 10_000) * 2 ** Math.min(this.driftRestarts, 5)) return;
    this.driftSince = undefined;
    this.driftRestarts++;
    this.options.metrics.errors.inc({ kind: 'ipvs_drift' });
    this.options.log.log('error', DRIFT_RESTART_LOG, { drift: drift.slice(0, 10) });
    // As the drain does: a move in flight would re-add a server across the stop, and the
    // reorderer's correction of it would then delete that server from the new keepalived's table.
    this.restarting = true;
    void (this.reorderPass ?? Promise.resolve()).then(() => this.options.keepalived.restart());
  }

  /**
   * Announce while some real server is usable by the endpoints and, where visible, by keepalived.
   * Per family: a dual-stack service withdraws its IPv6 prefixes when no IPv6 VIP has a usable real
   * server, and keeps its IPv4 ones (a family without VIPs of its own follows every VIP).
   */
  private updateAnnouncement(): void {
    const table = this.options.readIpvs?.();
    this.repairIpvs(table);
    const { service } = this.options;
    const announced: string[] = [];
    const health: Record<string, unknown> = {};
    for (const v6 of [false, true]) {
      const prefixes = service.prefixes.filter((p) => p.includes(':') === v6);
      if (prefixes.length === 0) continue;
      const ofFamily = service.vips.filter((vip) => vip.includes(':') === v6);
      const vips = ofFamily.length > 0 ? ofFamily : service.vips;
      const endpointsUsable = vips.some((vip) => this.servingVips.has(vip));
      const ipvs = table && ipvsHasHealthyRealServer(table, vips);
      health[v6 ? 'ipv6' : 'ipv4'] = { endpointsUsable, ipvsHealthy: ipvs ?? 'unobserved' };
      // Only once keepalived has a config: before that nothing in IPVS is ours (a run dir too full to write it, say).
      if (!this.draining && endpointsUsable && this.appliedConfig !== undefined && ipvs !== false) announced.push(...prefixes);
    }
    // A prefix whose family has no next hop yet (the node's other address not read) is left out.
    const text = announced.length > 0 ? announceFileText(service.prefixes.filter((p) => announced.includes(p)), this.options.nodeIp, service.routeAttributes, this.options.otherNextHop?.()) : '';
    const announce = text !== '';
    // Compared with the file too: one removed behind the controller's back is written again.
    if (text === this.lastAnnounce && readFileIfAny(this.announcePath) === text) return;
    try {
      writeFileAtomic(this.announcePath, text);
      this.lastAnnounce = text;
      this.options.metrics.announced.set(announce ? 1 : 0);
      const written = text.split('\n').filter(Boolean).map((line) => line.split(' ')[2]);
      this.options.log.log('info', announce ? 'announcing service prefixes' : 'withdrawing service prefixes', {
        prefixes: announce ? written : service.prefixes, draining: this.draining, ...(Object.keys(health).length > 1 ? health : flatHealth(health)),
      });
    } catch (err) {
      this.options.metrics.errors.inc({ kind: 'announce' });
      this.options.log.log('error', 'could not write the announce file', { error: String(err) });
    }
  }
}

/** One family's health as the log has always shown it: `endpointsUsable`, `ipvsHealthy`. */
function flatHealth(health: Record<string, unknown>): Record<string, unknown> {
  return Object.values(health)[0] as Record<string, unknown> ?? {};
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function readFileIfAny(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
