#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { dnsResolver, runInit } from './init';
import { jsonLogger } from './log';
import { runController } from './run-controller';
import { claimNode } from './node-claim';
import { runNodeAgent } from './node-agent';
import { DEFAULT_ROUTE_PROTO } from './node-routes';
import { loadAgentConfig, runReflectorAgent } from './reflector-agent';
import { loadResilientRoutesConfig, runResilientRoutes } from './resilient-routes';
import { loadServiceModel, podEnvironment } from './service-config';
import * as path from 'node:path';

const USAGE = `usage:
  ecmp-lb init --config FILE --run-dir DIR
  ecmp-lb controller --config FILE --run-dir DIR [--metrics-port 9100] [--kubeconfig FILE]
                     [--keepalived BINARY] [--skip-netns-setup]
  ecmp-lb node-agent --namespaces NS1,NS2 [--kubeconfig FILE]   (env NODE_NAME, POD_NAMESPACE, POD_NAME)
  ecmp-lb reflector-agent --config lb-pod-bindings.json [--kubeconfig FILE] [--gobgp-api HOST:PORT|unix:///PATH]
  ecmp-lb resilient-routes --config resilient-routes.json   (on the router)`;

const SIGTERM = 'SIGTERM';

/**
 * Resolves on SIGTERM. Installed before an agent starts: as a container's PID 1 a process gets no
 * default action for SIGTERM (the kernel drops it), so a pod stopped while the start still waits on
 * the API would hang until SIGKILL.
 */
function sigterm(): Promise<typeof SIGTERM> {
  return new Promise((resolve) => process.once('SIGTERM', () => resolve(SIGTERM)));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      'config': { type: 'string' },
      'run-dir': { type: 'string' },
      'metrics-port': { type: 'string', default: '9100' },
      'kubeconfig': { type: 'string' },
      'namespaces': { type: 'string' },
      'keepalived': { type: 'string' },
      'gobgp-api': { type: 'string' },
      'skip-netns-setup': { type: 'boolean', default: false },
    },
  });
  const log = jsonLogger({ component: command });
  const required = (name: keyof typeof values) => {
    const value = values[name];
    if (typeof value !== 'string' || value === '') throw new Error(`--${name} is required\n${USAGE}`);
    return value;
  };
  switch (command) {
    case 'init': {
      const pod = podEnvironment();
      const config = required('config');
      await runInit(loadServiceModel(config), pod, path.dirname(config), required('run-dir'), dnsResolver(pod.podIp.includes(':') ? 6 : 4), log);
      return 0;
    }
    case 'controller': {
      const { done } = await runController({
        configFile: required('config'), runDir: required('run-dir'), pod: podEnvironment(),
        metricsPort: Number(values['metrics-port']), kubeconfig: values.kubeconfig, keepalivedBinary: values.keepalived, skipNetnsSetup: values['skip-netns-setup'], log,
      });
      await done;
      return 0;
    }
    case 'node-agent': {
      const nodeName = process.env.NODE_NAME;
      if (!nodeName) throw new Error('environment variable NODE_NAME is not set (the DaemonSet passes spec.nodeName)');
      const terminated = sigterm();
      const holder = `${process.env.POD_NAMESPACE ?? '?'}/${process.env.POD_NAME ?? '?'}`;
      const claim = await Promise.race([claimNode({ name: `ecmp-lb-node-agent-proto-${DEFAULT_ROUTE_PROTO}`, holder, waitMs: 60_000 }), terminated]);
      if (claim === SIGTERM) return 0;
      const agent = await Promise.race([runNodeAgent({ nodeName, namespaces: required('namespaces').split(',').filter(Boolean), kubeconfigPath: values.kubeconfig, log }), terminated]);
      // Routes stay: LB pods keep serving while the agent is replaced.
      if (agent !== SIGTERM) await terminated.then(() => agent.stop());
      await claim.release();
      return 0;
    }
    case 'reflector-agent': {
      const config = loadAgentConfig(required('config'));
      const terminated = sigterm();
      const agent = await Promise.race([runReflectorAgent({ config, kubeconfigPath: values.kubeconfig, gobgpApi: values['gobgp-api'], log }), terminated]);
      // The bindings stay in gobgpd: LB pods keep their routes while the agent is replaced.
      if (agent !== SIGTERM) await terminated.then(() => agent.stop());
      return 0;
    }
    case 'resilient-routes': {
      const terminated = sigterm();
      const installer = runResilientRoutes({ config: loadResilientRoutesConfig(required('config')), log });
      await terminated;
      // The routes stay: the router keeps forwarding while the installer is replaced.
      installer.stop();
      return 0;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'fatal', error: String(err?.message ?? err) })}\n`);
    process.exit(1);
  },
);
