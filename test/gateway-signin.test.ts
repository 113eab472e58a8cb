// Team sign-in (docs/web.md, "Signing in"): the --config file and its checks, a trusted proxy's
// headers (believed only from its address), logout ending the user's shells, the per-user session
// limit, the rate limits and the signed, expiring cookie any replica with the secret accepts.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { startGateway, type Gateway } from '../src/gateway/server.ts';
import { signSignIn, verifySignIn } from '../src/gateway/signed-cookie.ts';
import { RateLimiter } from '../src/gateway/auth.ts';
import { TeamConfigError, validateTeamConfig, type TeamConfig } from '../src/gateway/team-config.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { StreamClient, until } from './gateway-stream-client.ts';
import { pollUntil, run } from './helpers.ts';
import { createServer } from 'node:net';
// @ts-expect-error oidc-provider ships no types; the test uses its documented constructor, listen and events
import Provider from 'oidc-provider';
import { launchChromium } from './browser.ts';
import { ensureWebBuilt } from '../scripts/build-web.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
const SECRET = 'a-secret-of-more-than-32-bytes-for-tests-only';

let sandbox: Sandbox;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-signin-'));
  // The gateway acts as each signed-in person (prefix `podshell:`): the built-in world plus the dev
  // role for the group `podshell:dev`, which the people of these tests are in.
  const world = readFileSync(new URL('../src/sandbox/world.yaml', import.meta.url), 'utf8');
  const devBinding =
    'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: { name: podshell-dev, namespace: default }\n' +
    'roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: dev }\n' +
    'subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:dev" }]\n';
  sandbox = await startSandbox({
    kubeconfigPath: join(work, 'kubeconfig'),
    manifestTexts: [
      { source: 'built-in world', text: world },
      { source: 'bindings', text: devBinding },
    ],
  });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

function proxyConfig(trustedProxies: string[], limits: TeamConfig['limits'] = {}): TeamConfig {
  return { ...validateTeamConfig({ signIn: { proxy: { trustedProxies } }, secret: SECRET }), limits };
}

async function gateway(t: TestContext, team: TeamConfig): Promise<Gateway> {
  const g = await startGateway({ kubeconfig: sandbox.kubeconfigPath, team });
  t.after(() => g.close());
  return g;
}

/** A client behind the proxy: every request carries the user's headers and the gateway's Origin. */
function asUser(g: Gateway, user: string, groups = '') {
  const headers = { 'x-forwarded-user': user, 'x-forwarded-groups': groups, origin: g.url };
  return {
    fetch: (path: string, init: RequestInit = {}) => fetch(g.url + path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } }),
    async me(): Promise<{ csrfToken: string; user?: string; groups?: string[] }> {
      const res = await fetch(`${g.url}/api/me`, { headers });
      assert.equal(res.status, 200, 'GET /api/me');
      return (await res.json()) as { csrfToken: string; user?: string; groups?: string[] };
    },
    async create(csrf: string) {
      const res = await fetch(`${g.url}/api/sessions`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ cluster: 'podshell-sandbox', namespace: 'default', pod: 'demo' }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    },
    join: (id: string) => new StreamClient(new WebSocket(`${g.url.replace('http', 'ws')}/api/sessions/${id}/stream`, { origin: g.url, headers })),
  };
}

