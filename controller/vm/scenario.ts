/**
 * Runs inside the IPVS VM (see in-vm.sh), after topology.sh up. Two LB "pods" (namespaces lb1,
 * lb2) each run the compiled `ecmp-lb init`, `ecmp-lb controller` with real keepalived and IPVS,
 * and exabgp with the rendered announcer; gobgpd in namespace rr is the BGP peer whose RIB is
 * read to observe announce/withdraw. The API server double plays Kubernetes. Exits non-zero on
 * the first failed check; every wait is bounded.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { LB_POD_COMMANDS, LB_POD_FILES, LbPodArgs, lbPodArgs, lbPodSysctls, podEnvironmentVariables } from '../../lib/lb-pod-contract';
import { renderAnnouncer } from '../../lib/renderers/announcer';
import { parseProcIpvs } from '../src/ipvs-table';
import { ApiServerDouble } from '../test/apiserver-double';
import { TestEndpoint, serviceModel, slice } from '../test/fixtures';
import { sleep } from '../test/wait';

const CLI = process.env.ECMP_LB_CLI!;
const WORK = process.env.SCENARIO_WORK ?? '/tmp/ecmp-vm';
const COLLECTION = '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices';
const VIP = '198.19.10.1';
const PREFIX = '198.19.10.0/24';
const LBS = { lb1: '198.18.0.11', lb2: '198.18.0.12' } as const;
type Lb = keyof typeof LBS;
const BACKENDS = ['198.18.0.21', '198.18.0.22', '198.18.0.23'];
const children: ChildProcess[] = [];
const controllers = new Map<Lb, ChildProcess>();
let failures = 0;
let passes = 0;

function check(what: string, ok: boolean, detail = ''): void {
  console.log(`${ok ? 'ok' : 'FAIL'} - ${what}${detail ? ` (${detail})` : ''}`);
  if (ok) passes++;
  else failures++;
}

async function until<T>(what: string, probe: () => T, good: (value: T) => boolean, timeoutMs: number): Promise<{ ok: boolean; value: T; ms: number }> {
  const start = Date.now();
  let value = probe();
  while (!good(value) && Date.now() - start < timeoutMs) { await sleep(100); value = probe(); }
  const ms = Date.now() - start;
  check(what, good(value), `${ms} ms`);
  return { ok: good(value), value, ms };
}

function inNs(ns: string, args: string[], env: Record<string, string> = {}, logFile?: string): ChildProcess {
  const out = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  const child = spawn('ip', ['netns', 'exec', ns, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...args], { stdio: ['ignore', out, out] });
  children.push(child);
  return child;
}

function run(ns: string, args: string[], timeoutMs = 10000): string {
  try {
    return execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    return `ERROR ${(err as Error).message}`;
  }
}

/** Real servers of VIP:80 in an LB's IPVS, as `ipvsadm -Ln` lists them. */
function ipvsRealServers(lb: Lb): string {
  const lines = run(lb, ['ipvsadm', '-Ln']).split('\n');
  const start = lines.findIndex((l) => l.startsWith(`TCP  ${VIP}:80`));
  if (start < 0) return '';
  const servers: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^\s+->\s+(\S+)\s+\S+\s+(\d+)/.exec(line);
    if (!m) break;
    servers.push(`${m[1]}w${m[2]}`);
  }
  return servers.sort().join(' ');
}

/** Next hops the BGP peer has for the service prefix, one per announcing LB. */
function peerPaths(): string {
  const out = run('rr', ['gobgp', 'global', 'rib', '-a', 'ipv4', '-j']);
  try {
    const rib = JSON.parse(out) as Record<string, { 'neighbor-ip'?: string; attrs: { type: number; nexthop?: string }[] }[]>;
    return (rib[PREFIX] ?? []).map((p) => p['neighbor-ip'] ?? '?').sort().join(' ');
  } catch {
    return '';
  }
}

function expectServers(...hosts: string[]): string {
  return hosts.map((h) => `${h}:8080w1`).sort().join(' ');
}

function setEndpoints(endpoints: TestEndpoint[]): void {
  api.upsert(COLLECTION, slice('web-backend-abc', endpoints) as any);
}

