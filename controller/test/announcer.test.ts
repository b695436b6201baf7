import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { announceFileText } from '../../lib/lb-pod-contract';
import { renderAnnouncer } from '../../lib/renderers/announcer';

/** Runs the rendered announcer as exabgp would: stdout is read, stdin stays open. */
class Announcer {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly proc: ChildProcessWithoutNullStreams;

  constructor(script: string, announceFile: string) {
    this.proc = spawn('python3', [script, announceFile]);
    let buffer = '';
    this.proc.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  /** Waits (at most 3 s) until `count` lines have been printed, and returns them all. */
  async waitForLines(count: number): Promise<string[]> {
    const deadline = Date.now() + 3000;
    while (this.lines.length < count && Date.now() < deadline) await sleep(20);
    return [...this.lines];
  }

  closeStdin(): void { this.proc.stdin.end(); }
  kill(): void { this.proc.kill('SIGKILL'); }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const A = 'announce route 198.19.10.0/24 next-hop 198.18.0.5';
const B = 'announce route 198.19.11.0/24 next-hop 198.18.0.5';

describe('announcer.py', () => {
  let dir: string;
  let script: string;
  let file: string;
  const running: Announcer[] = [];
  const start = () => { const a = new Announcer(script, file); running.push(a); return a; };
  const write = (text: string) => { fs.writeFileSync(`${file}.tmp`, text); fs.renameSync(`${file}.tmp`, file); };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'announcer-'));
    script = path.join(dir, 'announcer.py');
    file = path.join(dir, 'announce');
    fs.writeFileSync(script, renderAnnouncer());
  });
  afterEach(() => {
    running.splice(0).forEach((a) => a.kill());
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('follows the controller\'s file: missing is empty, new lines announce, vanished lines withdraw', async () => {
    const announcer = start();
    await sleep(300);
    expect(announcer.lines).toEqual([]);
    write(announceFileText(['198.19.10.0/24', '198.19.11.0/24'], '198.18.0.5'));
    expect(await announcer.waitForLines(2)).toEqual([A, B]);
    write(announceFileText(['198.19.11.0/24'], '198.18.0.5'));
    expect(await announcer.waitForLines(3)).toEqual([A, B, 'withdraw route 198.19.10.0/24 next-hop 198.18.0.5']);
    fs.rmSync(file);
    expect(await announcer.waitForLines(4)).toEqual([A, B, 'withdraw route 198.19.10.0/24 next-hop 198.18.0.5', 'withdraw route 198.19.11.0/24 next-hop 198.18.0.5']);
  });

  test('a restarted announcer announces the whole current state, and only announce lines pass', async () => {
    write(`${A}\nshutdown\nneighbor 198.18.0.1 teardown 2\n${B}\n`);
    const announcer = start();
    expect(await announcer.waitForLines(2)).toEqual([A, B]);
    await sleep(300);
    expect(announcer.lines).toEqual([A, B]);
  });

  test('exits when exabgp closes its stdin', async () => {
    const announcer = start();
    announcer.closeStdin();
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([announcer.exited, new Promise((r) => { timer = setTimeout(() => r('still running'), 3000); })]);
    clearTimeout(timer);
    expect(code).toBe(0);
  });
});
