import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IpvsReorderer } from '../src/ipvs-reorder';
import { silentLogger } from '../src/log';

/** The reorderer's answer to keepalived removals it crossed, with a fake ipvsadm that records its arguments. */
describe('IpvsReorderer.noteKeepalivedLine', () => {
  let dir: string;
  let calls: () => string[];
  let reorderer: IpvsReorderer;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-reorder-'));
    const log = path.join(dir, 'calls');
    fs.writeFileSync(path.join(dir, 'ipvsadm'), `#!/bin/sh\necho "$*" >> ${log}\n`, { mode: 0o755 });
    // An empty IPVS table: the passes themselves have nothing to move.
    fs.writeFileSync(path.join(dir, 'ip_vs'), 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n');
    calls = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);
    reorderer = new IpvsReorderer({ log: silentLogger, ipvsadm: path.join(dir, 'ipvsadm'), procFile: path.join(dir, 'ip_vs') });
  });

  test('a removal keepalived missed (the server deleted by a move) is done again after the pass in flight', async () => {
    const pass = reorderer.reorder();
    reorderer.noteKeepalivedLine('Wed Dec  2 20:21:03 2026: IPVS cmd IP_VS_SO_SET_DELDEST(1160) error: No such destination(2) (198.19.10.1:tcp:80 -> 198.18.0.31:8080)');
    await pass;
    await reorderer.reorder();
    expect(calls()).toEqual(['-d -t 198.19.10.1:80 -r 198.18.0.31:8080']);
  });

  test('other lines, removals that worked included, change nothing', async () => {
    reorderer.noteKeepalivedLine('Wed Dec  2 20:21:03 2026: Removing service [198.18.0.31]:tcp:8080 from VS [198.19.10.1]:tcp:80');
    reorderer.noteKeepalivedLine('IPVS cmd IP_VS_SO_SET_ADDDEST(1159) error: File exists(17) (198.19.10.1:tcp:80 -> 198.18.0.31:8080)');
    await reorderer.reorder();
    expect(calls()).toEqual([]);
  });
});

describe('IpvsReorderer.clear', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-clear-'));
  const calls = path.join(dir, 'calls');
  fs.writeFileSync(path.join(dir, 'ipvsadm'), `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
  const header = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n';
  const clearWith = async (table: string | undefined) => {
    fs.rmSync(calls, { force: true });
    const procFile = path.join(dir, 'ip_vs');
    if (table === undefined) fs.rmSync(procFile, { force: true });
    else fs.writeFileSync(procFile, header + table);
    await new IpvsReorderer({ log: silentLogger, ipvsadm: path.join(dir, 'ipvsadm'), procFile }).clear();
    return fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [];
  };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('empties a table an earlier container left, and leaves an empty table or a kernel without IPVS alone', async () => {
    expect(await clearWith('TCP  C6130A01:0050 mh\n  -> C6120501:1F90      Masq    1      0          0\n')).toEqual(['-C']);
    expect(await clearWith('')).toEqual([]);
    expect(await clearWith(undefined)).toEqual([]);
  });
});
