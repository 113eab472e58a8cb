// KubeClient: one cluster, reached as kubectl reaches it. It is made from a kubeconfig or the
// in-cluster service account (client-config.ts reads what they say), computes the connection
// options of every request and session, and makes the few REST calls podshell needs
// (transport.ts sends them; targets.ts decides which pod a command runs in).
// Configuration and authentication (tokens, client certificates, OIDC, basic auth, in-cluster
// service accounts) follow @kubernetes/client-node's KubeConfig (config.ts: its own entry parsers
// and plain credentials without its package index; KubeConfig itself, loaded on first use, for
// auth-providers and SOCKS proxies). Exec credential plugins are run here (exec-plugin.ts), so a
// hung one can be stopped. This file adds what kubectl does and client-node does not (kubeconfig
// merging rules, `tokenFile` and in-cluster token rotation, the full set of impersonation
// headers, env proxies with NO_PROXY, CONNECT tunnels for proxied WebSockets, request timeouts).

import { readFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import { PodshellError } from '../protocol/errors.ts';
import { chooseProxy, defaultWarn, kubeconfigImpersonation, parseServer, readToken, serverText, timeouts, type ProxyChoice } from './client-config.ts';
import { Kubeconfig } from './config.ts';
import { ConfigError, TargetError } from './errors.ts';
import { DEFAULT_PLUGIN_TIMEOUT_MS, ExecPlugin, type ExecConfig } from './exec-plugin.ts';
import { checkHeaderValues, impersonationHeaders, type Impersonation } from './headers.ts';
import { loadKubeconfig, selectContext } from './kubeconfig.ts';
import { http as httpModule } from './node-http.ts';
import { HttpTunnelAgent, HttpsTunnelAgent } from './proxy.ts';
import { asPod, asPodList, asWorkload } from './shapes.ts';
import { resolveTargets, type ResolveOptions, type ResolvedTarget, type ResourceKind, type Target } from './targets.ts';
import { raceAbort, sendJson, type ConnectOptions } from './transport.ts';
import type { Pod } from './types.ts';

export type { Pod } from './types.ts';
export type { ResolvedTarget, ResolveOptions, Target } from './targets.ts';
export type { ConnectOptions } from './transport.ts';
export type { Impersonation } from './headers.ts';

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
  /**
   * kubectl --request-timeout: the longest any request may take (credentials, connection,
   * answer), and the default handshake timeout of sessions. 0 means no limit. Default: none
   * given, as in kubectl (REST calls then give up after 30 000 ms, sessions' upgrades too).
   */
  requestTimeoutMs?: number;
  /**
   * How long an exec credential plugin may run before it is killed, with every process it
   * started. Default: 30 000 ms.
   */
  credentialPluginTimeoutMs?: number;
}

export interface InClusterOptions {
  /** Prefix for /var/run/secrets/kubernetes.io/serviceaccount (tests). Default: ''. */
  root?: string;
  /** Default: the service account's namespace file, else "default". */
  namespace?: string;
  impersonate?: Impersonation;
  warn?: (message: string) => void;
  /** As for KubeconfigOptions. */
  requestTimeoutMs?: number;
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
  /** The body's media type, e.g. `application/strategic-merge-patch+json` for a PATCH. Default: application/json. */
  contentType?: string;
  signal?: AbortSignal;
  /**
   * Whole-request timeout (credentials, connection, answer); 0 means no limit. Default: the
   * client's `requestTimeoutMs`, else 30 000 ms.
   */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;


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
  requestTimeoutMs?: number;
  pluginTimeoutMs?: number;
}

