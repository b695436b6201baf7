import * as fs from 'fs';
import { Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Backends, EcmpApp, LoadBalancerService, ReflectorDaemon, RouteReflector, ReflectorPlacement, UpstreamRouterConfig } from '../../lib';
import { BGP_PASSWORD_ENV } from '../../lib/model';
import { validateManifest } from '../support/k8s-schema';
import { synthToDisk, tempDir, testTopology } from '../support/topology';

// The Kubernetes side of docs/security.md, asserted on every synthesized pod.

/** Every pod template with the kind and name of its owner. */
function pods(manifests: any[]): { owner: string; spec: any }[] {
  return manifests.filter(m => m.spec?.template?.spec).map(m => ({ owner: `${m.kind}/${m.metadata.name}`, spec: m.spec.template.spec }));
}

/**
 * The paper topology plus an in-cluster reflector with a NetworkPolicy, a standalone FRR reflector
 * that signs its LB sessions with TCP-MD5, and one service with module loading.
 */
function fullTopology() {
  const outdir = tempDir('ecmp-sec-k8s');
  const app = new EcmpApp({ outdir });
  const chart = new Chart(app, 'sec', { namespace: 'lb' });
  const bgpPassword = { secret: kplus.Secret.fromSecretName(chart, 'bgp-key', 'bgp-md5'), key: 'password', signLoadBalancerSessions: true };
  const rr = new RouteReflector(chart, 'rr1', {
    asn: 65021, address: '198.18.0.21', podNetworks: ['198.19.128.0/17'], placement: ReflectorPlacement.inCluster({ nodeName: 'node-21', networkPolicy: true }),
  });
  const signing = new RouteReflector(chart, 'rr2', { asn: 65021, address: '198.18.0.22', podNetworks: ['198.19.128.0/17'], daemon: ReflectorDaemon.FRR, bgpPassword });
  new UpstreamRouterConfig(chart, 'router', { address: '198.18.0.110', routeReflectors: [rr] });
  new UpstreamRouterConfig(chart, 'router2', { address: '198.18.0.111', routeReflectors: [rr] });
  new UpstreamRouterConfig(chart, 'router3', { address: '198.18.0.112', routeReflectors: [signing] });
  new LoadBalancerService(chart, 'web1', { prefixes: ['198.18.101.0/24'], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'web1' }), routeReflectors: [rr] });
  new LoadBalancerService(chart, 'signed', { prefixes: ['198.18.103.0/24'], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'signed' }), routeReflectors: [signing] });
  new LoadBalancerService(chart, 'legacy', {
    prefixes: ['198.18.102.0/24'], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'legacy' }), routeReflectors: [rr], loadKernelModules: true,
  });
  return { app, outdir, ...synthToDisk(app) };
}

