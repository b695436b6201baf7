import * as path from 'node:path';
import { announceFileText, LB_POD_FILES } from '../../lib/lb-pod-contract';
import { LoadBalancerServiceModel } from '../../lib/model';
import { renderKeepalived } from '../../lib/renderers/keepalived';
import { writeFileAtomic } from './atomic-file';
import { EndpointSlice } from './endpoint-slices';
import { Logger } from './log';
import { ControllerMetrics } from './metrics';
import { backendEndpoints, hasRealServers, keepalivedModel } from './reconcile';

/** What the controller needs from keepalived: (re)load the config file, and stop. */
export interface KeepalivedControl {
  /** Starts keepalived on the first call, signals a reload (SIGHUP) on later calls. */
  reload(): void;
  stop(): Promise<void>;
}

export interface ControllerOptions {
  readonly service: LoadBalancerServiceModel;
  readonly routerId: string;
  /** BGP next hop for the announcements: the node's IP. */
  readonly nodeIp: string;
  readonly runDir: string;
  /** The informer's current cache of the backends' EndpointSlices. */
  readonly slices: () => readonly EndpointSlice[];
  readonly keepalived: KeepalivedControl;
  /** keepalived's health verdicts as IPVS shows them; undefined when they cannot be observed. */
  readonly ipvsHealthy?: () => boolean | undefined;
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
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Endpoint events in, keepalived config and announce file out. Events are coalesced: the first
 * event of a burst schedules one sync for the next turn of the event loop, and reloads are
 * spaced by at least `minReloadIntervalMs`.
 */
export class Controller {
  readonly keepalivedConfigPath: string;
  readonly announcePath: string;
  private syncScheduled = false;
  private burstStartedAt?: number;
  private lastConfig?: string;
  private lastMalformed = '';
  private lastAnnounce?: string;
  private lastReloadAt = -Infinity;
  private pendingReload?: NodeJS.Timeout;
  private pendingReloadBurstStart?: number;
  private healthTimer?: NodeJS.Timeout;
  private reorderTimer?: NodeJS.Timeout;
  private reorderPass?: Promise<void>;
  private draining = false;
  private hasBackends = false;

  constructor(private readonly options: ControllerOptions) {
    this.keepalivedConfigPath = path.join(options.runDir, LB_POD_FILES.keepalivedConfig);
    this.announcePath = path.join(options.runDir, LB_POD_FILES.announce);
  }

  /** True once a config has been written and keepalived told to load it. */
  get configured(): boolean { return this.lastConfig !== undefined; }

  /** Starts the periodic health re-check and writes the initial (empty) announcement. */
  start(): void {
    this.updateAnnouncement();
    this.healthTimer = setInterval(() => {
      this.startReorderPass();
      this.updateAnnouncement();
    }, this.options.healthPollMs ?? 500);
  }

  /** Called by the informer for every change; cheap, the work happens once per burst. */
  endpointsChanged(): void {
    if (this.draining || this.syncScheduled) return;
    this.syncScheduled = true;
    this.burstStartedAt ??= performance.now();
    setImmediate(() => this.sync());
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

  private sync(): void {
    this.syncScheduled = false;
    if (this.draining) return;
    const { service, metrics, log } = this.options;
    try {
      const endpoints = backendEndpoints(this.options.slices());
      const model = keepalivedModel(service, endpoints, this.options.routerId);
      this.hasBackends = hasRealServers(model);
      metrics.endpoints.set(endpoints.usable);
      this.reportMalformed(endpoints.malformed);
      metrics.realServers.set(model.virtualServers.reduce((n, vs) => n + vs.realServers.length, 0));
      const config = renderKeepalived(model);
      if (config !== this.lastConfig) {
        writeFileAtomic(this.keepalivedConfigPath, config);
        this.lastConfig = config;
        this.scheduleReload(this.burstStartedAt);
      }
    } catch (err) {
      metrics.errors.inc({ kind: 'sync' });
      log.log('error', 'sync failed; keeping the previous config', { error: String(err) });
    }
    this.burstStartedAt = undefined;
    this.updateAnnouncement();
  }

  private scheduleReload(burstStartedAt: number | undefined): void {
    this.pendingReloadBurstStart ??= burstStartedAt;
    if (this.pendingReload) return; // the pending reload will pick up this config too
    const wait = this.lastReloadAt + (this.options.minReloadIntervalMs ?? 20) - performance.now();
    if (wait <= 0) return this.reloadNow();
    this.pendingReload = setTimeout(() => { this.pendingReload = undefined; this.reloadNow(); }, wait);
  }

  private reloadNow(): void {
    const { metrics, log } = this.options;
    try {
      this.options.keepalived.reload();
    } catch (err) {
      metrics.errors.inc({ kind: 'reload' });
      log.log('error', 'could not signal keepalived', { error: String(err) });
      return;
    }
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
    if (!reorder || this.reorderPass) return;
    this.reorderPass = reorder()
      .catch((err) => {
        this.options.metrics.errors.inc({ kind: 'ipvs_reorder' });
        this.options.log.log('error', 'IPVS reorder failed', { error: String(err) });
      })
      .finally(() => { this.reorderPass = undefined; });
  }

  /** Announce while some real server is usable by the endpoints and, where visible, by keepalived. */
  private updateAnnouncement(): void {
    const ipvs = this.options.ipvsHealthy?.();
    const announce = !this.draining && this.hasBackends && ipvs !== false;
    const text = announce ? announceFileText(this.options.service.prefixes, this.options.nodeIp) : '';
    if (text === this.lastAnnounce) return;
    try {
      writeFileAtomic(this.announcePath, text);
      this.lastAnnounce = text;
      this.options.metrics.announced.set(announce ? 1 : 0);
      this.options.log.log('info', announce ? 'announcing service prefixes' : 'withdrawing service prefixes', {
        prefixes: this.options.service.prefixes, draining: this.draining, endpointsUsable: this.hasBackends, ipvsHealthy: ipvs ?? 'unobserved',
      });
    } catch (err) {
      this.options.metrics.errors.inc({ kind: 'announce' });
      this.options.log.log('error', 'could not write the announce file', { error: String(err) });
    }
  }
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