const enc = encodeURIComponent;


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
  private readonly _requestTimeoutMs: number | undefined;
  private readonly _pluginTimeoutMs: number;
  private _plugin: ExecPlugin | undefined;
  private _agent: http.Agent | undefined;
  private _pool: http.Agent | undefined;

  private constructor(config: ClientConfig) {
    this._kc = config.kc;
    this._serverUrl = config.server;
    this.server = serverText(config.server);
    this.namespace = config.namespace;
    if (config.context !== undefined) this.context = config.context;
    this._tokenFile = config.tokenFile;
    this._impersonate = config.impersonate;
    this._proxy = config.proxy;
    this._requestTimeoutMs = config.requestTimeoutMs;
    this._pluginTimeoutMs = config.pluginTimeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS;
  }

  /** The `requestTimeoutMs` the client was made with (0: no limit), if any. */
  get requestTimeoutMs(): number | undefined {
    return this._requestTimeoutMs;
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
      ...timeouts(opts.requestTimeoutMs, opts.credentialPluginTimeoutMs),
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
      ...timeouts(opts.requestTimeoutMs, undefined),
    });
  }

  /**
   * Fresh for every connection: exec plugins, OIDC and token files may rotate credentials.
   * Pass to `https.request` or `new WebSocket(url, protocols, { ...options })`.
   * @throws ConfigError ERR_CREDENTIALS when a credential source fails (exec plugin, token file);
   * ERR_KUBECONFIG when a header value (e.g. the user to impersonate) cannot be sent in HTTP;
   * the signal's reason when `signal` aborts while an exec plugin runs (which then stops it,
   * unless another caller still waits for it)
   */
  async connectOptions(signal?: AbortSignal): Promise<ConnectOptions> {
    const opts: https.RequestOptions = { headers: {} };
    const cluster = this._kc.getCurrentCluster();
    const user = this._kc.getCurrentUser();
    // Exec credential plugins run here, so that a hung one is killed (client-node never stops
    // it). First: a SOCKS agent made by client-node takes the plugin's client certificate.
    const exec = user && !user.authProvider ? (user.exec as ExecConfig | undefined) : undefined;
    try {
      if (exec) {
        this._plugin ??= new ExecPlugin(exec, user!.name, this._pluginTimeoutMs);
        const credential = await this._plugin.credential(signal);
        if (credential.clientCertificateData) opts.cert = credential.clientCertificateData;
        if (credential.clientKeyData) opts.key = credential.clientKeyData;
        if (credential.token) (opts.headers as Record<string, string>)['Authorization'] = `Bearer ${credential.token}`;
      }
      if (this._kc.needsClientNode() || this._proxy.kind === 'client-node') await (await this._kc.clientNode()).applyToHTTPSOptions(opts);
      else this._kc.applyToHTTPSOptions(opts);
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
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
    else {
      // The client's own keep-alive agent: a session's upgrade request goes over the connection
      // that the GET before it (the pod, to pick the container) left idle, rather than a new TCP
      // connection and TLS handshake. Idle connections do not keep the process alive.
      this._pool ??= this._serverUrl.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new httpModule.Agent({ keepAlive: true });
      result.pool = this._pool;
    }
    if (this._requestTimeoutMs !== undefined) result.requestTimeoutMs = this._requestTimeoutMs;
    checkHeaderValues(result.headers, user?.name);
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
   * Answers larger than 64 MiB (MAX_RESPONSE_BYTES) are refused.
   * @throws ApiStatusError for a non-2xx answer; ConnectError when the server cannot be reached;
   * PodshellError ERR_TIMEOUT after the timeout, ERR_BAD_RESPONSE for an answer that is not JSON
   * or is too large; the signal's reason when `signal` aborts.
   */
  async request<T = unknown>(opts: RequestOptions): Promise<T> {
    opts.signal?.throwIfAborted();
    const method = (opts.method ?? 'GET').toUpperCase();
    const url = this.url(opts.path, opts.query);
    const timeoutMs = opts.timeoutMs ?? this._requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const what = `${method} ${url.pathname}${url.search}`;
    const control = new AbortController();
    let connecting = true;
    const timedOut = () => {
      const plugin = connecting ? this._plugin?.running : undefined;
      // The abort stops the plugin too, unless another request still waits for it.
      const why = plugin ? `: the exec plugin "${plugin}" had not answered` : '';
      return new PodshellError('ERR_TIMEOUT', `${what} at ${this.server} timed out after ${timeoutMs} ms${why}`);
    };
    const timer = timeoutMs > 0 ? setTimeout(() => control.abort(timedOut()), timeoutMs) : undefined;
    const onAbort = () => control.abort(opts.signal!.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const connect = await raceAbort(this.connectOptions(control.signal), control.signal);
      connecting = false;
      return await sendJson<T>({ url, method, what, server: this.server, body: opts.body, ...(opts.contentType ? { contentType: opts.contentType } : {}), connect, signal: control.signal });
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** GET a pod. @throws ApiStatusError ERR_NOT_FOUND `pods "x" not found`; ERR_BAD_RESPONSE when the answer is not a pod */
  async getPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod> {
    if (!name) throw new TargetError('a pod name must not be empty');
    const path = `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}`;
    return asPod(await this.request({ path, ...(signal ? { signal } : {}) }), `GET ${path}`);
  }

  /** List pods (every page); namespace '' lists across all namespaces. */
  async listPods(namespace: string, opts: { labelSelector?: string; fieldSelector?: string; signal?: AbortSignal } = {}): Promise<Pod[]> {
    const path = namespace ? `/api/v1/namespaces/${enc(namespace)}/pods` : '/api/v1/pods';
    const pods: Pod[] = [];
    let next: string | undefined;
    do {
      const list = asPodList(
        await this.request({
          path,
          query: { labelSelector: opts.labelSelector || undefined, fieldSelector: opts.fieldSelector || undefined, limit: '500', continue: next },
          ...(opts.signal ? { signal: opts.signal } : {}),
        }),
        `GET ${path}`,
      );
      pods.push(...list.items);
      next = list.metadata?.continue || undefined;
    } while (next);
    return pods;
  }

  /** The `spec.selector` of a workload or service. */
  async getSelector(kind: ResourceKind, name: string, namespace: string, signal?: AbortSignal): Promise<unknown> {
    const base = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
    const path = `${base}/namespaces/${enc(namespace)}/${kind.resource}/${enc(name)}`;
    return asWorkload(await this.request({ path, ...(signal ? { signal } : {}) }), kind.kind, `GET ${path}`).spec?.selector;
  }

  /**
   * Which pods and container a command should run in, as kubectl picks them (targets.ts).
   * `POD` and `TYPE/NAME` give one target; `{ selector }` and `{ workload, allPods }` give every
   * matching pod that has not completed, sorted by name.
   * @throws TargetError; ApiStatusError (e.g. ERR_NOT_FOUND for an unknown pod or workload)
   */
  resolveTargets(target: Target, opts: ResolveOptions = {}): Promise<ResolvedTarget[]> {
    return resolveTargets(this, target, opts);
  }

  /** Close idle connections (kept alive for reuse, or proxy tunnels). The client stays usable. */
  close(): void {
    this._agent?.destroy();
    this._agent = undefined;
    this._pool?.destroy();
    this._pool = undefined;
  }
}
