// npm run bench: synth wall time and peak memory for 1, 100 and 500 services, and the 500/1 ratio.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const SIZES = [1, 100, 500];
const RUNS = 3;

interface Sample { services: number; constructMs: number; synthMs: number; maxRssMiB: number; wallMs: number }

function runOnce(count: number): Sample {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-bench-'));
  try {
    const start = process.hrtime.bigint();
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'synth-once.ts'), String(count), outdir], { encoding: 'utf8' });
    const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
    return { ...JSON.parse(out.trim().split('\n').pop()!), wallMs };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map<number, Sample>();
console.log(`synth benchmark: median of ${RUNS} fresh processes per size, ${os.cpus().length} CPUs, node ${process.version}`);
console.log('services | construct ms | synth ms | construct+synth ms | process wall ms | peak RSS MiB');
for (const size of SIZES) {
  const samples = Array.from({ length: RUNS }, () => runOnce(size));
  const m: Sample = {
    services: size,
    constructMs: median(samples.map(s => s.constructMs)),
    synthMs: median(samples.map(s => s.synthMs)),
    maxRssMiB: median(samples.map(s => s.maxRssMiB)),
    wallMs: median(samples.map(s => s.wallMs)),
  };
  results.set(size, m);
  console.log(`${String(size).padStart(8)} | ${m.constructMs.toFixed(0).padStart(12)} | ${m.synthMs.toFixed(0).padStart(8)} | ${(m.constructMs + m.synthMs).toFixed(0).padStart(18)} | ${m.wallMs.toFixed(0).padStart(15)} | ${m.maxRssMiB.toFixed(0).padStart(12)}`);
}
const [small, large] = [results.get(1)!, results.get(500)!];
const ratio = large.wallMs / small.wallMs;
console.log(`ratio 500/1: process wall ${ratio.toFixed(2)} (goal <= 3: ${ratio <= 3 ? 'met' : 'MISSED'}), construct+synth ${((large.constructMs + large.synthMs) / (small.constructMs + small.synthMs)).toFixed(1)}, peak RSS ${(large.maxRssMiB / small.maxRssMiB).toFixed(2)}`);
