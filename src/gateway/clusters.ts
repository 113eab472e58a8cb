// The clusters the gateway serves: every context of one kubeconfig, named after the context. The
// list is read once at start-up; the library's Cluster for a context is made on its first use.

import { Cluster, kubeconfigContexts } from '../lib/index.ts';
import type { ClusterEntry, ClusterRegistry } from './context.ts';
import { GatewayError } from './errors.ts';

export class KubeconfigClusters implements ClusterRegistry {
  private readonly _entries: ClusterEntry[];

  /**
   * @param path the kubeconfig file; default: the files of KUBECONFIG (merged), else ~/.kube/config
   * @throws ConfigError ERR_KUBECONFIG when it cannot be read
   */
  constructor(path?: string, vars: NodeJS.ProcessEnv = process.env) {
    this._entries = kubeconfigContexts(path, vars).map((context) => {
      let handle: Cluster | undefined;
      return {
        ...context,
        cluster: () => (handle ??= Cluster.fromKubeconfig({ ...(path ? { path } : {}), context: context.name })),
      };
    });
  }

  list(): readonly ClusterEntry[] {
    return this._entries;
  }

  get(name: string): ClusterEntry {
    const entry = this._entries.find((e) => e.name === name);
    if (!entry) {
      const names = this._entries.map((e) => e.name);
      throw new GatewayError('ERR_GATEWAY_UNKNOWN_CLUSTER', 404, `no cluster "${name}": ${names.length ? `the clusters are ${names.join(', ')}` : 'the kubeconfig has no contexts'}`);
    }
    return entry;
  }
}
