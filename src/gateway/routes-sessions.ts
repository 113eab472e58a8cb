// The sessions' HTTP API and stream (docs/web.md, "Sessions", "The stream"): create, list, show,
// resize, signal and end sessions; join one over a WebSocket. Sign-in, Origin and CSRF checks are
// the server's hooks; every handler here relies on `request.principal`.

import type {} from '@fastify/websocket';
import { Ajv } from 'ajv';
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from './context.ts';
import type { SignalName } from './session.ts';
import type { CreateSessionRequest, SessionManager } from './sessions.ts';

const dnsLabel = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } as const;
const dnsSubdomain = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' } as const;
const dimension = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
} as const;

const createBody = {
  type: 'object',
  additionalProperties: false,
  required: ['cluster', 'namespace', 'pod'],
  properties: {
    cluster: { type: 'string', minLength: 1, maxLength: 253 },
    namespace: dnsLabel,
    pod: dnsSubdomain,
    container: dnsLabel,
    command: { type: 'array', minItems: 1, maxItems: 1024, items: { type: 'string', maxLength: 65536 } },
    tty: { type: 'boolean' },
    cols: dimension,
    rows: dimension,
    // A debug (ephemeral) container targeting `container` (default: the pod's default container): docs/web.md, "Debug containers".
    debug: {
      type: 'object',
      additionalProperties: false,
      properties: { image: { type: 'string', minLength: 1, maxLength: 512, pattern: '^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$' } },
    },
  },
} as const;

const resizeBody = { type: 'object', additionalProperties: false, required: ['cols', 'rows'], properties: { cols: dimension, rows: dimension } } as const;
const signalBody = {
  type: 'object',
  additionalProperties: false,
  required: ['signal'],
  properties: { signal: { type: 'string', enum: ['INT', 'QUIT', 'TSTP', 'EOF'] } },
} as const;

export function registerSessionRoutes(app: FastifyInstance, ctx: GatewayContext, manager: SessionManager): void {
  void ctx;
  app.register(async (scope) => {
    // A strict validator of our own: an unknown property or a string where a number belongs is a
    // 400, never silently dropped or coerced (fastify's default removes and coerces).
    const ajv = new Ajv({ removeAdditional: false, useDefaults: false, coerceTypes: false, allErrors: false });
    scope.setValidatorCompiler(({ schema }) => ajv.compile(schema));

    scope.post('/api/sessions', { schema: { body: createBody } }, async (request, reply) => {
      const session = await manager.create(request.principal.id, request.body as CreateSessionRequest, request.ip, request.principal);
      return reply.code(201).send(session.describe());
    });

    scope.get('/api/sessions', async (request) => ({ sessions: manager.list(request.principal.id).map((s) => s.describe()) }));

    scope.get('/api/sessions/:id', { schema: { params: idParams } }, async (request) => {
      const { id } = request.params as { id: string };
      return manager.get(request.principal.id, id).describe();
    });

    scope.post('/api/sessions/:id/resize', { schema: { params: idParams, body: resizeBody } }, async (request, reply) => {
      const { id } = request.params as { id: string };
      const { cols, rows } = request.body as { cols: number; rows: number };
      manager.get(request.principal.id, id).resize(cols, rows);
      return reply.code(204).send();
    });

    scope.post('/api/sessions/:id/signal', { schema: { params: idParams, body: signalBody } }, async (request, reply) => {
      const { id } = request.params as { id: string };
      const { signal } = request.body as { signal: SignalName };
      manager.get(request.principal.id, id).signal(signal);
      return reply.code(204).send();
    });

    scope.delete('/api/sessions/:id', { schema: { params: idParams } }, async (request, reply) => {
      const { id } = request.params as { id: string };
      await manager.delete(request.principal.id, id);
      return reply.code(204).send();
    });

    scope.get('/api/sessions/:id/stream', { websocket: true }, (socket, request) => {
      const { id } = request.params as { id: string };
      manager.stream(request.principal.id, id, socket);
    });
  });
}
