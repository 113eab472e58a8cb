// The gateway's server over real sockets: `podshell web` as a user runs it, the one-time sign-in,
// every refusal of the security checks (cookie, Origin, Host, CSRF, upgrade body), the WebSocket
// message limit, TLS, /healthz, /metrics, the logs, and a shutdown that leaves nothing behind.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type {} from '@fastify/websocket';
import WebSocket from 'ws';
import { createPki } from '../src/sandbox/pki.ts';
import { KubeconfigClusters } from '../src/gateway/clusters.ts';
import { defaultRoutes, type Registrar } from '../src/gateway/routes.ts';
import { startGateway } from '../src/gateway/server.ts';
import { startTestGateway } from './gateway-client.ts';
import { cmdline, descendants, pollUntil, run, running } from './helpers.ts';
import { ensureWebBuilt } from '../scripts/build-web.ts';
import { UI_CSP } from '../src/gateway/routes-ui.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;

/** A kubeconfig with two contexts; nothing needs to listen at its servers to sign in. */
function writeKubeconfig(t: TestContext): string {
  const work = mkdtempSync(join(tmpdir(), 'podshell-gw-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const file = join(work, 'kubeconfig');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: one
  cluster: { server: "https://admin:secret@10.0.0.1:6443" }
- name: two
  cluster: { server: "https://10.0.0.2:6443" }
users:
- name: u
  user: { token: abc }
contexts:
- name: dev
  context: { cluster: one, user: u, namespace: team-a }
- name: prod<b>
  context: { cluster: two, user: u }
`,
  );
  return file;
}

/** Test routes: a WebSocket echo and a POST echo, behind the server's checks like any route. */
const echoRoutes: Registrar = (app) => {
  app.register(async (scope) => {
    scope.get('/api/test/echo', { websocket: true }, (socket) => {
      socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
    });
    scope.post('/api/test/echo', async (request) => ({ principal: request.principal.id, body: request.body }));
  });
};

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with exactly these headers (Host included); a 101 answer ends the socket at once. */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {}): Promise<Answer> {
  const u = new URL(url);
  const client = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: options.method ?? 'GET', headers: options.headers ?? {}, ...(options.ca ? { ca: options.ca } : {}), agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, headers: res.headers, body: '' });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const upgradeHeaders = (extra: Record<string, string>) => ({
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  ...extra,
});

const errorCode = (a: Answer) => (JSON.parse(a.body) as { error: { code: string; message: string; status: number } }).error;

/** `promise`, or a failure naming `what` after `ms`: a test never hangs on a socket. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

const nextMessage = (socket: WebSocket) => new Promise<Buffer>((resolve) => socket.once('message', (data) => resolve(data as Buffer)));

test('podshell web prints one ready line; its login URL signs in once and never again; SIGTERM ends it', async (t) => {
  const kubeconfig = writeKubeconfig(t);
  const child = spawn(bin, ['web', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      stdout += c;
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!);
    });
    child.on('exit', (code) => reject(new Error(`podshell web exited ${code}: ${stderr}`)));
  });
  const m = /^web ready (http:\/\/127\.0\.0\.1:(\d+))\/login\?token=([A-Za-z0-9_-]{43})$/.exec(line);
  assert.ok(m, `the ready line: ${line}`);
  const [, base, , token] = m;

  const first = await raw(`${base}/login?token=${token}`, { headers: { host: new URL(base!).host } });
  assert.equal(first.status, 303);
  assert.equal(first.headers.location, '/');
  const setCookie = first.headers['set-cookie']![0]!;
  assert.match(setCookie, /^podshell_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  const cookie = setCookie.split(';')[0]!;
  const again = await raw(`${base}/login?token=${token}`, { headers: { host: new URL(base!).host } });
  assert.equal(again.status, 401, 'the token is dead after one use');
  assert.equal(errorCode(again).code, 'ERR_GATEWAY_SIGN_IN');

  await ensureWebBuilt();
  const home = await fetch(`${base}/`, { headers: { cookie } });
  assert.equal(home.status, 200);
  assert.equal(home.headers.get('content-security-policy'), UI_CSP);
  const page = await home.text();
  assert.match(page, /<script type="module" src="\/assets\/app\.js"><\/script>/, 'the browser UI');
  assert.doesNotMatch(page, /secret/, 'no credentials of the server URL');

  // Only the one line on stdout; logs (JSON) on stderr, without the token or the cookie.
  await pollUntil(() => stderr.includes('"statusCode":401'), 10_000);
  assert.match(stderr, /"url":"\/login\?token=\[redacted\]"/);
  assert.ok(!stderr.includes(token!), 'the login token is not logged');
  assert.ok(!stderr.includes(cookie.split('=')[1]!), 'the cookie is not logged');
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.equal(stdout, `${line}\n`, 'exactly one stdout line');
});

test('podshell web ends cleanly on SIGINT and SIGHUP too, and its port then refuses connections', async (t) => {
  const kubeconfig = writeKubeconfig(t);
  for (const signal of ['SIGINT', 'SIGHUP'] as const) {
    const child = spawn(bin, ['web', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const base = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
        const m = /^web ready (\S+)\/login\?token=\S+\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`podshell web exited ${code}: ${stderr}`)));
    });
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'it served before the signal');
    child.kill(signal);
    assert.equal(await within(exited, 20_000, `the exit after ${signal}`), 0, `${signal}: ${stderr}`);
    await assert.rejects(fetch(`${base}/healthz`), `${signal}: the port refuses connections`);
  }
});

test('sign-in: no cookie, an unknown cookie, a replayed token and an expired sign-in are refused with 401', async (t) => {
  const kubeconfig = writeKubeconfig(t);
  const gw = await startTestGateway({ kubeconfig, routes: [...defaultRoutes, echoRoutes] });
  t.after(() => gw.close());
  const host = new URL(gw.url).host;

  const me = await gw.fetch('/api/me');
  assert.equal(me.status, 200);
  assert.deepEqual(await me.json(), { csrfToken: gw.csrfToken });

  for (const [what, headers] of [
    ['no cookie', { host }],
    ['an unknown cookie', { host, cookie: 'podshell_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
    ['another cookie only', { host, cookie: 'other=1' }],
  ] as const) {
    for (const path of ['/api/me', '/metrics', '/', '/api/nothing-here']) {
      const a = await raw(gw.url + path, { headers });
      assert.equal(a.status, 401, `${what}: ${path}`);
      assert.deepEqual(errorCode(a), { code: 'ERR_GATEWAY_UNAUTHENTICATED', message: errorCode(a).message, status: 401 });
    }
    const up = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ ...headers, origin: gw.url }) });
    assert.equal(up.status, 401, `${what}: the upgrade`);
  }
  // The control: the same upgrade with the cookie is accepted.
  const ok = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ host, origin: gw.url, cookie: gw.cookie }) });
  assert.equal(ok.status, 101);

  const replay = await raw(gw.loginUrl, { headers: { host } });
  assert.equal(replay.status, 401, 'the login token was used by the sign-in');
  const wrong = await raw(`${gw.url}/login?token=${'x'.repeat(43)}`, { headers: { host } });
  assert.equal(wrong.status, 401);
  const none = await raw(`${gw.url}/login`, { headers: { host } });
  assert.equal(none.status, 401);

  // A sign-in that lasts 5 s: it works (startTestGateway got /api/me with it), then it does not.
  const short = await startTestGateway({ kubeconfig, routes: [...defaultRoutes, echoRoutes], signInTtlMs: 5000 });
  t.after(() => short.close());
  const shortHost = new URL(short.url).host;
  assert.ok(await pollUntil(async () => (await raw(`${short.url}/api/me`, { headers: { host: shortHost, cookie: short.cookie } })).status === 401, 30_000), 'the sign-in expired');
  const expired = await raw(`${short.url}/api/test/echo`, { headers: upgradeHeaders({ host: shortHost, origin: short.url, cookie: short.cookie }) });
  assert.equal(expired.status, 401, 'an expired sign-in cannot upgrade');
});

test('Origin: an upgrade from another origin, Origin null, no Origin, another port or scheme gets no 101', async (t) => {
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t), routes: [...defaultRoutes, echoRoutes] });
  t.after(() => gw.close());
  const u = new URL(gw.url);
  const otherPort = String(Number(u.port) === 65535 ? 65534 : Number(u.port) + 1);
  const cases: [string, string | undefined][] = [
    ['evil', 'https://evil.example'],
    ['null', 'null'],
    ['missing', undefined],
    ['same host, other port', `http://127.0.0.1:${otherPort}`],
    ['other scheme', `https://${u.host}`],
    ['localhost for 127.0.0.1', `http://localhost:${u.port}`],
  ];
  const before = await (await gw.fetch('/metrics')).text();
  assert.doesNotMatch(before, /podshell_web_upgrade_failures_total\{reason="origin"\}/);
  for (const [what, origin] of cases) {
    const a = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ host: u.host, cookie: gw.cookie, ...(origin !== undefined ? { origin } : {}) }) });
    assert.equal(a.status, 403, what);
    assert.equal(errorCode(a).code, 'ERR_GATEWAY_ORIGIN', what);
  }
  // The control, through ws like a page: its own origin gets the socket, and it echoes.
  const socket = gw.websocket('/api/test/echo');
  t.after(() => socket.terminate());
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(Buffer.from('hello'));
  const echo = await within(nextMessage(socket), 20_000, 'the echo');
  assert.equal(echo.toString(), 'hello');

  const metrics = await (await gw.fetch('/metrics')).text();
  assert.match(metrics, new RegExp(`podshell_web_upgrade_failures_total\\{reason="origin"\\} ${cases.length}\\b`));
});

