import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { addPod, deletePod, nodeIp, nodeNs, reflectorNs, ROUTER_NS } from './lab';
import { lbPodTemplate, PodCluster, podRunner, upsertPodObject } from './lb-pod-images';
import { nodeEntry } from './load';
import { PodRunner } from './pod-runner';
import { Daemon, ProcessSet, probe, run, waitFor } from './proc';
import { Synthesized, SynthesizedService } from './synthesized';
import { writeFileAtomic } from '../../controller/src/atomic-file';
import { dnsResolver, Resolver, runInit } from '../../controller/src/init';
import { silentLogger } from '../../controller/src/log';
import { netnsCommands } from '../../controller/src/netns';
import { DEFAULT_ROUTE_PROTO, desiredRoutes, parseIpRouteJson, routeCommands } from '../../controller/src/node-routes';
import { ApiServerDouble } from '../../controller/test/apiserver-double';
import {
  announceFileText, LB_POD_COMMANDS, LB_POD_FILES, lbPodArgs, lbPodSysctls, podEnvironmentVariables,
} from '../../lib/lb-pod-contract';
import { RouterDaemon } from '../../lib/model';

/** exabgp as the LB pod's container runs it, logging to stdout (the harness's log file). */
const EXABGP_ENV = { 'exabgp.daemon.user': 'root', 'exabgp.log.destination': 'stdout', 'exabgp.api.cli': 'false' };

/** The FRR router's sockets and pid files (`vtysh --vty_socket`). */
export const FRR_RUN_DIR = path.join(os.tmpdir(), 'ecmp-e2e-frr');

/** The BIRD router's control socket and pid file. */
export const BIRD_RUN_DIR = path.join(os.tmpdir(), 'ecmp-e2e-bird');

/** Where a router runs: its namespace and its synthesized directory (`routers/<name>/`). */
export interface RouterPlace {
  readonly ns: string;
  readonly configDir: string;
}

/**
 * FRR's zebra + bgpd from the generated `frr.conf` and `daemons`, or BIRD from `bird.conf`; kernel
 * settings from `99-ecmp-router.conf`. `at`: the lab's router (`routers/router/` in ROUTER_NS) unless
 * said (a second router: one of each daemon, since each has one run directory). Returns its processes.
 */
export async function startRouter(procs: ProcessSet, synth: Synthesized, daemon: RouterDaemon,
  at: RouterPlace = { ns: ROUTER_NS, configDir: synth.routerDir }): Promise<Daemon[]> {
  const { ns, configDir } = at;
  run(ns, ['sysctl', '-q', '-p', path.join(configDir, '99-ecmp-router.conf')]);
  if (daemon === RouterDaemon.BIRD) {
    // The control socket needs a local file system: in the VM the work directory is a shared folder.
    const dir = BIRD_RUN_DIR;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    return [procs.start('router-bird', ns, ['bird', '-f', '-c', path.join(configDir, 'bird.conf'), '-s', path.join(dir, 'bird.ctl'), '-P', path.join(dir, 'bird.pid')])];
  }
  // FRR refuses to run as root; each instance needs its own sockets and pid files (lab facts),
  // in a directory owned by frr on a local file system (the VM's shared folders ignore chown).
  const dir = FRR_RUN_DIR;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  run(undefined, ['chown', 'frr:frr', dir]);
  const options = frrDaemonOptions(fs.readFileSync(path.join(configDir, 'daemons'), 'utf8'));
  const common = ['-u', 'frr', '-g', 'frr', '-z', path.join(dir, 'zserv.api'), '--vty_socket', dir, '-P', '0', '-f', '/dev/null'];
  const started = [procs.start('router-zebra', ns, ['/usr/lib/frr/zebra', ...options.get('zebra')!, ...common, '-i', path.join(dir, 'zebra.pid')])];
  if (!(await waitFor(() => fs.existsSync(path.join(dir, 'zserv.api')), Boolean, 20_000)).ok) throw new Error('zebra did not start');
  for (const frrDaemon of [...options.keys()].filter((d) => d !== 'zebra')) {
    started.push(procs.start(`router-${frrDaemon}`, ns, [`/usr/lib/frr/${frrDaemon}`, ...options.get(frrDaemon)!, ...common, '-i', path.join(dir, `${frrDaemon}.pid`)]));
    if (!(await waitFor(() => fs.existsSync(path.join(dir, `${frrDaemon}.vty`)), Boolean, 20_000)).ok) throw new Error(`${frrDaemon} did not start`);
  }
  // The integrated config, applied the way `vtysh -b` applies /etc/frr/frr.conf at boot.
  run(ns, ['vtysh', '--vty_socket', dir, '-f', path.join(configDir, 'frr.conf')]);
  return started;
}

