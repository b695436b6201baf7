import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { tempDir } from './support/topology';

// .github/workflows/release.yml cannot run here (no GitHub runner, no registry). This checks its
// structure, that every `run:` script parses, that every action is pinned, and runs the image build
// and push scripts with stand-ins for sudo, npm, skopeo and buildah that record what they are asked.

const ROOT = path.join(__dirname, '..');
const FILE = path.join(ROOT, '.github', 'workflows', 'release.yml');
const workflow = YAML.parse(fs.readFileSync(FILE, 'utf8'));
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const ARCHES = ['amd64', 'arm64'];

type Step = { name?: string; uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
const jobs = Object.entries(workflow.jobs ?? {}) as [string, { 'runs-on'?: string; steps?: Step[] }][];
const steps = jobs.flatMap(([, job]) => job.steps ?? []);
const runSteps = steps.filter((s) => s.run !== undefined);
const stepRunning = (text: string) => {
  const found = runSteps.filter((s) => s.run!.includes(text));
  expect(found).toHaveLength(1);
  return found[0];
};
// GitHub substitutes `${{ ... }}` before bash sees the script.
const script = (step: Step) => step.run!.replace(/\$\{\{[^}]*\}\}/g, 'GITHUB_EXPRESSION');

test('runs on a v* tag push, every job has a runner and steps, each step one run or uses', () => {
  expect(workflow.on?.push?.tags).toEqual(['v*']);
  expect(workflow.on?.push?.branches).toBeUndefined();
  expect(jobs.length).toBeGreaterThan(0);
  for (const [name, job] of jobs) {
    expect([name, typeof job['runs-on']]).toEqual([name, 'string']);
    expect(job.steps?.length).toBeGreaterThan(0);
    for (const step of job.steps!) expect([step.run, step.uses].filter((x) => x !== undefined)).toHaveLength(1);
  }
});

test('every run script passes bash -n, as the runner starts it (bash -eo pipefail)', () => {
  const dir = tempDir('ecmp-release');
  expect(runSteps.length).toBeGreaterThan(3);
  runSteps.forEach((step, i) => {
    const file = path.join(dir, `step-${i}.sh`);
    fs.writeFileSync(file, script(step));
    execFileSync('bash', ['--noprofile', '--norc', '-n', '-eo', 'pipefail', file], { stdio: 'pipe' });
  });
  // A negative control: bash -n does refuse a broken script.
  fs.writeFileSync(path.join(dir, 'broken.sh'), 'for x in a b; do\n  echo "$x"\n');
  expect(() => execFileSync('bash', ['-n', path.join(dir, 'broken.sh')], { stdio: 'pipe' })).toThrow();
});

test('every action is pinned to a commit or an exact version', () => {
  const uses = steps.filter((s) => s.uses !== undefined).map((s) => s.uses!);
  expect(uses).toEqual(expect.arrayContaining([expect.stringMatching(/^actions\/checkout@/), expect.stringMatching(/^actions\/setup-node@/)]));
  for (const ref of uses) expect(ref).toMatch(/^[\w.-]+\/[\w./-]+@([0-9a-f]{40}|v\d+\.\d+\.\d+)$/);
});

test('installs with npm ci, runs no tests, publishes last with NPM_TOKEN', () => {
  expect(steps[0].uses).toMatch(/^actions\/checkout@/);
  const setupNode = steps.find((s) => s.uses?.startsWith('actions/setup-node@'))!;
  expect(setupNode.with?.['registry-url']).toBe('https://registry.npmjs.org');
  expect(stepRunning('npm ci').run).toContain('npm run build');
  for (const step of runSteps) expect(step.run).not.toMatch(/npm (run )?test/);
  const publish = steps[steps.length - 1];
  expect(publish.run).toMatch(/^npm publish\b/);
  expect(publish.env?.NODE_AUTH_TOKEN).toBe('${{ secrets.NPM_TOKEN }}');
});

test('the images come from `npm run images`, whose script exists and takes the options the workflow passes', () => {
  const command = PKG.scripts?.images;
  expect(typeof command).toBe('string');
  const scriptFile = /(?:^|\s)(?:bash\s+)?(scripts\/[\w.-]+)/.exec(command)?.[1];
  expect(scriptFile).toBeDefined();
  expect(fs.existsSync(path.join(ROOT, scriptFile!))).toBe(true);
  const text = fs.readFileSync(path.join(ROOT, scriptFile!), 'utf8');
  const options = [...stepRunning('npm run images').run!.matchAll(/npm run images -- (.*)/g)].flatMap((m) => m[1].match(/--[\w-]+/g) ?? []);
  expect(options).toContain('--arch');
  for (const word of [...options, ...ARCHES]) expect(text).toContain(word);
});

