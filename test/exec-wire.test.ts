// The exec client against a scripted server: each way a server can misbehave on the wire must
// end in the right typed error, never a hang and never a clean-looking success.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
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

function session(s: Script, options: { protocols?: ('v5.channel.k8s.io' | 'v4.channel.k8s.io' | 'v4.base64.channel.k8s.io')[] } = {}) {
  script = s;
  onUpgrade = null;
  const cluster = Cluster.fromKubeconfig({ path: join(work, 'kubeconfig'), warn: () => {} });
  const exec = cluster.exec({ target: 'p', command: ['x'], keepalive: { intervalMs: 100, timeoutMs: 2000 }, ...options });
  exec.stdout!.resume();
  exec.stderr!.resume();
  return exec;
}

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
