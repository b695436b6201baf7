import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { RouterDaemon } from '../lib';
import { NetnsLab, waitUntil } from './support/netns';
import { synthToDisk, tempDir, testTopology } from './support/topology';

/**
 * BFD between the upstream router and a gobgpd route reflector, in network namespaces on one
 * bridge, every daemon from the synthesized files: the router (FRR: zebra, bgpd and bfdd as its
 * `daemons` file lists them, `frr.conf`; BIRD: `bird.conf`) against gobgpd (`gobgpd.toml`) and the
 * reflector agent (`lb-pod-bindings.json`), which runs the reflector's side of the session and lets
 * it speak only while gobgpd's API answers. The session comes up single-hop; a frozen reflector
 * (gobgpd and the agent stopped, as a hung box) loses its BGP session on the router within about
 * the detection time (300 ms x 3), not the 9 s hold time; gobgpd frozen alone makes the agent
 * silence the session, with the same effect; each comes back when thawed.
 */
const ROUTER = '198.18.0.110';
const REFLECTOR = '198.18.0.109';
const repo = path.resolve(__dirname, '..');

interface RouterView {
  /** BFD session with the reflector up. */
  bfdUp(): boolean;
  /** The BFD session's state and diagnostic as the daemon words them. */
  bfdState(): string;
  /** BGP session with the reflector Established, as the daemon says. */
  bgpEstablished(): boolean;
  /** Whether the BFD session is single-hop. */
  singleHop(): boolean;
  /** The BGP session's state as the daemon words it. */
  bgpState(): string;
  /** Restarts the BGP session (BIRD only: it skips the error wait). */
  restartBgp(): void;
}

