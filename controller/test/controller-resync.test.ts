import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { serviceModel, slice } from './fixtures';
import { sleep, waitFor } from './wait';
import { renderKeepalived } from '../../lib/renderers/keepalived';
import { Controller, KeepalivedControl } from '../src/controller';
import { ipvsDrift } from '../src/ipvs-drift';
import { IpvsVirtualService } from '../src/ipvs-table';
import { KeepalivedSupervisor } from '../src/keepalived-process';
import { silentLogger } from '../src/log';
import { ControllerMetrics } from '../src/metrics';
import { reconcile } from '../src/reconcile';

const ANNOUNCE = 'announce route 198.19.10.0/24 next-hop 198.18.0.2\n';
const SLICES = [slice('web-a', [{ address: '198.18.5.1' }, { address: '198.18.5.2' }])];

/** What keepalived would build from the config of SLICES, as /proc/net/ip_vs shows it. */
function tableOfConfig(): IpvsVirtualService[] {
  return [{
    protocol: 'TCP', address: '198.19.10.1', port: 80, scheduler: 'mh',
    realServers: ['198.18.5.2', '198.18.5.1'].map((address) => ({ address, port: 8080, weight: 1, forward: 'Masq' })),
  }];
}

/** IPVS as keepalived builds it from `config` (the address and weight of each real server). */
function tableOf(config: string): IpvsVirtualService[] {
  const servers = [...config.matchAll(/real_server (\S+) 8080 \{\s*weight (\d+)/g)];
  return [{ ...tableOfConfig()[0], realServers: servers.map(([, address, weight]) => ({ address, port: 8080, weight: Number(weight), forward: 'Masq' })) }];
}

/** A keepalived double that records what it was asked, and can be made to fail its reloads. */
class KeepalivedDouble implements KeepalivedControl {
  reloads = 0;
  restarts = 0;
  failReloads = 0;
  reload(): void {
    if (this.failReloads > 0) {
      this.failReloads--;
      throw new Error('kill ESRCH');
    }
    this.reloads++;
  }
  restart(): void { this.restarts++; }
  async stop(): Promise<void> {}
}

describe('the controller converges after faults (level-triggered)', () => {
  let dir: string;
  let controller: Controller | undefined;
  let metrics: ControllerMetrics;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-resync-'));
    metrics = new ControllerMetrics();
  });
  afterEach(() => {
    controller?.stop();
    controller = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function start(
    keepalived: KeepalivedControl,
    runDir: string,
    readIpvs?: () => IpvsVirtualService[] | undefined,
    reorderIpvs?: () => Promise<void>,
  ): Controller {
    controller = new Controller({
      service: serviceModel(), routerId: 'lb-0', nodeIp: '198.18.0.2', runDir, slices: () => SLICES, keepalived, readIpvs, reorderIpvs, metrics, log: silentLogger,
      healthPollMs: 20, resyncMs: 50, retryBackoff: { initialMs: 20, maxMs: 100 }, ipvsDriftGraceMs: 100,
    });
    controller.start();
    controller.endpointsChanged();
    return controller;
  }
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined);

  test('a failed reload signal is retried until keepalived has the config', async () => {
    const keepalived = new KeepalivedDouble();
    keepalived.failReloads = 3;
    const c = start(keepalived, dir);
    await waitFor('the fourth attempt reaches keepalived', () => keepalived.reloads === 1, 3000);
    expect(c.configured).toBe(true);
    expect((await metrics.registry.getSingleMetric('ecmp_lb_errors_total')!.get()).values.find((v) => v.labels.kind === 'reload')?.value).toBe(3);
    await sleep(200); // several resyncs: nothing changed, so no further reload
    expect(keepalived.reloads).toBe(1);
  });

  test('files removed behind its back are written again; keepalived is not reloaded for an unchanged config', async () => {
    const keepalived = new KeepalivedDouble();
    const c = start(keepalived, dir);
    await waitFor('configured and announced', () => c.configured && read(c.announcePath) === ANNOUNCE);
    const config = read(c.keepalivedConfigPath);
    fs.rmSync(c.keepalivedConfigPath);
    fs.writeFileSync(c.announcePath, 'garbage\n');
    await waitFor('config written again', () => read(c.keepalivedConfigPath) === config, 2000);
    await waitFor('announce file written again', () => read(c.announcePath) === ANNOUNCE, 2000);
    expect(keepalived.reloads).toBe(1);
  });

  test('a full run directory: no config and no announcement; freed, both are written and keepalived loads the config', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs: run it as root (CI does)');
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', runDir]);
    try {
      const filler = path.join(runDir, 'filler');
      try { fs.writeFileSync(filler, Buffer.alloc(128 * 1024)); } catch { /* ENOSPC: the disk is full, as wanted */ }
      const keepalived = new KeepalivedDouble();
      const c = start(keepalived, runDir);
      await sleep(300);
      expect(keepalived.reloads).toBe(0);
      expect(c.configured).toBe(false);
      expect(read(c.announcePath) ?? '').toBe('');
      // The empty announcement fits (an inode, no block); the config does not, and leaves no partial temporary file.
      expect(fs.readdirSync(runDir).sort()).toEqual([path.basename(c.announcePath), 'filler']);
      fs.rmSync(filler);
      await waitFor('config loaded and announced after the space came back', () => keepalived.reloads === 1 && read(c.announcePath) === ANNOUNCE, 3000);
      expect(read(c.keepalivedConfigPath)).toContain('real_server 198.18.5.1 8080');
    } finally {
      controller?.stop();
      execFileSync('umount', [runDir]);
    }
  });

  test('IPVS changed behind its back: withdrawn while it cannot serve, keepalived restarted after the grace, with backoff', async () => {
    const keepalived = new KeepalivedDouble();
    let table: IpvsVirtualService[] = tableOfConfig();
    const c = start(keepalived, dir, () => table);
    await waitFor('announced', () => read(c.announcePath) === ANNOUNCE);
    // keepalived removes a real server that fails its check: not drift.
    table = [{ ...tableOfConfig()[0], realServers: tableOfConfig()[0].realServers.slice(0, 1) }];
    await sleep(300);
    expect(keepalived.restarts).toBe(0);
    // The virtual service deleted (`ipvsadm -D`): nothing serves, so the LB withdraws at once.
    expect(c.ipvsConsistent).toBe(true);
    table = [];
    await waitFor('withdrawn', () => read(c.announcePath) === '', 1000);
    expect(c.ipvsConsistent).toBe(false);
    await waitFor('keepalived restarted', () => keepalived.restarts === 1, 1000);
    await sleep(150); // the second restart waits twice the grace (200 ms)
    expect(keepalived.restarts).toBe(1);
    await waitFor('restarted again', () => keepalived.restarts === 2, 1000);
    table = tableOfConfig(); // the restarted keepalived built IPVS from the file
    await waitFor('announced again', () => read(c.announcePath) === ANNOUNCE, 1000);
    expect(c.ipvsConsistent).toBe(true);
    await sleep(500);
    expect(keepalived.restarts).toBe(2);
  });
  test('a restarted controller over the old run dir: withdraws at once, keepalived starts on the config of the current endpoints, then it announces', async () => {
    // What the previous instance left: a config of endpoints since gone, an announcement, keepalived's pid files.
    const runDir = path.join(dir, 'run');
    const out = path.join(dir, 'keepalived-loaded');
    fs.mkdirSync(runDir);
    fs.mkdirSync(out);
    const stale = renderKeepalived(reconcile(serviceModel(), [slice('web-a', [{ address: '198.18.5.9' }])], 'lb-0'));
    fs.writeFileSync(path.join(runDir, 'keepalived.conf'), stale);
    fs.writeFileSync(path.join(runDir, 'announce'), ANNOUNCE);
    fs.writeFileSync(path.join(runDir, 'keepalived.pid'), '1\n');
    // The fake keepalived keeps a copy of each config it loads; IPVS holds the last one it loaded.
    const loaded = () => fs.readdirSync(out).filter((f) => f.endsWith('.conf')).sort().map((f) => fs.readFileSync(path.join(out, f), 'utf8'));
    // Its output directory goes in by a wrapper: the supervisor's child inherits the real environment, not jest's.
    const binary = path.join(dir, 'keepalived');
    fs.writeFileSync(binary, `#!/bin/sh\nFAKE_KEEPALIVED_OUT=${out} exec ${path.join(__dirname, 'bin/fake-keepalived.sh')} "$@"\n`, { mode: 0o755 });
    const supervisor = new KeepalivedSupervisor({ configPath: path.join(runDir, 'keepalived.conf'), runDir, log: silentLogger, metrics, binary });
    try {
      const c = start(supervisor, runDir, () => tableOf(loaded().at(-1) ?? ''));
      expect(read(c.announcePath)).toBe(''); // at once: nothing of ours is in keepalived yet
      const samples: { announced: boolean; loaded: number }[] = [];
      await waitFor('announced', () => {
        samples.push({ announced: read(c.announcePath) === ANNOUNCE, loaded: loaded().length });
        return samples.at(-1)!.announced;
      }, 5000);
      expect(samples.filter((s) => s.announced && s.loaded === 0)).toEqual([]);
      const current = read(c.keepalivedConfigPath)!;
      expect(current).toContain('real_server 198.18.5.1 8080');
      expect(current).not.toContain('198.18.5.9');
      expect(loaded()).toEqual([current]); // its first and only load: the current config, not the stale one
      expect(fs.existsSync(path.join(runDir, 'keepalived.pid'))).toBe(false);
      await sleep(300); // resyncs and health polls: IPVS matches the config, so no restart and no reload
      expect(loaded()).toEqual([current]);
      expect(c.ipvsConsistent).toBe(true);
      expect((await metrics.registry.getSingleMetric('ecmp_lb_keepalived_restarts_total')!.get()).values[0].value).toBe(0);
    } finally {
      controller?.stop();
      await supervisor.stop();
    }
  });

  test('a restart for drift waits for the reorder pass in flight, and no pass starts until IPVS matches again', async () => {
    const keepalived = new KeepalivedDouble();
    let table: IpvsVirtualService[] = tableOfConfig();
    let passes = 0;
    let finishPass: (() => void) | undefined;
    const reorder = () => { passes++; return new Promise<void>((resolve) => { finishPass = resolve; }); };
    const c = start(keepalived, dir, () => table, reorder);
    await waitFor('announced, a reorder pass in flight', () => read(c.announcePath) === ANNOUNCE && finishPass !== undefined);
    table = [];
    await sleep(300); // past the grace: the restart is due, but the pass has not ended
    expect(keepalived.restarts).toBe(0);
    finishPass!();
    await waitFor('restarted once the pass ended', () => keepalived.restarts === 1, 1000);
    const passesAtRestart = passes;
    await sleep(200);
    expect(passes).toBe(passesAtRestart); // none while keepalived rebuilds
    table = tableOfConfig();
    await waitFor('passes again once IPVS matches', () => passes > passesAtRestart, 1000);
  });
});

