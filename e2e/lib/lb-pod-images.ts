import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { ApiFront } from './api-front';
import { nodeIp } from './lab';
import { UnpackedImage } from './oci-image';
import { PodRunner, PodRunnerOptions } from './pod-runner';
import { ProcessSet } from './proc';
import { ApiServerDouble } from '../../controller/test/apiserver-double';
import { LB_POD_CONTAINERS } from '../../lib/lb-pod-contract';

/**
 * What the harnesses that run the synthesized pods from the built images share (e2e/lb-pod.ts and
 * the data plane's pod mode, e2e/lib/ipvs-lab.ts): the manifests and images, cgroup v2, the page-cache
 * warm-up, and a pod of a template made the way a kubelet and a CNI plugin would (netns by the
 * caller, the Pod object in the API, the pod runner).
 */

/** The LB nodes' kubelet flag (docs/design.md, Kernel settings). */
export const ALLOWED_UNSAFE_SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv4.vs.*'];
/** Where the pod runner mounts each pod's tmpfs. */
export const POD_RUNNER_DIR = '/run/pod-runner';

/** Every object of the synthesized manifests (`*.yaml` in `dir`). */
export function loadManifests(dir: string): any[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJSON()).filter(Boolean));
}

/** The unpacked images (e2e/unpack-images.ts's images.json) by reference. */
export function loadImages(imagesJson: string): Map<string, UnpackedImage> {
  return new Map((JSON.parse(fs.readFileSync(imagesJson, 'utf8')) as UnpackedImage[]).map((i) => [i.reference, i]));
}

/** The pod template of `service`'s LB Deployment, as synthesized. */
export function lbPodTemplate(manifests: readonly any[], service: string): any {
  const deployment = manifests.find((m) => m.kind === 'Deployment' && m.spec.template.metadata.labels?.['ecmp-lb.cdk8s.io/role'] === 'lb'
    && m.spec.template.metadata.labels?.['app.kubernetes.io/instance'] === service);
  if (!deployment) throw new Error(`no LB Deployment for ${service} in the manifests`);
  return deployment.spec.template;
}

/** cgroup v2, as a node has it (the VM's init mounts only proc, sys and dev): the runner puts memory and CPU limits there. */
export function ensureCgroup2(): void {
  if (!fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) execFileSync('mount', ['-t', 'cgroup2', 'none', '/sys/fs/cgroup']);
}

/**
 * The VM plays every machine of the lab at once. On a real LB node the pods' cgroups compete with
 * that node's own daemons, not with the router, the reflectors, the backends, the client and the
 * harness, which are other machines; but under cgroup v2 every process of the VM's root cgroup
 * weighs as much as the pod runner's whole cgroup tree, whose containers ask for 10-20m CPU
 * (cpu.weight 1). On a busy, software-emulated VM that starved the LB pods for minutes (exabgp's
 * first log line 5 min after its container started). So this process, and everything it starts from
 * now on, goes into a cgroup of its own beside `pod-runner` (the same default weight): the pods' side
 * of the VM gets at least half of its CPU when both want it. Needs cgroup v2 (ensureCgroup2).
 */
export function isolateLabCgroup(): void {
  const root = '/sys/fs/cgroup';
  const controllers = fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8');
  if (!controllers.split(/\s+/).includes('cpu')) fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), '+cpu'); // as crun would for the pods
  fs.mkdirSync(path.join(root, 'e2e-lab'), { recursive: true });
  fs.writeFileSync(path.join(root, 'e2e-lab', 'cgroup.procs'), String(process.pid));
}

let warmed: Promise<void> | undefined;

/**
 * Page-cache warm-up, the VM's stand-in for an image pull: its root file system is the host's through
 * 9p, and a program's first start there pays for every page and module it touches (the image's node
 * -e 0: 11.6 s cold, 1.1 s warm). Loads the LB pod's programs from their images, once per process
 * (a VM run); resolves when they have ended, or after 60 s. Start it before building the lab.
 */
export function warmLbImages(procs: ProcessSet, images: ReadonlyMap<string, UnpackedImage>, template: any): Promise<void> {
  if (warmed) return warmed;
  const rootfsOf = (name: string) => {
    const container = [...(template.spec.initContainers ?? []), ...template.spec.containers].find((c: any) => c.name === name);
    return images.get(container?.image)?.rootfs;
  };
  const warm = [
    ['lb', rootfsOf(LB_POD_CONTAINERS.ipvs), 'exec node -e "require(\'fs\').readFileSync(\'/opt/ecmp-lb/ecmp-lb.js\')"'],
    ['exabgp', rootfsOf(LB_POD_CONTAINERS.exabgp), 'exec exabgp --version'],
  ].filter(([, rootfs]) => rootfs).map(([name, rootfs, script]) => procs.start(`warm-${name}`, undefined, ['chroot', rootfs!, 'sh', '-c', script!],
    { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }));
  warmed = Promise.race([Promise.all(warm.map((w) => w.exited)).then(() => undefined), new Promise<void>((r) => setTimeout(r, 60_000))]);
  return warmed;
}

/** What every pod of the lab's cluster gets from it: images, objects, the API (the HTTPS front) and its service-account token. */
export interface PodCluster {
  readonly images: ReadonlyMap<string, UnpackedImage>;
  readonly manifests: readonly any[];
  readonly front: ApiFront;
  readonly apiServer: { readonly host: string; readonly port: number };
  /** Container logs. */
  readonly logDir: string;
  readonly log?: (line: string) => void;
}

/** A pod as the API lists it once it has an IP (scheduled on node `n<node>`), before its containers start. */
export function upsertPodObject(api: ApiServerDouble, pod: { name: string; namespace: string; node: number; podIp: string; template: any }): void {
  api.upsert(`/api/v1/namespaces/${pod.namespace}/pods`, {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { name: pod.name, namespace: pod.namespace, labels: pod.template.metadata.labels, annotations: pod.template.metadata.annotations },
    spec: { nodeName: `n${pod.node}` },
    status: { phase: 'Running', podIP: pod.podIp, podIPs: [{ ip: pod.podIp }], hostIP: nodeIp(pod.node) },
  });
}

/** The pod runner for a pod of `template` on node `n<node>` in the network namespace `netns` (made by the caller). */
export function podRunner(cluster: PodCluster, pod: { name: string; namespace: string; node: number; podIp: string; netns: string; template: any },
  overrides: Partial<PodRunnerOptions> = {}): PodRunner {
  return new PodRunner({
    template: pod.template, name: pod.name, namespace: pod.namespace, nodeName: `n${pod.node}`, podIp: pod.podIp, hostIp: nodeIp(pod.node), netns: pod.netns,
    images: cluster.images, objects: cluster.manifests, serviceAccount: { token: cluster.front.token, caCert: cluster.front.caCert },
    apiServer: cluster.apiServer, workDir: POD_RUNNER_DIR, logDir: cluster.logDir,
    allowedUnsafeSysctls: ALLOWED_UNSAFE_SYSCTLS, log: cluster.log, ...overrides,
  });
}