describe.each([
  ['the default topology', () => { const t = testTopology(); return { outdir: t.outdir, ...synthToDisk(t.app) }; }],
  ['in-cluster reflector with NetworkPolicy, a signing FRR reflector, a service with module loading', fullTopology],
])('%s', (_name, build) => {
  const { manifests, files, outdir } = build();
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('every manifest validates against the Kubernetes 1.27 schema', () => {
    for (const m of manifests) validateManifest(m);
  });

  test('every pod: seccomp RuntimeDefault, every container drops ALL, read-only root, no escalation, not privileged', () => {
    const all = pods(manifests);
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const { owner, spec } of all) {
      expect([owner, spec.securityContext?.seccompProfile?.type]).toEqual([owner, 'RuntimeDefault']);
      expect(spec.hostPID ?? false).toBe(false);
      expect(spec.hostIPC ?? false).toBe(false);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const sc = c.securityContext;
        const where = `${owner} container ${c.name}`;
        expect([where, sc.allowPrivilegeEscalation, sc.readOnlyRootFilesystem, sc.privileged, sc.capabilities.drop]).toEqual([where, false, true, false, ['ALL']]);
      }
    }
  });

  test('capabilities: NET_ADMIN only where the kernel is programmed, SYS_MODULE only when opted in; everyone else non-root', () => {
    for (const { owner, spec } of pods(manifests)) {
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const sc = c.securityContext;
        const where = `${owner} container ${c.name}`;
        const programsKernel = c.name === 'ipvs' || c.name === 'node-agent';
        const loadsModules = owner === 'Deployment/legacy-lb' && c.name === 'ipvs';
        expect([where, sc.capabilities.add ?? []]).toEqual([where, loadsModules ? ['NET_ADMIN', 'SYS_MODULE'] : programsKernel ? ['NET_ADMIN'] : []]);
        if (!programsKernel) expect([where, sc.runAsNonRoot, sc.runAsUser]).toEqual([where, true, 65534]);
      }
    }
  });

  test('host access: host network only for the node agent; the only hostPath is /lib/modules, read-only, for the opted-in service', () => {
    for (const { owner, spec } of pods(manifests)) {
      expect([owner, spec.hostNetwork ?? false]).toEqual([owner, owner === 'DaemonSet/ecmp-lb-node-agent']);
      const hostPaths = (spec.volumes ?? []).filter((v: any) => v.hostPath);
      if (owner !== 'Deployment/legacy-lb') {
        expect([owner, hostPaths]).toEqual([owner, []]);
        continue;
      }
      expect(hostPaths).toEqual([{ name: 'modules', hostPath: { path: '/lib/modules', type: 'Directory' } }]);
      const mounts = spec.containers.flatMap((c: any) => (c.volumeMounts ?? []).filter((m: any) => m.name === 'modules').map((m: any) => [c.name, m]));
      expect(mounts).toEqual([['ipvs', { name: 'modules', mountPath: '/lib/modules', readOnly: true }]]);
    }
  });

  test('secrets: only config-rendering init containers get a Secret, through the env; no key in any file or ConfigMap', () => {
    for (const { owner, spec } of pods(manifests)) {
      for (const c of spec.containers) expect([owner, c.name, JSON.stringify(c.env ?? [])]).toEqual([owner, c.name, expect.not.stringContaining('secretKeyRef')]);
      for (const c of spec.initContainers ?? []) {
        for (const e of (c.env ?? []).filter((v: any) => v.valueFrom?.secretKeyRef)) {
          expect([owner, c.name, e.name]).toEqual([owner, 'render-config', BGP_PASSWORD_ENV]);
        }
      }
      expect((spec.volumes ?? []).filter((v: any) => v.secret)).toEqual([]);
    }
    // The one Secret is the standalone reflector agent's API token, which Kubernetes fills in.
    for (const secret of manifests.filter(m => m.kind === 'Secret')) {
      expect(secret).toEqual({
        apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token',
        metadata: { name: 'rr1-reflector-agent-token', namespace: 'lb', annotations: { 'kubernetes.io/service-account.name': 'rr1-reflector-agent' } },
      });
    }
    for (const [file, text] of files) if (!file.endsWith('.yaml')) expect([file, text]).toEqual([file, expect.not.stringMatching(/password\s*=?\s*"?[A-Za-z0-9]/i)]);
  });
});

describe('the in-cluster reflector with a NetworkPolicy', () => {
  const { manifests, outdir } = fullTopology();
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));
  const rr = manifests.find(m => m.kind === 'Deployment' && m.metadata.name === 'rr1-gobgpd').spec.template.spec;

  test('API tokens: only the reflector agent container gets one, read-only; the pod automounts none', () => {
    expect(rr.automountServiceAccountToken).toBe(false);
    const withToken = rr.containers.filter((c: any) => (c.volumeMounts ?? []).some((m: any) => m.name === 'api-token'));
    expect(withToken.map((c: any) => [c.name, c.command, c.volumeMounts.find((m: any) => m.name === 'api-token')])).toEqual([
      ['reflector-agent', ['ecmp-lb', 'reflector-agent', '--config', '/etc/gobgpd/lb-pod-bindings.json'], { name: 'api-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    ]);
    expect(rr.volumes.find((v: any) => v.name === 'api-token').projected.sources[0]).toEqual({ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } });
    const role = manifests.find(m => m.kind === 'Role' && m.metadata.name === 'rr1-reflector-agent');
    expect(role).toMatchObject({ metadata: { namespace: 'lb' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] });
    const binding = manifests.find(m => m.kind === 'RoleBinding' && m.metadata.name === 'rr1-reflector-agent');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'rr1-gobgpd', namespace: 'lb' }]);
    expect(JSON.parse(manifests.find(m => m.kind === 'ConfigMap' && m.metadata.name === 'rr1-gobgpd').data['lb-pod-bindings.json'])).toEqual({
      gobgpApi: '127.0.0.1:50051', bindings: [{ namespace: 'lb', service: 'legacy' }, { namespace: 'lb', service: 'web1' }],
      // BFD with the LB pods (the default), bound to every pod address; none with the routers (SNATed, not on their segment).
      bfd: { minIntervalMs: 300, multiplier: 3, localAddress: '0.0.0.0' },
    });
  });

  test('NetworkPolicy: only LB pods (any namespace) reach the BGP and BFD ports; the reflector reaches only the routers\' BGP port and the LB pods\' BFD port', () => {
    const policy = manifests.find(m => m.kind === 'NetworkPolicy');
    validateManifest(policy);
    expect(policy.metadata.name).toBe('rr1-gobgpd');
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ecmp-lb-route-reflector', 'ecmp-lb.cdk8s.io/reflector': 'rr1' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'ecmp-lb.cdk8s.io/role': 'lb' } } }], ports: [{ protocol: 'TCP', port: 179 }, { protocol: 'UDP', port: 4784 }] }],
      egress: [
        { to: [{ ipBlock: { cidr: '198.18.0.110/32' } }, { ipBlock: { cidr: '198.18.0.111/32' } }], ports: [{ protocol: 'TCP', port: 179 }] },
        // The reflector agent's API server.
        { ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 6443 }] },
        // The agent's BFD packets to the LB pods (a flow of their own, not replies).
        { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'ecmp-lb.cdk8s.io/role': 'lb' } } }], ports: [{ protocol: 'UDP', port: 4784 }] },
      ],
    });
    // The policy selects the reflector pod, and LB pods carry the label it admits.
    expect(rr.containers[0].name).toBe('gobgpd');
    const lbLabels = manifests.find(m => m.kind === 'Deployment' && m.metadata.name === 'web1-lb').spec.template.metadata.labels;
    expect(lbLabels['ecmp-lb.cdk8s.io/role']).toBe('lb');
    const rrLabels = manifests.find(m => m.kind === 'Deployment' && m.metadata.name === 'rr1-gobgpd').spec.template.metadata.labels;
    expect(rrLabels).toMatchObject(policy.spec.podSelector.matchLabels);
  });

  test('no NetworkPolicy unless asked', () => {
    const { manifests: plain, outdir: dir } = (() => {
      const t = testTopology({ topology: { routeReflectors: [{ name: 'rr1', address: '198.18.0.21', placement: ReflectorPlacement.inCluster({ nodeName: 'n' }) }] } });
      return { outdir: t.outdir, ...synthToDisk(t.app) };
    })();
    expect(plain.filter(m => m.kind === 'NetworkPolicy')).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('bad security props are refused with construct, field, value and fix', () => {
  const outdir = tempDir('ecmp-sec-bad');
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));
  const chart = () => new Chart(new EcmpApp({ outdir }), 'c', { namespace: 'lb' });

  test('a malformed Secret key', () => {
    const c = chart();
    const secret = kplus.Secret.fromSecretName(c, 's', 'bgp');
    expect(() => new RouteReflector(c, 'rr1', { asn: 65021, address: '198.18.0.109', podNetworks: ['198.19.128.0/17'], bgpPassword: { secret, key: 'a key/with spaces' } }))
      .toThrow(/^RouteReflector 'c\/rr1': bgpPassword\.key "a key\/with spaces" is not a Secret data key\. Fix: /);
  });

  test('a missing Secret', () => {
    expect(() => new RouteReflector(chart(), 'rr1', { asn: 65021, address: '198.18.0.109', podNetworks: ['198.19.128.0/17'], bgpPassword: { key: 'password' } as any }))
      .toThrow(/^RouteReflector 'c\/rr1': bgpPassword\.secret \(not set\) is not a Secret\. Fix: /);
  });

  test('reflectors with different keys behind one router and one service', () => {
    const c = chart();
    const secret = kplus.Secret.fromSecretName(c, 's', 'bgp');
    const rr1 = new RouteReflector(c, 'rr1', { asn: 65021, address: '198.18.0.109', podNetworks: ['198.19.128.0/17'], bgpPassword: { secret, key: 'password' } });
    const rr2 = new RouteReflector(c, 'rr2', { asn: 65021, address: '198.18.0.108', podNetworks: ['198.19.128.0/17'] });
    new UpstreamRouterConfig(c, 'router', { address: '198.18.0.110', routeReflectors: [rr1, rr2] });
    new LoadBalancerService(c, 'web', { prefixes: ['198.18.101.0/24'], ports: [{ port: 80 }], backends: Backends.fromLabels({ app: 'web' }), routeReflectors: [rr1, rr2] });
    const app = c.node.root as EcmpApp;
    expect(() => app.synth()).toThrow(/UpstreamRouterConfig 'c\/router': routeReflectors \["rr1","rr2"\] mix TCP-MD5 settings .*Fix: give every reflector the same bgpPassword/);
    expect(() => app.synth()).toThrow(/LoadBalancerService 'c\/web': routeReflectors \["rr1","rr2"\] mix TCP-MD5 settings/);
  });
});

test('with TCP-MD5, NetworkPolicy and module loading, two synths are still byte-identical', () => {
  const first = fullTopology();
  const second = fullTopology();
  try {
    expect([...second.files.keys()]).toEqual([...first.files.keys()]);
    for (const [file, text] of first.files) expect(second.files.get(file)).toBe(text);
  } finally {
    for (const { outdir } of [first, second]) fs.rmSync(outdir, { recursive: true, force: true });
  }
});