function startLb(lb: Lb): void {
  const dir = path.join(WORK, lb);
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'run'), { recursive: true });
  const model = serviceModel({
    reflectors: [{ name: 'rr', host: '198.18.0.2', port: 179 }], drainSeconds: 4, timers: { holdTimeSeconds: 9, keepaliveSeconds: 3, connectRetrySeconds: 1 },
    healthCheck: { type: 'TCP' as any, intervalSeconds: 1, timeoutSeconds: 1, retries: 1, httpPath: '/', httpExpectStatus: 200 },
  });
  fs.writeFileSync(path.join(dir, 'etc', LB_POD_FILES.model), JSON.stringify(model));
  fs.writeFileSync(path.join(dir, 'etc', LB_POD_FILES.announcer), renderAnnouncer());
  api.writeKubeconfig(path.join(dir, 'kubeconfig'));
  // The pod spec's securityContext.sysctls.
  execFileSync('ip', ['netns', 'exec', lb, 'sysctl', '-qw', ...Object.entries(lbPodSysctls(model)).map(([k, v]) => `${k}=${v}`)], { stdio: 'inherit' });
  const { env, args } = lbInvocation(lb);
  execFileSync('ip', ['netns', 'exec', lb, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, LB_POD_COMMANDS.init, ...args], { stdio: 'inherit', timeout: 30000 });
  startController(lb);
  inNs(lb, ['exabgp', path.join(dir, 'run', LB_POD_FILES.exabgpConfig)], { 'exabgp.daemon.user': 'root', 'exabgp.log.destination': 'stdout' }, path.join(dir, 'exabgp.log'));
}

function lbInvocation(lb: Lb, options: Omit<LbPodArgs, 'configFile' | 'runDir'> = {}): { env: Record<string, string>; args: string[] } {
  const dir = path.join(WORK, lb);
  return {
    env: podEnvironmentVariables({ podIp: LBS[lb], nodeIp: LBS[lb], podName: `web-${lb}`, podNamespace: 'shop' }),
    args: lbPodArgs({ configFile: path.join(dir, 'etc', LB_POD_FILES.model), runDir: path.join(dir, 'run'), ...options }),
  };
}

function startController(lb: Lb): void {
  const dir = path.join(WORK, lb);
  const { env, args } = lbInvocation(lb, { kubeconfig: path.join(dir, 'kubeconfig') });
  // As in the pod spec: root with every capability dropped but NET_ADMIN (keepalived inherits the set).
  const netAdminOnly = ['setpriv', '--bounding-set=-all,+net_admin', '--'];
  controllers.set(lb, inNs(lb, [...netAdminOnly, process.execPath, CLI, LB_POD_COMMANDS.controller, ...args], env, path.join(dir, 'controller.log')));
}

/** Each process of a namespace: its pid, name and /proc status. */
function processesIn(ns: string): { pid: number; name: string; status: string }[] {
  return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).flatMap((pid) => {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      return [{ pid: Number(pid), name: /^Name:\s+(\S+)/m.exec(status)?.[1] ?? '', status }];
    } catch { return []; } // the process exited meanwhile
  });
}

/** Pids of the processes called `name` in a namespace. */
function pidsNamed(ns: string, name: string): number[] {
  return processesIn(ns).filter((p) => p.name === name).map((p) => p.pid);
}

/** `comm=CapEff` of the processes named `names` in a namespace (NET_ADMIN alone is 0x1000). */
function effectiveCapsOf(ns: string, names: string[]): string[] {
  return processesIn(ns).filter((p) => names.includes(p.name)).map((p) => `${p.name}=${/^CapEff:\s+(\S+)/m.exec(p.status)?.[1]}`);
}

/**
 * From the client, through one LB, opens connections from `count` fixed source ports; returns
 * port -> backend chosen by IPVS. IPVS schedules on the SYN, so the connections are started all
 * at once (non-blocking) and given at most 5 s to complete before IPVS's table is read: bounded
 * whatever the backends do.
 */