test('the config file: every field checked, errors name the path', () => {
  const good = validateTeamConfig({
    signIn: { oidc: { issuer: 'https://id.example.com', clientId: 'podshell', redirectUrl: 'https://shell.example.com/login/callback' } },
    secret: SECRET,
    limits: { sessionsPerUser: 3, idleTimeout: '15m', maxUpload: '10MiB' },
    clusters: [{ name: 'prod', context: 'prod-admin', groups: ['sre'] }, { name: 'here', inCluster: true }],
  });
  assert.equal(good.signIn.oidc?.groupsClaim, 'groups');
  assert.deepEqual(good.limits, { sessionsPerUser: 3, idleTimeoutMs: 15 * 60_000, maxUploadBytes: 10 * 1024 * 1024 });
  assert.deepEqual(good.clusters, [{ name: 'prod', context: 'prod-admin', groups: ['sre'] }, { name: 'here', inCluster: true }]);
  const bad: [unknown, string][] = [
    [{ signIn: { oidc: { issuer: 'http://id.example.com', clientId: 'x', redirectUrl: 'https://a/cb' } }, secret: SECRET }, 'signIn.oidc.issuer: must be an https URL'],
    [{ signIn: { proxy: { trustedProxies: ['10.0.0.0/33'] } }, secret: SECRET }, 'signIn.proxy.trustedProxies[0]: must be an IP address or CIDR range'],
    [{ signIn: { proxy: { trustedProxies: ['10.0.0.1'], userHedaer: 'X' } }, secret: SECRET }, 'signIn.proxy.userHedaer: unknown setting'],
    [{ signIn: { proxy: { trustedProxies: ['10.0.0.1'] } }, secret: 'short' }, 'secret: must be at least 32 bytes, not 5'],
    [{ signIn: { proxy: { trustedProxies: ['10.0.0.1'] } }, secret: SECRET, limits: { idleTimeout: '5 minutes' } }, 'limits.idleTimeout: must be a duration'],
    [{ signIn: { proxy: { trustedProxies: ['10.0.0.1'] } }, secret: SECRET, limits: { sessionsPerUser: 0 } }, 'limits.sessionsPerUser: must be a whole number of at least 1'],
    [{ signIn: { proxy: { trustedProxies: ['10.0.0.1'] } }, secret: SECRET, clusters: [{ name: 'a', cluster: 'b' }] }, 'clusters[0].cluster: unknown setting'],
    [{ signIn: {}, secret: SECRET }, 'signIn: give exactly one of oidc or proxy'],
    [{ secret: SECRET }, 'signIn: required'],
  ];
  for (const [doc, message] of bad) {
    assert.throws(() => validateTeamConfig(doc), (err: Error) => err instanceof TeamConfigError && err.message.startsWith(message), message);
  }
});

test('podshell web --config: a wrong file is a usage error (exit 2) naming the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podshell-signin-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.yaml');
  writeFileSync(file, `signIn:\n  oidc:\n    issuer: http://id.example.com\n    clientId: podshell\n    redirectUrl: https://shell.example.com/login/callback\nsecret: ${SECRET}\n`);
  const result = await run(bin, ['web', '--kubeconfig', sandbox.kubeconfigPath, '--config', file], { timeoutMs: 30_000 });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /signIn\.oidc\.issuer: must be an https URL/);
});

test('podshell web --config (YAML, trusted proxy): ready with its URL and no token; signs people in by the headers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podshell-signin-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.yaml');
  writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
  writeFileSync(file, `signIn:\n  proxy:\n    userHeader: X-Auth-User\n    trustedProxies: [127.0.0.1]\nsecretFile: secret\nlimits: { sessionsPerUser: 1 }\n`);
  const child = spawn(bin, ['web', '--kubeconfig', sandbox.kubeconfigPath, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      stdout += c;
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`podshell web exited ${code}: ${stderr}`)));
  });
  const m = /^web ready (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
  assert.ok(m, `the ready line: ${line}`);
  const me = await fetch(`${m[1]}/api/me`, { headers: { 'x-auth-user': 'gina', 'x-forwarded-groups': 'dev' } });
  assert.equal(me.status, 200);
  assert.deepEqual(await me.json().then((b: any) => [b.user, b.groups]), ['gina', ['dev']]);
});

