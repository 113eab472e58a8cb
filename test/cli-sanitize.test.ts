// A hostile API server against the podshell command: its words (Status messages, object names)
// reach the user's terminal inert, never as escape sequences, while the remote command's own
// output stays byte-exact.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { sanitize } from '../src/cli/sanitize.ts';
import { run } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
const evil = '\x1b]0;pwned\x07\x1b[31m';
/** What the command in the pod prints: escape sequences that are its business, passed on as is. */
const remoteOutput = Buffer.from('plain \x1b[1mbold\x1b[0m \x1b]0;title\x07 \x9b\n', 'latin1');

// Two containers with hostile names (so podshell prints kubectl's "Defaulted container" notice).
const pod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'x' } },
  spec: { containers: [{ name: `c${evil}` }, { name: 'd' }] },
  status: { phase: 'Running' },
});

let server: Server;
let work: string;
const upgraded = new Set<Duplex>();

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-sanitize-'));
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => [...protocols][0] ?? false });
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: object) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/api/v1/namespaces/default/pods') return json(200, { kind: 'PodList', metadata: {}, items: [pod('p')] });
    if (url.pathname === '/api/v1/namespaces/default/pods/p') return json(200, pod('p'));
    json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `pods "nope" not found${evil}\nsecond line` });
  });
  server.on('upgrade', (req, socket, head) => {
    upgraded.add(socket);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(Buffer.concat([Buffer.from([1]), remoteOutput]));
      ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ metadata: {}, status: 'Failure', reason: 'InternalError', message: `runtime says ${evil}` }))]));
      ws.close(1000);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  writeFileSync(
    join(work, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\ncurrent-context: evil\nclusters: [{name: evil, cluster: {server: "http://127.0.0.1:${port}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: evil, context: {cluster: evil, user: u}}]\n`,
  );
});
after(async () => {
  for (const socket of upgraded) socket.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

const podshell = (args: string[]) => run(bin, ['--kubeconfig', join(work, 'kubeconfig'), ...args], { env: { ...process.env, NO_COLOR: '1' } });

test('sanitize shows every C0 and C1 control and DEL, and leaves other text alone', () => {
  assert.equal(sanitize(`a${evil}b\n\t\r\x7f\x9bé→`), 'a\\x1b]0;pwned\\x07\\x1b[31mb\\n\\t\\r\\x7f\\x9bé→');
});

test("exec: the Status message and the defaulted notice are printed inert; the command's output byte for byte", async () => {
  const r = await podshell(['exec', 'p', '--', 'x']);
  assert.equal(r.code, 1);
  assert.deepEqual(r.stdout, remoteOutput);
  assert.ok(!r.stderr.includes('\x1b') && !r.stderr.includes('\x07'), JSON.stringify(r.stderr));
  assert.equal(r.stderr, 'Defaulted container "c\\x1b]0;pwned\\x07\\x1b[31m" out of: c\\x1b]0;pwned\\x07\\x1b[31m, d\npodshell: runtime says \\x1b]0;pwned\\x07\\x1b[31m\n');
});

test('exec -l: the [pod/container] prefixes and the summary are printed inert', async () => {
  const r = await podshell(['exec', '-l', 'app=x', '--', 'x']);
  assert.equal(r.code, 1);
  const label = '[p/c\\x1b]0;pwned\\x07\\x1b[31m] ';
  assert.equal(r.stdout.toString('latin1'), label + remoteOutput.toString('latin1'));
  assert.equal(r.stderr, `podshell: 1 of 1 pods failed:\n  p/c\\x1b]0;pwned\\x07\\x1b[31m: runtime says \\x1b]0;pwned\\x07\\x1b[31m\n`);
});

test('an API error: the server\'s message, a line break in it included, is one inert line', async () => {
  const r = await podshell(['exec', 'nope', '--', 'x']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'podshell: pods "nope" not found\\x1b]0;pwned\\x07\\x1b[31m\\nsecond line\n');
});

test('attach: the defaulted notice is printed inert', async () => {
  const r = await podshell(['attach', 'p']);
  assert.ok(!r.stderr.includes('\x1b') && !r.stderr.includes('\x07'), JSON.stringify(r.stderr));
  assert.match(r.stderr, /^Defaulted container "c\\x1b\]0;pwned\\x07\\x1b\[31m" out of: /);
  assert.deepEqual(r.stdout, remoteOutput);
});
