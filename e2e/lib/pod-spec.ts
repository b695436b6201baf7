import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageConfig } from './oci-image';

// The pure half of the pod runner (pod-runner.ts): from a pod template, an image config and the
// pod's identity to what a kubelet + containerd + crun would run. Each rule names where it comes
// from; docs/pod-runner.md lists what is honoured and what is not.

/** Why a pod or container was refused or failed, in the kubelet's words (pod status reasons). */
export type PodFailureReason = 'SysctlForbidden' | 'CreateContainerConfigError' | 'CreateContainerError' | 'StartError' | 'InitContainerFailed' | 'Unsupported';

export class PodError extends Error {
  constructor(readonly reason: PodFailureReason, message: string) {
    super(`${reason}: ${message}`);
  }
}

/** The pod's identity and the values the downward API exposes. */
export interface PodIdentity {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly nodeName: string;
  readonly podIp: string;
  /** A dual-stack pod's IPs, the primary (`podIp`) first; default: `podIp` alone. */
  readonly podIps?: readonly string[];
  readonly hostIp: string;
  readonly serviceAccountName: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** containerd's default capability set for a CRI container (pkg/oci, `defaultUnixCaps`). */
export const DEFAULT_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

/** Every capability of Linux 6.1, in bit order (CAP_CHOWN = bit 0). */
export const ALL_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE',
  'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL',
  'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'].map((c) => `CAP_${c}`);

/** Sysctls the kubelet allows without `--allowed-unsafe-sysctls` (Kubernetes 1.27, pkg/kubelet/sysctl/safe_sysctls.go). */
export const SAFE_SYSCTLS = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.ip_local_reserved_ports'];

/**
 * The kubelet's sysctl admission: safe or allowed (patterns ending in `*`) and namespaced (net.*,
 * the IPC ones); throws SysctlForbidden as the kubelet rejects the pod.
 */
export function admitSysctls(sysctls: readonly { name: string; value: string }[], allowedUnsafe: readonly string[], hostNetwork: boolean): void {
  const allowed = (name: string) => [...SAFE_SYSCTLS, ...allowedUnsafe].some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
  for (const { name } of sysctls) {
    const ipc = name.startsWith('kernel.shm') || name.startsWith('kernel.msg') || name === 'kernel.sem' || name.startsWith('fs.mqueue.');
    if (!ipc && !name.startsWith('net.')) throw new PodError('SysctlForbidden', `sysctl "${name}" is not namespaced and cannot be set for a pod`);
    if (hostNetwork && name.startsWith('net.')) throw new PodError('SysctlForbidden', `sysctl "${name}" not allowed with host net enabled`);
    if (!allowed(name)) throw new PodError('SysctlForbidden', `forbidden sysctl: "${name}" not allowlisted (kubelet --allowed-unsafe-sysctls)`);
  }
}

/** Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion): `$$` escapes, unknown references stay as written. */
export function expand(input: string, vars: ReadonlyMap<string, string>): string {
  return input.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return vars.has(name!) ? vars.get(name!)! : whole;
  });
}

