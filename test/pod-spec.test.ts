import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import {
  admitSysctls, capabilities, containerArgv, containerEnv, expand, ObjectStore, PodIdentity, resolveUser, runtimeSpec,
} from '../e2e/lib/pod-spec';

// The pure rules of the e2e pod runner (e2e/lib/pod-runner.ts, docs/pod-runner.md); the IPVS VM test
// (npm run test:pods) runs them for real under crun.

const pod: PodIdentity = {
  name: 'web1-lb-abc', namespace: 'lb', uid: 'u1', nodeName: 'n1', podIp: '198.19.129.2', hostIp: '198.18.0.11',
  serviceAccountName: 'web1-lb', labels: { app: 'x' }, annotations: { 'a/b': 'c' },
};

const made: string[] = [];
afterAll(() => { for (const dir of made) fs.rmSync(dir, { recursive: true, force: true }); });

function rootfs(passwd: string, group = ''): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pod-spec-'));
  made.push(dir);
  fs.mkdirSync(path.join(dir, 'etc'));
  fs.writeFileSync(path.join(dir, 'etc/passwd'), passwd);
  fs.writeFileSync(path.join(dir, 'etc/group'), group);
  return dir;
}

describe('command and args over the image entrypoint and cmd', () => {
  const image = { Entrypoint: ['/usr/sbin/exabgp'], Cmd: ['/run/ecmp-lb/exabgp.conf'] };
  test.each([
    [{}, ['/usr/sbin/exabgp', '/run/ecmp-lb/exabgp.conf']],
    [{ command: ['exabgp'] }, ['exabgp']],
    [{ args: ['-d', 'x.conf'] }, ['/usr/sbin/exabgp', '-d', 'x.conf']],
    [{ command: ['sh', '-c'], args: ['echo $(POD_IP) $$(POD_IP)'] }, ['sh', '-c', 'echo 198.19.129.2 $(POD_IP)']],
  ])('%j', (container, argv) => {
    expect(containerArgv({ name: 'c', ...container }, image, ['POD_IP=198.19.129.2'])).toEqual(argv);
  });
  test('no command anywhere is refused', () => {
    expect(() => containerArgv({ name: 'c' }, {}, [])).toThrow(/CreateContainerError: container c: no command specified/);
  });
  test('unknown $(VAR) references stay as written', () => expect(expand('$(NOPE)-$(A)', new Map([['A', '1']]))).toBe('$(NOPE)-1'));
});

