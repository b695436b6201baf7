/**
 * The LB pod's BFD speaker on its own, for LB pods whose controller the harness plays
 * (announce-file mode): the controller's own sessions (`startLbBfd`, controller/src/lb-bfd.ts),
 * from the pod address to every reflector of the service model that runs BFD, logged as the
 * controller logs them (JSON lines: "BFD session with reflector NAME up|down|init"). Run in the pod's
 * network namespace. SIGTERM closes the sessions (AdminDown, as the controller does after its drain).
 * `NAME=ADDRESS` arguments are the lab's cluster DNS: an in-cluster reflector's Service name and its
 * ClusterIP (any other name is looked up as the controller looks it up).
 *
 * usage: lb-bfd-speaker.ts SERVICE_JSON POD_IP [NAME=ADDRESS ...]
 */
import { isIP } from 'node:net';
import { dnsResolver } from '../controller/src/init';
import { startLbBfd } from '../controller/src/lb-bfd';
import { jsonLogger } from '../controller/src/log';
import { ControllerMetrics } from '../controller/src/metrics';
import { loadServiceModel } from '../controller/src/service-config';

const [modelFile, podIp, ...names] = process.argv.slice(2);
if (!modelFile || !podIp) throw new Error('usage: lb-bfd-speaker.ts SERVICE_JSON POD_IP [NAME=ADDRESS ...]');
const dns = new Map(names.map((n) => {
  const [name, address] = n.split('=');
  if (!name || !isIP(address ?? '')) throw new Error(`not NAME=ADDRESS: ${n}`);
  return [name, address] as const;
}));
const lookup = dnsResolver(isIP(podIp) === 6 ? 6 : 4);
const log = jsonLogger({ podIp });
void startLbBfd(loadServiceModel(modelFile), podIp, new ControllerMetrics(), log, async (host) => dns.get(host) ?? lookup(host)).then((bfd) => {
  if (!bfd) {
    log.log('error', 'no BFD session to run: no reflector of the service runs BFD, or the pod address cannot be bound');
    process.exit(1);
  }
  process.on('SIGTERM', () => { bfd.close(); setTimeout(() => process.exit(0), 50); });
});