/** A downward-API field (fieldRef.fieldPath). */
export function fieldValue(pod: PodIdentity, fieldPath: string): string {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (keyed) return (keyed[1] === 'labels' ? pod.labels : pod.annotations)[keyed[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name': return pod.name;
    case 'metadata.namespace': return pod.namespace;
    case 'metadata.uid': return pod.uid;
    case 'spec.nodeName': return pod.nodeName;
    case 'spec.serviceAccountName': return pod.serviceAccountName;
    case 'status.podIP': return pod.podIp;
    // The kubelet's format for a list: comma-separated, the primary first.
    case 'status.podIPs': return (pod.podIps ?? [pod.podIp]).join(',');
    case 'status.hostIP': case 'status.hostIPs': return pod.hostIp;
    default: throw new PodError('CreateContainerConfigError', `unsupported fieldRef fieldPath "${fieldPath}"`);
  }
}

/** Looks objects of the synthesized manifests up by kind, namespace and name. */
export class ObjectStore {
  constructor(private readonly objects: readonly any[]) {}

  find(kind: string, namespace: string, name: string): any | undefined {
    return this.objects.find((o) => o?.kind === kind && o.metadata?.name === name && (o.metadata?.namespace ?? 'default') === namespace);
  }

  /** A ConfigMap's or Secret's data as bytes (Secret data is base64, stringData plain). */
  data(kind: 'ConfigMap' | 'Secret', namespace: string, name: string): Map<string, Buffer> | undefined {
    const object = this.find(kind, namespace, name);
    if (!object) return undefined;
    const out = new Map<string, Buffer>();
    if (kind === 'ConfigMap') {
      for (const [k, v] of Object.entries(object.data ?? {})) out.set(k, Buffer.from(String(v)));
      for (const [k, v] of Object.entries(object.binaryData ?? {})) out.set(k, Buffer.from(String(v), 'base64'));
    } else {
      for (const [k, v] of Object.entries(object.data ?? {})) out.set(k, Buffer.from(String(v), 'base64'));
      for (const [k, v] of Object.entries(object.stringData ?? {})) out.set(k, Buffer.from(String(v)));
    }
    return out;
  }
}

function keyRef(store: ObjectStore, kind: 'ConfigMap' | 'Secret', namespace: string, ref: { name: string; key: string; optional?: boolean }): string | undefined {
  const data = store.data(kind, namespace, ref.name);
  if (!data) {
    if (ref.optional) return undefined;
    throw new PodError('CreateContainerConfigError', `${kind.toLowerCase()} "${ref.name}" not found`);
  }
  if (!data.has(ref.key)) {
    if (ref.optional) return undefined;
    throw new PodError('CreateContainerConfigError', `couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`);
  }
  return data.get(ref.key)!.toString();
}

/**
 * The container's environment as the kubelet builds it (pkg/kubelet/kubelet_pods.go
 * makeEnvironmentVariables): service variables first, then envFrom, then env in order, each value
 * `$(VAR)`-expanded against what came before; containerd then puts HOSTNAME and the image's Env
 * underneath (container values win).
 */
export function containerEnv(container: any, image: ImageConfig, pod: PodIdentity, store: ObjectStore, serviceEnv: Record<string, string>): string[] {
  const vars = new Map<string, string>(Object.entries(serviceEnv));
  for (const from of container.envFrom ?? []) {
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
    const ref = from.configMapRef ?? from.secretRef;
    const data = store.data(kind, pod.namespace, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new PodError('CreateContainerConfigError', `${kind.toLowerCase()} "${ref.name}" not found`);
    }
    for (const [k, v] of data) vars.set(`${from.prefix ?? ''}${k}`, v.toString());
  }
  for (const env of container.env ?? []) {
    let value: string | undefined;
    if (env.valueFrom?.fieldRef) value = fieldValue(pod, env.valueFrom.fieldRef.fieldPath);
    else if (env.valueFrom?.configMapKeyRef) value = keyRef(store, 'ConfigMap', pod.namespace, env.valueFrom.configMapKeyRef);
    else if (env.valueFrom?.secretKeyRef) value = keyRef(store, 'Secret', pod.namespace, env.valueFrom.secretKeyRef);
    else if (env.valueFrom) throw new PodError('CreateContainerConfigError', `env ${env.name}: unsupported valueFrom ${Object.keys(env.valueFrom).join(',')}`);
    else value = expand(env.value ?? '', vars);
    if (value !== undefined) vars.set(env.name, value);
  }
  const merged = new Map<string, string>([['HOSTNAME', pod.name]]);
  for (const line of image.Env ?? []) {
    const eq = line.indexOf('=');
    merged.set(eq < 0 ? line : line.slice(0, eq), eq < 0 ? '' : line.slice(eq + 1));
  }
  for (const [k, v] of vars) merged.set(k, v);
  return [...merged].map(([k, v]) => `${k}=${v}`);
}

/**
 * The process's argv (Kubernetes' rules over the image's ENTRYPOINT/CMD): command replaces
 * ENTRYPOINT and drops CMD; args replaces CMD; both `$(VAR)`-expanded with the container's env.
 */
export function containerArgv(container: any, image: ImageConfig, env: readonly string[]): string[] {
  const vars = new Map(env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  const entrypoint: string[] = container.command ?? image.Entrypoint ?? [];
  const args: string[] = container.command ? (container.args ?? []) : (container.args ?? image.Cmd ?? []);
  const argv = [...entrypoint, ...args].map((a) => expand(a, vars));
  if (argv.length === 0) throw new PodError('CreateContainerError', `container ${container.name}: no command specified (neither the pod nor the image names one)`);
  return argv;
}

interface PasswdEntry { name: string; uid: number; gid: number }

function passwd(rootfs: string): PasswdEntry[] {
  try {
    return fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':')).map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]) }));
  } catch {
    return [];
  }
}

