// The gateway's server: fastify with the WebSocket plugin, the sign-in and request checks
// (auth.ts), the error answer (errors.ts), the route groups (routes.ts) and a clean close. Secure
// by default: loopback only, unless TLS (or an explicit --insecure-bind) says otherwise.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type WebSocket from 'ws';
import { PodshellError } from '../lib/index.ts';
import { DEFAULT_SIGN_IN_TTL_MS, SignIns, TeamSignIns, installAuth } from './auth.ts';
import type { TeamConfig } from './team-config.ts';
import { KubeconfigClusters, configuredClusters } from './clusters.ts';
import { isLoopback, resolveConfig } from './config.ts';
import type { ClusterRegistry, GatewayConfig, GatewayContext } from './context.ts';
import { registerSessionRoutes } from './routes-sessions.ts';
import { AuditLog } from './audit.ts';
import { Recordings } from './recording.ts';
import { registerRecordingRoutes } from './routes-recordings.ts';
import { SessionManager, type SessionManagerOptions } from './sessions.ts';
import { GatewayError, errorAnswer } from './errors.ts';
import { PromMetrics } from './metrics.ts';
import { defaultRoutes, type Registrar } from './routes.ts';

/** The largest WebSocket message a client may send (docs/web.md); larger: close 1009. */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;
/** How long open WebSockets get to finish their closing handshake when the gateway stops. */
const SOCKET_CLOSE_GRACE_MS = 1000;

export interface GatewayOptions {
  /** Over the defaults (config.ts), checked strictly. */
  config?: Partial<GatewayConfig>;
  /** The kubeconfig whose contexts are served; default: KUBECONFIG, else ~/.kube/config. Ignored with `clusters`. */
  kubeconfig?: string;
  /** The clusters to serve instead of a kubeconfig's contexts. */
  clusters?: ClusterRegistry;
  /** The route groups. [default `defaultRoutes` and the session routes] */
  routes?: Registrar[];
  /** Timings of the session manager that are not user settings (tests). */
  sessions?: Pick<SessionManagerOptions, 'resumeTimeoutMs' | 'idleWarningMs' | 'shellReadyMs'>;
  /**
   * fastify's logger (pino, JSON): true logs at info to stderr. Request URLs are logged with the
   * login token hidden; cookies and Authorization headers never. [default false]
   */
  logger?: boolean | { level?: string; stream?: NodeJS.WritableStream };
  /** How long a sign-in lasts. [default 12 h] */
  signInTtlMs?: number;
  /** Team sign-in, the shared secret and limits (`--config`, team-config.ts); its limits win over `config`. */
  team?: TeamConfig;
}

export interface Gateway {
  /** scheme://host:port, as clients reach it. */
  readonly url: string;
  /** The one-time URL that signs a browser in (`url` + `/login?token=…`). */
  readonly loginUrl: string;
  readonly ctx: GatewayContext;
  /** Stop accepting, end every session, close every socket. */
  close(): Promise<void>;
}

