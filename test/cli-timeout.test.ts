// --request-timeout governs every request of a command, as in kubectl: a REST call that never gets
// an answer ends the command with a timeout after about that long, and 0 means no limit.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { run } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
let server: Server;
let work: string;
let kubeconfig: string;
const requests: string[] = [];
const sockets = new Set<Socket>();

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-timeout-'));
  // An API server that reads every request and never answers any.
  server = createServer((req) => requests.push(`${req.method} ${req.url}`));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  kubeconfig = join(work, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\ncurrent-context: mute\nclusters: [{name: mute, cluster: {server: "http://127.0.0.1:${port}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: mute, context: {cluster: mute, user: u}}]\n`,
  );
});
after(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

test('--request-timeout ends a command whose pod lookup never gets an answer', async () => {
  requests.length = 0;
  const started = Date.now();
  const r = await run(bin, ['--kubeconfig', kubeconfig, 'exec', '--request-timeout', '1s', 'demo', '--', 'true']);
  const took = Date.now() - started;
  // The situation under test happened: podshell asked for the pod (a REST call, not the upgrade).
  assert.deepEqual(requests, ['GET /api/v1/namespaces/default/pods/demo']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^podshell: .*1000 ms/m);
  // About the timeout, not the 30 s default (generous for a loaded machine).
  assert.ok(took < 20_000, `took ${took} ms`);
});

test('--request-timeout before the subcommand works the same', async () => {
  requests.length = 0;
  const r = await run(bin, ['--request-timeout', '1s', '--kubeconfig', kubeconfig, 'exec', 'demo', '--', 'true']);
  assert.deepEqual(requests, ['GET /api/v1/namespaces/default/pods/demo']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /1000 ms/);
});

test('--request-timeout reads kubectl\'s forms (a bare number of seconds) and the durations every other flag takes', async () => {
  const { parseDuration } = await import('../src/cli/kubeflags.ts');
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('30'), 30_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.throws(() => parseDuration('5 minutes'), /expected a duration such as 0, 30, 30s, 1m or 1h30m/);
});