describe.each([
  ['FRR', RouterDaemon.FRR],
  ['BIRD', RouterDaemon.BIRD],
])('%s router with a gobgpd reflector and its agent', (_name, daemon) => {
  const work = tempDir(`ecmp-router-bfd-${daemon}`);
  let lab: NetnsLab;
  const { app } = testTopology({ topology: { upstreamRouters: [{ name: 'router', address: ROUTER, daemon }] } });
  const { files } = synthToDisk(app);
  const dist = (file: string) => {
    const full = path.join(work, 'dist', file);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, files.get(file)!);
    return full;
  };
  let gobgpd: ChildProcess;
  let agent: ChildProcess;
  let view: RouterView;
  const agentLog = () => lab.log('agent');
  /** The router's kernel view: a TCP connection with the reflector (BGP) is established. */
  const tcpToReflector = () => lab.probe(lab.ns('router'), ['ss', '-Htn', 'state', 'established', 'dst', REFLECTOR]).trim() !== '';

  afterAll(() => lab?.destroy());

  /**
   * BGP Established and BFD up again. FRR reconnects after its connect retry (5 s); BIRD, after
   * an error such as "BFD session down", first waits its `error wait time` (60 s, then longer):
   * the test checks that it waits for that reason, with BFD already up, then restarts the protocol.
   */
  async function backUp(): Promise<void> {
    if (daemon === RouterDaemon.BIRD) {
      const waiting = await waitUntil(() => view.bfdUp() && /Error wait:[\s\S]*Last error:\s+Error: BFD session down/.test(view.bgpState()), 15_000);
      if (!waiting) throw new Error(`BIRD not waiting after a BFD error: BGP ${view.bgpState()}; BFD ${view.bfdState()}`);
      view.restartBgp();
    }
    if (!await waitUntil(() => view.bgpEstablished() && view.bfdUp(), 30_000)) throw new Error(`not back up: BGP ${view.bgpState()}; BFD ${view.bfdState()}`);
  }

  beforeAll(async () => {
    // Made here, not at collection: a filtered run skips the hooks of a block it does not run.
    lab = new NetnsLab(daemon === RouterDaemon.FRR ? 'rbf' : 'rbb', path.join(work, 'logs'));
    const rr = lab.host('rr1', [`${REFLECTOR}/24`]);
    const router = lab.host('router', [`${ROUTER}/24`]);
    gobgpd = lab.start('gobgpd', rr, ['gobgpd', '-t', 'toml', '-f', dist('route-reflectors/rr1/gobgpd.toml'), '--api-hosts', '127.0.0.1:50051', '--pprof-disable']);
    agent = lab.start('agent', rr, [process.execPath, '-r', 'ts-node/register/transpile-only', path.join(repo, 'controller/test/bin/reflector-agent-lab.ts'),
      dist('route-reflectors/rr1/lb-pod-bindings.json'), '127.0.0.1:50051'], { TS_NODE_TRANSPILE_ONLY: '1', NODE_OPTIONS: '' });
    view = daemon === RouterDaemon.FRR ? await startFrrRouter(lab, router, files) : await startBirdRouter(lab, router, dist('routers/router/bird.conf'));
  }, 60_000);

  test('the synthesized files ask for it on both sides', () => {
    expect(JSON.parse(files.get('route-reflectors/rr1/lb-pod-bindings.json')!).routerBfd).toEqual({
      localAddress: REFLECTOR, routers: [{ address: ROUTER, minIntervalMs: 300, multiplier: 3 }],
    });
    if (daemon === RouterDaemon.FRR) {
      expect(files.get('routers/router/daemons')).toContain('\nbfdd=yes\n');
      expect(files.get('routers/router/frr.conf')).toContain(` neighbor ${REFLECTOR} bfd profile ecmp-lb-reflectors-300x3\n`);
    } else {
      expect(files.get('routers/router/bird.conf')).toContain('  bfd { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };\n');
    }
  });

  test('BGP and a single-hop BFD session come up', async () => {
    const up = await waitUntil(() => view.bgpEstablished() && view.bfdUp(), 30_000);
    if (!up) throw new Error(`not up: BFD ${view.bfdState()}; agent:\n${agentLog()}`);
    expect(view.singleHop()).toBe(true);
    expect(agentLog()).toMatch(/gobgpd answers: BFD with the routers speaks/);
  }, 40_000);

  test('the reflector frozen (gobgpd and the agent): the router drops its BGP session within about the detection time, and takes it back when thawed', async () => {
    expect(tcpToReflector()).toBe(true);
    const start = performance.now();
    for (const child of [gobgpd, agent]) child.kill('SIGSTOP');
    let ms: number;
    let bfd = '';
    try {
      const dropped = await pollUntil(() => !tcpToReflector(), 9_000);
      ms = performance.now() - start;
      bfd = view.bfdState();
      expect(dropped).toBe(true);
    } finally {
      for (const child of [gobgpd, agent]) child.kill('SIGCONT');
    }
    console.log(`${daemon} router: frozen reflector's BGP session dropped after ${ms.toFixed(0)} ms (BFD 300 ms x 3; hold time 9 s); BFD then: ${bfd}`);
    expect(ms).toBeLessThan(1500);
    expect(bfd).toMatch(daemon === RouterDaemon.FRR ? /down.*control detection time expired/ : /Down/);
    await backUp();
  }, 50_000);

  test('gobgpd frozen alone: the agent silences BFD, the router drops the session, and both come back when gobgpd does', async () => {
    const start = performance.now();
    gobgpd.kill('SIGSTOP');
    let ms: number;
    let bfd = '';
    try {
      expect(await pollUntil(() => !tcpToReflector(), 9_000)).toBe(true);
      ms = performance.now() - start;
      bfd = view.bfdState();
    } finally {
      gobgpd.kill('SIGCONT');
    }
    console.log(`${daemon} router: gobgpd frozen alone, BGP session dropped after ${ms.toFixed(0)} ms (the agent's probe times out after 900 ms, then the router's detection time); BFD then: ${bfd}`);
    // Well inside the 9 s hold time: the agent's 0.9 s probe timeout, then the router's 0.9 s detection.
    expect(ms).toBeLessThan(3000);
    expect(agentLog()).toMatch(/gobgpd does not answer: BFD with the routers silenced/);
    await backUp();
  }, 50_000);

  test('the agent stopped gracefully says AdminDown, and these router versions drop the BGP session on it at once (a cost of an agent restart)', async () => {
    expect(tcpToReflector()).toBe(true);
    const start = performance.now();
    agent.kill('SIGTERM');
    expect(await pollUntil(() => !tcpToReflector(), 3_000)).toBe(true);
    const ms = performance.now() - start;
    const bfd = view.bfdState();
    console.log(`${daemon} router: agent stopped (AdminDown), BGP session with the live gobgpd dropped after ${ms.toFixed(0)} ms; BFD ${bfd}`);
    // FRR 8.4 and BIRD 2.0.12 act on Up -> Down whatever the cause; RFC 5882 lets a client ignore AdminDown, as later FRR does.
    // FRR names the cause; BIRD's `show bfd sessions` does not, but its drop is as quick.
    if (daemon === RouterDaemon.FRR) expect(bfd).toMatch(/down \(neighbor signaled session down; remote: administratively down\)/);
    else expect(bfd).toMatch(/ Down /);
  }, 20_000);
});

