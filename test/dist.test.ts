import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readTree, tempDir } from './support/topology';

const ROOT = path.join(__dirname, '..');

test('dist/ is exactly what main.ts synthesizes (commit `npm run synth` output)', () => {
  const outdir = tempDir('ecmp-main');
  try {
    execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'main.ts'], {
      cwd: ROOT, env: { ...process.env, CDK8S_OUTDIR: outdir }, stdio: 'pipe',
    });
    const fresh = readTree(outdir);
    const committed = readTree(path.join(ROOT, 'dist'));
    expect([...committed.keys()]).toEqual([...fresh.keys()]);
    for (const [file, text] of fresh) {
      if (committed.get(file) !== text) throw new Error(`dist/${file} is stale: run \`npm run synth\` and commit dist/`);
    }
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});
