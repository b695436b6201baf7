import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';

/**
 * The API server as a pod sees it: HTTPS with a certificate the projected `ca.crt` verifies, and a
 * bearer token required on every request, in front of the plain-HTTP ApiServerDouble. Counts who
 * came with the right token, so a test can tell the pod used its projected service-account token.
 */
export interface ApiFront {
  readonly caCert: string;
  readonly token: string;
  /** Requests with the right bearer token, by client address. */
  readonly authorized: Map<string, number>;
  /** Requests without it (answered 401). */
  unauthorized: number;
  stop(): Promise<void>;
}

export async function startApiFront(
  dir: string,
  listen: { host: string; port: number },
  upstream: { host: string; port: number },
): Promise<ApiFront> {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'apiserver.key');
  const cert = path.join(dir, 'apiserver.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=kube-apiserver', '-addext', `subjectAltName=IP:${listen.host},DNS:kubernetes.default.svc`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const token = `pod-runner-fake-token-${Math.random().toString(36).slice(2)}`;
  const front: ApiFront = {
    caCert: fs.readFileSync(cert, 'utf8'), token, authorized: new Map(), unauthorized: 0,
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
    const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (req.headers.authorization !== `Bearer ${token}`) {
      front.unauthorized++;
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 }));
      return;
    }
    front.authorized.set(client, (front.authorized.get(client) ?? 0) + 1);
    const up = http.request({ host: upstream.host, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      // As the API server does: a watch's headers go out at once, not with its first event (a client's
      // watch() resolves on them; held back, an agent's start waited for the next change).
      res.flushHeaders();
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(listen.port, listen.host, resolve); });
  return front;
}
