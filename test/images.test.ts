import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ReflectorPlacement } from '../lib';
import { synthToDisk, testTopology } from './support/topology';

// The image recipe (scripts/build-images.sh, images/) without building it: `npm run images` does that.

const ROOT = path.join(__dirname, '..');
const IMAGES = ['lb', 'exabgp', 'gobgpd'];

/** images/versions.lock's deb: lines: NAME or NAME:ARCH -> version. */
function debianPins(): Map<string, string> {
  const pins = new Map<string, string>();
  for (const line of fs.readFileSync(path.join(ROOT, 'images/versions.lock'), 'utf8').split('\n')) {
    const match = /^deb:([^=]+)=(.+)$/.exec(line);
    if (!match) continue;
    if (pins.has(match[1])) throw new Error(`images/versions.lock pins ${match[1]} twice`);
    pins.set(match[1], match[2]);
  }
  return pins;
}

function packagesOf(image: string): string[] {
  return fs.readFileSync(path.join(ROOT, 'images', image, 'packages'), 'utf8').split('\n')
    .map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'));
}

test('every package an image installs is pinned in images/versions.lock, and every pin is used', () => {
  const pins = debianPins();
  const named = new Set(IMAGES.flatMap(packagesOf));
  expect([...named].filter(p => !pins.has(p))).toEqual([]);
  expect([...pins.keys()].filter(key => !named.has(key.split(':')[0]))).toEqual([]);
  for (const [key, version] of pins) {
    const [name, arch] = key.split(':');
    if (arch !== undefined) expect(['amd64', 'arm64']).toContain(arch);
    // Debian's version syntax: [epoch:]upstream[-revision], starting with a digit.
    expect(`${name}=${version}`).toMatch(/^[a-z0-9][a-z0-9+.-]*=(\d+:)?\d[A-Za-z0-9.+~:-]*$/);
  }
});

test('the images the constructs name by default are the ones scripts/build-images.sh builds and tags', () => {
  const built = execFileSync('bash', ['scripts/build-images.sh', '--print-references'], { cwd: ROOT, encoding: 'utf8' })
    .trim().split('\n').map(line => line.split(' '));
  expect(built.map(([name]) => name)).toEqual(IMAGES);
  // Every pod kind: LB pods, the node agent, an in-cluster gobgpd reflector with its agent.
  const { app } = testTopology({
    topology: { routeReflectors: [{ name: 'rr1', address: '198.18.0.21', placement: ReflectorPlacement.inCluster({ nodeName: 'n21' }) }] },
  });
  const { manifests } = synthToDisk(app);
  const images = new Set<string>(manifests.flatMap(m => {
    const pod = m.spec?.template?.spec;
    return pod ? [...(pod.initContainers ?? []), ...pod.containers].map((c: any) => c.image) : [];
  }).filter((image: string) => image.startsWith('cdk8s-ecmp-lb/')));
  expect([...images].sort()).toEqual(built.map(([, reference]) => reference).sort());
});

test('each image config names its program by absolute path and runs exabgp and gobgpd as nobody', () => {
  const config = (image: string) => JSON.parse(fs.readFileSync(path.join(ROOT, 'images', image, 'config.json'), 'utf8'));
  for (const image of IMAGES) {
    expect(config(image).Entrypoint[0]).toMatch(/^\//);
    expect(config(image).Env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  }
  expect(config('exabgp').User).toBe('65534:65534');
  expect(config('gobgpd').User).toBe('65534:65534');
  expect(config('lb').User).toBeUndefined();
});
