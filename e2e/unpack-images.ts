/**
 * Unpacks the images of `npm run images` (build/images/manifest.json) for the pod runner, on the host
 * (fast) before the IPVS VM boots (it sees the host's files): build/pod-rootfs/<manifest digest>/rootfs,
 * cached per digest, and build/pod-rootfs/images.json listing them by reference.
 * usage: unpack-images.ts [MANIFEST_JSON] [OUT_DIR]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unpackImages } from './lib/oci-image';

const manifest = path.resolve(process.argv[2] ?? 'build/images/manifest.json');
const out = path.resolve(process.argv[3] ?? 'build/pod-rootfs');
const started = performance.now();
const images = unpackImages(manifest, out);
fs.writeFileSync(path.join(out, 'images.json'), JSON.stringify(images, null, 2));
// Images no longer in the manifest (rebuilt): their unpacked trees go.
const keep = new Set(images.map((i) => i.digest.replace(':', '-')));
for (const dir of fs.readdirSync(out)) if (dir.startsWith('sha256-') && !keep.has(dir)) fs.rmSync(path.join(out, dir), { recursive: true, force: true });
for (const image of images) console.log(`# ${image.reference} ${image.digest.slice(0, 19)} -> ${image.rootfs}`);
console.log(`# unpacked ${images.length} images in ${((performance.now() - started) / 1000).toFixed(1)} s`);
