import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { DEFAULT_BACKOFF } from './backoff';
import { Logger } from './log';
import { hostIp, IpRunner, runIpCommands } from './node-agent';
import { parseInstalledState, parseSourceRoutes, planResilientRoutes } from './resilient-plan';
import { SyncLoop } from './sync-loop';
import { ResilientHashingModel } from '../../lib/model';

export function loadResilientRoutesConfig(file: string): ResilientHashingModel {
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as ResilientHashingModel;
  for (const key of ['sourceTable', 'protocol', 'buckets', 'idleTimerSeconds', 'unbalancedTimerSeconds'] as const) {
    if (!Number.isInteger(config[key])) throw new Error(`${file}: ${key} must be an integer, got ${JSON.stringify(config[key])}`);
  }
  return config;
}

/** One pass: read the daemon's routes and the installer's own objects, apply the difference. Returns the commands run; throws if one failed. */
export function syncResilientRoutes(config: ResilientHashingModel, ip: IpRunner, log: Logger): string[][] {
  const table = String(config.sourceTable);
  const proto = String(config.protocol);
  const routes = (family: '-4' | '-6', ...filter: string[]) => tableRoutes(ip, [family, 'route', 'show', ...filter]);
  const source = new Map([
    ...parseSourceRoutes(routes('-4', 'table', table)),
    ...parseSourceRoutes(routes('-6', 'table', table)),
  ]);
  const installed = parseInstalledState(ip(['-j', 'nexthop', 'show']), config.protocol,
    [routes('-4', 'table', 'main', 'proto', proto), routes('-6', 'table', 'main', 'proto', proto)]);
  // After a failed command the retry starts again from what the kernel holds.
  return runIpCommands(ip, planResilientRoutes(source, installed, config), log);
}

/** `ip -j ... route show`; a table the kernel has not made yet (no route in it so far) reads as empty. */
function tableRoutes(ip: IpRunner, args: string[]): string {
  try {
    return ip(['-j', ...args]);
  } catch (err) {
    if (/FIB table does not exist/.test(String((err as { stderr?: string }).stderr ?? ''))) return '[]';
    throw err;
  }
}

export interface ResilientRoutesOptions {
  readonly config: ResilientHashingModel;
  readonly log: Logger;
  /** `ip` with a prefix, in tests `ip -n NS`; the monitor runs the same way. */
  readonly ipCommand?: string[];
  readonly resyncMs?: number;
}

/**
 * `ecmp-lb resilient-routes`: syncs on every route change the kernel reports (`ip monitor route`),
 * coalescing bursts, and every `resyncMs` to repair what others changed; a failed pass is retried with backoff.
 */
export function runResilientRoutes(options: ResilientRoutesOptions): { stop: () => void } {
  const ipCommand = options.ipCommand ?? ['ip'];
  const ip: IpRunner = ipCommand.length === 1 ? hostIp : (args) => hostIp([...ipCommand.slice(1), ...args]);
  let stopped = false;
  const loop = new SyncLoop({
    pass: () => { syncResilientRoutes(options.config, ip, options.log); },
    onError: (err, retryInMs) => options.log.log('error', 'route sync failed', { error: String((err as Error).message ?? err), retryInMs }),
    backoff: DEFAULT_BACKOFF,
    resyncMs: options.resyncMs ?? 5000,
  });
  const monitor = spawn(ipCommand[0], [...ipCommand.slice(1), 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'inherit'] });
  monitor.stdout.on('data', () => void loop.request());
  monitor.on('exit', (code, signal) => {
    if (!stopped) options.log.log('error', 'ip monitor ended; the periodic resync goes on', { code, signal });
  });
  loop.start();
  void loop.request();
  options.log.log('info', 'resilient routes started', { ...options.config });
  return {
    stop: () => { stopped = true; loop.stop(); monitor.kill(); },
  };
}
