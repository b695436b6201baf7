#!/usr/bin/env node
// Writes the JSON half of an OCI image layout (image config, manifest, index.json, oci-layout) for
// layers already in LAYOUT/blobs/sha256, deterministically: fixed timestamps, fixed key order, no
// host data. scripts/build-images.sh calls it and tars the layout into an oci-archive.
//   node scripts/oci-image.mjs --layout DIR --ref NAME:TAG --arch amd64|arm64 --created EPOCH
//     --config images/NAME/config.json [--label KEY=VALUE ...] --layer 'DIGEST|DIFFID|SIZE|CREATED_BY' ...
// Prints {"digest": manifest digest, "config": config digest} on stdout.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const args = { label: [], layer: [] };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  const value = process.argv[i + 1];
  if (value === undefined) throw new Error(`${process.argv[i]} needs a value`);
  if (Array.isArray(args[key])) args[key].push(value); else args[key] = value;
}
for (const required of ['layout', 'ref', 'arch', 'created', 'config']) {
  if (!args[required]) throw new Error(`--${required} is required`);
}
if (args.layer.length === 0) throw new Error('at least one --layer is required');

const created = new Date(Number(args.created) * 1000).toISOString().replace('.000Z', 'Z');
const blobs = path.join(args.layout, 'blobs', 'sha256');
fs.mkdirSync(blobs, { recursive: true });

/** Writes a JSON blob; returns its descriptor fields. */
function writeBlob(value) {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = createHash('sha256').update(bytes).digest('hex');
  fs.writeFileSync(path.join(blobs, hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

const layers = args.layer.map((spec) => {
  const [digest, diffId, size, createdBy] = spec.split('|');
  const file = path.join(blobs, digest.replace('sha256:', ''));
  if (fs.statSync(file).size !== Number(size)) throw new Error(`layer ${digest}: size ${size} does not match ${file}`);
  return { digest, diffId, size: Number(size), createdBy };
});

const fragment = JSON.parse(fs.readFileSync(args.config, 'utf8'));
const labels = Object.fromEntries(args.label.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const platform = { architecture: args.arch, os: 'linux', ...(args.arch === 'arm64' ? { variant: 'v8' } : {}) };
const config = writeBlob({
  created,
  ...platform,
  config: { ...fragment, Labels: { ...(fragment.Labels ?? {}), ...labels } },
  rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  history: layers.map((l) => ({ created, created_by: l.createdBy })),
});
const annotations = { 'org.opencontainers.image.created': created, ...labels };
const manifest = writeBlob({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
  layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  annotations,
});
fs.writeFileSync(path.join(args.layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
fs.writeFileSync(path.join(args.layout, 'index.json'), JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...manifest,
    platform,
    // ref.name: the name skopeo, podman and umoci select the image by (oci-archive:FILE:NAME:TAG);
    // io.containerd.image.name: the name `ctr import` and `docker load` (Docker 25+) give it.
    annotations: { 'org.opencontainers.image.ref.name': args.ref, 'io.containerd.image.name': args.ref },
  }],
}));
process.stdout.write(`${JSON.stringify({ digest: manifest.digest, config: config.digest })}\n`);