/**
 * The AS paths of the router's BGP paths for `prefix`, from the daemon's own CLI: empty for an
 * iBGP path (same AS), the reflectors' AS for an eBGP one. One entry per path the router holds.
 * `ns`: the router's namespace.
 */
export function routerAsPaths(daemon: RouterDaemon, prefix: string, ns = ROUTER_NS): string[] {
  if (daemon === RouterDaemon.BIRD) {
    const out = probe(ns, ['birdc', '-s', path.join(BIRD_RUN_DIR, 'bird.ctl'), 'show', 'route', 'for', prefix, 'all']);
    return [...out.matchAll(/BGP\.as_path:(.*)/g)].map((m) => m[1].trim());
  }
  const out = probe(ns, ['vtysh', '--vty_socket', FRR_RUN_DIR, '-c', `show bgp ipv4 unicast ${prefix} json`]);
  const paths = (JSON.parse(out || '{}').paths ?? []) as { aspath?: { string?: string } }[];
  return paths.map((p) => (p.aspath?.string ?? '').replace(/^Local$/, ''));
}

/** Enabled daemons (zebra always) and their options, from FRR's `daemons` file. */
export function frrDaemonOptions(text: string): Map<string, string[]> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)=(?:"([^"]*)"|(\S*))/.exec(line.trim());
    if (m) vars.set(m[1], m[2] ?? m[3]);
  }
  const daemons = ['zebra', ...[...vars].filter(([k, v]) => v === 'yes' && !k.includes('_') && k !== 'zebra').map(([k]) => k)];
  return new Map(daemons.map((d) => [d, (vars.get(`${d}_options`) ?? '').split(/\s+/).filter(Boolean)]));
}

/** The lab's Kubernetes API (a double) and how to run the `ecmp-lb` CLI against it. */
export interface ClusterApi {
  readonly api: ApiServerDouble;
  readonly kubeconfig: string;
  readonly cli: string[];
  /**
   * The double on loopback, reached from inside a namespace (startClusterApi): a unix socket that
   * leads to it, and its port. A forwarder in the namespace listens on that port of the
   * namespace's own loopback and leads to the socket (a unix socket belongs to no network
   * namespace), so the kubeconfig works there unchanged.
   */
  readonly fromNamespaces?: { readonly socket: string; readonly port: number };
}

/** The `ecmp-lb` CLI from source, for harnesses that run on this host under ts-node. */
export const SOURCE_CLI = [process.execPath, '-r', 'ts-node/register/transpile-only', path.resolve(__dirname, '../../controller/src/cli.ts')];

/** An API server double on loopback, stopped at teardown, with a kubeconfig for it, reachable from the lab's namespaces too (`fromNamespaces`). */
export async function startClusterApi(ctx: { workDir: string; onTeardown(undo: () => unknown): void }, cli: string[]): Promise<ClusterApi> {
  const api = new ApiServerDouble();
  await api.start();
  ctx.onTeardown(() => api.stop());
  const kubeconfig = path.join(ctx.workDir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  const port = Number(new URL(api.url).port);
  // Not in workDir: in the IPVS VM that is a 9p mount, where no unix socket can be bound.
  const socket = path.join(os.tmpdir(), `ecmp-e2e-api-${process.pid}.sock`);
  fs.rmSync(socket, { force: true });
  const connections = new Set<net.Socket>();
  const front = net.createServer((conn) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [conn, upstream]) {
      connections.add(s);
      s.on('close', () => connections.delete(s));
      s.on('error', () => { conn.destroy(); upstream.destroy(); });
    }
    conn.pipe(upstream).pipe(conn);
  });
  await new Promise<void>((resolve, reject) => { front.once('error', reject); front.listen(socket, resolve); });
  ctx.onTeardown(() => {
    front.close();
    for (const conn of connections) conn.destroy();
    fs.rmSync(socket, { force: true });
  });
  return { api, kubeconfig, cli, fromNamespaces: { socket, port } };
}