test('Host: a request or upgrade for another host name (DNS rebinding) is refused with 421', async (t) => {
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t), routes: [...defaultRoutes, echoRoutes], config: { allowedHosts: ['shell.example.com:8443'] } });
  t.after(() => gw.close());
  const port = new URL(gw.url).port;
  for (const host of ['attacker.example', `attacker.example:${port}`, `127.0.0.1:${Number(port) + 1}`, '127.0.0.1']) {
    for (const path of ['/healthz', '/login?token=x', '/api/me']) {
      const a = await raw(gw.url + path, { headers: { host, cookie: gw.cookie } });
      assert.equal(a.status, 421, `${host} ${path}`);
      assert.equal(errorCode(a).code, 'ERR_GATEWAY_HOST');
    }
    const up = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ host, origin: `http://${host}`, cookie: gw.cookie }) });
    assert.equal(up.status, 421, `${host}: the upgrade`);
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
    const a = await raw(`${gw.url}/api/me`, { headers: { host, cookie: gw.cookie } });
    assert.equal(a.status, 200, host);
  }
  const allowed = await raw(`${gw.url}/api/me`, { headers: { host: 'shell.example.com:8443', cookie: gw.cookie } });
  assert.equal(allowed.status, 200, 'an --allowed-host');
  // …whose own origin is then the one its upgrades must come from.
  const up = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ host: 'shell.example.com:8443', origin: 'http://shell.example.com:8443', cookie: gw.cookie }) });
  assert.equal(up.status, 101);
});

