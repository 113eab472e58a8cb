// The recordings' HTTP API (docs/web.md, "Recordings"): a session's asciicast file for the
// sign-in that owned the session; for any other it does not exist, as sessions do not.

import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from './context.ts';
import { GatewayError } from './errors.ts';
import type { Recordings } from './recording.ts';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** GET /api/sessions/:id/recording; `recordings` undefined when the gateway records nothing. */
export function registerRecordingRoutes(app: FastifyInstance, _ctx: GatewayContext, recordings: Recordings | undefined): void {
  app.register(async (scope) => {
    scope.get<{ Params: { id: string } }>('/api/sessions/:id/recording', async (request, reply) => {
      const { id } = request.params;
      const file = ID.test(id) ? recordings?.find(request.principal.id, id) : undefined;
      if (!file) throw new GatewayError('ERR_GATEWAY_UNKNOWN_RECORDING', 404, `no recording of session "${id}"`);
      return reply
        .type('application/x-asciicast')
        .header('content-disposition', `attachment; filename=${id}.cast`)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-store')
        .send(createReadStream(file));
    });
  });
}