/** The forwarder from a namespace's loopback port to a unix socket (ClusterApi.fromNamespaces), as one `node -e`. */
const LOOPBACK_TO_UNIX = `const net = require('net'); const [port, socket] = process.argv.slice(1);
net.createServer((c) => { const u = net.connect(socket); c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(Number(port), '127.0.0.1');`;

/**
 * gobgpd from each generated `gobgpd.toml`, one namespace per reflector, each with its reflector
 * agent (`ecmp-lb reflector-agent` from the generated `lb-pod-bindings.json`), which binds the
 * services' prefixes to the LB pods the API lists, and runs BFD with them where the topology has
 * it (the file's `bfd`). The agent runs in the reflector's namespace as on a reflector box,
 * reaching gobgpd on loopback and sending BFD from the reflector's address. It reaches the API
 * double on the lab's LAN (`apiOnLan`: the VM's), or else on the host's loopback through a
 * forwarder in the namespace (`cluster.fromNamespaces`). Returns gobgpd by name.
 */
export function startReflectors(procs: ProcessSet, synth: Synthesized, cluster: ClusterApi, apiOnLan = false): Map<string, Daemon> {
  return new Map([...synth.reflectorDirs].map(([name, dir]) => {
    const ns = reflectorNs(name);
    const gobgpd = procs.start(`reflector-${name}`, ns, ['gobgpd', '-f', path.join(dir, 'gobgpd.toml'), '-t', 'toml', '--api-hosts', '127.0.0.1:50051', '--pprof-disable', '-p']);
    if (!apiOnLan) startApiForwarder(procs, cluster, ns, `reflector-api-forward-${name}`);
    procs.start(`reflector-agent-${name}`, ns, [...cluster.cli, 'reflector-agent', '--config', path.join(dir, 'lb-pod-bindings.json'), '--kubeconfig', cluster.kubeconfig]);
    return [name, gobgpd];
  }));
}

/** Makes the API double (on the host's loopback) reachable at the kubeconfig's address from inside `ns` (ClusterApi.fromNamespaces). */
export function startApiForwarder(procs: ProcessSet, cluster: ClusterApi, ns: string, name: string): Daemon {
  if (!cluster.fromNamespaces) throw new Error('the API double is neither on the lab LAN nor reachable from the namespaces (startClusterApi)');
  const { port, socket } = cluster.fromNamespaces;
  return procs.start(name, ns, [process.execPath, '-e', LOOPBACK_TO_UNIX, String(port), socket]);
}

/** How the LB pod decides what to announce. */
export type AnnounceMode =
  /** The harness writes the announce file the way the controller does while backends are healthy (no IPVS needed). */
  | { kind: 'announce-file' }
  /** The real controller (`ecmp-lb controller`) runs in the pod with keepalived/IPVS, fed by an API server. */
  | { kind: 'controller'; cli: string[]; kubeconfig: string }
  /**
   * The LB Deployment's pod template exactly as synthesized, run from the built images by the pod
   * runner (crun): its init container renders the config, the controller reaches the API in-cluster
   * (the HTTPS front, the projected token), exabgp runs in its own container. Drain is the pod's stop.
   */
  | { kind: 'pod'; cluster: PodCluster };

