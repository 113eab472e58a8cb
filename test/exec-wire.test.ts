// The exec client against a scripted server: each way a server can misbehave on the wire must
// end in the right typed error, never a hang and never a clean-looking success.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pack } from 'tar-stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { Cluster } from '../src/lib/index.ts';

type Script = (ws: WebSocket, req: IncomingMessage) => void;

let server: Server;
let work: string;
let script: Script = () => {};
let upgradeRequests: string[] = [];
const upgraded = new Set<Duplex>();
let onUpgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => boolean) | null = null;

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c' }] }, status: { phase: 'Running' } };

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-wire-'));
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => [...protocols][0] ?? false });
  server = createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/namespaces/default/pods/p')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(pod));
      return;
    }
    res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => {
    upgraded.add(socket);
    upgradeRequests.push(req.url ?? '');
    if (onUpgrade?.(req, socket, head)) return;
    wss.handleUpgrade(req, socket, head, (ws) => script(ws, req));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  writeFileSync(
    join(work, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\ncurrent-context: wire\nclusters: [{name: wire, cluster: {server: "http://127.0.0.1:${port}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: wire, context: {cluster: wire, user: u}}]\n`,
  );
});
after(async () => {
  // Upgraded sockets are no longer the HTTP server's: some scripts left theirs open on purpose.
  for (const socket of upgraded) socket.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

function wireCluster(): Cluster {
  return Cluster.fromKubeconfig({ path: join(work, 'kubeconfig'), warn: () => {} });
}

/** A session against `s`, its output left unread. */
function unread(s: Script, options: { protocols?: ('v5.channel.k8s.io' | 'v4.channel.k8s.io' | 'v4.base64.channel.k8s.io')[] } = {}) {
  script = s;
  onUpgrade = null;
  return wireCluster().exec({ target: 'p', command: ['x'], keepalive: { intervalMs: 100, timeoutMs: 2000 }, ...options });
}

function session(s: Script, options: { protocols?: ('v5.channel.k8s.io' | 'v4.channel.k8s.io' | 'v4.base64.channel.k8s.io')[] } = {}) {
  const exec = unread(s, options);
  exec.stdout!.resume();
  exec.stderr!.resume();
  return exec;
}

async function until(what: string, condition: () => boolean, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** Answers the upgrade by hand, choosing `protocol` whatever was offered. */
function acceptWith(protocol: string, socket: Duplex, req: IncomingMessage): void {
  const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`);
}

/** The argv of an exec request. */
const commandOf = (req: IncomingMessage) => new URL(req.url ?? '', 'http://x').searchParams.getAll('command');

const frame = (channel: number, text: string) => Buffer.concat([Buffer.from([channel]), Buffer.from(text)]);
const status = (json: object) => frame(3, JSON.stringify(json));

test('an exit code 0..255 from the status channel', async () => {
  for (const code of [0, 42, 255]) {
    const exec = session((ws) => {
      ws.send(frame(1, ''));
      ws.send(status(code === 0 ? { metadata: {}, status: 'Success' } : { metadata: {}, status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(code) }] } }));
      ws.close(1000);
    });
    assert.equal((await exec.exit).code, code);
  }
});

test('a text frame on a binary protocol is a protocol error', async () => {
  const exec = session((ws) => ws.send('1hello'));
  await assert.rejects(exec.exit, { code: 'ERR_PROTOCOL', message: 'expected binary messages for v5.channel.k8s.io, got a text one' });
});

test('a frame on an unknown channel is a protocol error', async () => {
  const exec = session((ws) => ws.send(frame(7, 'x')));
  await assert.rejects(exec.exit, { code: 'ERR_PROTOCOL', message: 'the server sent a frame on unknown channel 7' });
});

test('an unparsable status is a protocol error', async () => {
  const exec = session((ws) => {
    ws.send(frame(3, '{not json'));
    ws.close(1000);
  });
  await assert.rejects(exec.exit, (err: Error & { code?: string }) => err.code === 'ERR_PROTOCOL' && /error stream protocol error/.test(err.message));
});

test('a normal close without any status (v5) is not taken for success', async () => {
  const exec = session((ws) => {
    ws.send(frame(1, 'partial output'));
    ws.close(1000);
  });
  await assert.rejects(exec.exit, { code: 'ERR_PROTOCOL', message: 'the server closed the session without an exit status (v5.channel.k8s.io)' });
});

test('an abnormal close after some output rejects with ERR_CONNECTION_LOST', async () => {
  const exec = session((ws) => {
    ws.send(frame(1, 'partial'));
    setTimeout(() => ws.terminate(), 20);
  });
  await assert.rejects(exec.exit, { code: 'ERR_CONNECTION_LOST' });
});

test('an InternalError status is a RemoteError carrying the Status', async () => {
  const exec = session((ws) => {
    ws.send(status({ metadata: {}, status: 'Failure', message: 'Internal error occurred: boom', reason: 'InternalError', code: 500 }));
    ws.close(1000);
  });
  await assert.rejects(exec.exit, (err: Error & { code?: string; status?: { reason?: string } }) => err.code === 'ERR_REMOTE' && err.message === 'Internal error occurred: boom' && err.status?.reason === 'InternalError');
});

test('a redirect answering the upgrade is an error, and its Location is never requested', async () => {
  script = () => {};
  upgradeRequests = [];
  const cluster = Cluster.fromKubeconfig({ path: join(work, 'kubeconfig'), warn: () => {} });
  onUpgrade = (req, socket) => {
    if (req.url?.includes('/pods/p/exec')) {
      socket.end('HTTP/1.1 302 Found\r\nLocation: /stolen\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    return false;
  };
  const exec = cluster.exec({ target: 'p', command: ['x'] });
  await assert.rejects(exec.exit, { code: 'ERR_API_STATUS', message: '302 Found' });
  assert.equal(upgradeRequests.length, 1);
  assert.ok(!upgradeRequests.some((u) => u.includes('stolen')));
});

test('a server that never answers pings is declared lost', async () => {
  const exec = session((ws) => {
    ws.send(frame(1, ''));
    // Stop reading: pings pile up unanswered.
    (ws as unknown as { _socket: Duplex })._socket.pause();
  });
  await assert.rejects(exec.exit, (err: Error & { code?: string }) => err.code === 'ERR_CONNECTION_LOST' && /keepalive/.test(err.message));
});

test('offers v5 and v4 in one header line, and the base64 variant on request', async () => {
  let offered = '';
  const exec = session((ws, req) => {
    offered = String(req.headers['sec-websocket-protocol']);
    ws.send(status({ metadata: {}, status: 'Success' }));
    ws.close(1000);
  });
  await exec.exit;
  assert.equal(offered, 'v5.channel.k8s.io,v4.channel.k8s.io');
  const b64 = session((ws) => {
    ws.send('3' + Buffer.from('{"metadata":{},"status":"Success"}').toString('base64'));
    ws.close(1000);
  }, { protocols: ['v4.base64.channel.k8s.io'] });
  assert.equal((await b64.exit).code, 0);
});

test('exit settles only after every stderr byte was read, even when stderr is read late and slowly', { timeout: 60_000 }, async () => {
  const total = 3_000_000;
  const exec = unread((ws) => {
    const chunk = Buffer.alloc(60_000, 0);
    for (let sent = 0; sent < total; sent += chunk.length) ws.send(Buffer.concat([Buffer.from([2]), chunk.subarray(0, Math.min(chunk.length, total - sent))]));
    ws.send(frame(1, 'out\n'));
    ws.send(status({ metadata: {}, status: 'Success' }));
    ws.close(1000);
  });
  let out = '';
  exec.stdout!.on('data', (c: Buffer) => (out += c));
  // Late: stderr is left unread until its buffer is full (the precondition that it waited).
  await exec.opened;
  await until('stderr buffered its high-water mark unread', () => exec.stderr!.readableLength >= exec.stderr!.readableHighWaterMark);
  // Slowly: one chunk, then a pause.
  let errBytes = 0;
  exec.stderr!.on('data', (c: Buffer) => {
    errBytes += c.length;
    exec.stderr!.pause();
    setTimeout(() => exec.stderr!.resume(), 3);
  });
  const atExit = await exec.exit.then((s) => ({ code: s.code, errBytes, out }));
  assert.deepEqual(atExit, { code: 0, errBytes: total, out: 'out\n' });
});

test('a status on a connection the server never closes: exit settles after the grace period with that status', { timeout: 60_000 }, async () => {
  let serverSide: WebSocket | null = null;
  const exec = unread((ws) => {
    serverSide = ws;
    ws.send(frame(1, 'all of '));
    ws.send(frame(2, 'the output'));
    ws.send(frame(1, 'here'));
    ws.send(status({ metadata: {}, status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } }));
    // ...and never closes.
  });
  let out = '';
  let err = '';
  exec.stdout!.on('data', (c: Buffer) => (out += c));
  exec.stderr!.on('data', (c: Buffer) => (err += c));
  const started = Date.now();
  await exec.opened;
  const result = await exec.exit;
  assert.equal(result.code, 3);
  assert.deepEqual({ out, err }, { out: 'all of here', err: 'the output' });
  // The default grace (2 s) ran, then podshell closed the connection itself.
  assert.ok(Date.now() - started >= 1900, `settled after ${Date.now() - started} ms`);
  await until('the server saw the connection closed', () => (serverSide as WebSocket | null)?.readyState === 3);
});

test('a status channel beyond 64 KiB is a protocol error naming the limit', { timeout: 60_000 }, async () => {
  let acked = 0;
  const exec = session((ws) => {
    // 5 x 20,000 = 100,000 bytes of "status", well past 65,536.
    for (let i = 0; i < 5; i++) ws.send(frame(3, '{'.repeat(20_000)), (e) => (e ? undefined : (acked += 20_000)));
    ws.close(1000);
  });
  await assert.rejects(exec.exit, { code: 'ERR_PROTOCOL', message: 'the server sent more than 65536 bytes (64 KiB) on the status channel; a Status is never that large' });
  await until('the server finished sending', () => acked >= 80_000);
  assert.ok(acked > 65_536, `the server sent ${acked} bytes`);
});

test('a server choosing a subprotocol that was not offered is a protocol error, not a lost connection', async () => {
  script = () => {};
  onUpgrade = (req, socket) => {
    acceptWith('v3.channel.k8s.io', socket, req);
    return true;
  };
  const exec = wireCluster().exec({ target: 'p', command: ['x'] });
  await assert.rejects(exec.opened, {
    code: 'ERR_PROTOCOL',
    message: 'the server chose subprotocol "v3.channel.k8s.io", which was not offered (offered: v5.channel.k8s.io, v4.channel.k8s.io)',
  });
  await assert.rejects(exec.exit, { code: 'ERR_PROTOCOL' });
  // No subprotocol at all in the answer is the same breach.
  onUpgrade = (req, socket) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    return true;
  };
  await assert.rejects(wireCluster().exec({ target: 'p', command: ['x'] }).exit, {
    code: 'ERR_PROTOCOL',
    message: 'the server answered the upgrade without choosing a subprotocol (offered: v5.channel.k8s.io, v4.channel.k8s.io)',
  });
});

/** The container has no stat (so no early checksum); `tar` is answered by `tarAnswer`. */
function copyServer(tarAnswer: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean): { tarRequests: () => number } {
  let tars = 0;
  script = (ws) => {
    ws.send(status({ metadata: {}, status: 'Failure', message: 'Internal error occurred: error executing command in container: exec: "stat": executable file not found in $PATH', reason: 'InternalError', code: 500 }));
    ws.close(1000);
  };
  onUpgrade = (req, socket, head) => {
    if (commandOf(req)[0] !== 'tar') return false;
    tars++;
    return tarAnswer(req, socket, head);
  };
  return { tarRequests: () => tars };
}

test('cp --retries does not retry a protocol error (an un-offered subprotocol)', async () => {
  const server = copyServer((req, socket) => {
    acceptWith('v3.channel.k8s.io', socket, req);
    return true;
  });
  const warnings: string[] = [];
  await assert.rejects(wireCluster().copyFrom({ pod: 'p', path: '/f' }, join(work, 'f'), { retries: 3, onWarning: (m) => warnings.push(m) }), { code: 'ERR_PROTOCOL' });
  assert.equal(server.tarRequests(), 1);
  assert.deepEqual(warnings, []);
});

test('a tar stream that ends early, then a Success status, is a corrupt transfer (and not retried)', async () => {
  const p = pack();
  const parts: Buffer[] = [];
  const packed = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) parts.push(c);
  })();
  p.entry({ name: 'f', mode: 0o644 }, Buffer.alloc(100_000, 7));
  p.finalize();
  await packed;
  const whole = Buffer.concat(parts);
  let cut = 0;
  script = () => {};
  const server = copyServer(() => false);
  const tarScript: Script = (ws) => {
    ws.send(Buffer.concat([Buffer.from([1]), whole.subarray(0, cut)]));
    ws.send(status({ metadata: {}, status: 'Success' }));
    ws.close(1000);
  };
  const stat = script;
  script = (ws, req) => (commandOf(req)[0] === 'tar' ? tarScript(ws, req) : stat(ws, req));
  for (cut of [512, 5000, 50_000]) {
    await assert.rejects(wireCluster().copyFrom({ pod: 'p', path: '/f' }, join(work, `f-${cut}`), { retries: 3 }), { code: 'ERR_TRANSFER_CORRUPT', message: 'tar contents corrupted: unexpected end of data' });
  }
  assert.equal(server.tarRequests(), 3);
});

test('called from plain JavaScript without target or command, every entry point gives a UsageError naming it', async () => {
  const cluster = wireCluster() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const usage = (message: RegExp) => (err: unknown) => {
    assert.ok(err instanceof Error && err.name === 'UsageError' && (err as { code?: string }).code === 'ERR_USAGE', `expected a UsageError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  };
  const sessionCases: [string, unknown, RegExp][] = [
    ['exec', undefined, /^exec needs an options object with a target and a command$/],
    ['exec', {}, /^exec needs a target/],
    ['exec', { command: ['true'] }, /^exec needs a target/],
    ['exec', { target: 'p' }, /^exec needs a command/],
    ['exec', { target: 'p', command: 'ls -l' }, /^command must be an array of strings/],
    ['exec', { target: 'p', command: [1] }, /^command must be an array of strings/],
    ['exec', { target: 42, command: ['true'] }, /^target must be a pod name/],
    ['exec', { target: {}, command: ['true'] }, /^target must be a pod name, TYPE\/NAME, \{ pod \}/],
    ['exec', { target: { pod: 5 }, command: ['true'] }, /^target must be a pod name/],
    ['exec', { target: 'p', command: ['true'], namespace: 3 }, /^namespace must be a string/],
    ['attach', undefined, /^attach needs an options object with a target$/],
    ['attach', {}, /^attach needs a target/],
  ];
  for (const [method, options, message] of sessionCases) {
    const session = cluster[method]!.call(cluster, options) as { opened: Promise<unknown>; exit: Promise<unknown> };
    await assert.rejects(session.exit, usage(message), `${method}(${JSON.stringify(options)})`);
    await assert.rejects(session.opened, usage(message));
  }
  const promiseCases: [string, unknown[], RegExp][] = [
    ['run', [], /^run needs an options object with a target and a command$/],
    ['run', [{}], /^exec needs a target/],
    ['run', [{ target: 'p' }], /^exec needs a command/],
    ['copyTo', [], /^copyTo needs a local path/],
    ['copyTo', [work], /^copyTo needs a remote spec/],
    ['copyTo', [work, { path: '/tmp' }], /^copyTo needs remote\.pod/],
    ['copyTo', [work, { pod: 'p' }], /^copyTo needs remote\.path/],
    ['copyFrom', [], /^copyFrom needs a local path/],
    ['copyFrom', [{ pod: 'p' }, work], /^copyFrom needs remote\.path/],
    ['copyFrom', [undefined, work], /^copyFrom needs a remote spec/],
  ];
  for (const [method, args, message] of promiseCases) {
    await assert.rejects(Promise.resolve().then(() => cluster[method]!.call(cluster, ...args)), usage(message), `${method}(${JSON.stringify(args)})`);
  }
});

test('exit and the streams, in every combination: an empty stream nobody reads does not hold exit; unread output does', { timeout: 60_000 }, async () => {
  const onlyStdout: Script = (ws) => {
    ws.send(frame(1, 'only stdout'));
    ws.send(status({ metadata: {}, status: 'Success' }));
    ws.close(1000);
  };
  // stdout read, stderr (empty) never read.
  const a = unread(onlyStdout);
  let out = '';
  a.stdout!.on('data', (c: Buffer) => (out += c));
  assert.equal((await a.exit).code, 0);
  assert.equal(out, 'only stdout');
  // Neither read: exit waits for stdout's bytes, and settles once they are read.
  const b = unread(onlyStdout);
  let settled = false;
  void b.exit.then(() => (settled = true));
  await until('stdout holds the unread output', () => b.stdout!.readableLength === 'only stdout'.length && b.stdout!.readableEnded === false);
  // The session has finished reading the socket (its private flag: there is no public one).
  await until('the session saw the close', () => (b as unknown as { _settled: boolean })._settled);
  assert.equal(settled, false);
  let late = '';
  b.stdout!.on('data', (c: Buffer) => (late += c));
  await b.exit;
  assert.equal(late, 'only stdout');
  // Only stderr requested, and only stdin: no output stream at all.
  script = (ws) => {
    ws.send(frame(2, 'e'));
    ws.send(status({ metadata: {}, status: 'Success' }));
    ws.close(1000);
  };
  const c = wireCluster().exec({ target: 'p', command: ['x'], stdout: false });
  let err = '';
  c.stderr!.on('data', (d: Buffer) => (err += d));
  assert.equal((await c.exit).code, 0);
  assert.equal(err, 'e');
  script = (ws) => {
    ws.send(status({ metadata: {}, status: 'Success' }));
    ws.close(1000);
  };
  const d = wireCluster().exec({ target: 'p', command: ['x'], stdin: true, stdout: false, stderr: false });
  assert.equal(d.stdout, null);
  assert.equal((await d.exit).code, 0);
});

test('stdin written in many chunks arrives whole and in order, in frames of at most 1 MiB, binary and base64', { timeout: 120_000 }, async (t) => {
  const total = 8 * 1024 * 1024;
  for (const protocol of ['v5.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const) {
    const base64 = protocol.includes('base64');
    const received: Buffer[] = [];
    let got = 0;
    let frames = 0;
    let largest = 0;
    script = (ws) => {
      ws.on('message', (data: Buffer) => {
        const channel = base64 ? data[0]! - 48 : data[0]!;
        const payload = base64 ? Buffer.from(data.subarray(1).toString('latin1'), 'base64') : Buffer.from(data.subarray(1));
        assert.equal(channel, 0);
        frames++;
        largest = Math.max(largest, payload.length);
        received.push(payload);
        got += payload.length;
        if (got === total) {
          ws.send(base64 ? `3${Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' })).toString('base64')}` : status({ metadata: {}, status: 'Success' }));
          ws.close(1000);
        }
      });
    };
    onUpgrade = null;
    const exec = wireCluster().exec({ target: 'p', command: ['x'], stdin: true, protocols: [protocol] });
    exec.stdout!.resume();
    exec.stderr!.resume();
    // Chunks of uneven sizes (some larger than a frame), each its own content, written as fast as
    // the stream takes them.
    const sent: Buffer[] = [];
    for (let at = 0, n = 0; at < total; n++) {
      const chunk = randomBytes(Math.min(total - at, n % 25 === 24 ? 1_500_000 : 1000 + ((n * 7919) % 200_000)));
      sent.push(chunk);
      at += chunk.length;
      if (!exec.stdin!.write(chunk)) await new Promise((resolve) => exec.stdin!.once('drain', resolve));
    }
    assert.equal((await exec.exit).code, 0);
    t.diagnostic(`${protocol}: ${sent.length} chunks written, ${frames} frames received, the largest ${largest} bytes`);
    assert.ok(largest <= 1024 * 1024, `a frame of ${largest} bytes`);
    assert.ok(Buffer.concat(received).equals(Buffer.concat(sent)), 'the bytes received differ from those written');
  }
});
