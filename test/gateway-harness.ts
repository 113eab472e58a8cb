// A stand-in for the gateway's server while its parts are built separately: a real fastify
// server on 127.0.0.1:0 with the WebSocket plugin, the shared error answer, and a fixed sign-in,
// so a part's routes can be driven over real sockets. Tests move to the real server (with real
// sign-in) once it exists; `GatewayTestClient` is the interface both give tests.

import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { Cluster } from '../src/lib/index.ts';
import type { ClusterEntry, ClusterRegistry, GatewayConfig, GatewayContext, GatewayMetrics, SessionRegistry } from '../src/gateway/context.ts';
import { defaultConfig } from '../src/gateway/config.ts';
import { GatewayError, errorAnswer } from '../src/gateway/errors.ts';

export interface GatewayTestClient {
  /** http://127.0.0.1:PORT */
  readonly baseUrl: string;
  /** fetch() against the gateway as a signed-in browser page would: cookie, Origin, CSRF header. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Open a WebSocket to the gateway as the signed-in page would (cookie, Origin). */
  websocket(path: string): WebSocket;
  close(): Promise<void>;
}

/** The gateway's documented defaults (config.ts). */
export const testDefaults: GatewayConfig = defaultConfig;

/** Every context of a kubeconfig file as a cluster. */
export function kubeconfigClusters(path: string, contexts: string[], current = contexts[0]): ClusterRegistry {
  const handles = new Map<string, Cluster>();
  const entries: ClusterEntry[] = contexts.map((name) => ({
    name,
    server: '',
    namespace: 'default',
    current: name === current,
    cluster: () => {
      let c = handles.get(name);
      if (!c) handles.set(name, (c = Cluster.fromKubeconfig({ path, context: name })));
      return c;
    },
  }));
  return {
    list: () => entries,
    get: (name) => {
      const entry = entries.find((e) => e.name === name);
      if (!entry) throw new GatewayError('ERR_GATEWAY_UNKNOWN_CLUSTER', 404, `no cluster "${name}": the clusters are ${contexts.join(', ')}`);
      return entry;
    },
  };
}

export const noMetrics: GatewayMetrics = { sessionOpened() {}, sessionClosed() {}, join() {}, bytes() {}, upgradeFailed() {} };

export async function startHarness(options: {
  clusters: ClusterRegistry;
  config?: Partial<GatewayConfig>;
  sessions?: SessionRegistry;
  register: (app: FastifyInstance, ctx: GatewayContext) => void | Promise<void>;
}): Promise<GatewayTestClient & { ctx: GatewayContext; app: FastifyInstance }> {
  const app = Fastify({ logger: false });
  const ctx: GatewayContext = {
    config: { ...testDefaults, ...options.config },
    clusters: options.clusters,
    sessions: options.sessions ?? { size: 0, closeAll: async () => {} },
    metrics: noMetrics,
  };
  await app.register(websocket, { options: { maxPayload: 64 * 1024, perMessageDeflate: false } });
  app.decorateRequest('principal', null as never);
  app.addHook('onRequest', async (request) => {
    const user = request.headers['x-test-user']?.toString();
    const groups = request.headers['x-test-groups']?.toString();
    request.principal = {
      id: request.headers['x-test-principal']?.toString() ?? 'test',
      csrfToken: 'test-csrf',
      ...(user !== undefined ? { user, groups: groups ? groups.split(',') : [] } : {}),
    };
  });
  app.setErrorHandler((err, _request, reply) => {
    const { statusCode, body } = errorAnswer(err);
    void reply.code(statusCode).send(body);
  });
  await options.register(app, ctx);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    app,
    ctx,
    baseUrl,
    fetch: (path, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('origin', baseUrl);
      headers.set('x-csrf-token', 'test-csrf');
      return fetch(baseUrl + path, { ...init, headers });
    },
    websocket: (path) => new WebSocket(baseUrl.replace('http', 'ws') + path, { origin: baseUrl }),
    close: async () => {
      await ctx.sessions.closeAll('test over');
      await app.close();
    },
  };
}
