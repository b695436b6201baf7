/** Synthesizes the IPVS VM's topology (the paper's plus a TUN service) into a directory, for runs that start daemons elsewhere (the IPVS VM). usage: synth-cli.ts OUTDIR [frr|bird] */
import { RouterFlavour } from '../lib';
import { synthesize, VM_SERVICES } from './lib/synth';

const [outdir, flavour = 'frr'] = process.argv.slice(2);
if (!outdir) throw new Error('usage: synth-cli.ts OUTDIR [frr|bird]');
synthesize(flavour === 'bird' ? RouterFlavour.BIRD : RouterFlavour.FRR, VM_SERVICES, outdir);