function mhChoices(lb: Lb, firstPort: number, count: number): Map<number, string> {
  run('client', ['ip', 'route', 'replace', `${VIP}/32`, 'via', LBS[lb]]);
  // Connections stay open until IPVS's table is read, then end with RST (linger 0) so the client
  // keeps no TIME_WAIT and the same source ports can be used again through the other LB.
  const script = `import resource, select, socket, struct, subprocess, time
resource.setrlimit(resource.RLIMIT_NOFILE, (${count} + 256, ${count} + 256))
sockets = []
for p in range(${firstPort}, ${firstPort + count}):
    s = socket.socket(); s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.bind(("198.18.0.3", p)); s.connect_ex(("${VIP}", 80)); sockets.append(s)
poller = select.poll()
for s in sockets: poller.register(s, select.POLLOUT)
left, deadline = len(sockets), time.time() + 5
while left and time.time() < deadline:
    for fd, _ in poller.poll(500):
        poller.unregister(fd); left -= 1
print(subprocess.run(["ip", "netns", "exec", "${lb}", "ipvsadm", "-Lnc"], capture_output=True, text=True, timeout=30).stdout)
for s in sockets: s.close()`;
  const listing = run('client', ['python3', '-c', script], 60000);
  const choices = new Map<number, string>();
  for (const line of listing.split('\n')) {
    const m = /^TCP\s+\S+\s+\S+\s+198\.18\.0\.3:(\d+)\s+\S+\s+(\S+)/.exec(line);
    if (m) choices.set(Number(m[1]), m[2]);
  }
  return choices;
}

function agreement(a: Map<number, string>, b: Map<number, string>): { same: number; compared: number } {
  let same = 0;
  let compared = 0;
  for (const [port, backend] of a) {
    if (!b.has(port)) continue;
    compared++;
    if (b.get(port) === backend) same++;
  }
  return { same, compared };
}

const api = new ApiServerDouble();
const backends: ChildProcess[] = [];

function startBackends(): void {
  for (const [i, host] of BACKENDS.entries()) {
    backends.push(inNs(`be${i + 1}`, ['python3', '-m', 'http.server', '8080', '--bind', host, '--directory', '/tmp']));
  }
}

