import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The parts of an OCI image config (`config` of application/vnd.oci.image.config.v1+json) a runtime uses. */
export interface ImageConfig {
  readonly Entrypoint?: string[] | null;
  readonly Cmd?: string[] | null;
  readonly Env?: string[] | null;
  readonly User?: string;
  readonly WorkingDir?: string;
  readonly StopSignal?: string;
}

/** An image unpacked for the pod runner: its root filesystem and its config. */
export interface UnpackedImage {
  readonly reference: string;
  /** Digest of the image manifest. */
  readonly digest: string;
  readonly rootfs: string;
  readonly config: ImageConfig;
}

/** One entry of `build/images/manifest.json` (written by `npm run images`). */
export interface ImageManifestEntry {
  readonly name: string;
  readonly reference: string;
  /** The OCI archive, relative to the manifest's directory (or absolute). */
  readonly archive: string;
  readonly digest?: string;
  readonly size?: number;
}

const INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const REF_NAME = 'org.opencontainers.image.ref.name';

const blob = (layout: string, digest: string) => JSON.parse(fs.readFileSync(path.join(layout, 'blobs', ...digest.split(':')), 'utf8'));

/**
 * Unpacks one OCI image archive (`oci-archive`: an OCI image layout in a tar) the way a container
 * runtime's snapshotter does: index.json -> the linux/amd64 manifest -> its layers applied in order,
 * whiteouts included (umoci does the layer work), and its config. The result is cached under
 * `cacheDir/<manifest digest>`, so an unchanged image is unpacked once.
 */
export function unpackImage(archive: string, reference: string, cacheDir: string): UnpackedImage {
  const work = fs.mkdtempSync(path.join(cacheDir, '.layout-'));
  try {
    execFileSync('tar', ['-C', work, '-xf', archive], { stdio: ['ignore', 'pipe', 'pipe'] });
    const index = JSON.parse(fs.readFileSync(path.join(work, 'index.json'), 'utf8'));
    let descriptor = index.manifests?.find((m: any) => m.annotations?.[REF_NAME] === reference || m.annotations?.[REF_NAME] === reference.split(':').pop())
      ?? index.manifests?.[0];
    if (!descriptor) throw new Error(`${archive}: index.json lists no manifest`);
    if (descriptor.mediaType === INDEX || descriptor.mediaType === DOCKER_LIST) {
      const nested = blob(work, descriptor.digest);
      descriptor = nested.manifests.find((m: any) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64') ?? nested.manifests[0];
    }
    const digest: string = descriptor.digest;
    const manifest = blob(work, digest);
    const config = (blob(work, manifest.config.digest).config ?? {}) as ImageConfig;
    const dir = path.join(cacheDir, digest.replace(':', '-'));
    const rootfs = path.join(dir, 'rootfs');
    if (!fs.existsSync(path.join(dir, 'done'))) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      // umoci picks a manifest by tag: give the chosen one a tag of our own in the extracted copy.
      fs.writeFileSync(path.join(work, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...descriptor, annotations: { [REF_NAME]: 'pod-runner' } }] }));
      execFileSync('umoci', ['raw', 'unpack', '--image', `${work}:pod-runner`, rootfs], { stdio: ['ignore', 'pipe', 'pipe'] });
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
      fs.writeFileSync(path.join(dir, 'done'), `${reference}\n`);
    }
    return { reference, digest, rootfs, config };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Unpacks every image of a `manifest.json` (from `npm run images`); returns them by reference. */
export function unpackImages(manifestFile: string, cacheDir: string): UnpackedImage[] {
  fs.mkdirSync(cacheDir, { recursive: true });
  const parsed = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  const entries = (Array.isArray(parsed) ? parsed : parsed.images ?? Object.values(parsed)) as ImageManifestEntry[];
  return entries.map((entry) => unpackImage(path.resolve(path.dirname(manifestFile), entry.archive), entry.reference, cacheDir));
}
