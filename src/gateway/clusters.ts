// The clusters the gateway serves: every context of one kubeconfig, named after the context (or,
// in a pod, its own cluster through the service account). The
// list is read once at start-up; the library's Cluster for a context is made on its first use.

import { Cluster, kubeconfigContexts, type InClusterOptions } from '../lib/index.ts';
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

/** The name the in-cluster API is served under. */
export const IN_CLUSTER_NAME = 'in-cluster';

/**
 * The one cluster a gateway running in a pod serves: its own API server, reached with the pod's
 * service account (`Cluster.inCluster()`), named `in-cluster`. Read once at start-up, so a pod
 * without a service account fails at once (ERR_NOT_IN_CLUSTER), not at the first shell.
 */
export class InClusterClusters implements ClusterRegistry {
  private readonly _entry: ClusterEntry;

  /** @throws ConfigError ERR_NOT_IN_CLUSTER outside a pod */
  constructor(options: InClusterOptions = {}) {
    const cluster = Cluster.inCluster(options);
    this._entry = { name: IN_CLUSTER_NAME, server: cluster.client.server, namespace: cluster.client.namespace, current: true, cluster: () => cluster };
  }

  list(): readonly ClusterEntry[] {
    return [this._entry];
  }

  get(name: string): ClusterEntry {
    if (name !== IN_CLUSTER_NAME) throw new GatewayError('ERR_GATEWAY_UNKNOWN_CLUSTER', 404, `no cluster "${name}": the cluster is ${IN_CLUSTER_NAME}`);
    return this._entry;
  }
}