describe('environment', () => {
  test('image env underneath, service variables, downward API, ConfigMap and Secret keys, in order', () => {
    const store = new ObjectStore([
      { kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'lb' }, data: { k: 'v' } },
      { kind: 'Secret', metadata: { name: 's', namespace: 'lb' }, data: { pw: Buffer.from('secret').toString('base64') } },
    ]);
    const env = containerEnv({
      name: 'c',
      env: [
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'ANN', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['a/b']" } } },
        { name: 'K', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'pw' } } },
        { name: 'URL', value: 'http://$(POD_IP):80' },
        { name: 'PATH', value: '/bin' },
      ],
    }, { Env: ['PATH=/usr/bin', 'FROM_IMAGE=1'] }, pod, store, { KUBERNETES_SERVICE_HOST: '10.96.0.1' });
    expect(env).toEqual(['HOSTNAME=web1-lb-abc', 'PATH=/bin', 'FROM_IMAGE=1', 'KUBERNETES_SERVICE_HOST=10.96.0.1', 'POD_IP=198.19.129.2',
      'NODE_IP=198.18.0.11', 'ANN=c', 'K=v', 'PW=secret', 'URL=http://198.19.129.2:80']);
  });
  test('status.podIPs: every IP of a dual-stack pod, comma-separated, the primary first; a single-stack pod\'s one', () => {
    const ips = (identity: typeof pod) => containerEnv({ name: 'c', env: [{ name: 'POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } }] }, {}, identity, new ObjectStore([]), {});
    expect(ips(pod)).toEqual(['HOSTNAME=web1-lb-abc', 'POD_IPS=198.19.129.2']);
    expect(ips({ ...pod, podIps: ['198.19.129.2', '2001:db8:130::2'] })).toEqual(['HOSTNAME=web1-lb-abc', 'POD_IPS=198.19.129.2,2001:db8:130::2']);
  });
  test('a missing key is a CreateContainerConfigError unless optional', () => {
    const store = new ObjectStore([{ kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'lb' }, data: {} }]);
    const env = (optional?: boolean) => containerEnv({ name: 'c', env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k', optional } } }] }, {}, pod, store, {});
    expect(() => env()).toThrow("CreateContainerConfigError: couldn't find key k in ConfigMap lb/cm");
    expect(env(true)).toEqual(['HOSTNAME=web1-lb-abc']);
  });
});

describe('user and runAsNonRoot', () => {
  const fsroot = rootfs('root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/:/bin/sh\n', 'root:x:0:\nnogroup:x:65534:\nnet:x:50:app\n');
  test('runAsUser wins over the image user; gid from passwd, groups from /etc/group', () => {
    expect(resolveUser(fsroot, { User: '65534' }, {}, { name: 'c', securityContext: { runAsUser: 1000 } }, 'p')).toEqual({ uid: 1000, gid: 1000, additionalGids: [50] });
  });
  test('image user by name, uid:gid, and runAsGroup', () => {
    expect(resolveUser(fsroot, { User: 'nobody' }, {}, { name: 'c' }, 'p')).toEqual({ uid: 65534, gid: 65534, additionalGids: [] });
    expect(resolveUser(fsroot, { User: '65534:65534' }, { securityContext: { runAsGroup: 7 } }, { name: 'c' }, 'p')).toEqual({ uid: 65534, gid: 7, additionalGids: [] });
    expect(resolveUser(fsroot, {}, {}, { name: 'c', securityContext: { runAsUser: 4242 } }, 'p')).toEqual({ uid: 4242, gid: 0, additionalGids: [] });
  });
  test('runAsNonRoot refuses uid 0, a root image, and a non-numeric image user (the kubelet\'s messages)', () => {
    expect(() => resolveUser(fsroot, {}, { securityContext: { runAsNonRoot: true } }, { name: 'ipvs', securityContext: { runAsUser: 0 } }, 'p'))
      .toThrow('CreateContainerConfigError: container\'s runAsUser breaks non-root policy (pod: "p", container: ipvs)');
    expect(() => resolveUser(fsroot, {}, {}, { name: 'c', securityContext: { runAsNonRoot: true } }, 'p'))
      .toThrow('container has runAsNonRoot and image will run as root (pod: "p", container: c)');
    expect(() => resolveUser(fsroot, { User: 'app' }, {}, { name: 'c', securityContext: { runAsNonRoot: true } }, 'p'))
      .toThrow('container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root');
  });
});

describe('capabilities as containerd writes them', () => {
  test('drop ALL, add NET_ADMIN: bounding, effective and permitted; no inheritable, no ambient', () => {
    expect(capabilities({ securityContext: { capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] } } }))
      .toEqual({ bounding: ['CAP_NET_ADMIN'], effective: ['CAP_NET_ADMIN'], permitted: ['CAP_NET_ADMIN'], inheritable: [], ambient: [] });
  });
  test('nothing said: containerd\'s 14 default capabilities; drop one of them', () => {
    expect(capabilities({}).bounding).toHaveLength(14);
    expect(capabilities({ securityContext: { capabilities: { drop: ['NET_RAW'] } } }).bounding).not.toContain('CAP_NET_RAW');
  });
});

describe('sysctl admission', () => {
  const sysctls = [{ name: 'net.ipv4.ip_forward', value: '1' }, { name: 'net.ipv4.vs.conntrack', value: '1' }];
  test('safe ones pass; unsafe ones need --allowed-unsafe-sysctls (patterns); only namespaced ones', () => {
    expect(() => admitSysctls([{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }], [], false)).not.toThrow();
    expect(() => admitSysctls(sysctls, [], false)).toThrow('SysctlForbidden: forbidden sysctl: "net.ipv4.ip_forward" not allowlisted');
    expect(() => admitSysctls(sysctls, ['net.ipv4.ip_forward', 'net.ipv4.vs.*'], false)).not.toThrow();
    expect(() => admitSysctls([{ name: 'vm.swappiness', value: '1' }], ['vm.*'], false)).toThrow(/not namespaced/);
    expect(() => admitSysctls(sysctls, ['net.*'], true)).toThrow(/not allowed with host net enabled/);
  });
});

test('every container of the synthesized LB pod template gets a runtime spec (dist/)', () => {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(__dirname, '..', 'dist', 'ecmp.k8s.yaml'), 'utf8')).map((d) => d.toJSON());
  const lb = docs.find((d) => d?.kind === 'Deployment' && d.spec.template.metadata.labels?.['ecmp-lb.cdk8s.io/role'] === 'lb');
  const spec = lb.spec.template.spec;
  const fsroot = rootfs('root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n');
  for (const container of [...spec.initContainers, ...spec.containers]) {
    const user = resolveUser(fsroot, {}, spec, container, 'p');
    const config = runtimeSpec({
      container, podSpec: spec, argv: containerArgv(container, { Entrypoint: ['x'] }, []), env: [], cwd: '/', user, rootfs: '/r', mounts: [],
      netnsPath: '/var/run/netns/p', ipcNsPath: '/proc/1/ns/ipc', utsNsPath: '/proc/1/ns/uts', cgroupsPath: '/pod-runner/u/c',
    });
    expect(config.root.readonly).toBe(true);
    expect(config.process.noNewPrivileges).toBe(true);
    expect(config.linux.seccomp.syscalls[0].names).toContain('unshare');
    expect(config.process.capabilities.effective).toEqual(container.name === 'ipvs' ? ['CAP_NET_ADMIN'] : []);
    expect(config.process.user.uid).toBe(container.name === 'ipvs' ? 0 : 65534);
    if (container.resources?.limits?.memory) expect(config.linux.resources.memory.limit).toBeGreaterThan(0);
  }
});
