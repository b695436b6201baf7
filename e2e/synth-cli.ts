/**
 * Synthesizes the IPVS VM's topology (the paper's plus a TUN service) into a directory, for runs that
 * start daemons elsewhere (the IPVS VM). `bird-resilient`: a BIRD router with resilient hashing (a
 * 1 s idle timer, never forced), as the data plane's join scenario runs it.
 * usage: synth-cli.ts OUTDIR [frr|bird|bird-resilient]
 */
import { RouterDaemon } from '../lib';
import { synthesize, VM_SERVICES } from './lib/synth';

const [outdir, daemon = 'frr'] = process.argv.slice(2);
if (!outdir || !['frr', 'bird', 'bird-resilient'].includes(daemon)) throw new Error('usage: synth-cli.ts OUTDIR [frr|bird|bird-resilient]');
const resilient = daemon === 'bird-resilient' ? { resilientHashing: true, resilientIdleTimer: 1, resilientUnbalancedTimer: 0 } : {};
synthesize(daemon === 'frr' ? RouterDaemon.FRR : RouterDaemon.BIRD, VM_SERVICES, outdir, resilient);
