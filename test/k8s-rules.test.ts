import {
  annotations, collisions, configMapKey, dns1035Label, dns1123Label, dns1123Subdomain, envVarName, ianaSvcName, imageReference, labels,
  labelValue, manifestRules, objectName, parseQuantity, pathSegmentName, qualifiedName, resourceQuantity, resourceRequirements, sysctlName,
} from './support/k8s-rules';

// The API server's name and value rules that test/support/k8s-rules.ts re-implements, each
// against values the Kubernetes 1.27 validation accepts and refuses (apimachinery's own test cases
// where it has them).

const ok = (rule: (v: any) => string[], values: unknown[]) => {
  for (const v of values) expect([v, rule(v)]).toEqual([v, []]);
};
const bad = (rule: (v: any) => string[], values: unknown[]) => {
  for (const v of values) expect([v, rule(v).length > 0]).toEqual([v, true]);
};

test('DNS-1123 labels', () => {
  ok(dns1123Label, ['a', 'ab', 'a-b', '1', '1-web', 'a'.repeat(63), '0'.repeat(63)]);
  bad(dns1123Label, ['', 'A', '-a', 'a-', 'a.b', 'a_b', 'a'.repeat(64), 'ä', 'a b', undefined]);
});

test('DNS-1035 labels (Service names) must start with a letter', () => {
  ok(dns1035Label, ['a', 'web-backends', 'a'.repeat(63)]);
  bad(dns1035Label, ['1web-backends', '0', '', 'A', 'a-', 'a'.repeat(64)]);
});

test('DNS-1123 subdomains', () => {
  ok(dns1123Subdomain, ['a', 'a.b', 'a-b.c-d', '1.2.3', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`]);
  bad(dns1123Subdomain, ['', 'a..b', '.a', 'a.', 'A.b', 'a_b', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`]);
});

test('RBAC names are path segments', () => {
  ok(pathSegmentName, ['a', 'A_b:c', 'system:node']);
  bad(pathSegmentName, ['', '.', '..', 'a/b', 'a%b']);
});

test('qualified names (label and annotation keys)', () => {
  ok(qualifiedName, ['a', 'A', 'a-b_c.d', 'app.kubernetes.io/name', 'k8s.io/a', 'a/b', `${'a'.repeat(253)}/b`, 'x'.repeat(63), 'a/A.b']);
  bad(qualifiedName, ['', '/a', 'a/', 'a/b/c', 'A.io/b', '-a', 'a-', 'a b', 'x'.repeat(64), `${'a'.repeat(254)}/b`, 'ä', 'a/_b']);
});

test('label values', () => {
  ok(labelValue, ['', 'a', 'A', '1', 'a-b_c.D', 'x'.repeat(63)]);
  bad(labelValue, ['-a', 'a-', '_a', 'a b', 'a/b', 'x'.repeat(64), 'ä']);
});

test('label maps, nodeSelectors and matchLabels: keys and values', () => {
  expect(labels({ 'app.kubernetes.io/name': 'ecmp-lb', zone: '' })).toEqual([]);
  expect(labels(undefined)).toEqual([]);
  expect(labels({ 'bad key': 'v' })).toHaveLength(1);
  expect(labels({ k: 'bad value' })).toHaveLength(1);
  expect(labels({ k: 1 as any })).toHaveLength(1);
});

test('annotations: qualified keys, 256 KiB in all', () => {
  expect(annotations({ 'ecmp-lb.cdk8s.io/prefixes': '198.18.1.0/24,198.18.2.0/24' })).toEqual([]);
  expect(annotations({ 'a/b/c': 'x' })).toHaveLength(1);
  expect(annotations({ big: 'x'.repeat(256 * 1024 - 3) })).toEqual([]);
  expect(annotations({ big: 'x'.repeat(256 * 1024 - 2) })).toHaveLength(1);
});

test('port names are IANA_SVC_NAMEs', () => {
  ok(ianaSvcName, ['http', 'tcp-8080', 'a', 'a1', '1a', 'x'.repeat(15), 'metrics', 'bgp']);
  bad(ianaSvcName, ['', '8080', 'x'.repeat(16), 'a--b', '-a', 'a-', 'Http', 'a_b', 'a.b']);
});