test('trusted proxy headers: believed from a trusted peer, 401 from anyone else', async (t) => {
  const trusting = await gateway(t, proxyConfig(['127.0.0.0/8']));
  const alice = asUser(trusting, 'alice@example.com', 'dev, ops');
  const me = await alice.me();
  assert.equal(me.user, 'alice@example.com');
  assert.deepEqual(me.groups, ['dev', 'ops']);
  assert.ok(me.csrfToken.length >= 32);
  // Without --config nothing changed: the callback path is no public path there.
  const plain = await startGateway({ kubeconfig: sandbox.kubeconfigPath });
  t.after(() => plain.close());
  const callback = await fetch(`${plain.url}/login/callback?code=x&state=y`);
  assert.equal(callback.status, 401);
  assert.equal(((await callback.json()) as any).error.code, 'ERR_GATEWAY_UNAUTHENTICATED');
  assert.equal(((await (await fetch(`${plain.url}/api/me`, { headers: { 'x-forwarded-user': 'alice' } })).json()) as any).error.code, 'ERR_GATEWAY_UNAUTHENTICATED', 'no proxy headers believed without --config');
  const noUser = await fetch(`${trusting.url}/api/me`);
  assert.equal(noUser.status, 401);
  assert.equal(((await noUser.json()) as any).error.code, 'ERR_GATEWAY_UNAUTHENTICATED');

  const distrusting = await gateway(t, proxyConfig(['10.9.9.9', '192.168.0.0/16']));
  const res = await asUser(distrusting, 'alice@example.com', 'dev').fetch('/api/me');
  assert.equal(res.status, 401);
  const body = (await res.json()) as any;
  assert.equal(body.error.code, 'ERR_GATEWAY_UNTRUSTED_PROXY');
  assert.doesNotMatch(JSON.stringify(body), /alice/);
});

test("logout ends the user's shells: an open socket closes within seconds", async (t) => {
  const g = await gateway(t, proxyConfig(['127.0.0.1']));
  const bob = asUser(g, 'bob', 'dev');
  const { csrfToken } = await bob.me();
  const created = await bob.create(csrfToken);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const client = bob.join(created.body['id']);
  await client.joined;
  client.type('echo signed-in-$((6*7))\n');
  await until('the shell answers', () => client.text().includes('signed-in-42'));
  const started = Date.now();
  const out = await bob.fetch('/logout', { method: 'POST', headers: { 'x-csrf-token': csrfToken } });
  assert.equal(out.status, 204);
  await until('the socket closes', () => client.closeCode !== null, 10_000);
  const took = Date.now() - started;
  assert.ok(took < 5_000, `closed in ${took} ms`);
  const list = (await (await bob.fetch('/api/sessions')).json()) as { sessions: { id: string; state: string }[] };
  assert.ok(list.sessions.every((s) => s.state !== 'running'), JSON.stringify(list));
  // Logout needs the CSRF token like every state-changing request.
  const forged = await bob.fetch('/logout', { method: 'POST' });
  assert.equal(forged.status, 403);
});

test('the (N+1)-th session of a user over limits.sessionsPerUser is refused with the limit named', async (t) => {
  const g = await gateway(t, proxyConfig(['127.0.0.1'], { sessionsPerUser: 2 }));
  const carol = asUser(g, 'carol', 'dev');
  const { csrfToken } = await carol.me();
  // Three at once: the creations under way count, so exactly two pass.
  const first = await Promise.all([carol.create(csrfToken), carol.create(csrfToken), carol.create(csrfToken)]);
  assert.deepEqual(first.map((r) => r.status).sort(), [201, 201, 429], JSON.stringify(first.map((r) => r.body)));
  const third = await carol.create(csrfToken);
  assert.equal(third.status, 429);
  assert.equal(third.body['error'].code, 'ERR_GATEWAY_TOO_MANY_SESSIONS');
  assert.match(third.body['error'].message, /limits\.sessionsPerUser 2/);
  // Another user is not held by carol's count.
  const dave = asUser(g, 'dave', 'dev');
  assert.equal((await dave.create((await dave.me()).csrfToken)).status, 201);
});