/** Polls `check` every 10 ms (not 200 ms, as waitUntil): for timings. */
async function pollUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (performance.now() > end) return false;
    await new Promise(resolve => setTimeout(resolve, 10));
  }
}

/** zebra and every daemon FRR's synthesized `daemons` enables (bgpd, bfdd), then `frr.conf` through vtysh, as `vtysh -b` at boot. */
async function startFrrRouter(lab: NetnsLab, ns: string, files: Map<string, string>): Promise<RouterView> {
  const dir = lab.tempDir('frr');
  lab.run(undefined, ['chown', 'frr:frr', dir]);
  const enabled = [...files.get('routers/router/daemons')!.matchAll(/^(\w+)=yes$/gm)].map(m => m[1]).filter(d => d !== 'vtysh_enable');
  expect(enabled).toEqual(['bgpd', 'bfdd']);
  const common = ['-u', 'frr', '-g', 'frr', '-z', path.join(dir, 'zserv.api'), '--vty_socket', dir, '-P', '0', '-f', '/dev/null'];
  for (const daemon of ['zebra', ...enabled]) {
    lab.start(daemon, ns, [`/usr/lib/frr/${daemon}`, ...common, '-i', path.join(dir, `${daemon}.pid`)]);
    if (!await waitUntil(() => fs.existsSync(path.join(dir, `${daemon}.vty`)), 10_000)) throw new Error(`${daemon} did not start:\n${lab.log(daemon)}`);
  }
  const conf = path.join(dir, 'frr.conf');
  fs.writeFileSync(conf, files.get('routers/router/frr.conf')!);
  lab.run(ns, ['vtysh', '--vty_socket', dir, '-f', conf]);
  const vtysh = (command: string) => JSON.parse(lab.probe(ns, ['vtysh', '--vty_socket', dir, '-c', command]) || '{}');
  const peer = () => ((vtysh('show bfd peers json') as unknown as any[]) ?? []).find?.((p: any) => p.peer === REFLECTOR);
  return {
    bfdUp: () => peer()?.status === 'up',
    bfdState: () => { const p = peer(); return p ? `${p.status} (${p.diagnostic}; remote: ${p['remote-diagnostic']})` : 'no session'; },
    bgpEstablished: () => vtysh(`show bgp neighbor ${REFLECTOR} json`)[REFLECTOR]?.bgpState === 'Established',
    bgpState: () => JSON.stringify(vtysh(`show bgp neighbor ${REFLECTOR} json`)[REFLECTOR]?.bgpState),
    singleHop: () => peer()?.multihop === false,
    restartBgp: () => { throw new Error('not needed on FRR'); },
  };
}

/** BIRD from the synthesized `bird.conf`, its control socket in a directory of its own. */
async function startBirdRouter(lab: NetnsLab, ns: string, conf: string): Promise<RouterView> {
  const dir = lab.tempDir('bird');
  const socket = path.join(dir, 'bird.ctl');
  lab.start('bird', ns, ['bird', '-f', '-c', conf, '-s', socket, '-P', path.join(dir, 'bird.pid')]);
  if (!await waitUntil(() => fs.existsSync(socket), 10_000)) throw new Error(`bird did not start:\n${lab.log('bird')}`);
  const birdc = (...command: string[]) => lab.probe(ns, ['birdc', '-s', socket, ...command]);
  // "198.18.0.109  eth0  Up  15:22:01.123  0.300  0.900": one line per session.
  const session = () => birdc('show', 'bfd', 'sessions').split('\n').find(l => l.trim().startsWith(`${REFLECTOR} `)) ?? '';
  return {
    bfdUp: () => /\sUp\s/.test(session()),
    bfdState: () => session().trim().replace(/\s+/g, ' ') || 'no session',
    bgpEstablished: () => /Established/.test(birdc('show', 'protocols', `rr_${REFLECTOR.replace(/\./g, '_')}`)),
    bgpState: () => birdc('show', 'protocols', 'all', `rr_${REFLECTOR.replace(/\./g, '_')}`),
    // With `direct` (bird.conf), BIRD asks for its BFD session on the shared interface: single-hop.
    singleHop: () => /\seth0\s/.test(session()),
    restartBgp: () => { birdc('restart', `rr_${REFLECTOR.replace(/\./g, '_')}`); },
  };
}
