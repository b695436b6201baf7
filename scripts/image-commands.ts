// Prints, as JSON lines, every container the constructs put in a pod (each pod kind at least once:
// LB Deployment with loadKernelModules, node agent DaemonSet, in-cluster gobgpd reflector with its
// reflector agent), with its image, command, args, user and env values: scripts/build-images.sh checks
// that each image is one it builds and that each command exists there for the container's user.
//   node_modules/.bin/ts-node --transpile-only scripts/image-commands.ts
import { Backends, EcmpApp, EcmpTopology, LoadBalancerService, RouteReflectorPlacement } from '../lib';

const app = new EcmpApp({ outdir: '/nonexistent' });
const topology = new EcmpTopology(app, 'ecmp', {
  namespace: 'lb',
  asn: 65021,
  podNetworks: ['198.19.128.0/17'],
  routeReflectors: [{ name: 'rr1', address: '198.18.0.21', placement: RouteReflectorPlacement.IN_CLUSTER, nodeName: 'n21' }],
  upstreamRouters: [{ name: 'router', address: '198.18.0.110' }],
});
new LoadBalancerService(topology, 'web', {
  prefixes: ['198.18.101.0/24'],
  ports: [{ port: 80, backendPort: 8080 }],
  backends: Backends.fromLabels({ app: 'web' }),
  routeReflectors: topology.routeReflectors,
  loadKernelModules: true,
});

for (const manifest of app.charts.flatMap((chart) => chart.toJson())) {
  const pod = manifest.spec?.template?.spec;
  if (!pod) continue;
  for (const [kind, list] of [['init', pod.initContainers ?? []], ['container', pod.containers ?? []]]) {
    for (const c of list) {
      process.stdout.write(`${JSON.stringify({
        pod: `${manifest.kind}/${manifest.metadata.name}`, kind, name: c.name, image: c.image,
        command: c.command ?? [], args: c.args ?? [], runAsUser: c.securityContext?.runAsUser ?? 0,
        readOnlyRootFilesystem: c.securityContext?.readOnlyRootFilesystem === true,
        env: Object.fromEntries((c.env ?? []).filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value])),
        mounts: (c.volumeMounts ?? []).map((m: any) => m.mountPath),
      })}\n`);
    }
  }
}
