/** Synthesizes the in-cluster reflector topology (e2e/lib/synth.ts synthesizeInCluster) into a directory, for the pod runner's run in the IPVS VM. usage: synth-in-cluster-cli.ts OUTDIR */
import { synthesizeInCluster } from './lib/synth';

const [outdir] = process.argv.slice(2);
if (!outdir) throw new Error('usage: synth-in-cluster-cli.ts OUTDIR');
synthesizeInCluster(outdir);