describe('ipvsDrift', () => {
  const model = reconcile(serviceModel(), SLICES, 'lb-0');
  const vips = ['198.19.10.1'];
  const withServers = (realServers: IpvsVirtualService['realServers']) => [{ ...tableOfConfig()[0], realServers }];
  const server = (address: string, weight = 1) => ({ address, port: 8080, weight, forward: 'Masq' });

  test('the table keepalived builds from the config, in any order and with servers that failed their checks, is no drift', () => {
    expect(ipvsDrift(model, tableOfConfig(), vips)).toEqual([]);
    expect(ipvsDrift(model, withServers([server('198.18.5.1')]), vips)).toEqual([]);
    expect(ipvsDrift(model, withServers([]), vips)).toEqual([]);
  });

  test('names each difference keepalived would not repair', () => {
    expect(ipvsDrift(model, [], vips)).toEqual(['TCP 198.19.10.1:80: missing']);
    expect(ipvsDrift(model, withServers([server('198.18.5.1', 3), server('198.18.5.9')]), vips)).toEqual([
      'TCP 198.19.10.1:80: real server 198.18.5.1:8080 weight 3, config 1',
      'TCP 198.19.10.1:80: real server 198.18.5.9:8080 not in the config',
    ]);
    expect(ipvsDrift(model, [{ ...tableOfConfig()[0], scheduler: 'rr' }], vips)).toEqual(['TCP 198.19.10.1:80: scheduler rr, config mh']);
    expect(ipvsDrift(model, [...tableOfConfig(), { ...tableOfConfig()[0], port: 443 }], vips)).toEqual(['TCP 198.19.10.1:443: not in the config']);
  });

  test('virtual services on other addresses are not ours to judge', () => {
    expect(ipvsDrift(model, [...tableOfConfig(), { ...tableOfConfig()[0], address: '198.19.99.1' }], vips)).toEqual([]);
  });

  test('a pool whose servers all drain is left out of the config, so its virtual service must go', () => {
    const terminating = { ...slice('web-a', []), endpoints: [{ addresses: ['198.18.5.1'], conditions: { ready: false, serving: true, terminating: true } }] };
    const draining = reconcile(serviceModel(), [terminating], 'lb-0');
    expect(draining.virtualServers[0].realServers).toEqual([{ address: '198.18.5.1', port: 8080, weight: 0 }]);
    expect(ipvsDrift(draining, [], vips)).toEqual([]);
    expect(ipvsDrift(draining, withServers([server('198.18.5.1', 0)]), vips)).toEqual(['TCP 198.19.10.1:80: not in the config']);
  });
});
