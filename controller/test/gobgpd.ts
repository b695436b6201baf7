import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from './wait';

/** gobgpd's config for the tests: BGP port off, one LB pod neighbor set holding only the never-a-peer addresses. */
export const GOBGPD_TOML = `[global.config]
  as = 64512
  router-id = "198.18.0.1"
  port = -1

[[defined-sets.neighbor-sets]]
  neighbor-set-name = "lb-pods.shop.web1"
  neighbor-info-list = ["0.0.0.0/32", "::/128"]
`;

/** Starts the real gobgpd on `toml` in `dir`, its API on a unix socket there (and on `apiHosts`); resolves once the socket is up. */
export async function startGobgpd(dir: string, apiHosts: string[] = [], toml = GOBGPD_TOML): Promise<{ process: ChildProcess; socket: string }> {
  const socket = path.join(dir, 'api.sock');
  fs.rmSync(socket, { force: true });
  fs.writeFileSync(path.join(dir, 'gobgpd.toml'), toml);
  const gobgpd = spawn('gobgpd', ['-t', 'toml', '-f', path.join(dir, 'gobgpd.toml'), '--api-hosts', [`unix://${socket}`, ...apiHosts].join(','), '--pprof-disable'], { stdio: 'ignore' });
  await waitFor('gobgpd\'s API socket', () => fs.existsSync(socket), 10_000);
  return { process: gobgpd, socket };
}

/** Stops gobgpd and waits for it to be gone. */
export async function stopGobgpd(gobgpd: ChildProcess): Promise<void> {
  if (gobgpd.exitCode !== null || gobgpd.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => gobgpd.once('exit', () => resolve()));
  gobgpd.kill();
  await exited;
}
