import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startGobgpd, stopGobgpd } from './gobgpd';
import { waitFor } from './wait';
import { announceFileText, announcerCommand } from '../../lib/lb-pod-contract';
import { renderAnnouncer } from '../../lib/renderers/announcer';
import { renderExabgp } from '../../lib/renderers/exabgp';

const PREFIX = '198.19.10.0/24';
const NEXT_HOP = '198.18.0.2';

/**
 * exabgp killed and started again, as the kubelet restarts the LB pod's exabgp container: the real
 * exabgp, its config and announcer as the pod renders them, peering on loopback with the real
 * gobgpd as the route reflector (passive, on a port of its own).
 */
test('exabgp SIGKILLed: the reflector loses the route; a new exabgp announces it again from the announce file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-exabgp-'));
  const bgpPort = 20_000 + (process.pid % 10_000);
  const apiPort = bgpPort + 10_000;
  const gobgpd = await startGobgpd(dir, [`127.0.0.1:${apiPort}`], `[global.config]
  as = 65000
  router-id = "127.0.0.1"
  port = ${bgpPort}
  local-address-list = ["127.0.0.1"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.2"
    peer-as = 65000
  [neighbors.transport.config]
    passive-mode = true
`);
  fs.writeFileSync(path.join(dir, 'announcer.py'), renderAnnouncer());
  fs.writeFileSync(path.join(dir, 'exabgp.conf'), renderExabgp({
    asn: 65000, routerId: '127.0.0.2', localAddress: '127.0.0.2', nextHop: NEXT_HOP, holdTimeSeconds: 9,
    neighbors: ['127.0.0.1'], prefixes: [PREFIX], announcerCommand: announcerCommand(dir, dir),
  }));
  // What the controller wrote, and keeps there while the LB can serve.
  fs.writeFileSync(path.join(dir, 'announce'), announceFileText([PREFIX], NEXT_HOP));
  const nextHops = () => {
    const rib = JSON.parse(execFileSync('gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), 'global', 'rib', '-a', 'ipv4', '-j'], { encoding: 'utf8' })) as
      Record<string, { attrs: { type: number; nexthop?: string }[] }[]>;
    return (rib[PREFIX] ?? []).flatMap((p) => p.attrs.filter((a) => a.nexthop).map((a) => a.nexthop!));
  };
  const startExabgp = (): ChildProcess => spawn('exabgp', [path.join(dir, 'exabgp.conf')], {
    env: { ...process.env, 'exabgp.daemon.user': 'root', 'exabgp.log.destination': 'stdout', 'exabgp.api.cli': 'false', 'exabgp.tcp.port': String(bgpPort) },
    stdio: 'ignore', detached: true, // its own process group: the kill takes the announcer too, as a container's end does
  });
  let exabgp = startExabgp();
  try {
    await waitFor('the route at the reflector', () => nextHops().join() === NEXT_HOP, 20_000);

    process.kill(-exabgp.pid!, 'SIGKILL');
    await waitFor('the route gone with the session', () => nextHops().length === 0, 10_000);

    const restartedAt = performance.now();
    exabgp = startExabgp();
    await waitFor('the route back', () => nextHops().join() === NEXT_HOP, 20_000);
    console.log(`exabgp restarted: the route back at the reflector after ${Math.round(performance.now() - restartedAt)} ms`);
  } finally {
    try { process.kill(-exabgp.pid!, 'SIGKILL'); } catch { /* already gone */ }
    await stopGobgpd(gobgpd.process);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