async function main(): Promise<void> {
  fs.mkdirSync(WORK, { recursive: true });
  await api.start('198.18.0.1', 6443);
  startBackends();
  fs.writeFileSync(path.join(WORK, 'rr.toml'), `[global.config]
  as = 65000
  router-id = "198.18.0.2"
[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "lbs"
    peer-as = 65000
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = "198.18.0.0/24"
    peer-group = "lbs"
`);
  inNs('rr', ['gobgpd', '-f', path.join(WORK, 'rr.toml'), '-t', 'toml', '--api-hosts', '127.0.0.1:50051'], {}, path.join(WORK, 'gobgpd.log'));
  setEndpoints([{ address: BACKENDS[0] }, { address: BACKENDS[1] }]);
  startLb('lb1');
  startLb('lb2');

  console.log('# IPVS follows the endpoints (both LBs, same history)');
  // Generous: node, keepalived and exabgp start slowly under software emulation (~40 s idle, >90 s on a loaded host).
  for (const lb of ['lb1', 'lb2'] as Lb[]) await until(`${lb}: IPVS has be1, be2`, () => ipvsRealServers(lb), (v) => v === expectServers(BACKENDS[0], BACKENDS[1]), 240000);
  for (const lb of ['lb1', 'lb2'] as Lb[]) {
    const caps = effectiveCapsOf(lb, ['node', 'keepalived']);
    check(`${lb}: controller and keepalived hold CAP_NET_ADMIN only`, caps.length >= 3 && caps.every((c) => c.endsWith('=0000000000001000')), caps.join(' '));
  }
  await until('peer learns the prefix from both LBs', peerPaths, (v) => v === `${LBS.lb1} ${LBS.lb2}`, 60000);
  setEndpoints([{ address: BACKENDS[0] }, { address: BACKENDS[1] }, { address: BACKENDS[2] }]);
  await until('endpoint added: lb1 IPVS has be1..be3', () => ipvsRealServers('lb1'), (v) => v === expectServers(...BACKENDS), 10000);
  setEndpoints([{ address: BACKENDS[0] }, { address: BACKENDS[1], ready: false }, { address: BACKENDS[2] }]);
  await until('endpoint unready: lb1 IPVS drops be2', () => ipvsRealServers('lb1'), (v) => v === expectServers(BACKENDS[0], BACKENDS[2]), 10000);
  setEndpoints([{ address: BACKENDS[1], ready: false }, { address: BACKENDS[2] }]);
  await until('endpoint removed: lb1 IPVS has be3 only', () => ipvsRealServers('lb1'), (v) => v === expectServers(BACKENDS[2]), 10000);
  setEndpoints(BACKENDS.map((address) => ({ address })));
  for (const lb of ['lb1', 'lb2'] as Lb[]) await until(`${lb}: all three back`, () => ipvsRealServers(lb), (v) => v === expectServers(...BACKENDS), 10000);

  console.log('# mh: the same client ports reach the same backends through either LB');
  await sleep(1500);
  const via1 = mhChoices('lb1', 41000, 100);
  const via2 = mhChoices('lb2', 41000, 100);
  const same = agreement(via1, via2);
  check('mh choices identical across lb1 and lb2', same.compared >= 90 && same.same === same.compared, `${same.same}/${same.compared} ports agree, backends used: ${new Set(via1.values()).size}`);

  console.log('# health-aware announcement');
  setEndpoints(BACKENDS.map((address) => ({ address, ready: false })));
  await until('no ready endpoint: both LBs withdraw', peerPaths, (v) => v === '', 20000);
  setEndpoints(BACKENDS.map((address) => ({ address })));
  await until('endpoints ready again: both LBs announce', peerPaths, (v) => v === `${LBS.lb1} ${LBS.lb2}`, 30000);
  // Endpoints still say ready, but keepalived's TCP checks fail: IPVS empties and the LBs withdraw.
  backends.splice(0).forEach((b) => b.kill('SIGKILL'));
  await until('backends dead, endpoints still ready: keepalived checks fail, both LBs withdraw', peerPaths, (v) => v === '', 20000);
  startBackends();
  await until('backends back: both LBs announce again', peerPaths, (v) => v === `${LBS.lb1} ${LBS.lb2}`, 30000);
  await until('lb1 IPVS has all three again', () => ipvsRealServers('lb1'), (v) => v === expectServers(...BACKENDS), 10000);

  console.log('# faults: the LB repairs itself, and announces only while IPVS can serve');
  const bothAnnounce = `${LBS.lb1} ${LBS.lb2}`;
  const crashed = pidsNamed('lb1', 'keepalived');
  for (const pid of crashed) process.kill(pid, 'SIGKILL');
  await until(`keepalived SIGKILLed in lb1 (${crashed.length} processes): the controller starts it again`,
    () => pidsNamed('lb1', 'keepalived'), (pids) => pids.length > 0 && !pids.some((p) => crashed.includes(p)), 60000);
  await until('... and lb1 has all three backends in IPVS and is announced', () => `${ipvsRealServers('lb1')} | ${peerPaths()}`,
    (v) => v === `${expectServers(...BACKENDS)} | ${bothAnnounce}`, 60000);
  // IPVS changed behind the controller's back: a reload would not repair either change, keepalived must start over.
  run('lb1', ['ipvsadm', '-D', '-t', `${VIP}:80`]);
  await until('virtual service deleted in lb1: it withdraws', peerPaths, (v) => v === LBS.lb2, 10000);
  await until('... the controller restarts keepalived: IPVS whole again and lb1 announced', () => `${ipvsRealServers('lb1')} | ${peerPaths()}`,
    (v) => v === `${expectServers(...BACKENDS)} | ${bothAnnounce}`, 60000);
  run('lb1', ['ipvsadm', '-a', '-t', `${VIP}:80`, '-r', '198.18.0.29:8080', '-m', '-w', '1']);
  check('a foreign real server added to lb1\'s IPVS', ipvsRealServers('lb1').includes('198.18.0.29:8080'), ipvsRealServers('lb1'));
  await until('a foreign real server added in lb1: removed by the restart', () => `${ipvsRealServers('lb1')} | ${peerPaths()}`,
    (v) => v === `${expectServers(...BACKENDS)} | ${bothAnnounce}`, 60000);

  console.log('# drain: SIGTERM to lb1 withdraws at once, keeps IPVS for drainSeconds, then exits 0');
  const lb1 = controllers.get('lb1')!;
  const exited = new Promise<number | null>((resolve) => lb1.on('exit', (code) => resolve(code)));
  const termAt = Date.now();
  lb1.kill('SIGTERM');
  await until('peer loses lb1 path, keeps lb2', peerPaths, (v) => v === LBS.lb2, 15000);
  check('lb1 still serves during the drain', ipvsRealServers('lb1') === expectServers(...BACKENDS) && Date.now() - termAt < 4000, `${Date.now() - termAt} ms after SIGTERM`);
  const code = await Promise.race([exited, sleep(15000).then(() => 'timeout')]);
  check('lb1 controller exits 0 after the drain', code === 0, `exit ${code} after ${Date.now() - termAt} ms`);
  check('lb1 keepalived removed its IPVS service', ipvsRealServers('lb1') === '');
  // The VIPs are still local in the pod: without the pod's drop rule its TCP stack would reset this
  // (a client gives up on a reset, but retransmits into a drop, by then to another LB).
  run('client', ['ip', 'route', 'replace', `${VIP}/32`, 'via', LBS.lb1]);
  const attempt = run('client', ['python3', '-c', `import socket
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("${VIP}", 80)); print("connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(type(e).__name__)`]).trim();
  check('lb1 without IPVS: a connection to the VIP through it is dropped silently, not reset', attempt === 'timeout', attempt);

  await mhOrderScenario('lb2', 'lb1');
}