test('Host: behind a TLS proxy on the default port, a port-less --allowed-host and its https origin are served', async (t) => {
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t), routes: [...defaultRoutes, echoRoutes], config: { insecureBind: true, allowedHosts: ['shell.example.com'] } });
  t.after(() => gw.close());
  // What a browser on https://shell.example.com/ sends through the proxy.
  const me = await raw(`${gw.url}/api/me`, { headers: { host: 'shell.example.com', cookie: gw.cookie } });
  assert.equal(me.status, 200);
  const up = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ host: 'shell.example.com', origin: 'https://shell.example.com', cookie: gw.cookie }) });
  assert.equal(up.status, 101);
  // The name with another port is still another host, and another scheme's page another origin.
  assert.equal((await raw(`${gw.url}/api/me`, { headers: { host: 'shell.example.com:8443', cookie: gw.cookie } })).status, 421);
  const evil = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ host: 'shell.example.com', origin: 'https://evil.example', cookie: gw.cookie }) });
  assert.equal(evil.status, 403);
});

test('CSRF: a state-changing request needs its own Origin and the X-CSRF-Token of the sign-in', async (t) => {
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t), routes: [...defaultRoutes, echoRoutes] });
  t.after(() => gw.close());
  const host = new URL(gw.url).host;
  const post = (headers: Record<string, string>) =>
    raw(`${gw.url}/api/test/echo`, { method: 'POST', headers: { host, cookie: gw.cookie, 'content-type': 'application/json', ...headers }, body: '{"a":1}' });

  const crossSite = await post({ origin: 'https://evil.example' });
  assert.equal(crossSite.status, 403, 'a cross-site form or fetch');
  assert.equal(errorCode(crossSite).code, 'ERR_GATEWAY_ORIGIN');
  const noOrigin = await post({ 'x-csrf-token': gw.csrfToken });
  assert.equal(noOrigin.status, 403);
  const noToken = await post({ origin: gw.url });
  assert.equal(noToken.status, 403, 'same origin, no token');
  assert.equal(errorCode(noToken).code, 'ERR_GATEWAY_CSRF');
  const wrongToken = await post({ origin: gw.url, 'x-csrf-token': `${gw.csrfToken.slice(0, -1)}A` === gw.csrfToken ? 'B' : `${gw.csrfToken.slice(0, -1)}A` });
  assert.equal(wrongToken.status, 403);
  for (const method of ['PUT', 'PATCH', 'DELETE']) {
    const a = await raw(`${gw.url}/api/test/echo`, { method, headers: { host, cookie: gw.cookie, origin: gw.url } });
    assert.equal(a.status, 403, method);
  }
  // The control: the page's own request.
  const ok = await gw.fetch('/api/test/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
  assert.equal(ok.status, 200);
  const echoed = (await ok.json()) as { body: unknown; principal: string };
  assert.deepEqual(echoed.body, { a: 1 });
  assert.match(echoed.principal, /^[0-9a-f]{32}$/, 'request.principal is set for the route');

});