describe('the release scripts, run with recording stand-ins', () => {
  const work = tempDir('ecmp-release-run');
  const bin = path.join(work, 'bin');
  const log = path.join(work, 'calls.log');
  const images = ['lb', 'exabgp', 'gobgpd'];
  fs.mkdirSync(bin);
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(work, 'package.json')); // the scripts run in the checkout
  const stub = (name: string, body = '') => fs.writeFileSync(path.join(bin, name), `#!/bin/bash\necho "${name} $*" >> "${log}"\n${body}\n`, { mode: 0o755 });
  stub('sudo', 'exec "$@"');
  // `npm run images -- ... [--out DIR]` writes DIR/<image>.oci.tar (default build/images), as scripts/build-images.sh does.
  stub('npm', `if [ "$1 $2" = "run images" ]; then
  all="$*" out=build/images; while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
  mkdir -p "$out" && for i in ${images.join(' ')}; do echo "$all" > "$out/$i.oci.tar"; done
fi`);
  stub('skopeo');
  stub('buildah', 'cat > /dev/null'); // login reads the password from stdin
  const runStep = (step: Step, env: Record<string, string>) => {
    fs.writeFileSync(log, '');
    const file = path.join(work, 'step.sh');
    fs.writeFileSync(file, script(step));
    execFileSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
      cwd: work, stdio: 'pipe', env: { PATH: `${bin}:${process.env.PATH}`, HOME: work, RUNNER_TEMP: work, ...env },
    });
    return fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
  };

  test('the tag check accepts v<package version>, refuses another tag, and defaults the registry to ghcr.io/<owner>', () => {
    const check = stepRunning('GITHUB_ENV');
    const githubEnv = path.join(work, 'github-env');
    fs.writeFileSync(githubEnv, '');
    const env = { GITHUB_ENV: githubEnv, GITHUB_REPOSITORY_OWNER: 'Acme', REGISTRY_VARIABLE: '' };
    runStep(check, { ...env, GITHUB_REF_NAME: `v${PKG.version}` });
    expect(fs.readFileSync(githubEnv, 'utf8')).toBe(`VERSION=${PKG.version}\nIMAGE_REGISTRY=ghcr.io/acme/cdk8s-ecmp-lb\n`);
    expect(() => runStep(check, { ...env, GITHUB_REF_NAME: 'v9.9.9-not-ours' })).toThrow();
  });

  test('builds with `npm run images -- --arch A` for amd64 and arm64, as root, keeping each arch\'s archives', () => {
    const calls = runStep(stepRunning('npm run images'), {});
    const builds = calls.filter((c) => c.startsWith('npm '));
    const build = (arch: string) => `npm run images -- --arch ${arch} --out build/images-${arch} --no-load`;
    expect(builds).toEqual(ARCHES.map(build));
    expect(calls.filter((c) => c.startsWith('sudo '))).toEqual(ARCHES.map((arch) => `sudo env PATH=${bin}:${process.env.PATH} ${build(arch)}`));
    for (const arch of ARCHES) {
      expect(fs.readdirSync(path.join(work, 'build', `images-${arch}`)).sort()).toEqual(images.map((i) => `${i}.oci.tar`).sort());
      expect(fs.readFileSync(path.join(work, 'build', `images-${arch}`, 'lb.oci.tar'), 'utf8').trim()).toBe(build(arch).replace(/^npm /, ''));
    }
  });

  test('pushes each image per arch with skopeo and one multi-arch manifest list per image with buildah', () => {
    const registry = 'ghcr.io/acme/cdk8s-ecmp-lb';
    for (const arch of ARCHES) {
      fs.mkdirSync(path.join(work, 'build', `images-${arch}`), { recursive: true });
      for (const name of images) fs.writeFileSync(path.join(work, 'build', `images-${arch}`, `${name}.oci.tar`), arch);
    }
    const all = runStep(stepRunning('manifest push'), { IMAGE_REGISTRY: registry, VERSION: '1.2.3', REGISTRY_USER: 'bot', REGISTRY_PASSWORD: 'pw' });
    // Every skopeo and buildah call runs as root, with one auth file.
    const calls = all.filter((c) => !c.startsWith('sudo '));
    expect(all.filter((c) => c.startsWith('sudo '))).toEqual(calls.map((c) => `sudo env REGISTRY_AUTH_FILE=${work}/auth.json ${c}`));
    expect(calls[0]).toBe('buildah login -u bot --password-stdin ghcr.io');
    for (const name of images) {
      const image = `${registry}/${name}:1.2.3`;
      expect(calls).toEqual(expect.arrayContaining([
        `buildah manifest create ${image}`,
        ...ARCHES.flatMap((arch) => [
          `skopeo copy --all oci-archive:build/images-${arch}/${name}.oci.tar docker://${image}-${arch}`,
          `buildah manifest add ${image} docker://${image}-${arch}`,
        ]),
        `buildah manifest push --all ${image} docker://${image}`,
      ]));
      expect(calls.indexOf(`buildah manifest push --all ${image} docker://${image}`)).toBeGreaterThan(calls.indexOf(`buildah manifest add ${image} docker://${image}-arm64`));
    }
    expect(calls.filter((c) => c.startsWith('skopeo copy'))).toHaveLength(images.length * ARCHES.length);
  });
});