/** Backend addresses of the mh order scenario (be1..be3 get a few each), every one with an echo server on :8080. */
const ORDER_POOL = Array.from({ length: 8 }, (_, i) => `198.18.0.${24 + i}`);
const echoServers = new Map<string, ChildProcess>();
const backendNamespace = (address: string) => `be${(Number(address.split('.')[3]) % 3) + 1}`;

async function startEchoServer(address: string): Promise<void> {
  const ns = backendNamespace(address);
  echoServers.set(address, inNs(ns, ['python3', path.join(__dirname, 'echo-server.py'), address, '8080']));
  const listening = () => /LISTEN/.test(run(ns, ['ss', '-Hltn', `src ${address}:8080`]));
  if (!(await quietUntil(listening, 15000))) check(`echo server on ${address} listens`, false);
}

/** mulberry32: a fixed seed gives the same history on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The LB's mh real servers in the kernel's list order (newest first), as `addr:port`. */
function ipvsListOrder(lb: Lb): string[] {
  const service = parseProcIpvs(run(lb, ['cat', '/proc/net/ip_vs'])).find((s) => s.address === VIP && s.port === 80);
  return service?.realServers.map((r) => `${r.address}:${r.port}`) ?? [];
}

/** Canonical: inserted in ascending address order, so the kernel (which adds at the head) lists them descending. */
function inCanonicalOrder(order: string[]): boolean {
  const value = (e: string) => e.split(/[.:]/).slice(0, 4).reduce((n, byte) => n * 256 + Number(byte), 0);
  return order.every((e, i) => i === 0 || value(order[i - 1]) > value(e));
}

/** The controller's "reordered" log lines in an LB's log, from byte `from` on. */
function reorderLines(lb: Lb, from = 0): { moved: string[]; canonical: boolean }[] {
  const text = fs.readFileSync(path.join(WORK, lb, 'controller.log'), 'utf8').slice(from);
  return text.split('\n').filter((l) => l.includes('reordered IPVS mh real servers')).map((l) => JSON.parse(l));
}
const logSize = (lb: Lb) => fs.statSync(path.join(WORK, lb, 'controller.log')).size;

/**
 * IPVS `mh` builds its table from the real servers in insertion order; the controller reorders them
 * canonically. LB `historied` goes through a seeded random history of endpoint and health events
 * (keepalived re-adding servers in whatever order they come back), LB `late` starts afterwards with
 * the final set at once: both must pick the same backend for every client tuple, and a connection
 * established through `historied` must survive a reorder that moves its backend.
 */