test('an upgrade request with a body is refused with 400', async (t) => {
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t), routes: [...defaultRoutes, echoRoutes] });
  t.after(() => gw.close());
  const host = new URL(gw.url).host;
  const a = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ host, origin: gw.url, cookie: gw.cookie, 'content-length': '5' }), body: 'hello' });
  assert.equal(a.status, 400);
  assert.equal(errorCode(a).code, 'ERR_GATEWAY_UPGRADE_BODY');
  const metrics = await (await gw.fetch('/metrics')).text();
  assert.match(metrics, /podshell_web_upgrade_failures_total\{reason="body"\} 1\b/);
});

test('a client message of 64 KiB is taken; a larger one closes the socket with 1009', async (t) => {
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t), routes: [...defaultRoutes, echoRoutes] });
  t.after(() => gw.close());
  const socket = gw.websocket('/api/test/echo');
  t.after(() => socket.terminate());
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const limit = Buffer.alloc(64 * 1024, 7);
  socket.send(limit);
  const echo = await within(nextMessage(socket), 20_000, 'the echo');
  assert.equal(echo.length, limit.length, 'exactly 64 KiB is echoed');
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.send(Buffer.alloc(64 * 1024 + 1, 7));
  assert.equal(await within(closed, 20_000, 'the close after 64 KiB + 1'), 1009);
});