function groups(rootfs: string): { name: string; gid: number; members: string[] }[] {
  try {
    return fs.readFileSync(path.join(rootfs, 'etc/group'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':')).map((f) => ({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
  } catch {
    return [];
  }
}

/** The effective security context: the container's fields over the pod's (runAsUser, runAsGroup, runAsNonRoot, seccompProfile). */
export function effectiveSecurityContext(podSpec: any, container: any): any {
  const pod = podSpec.securityContext ?? {};
  const own = container.securityContext ?? {};
  const pick = (k: string) => (own[k] !== undefined ? own[k] : pod[k]);
  return { ...own, runAsUser: pick('runAsUser'), runAsGroup: pick('runAsGroup'), runAsNonRoot: pick('runAsNonRoot'), seccompProfile: pick('seccompProfile') };
}

export interface ProcessUser { uid: number; gid: number; additionalGids: number[] }

/**
 * The process's uid/gid/groups. runAsUser wins over the image's USER; the gid is runAsGroup, else the
 * user's /etc/passwd group in the image, else 0 (containerd WithUserID / WithUser); the user's
 * /etc/group memberships, supplementalGroups and fsGroup are added. runAsNonRoot is checked the
 * kubelet's way (kuberuntime_container_linux.go verifyRunAsNonRoot), with its messages.
 */
export function resolveUser(rootfs: string, image: ImageConfig, podSpec: any, container: any, podName: string): ProcessUser {
  const sc = effectiveSecurityContext(podSpec, container);
  const users = passwd(rootfs);
  let uid: number;
  let gid = 0;
  let name: string | undefined;
  const imageUser = image.User ?? '';
  if (sc.runAsUser !== undefined) {
    uid = Number(sc.runAsUser);
    const entry = users.find((u) => u.uid === uid);
    if (entry) { gid = entry.gid; name = entry.name; }
  } else {
    const [userPart, groupPart] = imageUser.split(':');
    if (!userPart) {
      uid = 0;
    } else if (/^\d+$/.test(userPart)) {
      uid = Number(userPart);
      const entry = users.find((u) => u.uid === uid);
      if (entry) { gid = entry.gid; name = entry.name; }
    } else {
      const entry = users.find((u) => u.name === userPart);
      if (sc.runAsNonRoot) {
        throw new PodError('CreateContainerConfigError', `container has runAsNonRoot and image has non-numeric user (${userPart}), cannot verify user is non-root (pod: "${podName}", container: ${container.name})`);
      }
      if (!entry) throw new PodError('CreateContainerError', `unable to find user ${userPart}: no matching entries in passwd file`);
      uid = entry.uid; gid = entry.gid; name = entry.name;
    }
    if (groupPart) {
      const group = /^\d+$/.test(groupPart) ? { gid: Number(groupPart) } : groups(rootfs).find((g) => g.name === groupPart);
      if (!group) throw new PodError('CreateContainerError', `unable to find group ${groupPart}: no matching entries in group file`);
      gid = group.gid;
    }
  }
  if (sc.runAsNonRoot && uid === 0) {
    throw new PodError('CreateContainerConfigError', sc.runAsUser !== undefined
      ? `container's runAsUser breaks non-root policy (pod: "${podName}", container: ${container.name})`
      : `container has runAsNonRoot and image will run as root (pod: "${podName}", container: ${container.name})`);
  }
  if (sc.runAsGroup !== undefined) gid = Number(sc.runAsGroup);
  const extra = new Set<number>();
  if (name) for (const g of groups(rootfs)) if (g.members.includes(name) && g.gid !== gid) extra.add(g.gid);
  for (const g of podSpec.securityContext?.supplementalGroups ?? []) extra.add(Number(g));
  if (podSpec.securityContext?.fsGroup !== undefined) extra.add(Number(podSpec.securityContext.fsGroup));
  return { uid, gid, additionalGids: [...extra].sort((a, b) => a - b) };
}

/**
 * The capability sets containerd's CRI plugin writes (WithCapabilities: add ALL, drop ALL, then the
 * named adds and drops) into bounding, effective and permitted; inheritable and ambient stay empty.
 * What the process ends up with is the kernel's execve rule: uid 0 keeps them; any other uid loses
 * permitted and effective (no ambient set, no file capabilities), keeping only the bounding set.
 */
export function capabilities(container: any): {
  bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[];
} {
  const caps = container.securityContext?.capabilities ?? {};
  const norm = (c: string) => `CAP_${c.toUpperCase().replace(/^CAP_/, '')}`;
  const add: string[] = caps.add ?? [];
  const drop: string[] = caps.drop ?? [];
  let set = new Set(DEFAULT_CAPS);
  if (add.some((c) => c.toUpperCase() === 'ALL')) set = new Set(ALL_CAPS);
  if (drop.some((c) => c.toUpperCase() === 'ALL')) set = new Set();
  for (const cap of add.filter((c) => c.toUpperCase() !== 'ALL')) {
    if (!ALL_CAPS.includes(norm(cap))) throw new PodError('CreateContainerError', `unknown capability "${cap}"`);
    set.add(norm(cap));
  }
  for (const cap of drop.filter((c) => c.toUpperCase() !== 'ALL')) set.delete(norm(cap));
  const list = ALL_CAPS.filter((c) => set.has(c));
  return { bounding: list, effective: list, permitted: list, inheritable: [], ambient: [] };
}

/** Kubernetes quantities ("256Mi", "1.5G", "100m") as numbers (bytes, or cores for cpu). */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q.trim());
  if (!m) throw new PodError('CreateContainerConfigError', `bad quantity "${q}"`);
  const scale: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(m[1]) * (m[2] ? scale[m[2]] : 1);
}

/** The cgroup resources containerd derives from requests and limits (memory limit, CPU quota and shares). */
export function linuxResources(container: any): any {
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const out: any = {};
  if (limits.memory !== undefined) out.memory = { limit: Math.floor(parseQuantity(limits.memory)) };
  const cpuRequest = requests.cpu ?? limits.cpu;
  out.cpu = { shares: cpuRequest !== undefined ? Math.max(2, Math.floor(parseQuantity(cpuRequest) * 1024)) : 2 };
  if (limits.cpu !== undefined) { out.cpu.quota = Math.floor(parseQuantity(limits.cpu) * 100_000); out.cpu.period = 100_000; }
  return out;
}

/**
 * The syscalls Docker's and containerd's default seccomp profile (RuntimeDefault) refuse to a container
 * without CAP_SYS_ADMIN and friends (docs.docker.com "Seccomp security profiles", "Significant
 * syscalls blocked"). The runner applies these as a deny list over default-allow: an approximation of
 * the real profile, which is an allow list (see docs/pod-runner.md).
 */
export const RUNTIME_DEFAULT_DENIED_SYSCALLS = ['acct', 'add_key', 'bpf', 'clock_adjtime', 'clock_settime', 'create_module', 'delete_module',
  'finit_module', 'get_kernel_syms', 'init_module', 'ioperm', 'iopl', 'kcmp', 'kexec_file_load', 'kexec_load', 'keyctl', 'lookup_dcookie',
  'mount', 'name_to_handle_at', 'nfsservctl', 'open_by_handle_at', 'perf_event_open', 'pivot_root', 'process_vm_readv', 'process_vm_writev',
  'ptrace', 'query_module', 'quotactl', 'reboot', 'request_key', 'setns', 'settimeofday', 'stime', 'swapon', 'swapoff', 'sysfs', '_sysctl',
  'umount', 'umount2', 'unshare', 'uselib', 'userfaultfd', 'ustat', 'vm86', 'vm86old'];

export function seccompFor(sc: any): any | undefined {
  const type = sc.seccompProfile?.type ?? 'Unconfined';
  if (type === 'Unconfined') return undefined;
  if (type !== 'RuntimeDefault') throw new PodError('Unsupported', `seccompProfile ${type} (only RuntimeDefault and Unconfined)`);
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: RUNTIME_DEFAULT_DENIED_SYSCALLS, action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
}

/** containerd's default masked and read-only paths for a non-privileged container (pkg/oci/spec.go). */
export const MASKED_PATHS = ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface OciMount { destination: string; type: string; source: string; options: string[] }

/** The mounts every container gets from containerd (/proc, /dev, /sys, cgroup ...) before the kubelet's. */
export function defaultMounts(shm: string): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    { destination: '/dev/shm', type: 'bind', source: shm, options: ['rbind', 'nosuid', 'nodev', 'noexec'] },
  ];
}

