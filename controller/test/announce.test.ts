import { announceFileText } from '../../lib/lb-pod-contract';
import { backoffDelay, retryAfterMs } from '../src/backoff';
import { ipvsHasHealthyRealServer, parseProcIpvs } from '../src/ipvs-table';

test('the announce file lists every prefix with the node as next hop', () => {
  expect(announceFileText(['198.19.10.0/24', '198.19.11.0/24'], '198.18.0.5'))
    .toBe('announce route 198.19.10.0/24 next-hop 198.18.0.5\nannounce route 198.19.11.0/24 next-hop 198.18.0.5\n');
});

test('backoff grows exponentially, stays within [ceiling/2, ceiling] and caps', () => {
  const policy = { initialMs: 100, maxMs: 1000 };
  expect(backoffDelay(policy, 0, () => 0)).toBe(50);
  expect(backoffDelay(policy, 0, () => 0.999999)).toBe(100);
  expect(backoffDelay(policy, 3, () => 0)).toBe(400);
  expect(backoffDelay(policy, 50, () => 0.999999)).toBe(1000);
  expect(retryAfterMs('3')).toBe(3000);
  expect(retryAfterMs('soon')).toBeUndefined();
  expect(retryAfterMs(undefined)).toBeUndefined();
});

// Captured from `cat /proc/net/ip_vs` with one mh service, a real server up and one down (weight 0).
const PROC_IP_VS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C6130A01:0050 mh
  -> C6120501:1F90      Masq    1      0          0
  -> C6120502:1F90      Masq    0      3          1
UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 mh
`;

test('parses /proc/net/ip_vs and judges health from real-server weights', () => {
  const services = parseProcIpvs(PROC_IP_VS);
  expect(services).toEqual([
    { protocol: 'TCP', address: '198.19.10.1', port: 80, scheduler: 'mh', realServers: [
      { address: '198.18.5.1', port: 8080, weight: 1, forward: 'Masq' },
      { address: '198.18.5.2', port: 8080, weight: 0, forward: 'Masq' },
    ] },
    { protocol: 'UDP', address: '2001:db8::1', port: 53, scheduler: 'mh', realServers: [] },
  ]);
  expect(ipvsHasHealthyRealServer(services, ['198.19.10.1'])).toBe(true);
  expect(ipvsHasHealthyRealServer(services, ['2001:db8::1'])).toBe(false);
  expect(ipvsHasHealthyRealServer(parseProcIpvs(PROC_IP_VS.replace(/Masq    1/, 'Masq    0')), ['198.19.10.1'])).toBe(false);
});
