import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { Backends, ForwardingMethod, LoadBalancerService, ReflectorPlacement } from '../lib';
import { tempDir, testTopology } from './support/topology';

// docs/install.md: every step this machine can run is run here, as the doc writes it. A block marked
// `<!-- test [cwd=DIR] [netns] -->` runs (bash -eo pipefail) in a scratch copy of the repository (in DIR
// under it; in a fresh network namespace with netns), and an `<!-- expect -->` block after it is its
// output (stdout and stderr), line by line, `...` standing for any text. `<!-- test main.ts -->` on a
// TypeScript block replaces the topology statement of main.ts, `<!-- test kubelet-config -->` on a YAML
// block must allow every sysctl the pods set that Kubernetes does not deem safe. The gobgpd unit drop-in
// and the ecmp-lb command line it shows are checked against systemd, gobgpd and the CLI.

const ROOT = path.join(__dirname, '..');
const DOC = fs.readFileSync(path.join(ROOT, 'docs', 'install.md'), 'utf8');

interface Block { marker: string; options: string[]; lang: string; body: string; line: number; expect?: string[] }

function parseDoc(text: string): Block[] {
  const blocks: Block[] = [];
  const re = /<!-- (test|expect)((?: [\w.=/-]+)*) -->\n+```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const line = text.slice(0, m.index).split('\n').length;
    if (m[1] === 'expect') {
      const last = blocks[blocks.length - 1];
      if (!last || last.expect || last.options.includes('main.ts')) throw new Error(`install.md:${line}: an expect block must follow a test block`);
      last.expect = m[4].split('\n').slice(0, -1);
    } else {
      blocks.push({ marker: m[1], options: m[2].trim().split(' ').filter(Boolean), lang: m[3], body: m[4], line });
    }
  }
  const markers = (text.match(/<!-- (test|expect)\b/g) ?? []).length;
  const parsed = blocks.length + blocks.filter((b) => b.expect).length;
  if (markers !== parsed) throw new Error(`install.md: ${markers} test/expect markers, but only ${parsed} followed by a fenced block`);
  return blocks;
}

const blocks = parseDoc(DOC);
const shellBlocks = blocks.filter((b) => b.lang === 'sh');

/** Matches output lines against expected ones, `...` matching any text. */
function matches(actual: string[], expected: string[]): boolean {
  const pattern = (line: string) => new RegExp(`^${line.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return actual.length === expected.length && expected.every((line, i) => pattern(line.trimEnd()).test(actual[i].trimEnd()));
}

/** A scratch copy of what `npm run synth` needs, with this repository's node_modules. */
function scratchCheckout(): string {
  const dir = tempDir('ecmp-install-doc');
  for (const entry of ['main.ts', 'cdk8s.yaml', 'package.json', 'tsconfig.json', 'lib', 'imports']) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

describe('docs/install.md', () => {
  const checkout = scratchCheckout();

  test('marks the steps this machine can run', () => {
    expect(blocks.filter((b) => b.options.includes('main.ts')).map((b) => b.lang)).toEqual(['ts']);
    expect(blocks.filter((b) => b.options.includes('kubelet-config')).map((b) => b.lang)).toEqual(['yaml']);
    expect(shellBlocks.length).toBeGreaterThanOrEqual(6);
    expect(shellBlocks.some((b) => b.options.includes('netns'))).toBe(true);
    for (const block of blocks) {
      for (const option of block.options) expect([`line ${block.line}`, option]).toEqual([`line ${block.line}`, expect.stringMatching(/^(cwd=[\w./-]+|netns|main\.ts|kubelet-config)$/)]);
    }
  });

  // One test: the blocks build on each other (the topology edit, then synth, then the files it wrote).
  test('its blocks run in order and print what it shows', () => {
    const mainTs = path.join(checkout, 'main.ts');
    for (const block of blocks) {
      const where = `install.md:${block.line}`;
      if (block.options.includes('main.ts')) {
        const statement = /^const topology = new EcmpTopology\(app, [\s\S]*?^\}\);\n/m;
        const original = fs.readFileSync(mainTs, 'utf8');
        expect([where, statement.test(original)]).toEqual([where, true]);
        fs.writeFileSync(mainTs, original.replace(statement, block.body));
        continue;
      }
      if (block.lang !== 'sh') continue;
      const cwd = path.join(checkout, block.options.find((o) => o.startsWith('cwd='))?.slice(4) ?? '.');
      const script = `exec 2>&1\n${block.body}`;
      const command = block.options.includes('netns') ? ['unshare', '--net', 'bash'] : ['bash'];
      const result = spawnSync(command[0], [...command.slice(1), '--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd, encoding: 'utf8', timeout: 60_000 });
      const output = result.stdout ?? '';
      expect([where, block.body, result.status, output]).toEqual([where, block.body, 0, output]);
      if (block.expect) {
        const lines = output.split('\n');
        while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
        if (!matches(lines, block.expect)) expect([where, lines]).toEqual([where, block.expect]);
      }
    }
  }, 120_000);

  test('every dist/ path it names is one synth wrote', () => {
    const named = new Set([...DOC.matchAll(/\bdist\/[\w./-]*[\w/]/g)].map((m) => m[0].replace(/\/$/, '')));
    expect(named.size).toBeGreaterThan(3);
    for (const name of named) {
      if (name.includes('*')) continue;
      expect([name, fs.existsSync(path.join(checkout, name))]).toEqual([name, true]);
    }
  });

  test('the kubelet allow-list covers every unsafe sysctl the pods set, NAT and TUN, LB pods and reflectors', () => {
    const config = YAML.parse(blocks.find((b) => b.options.includes('kubelet-config'))!.body);
    const allowed: string[] = config.allowedUnsafeSysctls;
    // Kubernetes 1.27's safe sysctls (pkg/kubelet/sysctl/safe_sysctls.go).
    const safe = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
      'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.ip_local_reserved_ports'];
    const isAllowed = (name: string) => safe.includes(name) || allowed.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
    const { app, topology } = testTopology({
      topology: { routeReflectors: [{ name: 'rr1', address: '198.18.0.21', placement: ReflectorPlacement.inCluster({ nodeName: 'n21' }) }] },
    });
    new LoadBalancerService(topology, 'tun', {
      prefixes: ['198.18.103.0/24'], ports: [{ port: 80, backendPort: 80 }], backends: Backends.fromLabels({ app: 'tun' }),
      forwardingMethod: ForwardingMethod.TUNNEL, backendsPreparedByHand: true,
    });
    const manifests = [...app.charts.flatMap((chart) => chart.toJson())];
    for (const file of fs.readdirSync(path.join(checkout, 'dist')).filter((f) => f.endsWith('.k8s.yaml'))) {
      manifests.push(...YAML.parseAllDocuments(fs.readFileSync(path.join(checkout, 'dist', file), 'utf8')).map((d) => d.toJSON()));
    }
    const sysctls = new Set(manifests.flatMap((m) => m?.spec?.template?.spec?.securityContext?.sysctls ?? []).map((s: { name: string }) => s.name));
    expect(sysctls).toEqual(new Set(['net.ipv4.ip_forward', 'net.ipv4.vs.conntrack', 'net.ipv4.vs.conn_reuse_mode', 'net.ipv4.vs.sloppy_tcp', 'net.ipv4.ip_unprivileged_port_start']));
    for (const name of sysctls) expect([name, isAllowed(name)]).toEqual([name, true]);
    // And the prose and the flag form say the same as the YAML.
    expect(DOC).toContain(`--allowed-unsafe-sysctls='${allowed.join(',')}'`);
    expect(DOC).toContain(`kubeletconfig.allowedUnsafeSysctls\n\`\`\`\n\n\`\`\`text\n${JSON.stringify(allowed)}\n`);
  });

  test('its gobgpd drop-in passes systemd-analyze verify on Debian\'s gobgpd unit, and gobgpd takes its command lines', () => {
    const dropIn = /cat > \/etc\/systemd\/system\/gobgpd\.service\.d\/ecmp-lb\.conf <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(DOC)?.[1];
    expect(dropIn).toBeDefined();
    const units = tempDir('ecmp-install-units');
    fs.copyFileSync('/lib/systemd/system/gobgpd.service', path.join(units, 'gobgpd.service'));
    fs.mkdirSync(path.join(units, 'gobgpd.service.d'));
    fs.writeFileSync(path.join(units, 'gobgpd.service.d', 'ecmp-lb.conf'), `${dropIn}\n`);
    const verify = (extra: string) => {
      fs.writeFileSync(path.join(units, 'gobgpd.service.d', 'zz-extra.conf'), extra);
      return spawnSync('systemd-analyze', ['verify', 'gobgpd.service'], { encoding: 'utf8', env: { ...process.env, SYSTEMD_UNIT_PATH: `${units}:` } });
    };
    const good = verify('');
    expect([good.status, good.stderr]).toEqual([0, '']);
    // A negative control: systemd-analyze does read the drop-ins (a second ExecStart is refused).
    expect(verify('[Service]\nExecStart=/usr/bin/true\n').status).not.toBe(0);
    // gobgpd parses both command lines, pointed at the synthesized file (-d: check the config, then exit).
    const config = path.join(checkout, 'dist', 'route-reflectors', 'rr1', 'gobgpd.toml');
    const lines = dropIn!.split('\n').filter((l) => /^ExecStart(Pre)?=\S/.test(l)).map((l) => l.replace(/^ExecStart(Pre)?=/, ''));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const [binary, ...args] = line.replace('/etc/gobgpd/gobgpd.toml', config).split(' ');
      const run = spawnSync(binary, [...args, '-d'], { encoding: 'utf8', timeout: 10_000 });
      expect([line, run.status]).toEqual([line, 0]);
    }
  });

  test('the ecmp-lb commands it runs are the CLI\'s, with options the CLI takes', () => {
    const usage = fs.readFileSync(path.join(ROOT, 'controller', 'src', 'cli.ts'), 'utf8').match(/const USAGE = `([\s\S]*?)`/)![1];
    const joined = DOC.replace(/\\\n\s*/g, ' ');
    const uses = [...joined.matchAll(/(?<![\w-])(init|controller|node-agent|reflector-agent)((?: --[\w-]+(?: [^\s-]\S*)?)+)/g)];
    expect(uses.map((u) => `${u[1]}${u[2]}`)).toEqual(['reflector-agent --config /etc/ecmp-lb/lb-pod-bindings.json --kubeconfig /etc/ecmp-lb/kubeconfig']);
    for (const [, command, args] of uses) {
      const line = usage.split('\n').find((l) => l.includes(`ecmp-lb ${command} `));
      expect([command, line !== undefined]).toEqual([command, true]);
      for (const flag of args.match(/--[\w-]+/g)!) expect([command, flag, line!.includes(`${flag} `) || line!.includes(`[${flag}`)]).toEqual([command, flag, true]);
    }
  });
});
