// Port-forward, the client side: the library and the real CLI process against the fake kubelet
// (test/fake-kubelet.ts: HTTPS, the WebSocket port-forward protocol, real TCP servers as the pod's
// ports). Every check reads the bytes that came through.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster, ListenError, PortForwardError, type ForwardedConnectionInfo, type PortForward } from '../src/lib/index.ts';
import { startFakeKubelet, type FakeKubelet } from './fake-kubelet.ts';
import { pollUntil } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const BIG = randomBytes(50 * 1024 * 1024);
const BIG_SHA = sha256(BIG);
/** What the firehose pod port writes, in all, before it ends. */
const FIREHOSE_BYTES = 64 * 1024 * 1024;

let work: string;
let kubelet: FakeKubelet;
let appA: HttpServer;
let appB: HttpServer;
let firehose: TcpServer;
let sink: TcpServer;
/** What the local writer sends to the sink pod port, in all. */
const SINK_BYTES = 64 * 1024 * 1024;
/** The sink reads nothing until released; then it answers `SIZE SHA256` once it has SINK_BYTES. */
const sinkState = { release: () => {}, released: false };
const podConnections = new Set<Socket>();
/** The firehose's state: bytes written, and since when its last write has waited for drain. */
const hose = { written: 0, blockedSince: 0 };

function firehosePattern(offset: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (offset + i) % 251;
  return out;
}