test('env var names', () => {
  ok(envVarName, ['POD_IP', 'a', '_x', 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1', '-a']);
  bad(envVarName, ['', '1A', 'A B', 'A=B', '.', '..', '..a', 'ä']);
});

test('ConfigMap keys and sysctl names', () => {
  ok(configMapKey, ['service.json', 'gobgpd.toml', 'lb-pod-bindings.json', '_a', 'A']);
  bad(configMapKey, ['', '.', '..', 'a/b', 'a b', 'x'.repeat(254)]);
  ok(sysctlName, ['net.ipv4.ip_forward', 'net.ipv4.vs.conn_reuse_mode', 'net/ipv4/ip_forward', 'kernel.shm_rmid_forced']);
  bad(sysctlName, ['', 'net..ipv4', 'Net.ipv4', 'net.ipv4.', '_net.x']);
});

test('resource quantities', () => {
  const values: [string, number][] = [['100m', 0.1], ['1', 1], ['0.5', 0.5], ['.5', 0.5], ['1.', 1], ['64Mi', 64 * 2 ** 20], ['1Gi', 2 ** 30], ['1e3', 1000], ['1E-3', 0.001], ['128M', 128e6], ['2k', 2000], ['+1', 1], ['10n', 1e-8], ['5u', 5e-6]];
  for (const [text, value] of values) expect([text, parseQuantity(text)]).toEqual([text, expect.closeTo(value, 12)]);
  for (const text of ['', '1.5.5', '100 m', 'm', '1mi', '1KI', 'abc', '1e', '1Mi ', ' 1', '1k5', '0x10', 'NaN', 'Infinity', '1ki']) expect([text, parseQuantity(text)]).toEqual([text, undefined]);
  expect(resourceQuantity('-1')).toHaveLength(1);
  expect(resourceQuantity('64Mi')).toEqual([]);
  expect(resourceRequirements({ requests: { memory: '64Mi' }, limits: { memory: '256Mi' } })).toEqual([]);
  expect(resourceRequirements({ requests: { memory: '512Mi' }, limits: { memory: '256Mi' } })).toHaveLength(1);
  expect(resourceRequirements({ requests: { 'bad name!': '1' } })).toHaveLength(1);
});

test('image references', () => {
  ok(imageReference, [
    'nginx', 'nginx:1.25', 'cdk8s-ecmp-lb/lb:0.1.0', 'registry.example.com:5000/team/lb:1.2.3', 'localhost/lb:dev_1', 'a__b/c--d/e.f:TAG',
    `ghcr.io/org/exabgp@sha256:${'a'.repeat(64)}`, `lb:1@sha256:${'0'.repeat(64)}`, '[2001:db8::1]:5000/lb', 'Registry.Example.com/lb',
  ]);
  bad(imageReference, [
    '', ' nginx', 'nginx ', 'Nginx', 'nginx:', ':tag', 'nginx:tag:tag', 'foo bar', 'a@sha256:xyz', 'nginx:-tag', `nginx:${'t'.repeat(129)}`,
    'a//b', 'a/-b', 'a_/b', '-a', 'a.', 'http://nginx', 'a:b/c',
  ]);
});

test('object names by kind', () => {
  expect(objectName('Service', '1web-backends')).toHaveLength(1);
  expect(objectName('ConfigMap', '1web-lb')).toEqual([]);
  expect(objectName('Deployment', 'a.b')).toEqual([]);
  expect(objectName('Namespace', 'a.b')).toHaveLength(1);
  expect(objectName('Role', 'Any:Name')).toEqual([]);
});

test('manifestRules finds problems in a whole manifest; collisions compares group, kind, namespace and name', () => {
  const deployment = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'lb', labels: { a: 'b' } },
    spec: {
      selector: { matchLabels: { a: 'b' } },
      template: {
        metadata: { labels: { a: 'b' } },
        spec: {
          containers: [{ name: 'main', image: 'nginx:1.25', ports: [{ name: 'http', containerPort: 80 }], env: [{ name: 'X', value: '1' }], volumeMounts: [{ name: 'v', mountPath: '/v' }] }],
          volumes: [{ name: 'v', emptyDir: {} }],
        },
      },
    },
  };
  expect(manifestRules(deployment)).toEqual([]);
  const broken = JSON.parse(JSON.stringify(deployment));
  broken.metadata.namespace = 'Bad_NS';
  broken.spec.template.metadata.labels.a = 'c';
  broken.spec.template.spec.containers[0].image = 'Nginx';
  broken.spec.template.spec.containers[0].ports[0].name = 'http--x';
  broken.spec.template.spec.nodeSelector = { 'a b': 'x' };
  broken.spec.template.spec.containers.push({ name: 'main', image: 'nginx', resources: { limits: { memory: '1.5.5' } } });
  const problems = manifestRules(broken);
  for (const what of ['metadata.namespace', 'does not match', 'image', 'port name', 'nodeSelector', 'defined twice', 'limits.memory']) {
    expect([what, problems.some(p => p.includes(what))]).toEqual([what, true]);
  }
  const cm = (name: string, namespace?: string, apiVersion = 'v1') => ({ apiVersion, kind: 'ConfigMap', metadata: { name, namespace } });
  expect(collisions([cm('a', 'x'), cm('a', 'y'), cm('b', 'x')])).toEqual([]);
  expect(collisions([cm('a', 'x'), cm('a', 'x')])).toEqual(['/ConfigMap x/a is defined 2 times']);
  expect(collisions([cm('a'), cm('a', 'default')])).toHaveLength(1);
  expect(collisions([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', namespace: 'z' } }])).toHaveLength(1);
});