export interface LbPod {
  readonly service: SynthesizedService;
  readonly node: number;
  readonly ns: string;
  readonly podIp: string;
  /** The announce file's directory (host-process modes). */
  readonly runDir: string;
  /** exabgp as a host process (host-process modes). */
  readonly exabgp?: Daemon;
  readonly controller?: Daemon;
  /** The pod's runner (pod mode). */
  readonly runner?: PodRunner;
  /** announce-file mode with reflectors that run BFD: the controller's BFD sessions, on their own (e2e/lb-bfd-speaker.ts). */
  readonly bfd?: Daemon;
}

/** LB pods of the synthesized services, one per (service, node), and the node agent's routes for them. */
export class LbPods {
  readonly live = new Set<LbPod>();

  /** `resolve`: how the init step finds the reflectors (cluster DNS for in-cluster reflectors' Service names). */
  constructor(
    private readonly procs: ProcessSet,
    private readonly workDir: string,
    private readonly mode: AnnounceMode,
    private readonly api: ApiServerDouble,
    private readonly resolve: Resolver = dnsResolver(4),
  ) {}

  /** Starts one LB pod: the init step's rendering, the pod's namespace setup, its announcer, exabgp, then the node route. */
  async start(service: SynthesizedService, node: number, slot: number): Promise<LbPod> {
    const { model } = service;
    const ns = `${nodeNs(node)}-${model.name}`;
    const podIp = addPod(ns, node, slot);
    if (this.mode.kind === 'pod') return this.startPod(service, node, ns, podIp);
    const dir = path.join(this.workDir, 'pods', ns);
    const etcDir = path.join(dir, 'etc');
    const runDir = path.join(dir, 'run');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(etcDir, { recursive: true });
    fs.mkdirSync(runDir, { recursive: true });
    for (const [file, text] of Object.entries(service.configFiles)) fs.writeFileSync(path.join(etcDir, file), text);
    const identity = { podIp, nodeIp: nodeIp(node), podName: ns, podNamespace: model.namespace };
    // The pod as the API lists it once it has an IP, before its containers start.
    this.api.upsert(`/api/v1/namespaces/${model.namespace}/pods`, {
      kind: 'Pod', apiVersion: 'v1',
      metadata: { name: ns, namespace: model.namespace, labels: service.podLabels, annotations: service.podAnnotations },
      status: { phase: 'Running', podIP: podIp, podIPs: [{ ip: podIp }] },
    });
    await runInit(model, identity, etcDir, runDir, this.resolve, silentLogger);

    let controller: Daemon | undefined;
    if (this.mode.kind === 'announce-file') {
      for (const command of netnsCommands(model, podIp)) run(ns, [command.file, ...command.args], { input: command.input });
      writeFileAtomic(path.join(runDir, LB_POD_FILES.announce), announceFileText(model.prefixes, identity.nodeIp, model.routeAttributes));
    } else {
      // The pod spec's securityContext.sysctls.
      run(ns, ['sysctl', '-qw', ...Object.entries(lbPodSysctls(model)).map(([k, v]) => `${k}=${v}`)]);
      const args = lbPodArgs({ configFile: path.join(etcDir, LB_POD_FILES.model), runDir, kubeconfig: this.mode.kubeconfig });
      controller = this.procs.start(`${ns}-controller`, ns, [...this.mode.cli, LB_POD_COMMANDS.controller, ...args], podEnvironmentVariables(identity));
    }
    const exabgp = this.procs.start(`${ns}-exabgp`, ns, ['exabgp', path.join(runDir, LB_POD_FILES.exabgpConfig)], EXABGP_ENV);
    // The controller runs the pod's BFD sessions; where the harness plays the controller, the same code runs alone,
    // told what the lab's cluster DNS answers for an in-cluster reflector's Service name (NAME=ADDRESS).
    const bfdHosts = model.reflectors.filter((r) => r.bfd && !net.isIP(r.host)).map((r) => r.host);
    const bfd = this.mode.kind === 'announce-file' && model.reflectors.some((r) => r.bfd)
      ? this.procs.start(`${ns}-bfd`, ns, [...nodeEntry('lb-bfd-speaker'), path.join(etcDir, LB_POD_FILES.model), podIp,
        ...await Promise.all(bfdHosts.map(async (host) => `${host}=${await this.resolve(host)}`))])
      : undefined;
    const pod: LbPod = { service, node, ns, podIp, runDir, exabgp, controller, bfd };
    this.live.add(pod);
    syncNodeRoutes(node, [...this.live]);
    return pod;
  }

