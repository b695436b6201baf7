#!/usr/bin/env node
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { dnsResolver, runInit } from './init';
import { jsonLogger } from './log';
import { runNodeAgent } from './node-agent';
import { claimNode } from './node-claim';
import { DEFAULT_ROUTE_PROTO } from './node-routes';
import { loadAgentConfig, runReflectorAgent } from './reflector-agent';
import { loadResilientRoutesConfig, runResilientRoutes } from './resilient-routes';
import { runController } from './run-controller';
import { loadServiceModel } from './service-config';
import { LB_POD_COMMANDS, LB_POD_FLAGS, LB_POD_HTTP, podEnvironment } from '../../lib/lb-pod-contract';

const USAGE = `usage:
  ecmp-lb ${LB_POD_COMMANDS.init} --${LB_POD_FLAGS.config} FILE --${LB_POD_FLAGS.runDir} DIR
  ecmp-lb ${LB_POD_COMMANDS.controller} --${LB_POD_FLAGS.config} FILE --${LB_POD_FLAGS.runDir} DIR [--${LB_POD_FLAGS.metricsPort} ${LB_POD_HTTP.port}]
                     [--${LB_POD_FLAGS.kubeconfig} FILE] [--${LB_POD_FLAGS.keepalived} BINARY] [--${LB_POD_FLAGS.skipNetnsSetup}]
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
      [LB_POD_FLAGS.config]: { type: 'string' },
      [LB_POD_FLAGS.runDir]: { type: 'string' },
      [LB_POD_FLAGS.metricsPort]: { type: 'string', default: String(LB_POD_HTTP.port) },
      [LB_POD_FLAGS.kubeconfig]: { type: 'string' },
      'namespaces': { type: 'string' },
      [LB_POD_FLAGS.keepalived]: { type: 'string' },
      'gobgp-api': { type: 'string' },
      [LB_POD_FLAGS.skipNetnsSetup]: { type: 'boolean', default: false },
    },
  });
  const log = jsonLogger({ component: command });
  const required = (name: keyof typeof values) => {
    const value = values[name];
    if (typeof value !== 'string' || value === '') throw new Error(`--${name} is required\n${USAGE}`);
    return value;
  };
  switch (command) {
    case LB_POD_COMMANDS.init: {
      const pod = podEnvironment();
      const configFile = required(LB_POD_FLAGS.config);
      await runInit(loadServiceModel(configFile), pod, path.dirname(configFile), required(LB_POD_FLAGS.runDir), dnsResolver(pod.podIp.includes(':') ? 6 : 4), log);
      return 0;
    }
    case LB_POD_COMMANDS.controller: {
      // Node.js start-up and module loading, before any work: the first part of an LB pod's start time.
      log.log('info', 'starting', { processUptimeSeconds: Number(process.uptime().toFixed(3)) });
      const { done } = await runController({
        configFile: required(LB_POD_FLAGS.config), runDir: required(LB_POD_FLAGS.runDir), pod: podEnvironment(),
        metricsPort: Number(values[LB_POD_FLAGS.metricsPort]), kubeconfig: values[LB_POD_FLAGS.kubeconfig],
        keepalivedBinary: values[LB_POD_FLAGS.keepalived],
        skipNetnsSetup: values[LB_POD_FLAGS.skipNetnsSetup], log,
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
