/**
 * One BFD session of ours for the interop test, run in a network namespace (`ip netns exec`):
 * prints each state change as a JSON line; SIGTERM closes it (AdminDown to the peer).
 * usage: bfd-peer.ts LOCAL_ADDRESS PEER_ADDRESS INTERVAL_MS MULTIPLIER
 */
import { BfdEndpoint, BfdState } from '../../src/bfd';

const [local, peer, interval, multiplier] = process.argv.slice(2);
void BfdEndpoint.open(local, (from, state, diagnostic) => {
  process.stdout.write(`${JSON.stringify({ at: performance.now(), peer: from, state: BfdState[state], diagnostic })}\n`);
}).then((endpoint) => {
  endpoint.add(peer, { minTxMs: Number(interval), minRxMs: Number(interval), multiplier: Number(multiplier) });
  process.on('SIGTERM', () => { endpoint.close(); setTimeout(() => process.exit(0), 50); });
});
