// Reaching the API server: a kubeconfig file or the pod's service account. The client package
// is ESM-only and costs ~100 ms to import even bundled, so only the agent role loads this file
// (through a dynamic import); the CNI path never does.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { PodwireError } from '../errors/index.js';

export interface ApiAccessOptions {
  /** A kubeconfig file; undefined = in-cluster service account. */
  kubeconfig?: string;
}

export interface KubeClient {
  config: KubeConfig;
  core: CoreV1Api;
  /** The API server URL, for logs. */
  server: string;
}

export function connectKube(opts: ApiAccessOptions): KubeClient {
  const config = new KubeConfig();
  try {
    if (opts.kubeconfig !== undefined) config.loadFromFile(opts.kubeconfig);
    else config.loadFromCluster();
  } catch (cause) {
    const where = opts.kubeconfig ?? 'the in-cluster service account';
    throw new PodwireError('CONFIG_INVALID', `cannot load Kubernetes credentials from ${where}: ${(cause as Error).message}`, { cause });
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    throw new PodwireError('CONFIG_INVALID', `kubeconfig ${opts.kubeconfig ?? '(in-cluster)'} has no current cluster: set current-context`);
  }
  // client-node 1.4 refuses an http:// server unless skipTLSVerify is set, although there is no
  // TLS to verify; kubectl accepts it as written. A kubeconfig that names plain HTTP (the lab's)
  // means it: honour it the way kubectl does.
  if (cluster.server.startsWith('http://') && !cluster.skipTLSVerify) {
    config.loadFromOptions({
      clusters: config.clusters.map((c) => (c.name === cluster.name ? { ...c, skipTLSVerify: true } : c)),
      users: config.users,
      contexts: config.contexts,
      currentContext: config.currentContext,
    });
  }
  return { config, core: config.makeApiClient(CoreV1Api), server: cluster.server };
}
