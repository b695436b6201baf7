import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { sleep, waitFor } from './wait';

/**
 * Our BFD (controller/src/bfd.ts) against FRR 8.4's bfdd, multihop, 300 ms x 3, in two network
 * namespaces joined by a veth pair. Each side must see the other come up, see it go silent
 * (SIGSTOP) within the detection time, not the slow rate's 3 s, and see it back; our AdminDown on
 * a graceful stop must take bfdd's session down at once.
 */
const OURS = `ecmpbfd-a-${process.pid}`;
const FRR = `ecmpbfd-b-${process.pid}`;
const OUR_ADDRESS = '198.18.6.1';
const FRR_ADDRESS = '198.18.6.2';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-bfd-'));
const repo = path.resolve(__dirname, '../..');
let bfdd: ChildProcess;
let ours: ChildProcess;
const ourStates: { at: number; state: string; diagnostic: number }[] = [];

function frrPeer(): { status: string; diagnostic: string; 'remote-diagnostic': string; 'remote-transmit-interval': number } {
  const out = execFileSync('ip', ['netns', 'exec', FRR, 'vtysh', '--vty_socket', dir, '-c', 'show bfd peers json'], { encoding: 'utf8' });
  return JSON.parse(out)[0];
}

function startOurs(): void {
  ours = spawn('ip', ['netns', 'exec', OURS, process.execPath, '-r', 'ts-node/register/transpile-only', path.join(__dirname, 'bin/bfd-peer.ts'), OUR_ADDRESS, FRR_ADDRESS, '300', '3'],
    { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } });
  createInterface({ input: ours.stdout! }).on('line', (line) => {
    const { state, diagnostic } = JSON.parse(line) as { state: string; diagnostic: number };
    ourStates.push({ at: performance.now(), state, diagnostic });
  });
}

/** Milliseconds from now until `condition` holds, polling every 50 ms. */
async function msUntil(condition: () => boolean, timeoutMs: number): Promise<number> {
  const start = performance.now();
  await waitFor('a BFD state', condition, timeoutMs);
  return performance.now() - start;
}

beforeAll(async () => {
  for (const ns of [OURS, FRR]) execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['link', 'add', 'v0', 'netns', OURS, 'type', 'veth', 'peer', 'name', 'v0', 'netns', FRR]);
  for (const [ns, address] of [[OURS, OUR_ADDRESS], [FRR, FRR_ADDRESS]]) {
    execFileSync('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'v0']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'v0', 'up']);
  }
  fs.writeFileSync(path.join(dir, 'bfdd.conf'), `bfd\n peer ${OUR_ADDRESS} multihop local-address ${FRR_ADDRESS}\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n !\n!\n`);
  execFileSync('chown', ['-R', 'frr:frr', dir]);
  // bfdd needs no zebra for multihop sessions with a local address.
  bfdd = spawn('ip', ['netns', 'exec', FRR, '/usr/lib/frr/bfdd', '-f', path.join(dir, 'bfdd.conf'), '-i', path.join(dir, 'bfdd.pid'),
    '--vty_socket', dir, '-z', path.join(dir, 'zserv.api'), '-u', 'frr', '-g', 'frr', '-P', '0'], { stdio: 'ignore' });
  startOurs();
}, 30_000);

afterAll(async () => {
  ours?.kill('SIGKILL');
  bfdd?.kill('SIGKILL');
  await sleep(100);
  for (const ns of [OURS, FRR]) execFileSync('ip', ['netns', 'del', ns]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const bfddPid = () => Number(fs.readFileSync(path.join(dir, 'bfdd.pid'), 'utf8'));
const oursUp = () => ourStates.at(-1)?.state === 'UP';

test('the sessions come up on both sides, at the fast rate agreed by the poll sequence', async () => {
  await waitFor('both sides up', () => oursUp() && frrPeer().status === 'up', 15_000);
  // Down -> Init -> Up, or Down -> Up when bfdd's Init came first.
  expect(ourStates.every((s) => s.state === 'INIT' || s.state === 'UP')).toBe(true);
  await sleep(1000);
  expect(frrPeer()['remote-transmit-interval']).toBe(300);
}, 20_000);

test('bfdd frozen: ours goes down by detection time within 2 s (not the 3 s of the slow rate), and up again when it thaws', async () => {
  const before = ourStates.length;
  process.kill(bfddPid(), 'SIGSTOP');
  let ms: number;
  try {
    ms = await msUntil(() => ourStates.slice(before).some((s) => s.state === 'DOWN'), 5000);
  } finally {
    process.kill(bfddPid(), 'SIGCONT');
  }
  console.log(`ours saw frozen bfdd down after ${ms.toFixed(0)} ms`);
  expect(ms).toBeLessThan(2000);
  expect(ourStates.slice(before).find((s) => s.state === 'DOWN')!.diagnostic).toBe(1);
  await waitFor('ours up again', () => oursUp() && frrPeer().status === 'up', 15_000);
}, 30_000);

test('ours frozen: bfdd goes down within 2 s, and up again when it thaws', async () => {
  ours.kill('SIGSTOP');
  let ms: number;
  let seen: ReturnType<typeof frrPeer> | undefined;
  try {
    ms = await msUntil(() => (seen = frrPeer()).status === 'down', 5000);
  } finally {
    ours.kill('SIGCONT');
  }
  console.log(`bfdd saw ours frozen down after ${ms.toFixed(0)} ms (polled through vtysh)`);
  expect(ms).toBeLessThan(2000);
  expect(seen!.diagnostic).toBe('control detection time expired');
  await waitFor('up again', () => oursUp() && frrPeer().status === 'up', 15_000);
}, 30_000);

test('ours stopped gracefully: AdminDown takes bfdd\'s session down at once, told, not by timeout', async () => {
  await waitFor('up', () => frrPeer().status === 'up', 15_000);
  ours.kill('SIGTERM');
  await waitFor('bfdd down', () => frrPeer().status === 'down', 2000);
  expect(frrPeer()['remote-diagnostic']).toBe('administratively down');
  expect(frrPeer().diagnostic).toBe('neighbor signaled session down');
}, 20_000);