  /** Pod mode: the Pod object (the pod's name is its netns name), then the runner (init container, containers), then the node route. */
  private async startPod(service: SynthesizedService, node: number, ns: string, podIp: string): Promise<LbPod> {
    if (this.mode.kind !== 'pod') throw new Error('pod mode only');
    const { model } = service;
    const template = lbPodTemplate(this.mode.cluster.manifests, model.name);
    const identity = { name: ns, namespace: model.namespace, node, podIp, netns: ns, template };
    upsertPodObject(this.api, identity);
    const runner = podRunner(this.mode.cluster, identity);
    const pod: LbPod = { service, node, ns, podIp, runDir: '', runner };
    // Live before start(): a scenario's teardown tears down what start() left half-made.
    this.live.add(pod);
    try {
      await runner.start();
    } catch (err) {
      await this.remove(pod);
      throw err;
    }
    syncNodeRoutes(node, [...this.live]);
    return pod;
  }

  /**
   * The state of each of the pod's BFD sessions (by reflector name) as its last log line says,
   * for pods with a BFD speaker or controller: `up`, `init`, `down`, `admin_down`; absent: no line yet.
   */
  bfdStates(pod: LbPod): Map<string, string> {
    const states = new Map<string, string>();
    const log = (pod.bfd ?? pod.controller)?.logFile;
    if (!log || !fs.existsSync(log)) return states;
    for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
      const m = /"msg":"BFD session with reflector (\S+) (\w+)"/.exec(line);
      if (m) states.set(m[1], m[2]);
    }
    return states;
  }

  /** Resolves true once every BFD session of the pod is up (false after `timeoutMs`). */
  async bfdUp(pod: LbPod, timeoutMs: number): Promise<boolean> {
    const names = pod.service.model.reflectors.filter((r) => r.bfd).map((r) => r.name);
    const up = await waitFor(() => this.bfdStates(pod), (s) => names.length > 0 && names.every((n) => s.get(n) === 'up'), timeoutMs, 50);
    return up.ok;
  }

  /** What the controller does when backends become unhealthy or the pod starts draining: an empty announce file. */
  withdraw(pod: LbPod): void {
    if (pod.runner) throw new Error('withdraw needs a host-process mode (the pod\'s controller owns its announce file)');
    writeFileAtomic(path.join(pod.runDir, LB_POD_FILES.announce), '');
  }

  /** The pod is gone (deleted, or its container killed): its processes end, the node agent removes its route. */
  async remove(pod: LbPod): Promise<void> {
    this.live.delete(pod);
    await pod.runner?.teardown();
    this.api.remove(`/api/v1/namespaces/${pod.service.model.namespace}/pods`, pod.ns);
    await deletePod(pod.ns, pod.node, pod.podIp);
    syncNodeRoutes(pod.node, [...this.live]);
  }

  /**
   * Kubernetes scale-down: SIGTERM to the controller (withdraw, drain, stop keepalived), then exabgp,
   * then the pod is deleted. Pod mode: the pod's stop (SIGTERM to every container, SIGKILL after
   * terminationGracePeriodSeconds); every container must exit 0, none killed.
   */
  async drain(pod: LbPod): Promise<void> {
    if (pod.runner) {
      const stopped = await pod.runner.stop();
      await this.remove(pod);
      const bad = Object.entries(stopped.exitCodes).filter(([, code]) => code !== 0);
      if (bad.length > 0 || stopped.killed.length > 0) {
        throw new Error(`${pod.ns}: containers ended ${JSON.stringify(stopped.exitCodes)} after ${stopped.seconds.toFixed(1)} s`
          + `${stopped.killed.length > 0 ? ` (SIGKILLed after the grace period: ${stopped.killed.join(', ')})` : ''} instead of draining and exiting 0`);
      }
      return;
    }
    if (!pod.controller) throw new Error('drain needs the controller mode');
    this.procs.signal(pod.controller, 'SIGTERM');
    const code = await Promise.race([pod.controller.exited, new Promise((r) => setTimeout(() => r('timeout'), (pod.service.model.drainSeconds + 20) * 1000))]);
    if (code !== 0) throw new Error(`${pod.ns} controller ended with ${code} instead of draining and exiting 0`);
    await this.procs.stop(pod.exabgp!);
    await this.remove(pod);
  }
}

