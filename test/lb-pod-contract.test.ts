import * as fs from 'fs';
import * as path from 'path';
import { ForwardingMethod } from '../lib';
import { announceFileText, LB_POD_CONFIG_DIR, LB_POD_FILES, LB_POD_RUN_DIR, lbPodSysctls } from '../lib/lb-pod-contract';
import { synthToDisk, testTopology } from './support/topology';

// What the LB pod's contract (lib/lb-pod-contract.ts) cannot reach by import: the image recipe.

const ROOT = path.join(__dirname, '..');

test.each([ForwardingMethod.NAT, ForwardingMethod.TUNNEL, ForwardingMethod.DIRECT_ROUTING])('%s: the pod spec sets the sysctls the controller checks, conntrack only for NAT\'s SNAT', (forwardingMethod) => {
  const byHand = forwardingMethod === ForwardingMethod.NAT ? {} : { backendsPreparedByHand: true, ports: [{ port: 80 }] };
  const { app } = testTopology({ services: [{ id: 'web', props: { prefixes: ['198.18.101.0/24'], forwardingMethod, ...byHand } }] });
  const pod = synthToDisk(app).manifests.find(m => m.kind === 'Deployment' && m.metadata.name === 'web-lb').spec.template.spec;
  const sysctls: { name: string; value: string }[] = pod.securityContext.sysctls;
  expect(sysctls).toEqual(Object.entries(lbPodSysctls({ forwardingMethod })).map(([name, value]) => ({ name, value })));
  expect(sysctls.some(s => s.name === 'net.ipv4.vs.conntrack')).toBe(forwardingMethod === ForwardingMethod.NAT);
  expect(sysctls.some(s => s.name === 'net.ipv4.vs.sloppy_tcp')).toBe(forwardingMethod !== ForwardingMethod.NAT);
  // The kubelet reports the first sysctl it refuses: docs/install.md and e2e/lb-pod.ts's broken copy expect ip_forward.
  expect(sysctls[0].name).toBe('net.ipv4.ip_forward');
});

test('the exabgp image runs the pod\'s exabgp.conf by default, and the image check mounts the pod\'s directories', () => {
  const exabgp = JSON.parse(fs.readFileSync(path.join(ROOT, 'images/exabgp/config.json'), 'utf8'));
  expect(exabgp.Cmd).toEqual([path.posix.join(LB_POD_RUN_DIR, LB_POD_FILES.exabgpConfig)]);
  const writable = /writable="([^"]*)"/.exec(fs.readFileSync(path.join(ROOT, 'scripts/build-images.sh'), 'utf8'))?.[1].split(':');
  expect(writable).toEqual(expect.arrayContaining([LB_POD_RUN_DIR, LB_POD_CONFIG_DIR]));
});

test('the announce file carries the service\'s route attributes on every line, only those set', () => {
  expect(announceFileText(['198.18.101.0/24'], '198.18.0.5', { communities: ['65021:1'], largeCommunities: [], med: 0 }))
    .toBe('announce route 198.18.101.0/24 next-hop 198.18.0.5 community [65021:1] med 0\n');
  expect(announceFileText(['198.18.101.0/24', '198.18.102.0/24'], '198.18.0.5', { communities: [], largeCommunities: ['1:2:3'], localPreference: 50 }))
    .toBe('announce route 198.18.101.0/24 next-hop 198.18.0.5 large-community [1:2:3] local-preference 50\n'
      + 'announce route 198.18.102.0/24 next-hop 198.18.0.5 large-community [1:2:3] local-preference 50\n');
  expect(() => announceFileText(['198.18.101.0/24'], '198.18.0.5', { communities: ['1:1\nannounce route 0.0.0.0/0 next-hop 6.6.6.6'], largeCommunities: [] }))
    .toThrow(/is not `ASN:VALUE`/);
});