test('two replicas sharing the secret: a session lives on one; the other answers ERR_GATEWAY_OTHER_REPLICA', async (t) => {
  const a = await gateway(t, proxyConfig(['127.0.0.1']));
  const b = await gateway(t, proxyConfig(['127.0.0.1']));
  const onA = asUser(a, 'frank', 'dev');
  const onB = asUser(b, 'frank', 'dev');
  const meA = await onA.me();
  assert.equal((await onB.me()).user, 'frank');
  const created = await onA.create(meA.csrfToken);
  assert.equal(created.status, 201);
  const id: string = created.body['id'];
  assert.match(id, /^[0-9a-f]{8}_[A-Za-z0-9_-]{22}$/);
  assert.equal((await onA.fetch(`/api/sessions/${id}`)).status, 200, 'the replica that holds it');
  const there = await onB.fetch(`/api/sessions/${id}`);
  assert.equal(there.status, 404);
  const body = (await there.json()) as any;
  assert.equal(body.error.code, 'ERR_GATEWAY_OTHER_REPLICA');
  // Joining through the wrong replica: the upgrade is answered 404, never 101.
  const socket = new WebSocket(`${b.url.replace('http', 'ws')}/api/sessions/${id}/stream`, { origin: b.url, headers: { 'x-forwarded-user': 'frank' } });
  const status = await new Promise<number>((resolve, reject) => {
    socket.once('unexpected-response', (_req, res) => (res.resume(), resolve(res.statusCode ?? 0)));
    socket.once('open', () => reject(new Error('joined through the wrong replica')));
    socket.once('error', () => {});
  });
  socket.terminate();
  assert.equal(status, 404);
  // An id of B's own that B does not hold is the usual unknown session.
  const idOnB: string = (await onB.create((await onB.me()).csrfToken)).body['id'];
  assert.notEqual(idOnB.slice(0, 8), id.slice(0, 8), 'each replica its own id');
  const ownUnknown = `${idOnB.slice(0, 9)}${'A'.repeat(22)}`;
  const unknown = await onB.fetch(`/api/sessions/${ownUnknown}`);
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as any).error.code, 'ERR_GATEWAY_UNKNOWN_SESSION');
});

test('login attempts per client address are rate limited: 429 with Retry-After', async (t) => {
  const g = await gateway(t, proxyConfig(['127.0.0.1']));
  // Attempts until the first 429: the bucket's tokens, plus those refilled meanwhile (a loaded machine is slow).
  const untilRefused = async (perMinute: number, attempt: () => Promise<number>) => {
    const started = Date.now();
    for (let i = 0; i < perMinute * 3; i++) {
      const status = await attempt();
      if (status === 429) {
        const refilled = Math.ceil(((Date.now() - started) / 60_000) * perMinute);
        assert.ok(i >= perMinute && i <= perMinute + refilled, `refused after ${i} attempts; ${perMinute} a minute, ${refilled} refilled`);
        return;
      }
      assert.notEqual(status, 429);
    }
    assert.fail(`never refused in ${perMinute * 3} attempts`);
  };
  let retryAfter: string | null = null;
  await untilRefused(10, async () => {
    const res = await fetch(`${g.url}/login`);
    if (res.status === 429) {
      retryAfter = res.headers.get('retry-after');
      assert.equal(((await res.json()) as any).error.code, 'ERR_GATEWAY_RATE_LIMITED');
    } else await res.arrayBuffer();
    return res.status;
  });
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
  // WebSocket upgrades: 60 a minute per address, refused before the sign-in is looked at (401 until then).
  await untilRefused(60, async () => {
    const socket = new WebSocket(`${g.url.replace('http', 'ws')}/api/sessions/none/stream`, { origin: g.url });
    const status = await new Promise<number>((resolve) => {
      socket.once('unexpected-response', (_req, res) => (res.resume(), resolve(res.statusCode ?? 0)));
      socket.once('open', () => resolve(101));
      socket.once('error', () => resolve(-1));
    });
    socket.terminate();
    if (status !== 429) assert.equal(status, 401);
    return status;
  });
  const limiter = new RateLimiter(60);
  for (let i = 0; i < 60; i++) assert.equal(limiter.take('a', 1000), 0);
  assert.equal(limiter.take('a', 1000), 1);
  assert.equal(limiter.take('a', 2000), 0, 'a token back after a second');
  assert.equal(limiter.take('b', 2000), 0, 'per address');
});

test('signed sign-ins: valid with the same secret, refused when tampered, with another secret or expired', () => {
  const secret = Buffer.from(SECRET);
  const cookie = signSignIn(secret, { id: 'p1', csrfToken: 'c', user: 'alice', groups: ['dev'], issued: 1000, expires: 5000 });
  assert.deepEqual(verifySignIn(Buffer.from(SECRET), cookie, 2000), { id: 'p1', csrfToken: 'c', user: 'alice', groups: ['dev'], issued: 1000, expires: 5000 });
  assert.equal(verifySignIn(Buffer.from(`${SECRET}x`), cookie, 2000), undefined);
  assert.equal(verifySignIn(secret, cookie, 5000), undefined);
  const [body, mac] = cookie.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body!, 'base64url').toString()), g: ['admin'] })).toString('base64url');
  assert.equal(verifySignIn(secret, `${forged}.${mac}`, 2000), undefined);
});

