// The contexts of a kubeconfig, listed for a program that serves several of them (the web shell):
// loaded and merged exactly as for a connection (kubeconfig.ts), reduced to what may be shown to
// anyone — names, server URL without credentials, namespace — never a user entry or a secret.

import { loadKubeconfig } from './kubeconfig.ts';

export interface KubeconfigContext {
  /** The context's name. */
  readonly name: string;
  /** Its cluster's server URL, without any user:password part; '' when its cluster is missing. */
  readonly server: string;
  /** The context's namespace, else "default". */
  readonly namespace: string;
  /** Whether it is the kubeconfig's current-context. */
  readonly current: boolean;
}

/**
 * Every context of the kubeconfig: `path` alone when given, else the files of KUBECONFIG
 * (merged: the first file to name a context wins), else ~/.kube/config.
 * @throws ConfigError ERR_KUBECONFIG when the files cannot be read or parsed
 * @example
 * for (const c of kubeconfigContexts()) console.log(c.name, c.server);
 */
export function kubeconfigContexts(path?: string, vars: NodeJS.ProcessEnv = process.env): KubeconfigContext[] {
  const { kc } = loadKubeconfig(path, vars);
  const current = kc.getCurrentContext();
  const clusters = kc.getClusters();
  return kc.getContexts().map((context) => ({
    name: context.name,
    server: withoutCredentials(clusters.find((c) => c.name === context.cluster)?.server ?? ''),
    namespace: context.namespace || 'default',
    current: context.name === current,
  }));
}

function withoutCredentials(server: string): string {
  try {
    const url = new URL(server);
    if (!url.username && !url.password) return server;
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, server.endsWith('/') ? '/' : '');
  } catch {
    return server.replace(/\/\/[^/@]*@/, '//');
  }
}