test('/healthz answers ok without a sign-in; /metrics shows the gateway metrics to a signed-in client', async (t) => {
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t) });
  t.after(() => gw.close());
  const health = await fetch(`${gw.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'ok');
  gw.ctx.metrics.sessionOpened();
  gw.ctx.metrics.bytes('out', 1234);
  gw.ctx.metrics.sessionClosed(42);
  gw.ctx.metrics.join();
  const m = await gw.fetch('/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await m.text();
  for (const name of [
    'podshell_web_sessions_open 0',
    'podshell_web_sessions_opened_total 1',
    'podshell_web_joins_total 1',
    'podshell_web_stream_bytes_total{direction="out"} 1234',
    'podshell_web_stream_bytes_total{direction="in"} 0',
    'podshell_web_session_duration_seconds_count 1',
    'podshell_web_session_duration_seconds_sum 42',
    '# TYPE podshell_web_upgrade_failures_total counter',
  ]) {
    assert.ok(text.includes(name), `${name} in:\n${text}`);
  }
  assert.doesNotMatch(text, /process_cpu|nodejs_/, 'its own registry, not the global default metrics');
});

test('a non-loopback address without TLS is refused with a clear message, in the library and the CLI', async (t) => {
  await assert.rejects(startGateway({ kubeconfig: writeKubeconfig(t), config: { address: '0.0.0.0' } }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_USAGE');
    assert.match(err.message, /^refusing to serve plain HTTP on 0\.0\.0\.0, an address other machines can reach: .*--tls-cert and --tls-key, or --insecure-bind/);
    return true;
  });
  const r = await run(bin, ['web', '--kubeconfig', writeKubeconfig(t), '--address', '0.0.0.0']);
  assert.equal(r.code, 2, r.stderr.toString());
  assert.equal(r.stdout.toString(), '');
  assert.match(r.stderr.toString(), /^podshell: refusing to serve plain HTTP on 0\.0\.0\.0.*\n\(run with --help for usage\)\n$/);
  // Settings are checked before anything listens.
  for (const [args, message] of [
    [['--grace', '5 minutes'], /--grace must be a duration such as 500ms, 60s, 30m, 12h or 1h30m, not "5 minutes"/],
    [['--replay-buffer', '1TB'], /--replay-buffer must be a size such as 65536, 64KiB, 1MiB or 1GiB, not "1TB"/],
    [['--tls-cert', '/nonexistent'], /--tls-cert and --tls-key go together: give both files or neither/],
    [['--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem'], /cannot read --tls-cert \/nonexistent\/c\.pem: no such file/],
    [['--allowed-host', 'https://example.com'], /an allowed host must be a host name as browsers send it, such as shell\.example\.com:8443 \(or shell\.example\.com for the default port\), not "https:\/\/example\.com"/],
    [['--low-water', '1MiB'], /lowWaterBytes \(1048576\) must be below highWaterBytes \(262144\)/],
  ] as const) {
    const bad = await run(bin, ['web', '--kubeconfig', writeKubeconfig(t), ...args]);
    assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr.toString(), message);
  }
  // An address that cannot be listened on is said so, as a usage error.
  const busy = await startTestGateway({ kubeconfig: writeKubeconfig(t) });
  t.after(() => busy.close());
  const inUse = await run(bin, ['web', '--kubeconfig', writeKubeconfig(t), '--port', new URL(busy.url).port]);
  assert.equal(inUse.code, 2, inUse.stderr.toString());
  assert.match(inUse.stderr.toString(), new RegExp(`^podshell: cannot listen on 127\\.0\\.0\\.1:${new URL(busy.url).port}: the port is in use \\(--port 0 picks a free one\\)\n`));
  const nowhere = await run(bin, ['web', '--kubeconfig', writeKubeconfig(t), '--address', '192.0.2.1', '--insecure-bind']);
  assert.equal(nowhere.code, 2, nowhere.stderr.toString());
  assert.match(nowhere.stderr.toString(), /^podshell: cannot listen on 192\.0\.2\.1:0: no such address on this machine\n/);
  // --insecure-bind says it is wanted: it listens (on every address; reached here through loopback).
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t), routes: [...defaultRoutes, echoRoutes], config: { address: '0.0.0.0', insecureBind: true } });
  t.after(() => gw.close());
  assert.equal((await gw.fetch('/api/me')).status, 200);
  // Behind a TLS proxy the page's origin is https:// of the proxied host; any other still is not.
  const host = new URL(gw.url).host;
  for (const [origin, status] of [[`https://${host}`, 200], [`http://${host}`, 200], ['https://evil.example', 403]] as const) {
    const a = await raw(`${gw.url}/api/test/echo`, { method: 'POST', headers: { host, origin, cookie: gw.cookie, 'x-csrf-token': gw.csrfToken } });
    assert.equal(a.status, status, origin);
  }
});

