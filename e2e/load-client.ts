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
  /** Written when the client runs, so that a trial times its fault from the first request, not from the spawn. */
  readonly startedFile: string;
  /** Per-request timeout; a request slower than this counts as failed. @default 3000 */
  readonly timeoutMs?: number;
  /**
   * Long-lived flows instead: each worker keeps one keep-alive connection (a new one only after a
   * failure) and pauses `pauseMs` between requests. A flow that ECMP moves to another LB mid-life
   * keeps working only if that LB forwards it to the same backend (DR/TUN with `mh`).
   */
  readonly keepAlive?: boolean;
  readonly pauseMs?: number;
  /**
   * Keep-alive mode: the client ends each connection itself after this many requests (the last one
   * says `Connection: close`) and opens the next, as real clients' connections have lifetimes.
   * Unset: a connection lives as long as the load.
   */
  readonly requestsPerConnection?: number;
  /**
   * Open loop instead of workers: a new request every `paceMs` whatever those in flight do (at
   * most `concurrency` in flight), so requests sent after a fault show what the network does then,
   * not how long the requests in flight take to time out.
   */
  readonly paceMs?: number;
  /** Keep every request in `timeline`: when it was sent, how long it took, its answer or error. */
  readonly timeline?: boolean;
}

/** One request of a timeline: sent `sent` ms after the start (LoadResult.startedAt), done `ms` later. */
export interface TimelineEntry {
  readonly sent: number;
  readonly ms: number;
  readonly answer?: string;
  readonly error?: string;
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
  /** The first failures' wall-clock times (ISO), local ports (the flow's 4-tuple with the VIP) and errors: to find them in a capture. */
  readonly errorFlows: { at: string; port: number; error: string }[];
  /** Requests answered in each second since the start (index = second). */
  readonly okPerSecond: number[];
  /** The client's local ports of the connections that answered (keep-alive mode): names its flows in IPVS's connection table. */
  readonly ports?: number[];
  /** Answered requests slower than 1 s (a retransmission or a stall, not a failure), when the first of them were sent, and the slowest answer. */
  readonly slow: number;
  readonly slowTimes: number[];
  readonly maxMs: number;
  /** With `timeline`: the start (epoch ms, performance.timeOrigin + performance.now()) and every request. */
  readonly startedAt?: number;
  readonly timeline?: TimelineEntry[];
}

/** One request, on a new connection (no agent) or on the agent's keep-alive connection (`last`: its last); resolves with the body and the local port. */
function once(url: string, timeoutMs: number, agent?: http.Agent, last = false): Promise<{ body: string; port: number }> {
  return new Promise((resolve, reject) => {
    let localPort = 0;
    const fail = (err: Error) => reject(Object.assign(err, { localPort }));
    const req = http.get(url, { agent: agent ?? false, headers: agent && !last ? {} : { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      const port = res.socket.localPort ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => (res.statusCode === 200 ? resolve({ body: body.trim(), port }) : fail(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', fail);
    });
    req.on('socket', (socket) => {
      localPort = socket.localPort ?? 0;
      socket.once('connect', () => { localPort = socket.localPort ?? localPort; });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
  });
}

async function main(options: LoadOptions): Promise<void> {
  const counts = { ok: 0, failed: 0 };
  const byLb: Record<string, number> = {};
  const byBackend: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const errorTimes: number[] = [];
  const errorFlows: { at: string; port: number; error: string }[] = [];
  const okPerSecond: number[] = [];
  const ports = new Set<number>();
  let slow = 0;
  const slowTimes: number[] = [];
  let maxMs = 0;
  fs.writeFileSync(options.startedFile, '');
  const started = performance.now();
  let deadline = started + options.maxSeconds * 1000;
  // SIGTERM ends the load early: no new request, those in flight finish, the result is written.
  process.once('SIGTERM', () => { deadline = 0; });
  let issued = 0;
  const timeline: TimelineEntry[] = [];
  /** One request, counted; true when it was answered. */
  const request = async (agent: http.Agent | undefined, last: boolean): Promise<boolean> => {
    const sent = performance.now();
    try {
      const answer = await once(options.url, options.timeoutMs ?? 3000, agent, last);
      const ms = performance.now() - sent;
      if (ms > 1000 && slow++ < 50) slowTimes.push(Number(((sent - started) / 1000).toFixed(2)));
      maxMs = Math.max(maxMs, ms);
      const [backend, lb] = answer.body.split(' ');
      counts.ok++;
      byBackend[backend] = (byBackend[backend] ?? 0) + 1;
      byLb[lb] = (byLb[lb] ?? 0) + 1;
      const second = Math.floor((performance.now() - started) / 1000);
      okPerSecond[second] = (okPerSecond[second] ?? 0) + 1;
      if (agent) ports.add(answer.port);
      if (options.timeline) timeline.push({ sent: sent - started, ms, answer: answer.body });
      return true;
    } catch (err) {
      counts.failed++;
      const key = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      errors[key] = (errors[key] ?? 0) + 1;
      if (errorTimes.length < 50) {
        errorTimes.push(Number(((performance.now() - started) / 1000).toFixed(2)));
        errorFlows.push({ at: new Date().toISOString(), port: (err as { localPort?: number }).localPort ?? 0, error: key });
      }
      if (options.timeline) timeline.push({ sent: sent - started, ms: performance.now() - sent, error: key });
      return false;
    }
  };
  const worker = async () => {
    const agent = options.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
    let onConnection = 0;
    while (issued < options.count && performance.now() < deadline) {
      issued++;
      onConnection++;
      const last = onConnection === options.requestsPerConnection;
      if (last) onConnection = 0;
      if (await request(agent, last) && options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
    agent?.destroy();
  };
  const paced = async (paceMs: number) => {
    const inFlight = new Set<Promise<boolean>>();
    while (issued < options.count && performance.now() < deadline) {
      const due = started + issued * paceMs - performance.now();
      if (due > 0) await new Promise((r) => setTimeout(r, due));
      while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
      if (performance.now() >= deadline) break;
      issued++;
      const one: Promise<boolean> = request(undefined, true).finally(() => inFlight.delete(one));
      inFlight.add(one);
    }
    await Promise.all(inFlight);
  };
  if (options.paceMs) await paced(options.paceMs);
  else await Promise.all(Array.from({ length: options.concurrency }, worker));
  const result: LoadResult = {
    ...counts, seconds: (performance.now() - started) / 1000, byLb, byBackend, errors, errorTimes, errorFlows,
    okPerSecond: Array.from(okPerSecond, (n) => n ?? 0), slow, slowTimes, maxMs: Math.round(maxMs),
    ...(options.keepAlive ? { ports: [...ports] } : {}),
    ...(options.timeline ? { startedAt: performance.timeOrigin + started, timeline } : {}),
  };
  fs.writeFileSync(options.out, JSON.stringify(result));
}

void main(JSON.parse(process.argv[2]) as LoadOptions);
