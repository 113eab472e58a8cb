// The web shell end to end, as a program would use it: `podshell web --sandbox` as a process, its
// printed login URL, then the HTTP API and the stream (docs/web.md) over real sockets — clusters,
// pods, a shell in `demo` that echoes, follows a resize, survives a dropped socket and exits with
// its status; and the cluster's own refusals passed through.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { signIn } from './gateway-client.ts';
import { StreamClient, until } from './gateway-stream-client.ts';
import { pollUntil, running } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
let work: string;
let child: ChildProcess;
let base: string;
let cookie: string;
let csrfToken: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-web-e2e-'));
  child = spawn(bin, ['web', '--sandbox', '--kubeconfig', join(work, 'kubeconfig'), '--grace', '2s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const loginUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /^web ready (\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`podshell web exited ${code}: ${stderr}`)));
  });
  base = new URL(loginUrl).origin;
  ({ cookie, csrfToken } = await signIn(loginUrl));
});

after(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
});

function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('cookie', cookie);
  headers.set('origin', base);
  headers.set('x-csrf-token', csrfToken);
  if (init.body) headers.set('content-type', 'application/json');
  return fetch(base + path, { ...init, headers });
}

function join_(id: string, resumeFrom = 0): StreamClient {
  const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/api/sessions/${id}/stream`, { origin: base, headers: { cookie } });
  return new StreamClient(socket, { resumeFrom });
}

async function createShell(cluster = 'podshell-sandbox'): Promise<{ status: number; body: any }> {
  const res = await api('/api/sessions', { method: 'POST', body: JSON.stringify({ cluster, namespace: 'default', pod: 'demo', cols: 100, rows: 30 }) });
  return { status: res.status, body: await res.json() };
}

/** Host pids whose command line is exactly `argv` (the sandbox's processes are real host processes). */
function processesWith(argv: string[]): number[] {
  const want = argv.join('\0');
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').replace(/\0$/, '') === want && running(Number(name))) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test('clusters and pods: the sandbox contexts, demo running', async () => {
  const clusters = (await (await api('/api/clusters')).json()) as { clusters: { name: string }[] };
  assert.deepEqual(clusters.clusters.map((c) => c.name).sort(), ['podshell-sandbox', 'podshell-sandbox-dev', 'podshell-sandbox-viewer']);
  const pods = (await (await api('/api/clusters/podshell-sandbox/namespaces/default/pods')).json()) as { pods: { name: string; phase: string; ready: string }[] };
  const demo = pods.pods.find((p) => p.name === 'demo');
  assert.deepEqual({ phase: demo?.phase, ready: demo?.ready }, { phase: 'Running', ready: '1/1' });
});

test('a shell in demo: echo, resize followed by stty size, and the exit status', async () => {
  const { status, body } = await createShell();
  assert.equal(status, 201, JSON.stringify(body));
  const c = join_(body.id);
  await c.joined;
  c.type("PS1='<p>''$ '\r");
  await until('the prompt', () => c.text().includes('<p>$ '));
  c.type('echo $((6*7))\r');
  // (bash's bracketed-paste switch may stand between the echoed line and the answer)
  await until('the echo', () => /[\r\n]42\r\n/.test(c.text()));
  c.type('stty size\r');
  await until('the initial size', () => c.text().includes('30 100'));
  c.resize(120, 40);
  c.type('stty size\r');
  await until('the new size', () => c.text().includes('40 120'));
  c.type('exit 3\r');
  await c.closed;
  assert.equal(c.exitInfo?.code, 3);
  assert.deepEqual(c.problems, []);
});

test('a dropped socket: the shell goes on, the output made meanwhile arrives on rejoin, and after the grace period nothing is left', async () => {
  const { body } = await createShell();
  const id = body.id as string;
  const first = join_(id);
  await first.joined;
  first.type("PS1='<p>''$ '; A=kept\r");
  await until('the prompt', () => first.text().includes('<p>$ '));
  first.type('(sleep 1; echo made-while-away) &\r');
  await until('the job started', () => /\[\d+\] \d+/.test(first.text()));
  const resumeFrom = first.next;
  first.ack();
  await first.drop();

  // While no client is joined the job prints: wait until the session has produced it.
  const producedWhileAway = await pollUntil(async () => {
    const info = (await (await api(`/api/sessions/${id}`)).json()) as { joined: boolean; produced: number };
    return !info.joined && info.produced >= resumeFrom + 'made-while-away'.length;
  }, 30_000);
  assert.ok(producedWhileAway, 'the session produced output while no client was joined');

  const second = join_(id, resumeFrom);
  const joined = await second.joined;
  assert.equal(joined.skipped, 0);
  await until('the output made while away', () => second.text().includes('made-while-away'));
  second.type('echo A=$A\r');
  await until('the same shell', () => second.text().includes('A=kept'));

  // Leave for good with a marked process running: after the grace period (2 s) it is gone.
  const mark = `${4000 + Math.floor(Math.random() * 999)}`;
  second.type(`exec sleep ${mark}\r`);
  await until('the marked process runs', () => processesWith(['sleep', mark]).length === 1);
  await second.drop();
  await until('nothing of the session remains', () => processesWith(['sleep', mark]).length === 0, 60_000);
  const gone = await api(`/api/sessions/${id}`);
  assert.equal(gone.status, 404);
});

test("the cluster's refusals come through: the viewer's 403 sentence, an unknown pod's 404, distroless's missing shell", async () => {
  const viewer = await createShell('podshell-sandbox-viewer');
  assert.equal(viewer.status, 403);
  assert.equal(viewer.body.error.code, 'ERR_FORBIDDEN');
  assert.match(viewer.body.error.message, /^pods "demo" is forbidden: User "viewer" cannot (get|create) resource "pods\/exec"/);

  const missing = await api('/api/sessions', { method: 'POST', body: JSON.stringify({ cluster: 'podshell-sandbox', namespace: 'default', pod: 'nope' }) });
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as any).error.message, /pods "nope" not found/);

  const distroless = await api('/api/sessions', { method: 'POST', body: JSON.stringify({ cluster: 'podshell-sandbox', namespace: 'default', pod: 'distroless' }) });
  assert.equal(distroless.status, 422);
  const error = ((await distroless.json()) as any).error;
  assert.equal(error.code, 'ERR_GATEWAY_NO_SHELL');
  assert.match(error.message, /kubectl debug -it distroless --image=busybox --target=app/);
});

test('files through the signed-in gateway: upload, download, and a download resumed with Range', async () => {
  const { createHash, randomBytes } = await import('node:crypto');
  const data = randomBytes(8 * 1024 * 1024 + 123);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const at = '/api/clusters/podshell-sandbox/namespaces/default/pods/demo/file?container=main&path=/tmp/e2e.bin';
  const put = await api(at, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, await put.clone().text());
  assert.deepEqual(await put.json(), { path: '/tmp/e2e.bin', size: data.length, sha256 });

  // Without the CSRF token the same upload is refused before it reaches the cluster.
  const forged = await fetch(base + at, { method: 'PUT', body: data.subarray(0, 10), headers: { cookie, origin: base } });
  assert.equal(forged.status, 403);

  const whole = await api(at);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get('x-checksum-sha256'), sha256);
  assert.equal(whole.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(Buffer.from(await whole.arrayBuffer()).equals(data), 'the download is byte-exact');

  const half = Math.floor(data.length / 2);
  const rest = await api(at, { headers: { range: `bytes=${half}-` } });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers.get('content-range'), `bytes ${half}-${data.length - 1}/${data.length}`);
  assert.ok(Buffer.from(await rest.arrayBuffer()).equals(data.subarray(half)), 'the resumed part is byte-exact');
});
