// Signing in through OpenID Connect (docs/web.md, "Signing in"): the authorization code flow with
// PKCE (openid-client). GET /login sends the browser to the provider, GET /login/callback completes
// it: the user and groups are read from the configured claims (the ID token, else userinfo) and
// signed into the cookie. The provider's tokens stay in this replica's memory, never in the cookie
// or a page; the access token is refreshed before it expires, and a failed refresh ends the sign-in
// and the user's sessions.

import * as client from 'openid-client';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TeamSignIns } from './auth.ts';
import { GatewayError } from './errors.ts';
import type { OidcSignIn } from './team-config.ts';

/** The cookie that ties a callback to the browser that started the login. */
const LOGIN_COOKIE = 'podshell_login';
/** How long a started login may take at the provider. */
const LOGIN_TTL_MS = 10 * 60_000;
/** Started logins kept at most (older ones are dropped first). */
const MAX_PENDING = 10_000;
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 30_000;

export interface OidcOptions {
  oidc: OidcSignIn;
  team: TeamSignIns;
  /** The session cookie's name and attributes (auth.ts). */
  cookieName: string;
  tls: boolean;
  /** A sign-in ended (a refresh failed): end its sessions. */
  onSignOut(principalId: string): void;
}

interface Pending {
  verifier: string;
  created: number;
}

interface Held {
  refreshToken: string | undefined;
  timer: NodeJS.Timeout;
}

export interface OidcSignIns {
  /** Forget the provider's tokens of `principalId` (logout): no more refreshes. */
  forget(principalId: string): void;
  /** Stop every refresh (the gateway closes). */
  stop(): void;
}

/** Registers GET /login and GET /login/callback. */
export function installOidc(app: FastifyInstance, options: OidcOptions): OidcSignIns {
  const { oidc, team, tls } = options;
  const issuer = new URL(oidc.issuer);
  const insecure = issuer.protocol === 'http:'; // loopback only (team-config.ts)
  let discovered: Promise<client.Configuration> | undefined;
  const configuration = () => {
    discovered ??= client.discovery(issuer, oidc.clientId, oidc.clientSecret, undefined, insecure ? { execute: [client.allowInsecureRequests] } : undefined);
    // A provider that was down is asked again on the next login.
    discovered.catch(() => (discovered = undefined));
    return discovered;
  };
  const pending = new Map<string, Pending>();
  const held = new Map<string, Held>();
  const secure = tls ? ['Secure'] : [];

  const providerDown = (err: unknown) =>
    new GatewayError('ERR_GATEWAY_OIDC', 502, `the identity provider ${oidc.issuer} failed: ${(err as Error).message}`);

  app.get('/login', async (_request, reply: FastifyReply) => {
    const config = await configuration().catch((err) => {
      throw providerDown(err);
    });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const now = Date.now();
    for (const [key, p] of pending) if (p.created + LOGIN_TTL_MS < now || pending.size >= MAX_PENDING) pending.delete(key);
    pending.set(state, { verifier, created: now });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: oidc.redirectUrl,
      scope: oidc.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    // Lax: the provider sends the browser back with a cross-site navigation.
    return reply
      .code(303)
      .header('location', url.href)
      .header('cache-control', 'no-store')
      .header('set-cookie', `${LOGIN_COOKIE}=${state}; ${['Path=/login', 'HttpOnly', 'SameSite=Lax', `Max-Age=${LOGIN_TTL_MS / 1000}`, ...secure].join('; ')}`)
      .send();
  });

  app.get('/login/callback', async (request, reply) => {
    const state = /(?:^|;\s*)podshell_login=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
    const started = state === undefined ? undefined : pending.get(state);
    if (state === undefined || !started || started.created + LOGIN_TTL_MS < Date.now()) {
      throw new GatewayError('ERR_GATEWAY_SIGN_IN', 401, 'this login was not started here, or took too long: open /login again');
    }
    pending.delete(state);
    const config = await configuration().catch((err) => {
      throw providerDown(err);
    });
    const query = request.url.slice(request.url.indexOf('?'));
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, new URL(query, oidc.redirectUrl), { pkceCodeVerifier: started.verifier, expectedState: state });
    } catch (err) {
      throw new GatewayError('ERR_GATEWAY_SIGN_IN', 401, `the identity provider did not sign you in: ${(err as Error).message}`);
    }
    const claims: Record<string, unknown> = { ...tokens.claims() };
    if (claims[oidc.groupsClaim] === undefined || (oidc.usernameClaim !== undefined && claims[oidc.usernameClaim] === undefined)) {
      try {
        Object.assign(claims, await client.fetchUserInfo(config, tokens.access_token, String(claims['sub'])));
      } catch {
        // The ID token's claims are what there is.
      }
    }
    const usernameClaim = oidc.usernameClaim ?? (typeof claims['email'] === 'string' ? 'email' : 'sub');
    const user = claims[usernameClaim];
    if (typeof user !== 'string' || user === '') {
      throw new GatewayError('ERR_GATEWAY_SIGN_IN', 401, `the identity provider's answer has no "${usernameClaim}" claim (signIn.oidc.usernameClaim)`);
    }
    const rawGroups = claims[oidc.groupsClaim];
    const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : typeof rawGroups === 'string' ? [rawGroups] : [];
    const { cookie, principal } = team.issue(user, groups);
    hold(principal.id, config, tokens.refresh_token, tokens.expiresIn());
    const attributes = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${Math.floor(team.ttlMs / 1000)}`, ...secure];
    return reply
      .code(303)
      .header('location', '/')
      .header('cache-control', 'no-store')
      .header('set-cookie', [`${options.cookieName}=${cookie}; ${attributes.join('; ')}`, `${LOGIN_COOKIE}=; Path=/login; HttpOnly; SameSite=Lax; Max-Age=0`])
      .send();
  });

  /** Keep the provider's tokens of `id` fresh: refresh before the access token expires; a failure ends the sign-in. */
  function hold(id: string, config: client.Configuration, refreshToken: string | undefined, expiresIn: number | undefined): void {
    clearTimeout(held.get(id)?.timer);
    held.delete(id);
    if (expiresIn === undefined) return; // an access token that does not expire
    const delay = Math.max(1000, expiresIn * 1000 - REFRESH_MARGIN_MS);
    const timer = setTimeout(async () => {
      held.delete(id);
      try {
        if (refreshToken === undefined) throw new Error('no refresh token');
        const fresh = await client.refreshTokenGrant(config, refreshToken);
        hold(id, config, fresh.refresh_token ?? refreshToken, fresh.expiresIn());
      } catch {
        team.end(id);
        options.onSignOut(id);
      }
    }, delay);
    timer.unref();
    held.set(id, { refreshToken, timer });
  }

  return {
    forget(id) {
      clearTimeout(held.get(id)?.timer);
      held.delete(id);
    },
    stop() {
      for (const h of held.values()) clearTimeout(h.timer);
      held.clear();
    },
  };
}