async function mhOrderScenario(historied: Lb, late: Lb): Promise<void> {
  console.log(`# mh order: ${historied} through a random history, ${late} started late with the final set`);
  const startedAt = Date.now();
  ORDER_POOL.forEach((address) => run(backendNamespace(address), ['ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']));
  for (const address of ORDER_POOL) await startEchoServer(address);
  const listed = new Map<string, boolean>(ORDER_POOL.slice(0, 4).map((a) => [a, true])); // address -> ready
  const dead = new Set<string>();
  const active = () => [...listed].filter(([a, ready]) => ready && !dead.has(a)).map(([a]) => a);
  const publish = () => setEndpoints([...listed].map(([address, ready]) => ({ address, ready })));
  const followed = async () => (await quietUntil(() => ipvsRealServers(historied) === expectServers(...active()), 30000));
  publish();
  await until(`${historied}: IPVS has the first ${listed.size} pool servers`, () => ipvsRealServers(historied), (v) => v === expectServers(...active()), 30000);

  const random = seededRandom(20261202);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const history: string[] = [];
  let lagging = 0;
  while (history.length < 24) {
    // Never below 3 active servers, so the final table spreads over several backends.
    const canShrink = active().length > 3;
    const events: [string, string[]][] = [
      ['add', ORDER_POOL.filter((a) => !listed.has(a) && !dead.has(a))],
      ['remove', [...listed.keys()].filter((a) => canShrink || !active().includes(a))],
      ['unready', canShrink ? active() : []],
      ['ready', [...listed].filter(([a, ready]) => !ready && !dead.has(a)).map(([a]) => a)],
      ['fail', canShrink ? active() : []],
      ['recover', [...dead]],
    ];
    const [event, candidates] = pick(events.filter(([, c]) => c.length > 0));
    const address = pick(candidates);
    if (event === 'add' || event === 'ready') listed.set(address, true);
    if (event === 'remove') listed.delete(address);
    if (event === 'unready') listed.set(address, false);
    if (event === 'fail') { echoServers.get(address)!.kill('SIGKILL'); dead.add(address); }
    if (event === 'recover') { await startEchoServer(address); dead.delete(address); }
    if (['add', 'remove', 'unready', 'ready'].includes(event)) publish();
    history.push(`${event} ${address}`);
    if (!(await followed())) lagging++;
  }
  check(`${historied} followed ${history.length} random events (endpoints and keepalived health checks)`, lagging === 0,
    `${lagging} not followed within 30 s; ${history.join(', ')}`);
  const historiedReorders = reorderLines(historied);
  check(`${historied}: the controller reordered IPVS during the history`, historiedReorders.length > 0,
    `${historiedReorders.length} passes, ${historiedReorders.reduce((n, r) => n + r.moved.length, 0)} servers moved`);

  const lateLogFrom = logSize(late);
  startController(late);
  await until(`${late} (started late) has the final set: ${active().length} servers`, () => ipvsRealServers(late), (v) => v === expectServers(...active()), 180000);
  for (const lb of [historied, late]) {
    await until(`${lb}: real servers in canonical order`, () => ipvsListOrder(lb), (order) => order.length === active().length && inCanonicalOrder(order), 10000);
  }
  check(`${late}: a keepalived started with the final set needs no reorder`, reorderLines(late, lateLogFrom).length === 0);
  await sleep(1000);
  const probeStart = Date.now();
  const viaHistoried = mhChoices(historied, 42000, 1000);
  const viaLate = mhChoices(late, 42000, 1000);
  const same = agreement(viaHistoried, viaLate);
  check(`mh choices identical on ${historied} (history) and ${late} (late)`, viaHistoried.size === 1000 && viaLate.size === 1000 && same.same === 1000,
    `${same.same} of 1000 tuples agree (${viaHistoried.size} and ${viaLate.size} seen), backends used: ${new Set(viaHistoried.values()).size}, probes took ${Date.now() - probeStart} ms`);

  await establishedConnectionSurvivesReorder(historied, listed, active, publish);
  console.log(`# mh order scenario took ${Math.round((Date.now() - startedAt) / 1000)} s`);
}

