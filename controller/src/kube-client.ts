import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

/**
 * @kubernetes/client-node is ESM-only and this package is CommonJS: load it with a real dynamic
 * import (module node16 keeps `import()` as is), once.
 */
let loaded: Promise<typeof K8s> | undefined;
export function loadKubeClient(): Promise<typeof K8s> {
  loaded ??= import('@kubernetes/client-node');
  return loaded;
}

/** In-cluster credentials unless a kubeconfig file is named (tests, running outside a pod). */
export async function loadKubeConfig(kubeconfigPath?: string): Promise<K8s.KubeConfig> {
  const k8s = await loadKubeClient();
  const config = new k8s.KubeConfig();
  if (kubeconfigPath) config.loadFromFile(kubeconfigPath);
  else config.loadFromCluster();
  return config;
}

/** A kubeconfig for a plain-HTTP test server on loopback. */
export async function kubeConfigForUrl(server: string): Promise<K8s.KubeConfig> {
  const k8s = await loadKubeClient();
  const config = new k8s.KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server, skipTLSVerify: true }],
    users: [{ name: 'test' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return config;
}