test('TLS: with a certificate and key it serves https and wss, and the cookie is Secure', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'podshell-gw-tls-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const pki = await createPki();
  writeFileSync(join(work, 'cert.pem'), pki.server.certPem);
  writeFileSync(join(work, 'key.pem'), pki.server.keyPem);
  const gw = await startGateway({
    kubeconfig: writeKubeconfig(t),
    routes: [...defaultRoutes, echoRoutes],
    config: { tlsCert: join(work, 'cert.pem'), tlsKey: join(work, 'key.pem') },
  });
  t.after(() => gw.close());
  assert.match(gw.loginUrl, /^https:\/\/127\.0\.0\.1:\d+\/login\?token=/);
  const ca = pki.ca.certPem;
  const host = new URL(gw.url).host;
  const plain = await raw(gw.url.replace('https:', 'http:') + '/healthz', { headers: { host } }).catch((err: Error) => err);
  assert.ok(plain instanceof Error || plain.status === 400, 'no plain HTTP on the TLS port');

  const login = await raw(gw.loginUrl, { headers: { host }, ca });
  assert.equal(login.status, 303);
  const setCookie = login.headers['set-cookie']![0]!;
  assert.match(setCookie, /; Secure$/);
  const cookie = setCookie.split(';')[0]!;
  const me = await raw(`${gw.url}/api/me`, { headers: { host, cookie }, ca });
  assert.equal(me.status, 200);
  const { csrfToken } = JSON.parse(me.body) as { csrfToken: string };
  // The https origin is the only one; http://same-host is another scheme.
  const httpOrigin = await raw(`${gw.url}/api/test/echo`, { method: 'POST', headers: { host, cookie, origin: `http://${host}`, 'x-csrf-token': csrfToken }, ca });
  assert.equal(httpOrigin.status, 403);
  const refused = await raw(`${gw.url}/api/test/echo`, { headers: upgradeHeaders({ host, cookie, origin: `http://${host}` }), ca });
  assert.equal(refused.status, 403);

  const socket = new WebSocket(`${gw.url.replace('https:', 'wss:')}/api/test/echo`, { origin: gw.url, headers: { cookie }, ca });
  t.after(() => socket.terminate());
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(Buffer.from('over tls'));
  const echo = await within(nextMessage(socket), 20_000, 'the echo');
  assert.equal(echo.toString(), 'over tls');
});

test('close() ends open WebSockets (1001) and the port refuses connections', async (t) => {
  const gw = await startTestGateway({ kubeconfig: writeKubeconfig(t), routes: [...defaultRoutes, echoRoutes] });
  const socket = gw.websocket('/api/test/echo');
  t.after(() => socket.terminate());
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  const t0 = Date.now();
  await gw.close();
  assert.equal(await within(closed, 20_000, 'the close'), 1001);
  assert.ok(Date.now() - t0 < 5000, 'closed in time');
  await assert.rejects(fetch(`${gw.url}/healthz`));
});

test('the kubeconfig clusters: every context, no credentials, the library Cluster made for the context', async (t) => {
  const kubeconfig = writeKubeconfig(t);
  const clusters = new KubeconfigClusters(kubeconfig);
  assert.deepEqual(
    clusters.list().map(({ name, server, namespace, current }) => ({ name, server, namespace, current })),
    [
      { name: 'dev', server: 'https://10.0.0.1:6443', namespace: 'team-a', current: true },
      { name: 'prod<b>', server: 'https://10.0.0.2:6443', namespace: 'default', current: false },
    ],
  );
  // (The library refuses a server URL with credentials when the handle is made, as kubectl does.)
  assert.throws(() => clusters.get('dev').cluster(), { code: 'ERR_KUBECONFIG' });
  assert.equal(clusters.get('prod<b>').cluster().namespace, 'default');
  assert.equal(clusters.get('prod<b>').cluster(), clusters.get('prod<b>').cluster(), 'made once');
  assert.throws(() => clusters.get('nope'), (err: Error & { code?: string; statusCode?: number }) => {
    assert.equal(err.code, 'ERR_GATEWAY_UNKNOWN_CLUSTER');
    assert.equal(err.statusCode, 404);
    assert.equal(err.message, 'no cluster "nope": the clusters are dev, prod<b>');
    return true;
  });
});

