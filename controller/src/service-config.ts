import * as fs from 'node:fs';
import { LoadBalancerServiceModel } from '../../lib/model';

/** The LB pod's view of itself, from the downward API. */
export interface PodEnvironment {
  readonly podIp: string;
  readonly nodeIp: string;
  readonly podName: string;
  readonly podNamespace: string;
}

export function loadServiceModel(file: string): LoadBalancerServiceModel {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as LoadBalancerServiceModel;
}

export function podEnvironment(env: NodeJS.ProcessEnv = process.env): PodEnvironment {
  const get = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`environment variable ${name} is not set (the pod spec passes it from the downward API)`);
    return value;
  };
  return { podIp: get('POD_IP'), nodeIp: get('NODE_IP'), podName: get('POD_NAME'), podNamespace: get('POD_NAMESPACE') };
}
