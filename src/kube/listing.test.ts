import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from './client.ts';
import { ApiStatusError } from './errors.ts';
import { listNamespaceNames, listPodsAt, watchPods, type PodWatchEvent } from './listing.ts';

// An API server of the test's own over plain HTTP; `handle` answers each request.
let server: Server;
let handle: (req: IncomingMessage, res: ServerResponse) => void;
let client: KubeClient;
let dir: string;
const open = new Set<ServerResponse>();

before(async () => {
  server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dir = mkdtempSync(join(tmpdir(), 'podshell-listing-'));
  const path = join(dir, 'kubeconfig');
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [{ name: 'c', cluster: { server: url } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    }),
    { mode: 0o600 },
  );
  client = KubeClient.fromKubeconfig({ path });
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string, rv: string) => ({ metadata: { name, resourceVersion: rv }, spec: { containers: [{ name: 'main' }] } });

/** Answer a watch with these pieces of bytes, each written after the previous one left. */
function serveWatch(pieces: (string | Buffer)[], end = true): void {
  handle = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    void (async () => {
      for (const piece of pieces) {
        res.write(piece);
        await sleep(2);
      }
      if (end) res.end();
    })();
  };
}

async function collect(opts: Parameters<typeof watchPods>[2] = {}): Promise<PodWatchEvent[]> {
  const out: PodWatchEvent[] = [];
  for await (const event of watchPods(client, 'ns', opts)) out.push(event);
  return out;
}

const line = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;

describe('watchPods', () => {
  test('sends the watch request with the resourceVersion to resume from', async () => {
    let url = '';
    handle = (req, res) => {
      url = req.url!;
      res.writeHead(200).end();
    };
    assert.deepEqual(await collect({ resourceVersion: '42' }), []);
    assert.equal(url, '/api/v1/namespaces/ns/pods?watch=true&allowWatchBookmarks=true&resourceVersion=42');
  });

  test('lines split anywhere, several in one piece, a character split between pieces, a last line without a newline', async () => {
    const a = line('ADDED', pod('a', '1'));
    const b = line('MODIFIED', { ...pod('b', '2'), metadata: { name: 'b', resourceVersion: '2', annotations: { note: 'ü€' } } });
    const bBytes = Buffer.from(b);
    const euro = bBytes.indexOf(Buffer.from('€'));
    const c = line('DELETED', pod('c', '3'));
    const bookmark = line('BOOKMARK', { kind: 'Pod', metadata: { resourceVersion: '4' } }).trimEnd();
    serveWatch([...a.slice(0, 10).split(''), a.slice(10), bBytes.subarray(0, euro + 1), bBytes.subarray(euro + 1), '\n', c + bookmark]);
    const events = await collect();
    assert.deepEqual(
      events.map((e) => [e.type, e.type === 'BOOKMARK' ? '' : e.pod.metadata.name, e.resourceVersion]),
      [
        ['ADDED', 'a', '1'],
        ['MODIFIED', 'b', '2'],
        ['DELETED', 'c', '3'],
        ['BOOKMARK', '', '4'],
      ],
    );
    assert.equal((events[1] as { pod: { metadata: { annotations: Record<string, string> } } }).pod.metadata.annotations['note'], 'ü€');
  });

  test('a line longer than the limit: ERR_BAD_RESPONSE, within a piece and across pieces', async () => {
    for (const pieces of [[`${'x'.repeat(2000)}\n`], ['x'.repeat(600), 'x'.repeat(600)]]) {
      serveWatch(pieces, false);
      await assert.rejects(collect({ maxLineBytes: 1000 }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_BAD_RESPONSE');
        assert.match(err.message, /^a line of the answer to GET \/api\/v1\/namespaces\/ns\/pods\?watch=true.* is longer than 1000 bytes, the most podshell reads$/);
        return true;
      });
    }
    await waitClosed();
  });

  test('a line of exactly the limit passes, one byte more does not', async () => {
    const a = line('ADDED', pod('a', '1'));
    serveWatch([a]);
    assert.equal((await collect({ maxLineBytes: a.length - 1 })).length, 1);
    serveWatch([a]);
    await assert.rejects(collect({ maxLineBytes: a.length - 2 }), (err: Error & { code?: string }) => err.code === 'ERR_BAD_RESPONSE');
  });

  test('an answer that is not a watch event, or of an unknown type: ERR_BAD_RESPONSE', async () => {
    for (const [text, message] of [
      ['<html>bad gateway</html>\n', /^expected a watch event in the answer to .*, found: <html>bad gateway<\/html>$/],
      ['{"type":"ADDED"}\n', /^expected a watch event/],
      [line('ADDED', { metadata: {} }), /^expected a Pod in the answer to GET/],
      [line('SURPRISE', pod('a', '1')), /^unknown watch event type "SURPRISE"/],
    ] as const) {
      serveWatch([text], false);
      await assert.rejects(collect(), (err: Error & { code?: string }) => err.code === 'ERR_BAD_RESPONSE' && message.test(err.message));
    }
    await waitClosed();
  });

  test('an ERROR event is thrown as the Status it carries', async () => {
    serveWatch([line('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version: 1 (5)', reason: 'Expired', code: 410 })], false);
    await assert.rejects(collect(), (err: unknown) => err instanceof ApiStatusError && err.statusCode === 410 && err.message === 'too old resource version: 1 (5)');
    await waitClosed();
  });

  test('a refusal is an ApiStatusError with the server sentence', async () => {
    handle = (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'pods is forbidden: User "u" cannot watch resource "pods"', reason: 'Forbidden', code: 403 }));
    };
    await assert.rejects(collect(), (err: unknown) => err instanceof ApiStatusError && err.code === 'ERR_FORBIDDEN' && err.message === 'pods is forbidden: User "u" cannot watch resource "pods"');
  });

  test('a server that does not answer: ERR_TIMEOUT, and the request is closed', async () => {
    handle = () => {};
    await assert.rejects(collect({ connectTimeoutMs: 200 }), (err: Error & { code?: string }) => err.code === 'ERR_TIMEOUT' && /did not answer in 200 ms$/.test(err.message));
    await waitClosed();
  });

  test('aborting ends the iteration with the reason, and closes the request', async () => {
    serveWatch([line('ADDED', pod('a', '1'))], false);
    const control = new AbortController();
    const reason = new Error('enough');
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of watchPods(client, 'ns', { signal: control.signal })) {
          seen.push(event.type);
          control.abort(reason);
        }
      })(),
      (err) => err === reason,
    );
    assert.deepEqual(seen, ['ADDED']);
    await waitClosed();
  });
});

