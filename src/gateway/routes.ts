// The gateway's route groups. Each is a Registrar: it adds its routes to the app, in a scope of its
// own (`app.register`), and relies on the server for sign-in, the Origin/Host/CSRF checks, the
// WebSocket plugin and the error answer. startGateway() registers `defaultRoutes` in order.

import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from './context.ts';
import { PromMetrics } from './metrics.ts';
import { registerClusterRoutes } from './routes-clusters.ts';
import { registerFileRoutes } from './routes-files.ts';
import { registerLogRoutes } from './routes-logs.ts';
import { registerUiRoutes } from './routes-ui.ts';

export type Registrar = (app: FastifyInstance, ctx: GatewayContext) => void | Promise<void>;

/** GET /healthz: `ok`, without sign-in (for probes). */
export function registerHealthRoutes(app: FastifyInstance, _ctx: GatewayContext): void {
  app.register(async (scope) => {
    scope.get('/healthz', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('ok'));
  });
}

/** GET /metrics: the Prometheus text format (signed-in only, like everything but /healthz and /login). */
export function registerMetricsRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.register(async (scope) => {
    scope.get('/metrics', async (_request, reply) => {
      const metrics = ctx.metrics;
      if (!(metrics instanceof PromMetrics)) return reply.code(404).type('text/plain; charset=utf-8').send('no metrics registry\n');
      return reply.type(metrics.contentType).send(await metrics.text());
    });
  });
}

/** The route groups of the gateway, in order (the session routes are added by the server, which owns the SessionManager). */
export const defaultRoutes: Registrar[] = [registerHealthRoutes, registerMetricsRoutes, registerUiRoutes, (app, ctx) => registerClusterRoutes(app, ctx), registerFileRoutes, (app, ctx) => registerLogRoutes(app, ctx)];
