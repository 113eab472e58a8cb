// Sessions through Cluster when the kube layer refuses or gives up before any byte reaches a
// pod: a header value HTTP cannot carry, and an upgrade the server never answers.

import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Cluster } from '../src/lib/index.ts';
import { tempDir, writeYaml } from './fixtures/kube/helpers.ts';

function kubeconfig(dir: string, server: string): string {
  return writeYaml(join(dir, 'config.yaml'), {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server } }],
    users: [{ name: 'test', user: { token: 'admin-token' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: 'default' } }],
  });
}

async function silentServer(): Promise<{ url: string; upgrades: string[]; close(): Promise<void> }> {
  const upgrades: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer(() => {});
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    upgrades.push(req.url ?? '');
    sockets.add(socket);
  });
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    upgrades,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test('exec with an impersonated user holding a line break is ERR_KUBECONFIG naming the header and the value', async (t) => {
  const tmp = tempDir();
  const server = await silentServer();
  t.after(async () => {
    await server.close();
    tmp.remove();
  });
  const cluster = Cluster.fromKubeconfig({ path: kubeconfig(tmp.dir, server.url), impersonate: { user: 'bad\nuser' } });
  const message = 'invalid value for the Impersonate-User header: "bad\\nuser"; HTTP headers do not allow line breaks or other control characters';
  // { pod } with a container: the upgrade is the only request.
  const session = cluster.exec({ target: { pod: 'demo' }, container: 'main', command: ['true'] });
  await assert.rejects(session.exit, { code: 'ERR_KUBECONFIG', message });
  // A pod name: the pod GET comes first.
  await assert.rejects(cluster.run({ target: 'demo', command: ['true'] }), { code: 'ERR_KUBECONFIG', message });
  assert.deepEqual(server.upgrades, []);
});

test('requestTimeoutMs is the handshake timeout of sessions that set none', async (t) => {
  const tmp = tempDir();
  const server = await silentServer();
  t.after(async () => {
    await server.close();
    tmp.remove();
  });
  const cluster = Cluster.fromKubeconfig({ path: kubeconfig(tmp.dir, server.url), requestTimeoutMs: 500 });
  const started = Date.now();
  const session = cluster.exec({ target: { pod: 'demo' }, container: 'main', command: ['true'] });
  await assert.rejects(session.exit, { code: 'ERR_TIMEOUT', message: 'no answer to the upgrade request within 500 ms' });
  // The upgrade request reached the server and went unanswered; it was the 500 ms, not the
  // 30 s default, that ended it.
  assert.equal(server.upgrades.length, 1);
  assert.ok(Date.now() - started < 15_000, `${Date.now() - started} ms`);
});