/** A TCP port free right now on 127.0.0.1 (the provider's issuer and the redirect URL must name theirs up front). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** A real OpenID Connect provider on loopback (oidc-provider, its development login form): every login is a user in ["dev"]. */
async function startProvider(t: TestContext, redirectUri: string, accessTtlSeconds: number) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'podshell', client_secret: 'provider-test-secret', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }],
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.com`, groups: ['dev'] }) }),
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    scopes: ['openid', 'email', 'groups', 'offline_access'],
    ttl: { AccessToken: accessTtlSeconds },
    issueRefreshToken: async () => true,
    features: { devInteractions: { enabled: true } },
  } as any);
  const refreshes: number[] = [];
  provider.on('grant.success', (ctx: any) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') refreshes.push(Date.now());
  });
  const server = provider.listen(port, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s: import('node:net').Socket) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }));
  t.after(close);
  return { issuer, refreshes, close };
}

async function oidcWorld(t: TestContext, accessTtlSeconds: number) {
  await ensureWebBuilt();
  const port = await freePort();
  const redirectUrl = `http://127.0.0.1:${port}/login/callback`;
  const provider = await startProvider(t, redirectUrl, accessTtlSeconds);
  const team = validateTeamConfig({
    signIn: { oidc: { issuer: provider.issuer, clientId: 'podshell', clientSecret: 'provider-test-secret', redirectUrl, scopes: ['openid', 'email', 'groups', 'offline_access'] } },
    secret: SECRET,
  });
  const g = await startGateway({ kubeconfig: sandbox.kubeconfigPath, team, config: { port } });
  t.after(() => g.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext();
  const page = await context.newPage();
  // The provider's development login form: any login, any password, then its consent screen.
  await page.goto(`${g.url}/login`);
  await page.fill('input[name=login]', 'erin');
  await page.fill('input[name=password]', 'anything');
  await page.click('button[type=submit]');
  await page.waitForSelector('button[type=submit]');
  await page.click('button[type=submit]');
  await page.waitForURL(`${g.url}/`, { timeout: 30_000 });
  const cookie = (await context.cookies(g.url)).find((c) => c.name === 'podshell_session');
  assert.ok(cookie, 'the sign-in cookie is set');
  return { g, provider, page, team, cookie: `podshell_session=${cookie.value}` };
}

