import * as dgram from 'node:dgram';
import { LoadBalancerServiceModel } from '../../lib/model';
import { BfdSession, BfdState, decodeBfdPacket, encodeBfdPacket } from '../src/bfd';
import { startLbBfd } from '../src/lb-bfd';
import { Logger } from '../src/log';
import { ControllerMetrics } from '../src/metrics';

/**
 * The LB pod's side of BFD with an in-cluster reflector, on loopback: the pod knows the reflector
 * by its Service name, which resolves to the ClusterIP; what it sends there reaches the reflector
 * pod (here: a socket on the "ClusterIP" hands the packets to the reflector's session, as the DNAT
 * would), and the reflector answers from its pod address, a different one. The session must come
 * up all the same: the answers carry our discriminator.
 */
const POD = '127.77.0.2';
const CLUSTER_IP = '127.77.0.3';
const REFLECTOR_POD = '127.77.0.4';
const NAME = 'rr-ic-bgp.lb.svc';

function service(): LoadBalancerServiceModel {
  return { reflectors: [{ name: 'rr-ic', host: NAME, port: 179, bfd: { minIntervalMs: 50, multiplier: 3 } }] } as unknown as LoadBalancerServiceModel;
}

function recordingLogger(lines: { level: string; msg: string; fields: Record<string, unknown> }[]): Logger {
  const logger: Logger = { log: (level, msg, fields = {}) => { lines.push({ level, msg, fields }); }, child: () => logger };
  return logger;
}

function bind(socket: dgram.Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => { socket.once('error', reject); socket.bind({ address, port, exclusive: true }, () => resolve()); });
}

async function until(condition: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return condition();
}

async function upGauge(metrics: ControllerMetrics): Promise<number | undefined> {
  return (await metrics.bfdSessionUp.get()).values.find((v) => v.labels.reflector === 'rr-ic')?.value;
}

describe('startLbBfd with a reflector behind a ClusterIP', () => {
  test('the Service name is resolved once; the session to the ClusterIP comes up though the answers come from the reflector pod\'s address', async () => {
    const clusterIp = dgram.createSocket('udp4');
    const reflectorPod = dgram.createSocket('udp4');
    await bind(clusterIp, CLUSTER_IP, 4784);
    await bind(reflectorPod, REFLECTOR_POD, 0);
    const seenFrom = new Set<string>();
    const reflector = new BfdSession({
      timers: { minTxMs: 50, minRxMs: 50, multiplier: 3 }, localDiscriminator: 0x1234,
      send: (packet) => reflectorPod.send(encodeBfdPacket(packet), 4784, POD),
    });
    clusterIp.on('message', (message, from) => {
      seenFrom.add(from.address);
      const packet = decodeBfdPacket(message);
      if (packet) reflector.receive(packet);
    });
    const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const resolved: string[] = [];
    const metrics = new ControllerMetrics();
    const bfd = await startLbBfd(service(), POD, metrics, recordingLogger(lines), async (host) => { resolved.push(host); return CLUSTER_IP; });
    try {
      expect(bfd).toBeDefined();
      expect(await until(() => reflector.state === BfdState.UP, 5000)).toBe(true);
      expect(await until(async () => await upGauge(metrics) === 1, 5000)).toBe(true);
      expect(resolved).toEqual([NAME]);
      // The LB pod's packets come from its own address (the DNAT keeps the source).
      expect([...seenFrom]).toEqual([POD]);
      expect(lines.filter((l) => l.msg === 'BFD session with reflector rr-ic up').map((l) => l.fields.peer)).toEqual([CLUSTER_IP]);
      // The reflector pod goes silent: the LB pod's session goes down by detection time.
      reflector.silence(true);
      expect(await until(async () => await upGauge(metrics) === 0, 5000)).toBe(true);
      expect(lines.some((l) => l.msg === 'BFD session with reflector rr-ic down' && l.fields.diagnostic === 'detection_time_expired')).toBe(true);
      // Back: its first packet has no discriminator for us and comes from the pod address, so it is
      // dropped; ours reach it, it learns our discriminator, and the handshake completes.
      reflector.silence(false);
      expect(await until(async () => await upGauge(metrics) === 1, 5000)).toBe(true);
    } finally {
      bfd?.close();
      reflector.stop();
      await new Promise((r) => setTimeout(r, 20));
      clusterIp.close();
      reflectorPod.close();
    }
  });

  test('a name that does not resolve: logged and counted, the other sessions and the pod carry on', async () => {
    const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const metrics = new ControllerMetrics();
    const bfd = await startLbBfd(service(), POD, metrics, recordingLogger(lines), async (host) => { throw new Error(`NXDOMAIN ${host}`); });
    try {
      expect(bfd).toBeDefined();
      expect(await until(() => lines.some((l) => l.level === 'error'), 2000)).toBe(true);
      expect(lines.find((l) => l.level === 'error')).toMatchObject({ msg: expect.stringMatching(/BFD with reflector rr-ic not started: its address does not resolve/), fields: { host: NAME, error: `NXDOMAIN ${NAME}` } });
      expect((await metrics.errors.get()).values.find((v) => v.labels.kind === 'bfd')?.value).toBe(1);
      expect(await upGauge(metrics)).toBe(0);
    } finally {
      bfd?.close();
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
