// The browser UI: GET / is the page (dist/web/index.html), GET /assets/NAME its script and style
// sheet, all built by scripts/build-web.ts. Served under a strict Content-Security-Policy: scripts
// and styles only from the gateway's own files (no inline script, no eval), connections only to
// the gateway itself, no framing.

import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { GatewayContext } from './context.ts';
import type { Registrar } from './routes.ts';

/** The page's Content-Security-Policy. */
export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

/** Where the built UI is: dist/web next to the compiled gateway, or dist/web of the checkout when run from src/. */
export function defaultUiDir(): string {
  const besides = fileURLToPath(new URL('../web/', import.meta.url));
  if (existsSync(`${besides}assets/app.js`)) return besides;
  return fileURLToPath(new URL('../../dist/web/', import.meta.url));
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cache-control', 'no-cache');
}

/** The UI's routes, serving the build in `dir` (default: defaultUiDir()). */
export function uiRoutes(dir = defaultUiDir()): Registrar {
  return (app: FastifyInstance, _ctx: GatewayContext) => {
    app.register(async (scope) => {
      scope.get('/', async (_request, reply) => {
        let html: Buffer;
        try {
          html = await readFile(`${dir}index.html`);
        } catch {
          return secure(reply)
            .code(503)
            .type('text/plain; charset=utf-8')
            .send(`the browser UI is not built (no ${dir}index.html): run npm run build\n`);
        }
        return secure(reply).type(TYPES['.html']!).send(html);
      });
      scope.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
        const { name } = request.params;
        const type = TYPES[extname(name)];
        // Only plain names of files that are in the folder: no path, no hidden file, no other type.
        const listed = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) && type !== undefined && (await readdir(`${dir}assets`).catch(() => [] as string[])).includes(name);
        if (!listed) {
          return secure(reply)
            .code(404)
            .send({ error: { code: 'ERR_GATEWAY_NOT_FOUND', message: `no asset ${JSON.stringify(name)}`, status: 404 } });
        }
        return secure(reply).type(type).send(await readFile(`${dir}assets/${name}`));
      });
    });
  };
}

/** GET / and GET /assets/*: the browser UI from dist/web. */
export const registerUiRoutes: Registrar = (app, ctx) => uiRoutes()(app, ctx);
