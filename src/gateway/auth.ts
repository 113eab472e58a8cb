// Signing in and the checks every request passes (docs/web.md, "Signing in"): the one-time login
// token exchanged for a session cookie, the Host allowlist (DNS rebinding), the Origin check on
// upgrades and state-changing requests (cross-site WebSocket hijacking, CSRF), the CSRF header.
// Tokens and cookies are compared in constant time and never logged.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayMetrics, Principal } from './context.ts';
import { GatewayError, errorAnswer } from './errors.ts';
import { installOidc } from './oidc.ts';
import { signSignIn, verifySignIn } from './signed-cookie.ts';
import { trustedPeer, type TeamConfig } from './team-config.ts';

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

/**
 * Requests per client address: a token bucket of `perMinute` tokens refilled continuously. In
 * memory; at most `maxAddresses` buckets (full ones are forgotten first, then the oldest).
 */
export class RateLimiter {
  private readonly _buckets = new Map<string, { tokens: number; at: number }>();
  readonly perMinute: number;
  private readonly _maxAddresses: number;
  constructor(perMinute: number, maxAddresses = 10_000) {
    this.perMinute = perMinute;
    this._maxAddresses = maxAddresses;
  }

  /** 0 when `address` may go on (a token is taken), else the seconds until it may. */
  take(address: string, now = Date.now()): number {
    const rate = this.perMinute / 60_000;
    const bucket = this._buckets.get(address) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    this._buckets.delete(address); // re-inserted last: the Map's order is by last use
    this._buckets.set(address, bucket);
    if (this._buckets.size > this._maxAddresses) this._evict();
    if (bucket.tokens < 1) return Math.ceil((1 - bucket.tokens) / rate / 1000);
    bucket.tokens -= 1;
    return 0;
  }

  private _evict(): void {
    for (const [address] of this._buckets) {
      this._buckets.delete(address);
      if (this._buckets.size <= this._maxAddresses) return;
    }
  }
}

/** Login attempts (GET /login, /login/callback) per client address and minute, with --config. */
export const LOGIN_ATTEMPTS_PER_MINUTE = 10;
/** WebSocket upgrades per client address and minute, with --config. */
export const UPGRADES_PER_MINUTE = 60;

/** Team sign-in (--config): the signed cookies and the ended sign-ins of this replica. */
export class TeamSignIns {
  /** Principal id → when its sign-ins were ended (logout, failed refresh): older cookies are dead. */
  private readonly _ended = new Map<string, number>();
  readonly config: TeamConfig;
  readonly ttlMs: number;
  constructor(config: TeamConfig, ttlMs: number) {
    this.config = config;
    this.ttlMs = ttlMs;
  }

  /** The principal id of `user`: the same on every replica (the secret is shared), so a user's sessions are theirs wherever they sign in again. */
  principalId(user: string): string {
    return this.derive('principal', user).slice(0, 22);
  }

  /** A value derived from `user` with the secret: the same on every replica. */
  derive(what: string, user: string): string {
    return createHmac('sha256', this.config.secret).update(`${what}\0${user}`).digest('base64url');
  }

  /** A new signed cookie for `user`. */
  issue(user: string, groups: readonly string[]): { cookie: string; principal: Principal } {
    const id = this.principalId(user);
    const csrfToken = randomToken();
    const issued = Date.now();
    const cookie = signSignIn(this.config.secret, { id, csrfToken, user, groups: [...groups], issued, expires: issued + this.ttlMs });
    return { cookie, principal: { id, csrfToken, user, groups: [...groups] } };
  }

  principal(cookie: string): Principal | undefined {
    const s = verifySignIn(this.config.secret, cookie);
    if (!s || s.user === undefined) return undefined;
    const ended = this._ended.get(s.id);
    if (ended !== undefined && s.issued <= ended) return undefined;
    return { id: s.id, csrfToken: s.csrfToken, user: s.user, groups: s.groups ?? [] };
  }

  /** End every sign-in of `id` made until now, on this replica. */
  end(id: string): void {
    const now = Date.now();
    this._ended.set(id, now);
    // Remembered no longer than a cookie lives.
    for (const [key, at] of this._ended) if (at + this.ttlMs < now) this._ended.delete(key);
  }
}

/** The principal of a trusted proxy's headers: id and CSRF token derived from the user with the secret. */
function proxyPrincipal(team: TeamSignIns, user: string, groups: string[]): Principal {
  return { id: team.principalId(user), csrfToken: team.derive('csrf', user), user, groups };
}

export interface AuthOptions {
  signIns: SignIns;
  metrics: GatewayMetrics;
  tls: boolean;
  /** Plain HTTP with --insecure-bind: a TLS proxy may be in front, so https:// of the host is an own origin too. */
  behindTlsProxy: boolean;
  /** The `host:port` names served (lower case); read per request, as the port is known after listen. */
  allowedHosts(): ReadonlySet<string>;
  /** Team sign-in (--config): OpenID Connect or a trusted proxy's headers instead of the one-time token. */
  team?: TeamSignIns;
  /** This replica's id (8 hex digits) with team sign-in: session ids start with it and `_`. */
  replicaId?: string;
  /** Told when a sign-in ends (logout, a failed refresh): the sessions of the principal end too. */
  onSignOut?(principalId: string): void;
  /** How many sessions `principalId` runs now (for limits.sessionsPerUser). */
  sessionsOf?(principalId: string): number;
}

