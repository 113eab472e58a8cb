// Signing in and the checks every request passes (docs/web.md, "Signing in"): the one-time login
// token exchanged for a session cookie, the Host allowlist (DNS rebinding), the Origin check on
// upgrades and state-changing requests (cross-site WebSocket hijacking, CSRF), the CSRF header.
// Tokens and cookies are compared in constant time and never logged.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayMetrics, Principal } from './context.ts';
import { GatewayError, errorAnswer } from './errors.ts';

/** The session cookie's name. */
export const SESSION_COOKIE = 'podshell_session';
/** How long a sign-in lasts. [default 12 h] */
export const DEFAULT_SIGN_IN_TTL_MS = 12 * 3_600_000;

const randomToken = () => randomBytes(32).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface SignIn {
  principal: Principal;
  expires: number;
}

/** The one-time login token and the sign-ins made with it, in memory. */
export class SignIns {
  private _loginToken: string | undefined = randomToken();
  /** The token as first issued (for the printed URL); dead once exchanged. */
  readonly loginToken: string = this._loginToken!;
  private readonly _byCookie = new Map<string, SignIn>();
  private readonly _ttlMs: number;

  constructor(ttlMs = DEFAULT_SIGN_IN_TTL_MS) {
    this._ttlMs = ttlMs;
  }

  get ttlMs(): number {
    return this._ttlMs;
  }

  /** The token for a new sign-in's cookie, or undefined when `token` is wrong or already used. */
  exchange(token: string): string | undefined {
    if (this._loginToken === undefined || !sameSecret(token, this._loginToken)) return undefined;
    this._loginToken = undefined;
    const cookie = randomToken();
    this._byCookie.set(cookie, { principal: { id: randomBytes(16).toString('hex'), csrfToken: randomToken() }, expires: Date.now() + this._ttlMs });
    return cookie;
  }

  /** The principal of a live sign-in, or undefined (an expired one is forgotten). */
  principal(cookie: string): Principal | undefined {
    // A Map lookup by the secret is not constant-time in principle; the secret is 256 random bits
    // and the lookup leaks nothing an attacker could use to guess one.
    const signIn = this._byCookie.get(cookie);
    if (!signIn) return undefined;
    if (Date.now() >= signIn.expires) {
      this._byCookie.delete(cookie);
      return undefined;
    }
    return signIn.principal;
  }
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Paths served without a sign-in. */
const PUBLIC_PATHS = new Set(['/healthz', '/login']);

export interface AuthOptions {
  signIns: SignIns;
  metrics: GatewayMetrics;
  tls: boolean;
  /** Plain HTTP with --insecure-bind: a TLS proxy may be in front, so https:// of the host is an own origin too. */
  behindTlsProxy: boolean;
  /** The `host:port` names served (lower case); read per request, as the port is known after listen. */
  allowedHosts(): ReadonlySet<string>;
}

/**
 * Install the checks as root hooks (every route, every scope) and the sign-in routes: GET /login
 * and GET /api/me. Call before registering any other route.
 */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const { signIns, metrics, tls } = options;
  app.decorateRequest('principal', null as unknown as Principal);

  const refuse = (request: FastifyRequest, reply: FastifyReply, err: GatewayError, reason: string) => {
    if (request.headers.upgrade) metrics.upgradeFailed(reason);
    const { statusCode, body } = errorAnswer(err);
    return reply.code(statusCode).header('cache-control', 'no-store').send(body);
  };

  app.addHook('onRequest', async (request, reply) => {
    const upgrade = request.headers.upgrade !== undefined;
    const host = request.headers.host?.toLowerCase();
    if (!host || !options.allowedHosts().has(host)) {
      return refuse(request, reply, new GatewayError('ERR_GATEWAY_HOST', 421, `this gateway does not serve the host ${JSON.stringify(request.headers.host ?? '')}: add it with --allowed-host`), 'host');
    }
    if (upgrade && (request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined)) {
      return refuse(request, reply, new GatewayError('ERR_GATEWAY_UPGRADE_BODY', 400, 'a WebSocket upgrade request has no body'), 'body');
    }
    if (upgrade || STATE_CHANGING.has(request.method)) {
      const origin = request.headers.origin;
      const own = `${tls ? 'https' : 'http'}://${host}`;
      // Behind a TLS proxy (--insecure-bind) pages come from https:// of the same host.
      const proxied = options.behindTlsProxy && !tls ? `https://${host}` : undefined;
      // Required on state-changing requests too: browsers send it on every one of them.
      if (origin === undefined || (origin.toLowerCase() !== own && origin.toLowerCase() !== proxied)) {
        const what = origin === undefined ? 'no Origin header' : `Origin ${JSON.stringify(origin)}`;
        return refuse(request, reply, new GatewayError('ERR_GATEWAY_ORIGIN', 403, `${what}: only pages of ${own} may do this`), 'origin');
      }
    }
    const path = request.url.split('?', 1)[0]!;
    if (PUBLIC_PATHS.has(path) && !upgrade) return;
    const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
    const principal = cookie === undefined ? undefined : signIns.principal(cookie);
    if (!principal) {
      return refuse(
        request,
        reply,
        new GatewayError('ERR_GATEWAY_UNAUTHENTICATED', 401, cookie === undefined ? 'not signed in: open the login URL podshell web printed' : 'the sign-in has expired or is unknown: open a new login URL'),
        'unauthenticated',
      );
    }
    if (STATE_CHANGING.has(request.method)) {
      const csrf = request.headers['x-csrf-token'];
      if (typeof csrf !== 'string' || !sameSecret(csrf, principal.csrfToken)) {
        return refuse(request, reply, new GatewayError('ERR_GATEWAY_CSRF', 403, 'missing or wrong X-CSRF-Token header: send the csrfToken of GET /api/me'), 'csrf');
      }
    }
    request.principal = principal;
  });

  app.get('/login', async (request, reply) => {
    const token = (request.query as Record<string, unknown>)['token'];
    const cookie = typeof token === 'string' ? signIns.exchange(token) : undefined;
    if (!cookie) throw new GatewayError('ERR_GATEWAY_SIGN_IN', 401, 'this login URL is wrong or was already used: restart podshell web for a new one');
    const attributes = ['Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.floor(signIns.ttlMs / 1000)}`, ...(tls ? ['Secure'] : [])];
    return reply
      .code(303)
      .header('location', '/')
      .header('cache-control', 'no-store')
      .header('set-cookie', `${SESSION_COOKIE}=${cookie}; ${attributes.join('; ')}`)
      .send();
  });

  app.get('/api/me', async (request, reply) => reply.header('cache-control', 'no-store').send({ csrfToken: request.principal.csrfToken }));
}
