import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ServiceReorder, hostPort, ipvsReorderPlan, ipvsadmMove } from './ipvs-order';
import { readProcIpvs } from './ipvs-table';
import { Logger } from './log';

const run = promisify(execFile);

export interface IpvsReordererOptions {
  readonly log: Logger;
  readonly procFile?: string;
  readonly ipvsadm?: string;
}

/**
 * keepalived's log line when it removes a real server that is not there:
 * `IPVS cmd IP_VS_SO_SET_DELDEST(1160) error: No such destination(2) (198.19.10.1:tcp:80 -> 198.18.0.31:8080)`.
 */
const MISSED_REMOVAL = /IP_VS_SO_SET_DELDEST\(\d+\) error: No such destination\(\d+\) \((.+):(tcp|udp):(\d+) -> (\S+)\)/;
const IPVSADM_PROTOCOL: Record<string, string> = { tcp: '-t', udp: '-u' };
/** ipvsadm's message for a delete of a real server that is not there (libipvs `ipvs_strerror`). */
const NO_SUCH_DESTINATION = /No such destination/i;

/**
 * Puts this namespace's `mh` real servers in canonical order (ipvs-order.ts) with ipvsadm, one
 * server at a time: delete, then add it again with the weight and forwarding method it had.
 *
 * Established connections survive the move. A deleted destination that connections still refer
 * to goes to the per-namespace trash with its AVAILABLE flag cleared (`__ip_vs_unlink_dest`,
 * `__ip_vs_del_dest`), and `ip_vs_add_dest` takes that same object back from the trash
 * (`ip_vs_trash_get_dest`, same address, port, protocol and virtual service) and sets AVAILABLE
 * again, so the connection entries keep their destination. In the gap between the delete and the
 * add `ip_vs_in` (`ip_vs_in_hook` in newer kernels) drops the packets of such a connection with
 * `expire_nodest_conn=0` (the default). With `expire_nodest_conn=1` it would expire the connection
 * instead (and newer kernels' `__ip_vs_del_dest` queues a flush of such connections), so the pod
 * must not set it. A new flow that arrives in the gap is scheduled without that server.
 *
 * The gap must be as short as the kernel allows, so both commands go to one `ipvsadm -R` (restore:
 * one process, two calls back to back). Two ipvsadm runs made it 0.27-0.34 s in the IPVS VM, and
 * every LB pod reorders at about the same moment (each is reacting to the same new backend). A
 * client whose packet was dropped retransmits, and a retransmission after a timeout may take
 * another path to another LB (Linux picks a new flow hash on RTO, `net.core.txrehash`, and a
 * router that hashes it or the IPv6 flow label moves the flow). That LB, with no connection entry,
 * schedules the packet by its own `mh` table, which during its own gap lacks the server too: the
 * packet reaches another backend, which resets the connection. The e2e's TUN rollout captured
 * exactly that (docs/design.md, "Backend rollouts").
 *
 * A server keepalived removes meanwhile makes the delete fail, and `ipvsadm -R` then still runs
 * the add: seen in its error output, the server is removed again at once. Should keepalived remove
 * it between the two commands, its removal fails and the add brings it back: `noteKeepalivedLine`
 * sees that failure in keepalived's log and removes it once the move is over.
 */
export class IpvsReorderer {
  /** Passes and removals run one after another, never interleaved. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: IpvsReordererOptions) {}

  /** One pass: read IPVS, move what is out of order, read again and log what was done. */
  reorder(): Promise<void> {
    return this.enqueue(() => this.pass());
  }

  /**
   * Empties this namespace's IPVS; called once, before keepalived first starts. IPVS belongs to the
   * pod's network namespace and outlives a restarted ipvs container: the table the last keepalived
   * left would count as serving, and be announced, before the new keepalived has built its own
   * (whose `lvs_flush` then empties it anyway). Nothing when the kernel has no IPVS or it is empty.
   */
  clear(): Promise<void> {
    return this.enqueue(async () => {
      const table = readProcIpvs(this.options.procFile);
      if (!table?.length) return;
      if (await this.ipvsadm(['-C'], 'error')) {
        this.options.log.log('info', 'cleared the IPVS table an earlier container left', { virtualServices: table.length });
      }
    });
  }

