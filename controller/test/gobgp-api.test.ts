import { ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startGobgpd } from './gobgpd';
import { waitFor } from './wait';
import { decodeMessage, encodeMessage, gobgpApi, GobgpNeighborSets, grpcFrame, grpcUnframe } from '../src/gobgp-api';

describe('protobuf and gRPC framing', () => {
  test('fields round-trip: multi-byte varints, strings, nested messages, repeated fields; defaults are left out', () => {
    const inner = encodeMessage([[1, 1], [2, 'lb-pods.shop.web1'], [3, '198.19.0.5/32'], [3, '2001:db8::5/128']]);
    const outer = encodeMessage([[1, inner], [2, false], [3, 300], [4, '']]);
    const fields = decodeMessage(outer);
    expect([...fields.keys()]).toEqual([1, 3]);
    expect(fields.get(3)).toEqual([300]);
    const decoded = decodeMessage(fields.get(1)![0] as Buffer);
    expect(decoded.get(1)).toEqual([1]);
    expect((decoded.get(3) as Buffer[]).map((b) => b.toString())).toEqual(['198.19.0.5/32', '2001:db8::5/128']);
  });

  test('a varint\'s bytes as protobuf lays them out (300 = 0xac 0x02)', () => {
    expect(encodeMessage([[3, 300]])).toEqual(Buffer.from([0x18, 0xac, 0x02]));
  });

  test('gRPC frames: a stream of several messages splits back; truncation is an error', () => {
    const a = Buffer.from('one');
    const b = Buffer.from('');
    expect(grpcUnframe(Buffer.concat([grpcFrame(a), grpcFrame(b)]))).toEqual([a, b]);
    expect(() => grpcUnframe(grpcFrame(a).subarray(0, 6))).toThrow('truncated gRPC message');
    expect(() => decodeMessage(Buffer.from([0x12, 0x05, 0x61]))).toThrow('truncated protobuf field');
  });
});

/** The real gobgpd, BGP port off, its API on a unix socket and on loopback TCP (the `gobgp` CLI's way in). */
describe('against the real gobgpd', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-gobgp-api-'));
  let socket: string;
  const tcpPort = 50_000 + (process.pid % 10_000);
  let gobgpd: ChildProcess;
  let client: GobgpNeighborSets;
  const cliSets = () => JSON.parse(execFileSync('gobgp', ['-u', '127.0.0.1', '-p', String(tcpPort), 'policy', 'neighbor', '-j'], { encoding: 'utf8' })) as { name: string; list?: string[] }[];

  beforeAll(async () => {
    ({ process: gobgpd, socket } = await startGobgpd(dir, [`127.0.0.1:${tcpPort}`]));
    client = gobgpApi(`unix://${socket}`);
  });

  afterAll(() => {
    client?.close();
    gobgpd?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('lists, adds and deletes neighbor set members as the gobgp CLI sees them', async () => {
    expect(await client.list()).toEqual(new Map([['lb-pods.shop.web1', ['0.0.0.0/32', '::/128']]]));
    await client.add('lb-pods.shop.web1', '198.19.0.5/32');
    await client.add('lb-pods.shop.web1', '2001:db8::5/128');
    await client.add('lb-pods.shop.web2', '198.19.0.9/32'); // a set gobgpd does not hold yet
    expect(await client.list()).toEqual(new Map([
      ['lb-pods.shop.web1', ['0.0.0.0/32', '198.19.0.5/32', '2001:db8::5/128', '::/128']],
      ['lb-pods.shop.web2', ['198.19.0.9/32']],
    ]));
    await client.delete('lb-pods.shop.web1', '198.19.0.5/32');
    const seen = new Map(cliSets().map((s) => [s.name, [...(s.list ?? [])].sort()]));
    expect(seen.get('lb-pods.shop.web1')).toEqual(['0.0.0.0/32', '2001:db8::5/128', '::/128']);
  });

  test('over TCP too; a soft reset of an address that is no peer is gobgpd\'s error, with its message', async () => {
    const tcp = gobgpApi(`127.0.0.1:${tcpPort}`);
    try {
      expect((await tcp.list()).has('lb-pods.shop.web1')).toBe(true);
      await expect(tcp.softResetIn('198.19.0.77')).rejects.toThrow(/gobgpd ResetPeer: gRPC status \d+: .*198\.19\.0\.77/);
    } finally {
      tcp.close();
    }
  });

  test('no gobgpd at the address: the call fails instead of hanging', async () => {
    const nowhere = gobgpApi(`unix://${path.join(dir, 'nothing.sock')}`);
    await expect(nowhere.list()).rejects.toThrow();
    await expect(nowhere.alive(1000)).rejects.toThrow();
    nowhere.close();
  });

  test('alive: gobgpd answers GetBgp; frozen, the call fails after its timeout (not the 10 s default); thawed, it answers again', async () => {
    const api = gobgpApi(`unix://${socket}`);
    try {
      await api.alive(1000);
      gobgpd.kill('SIGSTOP');
      // A thread of gobgpd's that is running on another core stops a moment later, and could answer first.
      await waitFor('every gobgpd thread stopped', () => allThreadsStopped(gobgpd.pid!), 2000);
      const start = performance.now();
      try {
        await expect(api.alive(300)).rejects.toThrow(/gobgpd GetBgp: no answer within 0\.3 s/);
      } finally {
        gobgpd.kill('SIGCONT');
      }
      const ms = performance.now() - start;
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(2000);
      await api.alive(1000);
    } finally {
      api.close();
    }
  });
});

/** True when every thread of `pid` is in state T (stopped): /proc/PID/task/TID/stat's third field. */
function allThreadsStopped(pid: number): boolean {
  const tasks = fs.readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => / T /.test(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').replace(/^\d+ \(.*\)/, '')));
}
