/**
 * The reflector agent (`runReflectorAgent`, as `ecmp-lb reflector-agent` runs it) for tests in a
 * reflector's network namespace, with an API server double of its own on that namespace's
 * loopback (it lists no LB pods), so the agent needs nothing from outside the namespace. Logs JSON
 * lines to stdout; SIGTERM stops the agent as the CLI does.
 * usage: reflector-agent-lab.ts LB_POD_BINDINGS_JSON GOBGP_API
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jsonLogger } from '../../src/log';
import { loadAgentConfig, runReflectorAgent } from '../../src/reflector-agent';
import { ApiServerDouble } from '../apiserver-double';

const [configFile, gobgpApi] = process.argv.slice(2);
const log = jsonLogger({ component: 'reflector-agent' });
void (async () => {
  const api = new ApiServerDouble();
  await api.start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-agent-lab-'));
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfigPath);
  const agent = await runReflectorAgent({ config: loadAgentConfig(configFile), kubeconfigPath, gobgpApi, log });
  process.on('SIGTERM', () => {
    void agent.stop().finally(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      setTimeout(() => process.exit(0), 50);
    });
  });
})();