/**
 * Install the checks as root hooks (every route, every scope) and the sign-in routes: GET /login
 * and GET /api/me. Call before registering any other route.
 */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const { signIns, metrics, tls, team } = options;
  app.decorateRequest('principal', null as unknown as Principal);
  const proxy = team?.config.signIn.proxy;
  const trusted = proxy ? trustedPeer(proxy.trustedProxies) : undefined;
  const loginLimit = new RateLimiter(LOGIN_ATTEMPTS_PER_MINUTE);
  const upgradeLimit = new RateLimiter(UPGRADES_PER_MINUTE);
  /** Sessions being created per principal (POST /api/sessions not answered yet). */
  const creating = new Map<string, number>();

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
    if (team) {
      // Per TCP peer: behind a proxy every client shares its address, so the limits are per proxy there.
      const limiter = upgrade ? upgradeLimit : path === '/login' || path === '/login/callback' ? loginLimit : undefined;
      const wait = limiter?.take(request.socket.remoteAddress ?? '');
      if (wait) {
        reply.header('retry-after', String(wait));
        return refuse(request, reply, new GatewayError('ERR_GATEWAY_RATE_LIMITED', 429, `too many ${upgrade ? 'WebSocket upgrades' : 'login attempts'} from this address (at most ${limiter!.perMinute} a minute): try again in ${wait} s`), 'rate-limited');
      }
    }
    if ((PUBLIC_PATHS.has(path) || (team && path === '/login/callback')) && !upgrade) return;
    let principal: Principal | undefined;
    let cookie: string | undefined;
    if (proxy) {
      // Believed only from the configured proxies: anyone else could write these headers.
      if (!trusted!(request.socket.remoteAddress ?? '')) {
        return refuse(request, reply, new GatewayError('ERR_GATEWAY_UNTRUSTED_PROXY', 401, `requests must come through the sign-in proxy (signIn.proxy.trustedProxies); ${request.socket.remoteAddress ?? 'this address'} is not one`), 'unauthenticated');
      }
      const user = request.headers[proxy.userHeader.toLowerCase()];
      const groups = request.headers[proxy.groupsHeader.toLowerCase()];
      if (typeof user === 'string' && user !== '') {
        const list = typeof groups === 'string' ? groups.split(',').map((g) => g.trim()).filter((g) => g !== '') : [];
        principal = proxyPrincipal(team!, user, list);
      }
      if (!principal) {
        return refuse(request, reply, new GatewayError('ERR_GATEWAY_UNAUTHENTICATED', 401, `the sign-in proxy sent no ${proxy.userHeader} header`), 'unauthenticated');
      }
    } else {
      cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
      principal = cookie === undefined ? undefined : team ? team.principal(cookie) : signIns.principal(cookie);
    }
    if (!principal) {
      return refuse(
        request,
        reply,
        new GatewayError(
          'ERR_GATEWAY_UNAUTHENTICATED',
          401,
          team
            ? cookie === undefined
              ? 'not signed in: open /login'
              : 'the sign-in has ended or expired: open /login'
            : cookie === undefined
              ? 'not signed in: open the login URL podshell web printed'
              : 'the sign-in has expired or is unknown: open a new login URL',
        ),
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
    // A session lives on the replica that started it: say so rather than "unknown" when the id names another.
    const other = /^\/api\/sessions\/([0-9a-f]{8})_[A-Za-z0-9_-]{22}(?:\/|$)/.exec(path);
    if (team && other && other[1] !== options.replicaId) {
      return refuse(request, reply, new GatewayError('ERR_GATEWAY_OTHER_REPLICA', 404, `session ${other[0].split('/')[3]} lives on another replica of the gateway (${other[1]}), not this one (${options.replicaId}): route this client to that replica (sticky sessions), or start a new session here`), 'other-replica');
    }
    const limit = team?.config.limits.sessionsPerUser;
    if (limit !== undefined && request.method === 'POST' && path === '/api/sessions') {
      // Creations still under way count too, so simultaneous requests cannot pass the limit together.
      const running = (options.sessionsOf?.(principal.id) ?? 0) + (creating.get(principal.id) ?? 0);
      if (running >= limit) {
        return refuse(request, reply, new GatewayError('ERR_GATEWAY_TOO_MANY_SESSIONS', 429, `${principal.user} already runs ${running} sessions, the limit per user (limits.sessionsPerUser ${limit}): end one first`), 'too-many');
      }
      const id = principal.id;
      creating.set(id, (creating.get(id) ?? 0) + 1);
      let done = false;
      const finished = () => {
        if (done) return;
        done = true;
        const left = (creating.get(id) ?? 1) - 1;
        if (left > 0) creating.set(id, left);
        else creating.delete(id);
      };
      reply.raw.once('finish', finished);
      reply.raw.once('close', finished);
    }
  });

  if (team) {
    const oidc = team.config.signIn.oidc;
    const oidcSignIns = oidc ? installOidc(app, { oidc, team, cookieName: SESSION_COOKIE, tls, onSignOut: (id) => options.onSignOut?.(id) }) : undefined;
    if (oidcSignIns) app.addHook('onClose', async () => oidcSignIns.stop());
    app.post('/logout', async (request, reply) => {
      const { id } = request.principal;
      team.end(id);
      oidcSignIns?.forget(id);
      options.onSignOut?.(id);
      const attributes = ['Path=/', 'HttpOnly', 'SameSite=Lax', 'Max-Age=0', ...(tls ? ['Secure'] : [])];
      return reply.code(204).header('cache-control', 'no-store').header('set-cookie', `${SESSION_COOKIE}=; ${attributes.join('; ')}`).send();
    });
    app.get('/api/me', async (request, reply) => {
      const { csrfToken, user, groups } = request.principal;
      return reply.header('cache-control', 'no-store').send({ csrfToken, user, groups });
    });
    return;
  }

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
