import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fc from 'fast-check';
import { ipvsReorderPlan, ipvsadmMove } from '../src/ipvs-order';
import { IpvsReorderer } from '../src/ipvs-reorder';
import { IpvsRealServer, IpvsVirtualService, parseProcIpvs } from '../src/ipvs-table';
import { jsonLogger } from '../src/log';

// /proc/net/ip_vs as the kernel writes it (ip_vs_info_seq_show): one mh service in NAT mode, one
// rr service in TUN mode, a fwmark service and an IPv6 mh service in DR mode.
const PROC_IP_VS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C6130A01:0050 mh
  -> C6120017:1F90      Masq    1      0          0
  -> C6120015:1F90      Masq    0      3          1
TCP  C6130A02:0050 rr 
  -> C6120016:1F90      Tunnel  2      0          0
FWM  00000001 wlc 
  -> C6120018:1F90      Route   1      0          0
UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 mh 
  -> [2001:0db8:0000:0000:0000:0000:0000:0010]:0035      Route   5      0          0
`;

test('parses the scheduler of each service and the forwarding method of each real server, in list order', () => {
  expect(parseProcIpvs(PROC_IP_VS)).toEqual([
    { protocol: 'TCP', address: '198.19.10.1', port: 80, scheduler: 'mh', realServers: [
      { address: '198.18.0.23', port: 8080, weight: 1, forward: 'Masq' },
      { address: '198.18.0.21', port: 8080, weight: 0, forward: 'Masq' },
    ] },
    { protocol: 'TCP', address: '198.19.10.2', port: 80, scheduler: 'rr', realServers: [
      { address: '198.18.0.22', port: 8080, weight: 2, forward: 'Tunnel' },
    ] },
    // The fwmark service is skipped, and its real server is not given to the rr service above.
    { protocol: 'UDP', address: '2001:db8::1', port: 53, scheduler: 'mh', realServers: [
      { address: '2001:db8::10', port: 53, weight: 5, forward: 'Route' },
    ] },
  ]);
});

/** A real server in NAT mode, weight 1 unless given. */
function rs(endpoint: string, weight = 1, forward = 'Masq'): IpvsRealServer {
  const colon = endpoint.lastIndexOf(':');
  return { address: endpoint.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(endpoint.slice(colon + 1)), weight, forward };
}

/** The kernel's list for servers added in this order: `__ip_vs_update_dest` puts each new one at the head. */
function addedInOrder(servers: IpvsRealServer[], scheduler = 'mh', address = '198.19.10.1'): IpvsVirtualService {
  return { protocol: 'TCP', address, port: 80, scheduler, realServers: [...servers].reverse() };
}

/** What the kernel's list becomes when each move is done: delete (unlink), then add (at the head). */
function applyMoves(service: IpvsVirtualService, moves: readonly IpvsRealServer[]): IpvsVirtualService {
  let list = service.realServers;
  for (const move of moves) {
    const existing = list.find((r) => r.address === move.address && r.port === move.port)!;
    list = [{ ...existing }, ...list.filter((r) => r !== existing)];
  }
  return { ...service, realServers: list };
}

const endpoints = (service: IpvsVirtualService) => service.realServers.map((r) => `${r.address}:${r.port}`);
const movesOf = (services: IpvsVirtualService[]) => ipvsReorderPlan(services).map((p) => p.moves.map((m) => `${m.address}:${m.port}`));

describe('reorder plan', () => {
  const [a, b, c, d] = ['198.18.0.21:8080', '198.18.0.22:8080', '198.18.0.23:8080', '198.18.0.24:8080'];

  test('servers added in canonical order (a keepalived started with the final set): nothing to do', () => {
    expect(ipvsReorderPlan([addedInOrder([rs(a), rs(b), rs(c), rs(d)])])).toEqual([]);
    expect(ipvsReorderPlan([addedInOrder([])])).toEqual([]);
  });

  test('one server added by a reload after a higher one: only the higher one moves', () => {
    const service = addedInOrder([rs(a), rs(c), rs(b)]);
    expect(movesOf([service])).toEqual([[c]]);
    expect(endpoints(applyMoves(service, ipvsReorderPlan([service])[0].moves))).toEqual(endpoints(addedInOrder([rs(a), rs(b), rs(c)])));
  });

  test('a server that failed its check and recovered (re-added last): every server above it moves, in order', () => {
    const service = addedInOrder([rs(a), rs(c), rs(d), rs(b)]);
    expect(movesOf([service])).toEqual([[c, d]]);
    expect(endpoints(applyMoves(service, ipvsReorderPlan([service])[0].moves))).toEqual(endpoints(addedInOrder([rs(a), rs(b), rs(c), rs(d)])));
  });

  test('the lowest server recovered: all others move', () => {
    expect(movesOf([addedInOrder([rs(b), rs(c), rs(a)])])).toEqual([[b, c]]);
  });

  test('addresses compare by bytes, not as text (IPv4 and IPv6), then by port', () => {
    expect(movesOf([addedInOrder([rs('198.18.0.100:80'), rs('198.18.0.99:80')])])).toEqual([['198.18.0.100:80']]);
    expect(movesOf([addedInOrder([rs('198.18.0.99:80'), rs('198.18.0.100:80')])])).toEqual([]);
    const v6 = (servers: IpvsRealServer[]) => addedInOrder(servers, 'mh', '2001:db8::1');
    expect(movesOf([v6([rs('[2001:db8::10]:80'), rs('[2001:db8::9]:80')])])).toEqual([['2001:db8::10:80']]);
    expect(movesOf([v6([rs('[2001:db8::9]:80'), rs('[2001:db8::10]:80'), rs('[2001:db8::9]:79')])])).toEqual([['2001:db8::9:80', '2001:db8::10:80']]);
  });

  test('moves keep each server\'s weight and forwarding method, and the ipvsadm commands carry them', () => {
    const service = addedInOrder([rs(a, 3, 'Tunnel'), rs(c, 0, 'Tunnel'), rs(b, 7, 'Tunnel')]);
    const [plan] = ipvsReorderPlan([service]);
    expect(plan.moves).toEqual([rs(c, 0, 'Tunnel')]);
    expect(ipvsadmMove(service, plan.moves[0])).toEqual({
      remove: ['-d', '-t', '198.19.10.1:80', '-r', c],
      add: ['-a', '-t', '198.19.10.1:80', '-r', c, '-i', '-w', '0'],
    });
    const v6 = { protocol: 'UDP', address: '2001:db8::1', port: 53, scheduler: 'mh', realServers: [] };
    expect(ipvsadmMove(v6, rs('[2001:db8::5]:53', 2, 'Route')).add).toEqual(['-a', '-u', '[2001:db8::1]:53', '-r', '[2001:db8::5]:53', '-g', '-w', '2']);
    expect(ipvsadmMove(v6, rs('[2001:db8::5]:53', 1, 'Masq')).add).toContain('-m');
  });

  test('services with another scheduler, or a server ipvsadm cannot re-add as it was (Local), are left alone', () => {
    const outOfOrder = [rs(b), rs(a)];
    expect(movesOf([addedInOrder(outOfOrder, 'rr'), addedInOrder(outOfOrder, 'mh', '198.19.10.2')])).toEqual([[b]]);
    expect(ipvsReorderPlan([addedInOrder([rs(b, 1, 'Local'), rs(a)])])).toEqual([]);
    expect(ipvsReorderPlan(parseProcIpvs(PROC_IP_VS))).toEqual([]);
  });

  test('any insertion order: the moves reach the canonical order, and no fewer moves could', () => {
    const pool = Array.from({ length: 7 }, (_, i) => rs(`198.18.${i % 2}.${20 - i}:${8080 + (i % 3)}`));
    const canonical = endpoints(addedInOrder([...pool].sort(byBytesThenPort)));
    fc.assert(fc.property(fc.shuffledSubarray(pool, { minLength: 1 }), (inserted) => {
      const service = addedInOrder(inserted);
      const moves = ipvsReorderPlan([service])[0]?.moves ?? [];
      expect(endpoints(applyMoves(service, moves))).toEqual(canonical.filter((e) => endpoints(service).includes(e)));
      expect(moves.length).toBe(inserted.length - largestKeepableSet(inserted));
    }), { numRuns: 500 });
  });
});

describe('applier', () => {
  test('moves one server at a time (delete and add in one ipvsadm -R), takes out again a server keepalived had removed, logs what moved', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-reorder-'));
    const proc = path.join(dir, 'ip_vs');
    // Newest first: .21, .23, .22 (weight 2), .24 were added in the order .24, .22, .23, .21.
    fs.writeFileSync(proc, `TCP  C6130A01:0050 mh
  -> C6120015:1F90      Tunnel  1      0          0
  -> C6120017:1F90      Tunnel  1      0          0
  -> C6120016:1F90      Tunnel  2      0          0
  -> C6120018:1F90      Tunnel  1      0          0
