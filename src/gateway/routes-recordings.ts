// The recordings' HTTP API (docs/web.md, "Recordings"): a session's asciicast file for the
// sign-in that owned the session, and for people in the configured auditor groups; for anyone
// else it does not exist, as sessions do not.

import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from './context.ts';
import { GatewayError } from './errors.ts';
import type { Recordings } from './recording.ts';
import { defaultUiDir, UI_CSP } from './routes-ui.ts';

/**
 * The replay page's policy: the page's own, plus 'wasm-unsafe-eval' so that asciinema-player may
 * compile its terminal emulator (WebAssembly). It allows no JavaScript eval and no inline code.
 */
export const REPLAY_CSP = UI_CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'");

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * GET /api/sessions/:id/recording and the page GET /replay/:id (from `uiDir`, default the built
 * UI); `recordings` undefined when the gateway records nothing.
 */
export function registerRecordingRoutes(app: FastifyInstance, ctx: GatewayContext, recordings: Recordings | undefined, uiDir = defaultUiDir()): void {
  app.register(async (scope) => {
    scope.get<{ Params: { id: string } }>('/replay/:id', async (_request, reply) => {
      reply
        .header('content-security-policy', REPLAY_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cross-origin-opener-policy', 'same-origin')
        .header('cache-control', 'no-cache');
      let html: Buffer;
      try {
        html = await readFile(`${uiDir}replay.html`);
      } catch {
        return reply.code(503).type('text/plain; charset=utf-8').send(`the browser UI is not built (no ${uiDir}replay.html): run npm run build\n`);
      }
      return reply.type('text/html; charset=utf-8').send(html);
    });

    scope.get<{ Params: { id: string } }>('/api/sessions/:id/recording', async (request, reply) => {
      const { id } = request.params;
      const auditors = ctx.config.auditorGroups ?? [];
      const auditor = (request.principal.groups ?? []).some((g) => auditors.includes(g));
      const file = !ID.test(id) ? undefined : auditor ? recordings?.findAny(id) : recordings?.find(request.principal.id, id);
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