function usage(message: string): PodshellError {
  return new PodshellError('ERR_USAGE', message);
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usage(`cannot read ${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
}

/** `url` with the values of its `token`, `code` and `state` query parameters (the login token, an OpenID Connect callback's) hidden, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|code|state)=)[^&#]*/gi, '$1[redacted]');
}

function loggerOptions(logger: GatewayOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false;
  const { level = 'info', stream = process.stderr } = logger === true ? {} : logger;
  return {
    level,
    stream,
    redact: { paths: ['req.headers.cookie', 'req.headers.authorization', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    serializers: {
      req: (req) => ({
        method: req.method,
        url: redactUrl(req.url),
        host: req.headers.host,
        remoteAddress: req.ip,
      }),
    },
  };
}

const urlHost = (host: string) => (isIPv6(host) ? `[${host}]` : host);

/**
 * Start the gateway and listen.
 * @throws PodshellError ERR_USAGE for a bad setting, a plain-HTTP non-loopback address without
 *   `insecureBind`, or TLS files that cannot be read; ConfigError ERR_KUBECONFIG
 * @example
 * const gateway = await startGateway({ kubeconfig: '/tmp/kubeconfig' });
 * console.log(`web ready ${gateway.loginUrl}`);
 */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const limits = options.team?.limits ?? {};
  const config = resolveConfig({
    ...options.config,
    ...(limits.sessions !== undefined ? { maxSessions: limits.sessions } : {}),
    ...(limits.idleTimeoutMs !== undefined ? { idleTimeoutMs: limits.idleTimeoutMs } : {}),
    ...(limits.maxDurationMs !== undefined ? { maxDurationMs: limits.maxDurationMs } : {}),
    ...(limits.maxUploadBytes !== undefined ? { maxUploadBytes: limits.maxUploadBytes } : {}),
    ...(options.team?.identityPrefix !== undefined ? { identityPrefix: options.team.identityPrefix } : {}),
    ...(options.team?.auditorGroups ? { auditorGroups: options.team.auditorGroups } : {}),
    ...(options.team?.debugImage !== undefined ? { debugImage: options.team.debugImage } : {}),
  });
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined;
  if (!tls && !config.insecureBind && !isLoopback(config.address)) {
    throw usage(
      `refusing to serve plain HTTP on ${config.address}, an address other machines can reach: sign-in cookies would cross the network unencrypted. ` +
        'Give --tls-cert and --tls-key, or --insecure-bind if something in front of the gateway (a TLS proxy) encrypts it',
    );
  }
  const https = tls ? { cert: readPem('--tls-cert', config.tlsCert!), key: readPem('--tls-key', config.tlsKey!) } : null;
  const clusters =
    options.clusters ?? (options.team?.clusters ? configuredClusters(options.team.clusters, options.kubeconfig) : new KubeconfigClusters(options.kubeconfig));
  const metrics = new PromMetrics();
  // -- audit and recordings: opened before listening, so a bad path stops the start --
  const audit = config.auditLog !== undefined ? openOrUsage('--audit-log', () => new AuditLog(config.auditLog!)) : undefined;
  const recordings =
    config.recordingsDir !== undefined
      ? openOrUsage('--recordings', () => new Recordings({ dir: config.recordingsDir!, recordInput: config.recordInput ?? false, ...(config.recordingsMaxAgeMs !== undefined ? { maxAgeMs: config.recordingsMaxAgeMs } : {}) }))
      : undefined;
  // With team sign-in several replicas may serve one URL: each session id names its replica.
  const replicaId = options.team ? randomBytes(4).toString('hex') : undefined;
  const sessions = new SessionManager({ config, clusters, metrics, ...options.sessions, ...(replicaId ? { idPrefix: `${replicaId}_` } : {}), ...(audit ? { audit } : {}), ...(recordings ? { recordings } : {}) });
  const ctx: GatewayContext = { config, clusters, sessions, metrics, ...(audit ? { audit } : {}) };
  const signIns = new SignIns(options.signInTtlMs ?? DEFAULT_SIGN_IN_TTL_MS);

  const app: FastifyInstance = Fastify({
    logger: loggerOptions(options.logger),
    // Open HTTP responses (event streams, downloads) do not hold up a close.
    forceCloseConnections: true,
    ...(https ? { https } : {}),
  }) as unknown as FastifyInstance;

  let port = 0;
  let hosts: ReadonlySet<string> = new Set();

  app.setErrorHandler((err, request, reply) => {
    const { statusCode, body } = errorAnswer(err);
    if (statusCode >= 500) request.log.error({ err }, 'request failed');
    return reply.code(statusCode).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const { statusCode, body } = errorAnswer(new GatewayError('ERR_GATEWAY_NOT_FOUND', 404, `no route ${request.method} ${redactUrl(request.url.split('?', 1)[0]!)}`));
    return reply.code(statusCode).send(body);
  });

  await app.register(websocket, {
    options: { maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false },
    // Sessions end first (their clients get their last words), then every socket is closed.
    preClose: async function (this: FastifyInstance) {
      await ctx.sessions.closeAll('gateway-stopping');
      await closeSockets(this.websocketServer.clients);
      audit?.close();
      recordings?.close();
    },
  });
  const team = options.team ? new TeamSignIns(options.team, options.signInTtlMs ?? DEFAULT_SIGN_IN_TTL_MS) : undefined;
  installAuth(app, {
    signIns,
    metrics,
    tls,
    behindTlsProxy: config.insecureBind,
    allowedHosts: () => hosts,
    ...(team
      ? {
          team,
          replicaId: replicaId!,
          onSignOut: (id: string) => void sessions.endAllOf(id),
          sessionsOf: (id: string) => sessions.list(id).filter((s) => s.state === 'running').length,
        }
      : {}),
  });
  const routes = options.routes ?? [
    ...defaultRoutes,
    (app: FastifyInstance, ctx: GatewayContext) => registerSessionRoutes(app, ctx, sessions),
    (app: FastifyInstance, ctx: GatewayContext) => registerRecordingRoutes(app, ctx, recordings),
  ];
  for (const register of routes) await register(app, ctx);

  try {
    await app.listen({ host: config.address, port: config.port });
  } catch (err) {
    await app.close();
    throw listenError(err, config);
  }
  const address = app.server.address();
  port = typeof address === 'object' && address ? address.port : config.port;
  const wildcard = config.address === '0.0.0.0' || config.address === '::';
  const served = ['127.0.0.1', 'localhost', '[::1]', ...(wildcard ? [] : [urlHost(config.address).toLowerCase()])].map((h) => `${h}:${port}`);
  hosts = new Set([...served, ...config.allowedHosts]);

  // The URL a user opens: the bound address, or for a wildcard one the first allowed host, else loopback.
  const host = wildcard ? (config.allowedHosts[0] ?? `127.0.0.1:${port}`) : `${urlHost(config.address)}:${port}`;
  const url = `${tls ? 'https' : 'http'}://${host}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    loginUrl: `${url}/login?token=${signIns.loginToken}`,
    ctx,
    close: () => (closing ??= app.close()),
  };
}

/** `open()`, its failure (a missing folder, a file that cannot be written) said as a usage error. */
function openOrUsage<T>(flag: string, open: () => T): T {
  try {
    return open();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw usage(`${flag}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.code === 'EACCES' ? 'permission denied' : e.message}`);
  }
}

/** Why the gateway cannot listen, said as a user can act on it. */
function listenError(err: unknown, config: GatewayConfig): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${urlHost(config.address)}:${config.port}`;
  if (code === 'EADDRINUSE') return usage(`cannot listen on ${where}: the port is in use (--port 0 picks a free one)`);
  if (code === 'EACCES') return usage(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return usage(`cannot listen on ${where}: no such address on this machine`);
  return err;
}

/** Close each socket (1001, going away), and cut those whose peer does not answer in time. */
async function closeSockets(clients: Set<WebSocket>): Promise<void> {
  const open = [...clients];
  const closed = open.map((socket) => new Promise<void>((resolve) => (socket.readyState === socket.CLOSED ? resolve() : socket.once('close', () => resolve()))));
  for (const socket of open) socket.close(1001, 'gateway stopping');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, SOCKET_CLOSE_GRACE_MS)));
  await Promise.race([Promise.all(closed), late]);
  clearTimeout(timer);
  for (const socket of open) socket.terminate();
}
