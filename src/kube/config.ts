// The loaded kubeconfig entries, and their credentials, without loading @kubernetes/client-node's
// package index. That index (and its config module, which imports the generated API client)
// loads about a thousand modules: most of a second of start-up for every `podshell exec`, where
// kubectl needs a tenth of one. So:
// - entries are parsed by client-node's own `config_types` module (one small file: the same
//   clusters/users/contexts, the same validation and `token-file` reading as KubeConfig.loadFromFile);
// - TLS material, tokens and basic auth — what client-node's KubeConfig.applyToHTTPSOptions does
//   for a user without an auth plugin — are applied here, as it applies them;
// - users with an auth-provider (OIDC, Azure, GCP, token files) and SOCKS proxies still go
//   through client-node's KubeConfig, loaded on the first connection that needs it, and kept for
//   the client's life (its plugins cache credentials per instance);
// - exec credential plugins are run by podshell (exec-plugin.ts), never by client-node, which
//   cannot stop a hung one: its KubeConfig is given the users without their `exec`.

import { readFileSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import type https from 'node:https';
import { isIPv6 } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { Cluster, Context, KubeConfig, User } from '@kubernetes/client-node';
import { newClusters, newContexts, newUsers } from '@kubernetes/client-node/dist/config_types.js';

export type { Cluster, Context, User };

/** The entries of one kubeconfig file, as KubeConfig.loadFromFile reads them (invalid entries dropped). */
export function parseEntries(raw: Record<string, unknown>, dir: string): { clusters: Cluster[]; users: User[]; contexts: Context[] } {
  const options = { onInvalidEntry: 'filter' } as const;
  const clusters = newClusters(raw['clusters'], options);
  const users = newUsers(raw['users'], options);
  const contexts = newContexts(raw['contexts'], options);
  // KubeConfig.makePathsAbsolute: certificate files are relative to the kubeconfig's folder.
  const absolute = (file: string) => (isAbsolute(file) ? file : join(dir, file));
  for (const cluster of clusters) if (cluster.caFile) cluster.caFile = absolute(cluster.caFile);
  for (const user of users) {
    if (user.certFile) user.certFile = absolute(user.certFile);
    if (user.keyFile) user.keyFile = absolute(user.keyFile);
  }
  return { clusters, users, contexts };
}

/**
 * Clusters, users and contexts, and which context is current: the part of client-node's
 * KubeConfig podshell reads, with the same method names.
 */
export class Kubeconfig {
  private readonly _clusters: Cluster[];
  private readonly _users: User[];
  private readonly _contexts: Context[];
  private _current: string | undefined;
  private _clientNode: Promise<KubeConfig> | undefined;

  constructor(clusters: Cluster[], users: User[], contexts: Context[], currentContext: string | undefined) {
    this._clusters = clusters;
    this._users = users;
    this._contexts = contexts;
    this._current = currentContext;
  }

  /**
   * The in-cluster configuration, as KubeConfig.loadFromCluster builds it, except that the
   * service account token is left to the caller (KubeClient re-reads it for every connection).
   */
  static inCluster(root: string, host: string, port: string): Kubeconfig {
    const dir = `${root}/var/run/secrets/kubernetes.io/serviceaccount`;
    const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
    const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
    let namespace: string | undefined;
    try {
      namespace = readFileSync(`${dir}/namespace`, 'utf8');
    } catch {
      namespace = undefined;
    }
    return new Kubeconfig(
      [{ name: 'inCluster', caFile: `${dir}/ca.crt`, server, skipTLSVerify: false }],
      [{ name: 'inClusterUser' }],
      [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser', ...(namespace !== undefined ? { namespace } : {}) }],
      'inClusterContext',
    );
  }

  getClusters(): Cluster[] {
    return this._clusters;
  }

  getUsers(): User[] {
    return this._users;
  }

  getContexts(): Context[] {
    return this._contexts;
  }

  getCurrentContext(): string | undefined {
    return this._current;
  }

  setCurrentContext(name: string): void {
    this._current = name;
  }

  getCurrentCluster(): Cluster | null {
    const context = this._contexts.find((c) => c.name === this._current);
    return (context && this._clusters.find((c) => c.name === context.cluster)) ?? null;
  }

  getCurrentUser(): User | null {
    const context = this._contexts.find((c) => c.name === this._current);
    return (context && this._users.find((u) => u.name === context.user)) ?? null;
  }

  /** Whether the current user's credentials come from a plugin that only client-node implements. */
  needsClientNode(): boolean {
    return Boolean(this.getCurrentUser()?.authProvider);
  }

  /** client-node's KubeConfig over the same entries, loaded on first use and kept. */
  clientNode(): Promise<KubeConfig> {
    this._clientNode ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const kc = new KubeConfig();
      const users = this._users.map((user) => (user.exec && !user.authProvider ? { ...user, exec: undefined } : user));
      kc.loadFromOptions({ clusters: this._clusters, users, contexts: this._contexts, currentContext: this._current ?? '' });
      return kc;
    });
    return this._clientNode.then((kc) => {
      // The context may have been chosen after the first load.
      if (this._current !== undefined) kc.setCurrentContext(this._current);
      return kc;
    });
  }

  /**
   * KubeConfig.applyToHTTPSOptions for users without an auth plugin: the cluster's CA,
   * tls-server-name and insecure-skip-tls-verify, the user's client certificate, `as`, token and
   * basic auth. Like client-node, nothing at all is applied to a context without a user. Throws
   * the file system's error when a named file cannot be read, as client-node does.
   */
  applyToHTTPSOptions(opts: https.RequestOptions): void {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (!user) return;
    const headers = (opts.headers ??= {}) as OutgoingHttpHeaders;
    if (cluster?.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster?.tlsServerName) opts.servername = cluster.tlsServerName;
    const ca = cluster ? fileOrData(cluster.caFile, cluster.caData) : null;
    if (ca) opts.ca = ca;
    const cert = fileOrData(user.certFile, user.certData);
    if (cert) opts.cert = cert;
    const key = fileOrData(user.keyFile, user.keyData);
    if (key) opts.key = key;
    if (user.impersonateUser != null) headers['Impersonate-User'] = user.impersonateUser;
    if (user.token) headers['Authorization'] = `Bearer ${user.token}`;
    if (user.username) opts.auth = `${user.username}:${user.password}`;
  }
}

/** client-node's bufferFromFileOrString: the file wins over inline base64 data. */
function fileOrData(file: string | undefined, data: string | undefined): Buffer | null {
  if (file) return readFileSync(file);
  if (data) return Buffer.from(data, 'base64');
  return null;
}
