import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { UnpackedImage } from './oci-image';
import {
  admitSysctls, containerArgv, containerEnv, defaultMounts, effectiveSecurityContext, expand, fieldValue, mountDepth, ObjectStore, OciMount,
  parseQuantity, PodError, PodIdentity, resolveUser, runtimeSpec,
} from './pod-spec';

/**
 * A kubelet-like pod runner: runs a pod template from the synthesized manifests exactly as the
 * manifest says, each container from its image's root filesystem under crun (a real OCI runtime)
 * with an OCI runtime spec written the way containerd's CRI plugin writes it. The pod's sandbox
 * holds its network namespace (made by the caller, as a CNI plugin would), its IPC and UTS
 * namespaces and its /dev/shm; pod sysctls are set there. Init containers run to completion in
 * order, then the containers start in order; stop() sends SIGTERM to every container and SIGKILL
 * after terminationGracePeriodSeconds. What is honoured and what a kubelet does beyond it:
 * docs/pod-runner.md.
 */
export interface PodRunnerOptions {
  /** The pod template (`spec.template` of a Deployment or DaemonSet): metadata and spec. */
  readonly template: { metadata?: any; spec: any };
  readonly name: string;
  readonly namespace: string;
  readonly nodeName: string;
  readonly podIp: string;
  readonly hostIp: string;
  /** The pod's network namespace (an `ip netns` name), made and addressed by the caller (the CNI's job). */
  readonly netns: string;
  /** Unpacked images by reference (`image:` of each container). */
  readonly images: ReadonlyMap<string, UnpackedImage>;
  /** The manifests ConfigMap, Secret and ServiceAccount references resolve against. */
  readonly objects: readonly any[];
  /** What the projected service-account volume holds. */
  readonly serviceAccount: { readonly token: string; readonly caCert: string };
  /** The `kubernetes` Service the kubelet advertises in every container's environment. */
  readonly apiServer: { readonly host: string; readonly port: number };
  /** Work directory (a tmpfs is mounted there for the pod's volumes and container snapshots). */
  readonly workDir: string;
  /** Container logs go to `<logDir>/<pod>_<container>.log`. */
  readonly logDir: string;
  /** The kubelet's --allowed-unsafe-sysctls (patterns may end in `*`). */
  readonly allowedUnsafeSysctls?: readonly string[];
  readonly dns?: { readonly nameservers: readonly string[]; readonly clusterDomain?: string };
  readonly crun?: string;
  /** Progress lines (sandbox ready, each container started or ended), with the time since start(). */
  readonly log?: (line: string) => void;
}

export interface ContainerStatus {
  readonly name: string;
  readonly id: string;
  /** The container's init process, as seen from the runner (host pid). */
  readonly pid: number;
  readonly logFile: string;
  readonly startedAt: number;
  /** Resolves with the exit code once the container has ended (128 + signal when killed). */
  readonly exited: Promise<number>;
  exitCode?: number;
  ready: boolean;
}