/**
 * A connection through `lb` to backend X; then a lower server W leaves and comes back, so keepalived
 * adds W after X and the controller must move X (delete and re-add it). The connection must still get answers.
 */
async function establishedConnectionSurvivesReorder(lb: Lb, listed: Map<string, boolean>, active: () => string[], publish: () => void): Promise<void> {
  run('client', ['ip', 'route', 'replace', `${VIP}/32`, 'via', LBS[lb]]);
  let connection: HeldConnection | undefined;
  let backend = '';
  let lower: string | undefined;
  for (let port = 43000; port < 43020 && !lower; port++) {
    connection?.close();
    connection = await HeldConnection.open(port);
    backend = new RegExp(`^TCP\\s+\\S+\\s+ESTABLISHED\\s+198\\.18\\.0\\.3:${port}\\s+\\S+\\s+(\\S+):8080`, 'm').exec(run(lb, ['ipvsadm', '-Lnc']))?.[1] ?? '';
    lower = active().filter((a) => a !== backend && Number(a.split('.')[3]) < Number(backend.split('.')[3])).sort()[0];
  }
  const before = await connection!.exchange('before');
  check(`connection through ${lb} to ${backend} answers`, before === 'before', before);
  if (!lower) return check('found a connection whose backend a reorder would move', false);
  const logFrom = logSize(lb);
  listed.delete(lower);
  publish();
  await until(`${lower} removed from ${lb}`, () => ipvsRealServers(lb), (v) => v === expectServers(...active()), 20000);
  listed.set(lower, true);
  publish();
  const movedBackend = await until(`${lower} back: the controller moves ${backend} behind it`, () => reorderLines(lb, logFrom).some((r) => r.moved.includes(`${backend}:8080`)) && inCanonicalOrder(ipvsListOrder(lb)), (v) => v, 20000);
  if (!movedBackend.ok) return connection!.close();
  const after = await connection!.exchange('after');
  check(`the connection established before the reorder still gets answers after ${backend} was re-inserted`, after === 'after', after);
  connection!.close();
}

/** One TCP connection from the client namespace, held open by a python process; lines sent on request. */
class HeldConnection {
  private readonly replies: string[] = [];
  private waiter?: () => void;
  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => { this.replies.push(line); this.waiter?.(); });
  }

  static async open(sourcePort: number): Promise<HeldConnection> {
    const script = `import socket, struct, sys
s = socket.socket(); s.settimeout(10)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.bind(("198.18.0.3", ${sourcePort})); s.connect(("${VIP}", 80))
print("connected", flush=True)
for line in sys.stdin:
    try:
        s.sendall(line.encode()); print(s.recv(100).decode().strip() or "closed", flush=True)
    except OSError as e:
        print(type(e).__name__, flush=True)`;
    const child = spawn('ip', ['netns', 'exec', 'client', 'python3', '-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const connection = new HeldConnection(child);
    await connection.nextLine(15000);
    return connection;
  }

  async exchange(text: string): Promise<string> {
    this.child.stdin!.write(`${text}\n`);
    return this.nextLine(15000);
  }

  close(): void { this.child.kill('SIGKILL'); }

  private async nextLine(timeoutMs: number): Promise<string> {
    if (this.replies.length === 0) {
      await Promise.race([new Promise<void>((resolve) => { this.waiter = resolve; }), sleep(timeoutMs)]);
      this.waiter = undefined;
    }
    return this.replies.shift() ?? 'no answer';
  }
}

/** Like `until`, without a check line: for the many waits of a history. */
async function quietUntil(good: () => boolean, timeoutMs: number): Promise<boolean> {
  const start = Date.now();
  while (!good()) {
    if (Date.now() - start > timeoutMs) return false;
    await sleep(100);
  }
  return true;
}

main()
  .catch((err) => { console.log(`FAIL - scenario crashed: ${err?.stack ?? err}`); failures++; })
  .finally(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await api.stop();
    console.log(`ipvs-vm: ${passes} passed, ${failures} failed`);
    process.exit(failures === 0 ? 0 : 1);
  });