/**
 * Sends `signal` to every process in the pod's network namespace (its containers: exabgp and its
 * announcer, the BFD speaker or controller): SIGSTOP is a silent failure, nothing closes a socket.
 * Returns how many processes.
 */
export function signalPod(pod: LbPod, signal: 'SIGSTOP' | 'SIGCONT'): number {
  const pids = probe(undefined, ['ip', 'netns', 'pids', pod.ns]).split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try { process.kill(pid, signal); } catch { /* exited meanwhile */ }
  }
  return pids.length;
}

/**
 * The node agent's work for one node: `ip route replace <prefix> via <pod IP>` for the LB pods on
 * it, read from the pods' prefixes annotation, with the agent's own route protocol number. Uses the
 * agent's pure route logic; the harness plays its API watch.
 */
export function syncNodeRoutes(node: number, pods: LbPod[]): void {
  const onNode = pods.filter((p) => p.node === node).map((p) => ({
    metadata: { name: p.ns, annotations: p.service.podAnnotations },
    status: { phase: 'Running', podIP: p.podIp },
  }));
  const current = parseIpRouteJson(probe(nodeNs(node), ['ip', '-j', '-4', 'route', 'show', 'proto', String(DEFAULT_ROUTE_PROTO)]));
  for (const args of routeCommands(current, desiredRoutes(onNode), DEFAULT_ROUTE_PROTO)) run(nodeNs(node), ['ip', ...args]);
}

/** The backends' EndpointSlice, ready, as the EndpointSlice controller publishes it for the service's backend Service. */
export function publishBackendSlice(api: ApiServerDouble, model: SynthesizedService['model'], name: string, addresses: readonly string[], terminating: readonly string[] = []): void {
  api.upsert(`/apis/discovery.k8s.io/v1/namespaces/${model.namespace}/endpointslices`, {
    kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1',
    metadata: { name, namespace: model.namespace, labels: { 'kubernetes.io/service-name': model.backendServiceName } },
    addressType: 'IPv4',
    endpoints: [
      ...addresses.map((address) => ({ addresses: [address], conditions: { ready: true, serving: true, terminating: false } })),
      // A pod being deleted: still serving its connections, no longer ready (Kubernetes 1.26+).
      ...terminating.map((address) => ({ addresses: [address], conditions: { ready: false, serving: true, terminating: true } })),
    ],
    ports: [{ name: 'http', port: model.ports[0].backendPort, protocol: 'TCP' }],
  });
}

/**
 * nginx in a backend pod, answering every request with its own name and the address it came from
 * (NAT: the LB's SNAT address; TUN: the client's). `listen`: nginx listen addresses (TUN: `80`, any
 * local address, so the VIP on tunl0 too).
 */
export function startBackend(procs: ProcessSet, workDir: string, name: string, ns: string, ip: string, listen = [`${ip}:8080`]): Daemon {
  const dir = path.join(workDir, 'backends', name);
  fs.mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
${listen.map((l) => `    listen ${l} reuseport;\n`).join('')}    default_type text/plain;
    location / { return 200 "${name} $remote_addr\\n"; }
  }
}
`);
  return procs.start(`backend-${name}`, ns, ['nginx', '-c', conf, '-e', path.join(dir, 'error.log')]);
}