async function listen(server: HttpServer | TcpServer): Promise<number> {
  server.on('connection', (s: Socket) => {
    podConnections.add(s);
    s.on('close', () => podConnections.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as { port: number }).port;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-pf-'));
  appA = createHttpServer((req, res) => {
    if (req.url === '/hello') return void res.end('hello from A\n');
    if (req.url === '/big') return void res.writeHead(200, { 'Content-Length': BIG.length }).end(BIG);
    if (req.url === '/upload') {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      req.on('end', () => res.end(`${size} ${hash.digest('hex')}`));
      return;
    }
    res.writeHead(404).end();
  });
  appB = createHttpServer((_req, res) => res.end('hello from B\n'));
  firehose = createTcpServer((socket) => {
    socket.on('error', () => {});
    const chunk = 64 * 1024;
    const pump = () => {
      while (hose.written < FIREHOSE_BYTES) {
        const size = Math.min(chunk, FIREHOSE_BYTES - hose.written);
        const ok = socket.write(firehosePattern(hose.written, size));
        hose.written += size;
        if (!ok) {
          hose.blockedSince = Date.now();
          socket.once('drain', () => {
            hose.blockedSince = 0;
            pump();
          });
          return;
        }
      }
      socket.end();
    };
    pump();
  });
  sink = createTcpServer((socket) => {
    socket.on('error', () => {});
    socket.pause();
    const hash = createHash('sha256');
    let size = 0;
    socket.on('data', (c: Buffer) => {
      hash.update(c);
      size += c.length;
      if (size === SINK_BYTES) socket.end(`${size} ${hash.digest('hex')}`);
    });
    const go = () => socket.resume();
    if (sinkState.released) go();
    else sinkState.release = go;
  });
  const [a, b, f, k] = [await listen(appA), await listen(appB), await listen(firehose), await listen(sink)];
  kubelet = await startFakeKubelet(
    work,
    {
      web: { ports: { 80: a, 81: b, 82: f, 84: k }, labels: { app: 'web' }, containerPorts: [{ name: 'http', containerPort: 80 }, { name: 'alt', containerPort: 81 }] },
      pending: { phase: 'Pending', ports: {} },
    },
    { 'web-svc': { selector: { app: 'web' }, ports: [{ name: 'front', port: 8000, targetPort: 'alt' }, { port: 9000, targetPort: 80 }] } },
  );
});

after(async () => {
  await kubelet.close();
  for (const s of podConnections) s.destroy();
  for (const server of [appA, appB, firehose, sink]) await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

function cluster(): Cluster {
  return Cluster.fromKubeconfig({ path: kubelet.kubeconfigPath, warn: () => {} });
}

/** An HTTP request through a forwarded port, on a connection of its own. */
function http(port: number, path: string, options: { method?: string; body?: Buffer; host?: string } = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: options.host ?? '127.0.0.1', port, path, method: options.method ?? 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

async function forwarding(t: { after(fn: () => Promise<void> | void): void }, ports: string[], extra: Record<string, unknown> = {}): Promise<{ forward: PortForward; local: number[] }> {
  const forward = cluster().portForward({ target: 'web', ports, ...extra });
  t.after(() => forward.close());
  const ready = await forward.ready;
  return { forward, local: ready.ports.map((p) => p.localPort) };
}

test('two ports at once: HTTP through both gets each server\'s answer, byte for byte', async (t) => {
  const { forward, local } = await forwarding(t, [':80', ':81']);
  const seen: ForwardedConnectionInfo[] = [];
  forward.on('connection', (c) => seen.push(c));
  const ready = await forward.ready;
  assert.equal(ready.pod, 'web');
  assert.deepEqual(ready.ports.map((p) => [p.address, p.remotePort]), [['127.0.0.1', 80], ['127.0.0.1', 81]]);
  assert.notEqual(local[0], local[1]);
  const [a, b] = await Promise.all([http(local[0]!, '/hello'), http(local[1]!, '/')]);
  assert.equal(a.body.toString(), 'hello from A\n');
  assert.equal(b.body.toString(), 'hello from B\n');
  assert.deepEqual(seen.map((c) => [c.localPort, c.remotePort]).sort(), [[local[0], 80], [local[1], 81]].sort());
  // One WebSocket per connection, each naming its one port.
  assert.ok(kubelet.stats.urls.includes('/api/v1/namespaces/default/pods/web/portforward?ports=80'));
  assert.ok(kubelet.stats.urls.includes('/api/v1/namespaces/default/pods/web/portforward?ports=81'));
});

test('20 concurrent connections all get their own answers', async (t) => {
  const { local } = await forwarding(t, [':80', ':81']);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => http(local[i % 2]!, i % 2 === 0 ? '/hello' : '/')));
  results.forEach((r, i) => assert.equal(r.body.toString(), i % 2 === 0 ? 'hello from A\n' : 'hello from B\n'));
});

test('a port header split over several frames is still stripped', async (t) => {
  kubelet.splitHeaders = true;
  t.after(() => (kubelet.splitHeaders = false));
  const { local } = await forwarding(t, [':80']);
  assert.equal((await http(local[0]!, '/hello')).body.toString(), 'hello from A\n');
});

test('50 MiB both ways, byte-exact (sha256)', async (t) => {
  const { local } = await forwarding(t, [':80']);
  const down = await http(local[0]!, '/big');
  assert.equal(down.body.length, BIG.length);
  assert.equal(sha256(down.body), BIG_SHA);
  const up = await http(local[0]!, '/upload', { method: 'POST', body: BIG });
  assert.equal(up.body.toString(), `${BIG.length} ${BIG_SHA}`);
});

test('the base64 subprotocol, when it is the one the server accepts: the same bytes', async (t) => {
  kubelet.accepted = ['v4.base64.channel.k8s.io'];
  t.after(() => (kubelet.accepted = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']));
  const { local } = await forwarding(t, [':80', ':81']);
  assert.equal((await http(local[1]!, '/')).body.toString(), 'hello from B\n');
  const down = await http(local[0]!, '/big');
  assert.equal(sha256(down.body), BIG_SHA);
  const up = await http(local[0]!, '/upload', { method: 'POST', body: BIG.subarray(0, 8 * 1024 * 1024) });
  assert.equal(up.body.toString(), `${8 * 1024 * 1024} ${sha256(BIG.subarray(0, 8 * 1024 * 1024))}`);
});

test('backpressure: a local reader that stops pauses the pod side; buffering stays bounded; then every byte arrives', async (t) => {
  // Short keepalive deadlines: a stall longer than them must not count as a lost connection.
  const { local } = await forwarding(t, [':82'], { keepalive: { intervalMs: 100, timeoutMs: 500 } });
  hose.written = 0;
  hose.blockedSince = 0;
  const pausesBefore = kubelet.stats.podReadsPaused;
  const socket = connect({ host: '127.0.0.1', port: local[0]! });
  t.after(() => socket.destroy());
  socket.pause();
  // The situation: the fake kubelet's WebSocket side filled and paused reading the pod, and the
  // pod's own writes have waited for a drain for a while.
  const stalled = await pollUntil(() => kubelet.stats.podReadsPaused > pausesBefore && hose.blockedSince > 0 && Date.now() - hose.blockedSince > 1500, 60_000);
  assert.ok(stalled, `never stalled: written ${hose.written}, pauses ${kubelet.stats.podReadsPaused - pausesBefore}`);
  const writtenWhileStalled = hose.written;
  t.diagnostic(`written while nobody read: ${writtenWhileStalled} bytes of ${FIREHOSE_BYTES}`);
  assert.ok(writtenWhileStalled < FIREHOSE_BYTES * 0.75, `${writtenWhileStalled} bytes left the pod while nobody read: buffering is not bounded`);
  // Reading again: the rest flows, in order, complete.
  const hash = createHash('sha256');
  let received = 0;
  socket.on('data', (c: Buffer) => {
    hash.update(c);
    received += c.length;
  });
  socket.resume();
  await new Promise<void>((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  assert.equal(received, FIREHOSE_BYTES);
  assert.equal(hash.digest('hex'), sha256(firehosePattern(0, FIREHOSE_BYTES)));
});

test('close() while a local reader has stopped reading cuts that connection at once instead of waiting out the grace period', async (t) => {
  // A grace period no test waits out: close() must not depend on it when the reader is behind.
  const { forward, local } = await forwarding(t, [':82'], { closeGraceMs: 600_000, keepalive: { intervalMs: 100, timeoutMs: 500 } });
  hose.written = 0;
  hose.blockedSince = 0;
  const pausesBefore = kubelet.stats.podReadsPaused;
  const socket = connect({ host: '127.0.0.1', port: local[0]! });
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  socket.pause();
  // The situation: the local reader is a full window behind, so the forward paused its WebSocket.
  assert.ok(await pollUntil(() => kubelet.stats.podReadsPaused > pausesBefore && hose.blockedSince > 0, 60_000), `never stalled: written ${hose.written}`);
  // Waiting for the close instead would end only when a side's own close timeout fired (ws: 30 s,
  // here the grace period never does), so 20 s tells the two apart with room for a loaded machine.
  const closed = forward.close().then(() => 'closed');
  const outcome = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 20 s'), 20_000).unref())]);
  assert.equal(outcome, 'closed');
  // What the kernel still holds drains, then the local peer sees the connection end.
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.resume();
  await ended;
});

test('backpressure the other way: a pod that stops reading pauses the local socket; buffering stays bounded; then every byte arrives', async (t) => {
  const { local } = await forwarding(t, [':84'], { keepalive: { intervalMs: 100, timeoutMs: 500 } });
  const pausesBefore = kubelet.stats.socketReadsPaused;
  const socket = connect({ host: '127.0.0.1', port: local[0]! });
  t.after(() => socket.destroy());
  const writer = { written: 0, blockedSince: 0 };
  const chunk = 64 * 1024;
  const hash = createHash('sha256');
  const pump = () => {
    while (writer.written < SINK_BYTES) {
      const data = firehosePattern(writer.written, chunk);
      hash.update(data);
      writer.written += chunk;
      if (!socket.write(data)) {
        writer.blockedSince = Date.now();
        socket.once('drain', () => {
          writer.blockedSince = 0;
          pump();
        });
        return;
      }
    }
  };
  const reply: Buffer[] = [];
  socket.on('data', (c: Buffer) => reply.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  pump();
  // The situation: the fake kubelet stopped reading the WebSocket (the pod's socket was full), and
  // the local writer has waited for a drain for a while.
  const stalled = await pollUntil(() => kubelet.stats.socketReadsPaused > pausesBefore && writer.blockedSince > 0 && Date.now() - writer.blockedSince > 1500, 60_000);
  assert.ok(stalled, `never stalled: written ${writer.written}, pauses ${kubelet.stats.socketReadsPaused - pausesBefore}`);
  t.diagnostic(`written while the pod did not read: ${writer.written} bytes of ${SINK_BYTES}`);
  assert.ok(writer.written < SINK_BYTES * 0.75, `${writer.written} bytes were taken while the pod read nothing: buffering is not bounded`);
  sinkState.released = true;
  sinkState.release();
  await ended;
  assert.equal(Buffer.concat(reply).toString(), `${SINK_BYTES} ${hash.digest('hex')}`);
});

test('half-close: after the local side ends its sending, the reply still arrives, then the pod side\'s end', async (t) => {
  const { local } = await forwarding(t, [':80']);
  const socket = connect({ host: '127.0.0.1', port: local[0]!, allowHalfOpen: true });
  t.after(() => socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  // HTTP/1.0: the server answers, then closes; the request is followed at once by our FIN.
  socket.end('GET /big HTTP/1.0\r\n\r\n');
  await ended;
  const text = Buffer.concat(chunks);
  const body = text.subarray(text.indexOf('\r\n\r\n') + 4);
  assert.match(text.subarray(0, 20).toString(), /^HTTP\/1\.1 200/);
  assert.equal(sha256(body), BIG_SHA);
  assert.ok(await pollUntil(() => kubelet.stats.openSockets === 0, 30_000), 'the WebSocket outlived both ends');
});

test('the error channel fails one connection with the server\'s text; another keeps working', async (t) => {
  const { forward, local } = await forwarding(t, [':80', ':83']);
  const errors: PortForwardError[] = [];
  forward.on('connectionError', (e) => errors.push(e));
  // A big download in flight, its reader held back, while a connection to a closed port fails.
  const download = new Promise<Buffer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: local[0], path: '/big', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.pause();
      const go = () => {
        res.on('data', (c: Buffer) => chunks.push(c));
        res.resume();
      };
      void pollUntil(() => errors.length > 0, 60_000).then(go);
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  const refused = connect({ host: '127.0.0.1', port: local[1]! });
  refused.on('error', () => {});
  await new Promise<void>((resolve) => refused.on('close', () => resolve()));
  assert.ok(await pollUntil(() => errors.length > 0, 30_000));
  const err = errors[0]!;
  assert.ok(err instanceof PortForwardError);
  assert.equal(err.code, 'ERR_PORT_FORWARD');
  assert.equal(err.localPort, local[1]);
  assert.equal(err.remotePort, 83);
  assert.equal(
    err.message,
    `an error occurred forwarding ${local[1]} -> 83: error forwarding port 83 to pod web, uid uid-web: failed to connect to localhost:83 inside namespace "default": dial tcp 127.0.0.1:83: connect: connection refused`,
  );
  assert.equal(sha256(await download), BIG_SHA);
});

test('a connection that breaks mid-transfer resets the local socket (never a clean-looking end) and is reported', async (t) => {
  const { forward, local } = await forwarding(t, [':80']);
  const errors: PortForwardError[] = [];
  forward.on('connectionError', (e) => errors.push(e));
  const socket = connect({ host: '127.0.0.1', port: local[0]! });
  t.after(() => socket.destroy());
  let received = 0;
  const outcome = new Promise<string>((resolve) => {
    socket.on('end', () => resolve('end'));
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
  // Reading slowly keeps most of the 50 MiB on its way when the connection breaks.
  socket.on('data', (c: Buffer) => {
    received += c.length;
    socket.pause();
  });
  assert.ok(await pollUntil(() => received > 0 && kubelet.stats.openSockets > 0, 30_000));
  kubelet.breakConnections();
  socket.resume();
  socket.on('data', () => socket.resume());
  assert.equal(await outcome, 'ECONNRESET');
  assert.ok(received < BIG.length, `${received}`);
  assert.ok(await pollUntil(() => errors.length > 0, 30_000));
  assert.equal(errors[0]!.message, `an error occurred forwarding ${local[0]} -> 80: the connection to the pod was lost`);
});

/** Open TCP handles of this process: sockets and listeners (the fake kubelet's and the pod's included). */
const tcpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;

test('keepalive: a server that stops answering pings loses the connection, reported, the local socket reset', async (t) => {
  const { forward, local } = await forwarding(t, [':80'], { keepalive: { intervalMs: 100, timeoutMs: 1000 } });
  const errors: PortForwardError[] = [];
  forward.on('connectionError', (e) => errors.push(e));
  const socket = connect({ host: '127.0.0.1', port: local[0]! });
  t.after(() => socket.destroy());
  const outcome = new Promise<string>((resolve) => {
    socket.on('end', () => resolve('end'));
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  socket.write('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.resume();
  kubelet.freezeConnections();
  assert.equal(await outcome, 'ECONNRESET');
  assert.ok(await pollUntil(() => errors.length > 0, 30_000));
  assert.equal(errors[0]!.message, `an error occurred forwarding ${local[0]} -> 80: the connection to the pod was lost: no answer to keepalive pings for 1000 ms`);
  kubelet.breakConnections();
});

test('close() stops listening and ends open connections: no WebSocket, socket or listener is left', async () => {
  assert.ok(await pollUntil(() => kubelet.stats.openSockets === 0 && kubelet.stats.openPodConnections === 0 && podConnections.size === 0, 30_000));
  const baseline = tcpHandles();
  const forward = cluster().portForward({ target: 'web', ports: [':80'] });
  const { ports } = await forward.ready;
  const port = ports[0]!.localPort;
  // An idle keep-alive connection, open through the forward.
  const idle = connect({ host: '127.0.0.1', port });
  idle.on('error', () => {});
  idle.write('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise<void>((resolve) => idle.once('data', () => resolve()));
  assert.ok(kubelet.stats.openSockets >= 1);
  const idleClosed = new Promise<void>((resolve) => idle.on('close', () => resolve()));
  idle.on('end', () => idle.end());
  await forward.close();
  await idleClosed;
  assert.ok(await pollUntil(() => kubelet.stats.openSockets === 0 && kubelet.stats.openPodConnections === 0, 30_000), JSON.stringify(kubelet.stats));
  assert.ok(await pollUntil(() => tcpHandles() <= baseline, 30_000), `TCP handles: ${tcpHandles()}, before: ${baseline}`);
  const refused = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  assert.equal(refused, 'ECONNREFUSED');
});

test('named ports and services: the pod port behind each spec, as kubectl finds it', async (t) => {
  // A named container port of the pod.
  const named = cluster().portForward({ target: 'pod/web', ports: [':http', ':alt'] });
  t.after(() => named.close());
  const n = await named.ready;
  assert.deepEqual(n.ports.map((p) => p.remotePort), [80, 81]);
  assert.equal((await http(n.ports[1]!.localPort, '/')).body.toString(), 'hello from B\n');
  // svc/NAME: its pod, and each service port translated to its target port (named or numeric).
  const svc = cluster().portForward({ target: 'svc/web-svc', ports: [':front', ':9000'] });
  t.after(() => svc.close());
  const v = await svc.ready;
  assert.equal(v.pod, 'web');
  assert.deepEqual(v.ports.map((p) => p.remotePort), [81, 80]);
  assert.equal((await http(v.ports[0]!.localPort, '/')).body.toString(), 'hello from B\n');
  assert.equal((await http(v.ports[1]!.localPort, '/hello')).body.toString(), 'hello from A\n');
  await assert.rejects(cluster().portForward({ target: 'web', ports: [':nope'] }).ready, { code: 'ERR_TARGET', message: "pod 'web' does not have a named port 'nope'" });
  await assert.rejects(cluster().portForward({ target: 'svc/web-svc', ports: [':80'] }).ready, { code: 'ERR_TARGET', message: 'service web-svc does not have a service port 80' });
  await assert.rejects(cluster().portForward({ target: 'svc/web-svc', ports: [':nope'] }).ready, { code: 'ERR_TARGET', message: "service 'web-svc' does not have a named port 'nope'" });
});

test('a pod that is not running: kubectl\'s error after the pod-running timeout', async () => {
  const forward = cluster().portForward({ target: 'pending', ports: ['80'], podRunningTimeoutMs: 1500 });
  await assert.rejects(forward.ready, { code: 'ERR_TARGET', message: 'unable to forward port because pod is not running. Current status=Pending' });
  await forward.closed;
});

test('close() while waiting for the pod to run, and an aborted signal: ready rejects with ERR_ABORTED and closed resolves', async () => {
  const forward = cluster().portForward({ target: 'pending', ports: [':80'], podRunningTimeoutMs: 120_000 });
  const rejected = assert.rejects(forward.ready, { code: 'ERR_ABORTED' });
  await forward.close();
  await rejected;
  const controller = new AbortController();
  const aborted = cluster().portForward({ target: 'web', ports: [':80'], signal: controller.signal });
  controller.abort(new Error('enough'));
  await assert.rejects(aborted.ready, { code: 'ERR_ABORTED' });
  await aborted.closed;
});

test('a busy local port is a ListenError; bad specs and addresses are usage errors', async (t) => {
  const busy = createTcpServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  const forward = cluster().portForward({ target: 'web', ports: [`${port}:80`] });
  await assert.rejects(forward.ready, (err: unknown) => err instanceof ListenError && err.message === `unable to listen on port ${port}: listen 127.0.0.1:${port}: bind: address already in use`);
  await assert.rejects(cluster().portForward({ target: 'web', ports: ['1:2:3'] }).ready, { code: 'ERR_PORT_SPEC', message: "invalid port format '1:2:3'" });
  await assert.rejects(cluster().portForward({ target: 'web', ports: [':80'], address: 'example.com' }).ready, { code: 'ERR_USAGE', message: 'example.com is not a valid IP' });
});

/** The CLI, its stdout and stderr collected as text. */
function startCli(args: string[]) {
  const child = spawn(bin, ['port-forward', '--kubeconfig', kubelet.kubeconfigPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, out, exited };
}

test('CLI: kubectl\'s messages, HTTP through two ports, an error line for a failed connection, SIGINT exits 0 and frees the ports', async (t) => {
  const cli = startCli(['web', ':80', ':83']);
  t.after(() => {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  });
  assert.ok(await pollUntil(() => /Forwarding from 127\.0\.0\.1:\d+ -> 83\n/.test(cli.out.stdout), 60_000), cli.out.stdout + cli.out.stderr);
  // kubectl's default address, localhost: 127.0.0.1 and, where it can be bound, ::1 on the same port.
  const lines = /^Forwarding from 127\.0\.0\.1:(\d+) -> 80\n(?:Forwarding from \[::1\]:\1 -> 80\n)?Forwarding from 127\.0\.0\.1:(\d+) -> 83\n/.exec(cli.out.stdout);
  assert.ok(lines, cli.out.stdout);
  const [p80, p83] = [Number(lines[1]), Number(lines[2])];
  const answer = await http(p80, '/hello');
  assert.equal(answer.body.toString(), 'hello from A\n');
  assert.ok(await pollUntil(() => cli.out.stdout.includes(`Handling connection for ${p80}\n`), 30_000), cli.out.stdout);
  const refused = connect({ host: '127.0.0.1', port: p83 });
  refused.on('error', () => {});
  const expected = `podshell: an error occurred forwarding ${p83} -> 83: error forwarding port 83 to pod web, uid uid-web: failed to connect to localhost:83 inside namespace "default": dial tcp 127.0.0.1:83: connect: connection refused\n`;
  assert.ok(await pollUntil(() => cli.out.stderr.includes(expected), 30_000), cli.out.stderr);
  // Still forwarding after the failed connection.
  assert.equal((await http(p80, '/hello')).body.toString(), 'hello from A\n');
  cli.child.kill('SIGINT');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
  for (const port of [p80, p83]) {
    const code = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.equal(code, 'ECONNREFUSED');
  }
});

test('CLI: usage errors exit 2 with kubectl\'s words; a pod that is not running exits 1', async () => {
  const cases: [string[], number, string][] = [
    [['web'], 2, 'podshell: TYPE/NAME and list of ports are required for port-forward\n'],
    [['web', '1:2:3'], 2, "podshell: invalid port format '1:2:3'\n"],
    [['web', '80', '--address', 'nowhere'], 2, 'podshell: nowhere is not a valid IP\n'],
    [['pending', '80', '--pod-running-timeout', '1s'], 1, 'podshell: unable to forward port because pod is not running. Current status=Pending\n'],
  ];
  for (const [args, code, message] of cases) {
    const cli = startCli(args);
    const exit = await cli.exited;
    assert.equal(exit.code, code, `${args.join(' ')}: ${cli.out.stderr}`);
    assert.ok(cli.out.stderr.startsWith(message), `${args.join(' ')}: ${cli.out.stderr}`);
  }
});
