#!/usr/bin/env node
// The LB pod's program as one file: controller/src/cli.ts and everything it imports, its npm
// dependencies included, bundled by esbuild into CommonJS. Node then reads one file instead of
// resolving and loading some 80 packages at every start. Names are kept, so stack traces read.
// With --licenses DIR, each bundled package's license files (or, without one, its package.json)
// are copied to DIR/<package>/.
//
// usage: node scripts/bundle-cli.mjs OUTFILE [--licenses DIR]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [outfile, flag, licenses] = process.argv.slice(2);
if (!outfile || (flag !== undefined && (flag !== '--licenses' || !licenses))) {
  console.error('usage: node scripts/bundle-cli.mjs OUTFILE [--licenses DIR]');
  process.exit(2);
}

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: ['controller/src/cli.ts'],
  bundle: true,
  platform: 'node',
  // The oldest Node.js that runs it: the tests' (20); the image has 24.
  target: 'node20',
  format: 'cjs',
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  metafile: true,
  outfile: path.resolve(outfile),
  logLevel: 'warning',
});

if (licenses) {
  const packageDirs = new Set(Object.keys(result.metafile.inputs)
    .map((input) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1])
    .filter((dir) => dir !== undefined));
  for (const dir of [...packageDirs].sort()) {
    const name = dir.replace(/.*node_modules\//, '');
    let files = fs.readdirSync(path.join(root, dir)).filter((file) => /^(un)?licen[cs]e|^copying|^notice/i.test(file));
    if (files.length === 0) {
      // Some packages (tr46) ship none: their package.json's `license` is then the record.
      if (!JSON.parse(fs.readFileSync(path.join(root, dir, 'package.json'), 'utf8')).license) throw new Error(`${name} states no license`);
      files = ['package.json'];
    }
    fs.mkdirSync(path.join(licenses, name), { recursive: true });
    for (const file of files) fs.copyFileSync(path.join(root, dir, file), path.join(licenses, name, file));
  }
  console.log(`bundled ${packageDirs.size} packages; their license files in ${licenses}`);
}