describe('lists', () => {
  test('listPodsAt: every page, the first page resourceVersion', async () => {
    const urls: string[] = [];
    handle = (req, res) => {
      urls.push(req.url!);
      const second = req.url!.includes('continue=');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(second ? { metadata: { resourceVersion: '8' }, items: [pod('b', '6')] } : { metadata: { resourceVersion: '7', continue: 'next' }, items: [pod('a', '5')] }));
    };
    const listing = await listPodsAt(client, 'ns');
    assert.deepEqual(
      listing.pods.map((p) => p.metadata.name),
      ['a', 'b'],
    );
    assert.equal(listing.resourceVersion, '7');
    assert.deepEqual(urls, ['/api/v1/namespaces/ns/pods?limit=500', '/api/v1/namespaces/ns/pods?limit=500&continue=next']);
  });

  test('listNamespaceNames: the names, and ERR_BAD_RESPONSE for what is not a list', async () => {
    handle = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [{ metadata: { name: 'default' } }, { metadata: { name: 'kube-system' } }] }));
    assert.deepEqual(await listNamespaceNames(client), ['default', 'kube-system']);
    handle = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [{ metadata: {} }] }));
    await assert.rejects(listNamespaceNames(client), (err: Error & { code?: string }) => err.code === 'ERR_BAD_RESPONSE' && /an item without metadata\.name/.test(err.message));
  });
});

/** Every request the server got has been closed (by the client). */
async function waitClosed(): Promise<void> {
  const end = Date.now() + 30_000;
  while (open.size > 0) {
    if (Date.now() > end) throw new Error(`${open.size} requests still open`);
    await sleep(10);
  }
}
