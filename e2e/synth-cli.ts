/** Synthesizes the lab topology into a directory, for runs that start daemons elsewhere (the IPVS VM). usage: synth-cli.ts OUTDIR [frr|bird] */
import { RouterFlavour } from '../lib';
import { synthesize } from './lib/synth';

const [outdir, flavour = 'frr'] = process.argv.slice(2);
if (!outdir) throw new Error('usage: synth-cli.ts OUTDIR [frr|bird]');
synthesize(flavour === 'bird' ? RouterFlavour.BIRD : RouterFlavour.FRR, undefined, outdir);
