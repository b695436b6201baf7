import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { LB_POD_FILES } from '../../lib/lb-pod-contract';
import { ForwardingMethod, LoadBalancerServiceModel } from '../../lib/model';

// Reading a synthesized output directory needs only the model's types, not cdk8s: the IPVS VM
// reads what the host synthesized.

/** The addresses the lab gives the topology: everything in the benchmarking range 198.18.0.0/15. */
export const ADDRESSES = {
  router: '198.18.0.110',
  reflectors: [{ name: 'rr1', address: '198.18.0.109' }, { name: 'rr2', address: '198.18.0.108' }],
  podNetwork: '198.19.128.0/17',
} as const;

export interface ServiceSpec {
  readonly name: string;
  readonly prefix: string;
  readonly lbCount: number;
  /** Default NAT (backend port 8080); DR/TUN cannot remap ports, so the backends serve port 80. */
  readonly forwardingMethod?: ForwardingMethod;
}

/** What one LB pod of a service gets from the synthesized manifests. */
export interface SynthesizedService {
  readonly model: LoadBalancerServiceModel;
  /** ConfigMap files mounted into the pod (service.json, announcer.py). */
  readonly configFiles: Record<string, string>;
  /** The pod template's annotations, which the node agent reads. */
  readonly podAnnotations: Record<string, string>;
  /** The pod template's labels, which the reflector agent selects LB pods by. */
  readonly podLabels: Record<string, string>;
}

export interface Synthesized {
  readonly outdir: string;
  readonly routerDir: string;
  readonly reflectorDirs: Map<string, string>;
  readonly services: Map<string, SynthesizedService>;
}

/** Reads the files the lab starts daemons from out of a synthesized output directory. */
export function readSynthesized(outdir: string): Synthesized {
  const manifests = fs.readdirSync(outdir).filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(outdir, f), 'utf8')).map((d) => d.toJSON()).filter(Boolean));
  const found = new Map<string, SynthesizedService>();
  for (const configMap of manifests.filter((m) => m.kind === 'ConfigMap' && m.data?.[LB_POD_FILES.model])) {
    const model = JSON.parse(configMap.data[LB_POD_FILES.model]) as LoadBalancerServiceModel;
    const deployment = manifests.find((m) => m.kind === 'Deployment'
      && m.spec.template.metadata.labels?.['app.kubernetes.io/instance'] === model.name
      && m.spec.template.metadata.labels?.['ecmp-lb.cdk8s.io/role'] === 'lb');
    if (!deployment) throw new Error(`no LB Deployment for service ${model.name} in the synthesized manifests`);
    const { annotations, labels } = deployment.spec.template.metadata;
    found.set(model.name, { model, configFiles: configMap.data, podAnnotations: annotations ?? {}, podLabels: labels });
  }
  return {
    outdir,
    routerDir: path.join(outdir, 'routers', 'router'),
    reflectorDirs: new Map(ADDRESSES.reflectors.map((r) => [r.name, path.join(outdir, 'route-reflectors', r.name)])),
    services: found,
  };
}
