// KubeClient: one cluster, reached as kubectl reaches it. Configuration and every authentication
// method (tokens, client certificates, exec credential plugins, OIDC, basic auth, in-cluster
// service accounts) follow @kubernetes/client-node's KubeConfig (config.ts: its own entry parsers
// and plain credentials without its package index; KubeConfig itself, loaded on first use, for
// credential plugins); this file adds what kubectl does and client-node does not (kubeconfig
// merging rules, `tokenFile` and in-cluster token rotation, the full set of impersonation
// headers, env proxies with NO_PROXY, CONNECT tunnels for proxied WebSockets) and the small REST
// calls podshell needs.

import { readFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import { PodshellError } from '../protocol/errors.ts';
import { Kubeconfig, type Cluster } from './config.ts';
import { http as httpModule } from './node-http.ts';
import { ConfigError, TargetError, apiStatusError, connectError } from './errors.ts';
import { loadKubeconfig, selectContext, type UserExtras } from './kubeconfig.ts';
import { HttpTunnelAgent, HttpsTunnelAgent, parseProxyUrl, proxyFromEnvironment, redactUrl } from './proxy.ts';
import {
  compareNames,
  describeObject,
  labelSelectorString,
  mapSelectorString,
  mostActivePod,
  parseTarget,
  resolvePod,
  type ResolvedTarget,
  type ResourceKind,
  type Target,
} from './targets.ts';
import type { LabelSelector, ListMeta, Pod } from './types.ts';

export type { Pod } from './types.ts';
export type { ResolvedTarget, Target } from './targets.ts';

/** Acting as another user (kubectl --as, --as-group, --as-uid, --as-user-extra). */
export interface Impersonation {
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

export interface KubeconfigOptions {
  /**
   * The kubeconfig file. Default: the files listed in KUBECONFIG (':'-separated, merged as
   * kubectl merges them), else ~/.kube/config.
   */
  path?: string;
  /** Default: the kubeconfig's current-context. */
  context?: string;
  /** Default: the context's namespace, else "default". */
  namespace?: string;
  /**
   * Default: the kubeconfig user's `as`, `as-groups`, `as-uid` and `as-user-extra`, if set.
   * When given, it replaces all of those.
   */
  impersonate?: Impersonation;
  /** Where warnings go (e.g. once for insecure-skip-tls-verify). Default: process.emitWarning. */
  warn?: (message: string) => void;
  /** The environment to read KUBECONFIG, HOME and HTTPS_PROXY/HTTP_PROXY/NO_PROXY from. Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface InClusterOptions {
  /** Prefix for /var/run/secrets/kubernetes.io/serviceaccount (tests). Default: ''. */
  root?: string;
  /** Default: the service account's namespace file, else "default". */
  namespace?: string;
  impersonate?: Impersonation;
  warn?: (message: string) => void;
}

/** Everything needed to open an https request or a `ws` WebSocket to the server. */
export interface ConnectOptions {
  /**
   * Authorization (token or basic auth), Impersonate-User, Impersonate-Group (an array: one
   * header line per group), Impersonate-Uid, Impersonate-Extra-*. Never log these.
   */
  headers: Record<string, string | string[]>;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The cluster's tls-server-name. */
  servername?: string;
  /** false only with insecure-skip-tls-verify. */
  rejectUnauthorized: boolean;
  /** A CONNECT-tunnelling agent when a proxy applies (proxy-url, or HTTPS_PROXY without NO_PROXY). */
  agent?: http.Agent;
}

export interface RequestOptions {
  /** Default: GET. */
  method?: string;
  /** Path below the server URL, segments already encoded, e.g. `/api/v1/namespaces/default/pods`. */
  path: string;
  /** Query parameters; arrays repeat the parameter, undefined values are left out. */
  query?: Record<string, string | string[] | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  signal?: AbortSignal;
  /** Whole-request timeout (credentials, connection, answer). Default: 30 000 ms. */
  timeoutMs?: number;
}

export interface ResolveOptions {
  /** Default: the client's namespace. */
  namespace?: string;
  /** kubectl -c. */
  container?: string;
  /** Which kubectl wording to use for completed pods. Default: 'exec'. */
  verb?: 'exec' | 'attach';
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const USER_AGENT = `podshell (${process.platform}/${process.arch}) node/${process.version}`;

type ProxyChoice = { kind: 'none' } | { kind: 'tunnel'; url: URL } | { kind: 'client-node' };

interface ClientConfig {
  kc: Kubeconfig;
  server: URL;
  namespace: string;
  context?: string;
  /** Re-read for every connection (kubeconfig `tokenFile`, in-cluster token). */
  tokenFile?: string;
  /** Replaces client-node's Impersonate-User (set from `as`) when defined. */
  impersonate?: Impersonation;
  proxy: ProxyChoice;
}

const enc = encodeURIComponent;

function parseServer(server: string, where: string): URL {
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

function serverText(url: URL): string {
  return url.href.replace(/\/$/, '');
}

function chooseProxy(cluster: Cluster, server: URL, vars: NodeJS.ProcessEnv, where: string): ProxyChoice {
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

function defaultWarn(message: string): void {
  process.emitWarning(message, { code: 'PODSHELL_WARNING' });
}

/** client-go headerKeyEscape: percent-encode bytes that are not legal in a header name, and '%'. */
function escapeExtraKey(key: string): string {
  let out = '';
  for (const b of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9!#$&'*+\-.^_`|~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function impersonationHeaders(imp: Impersonation): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (imp.user) headers['Impersonate-User'] = imp.user;
  if (imp.groups?.length) headers['Impersonate-Group'] = [...imp.groups];
  if (imp.uid) headers['Impersonate-Uid'] = imp.uid;
  for (const [key, values] of Object.entries(imp.extra ?? {})) {
    if (values.length) headers[`Impersonate-Extra-${escapeExtraKey(key)}`] = [...values];
  }
  return headers;
}

function kubeconfigImpersonation(asUser: string | undefined, extras: UserExtras | undefined): Impersonation | undefined {
  const imp: Impersonation = {
    ...(asUser ? { user: asUser } : {}),
    ...(extras?.asGroups ? { groups: extras.asGroups } : {}),
    ...(extras?.asUid ? { uid: extras.asUid } : {}),
    ...(extras?.asUserExtra ? { extra: extras.asUserExtra } : {}),
  };
  return Object.keys(imp).length ? imp : undefined;
}

function readToken(file: string): string {
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

/** Rejects with `signal.reason` as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export class KubeClient {
  /** https://host:port[/prefix] */
  readonly server: string;
  readonly namespace: string;
  readonly context?: string;

  private readonly _kc: Kubeconfig;
  private readonly _serverUrl: URL;
  private readonly _tokenFile: string | undefined;
  private readonly _impersonate: Impersonation | undefined;
  private readonly _proxy: ProxyChoice;
  private _agent: http.Agent | undefined;

  private constructor(config: ClientConfig) {
    this._kc = config.kc;
    this._serverUrl = config.server;
    this.server = serverText(config.server);
    this.namespace = config.namespace;
    if (config.context !== undefined) this.context = config.context;
    this._tokenFile = config.tokenFile;
    this._impersonate = config.impersonate;
    this._proxy = config.proxy;
  }

  /**
   * A client for a kubeconfig context. Synchronous: nothing is contacted and no credential plugin
   * runs until the first connection.
   * @throws ConfigError ERR_KUBECONFIG
   * @example
   * const client = KubeClient.fromKubeconfig({ context: 'staging', namespace: 'web' });
   */
  static fromKubeconfig(opts: KubeconfigOptions = {}): KubeClient {
    const vars = opts.env ?? process.env;
    const loaded = loadKubeconfig(opts.path, vars);
    const { context, cluster, user } = selectContext(loaded, opts.context);
    const where = `kubeconfig ${loaded.source}`;
    if (cluster.skipTLSVerify && (cluster.caData || cluster.caFile)) {
      // client-go refuses the same combination (transport.TLSConfigFor).
      throw new ConfigError('ERR_KUBECONFIG', `cluster "${cluster.name}" in ${where}: specifying a root certificates file with the insecure flag is not allowed`);
    }
    const server = parseServer(cluster.server, `cluster "${cluster.name}" of ${where}`);
    if (server.protocol === 'http:' && !/^(localhost|127\.[\d.]+|\[::1\])$/.test(server.hostname)) {
      (opts.warn ?? defaultWarn)(`cluster "${cluster.name}" uses plain HTTP (${serverText(server)}): credentials and commands travel unencrypted`);
    }
    if (cluster.skipTLSVerify) {
      (opts.warn ?? defaultWarn)(`insecure-skip-tls-verify is set for cluster "${cluster.name}": the API server's certificate is not checked, so anyone on the network path can pose as it`);
    }
    const extras = user ? loaded.users.get(user.name) : undefined;
    const impersonate = opts.impersonate ?? kubeconfigImpersonation(user?.impersonateUser ?? undefined, extras);
    return new KubeClient({
      kc: loaded.kc,
      server,
      namespace: opts.namespace || context.namespace || 'default',
      context: context.name,
      ...(extras?.tokenFile ? { tokenFile: extras.tokenFile } : {}),
      ...(impersonate ? { impersonate } : {}),
      proxy: chooseProxy(cluster, server, vars, where),
    });
  }

  /**
   * A client for the cluster the current pod runs in: the service account token (re-read for
   * every connection, as projected tokens rotate) and CA, and KUBERNETES_SERVICE_HOST/PORT.
   * @throws ConfigError ERR_NOT_IN_CLUSTER
   */
  static inCluster(opts: InClusterOptions = {}): KubeClient {
    const root = opts.root ?? '';
    const dir = `${root}/var/run/secrets/kubernetes.io/serviceaccount`;
    const host = process.env['KUBERNETES_SERVICE_HOST'];
    const port = process.env['KUBERNETES_SERVICE_PORT'];
    if (!host || !port) {
      throw new ConfigError('ERR_NOT_IN_CLUSTER', 'not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined');
    }
    for (const file of ['token', 'ca.crt']) {
      try {
        readFileSync(`${dir}/${file}`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new ConfigError('ERR_NOT_IN_CLUSTER', `not running with a service account: cannot read ${dir}/${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
      }
    }
    const kc = Kubeconfig.inCluster(root, host, port);
    const cluster = kc.getCurrentCluster()!;
    const server = parseServer(cluster.server, 'KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT');
    const fileNamespace = kc.getContexts()[0]?.namespace?.trim();
    return new KubeClient({
      kc,
      server,
      namespace: opts.namespace || fileNamespace || 'default',
      tokenFile: `${dir}/token`,
      ...(opts.impersonate ? { impersonate: opts.impersonate } : {}),
      proxy: chooseProxy(cluster, server, process.env, 'the in-cluster configuration'),
    });
  }

  /**
   * Fresh for every connection: exec plugins, OIDC and token files may rotate credentials.
   * Pass to `https.request` or `new WebSocket(url, protocols, { ...options })`.
   * @throws ConfigError ERR_CREDENTIALS when a credential source fails (exec plugin, token file)
   */
  async connectOptions(): Promise<ConnectOptions> {
    const opts: https.RequestOptions = { headers: {} };
    const cluster = this._kc.getCurrentCluster();
    const user = this._kc.getCurrentUser();
    try {
      if (this._kc.needsClientNode() || this._proxy.kind === 'client-node') await (await this._kc.clientNode()).applyToHTTPSOptions(opts);
      else this._kc.applyToHTTPSOptions(opts);
    } catch (err) {
      // client-node refuses http:// servers unless insecure-skip-tls-verify is set, after it has
      // filled in everything else; kubectl talks to them (e.g. `kubectl proxy`).
      const httpRefused = this._serverUrl.protocol === 'http:' && (err as Error).message.startsWith('HTTP protocol is not allowed');
      if (!httpRefused) throw this._credentialError(err, user?.name);
    }
    const result: ConnectOptions = { headers: {}, rejectUnauthorized: opts.rejectUnauthorized !== false };
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      if (value === undefined) continue;
      // Impersonation is ours to set: client-node only knows `as`.
      if (/^impersonate-/i.test(name)) continue;
      result.headers[/^authorization$/i.test(name) ? 'Authorization' : name] = Array.isArray(value) ? value.map(String) : String(value);
    }
    if (opts.auth && !result.headers['Authorization']) result.headers['Authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    if (this._tokenFile) {
      // client-go: the file wins over a static token, which stays as the fallback when the file
      // cannot be read.
      try {
        result.headers['Authorization'] = `Bearer ${readToken(this._tokenFile)}`;
      } catch (err) {
        if (!result.headers['Authorization']) throw err;
      }
    }
    const impersonate = this._impersonate ?? (user?.impersonateUser ? { user: user.impersonateUser } : undefined);
    if (impersonate) Object.assign(result.headers, impersonationHeaders(impersonate));

    if (!user && cluster) {
      // client-node applies nothing, not even the CA, to a context without a user.
      if (cluster.skipTLSVerify) result.rejectUnauthorized = false;
      if (cluster.tlsServerName) opts.servername = cluster.tlsServerName;
      try {
        if (cluster.caFile) opts.ca = readFileSync(cluster.caFile);
        else if (cluster.caData) opts.ca = Buffer.from(cluster.caData, 'base64');
      } catch (err) {
        throw this._credentialError(err, undefined);
      }
    }
    if (opts.ca) result.ca = opts.ca as string | Buffer;
    if (opts.cert) result.cert = opts.cert as string | Buffer;
    if (opts.key) result.key = opts.key as string | Buffer;
    if (opts.servername) result.servername = opts.servername;
    const agent = this._proxyAgent(opts.agent);
    if (agent) result.agent = agent;
    return result;
  }

  private _credentialError(err: unknown, userName: string | undefined): ConfigError {
    if (err instanceof ConfigError) return err;
    const e = err as NodeJS.ErrnoException;
    if ((e.code === 'ENOENT' || e.code === 'EACCES') && e.path) {
      return new ConfigError('ERR_KUBECONFIG', `cannot read ${e.path}, named by the kubeconfig: ${e.code === 'ENOENT' ? 'no such file' : 'permission denied'}`, { cause: err });
    }
    const reason = (e instanceof Error ? e.message : String(err)).trim() || 'it failed without saying why';
    const oneLine = reason.replace(/\s+/g, ' ');
    return new ConfigError('ERR_CREDENTIALS', `cannot get credentials${userName ? ` for user "${userName}"` : ''}: ${oneLine.length > 1000 ? `${oneLine.slice(0, 1000)}…` : oneLine}`, { cause: err });
  }

  private _proxyAgent(clientNodeAgent: unknown): http.Agent | undefined {
    switch (this._proxy.kind) {
      case 'none':
        return undefined;
      case 'client-node':
        return clientNodeAgent as http.Agent;
      case 'tunnel':
        this._agent ??= this._serverUrl.protocol === 'https:' ? new HttpsTunnelAgent(this._proxy.url) : new HttpTunnelAgent(this._proxy.url);
        return this._agent;
    }
  }

  /** The absolute URL for an API path below the server (keeping a server path prefix). */
  url(path: string, query?: Record<string, string | string[] | undefined>): URL {
    const prefix = this._serverUrl.pathname.replace(/\/$/, '');
    const url = new URL(`${prefix}${path.startsWith('/') ? '' : '/'}${path}`, this._serverUrl.origin);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, v);
    }
    return url;
  }

  /**
   * A JSON request to the API server. Redirects are never followed (a 3xx is an ApiStatusError).
   * @throws ApiStatusError for a non-2xx answer; ConnectError when the server cannot be reached;
   * PodshellError ERR_TIMEOUT after `timeoutMs`; the signal's reason when `signal` aborts.
   */
  async request<T = unknown>(opts: RequestOptions): Promise<T> {
    opts.signal?.throwIfAborted();
    const method = (opts.method ?? 'GET').toUpperCase();
    const url = this.url(opts.path, opts.query);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const what = `${method} ${url.pathname}${url.search}`;
    const control = new AbortController();
    const timer = setTimeout(() => control.abort(new PodshellError('ERR_TIMEOUT', `${what} at ${this.server} timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => control.abort(opts.signal!.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const connect = await raceAbort(this.connectOptions(), control.signal);
      return await this._send<T>(url, method, what, opts.body, connect, control.signal);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  private _send<T>(url: URL, method: string, what: string, body: unknown, connect: ConnectOptions, signal: AbortSignal): Promise<T> {
    signal.throwIfAborted();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (err: unknown, value?: T) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) resolve(value as T);
        else reject(err);
      };
      const headers: Record<string, string | string[] | number> = {
        ...connect.headers,
        Accept: 'application/json',
        'User-Agent': USER_AGENT,
        ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
      };
      const options: https.RequestOptions = {
        method,
        headers,
        rejectUnauthorized: connect.rejectUnauthorized,
        ...(connect.ca ? { ca: connect.ca } : {}),
        ...(connect.cert ? { cert: connect.cert } : {}),
        ...(connect.key ? { key: connect.key } : {}),
        ...(connect.servername ? { servername: connect.servername } : {}),
        ...(connect.agent ? { agent: connect.agent } : {}),
      };
      let req: http.ClientRequest;
      try {
        req = (url.protocol === 'https:' ? https : httpModule).request(url, options);
      } catch (err) {
        settle(err);
        return;
      }
      const onAbort = () => {
        req.destroy();
        settle(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => settle(connectError(this.server, err)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => settle(connectError(this.server, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return settle(apiStatusError(status, text));
          if (!text.trim()) return settle(undefined, undefined as T);
          try {
            settle(undefined, JSON.parse(text) as T);
          } catch {
            settle(new PodshellError('ERR_BAD_RESPONSE', `expected JSON in the answer to ${what} from ${this.server}, found: ${text.slice(0, 200)}`));
          }
        });
      });
      req.end(payload);
    });
  }

  /** GET a pod. @throws ApiStatusError ERR_NOT_FOUND `pods "x" not found` */
  async getPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod> {
    if (!name) throw new TargetError('a pod name must not be empty');
    return this.request<Pod>({ path: `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}`, ...(signal ? { signal } : {}) });
  }

  /** List pods (every page); namespace '' lists across all namespaces. */
  async listPods(namespace: string, opts: { labelSelector?: string; fieldSelector?: string; signal?: AbortSignal } = {}): Promise<Pod[]> {
    const path = namespace ? `/api/v1/namespaces/${enc(namespace)}/pods` : '/api/v1/pods';
    const pods: Pod[] = [];
    let next: string | undefined;
    do {
      const list = await this.request<{ items?: Pod[]; metadata?: ListMeta }>({
        path,
        query: { labelSelector: opts.labelSelector || undefined, fieldSelector: opts.fieldSelector || undefined, limit: '500', continue: next },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      pods.push(...(list.items ?? []));
      next = list.metadata?.continue || undefined;
    } while (next);
    return pods;
  }

  /**
   * Which pods and container a command should run in, as kubectl picks them (PROTOCOL.md
   * §9.2–9.3). `POD` and `TYPE/NAME` give one target; `{ selector }` and `{ workload, allPods }`
   * give every matching pod that has not completed, sorted by name.
   * @throws TargetError; ApiStatusError (e.g. ERR_NOT_FOUND for an unknown pod or workload)
   */
  async resolveTargets(target: Target, opts: ResolveOptions = {}): Promise<ResolvedTarget[]> {
    const namespace = opts.namespace || this.namespace;
    const podOpts = { ...(opts.container ? { container: opts.container } : {}), verb: opts.verb ?? ('exec' as const) };
    const signal = opts.signal;
    if (typeof target !== 'string' && 'pod' in target) return [resolvePod(await this.getPod(namespace, target.pod, signal), namespace, podOpts)];
    if (typeof target === 'string') {
      const parsed = parseTarget(target);
      if (parsed.kind.selector === 'pod') return [resolvePod(await this.getPod(namespace, parsed.name, signal), namespace, podOpts)];
      const { pods, describe } = await this._podsOf(parsed.kind, parsed.name, namespace, signal);
      const pod = mostActivePod(pods);
      if (!pod) throw new TargetError(`no pods found for ${describe}`);
      return [resolvePod(pod, namespace, podOpts)];
    }
    if ('selector' in target) {
      const pods = await this.listPods(namespace, { labelSelector: target.selector, ...(signal ? { signal } : {}) });
      return this._resolveAll(pods, namespace, podOpts, `selector "${target.selector}" in namespace "${namespace}"`);
    }
    const parsed = parseTarget(target.workload);
    if (parsed.kind.selector === 'pod') return [resolvePod(await this.getPod(namespace, parsed.name, signal), namespace, podOpts)];
    const { pods, describe } = await this._podsOf(parsed.kind, parsed.name, namespace, signal);
    return this._resolveAll(pods, namespace, podOpts, describe);
  }

  private _resolveAll(pods: Pod[], namespace: string, podOpts: { container?: string; verb: 'exec' | 'attach' }, describe: string): ResolvedTarget[] {
    if (pods.length === 0) throw new TargetError(`no pods found for ${describe}`);
    const running = pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
    if (running.length === 0) {
      throw new TargetError(`no pods to ${podOpts.verb === 'exec' ? 'exec into' : 'attach to'} for ${describe}: all ${pods.length} matching pods have completed`);
    }
    return running.sort(compareNames).map((pod) => resolvePod(pod, namespace, podOpts));
  }

  /** The pods of a workload or service, by its selector. */
  private async _podsOf(kind: ResourceKind, name: string, namespace: string, signal: AbortSignal | undefined): Promise<{ pods: Pod[]; describe: string }> {
    const base = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
    const object = await this.request<{ spec?: { selector?: unknown } }>({
      path: `${base}/namespaces/${enc(namespace)}/${kind.resource}/${enc(name)}`,
      ...(signal ? { signal } : {}),
    });
    const raw = object.spec?.selector;
    let selector: string;
    if (kind.selector === 'map') {
      const map = (raw ?? {}) as Record<string, string>;
      if (Object.keys(map).length === 0) {
        throw new TargetError(kind.kind === 'Service' ? `invalid service '${name}': Service is defined without a selector` : `${describeObject(kind, name)} has no pod selector`);
      }
      selector = mapSelectorString(map);
    } else {
      const ls = (raw ?? {}) as LabelSelector;
      selector = labelSelectorString(ls);
      if (!selector) throw new TargetError(`${describeObject(kind, name)} has no pod selector`);
    }
    const pods = await this.listPods(namespace, { labelSelector: selector, ...(signal ? { signal } : {}) });
    return { pods, describe: `${describeObject(kind, name)} in namespace "${namespace}" (selector "${selector}")` };
  }

  /** Close idle proxy-tunnel connections. The client stays usable. */
  close(): void {
    this._agent?.destroy();
    this._agent = undefined;
  }
}
