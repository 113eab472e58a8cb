// The clusters the gateway serves: every context of one kubeconfig, named after the context (or,
// in a pod, its own cluster through the service account). The
// list is read once at start-up; the library's Cluster for a context is made on its first use.

import { Cluster, kubeconfigContexts, type InClusterOptions } from '../lib/index.ts';
import type { ClusterEntry, ClusterRegistry } from './context.ts';
import { GatewayError } from './errors.ts';
import type { ImpersonatingEntry } from './identity.ts';

export class KubeconfigClusters implements ClusterRegistry {
  private readonly _entries: ImpersonatingEntry[];

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
        as: (impersonate) => Cluster.fromKubeconfig({ ...(path ? { path } : {}), context: context.name, impersonate }),
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
  private readonly _entry: ImpersonatingEntry;

  /** @throws ConfigError ERR_NOT_IN_CLUSTER outside a pod */
  constructor(options: InClusterOptions = {}) {
    const cluster = Cluster.inCluster(options);
    this._entry = {
      name: IN_CLUSTER_NAME,
      server: cluster.client.server,
      namespace: cluster.client.namespace,
      current: true,
      cluster: () => cluster,
      as: (impersonate) => Cluster.inCluster({ ...options, impersonate }),
    };
  }

  list(): readonly ClusterEntry[] {
    return [this._entry];
  }

  get(name: string): ClusterEntry {
    if (name !== IN_CLUSTER_NAME) throw new GatewayError('ERR_GATEWAY_UNKNOWN_CLUSTER', 404, `no cluster "${name}": the cluster is ${IN_CLUSTER_NAME}`);
    return this._entry;
  }
}

/** One cluster of a configuration file's `clusters:` list. */
export interface ClusterConfigEntry {
  /** The id clients use. */
  name: string;
  /** The kubeconfig context; default: the name. Not with inCluster. */
  context?: string;
  /** The gateway's own cluster, through its pod's service account. */
  inCluster?: boolean;
  /** Only principals in one of these groups see the cluster; absent: everyone. */
  groups?: string[];
}

const clusterName = /^[A-Za-z0-9]([-A-Za-z0-9_.@:]{0,251}[A-Za-z0-9])?$/;

/**
 * The registry a configuration's `clusters:` list describes: each a context of the kubeconfig (or
 * the in-cluster API), under its own name, with its group filter. Checked at once: a bad or
 * repeated name, a context the kubeconfig lacks or an empty group list is refused with
 * ERR_GATEWAY_CONFIG, naming the entry.
 * @throws GatewayError ERR_GATEWAY_CONFIG; ConfigError ERR_KUBECONFIG, ERR_NOT_IN_CLUSTER
 * @example
 * const clusters = configuredClusters([{ name: 'prod', context: 'prod-admin', groups: ['ops'] }, { name: 'dev' }]);
 */
export function configuredClusters(entries: readonly ClusterConfigEntry[], kubeconfigPath?: string, inCluster: InClusterOptions = {}): ClusterRegistry {
  const bad = (i: number, message: string) => new GatewayError('ERR_GATEWAY_CONFIG', 500, `clusters[${i}]: ${message}`);
  if (entries.length === 0) throw new GatewayError('ERR_GATEWAY_CONFIG', 500, 'clusters: the list is empty');
  let contexts: ReturnType<typeof kubeconfigContexts> | undefined;
  const seen = new Set<string>();
  const made: ImpersonatingEntry[] = entries.map((e, i) => {
    if (typeof e.name !== 'string' || !clusterName.test(e.name)) throw bad(i, `the name ${JSON.stringify(e.name)} is not a valid cluster name (letters, digits, - _ . @ :, at most 253)`);
    if (seen.has(e.name)) throw bad(i, `the name "${e.name}" is given twice`);
    seen.add(e.name);
    if (e.groups !== undefined && (!Array.isArray(e.groups) || e.groups.length === 0 || e.groups.some((g) => typeof g !== 'string' || g === ''))) {
      throw bad(i, 'groups must be a non-empty list of group names');
    }
    const groups = e.groups ? { groups: [...e.groups] } : {};
    if (e.inCluster) {
      if (e.context !== undefined) throw bad(i, 'a cluster is either inCluster or a context, not both');
      const cluster = Cluster.inCluster(inCluster);
      return { name: e.name, server: cluster.client.server, namespace: cluster.client.namespace, current: false, ...groups, cluster: () => cluster, as: (impersonate) => Cluster.inCluster({ ...inCluster, impersonate }) };
    }
    contexts ??= kubeconfigContexts(kubeconfigPath);
    const contextName = e.context ?? e.name;
    const context = contexts.find((c) => c.name === contextName);
    if (!context) throw bad(i, `the kubeconfig has no context "${contextName}": its contexts are ${contexts.map((c) => c.name).join(', ') || 'none'}`);
    const options = { ...(kubeconfigPath ? { path: kubeconfigPath } : {}), context: contextName };
    let handle: Cluster | undefined;
    return {
      name: e.name,
      server: context.server,
      namespace: context.namespace,
      current: context.current,
      ...groups,
      cluster: () => (handle ??= Cluster.fromKubeconfig(options)),
      as: (impersonate) => Cluster.fromKubeconfig({ ...options, impersonate }),
    };
  });
  return {
    list: () => made,
    get: (name) => {
      const entry = made.find((e) => e.name === name);
      if (!entry) throw new GatewayError('ERR_GATEWAY_UNKNOWN_CLUSTER', 404, `no cluster "${name}": the clusters are ${made.map((e) => e.name).join(', ')}`);
      return entry;
    },
  };
}