export interface RuntimeSpecInput {
  readonly container: any;
  readonly podSpec: any;
  readonly argv: string[];
  readonly env: string[];
  readonly cwd: string;
  readonly user: ProcessUser;
  readonly rootfs: string;
  readonly mounts: OciMount[];
  readonly netnsPath: string;
  readonly ipcNsPath: string;
  readonly utsNsPath: string;
  readonly cgroupsPath?: string;
}

/** The OCI runtime spec (config.json) for one container, as containerd's CRI plugin would write it. */
export function runtimeSpec(input: RuntimeSpecInput): any {
  const { container } = input;
  const sc = effectiveSecurityContext(input.podSpec, container);
  if (sc.privileged) throw new PodError('Unsupported', `container ${container.name}: privileged containers are not run by this runner`);
  if (input.podSpec.shareProcessNamespace) throw new PodError('Unsupported', 'shareProcessNamespace');
  const seccomp = seccompFor(sc);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: input.user,
      args: input.argv,
      env: input.env,
      cwd: input.cwd,
      capabilities: capabilities(container),
      // allowPrivilegeEscalation: false is no_new_privs; unset means the kernel default (off).
      noNewPrivileges: sc.allowPrivilegeEscalation === false,
    },
    root: { path: input.rootfs, readonly: sc.readOnlyRootFilesystem === true },
    mounts: input.mounts,
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'mount' },
        { type: 'network', path: input.netnsPath },
        { type: 'ipc', path: input.ipcNsPath },
        { type: 'uts', path: input.utsNsPath },
      ],
      ...(input.cgroupsPath ? { cgroupsPath: input.cgroupsPath, resources: linuxResources(container) } : {}),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      ...(seccomp ? { seccomp } : {}),
    },
  };
}

/** Number of path components: containerd mounts parents before children. */
export const mountDepth = (m: OciMount) => path.normalize(m.destination).split('/').filter(Boolean).length;
