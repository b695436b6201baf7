import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiServerDouble, KubeObject } from './apiserver-double';
import { startGobgpd, stopGobgpd } from './gobgpd';
import { waitFor } from './wait';
import { gobgpApi } from '../src/gobgp-api';
import { kubeConfigForUrl } from '../src/kube-client';
import { silentLogger } from '../src/log';
import { runReflectorAgent } from '../src/reflector-agent';

const PODS = '/api/v1/namespaces/shop/pods';
const SET = 'lb-pods.shop.web1';

function lbPod(name: string, podIP: string): KubeObject {
  return {
    metadata: { name, namespace: 'shop', labels: { 'ecmp-lb.cdk8s.io/role': 'lb', 'app.kubernetes.io/instance': 'web1' } },
    status: { phase: 'Running', podIP, podIPs: [{ ip: podIP }] },
  };
}

/** The reflector agent for real, fed by the API double, driving the real gobgpd over its unix socket. */
test('gobgpd restarted while its agent is down: the agent, back, fills the emptied neighbor set from scratch to match the pods', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecmp-agent-gobgpd-'));
  const api = new ApiServerDouble();
  await api.start();
  let gobgpd = await startGobgpd(dir);
  const members = async () => {
    const client = gobgpApi(`unix://${gobgpd.socket}`);
    try {
      return (await client.list()).get(SET);
    } finally {
      client.close();
    }
  };
  // A resync too long to matter: the agent's first pass must do it all.
  const startAgent = async () => runReflectorAgent({
    config: { gobgpApi: `unix://${gobgpd.socket}`, bindings: [{ namespace: 'shop', service: 'web1' }] },
    kubeConfig: await kubeConfigForUrl(api.url), log: silentLogger, resyncMs: 600_000,
  });
  try {
    api.upsert(PODS, lbPod('web1-lb-a', '198.19.0.5'));
    api.upsert(PODS, lbPod('web1-lb-b', '198.19.0.6'));
    let agent = await startAgent();
    await waitFor('both pods bound', async () => (await members())?.join() === '0.0.0.0/32,198.19.0.5/32,198.19.0.6/32,::/128', 10_000);
    await agent.stop();

    await stopGobgpd(gobgpd.process);
    gobgpd = await startGobgpd(dir);
    expect(await members()).toEqual(['0.0.0.0/32', '::/128']); // the config's set only
    // While the agent is down, one pod goes and another comes.
    api.remove(PODS, 'web1-lb-b');
    api.upsert(PODS, lbPod('web1-lb-c', '198.19.0.7'));

    agent = await startAgent();
    try {
      await waitFor('the current pods bound', async () => (await members())?.join() === '0.0.0.0/32,198.19.0.5/32,198.19.0.7/32,::/128', 10_000);
    } finally {
      await agent.stop();
    }
  } finally {
    await stopGobgpd(gobgpd.process);
    await api.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