test('OpenID Connect: sign-in through the provider in Chromium lands on the UI; /api/me names the user and groups; tokens never reach the page', async (t) => {
  const { g, page, cookie, team } = await oidcWorld(t, 600);
  assert.equal(await page.title(), 'podshell', 'the UI page is loaded');
  const me = (await page.evaluate(async () => (await fetch('/api/me')).json())) as { user?: string; groups?: string[] };
  assert.equal(me.user, 'erin@example.com');
  assert.deepEqual(me.groups, ['dev']);
  assert.deepEqual(Object.keys(me).sort(), ['csrfToken', 'groups', 'user']);
  // A shell opened as that person: the gateway impersonates podshell:erin@example.com in podshell:dev.
  const csrf = (me as { csrfToken: string }).csrfToken;
  const created = await fetch(`${g.url}/api/sessions`, {
    method: 'POST',
    headers: { cookie, origin: g.url, 'x-csrf-token': csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ cluster: 'podshell-sandbox', namespace: 'default', pod: 'demo', command: ['sh', '-c', 'echo signed-in-$((40+2))'] }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const shell = new StreamClient(new WebSocket(`${g.url.replace(/^http/, 'ws')}/api/sessions/${((await created.json()) as { id: string }).id}/stream`, { origin: g.url, headers: { cookie } }));
  await shell.closed;
  assert.match(shell.text(), /signed-in-42/);
  assert.equal(shell.exitInfo?.code, 0);
  // The cookie holds the sign-in, signed: no token of the provider.
  const payload = JSON.parse(Buffer.from(cookie.split('=')[1]!.split('.')[0]!, 'base64url').toString());
  assert.deepEqual(Object.keys(payload).sort(), ['c', 'e', 'g', 'i', 't', 'u']);
  // Another replica with the same secret accepts the login.
  const other = await startGateway({ kubeconfig: sandbox.kubeconfigPath, team });
  t.after(() => other.close());
  const there = await fetch(`${other.url}/api/me`, { headers: { cookie } });
  assert.equal(there.status, 200);
  assert.equal(((await there.json()) as any).user, 'erin@example.com');
  // …one with another secret does not.
  const stranger = await startGateway({ kubeconfig: sandbox.kubeconfigPath, team: { ...team, secret: Buffer.from(`${SECRET}-other`) } });
  t.after(() => stranger.close());
  assert.equal((await fetch(`${stranger.url}/api/me`, { headers: { cookie } })).status, 401);
  // Logout (with the CSRF token, from the page) ends the sign-in.
  const out = await page.evaluate(async () => {
    const { csrfToken } = (await (await fetch('/api/me')).json()) as { csrfToken: string };
    return (await fetch('/logout', { method: 'POST', headers: { 'x-csrf-token': csrfToken } })).status;
  });
  assert.equal(out, 204);
  assert.equal((await fetch(`${g.url}/api/me`, { headers: { cookie } })).status, 401, 'the old cookie is dead on this replica');
});

test("the log hides an OpenID Connect callback's code and state", async (t) => {
  const lines: string[] = [];
  const { Writable } = await import('node:stream');
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  const team = validateTeamConfig({ signIn: { oidc: { issuer: 'https://id.example.com', clientId: 'podshell', redirectUrl: 'https://shell.example.com/login/callback' } }, secret: SECRET });
  const g = await startGateway({ kubeconfig: sandbox.kubeconfigPath, team, logger: { stream } });
  t.after(() => g.close());
  const res = await fetch(`${g.url}/login/callback?code=the-secret-code&state=the-secret-state`);
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as any).error.code, 'ERR_GATEWAY_SIGN_IN');
  assert.ok(await pollUntil(() => lines.some((l) => l.includes('/login/callback')), 10_000), 'the request was logged');
  const log = lines.join('');
  assert.doesNotMatch(log, /the-secret-code|the-secret-state/);
  assert.match(log, /code=\[redacted\]&state=\[redacted\]/);
});

test("OpenID Connect: logout forgets the provider's tokens: no refresh after it", async (t) => {
  const { g, provider, cookie } = await oidcWorld(t, 33);
  // Precondition: refreshes come every ~3 s while signed in.
  assert.ok(await pollUntil(() => provider.refreshes.length >= 2, 30_000), 'refreshes happen');
  const { csrfToken } = (await (await fetch(`${g.url}/api/me`, { headers: { cookie } })).json()) as { csrfToken: string };
  const out = await fetch(`${g.url}/logout`, { method: 'POST', headers: { cookie, origin: g.url, 'x-csrf-token': csrfToken } });
  assert.equal(out.status, 204);
  const after = provider.refreshes.length;
  // A refresh already under way when the logout came may still land; none after it.
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  assert.ok(provider.refreshes.length <= after + 1, `${provider.refreshes.length - after} refreshes after the logout`);
});

test('OpenID Connect: the access token is refreshed before it expires; a failed refresh ends the sign-in', async (t) => {
  // Access tokens of 33 s: refreshed 30 s before expiry, i.e. after about 3 s.
  const { g, provider, cookie } = await oidcWorld(t, 33);
  const me = () => fetch(`${g.url}/api/me`, { headers: { cookie } }).then((r) => r.status);
  assert.ok(await pollUntil(() => provider.refreshes.length >= 1, 30_000), 'a refresh happened');
  assert.equal(await me(), 200, 'still signed in after the refresh');
  await provider.close();
  assert.ok(await pollUntil(async () => (await me()) === 401, 30_000), 'the sign-in ended once the refresh failed');
});