export interface StopResult {
  readonly seconds: number;
  readonly exitCodes: Record<string, number>;
  /** Containers that needed SIGKILL after the grace period. */
  readonly killed: string[];
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class PodRunner {
  readonly containers = new Map<string, ContainerStatus>();
  readonly initContainers = new Map<string, ContainerStatus>();
  private readonly store: ObjectStore;
  private readonly identity: PodIdentity;
  private readonly spec: any;
  private readonly dir: string;
  private readonly stateDir: string;
  private readonly mounted: string[] = [];
  private sandbox?: ChildProcess;
  private readonly volumes = new Map<string, string>();
  private readonly probes: NodeJS.Timeout[] = [];
  /** Every container id given to crun and its `crun run` process, also those that failed to start. */
  private readonly created = new Map<string, ChildProcess>();
  private stopped = false;
  private cgroups = false;
  private t0 = performance.now();

  constructor(private readonly options: PodRunnerOptions) {
    this.store = new ObjectStore(options.objects);
    this.spec = options.template.spec;
    this.identity = {
      name: options.name, namespace: options.namespace, uid: randomUUID(), nodeName: options.nodeName,
      podIp: options.podIp, hostIp: options.hostIp, serviceAccountName: this.spec.serviceAccountName ?? 'default',
      labels: options.template.metadata?.labels ?? {}, annotations: options.template.metadata?.annotations ?? {},
    };
    this.dir = path.join(options.workDir, options.name);
    this.stateDir = path.join(this.dir, 'crun');
  }

  private get crun(): string { return this.options.crun ?? 'crun'; }

  private crunArgs(): string[] {
    return ['--root', this.stateDir, '--cgroup-manager', this.cgroups ? 'cgroupfs' : 'disabled'];
  }

  /**
   * Admission, sandbox, volumes, init containers (each to exit 0, in order), then the containers.
   * Throws a PodError naming the kubelet's reason; what was set up is torn down again.
   */
  async start(): Promise<void> {
    try {
      await this.startInner();
    } catch (err) {
      await this.teardown();
      throw err;
    }
  }

  private note(line: string): void {
    this.options.log?.(`${this.options.name}: ${line} at ${((performance.now() - this.t0) / 1000).toFixed(1)} s`);
  }

  private async startInner(): Promise<void> {
    this.t0 = performance.now();
    const spec = this.spec;
    for (const field of ['hostPID', 'hostIPC']) if (spec[field]) throw new PodError('Unsupported', `${field}`);
    admitSysctls(spec.securityContext?.sysctls ?? [], this.options.allowedUnsafeSysctls ?? [], spec.hostNetwork === true);
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      if (!this.options.images.has(c.image)) throw new PodError('CreateContainerConfigError', `container ${c.name}: image "${c.image}" is not present on the node (ErrImageNeverPull: no registry here)`);
    }
    fs.mkdirSync(this.dir, { recursive: true });
    this.mount(['-t', 'tmpfs', '-o', 'mode=0755,size=512m', 'pod-runner', this.dir]);
    fs.mkdirSync(this.stateDir);
    this.cgroups = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');

    // The sandbox (the pause container's job): IPC and UTS namespaces with the pod's hostname, in the pod's netns.
    const hostname = this.hostname();
    this.sandbox = spawn('ip', ['netns', 'exec', this.options.netns, 'unshare', '--ipc', '--uts', '--', 'sh', '-c', 'hostname "$1" && exec sleep infinity', 'sandbox', hostname],
      { stdio: 'ignore', detached: true });
    const ready = await waitUntil(() => readLink(`/proc/${this.sandbox!.pid}/ns/uts`) !== readLink('/proc/self/ns/uts') && probeExe(this.sandbox!.pid!) === 'sleep', 10_000);
    if (!ready) throw new PodError('StartError', 'the pod sandbox did not start');
    const sysctls: { name: string; value: string }[] = spec.securityContext?.sysctls ?? [];
    if (sysctls.length > 0) {
      try {
        execFileSync('nsenter', [`--net=/var/run/netns/${this.options.netns}`, `--ipc=/proc/${this.sandbox.pid}/ns/ipc`, 'sysctl', '-qw', ...sysctls.map((s) => `${s.name}=${s.value}`)],
          { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        throw new PodError('StartError', `pod sysctls: ${(err as { stderr?: Buffer }).stderr?.toString().trim()}`);
      }
    }
    const shm = path.join(this.dir, 'shm');
    fs.mkdirSync(shm);
    this.mount(['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=1777,size=65536k', 'shm', shm]);
    this.writeEtcFiles();
    this.setUpVolumes();
    this.note('sandbox, sysctls and volumes ready');

    for (const container of spec.initContainers ?? []) {
      const status = await this.runContainer(container, true);
      const code = await status.exited;
      this.note(`init container ${container.name} exited ${code}`);
      if (code !== 0) {
        throw new PodError('InitContainerFailed', `init container ${container.name} exited ${code}: ${tail(status.logFile)}`);
      }
    }
    for (const container of spec.containers) {
      const status = await this.runContainer(container, false);
      this.note(`container ${container.name} started`);
      void status.exited.then((code) => this.note(`container ${container.name} exited ${code}`));
    }
  }

  /** Stops the pod: SIGTERM (or the image's STOPSIGNAL) to every container at once, SIGKILL after the grace period, then the sandbox. */
  async stop(graceSeconds: number = this.spec.terminationGracePeriodSeconds ?? 30): Promise<StopResult> {
    this.stopped = true;
    const started = performance.now();
    const killed: string[] = [];
    const exitCodes: Record<string, number> = {};
    await Promise.all([...this.containers.values()].map(async (c) => {
      if (c.exitCode === undefined) {
        const image = this.options.images.get(this.spec.containers.find((x: any) => x.name === c.name).image)!;
        this.kill(c.id, image.config.StopSignal ?? 'TERM');
        const timer = setTimeout(() => { killed.push(c.name); this.kill(c.id, 'KILL'); }, Math.max(2, graceSeconds) * 1000);
        await c.exited;
        clearTimeout(timer);
      }
      exitCodes[c.name] = c.exitCode!;
    }));
    const seconds = (performance.now() - started) / 1000;
    await this.teardown();
    return { seconds, exitCodes, killed };
  }

  /** Tears everything down without a grace period (containers SIGKILLed). Safe to call twice. */
  async teardown(): Promise<void> {
    this.stopped = true;
    for (const timer of this.probes.splice(0)) clearInterval(timer);
    const all = [...this.initContainers.values(), ...this.containers.values()];
    for (const c of all) if (c.exitCode === undefined) this.kill(c.id, 'KILL');
    await Promise.all(all.map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, 5_000))])));
    for (const [id, child] of this.created) {
      try { execFileSync(this.crun, [...this.crunArgs(), 'delete', '--force', id], { stdio: 'ignore' }); } catch { /* gone */ }
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.created.clear();
    if (this.sandbox?.pid) {
      try { process.kill(this.sandbox.pid, 'SIGKILL'); } catch { /* gone */ }
      this.sandbox = undefined;
    }
    for (const target of this.mounted.splice(0).reverse()) {
      try { execFileSync('umount', ['-l', target], { stdio: 'ignore' }); } catch { /* not mounted */ }
    }
    if (this.cgroups) {
      try { fs.rmdirSync(`/sys/fs/cgroup/pod-runner/${this.identity.uid}`); } catch { /* gone, or crun still removing it */ }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Whether a container's readinessProbe passed last time (true when it has none). */
  isReady(name: string): boolean {
    return this.containers.get(name)?.ready ?? false;
  }

  private mount(args: string[]): void {
    execFileSync('mount', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.mounted.push(args[args.length - 1]);
  }

  private kill(id: string, signal: string): void {
    try {
      execFileSync(this.crun, [...this.crunArgs(), 'kill', id, signal.replace(/^SIG/, '')], { stdio: 'ignore' });
    } catch { /* already stopped */ }
  }

  /** The pod's hostname: the node's with hostNetwork (the lab's node has its own UTS namespace here), else spec.hostname or the pod name. */
  private hostname(): string {
    return (this.spec.hostNetwork ? this.options.nodeName : this.spec.hostname ?? this.options.name).slice(0, 63);
  }

  /** /etc/hosts, /etc/hostname and /etc/resolv.conf as the kubelet and containerd write them for a pod. */
  private writeEtcFiles(): void {
    const etc = path.join(this.dir, 'etc');
    fs.mkdirSync(etc);
    const hostname = this.hostname();
    fs.writeFileSync(path.join(etc, 'hosts'), ['# Kubernetes-managed hosts file.', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback',
      'fe00::0\tip6-localnet', 'fe00::0\tip6-mcastprefix', 'fe00::1\tip6-allnodes', 'fe00::2\tip6-allrouters', `${this.options.podIp}\t${hostname}`, ''].join('\n'));
    fs.writeFileSync(path.join(etc, 'hostname'), `${hostname}\n`);
    const domain = this.options.dns?.clusterDomain ?? 'cluster.local';
    const ns = this.options.namespace;
    fs.writeFileSync(path.join(etc, 'resolv.conf'), [...(this.options.dns?.nameservers ?? []).map((s) => `nameserver ${s}`),
      `search ${ns}.svc.${domain} svc.${domain} ${domain}`, 'options ndots:5', ''].join('\n'));
  }

  /** Every pod volume, prepared on the node before any container starts. */
  private setUpVolumes(): void {
    const root = path.join(this.dir, 'volumes');
    fs.mkdirSync(root);
    const fsGroup = this.spec.securityContext?.fsGroup;
    const volumes: any[] = [...(this.spec.volumes ?? [])];
    if (this.automountToken()) {
      volumes.push({ name: 'kube-api-access', projected: { sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
      ], defaultMode: 0o644 } });
    }
    for (const volume of volumes) {
      const dir = path.join(root, volume.name);
      if (volume.emptyDir) {
        fs.mkdirSync(dir, { mode: 0o777 });
        if (volume.emptyDir.medium === 'Memory') {
          const size = volume.emptyDir.sizeLimit !== undefined ? Math.floor(parseQuantity(volume.emptyDir.sizeLimit)) : undefined;
          this.mount(['-t', 'tmpfs', '-o', `mode=0777${size ? `,size=${size}` : ''}`, 'tmpfs', dir]);
        }
        fs.chmodSync(dir, 0o777);
      } else if (volume.configMap || volume.secret) {
        const kind = volume.configMap ? 'ConfigMap' : 'Secret';
        const source = volume.configMap ?? volume.secret;
        const name = source.name ?? source.secretName;
        const data = this.store.data(kind, this.options.namespace, name);
        if (!data && !source.optional) throw new PodError('CreateContainerConfigError', `MountVolume.SetUp failed for volume "${volume.name}" : ${kind.toLowerCase()} "${name}" not found`);
        atomicWrite(dir, selectItems(data ?? new Map(), source.items, volume.name), source.defaultMode ?? 0o644, fsGroup);
      } else if (volume.projected) {
        const files = new Map<string, { data: Buffer; mode?: number }>();
        for (const s of volume.projected.sources ?? []) {
          if (s.serviceAccountToken) {
            files.set(s.serviceAccountToken.path, { data: Buffer.from(this.options.serviceAccount.token) });
          } else if (s.configMap?.name === 'kube-root-ca.crt') {
            files.set('ca.crt', { data: Buffer.from(this.options.serviceAccount.caCert) });
          } else if (s.configMap || s.secret) {
            const kind = s.configMap ? 'ConfigMap' : 'Secret';
            const src = s.configMap ?? s.secret;
            const data = this.store.data(kind, this.options.namespace, src.name);
            if (!data && !src.optional) throw new PodError('CreateContainerConfigError', `MountVolume.SetUp failed for volume "${volume.name}" : ${kind.toLowerCase()} "${src.name}" not found`);
            for (const [k, v] of selectItems(data ?? new Map(), src.items, volume.name)) files.set(k, v);
          } else if (s.downwardAPI) {
            for (const item of s.downwardAPI.items ?? []) {
              files.set(item.path, { data: Buffer.from(fieldValue(this.identity, item.fieldRef.fieldPath)), mode: item.mode });
            }
          }
        }
        atomicWrite(dir, files, volume.projected.defaultMode ?? 0o644, fsGroup);
      } else if (volume.downwardAPI) {
        const files = new Map((volume.downwardAPI.items ?? []).map((item: any) => [
          item.path,
          { data: Buffer.from(fieldValue(this.identity, item.fieldRef.fieldPath)), mode: item.mode },
        ])) as Map<string, { data: Buffer; mode?: number }>;
        atomicWrite(dir, files, volume.downwardAPI.defaultMode ?? 0o644, fsGroup);
      } else if (volume.hostPath) {
        hostPathCheck(volume.name, volume.hostPath);
        this.volumes.set(volume.name, volume.hostPath.path);
        continue;
      } else {
        throw new PodError('Unsupported', `volume "${volume.name}": type ${Object.keys(volume).filter((k) => k !== 'name').join(',')}`);
      }
      this.volumes.set(volume.name, dir);
    }
  }

  private automountToken(): boolean {
    if (this.spec.automountServiceAccountToken !== undefined) return this.spec.automountServiceAccountToken;
    const sa = this.store.find('ServiceAccount', this.options.namespace, this.identity.serviceAccountName);
    return sa?.automountServiceAccountToken ?? true;
  }

  /** The kubelet's variables for the `kubernetes` Service (always set, whatever enableServiceLinks says). */
  private serviceEnv(): Record<string, string> {
    const { host, port } = this.options.apiServer;
    return {
      KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: String(port), KUBERNETES_SERVICE_PORT_HTTPS: String(port),
      KUBERNETES_PORT: `tcp://${host}:${port}`, [`KUBERNETES_PORT_${port}_TCP`]: `tcp://${host}:${port}`,
      [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp', [`KUBERNETES_PORT_${port}_TCP_PORT`]: String(port), [`KUBERNETES_PORT_${port}_TCP_ADDR`]: host,
    };
  }

  private containerMounts(container: any, env: string[], readOnlyRoot: boolean, termLog: string): OciMount[] {
    const etc = path.join(this.dir, 'etc');
    const ro = readOnlyRoot ? 'ro' : 'rw';
    const vars = new Map(env.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const mounts: OciMount[] = [];
    const seen = new Set<string>();
    for (const m of container.volumeMounts ?? []) {
      const source = this.volumes.get(m.name);
      if (!source) throw new PodError('CreateContainerConfigError', `container ${container.name}: volumeMount "${m.name}" names no volume of the pod`);
      const volume = [...(this.spec.volumes ?? [])].find((v: any) => v.name === m.name) ?? {};
      const apiData = Boolean(volume.configMap || volume.secret || volume.projected || volume.downwardAPI);
      let from = source;
      const sub = m.subPath ?? (m.subPathExpr ? expand(m.subPathExpr, vars) : undefined);
      if (sub) {
        if (path.isAbsolute(sub) || path.normalize(sub).startsWith('..')) throw new PodError('CreateContainerConfigError', `subPath "${sub}" must be a relative path inside the volume`);
        from = path.join(source, sub);
        if (!fs.existsSync(from)) fs.mkdirSync(from, { recursive: true, mode: 0o755 });
        from = fs.realpathSync(from);
        if (!from.startsWith(fs.realpathSync(source))) throw new PodError('CreateContainerConfigError', `subPath "${sub}" leaves the volume`);
      }
      // The kubelet mounts configMap, secret, projected and downwardAPI volumes read-only whatever the mount says.
      mounts.push({ destination: m.mountPath, type: 'bind', source: from, options: ['rbind', 'rprivate', m.readOnly || apiData ? 'ro' : 'rw'] });
      seen.add(path.normalize(m.mountPath));
    }
    if (this.volumes.has('kube-api-access') && !seen.has(SA_DIR)) {
      mounts.push({ destination: SA_DIR, type: 'bind', source: this.volumes.get('kube-api-access')!, options: ['rbind', 'rprivate', 'ro'] });
    }
    for (const file of ['hosts', 'hostname', 'resolv.conf']) {
      if (!seen.has(`/etc/${file}`)) mounts.push({ destination: `/etc/${file}`, type: 'bind', source: path.join(etc, file), options: ['rbind', 'rprivate', ro] });
    }
    const termPath = container.terminationMessagePath ?? '/dev/termination-log';
    mounts.push({ destination: termPath, type: 'bind', source: termLog, options: ['rbind', 'rprivate', 'rw'] });
    return mounts.sort((a, b) => mountDepth(a) - mountDepth(b));
  }

  /** Creates and starts one container under crun; resolves once its process runs (or it failed to start). */
  private async runContainer(container: any, init: boolean): Promise<ContainerStatus> {
    if (this.stopped || !this.sandbox) throw new PodError('StartError', `container ${container.name}: the pod was stopped while it was starting`);
    const image = this.options.images.get(container.image)!;
    const sc = effectiveSecurityContext(this.spec, container);
    const env = containerEnv(container, image.config, this.identity, this.store, this.serviceEnv());
    const argv = containerArgv(container, image.config, env);
    const user = resolveUser(image.rootfs, image.config, this.spec, container, this.options.name);
    const id = `${this.options.name}_${container.name}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    const bundle = path.join(this.dir, 'containers', container.name);
    // The container's snapshot: the image's root filesystem under an overlay of its own, as containerd's overlayfs snapshotter.
    const [upper, work, rootfs] = ['upper', 'work', 'rootfs'].map((d) => path.join(bundle, d));
    for (const d of [upper, work, rootfs]) fs.mkdirSync(d, { recursive: true });
    this.mount(['-t', 'overlay', '-o', `lowerdir=${image.rootfs},upperdir=${upper},workdir=${work}`, 'overlay', rootfs]);
    const termLog = path.join(bundle, 'termination-log');
    fs.writeFileSync(termLog, '', { mode: 0o666 });
    const config = runtimeSpec({
      container, podSpec: this.spec, argv, env, cwd: container.workingDir ?? image.config.WorkingDir ?? '/', user, rootfs,
      mounts: [...defaultMounts(path.join(this.dir, 'shm')), ...this.containerMounts(container, env, sc.readOnlyRootFilesystem === true, termLog)],
      netnsPath: `/var/run/netns/${this.options.netns}`, ipcNsPath: `/proc/${this.sandbox!.pid}/ns/ipc`, utsNsPath: `/proc/${this.sandbox!.pid}/ns/uts`,
      cgroupsPath: this.cgroups ? `/pod-runner/${this.identity.uid}/${container.name}` : undefined,
    });
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));

    fs.mkdirSync(this.options.logDir, { recursive: true });
    const logFile = path.join(this.options.logDir, `${this.options.name}_${container.name}.log`);
    const crunLog = path.join(bundle, 'crun.log');
    const pidFile = path.join(bundle, 'pid');
    const out = fs.openSync(logFile, 'a');
    const child = spawn(this.crun, [...this.crunArgs(), '--log', crunLog, 'run', '--bundle', bundle, '--pid-file', pidFile, id],
      { stdio: ['ignore', out, out], detached: true });
    fs.closeSync(out);
    this.created.set(id, child);
    let status: ContainerStatus | undefined;
    let exitCode: number | undefined;
    const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => {
      exitCode = code ?? 128 + (signal ? (({ SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 1) : 1);
      if (status) status.exitCode = exitCode;
      resolve(exitCode);
    }));
    const hasPid = () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '';
    await Promise.race([waitUntil(hasPid, 60_000), exited]);
    const crunError = () => (fs.existsSync(crunLog) ? fs.readFileSync(crunLog, 'utf8').trim().split('\n').filter(Boolean).map(crunMessage).join('; ') : '');
    // crun reports what kept the process from starting (no such binary, a mount, a capability) in its log.
    if (exitCode !== undefined && crunError()) throw new PodError('StartError', `container ${container.name}: ${crunError()}`);
    if (!hasPid()) {
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
      throw new PodError('StartError', `container ${container.name}: ${crunError() || `crun exited ${exitCode} before the container started (${tail(logFile)})`}`);
    }
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    status = { name: container.name, id, pid, logFile, startedAt: Date.now(), exited, exitCode, ready: !container.readinessProbe };
    (init ? this.initContainers : this.containers).set(container.name, status);
    await new Promise((r) => setTimeout(r, 100));
    if (status.exitCode !== undefined && crunError()) throw new PodError('StartError', `container ${container.name}: ${crunError()}`);
    if (!init && container.readinessProbe) this.startReadinessProbe(status, container.readinessProbe);
    return status;
  }

  /** readinessProbe.httpGet or tcpSocket from the node to the pod IP, as the kubelet probes (periodSeconds, failure/successThreshold 1). */
  private startReadinessProbe(status: ContainerStatus, probe: any): void {
    const action = probe.httpGet ?? probe.tcpSocket;
    if (!action) return;
    const port = typeof action.port === 'number' ? action.port
      : this.spec.containers.flatMap((c: any) => c.ports ?? []).find((p: any) => p.name === action.port)?.containerPort;
    const timeout = (probe.timeoutSeconds ?? 1) * 1000;
    const check = () => {
      if (this.stopped) return;
      if (probe.tcpSocket) {
        // The kubelet's TCP probe: ready when a connection opens, closed at once.
        const socket = net.connect({ host: this.options.podIp, port, timeout }, () => { status.ready = true; socket.destroy(); });
        socket.on('timeout', () => socket.destroy(new Error('timeout')));
        socket.on('error', () => { status.ready = false; });
        return;
      }
      const req = http.get({ host: this.options.podIp, port, path: probe.httpGet.path ?? '/', timeout }, (res) => {
        status.ready = (res.statusCode ?? 500) >= 200 && (res.statusCode ?? 500) < 400;
        res.resume();
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => { status.ready = false; });
    };
    const timer = setTimeout(() => {
      check();
      this.probes.push(setInterval(check, (probe.periodSeconds ?? 10) * 1000));
    }, (probe.initialDelaySeconds ?? 0) * 1000);
    this.probes.push(timer as unknown as NodeJS.Timeout);
  }
}

function selectItems(data: Map<string, Buffer>, items: any[] | undefined, volume: string): Map<string, { data: Buffer; mode?: number }> {
  if (!items) return new Map([...data].map(([k, v]) => [k, { data: v }]));
  return new Map(items.map((item) => {
    if (!data.has(item.key)) throw new PodError('CreateContainerConfigError', `MountVolume.SetUp failed for volume "${volume}" : configmap references non-existent config key: ${item.key}`);
    return [item.path, { data: data.get(item.key)!, mode: item.mode }];
  }));
}

/** The kubelet's atomic writer layout: files in `..<timestamp>/`, `..data` pointing there, one symlink per top-level name. */
function atomicWrite(dir: string, files: Map<string, { data: Buffer; mode?: number }>, defaultMode: number, fsGroup?: number): void {
  const stamp = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '')}`;
  fs.mkdirSync(path.join(dir, stamp), { recursive: true, mode: 0o755 });
  for (const [file, { data, mode }] of files) {
    const target = path.join(dir, stamp, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, data);
    fs.chmodSync(target, mode ?? defaultMode);
    if (fsGroup !== undefined) fs.chownSync(target, 0, fsGroup);
  }
  fs.symlinkSync(stamp, path.join(dir, '..data'));
  for (const top of new Set([...files.keys()].map((f) => f.split('/')[0]))) fs.symlinkSync(path.join('..data', top), path.join(dir, top));
}

function hostPathCheck(name: string, hostPath: { path: string; type?: string }): void {
  const type = hostPath.type ?? '';
  const stat = fs.statSync(hostPath.path, { throwIfNoEntry: false });
  if (type === 'DirectoryOrCreate' && !stat) { fs.mkdirSync(hostPath.path, { recursive: true, mode: 0o755 }); return; }
  if (type === 'FileOrCreate' && !stat) { fs.writeFileSync(hostPath.path, '', { mode: 0o644 }); return; }
  const wants: Record<string, (s: fs.Stats) => boolean> = {
    Directory: (s) => s.isDirectory(),
    File: (s) => s.isFile(),
    Socket: (s) => s.isSocket(),
    CharDevice: (s) => s.isCharacterDevice(),
    BlockDevice: (s) => s.isBlockDevice(),
  };
  if (wants[type] && !(stat && wants[type](stat))) throw new PodError('CreateContainerConfigError', `MountVolume.SetUp failed for volume "${name}" : hostPath type check failed: ${hostPath.path} is not a ${type}`);
}

/** crun logs JSON lines ({"msg": ...}) or plain text. */
function crunMessage(line: string): string {
  try {
    return JSON.parse(line).msg ?? line;
  } catch {
    return line;
  }
}

function tail(file: string, lines = 5): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '';
  }
}

function readLink(p: string): string {
  try { return fs.readlinkSync(p); } catch { return ''; }
}

function probeExe(pid: number): string {
  try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; }
}

async function waitUntil(good: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!good()) {
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** A container's capability sets and ids as the kernel shows them (/proc/PID/status). */
export function processStatus(pid: number): Record<string, string> {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Object.fromEntries(text.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
}
