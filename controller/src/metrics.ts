import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LB_POD_HTTP } from '../../lib/lb-pod-contract';

/** The controller's metrics, in a registry of their own (tests run several controllers). */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly endpoints = new Gauge({ name: 'ecmp_lb_endpoints', help: 'Ready, non-terminating backend endpoints', registers: [this.registry] });
  readonly realServers = new Gauge({ name: 'ecmp_lb_real_servers', help: 'Real servers in the rendered keepalived config (all virtual servers)', registers: [this.registry] });
  readonly reloads = new Counter({ name: 'ecmp_lb_keepalived_reloads_total', help: 'keepalived reloads signalled (SIGHUP) after a config change', registers: [this.registry] });
  readonly reloadLatency = new Histogram({
    name: 'ecmp_lb_reload_latency_seconds',
    help: 'From the first endpoint event of a burst to config written and reload signalled',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly announced = new Gauge({ name: 'ecmp_lb_announced', help: '1 while the service prefixes are announced, 0 while withdrawn', registers: [this.registry] });
  readonly watchRestarts = new Counter({ name: 'ecmp_lb_watch_restarts_total', help: 'List/watch restarts after an error, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'ecmp_lb_errors_total', help: 'Errors by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly bfdSessionUp = new Gauge({ name: 'ecmp_lb_bfd_session_up', help: '1 while the BFD session with the reflector is up', labelNames: ['reflector'], registers: [this.registry] });
  readonly keepalivedRestarts = new Counter({ name: 'ecmp_lb_keepalived_restarts_total', help: 'keepalived restarts: after it exited unexpectedly, or by the controller when IPVS drifted from the config', registers: [this.registry] });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}

export interface HealthSource {
  /** Liveness: false only when the process is wedged and a restart would help. */
  healthy(): boolean;
  /** Readiness: synced with the API at least once and serving. */
  ready(): boolean;
}

/** Serves /metrics, /healthz and /readyz. */
export async function startMetricsServer(registry: Registry, health: HealthSource, port: number, host = '0.0.0.0'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === LB_POD_HTTP.metricsPath) {
      registry.metrics().then(
        (text) => { res.writeHead(200, { 'Content-Type': registry.contentType }); res.end(text); },
        (err) => { res.writeHead(500); res.end(String(err)); },
      );
    } else if (path === LB_POD_HTTP.livenessPath || path === LB_POD_HTTP.readinessPath) {
      const ok = path === LB_POD_HTTP.livenessPath ? health.healthy() : health.ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not ok\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  return server;
}

export function serverPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
