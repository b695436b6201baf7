import * as net from 'node:net';

/** The claim of one route protocol number on a node, released when the agent stops. */
export interface NodeClaim {
  release(): Promise<void>;
}

export interface NodeClaimOptions {
  /** The claim's name; agents that would fight over one set of routes use the same. */
  readonly name: string;
  /** Who holds it, as another agent's error will print it (`namespace/pod`). */
  readonly holder: string;
  /** How long to wait for a holder to go: a replaced agent's pod may still be terminating. */
  readonly waitMs: number;
  readonly retryMs?: number;
}

/**
 * Claims a name on this node through an abstract unix socket. Abstract sockets belong to the network
 * namespace, and the node agent runs in the node's, so two agents on one node (two apps in one
 * cluster) cannot both hold it, whatever their Kubernetes namespaces; the kernel drops the claim
 * when the process dies, so a crashed agent leaves nothing stale. The holder answers each connection
 * with its name, so the refused agent can say whom it collides with.
 */
export async function claimNode(options: NodeClaimOptions): Promise<NodeClaim> {
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    const server = net.createServer((socket) => socket.end(options.holder));
    const listening = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen({ path: `\0${options.name}` }, () => resolve(undefined));
    });
    if (!listening) {
      return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    }
    if (listening.code !== 'EADDRINUSE') throw listening;
    if (Date.now() >= deadline) {
      const holder = await askHolder(options.name);
      throw new Error(`another ecmp-lb node agent (${holder}) holds ${options.name} on this node, and two agents would each remove the other's routes as stale. Fix: install one node agent per cluster: compose every topology of the cluster in one cdk8s app, or remove the other app's DaemonSet ecmp-lb-node-agent`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 1000));
  }
}

function askHolder(name: string): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect({ path: `\0${name}` });
    socket.setEncoding('utf8');
    socket.setTimeout(2000, () => socket.destroy());
    socket.on('data', (chunk) => { answer += chunk; });
    socket.on('close', () => resolve(answer || 'unknown holder'));
    socket.on('error', () => undefined);
  });
}