test('SIGTERM to podshell web --sandbox ends the gateway, the sandbox and every process they started', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'podshell-gw-sb-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const kubeconfig = join(work, 'kubeconfig');
  const child = spawn(bin, ['web', '--sandbox', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  let started: number[] = [];
  t.after(() => {
    for (const pid of [child.pid!, ...started]) {
      try {
        if (running(pid)) process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const out = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (c) => {
      text += c;
      if (/^web ready /m.test(text) && text.endsWith('\n')) resolve(text);
    });
    child.on('exit', (code) => reject(new Error(`podshell web --sandbox exited ${code}: ${stderr}`)));
  });
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.length, 2, out);
  assert.match(lines[0]!, new RegExp(`^sandbox ready https://127\\.0\\.0\\.1:\\d+ kubeconfig=${kubeconfig}$`));
  const login = /^web ready (\S+)$/.exec(lines[1]!)![1]!;
  const base = new URL(login).origin;
  const answer = await fetch(login, { redirect: 'manual' });
  const cookie = answer.headers.get('set-cookie')!.split(';')[0]!;
  const { clusters: served } = (await (await fetch(`${base}/api/clusters`, { headers: { cookie } })).json()) as { clusters: { name: string }[] };
  assert.deepEqual(served.map((c) => c.name).sort(), ['podshell-sandbox', 'podshell-sandbox-dev', 'podshell-sandbox-viewer']);

  // Each context's Cluster reaches the sandbox as that context's user.
  const clusters = new KubeconfigClusters(kubeconfig);
  const admin = await clusters.get('podshell-sandbox').cluster().run({ target: 'demo', command: ['echo', 'hi from demo'] });
  assert.equal(admin.stdout, 'hi from demo\n');
  await assert.rejects(clusters.get('podshell-sandbox-viewer').cluster().run({ target: 'demo', command: ['true'] }), { code: 'ERR_FORBIDDEN' });

  started = descendants(child.pid!);
  assert.ok(started.length >= 10, `the containers' processes run under it: ${started.length}`);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  const ended = await pollUntil(() => !started.some(running), 20_000);
  assert.ok(ended, `processes left behind:\n${started.filter(running).map((p) => `${p} ${cmdline(p)}`).join('\n')}`);
  await assert.rejects(fetch(`${base}/healthz`), 'the gateway port refuses connections');
});

test('podshell web --help lists every option with its default', async () => {
  const help = await run(bin, ['web', '--help']);
  assert.equal(help.code, 0);
  const text = help.stdout.toString().replace(/\s+/g, ' ');
  assert.match(text, /^Usage: podshell web \[options\]/);
  for (const option of [
    '--kubeconfig <file>',
    '--port <n> TCP port (default: 0 (a free one))',
    '--address <addr>',
    '(default: "127.0.0.1")',
    '--tls-cert <file>',
    '--tls-key <file>',
    '--insecure-bind',
    '--allowed-host <host[:port]>',
    '(default: 60s)',
    '(default: 30m)',
    '(default: 12h)',
    '--max-sessions <n> open sessions in the whole gateway (default: 100)',
    '(default: 1MiB)',
    '(default: 256KiB)',
    '(default: 64KiB)',
    '--max-upload <size> largest file upload (default: 1GiB)',
    '--sandbox',
    'web ready <url>',
  ]) {
    assert.ok(text.includes(option), `${option} in:\n${help.stdout}`);
  }
  const bad = await run(bin, ['web', '--no-such-flag']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr.toString(), /^podshell: unknown option '--no-such-flag'/);
});