  /**
   * keepalived removes real servers on its own (failed checks, reloads). One it removes while a
   * move has it deleted fails with "No such destination", and the move's add then brings it back
   * against keepalived's will, for good (measured in the IPVS VM). Seen in its log, the removal is
   * done again once the move is over.
   */
  noteKeepalivedLine(line: string): void {
    const missed = MISSED_REMOVAL.exec(line);
    if (!missed) return;
    const [, address, protocol, port, server] = missed;
    const args = ['-d', IPVSADM_PROTOCOL[protocol], `${address}:${port}`, '-r', server];
    void this.enqueue(async () => {
      if (await this.ipvsadm(args, 'debug')) this.options.log.log('info', 'removed a real server that a reorder had put back after keepalived removed it', { service: `${protocol} ${address}:${port}`, server });
    });
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(task, task);
    return this.queue;
  }

  private async pass(): Promise<void> {
    const plan = this.plan();
    if (plan.length === 0) return;
    for (const reorder of plan) {
      const moved = await this.apply(reorder);
      const service = serviceName(reorder);
      // keepalived may have changed the service meanwhile: a later pass finishes the job.
      const stillOutOfOrder = this.plan().some((r) => serviceName(r) === service);
      this.options.log.log('info', 'reordered IPVS mh real servers to the canonical order', {
        service, moved, canonical: !stillOutOfOrder,
      });
    }
  }

  private plan(): ServiceReorder[] {
    return ipvsReorderPlan(readProcIpvs(this.options.procFile) ?? []); // no IPVS in this kernel: nothing to order
  }

  private async apply({ service, moves }: ServiceReorder): Promise<string[]> {
    const moved: string[] = [];
    for (const rs of moves) {
      const { remove, add } = ipvsadmMove(service, rs);
      const server = hostPort(rs.address, rs.port);
      const { ok, stderr } = await this.restore([remove, add]);
      if (NO_SUCH_DESTINATION.test(stderr)) {
        // Gone already (keepalived removed it): the add put it back, so take it out again.
        this.options.log.log('debug', 'a real server to reorder was gone; removing what the move added back', { server, error: stderr });
        await this.ipvsadm(remove, 'error');
        continue;
      }
      if (ok) moved.push(server);
      else this.options.log.log('error', 'ipvsadm failed while reordering', { commands: [remove, add], error: stderr });
    }
    return moved;
  }

  /** Several ipvsadm commands in one process (`ipvsadm -R`, as ipvsadm-save writes them), back to back. */
  private restore(commands: string[][]): Promise<{ ok: boolean; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile(this.options.ipvsadm ?? 'ipvsadm', ['-R'], { timeout: 5000 }, (err, _stdout, stderr) => {
        resolve({ ok: !err, stderr: (String(stderr ?? '').trim() || (err ? err.message : '')) });
      });
      child.stdin?.on('error', () => undefined); // an ipvsadm that exits first: its exit status tells
      child.stdin?.end(commands.map((c) => `${c.join(' ')}\n`).join(''));
    });
  }

  private async ipvsadm(args: string[], failureLevel: 'debug' | 'error'): Promise<boolean> {
    try {
      await run(this.options.ipvsadm ?? 'ipvsadm', args, { timeout: 5000 });
      return true;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      this.options.log.log(failureLevel, 'ipvsadm failed', { args, error: (e.stderr || e.message).trim() });
      return false;
    }
  }
}

function serviceName({ service }: ServiceReorder): string {
  return `${service.protocol} ${hostPort(service.address, service.port)}`;
}