`);
    // A stand-in for ipvsadm that records its calls (`-R`: each line it reads, as one run) and, like the kernel,
    // refuses to delete .23 (keepalived removed it); as ipvsadm -R does, it goes on with the next line.
    const ipvsadm = path.join(dir, 'ipvsadm');
    fs.writeFileSync(ipvsadm, `#!/bin/sh
if [ "$1" = -R ]; then
  run=""
  while read -r line; do
    run="$run\${run:+ + }$line"
    case "$line" in "-d "*198.18.0.23:8080*) echo "No such destination" >&2;; esac
  done
  echo "$run" >> ${dir}/calls
  exit 0
fi
echo "$*" >> ${dir}/calls
`, { mode: 0o755 });
    const lines: string[] = [];
    await new IpvsReorderer({ log: jsonLogger({}, (l) => lines.push(l)), procFile: proc, ipvsadm }).reorder();
    expect(fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n')).toEqual([
      '-d -t 198.19.10.1:80 -r 198.18.0.22:8080 + -a -t 198.19.10.1:80 -r 198.18.0.22:8080 -i -w 2',
      // .23's delete failed and the same run added it back: it is deleted again.
      '-d -t 198.19.10.1:80 -r 198.18.0.23:8080 + -a -t 198.19.10.1:80 -r 198.18.0.23:8080 -i -w 1',
      '-d -t 198.19.10.1:80 -r 198.18.0.23:8080',
      '-d -t 198.19.10.1:80 -r 198.18.0.24:8080 + -a -t 198.19.10.1:80 -r 198.18.0.24:8080 -i -w 1',
    ]);
    const summary = lines.map((l) => JSON.parse(l)).find((l) => l.msg.startsWith('reordered'));
    // The stand-in does not change the file: read again, the order is still wrong, and the log says so.
    expect(summary).toMatchObject({ service: 'TCP 198.19.10.1:80', moved: ['198.18.0.22:8080', '198.18.0.24:8080'], canonical: false });
    fs.rmSync(dir, { recursive: true });
  });

  test('no IPVS in the kernel (no /proc/net/ip_vs): nothing runs', async () => {
    await expect(new IpvsReorderer({ log: jsonLogger({}, () => {}), procFile: '/nonexistent/ip_vs', ipvsadm: '/bin/false' }).reorder()).resolves.toBeUndefined();
  });
});

function byBytesThenPort(x: IpvsRealServer, y: IpvsRealServer): number {
  const bytes = (r: IpvsRealServer) => r.address.split('.').map(Number);
  const [bx, by] = [bytes(x), bytes(y)];
  for (let i = 0; i < 4; i++) if (bx[i] !== by[i]) return bx[i] - by[i];
  return x.port - y.port;
}

/**
 * Brute force over every subset: servers left in place keep their insertion order and come before
 * every re-added one, so a subset can stay only if, in insertion order, it is the canonical order's start.
 */
function largestKeepableSet(inserted: IpvsRealServer[]): number {
  const canonical = [...inserted].sort(byBytesThenPort);
  let best = 0;
  for (let mask = 0; mask < 1 << inserted.length; mask++) {
    const kept = inserted.filter((_, i) => mask & (1 << i));
    if (kept.every((r, i) => r === canonical[i])) best = Math.max(best, kept.length);
  }
  return best;
}
