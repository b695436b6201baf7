// Prints, as JSON lines, every container the constructs put in a pod (each pod kind at least once:
// LB Deployment with loadKernelModules, node agent DaemonSet, in-cluster gobgpd reflector with its
// reflector agent, a TUN backend workload with the init container its service adds), with its image,
// command, args, user, env values and the programs it runs: scripts/build-images.sh checks that each
// image is one it builds and that each program exists there for the container's user.
//   node_modules/.bin/ts-node --transpile-only scripts/image-commands.ts
import * as kplus from 'cdk8s-plus-27';
import { Backends, EcmpApp, EcmpTopology, ForwardingMethod, LoadBalancerService, ReflectorPlacement } from '../lib';
import { TUNNEL_BACKEND_PROGRAMS, TUNNEL_BACKEND_SCRIPT } from '../lib/tunnel-backend';

const app = new EcmpApp({ outdir: '/nonexistent' });
const topology = new EcmpTopology(app, 'ecmp', {
  namespace: 'lb',
  asn: 65021,
  podNetworks: ['198.19.128.0/17'],
  routeReflectors: [{ name: 'rr1', address: '198.18.0.21', placement: ReflectorPlacement.inCluster({ nodeName: 'n21' }) }],
  upstreamRouters: [{ name: 'router', address: '198.18.0.110' }],
});
new LoadBalancerService(topology, 'web', {
  prefixes: ['198.18.101.0/24'],
  ports: [{ port: 80, backendPort: 8080 }],
  backends: Backends.fromLabels({ app: 'web' }),
  routeReflectors: topology.routeReflectors,
  loadKernelModules: true,
});
/** The app's own backend image: not one the constructs run. */
const BACKEND_IMAGE = 'nginxinc/nginx-unprivileged:1.25';
new LoadBalancerService(topology, 'tun', {
  prefixes: ['198.18.103.0/24'],
  ports: [{ port: 80 }],
  backends: Backends.fromWorkload(new kplus.Deployment(topology, 'tun-backend', { containers: [{ image: BACKEND_IMAGE, portNumber: 80 }] })),
  routeReflectors: topology.routeReflectors,
  forwardingMethod: ForwardingMethod.TUNNEL,
});
/** The programs a container runs: its command, or for the TUN init container's script the programs it calls. */
const programsOf = (command: string[]) => (command[2] === TUNNEL_BACKEND_SCRIPT ? TUNNEL_BACKEND_PROGRAMS : command.slice(0, 1));

for (const manifest of app.charts.flatMap((chart) => chart.toJson())) {
  const pod = manifest.spec?.template?.spec;
  if (!pod) continue;
  for (const [kind, list] of [['init', pod.initContainers ?? []], ['container', pod.containers ?? []]]) {
    for (const c of list.filter((c: any) => c.image !== BACKEND_IMAGE)) {
      process.stdout.write(`${JSON.stringify({
        pod: `${manifest.kind}/${manifest.metadata.name}`, kind, name: c.name, image: c.image,
        command: c.command ?? [], programs: programsOf(c.command ?? []), args: c.args ?? [], runAsUser: c.securityContext?.runAsUser ?? 0,
        readOnlyRootFilesystem: c.securityContext?.readOnlyRootFilesystem === true,
        env: Object.fromEntries((c.env ?? []).filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value])),
        mounts: (c.volumeMounts ?? []).map((m: any) => m.mountPath),
      })}\n`);
    }
  }
}
