// The real gateway for tests: startGateway() on 127.0.0.1:0, signed in the way a browser signs in
// (the printed login URL, its 303 and cookie, then GET /api/me for the CSRF token), and a client
// whose fetch and WebSocket carry what a page of the gateway sends: the cookie, its Origin and the
// X-CSRF-Token header. The same interface as the harness (gateway-harness.ts).

import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { GatewayContext } from '../src/gateway/context.ts';
import { startGateway, type GatewayOptions } from '../src/gateway/server.ts';
import type { GatewayTestClient } from './gateway-harness.ts';

export interface TestGateway extends GatewayTestClient {
  /** The gateway's own URL (http://127.0.0.1:PORT). */
  readonly url: string;
  /** The login URL it printed; already used by the time this resolves. */
  readonly loginUrl: string;
  readonly ctx: GatewayContext;
  /** The session cookie (`podshell_session=…`) and CSRF token of the sign-in. */
  readonly cookie: string;
  readonly csrfToken: string;
}

/** Sign in through `loginUrl` as a browser does: returns the cookie (name=value) and the CSRF token. */
export async function signIn(loginUrl: string): Promise<{ cookie: string; csrfToken: string }> {
  const answer = await fetch(loginUrl, { redirect: 'manual' });
  assert.equal(answer.status, 303, `the login URL answers 303, not ${answer.status}: ${await answer.text()}`);
  assert.equal(answer.headers.get('location'), '/');
  const setCookie = answer.headers.get('set-cookie') ?? '';
  const cookie = /^(podshell_session=[^;]+)/.exec(setCookie)?.[1];
  assert.ok(cookie, `a podshell_session cookie was set: ${setCookie}`);
  const origin = new URL(loginUrl).origin;
  const me = await fetch(`${origin}/api/me`, { headers: { cookie } });
  assert.equal(me.status, 200, 'GET /api/me with the cookie');
  const { csrfToken } = (await me.json()) as { csrfToken: string };
  assert.ok(typeof csrfToken === 'string' && csrfToken.length >= 32, 'a CSRF token');
  return { cookie, csrfToken };
}

/** Start the real gateway (options as startGateway's, logging off) and sign in. */
export async function startTestGateway(options: GatewayOptions = {}): Promise<TestGateway> {
  const gateway = await startGateway({ logger: false, ...options, config: { address: '127.0.0.1', port: 0, ...options.config } });
  try {
    const { cookie, csrfToken } = await signIn(gateway.loginUrl);
    const baseUrl = gateway.url;
    return {
      url: gateway.url,
      loginUrl: gateway.loginUrl,
      ctx: gateway.ctx,
      baseUrl,
      cookie,
      csrfToken,
      fetch: (path, init = {}) => {
        const headers = new Headers(init.headers);
        headers.set('cookie', cookie);
        headers.set('origin', baseUrl);
        headers.set('x-csrf-token', csrfToken);
        return fetch(baseUrl + path, { ...init, headers });
      },
      websocket: (path) => new WebSocket(baseUrl.replace(/^http/, 'ws') + path, { origin: baseUrl, headers: { cookie } }),
      close: () => gateway.close(),
    };
  } catch (err) {
    await gateway.close();
    throw err;
  }
}
