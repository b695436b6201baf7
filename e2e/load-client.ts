/**
 * A bounded HTTP load client, run inside the client namespace: `count` short requests, each on a
 * new TCP connection (a new flow for the router's ECMP hash), `concurrency` at a time, stopping
 * early after `maxSeconds`. The backends answer "<backend> <address the request came from>", and
 * in NAT mode that address is the LB's, so each answer names the LB and the backend that served it.
 *
 * usage: load-client.ts '{"url":"http://198.18.101.1/","count":1000,"concurrency":8,"maxSeconds":60,"out":"FILE"}'
 */
import * as fs from 'node:fs';
import * as http from 'node:http';

export interface LoadOptions {
  readonly url: string;
  readonly count: number;
  readonly concurrency: number;
  readonly maxSeconds: number;
  readonly out: string;
  /** Per-request timeout; a request slower than this counts as failed. */
  readonly timeoutMs?: number;
}

export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  readonly seconds: number;
  readonly byLb: Record<string, number>;
  readonly byBackend: Record<string, number>;
  readonly errors: Record<string, number>;
  /** When the first failures happened, in seconds since the start: ties them to a route change. */
  readonly errorTimes: number[];
}

function once(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function main(options: LoadOptions): Promise<void> {
  const counts = { ok: 0, failed: 0 };
  const byLb: Record<string, number> = {};
  const byBackend: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const errorTimes: number[] = [];
  const started = performance.now();
  const deadline = started + options.maxSeconds * 1000;
  let issued = 0;
  const worker = async () => {
    while (issued < options.count && performance.now() < deadline) {
      issued++;
      try {
        const [backend, lb] = (await once(options.url, options.timeoutMs ?? 3000)).split(' ');
        counts.ok++;
        byBackend[backend] = (byBackend[backend] ?? 0) + 1;
        byLb[lb] = (byLb[lb] ?? 0) + 1;
      } catch (err) {
        counts.failed++;
        const key = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        errors[key] = (errors[key] ?? 0) + 1;
        if (errorTimes.length < 50) errorTimes.push(Number(((performance.now() - started) / 1000).toFixed(2)));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const result: LoadResult = { ...counts, seconds: (performance.now() - started) / 1000, byLb, byBackend, errors, errorTimes };
  fs.writeFileSync(options.out, JSON.stringify(result));
}

void main(JSON.parse(process.argv[2]) as LoadOptions);
