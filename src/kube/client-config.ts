// What a KubeClient is made from, read out of a kubeconfig or the in-cluster environment: the
// server URL, the proxy to use, the kubeconfig user's impersonation, token files, and the timeout
// options.

import { readFileSync } from 'node:fs';
import { PodshellError } from '../protocol/errors.ts';
import type { Cluster } from './config.ts';
import { ConfigError } from './errors.ts';
import type { Impersonation } from './headers.ts';
import type { UserExtras } from './kubeconfig.ts';
import { parseProxyUrl, proxyFromEnvironment, redactUrl } from './proxy.ts';

export type ProxyChoice = { kind: 'none' } | { kind: 'tunnel'; url: URL } | { kind: 'client-node' };

export function parseServer(server: string, where: string): URL {
  // client-go's DefaultServerURL: a host without a scheme means https.
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `https://${server}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError('ERR_KUBECONFIG', `invalid server URL "${server}" in ${where}: expected https://host[:port][/path]`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError('ERR_KUBECONFIG', `invalid server URL "${server}" in ${where}: expected an https:// or http:// URL, found ${url.protocol}`);
  }
  if (url.username || url.password) throw new ConfigError('ERR_KUBECONFIG', `invalid server URL in ${where}: it must not carry credentials`);
  url.search = '';
  url.hash = '';
  return url;
}

export function serverText(url: URL): string {
  return url.href.replace(/\/$/, '');
}

export function chooseProxy(cluster: Cluster, server: URL, vars: NodeJS.ProcessEnv, where: string): ProxyChoice {
  if (cluster.proxyUrl) {
    // client-go: a cluster's proxy-url applies to every request, NO_PROXY notwithstanding.
    if (/^socks/i.test(cluster.proxyUrl)) return { kind: 'client-node' };
    const url = parseProxyUrl(cluster.proxyUrl);
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new ConfigError('ERR_KUBECONFIG', `invalid proxy-url for cluster "${cluster.name}" in ${where}: expected http://, https:// or socks5:// URL`);
    }
    return { kind: 'tunnel', url };
  }
  const url = proxyFromEnvironment(server, vars);
  if (!url) return { kind: 'none' };
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError('ERR_KUBECONFIG', `unsupported proxy ${redactUrl(url)} from the environment: podshell tunnels through http:// and https:// proxies; set proxy-url on the cluster in the kubeconfig for a SOCKS proxy`);
  }
  return { kind: 'tunnel', url };
}

export function defaultWarn(message: string): void {
  process.emitWarning(message, { code: 'PODSHELL_WARNING' });
}

export function kubeconfigImpersonation(asUser: string | undefined, extras: UserExtras | undefined): Impersonation | undefined {
  const imp: Impersonation = {
    ...(asUser ? { user: asUser } : {}),
    ...(extras?.asGroups ? { groups: extras.asGroups } : {}),
    ...(extras?.asUid ? { uid: extras.asUid } : {}),
    ...(extras?.asUserExtra ? { extra: extras.asUserExtra } : {}),
  };
  return Object.keys(imp).length ? imp : undefined;
}

export function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError('ERR_CREDENTIALS', `cannot read token file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`, { cause: err });
  }
  const token = text.trim();
  if (!token) throw new ConfigError('ERR_CREDENTIALS', `token file ${file} is empty`);
  return token;
}

export function timeouts(requestTimeoutMs: number | undefined, pluginTimeoutMs: number | undefined): { requestTimeoutMs?: number; pluginTimeoutMs?: number } {
  for (const [name, value] of [['requestTimeoutMs', requestTimeoutMs], ['credentialPluginTimeoutMs', pluginTimeoutMs]] as const) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
      throw new PodshellError('ERR_USAGE', `${name} must be a number of milliseconds, 0 or more (0: no limit), not ${value}`);
    }
  }
  return { ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}), ...(pluginTimeoutMs !== undefined ? { pluginTimeoutMs } : {}) };
}
