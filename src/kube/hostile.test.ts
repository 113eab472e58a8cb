// KubeClient against servers that misbehave, written here: answers of the wrong shape, answers
// too large to hold, answers that never come, and header values HTTP cannot carry.

import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PodshellError } from '../protocol/errors.ts';
import { ConfigError, KubeClient, MAX_RESPONSE_BYTES } from './index.ts';
import { tempDir, writeYaml } from '../../test/fixtures/kube/helpers.ts';

interface Hostile {
  url: string;
  /** Request paths, in order. */
  hits: string[];
  close(): Promise<void>;
}

/** A plain-HTTP server on 127.0.0.1 answering every request with `handler`. */
async function startHostile(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Hostile> {
  const hits: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let tmp: ReturnType<typeof tempDir>;
let n = 0;

before(() => {
  tmp = tempDir();
});

after(() => tmp.remove());

function clientOf(server: Hostile, opts: { requestTimeoutMs?: number; impersonate?: { user: string } } = {}): KubeClient {
  const path = writeYaml(join(tmp.dir, `hostile-${++n}.yaml`), {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: server.url } }],
    users: [{ name: 'test', user: { token: 'admin-token' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: 'default' } }],
  });
  return KubeClient.fromKubeconfig({ path, ...opts });
}

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const goodPod = { kind: 'Pod', metadata: { name: 'demo', namespace: 'default' }, spec: { containers: [{ name: 'main' }] }, status: { phase: 'Running' } };

test('answers of the wrong shape are ERR_BAD_RESPONSE, never a TypeError', async (t) => {
  let body = '';
  const server = await startHostile((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(body));
  t.after(() => server.close());
  const client = clientOf(server);
  const podCases: [string, RegExp][] = [
    ['{}', /^expected a Pod in the answer to GET \/api\/v1\/namespaces\/default\/pods\/demo, got an object without metadata\.name: \{\}$/],
    ['[]', /^expected a Pod in the answer to GET \/api\/v1\/namespaces\/default\/pods\/demo, got \[\]$/],
    ['null', /^expected a Pod in the answer to GET .*, got null$/],
    ['"x"', /^expected a Pod in the answer to GET .*, got "x"$/],
    ['', /^expected a Pod in the answer to GET .*, got an empty answer$/],
    ['{"kind":"Pod"}', /^expected a Pod .*, got an object without metadata\.name/],
    ['{"kind":"Pod","metadata":{"name":"demo"}}', /^expected a Pod .*, got an object without spec\.containers: \{"kind":"Pod","metadata":\{"name":"demo"\}\}$/],
    ['{"kind":"Pod","metadata":{"name":"demo"},"spec":{"containers":{}}}', /^expected a Pod .*, got an object without spec\.containers/],
    ['{"kind":"Pod","metadata":{"name":"demo","annotations":[]},"spec":{"containers":[{"name":"a"}]}}', /metadata\.annotations is not an object/],
  ];
  for (const [text, message] of podCases) {
    body = text;
    await assert.rejects(client.getPod('default', 'demo'), (err: unknown) => {
      assert.ok(err instanceof PodshellError, `${text}: ${String(err)}`);
      assert.equal(err.code, 'ERR_BAD_RESPONSE', text);
      assert.match(err.message, message, text);
      return true;
    });
    // The same through target resolution, as every session resolves its pod.
    await assert.rejects(client.resolveTargets('demo'), (err: unknown) => err instanceof PodshellError && err.code === 'ERR_BAD_RESPONSE', text);
  }
  const listCases: [string, RegExp][] = [
    ['{}', /^$/],
    ['[]', /^expected a PodList in the answer to GET \/api\/v1\/namespaces\/default\/pods, got \[\]$/],
    ['null', /got null$/],
    ['{"items":{}}', /^expected a PodList .*, got items that are not a list: \{\}$/],
    ['{"items":"x"}', /got items that are not a list: "x"$/],
    ['{"items":[{}]}', /got an item that is not a Pod: an object without metadata\.name/],
    ['{"items":[],"metadata":{"continue":7}}', /metadata\.continue that is not a string: 7$/],
  ];
  for (const [text, message] of listCases) {
    body = text;
    if (text === '{}') {
      // No items at all is an empty list, as the API server writes one.
      assert.deepEqual(await client.listPods('default'), []);
      continue;
    }
    await assert.rejects(client.listPods('default'), (err: unknown) => {
      assert.ok(err instanceof PodshellError, `${text}: ${String(err)}`);
      assert.equal(err.code, 'ERR_BAD_RESPONSE', text);
      assert.match(err.message, message, text);
      return true;
    });
  }
  for (const text of ['[]', 'null', '"x"', '{"spec":[]}', '{"spec":{"selector":"app=web"}}']) {
    body = text;
    await assert.rejects(client.resolveTargets('deploy/web'), (err: unknown) => {
      assert.ok(err instanceof PodshellError, `${text}: ${String(err)}`);
      assert.equal(err.code, 'ERR_BAD_RESPONSE', text);
      assert.match(err.message, /^expected a Deployment in the answer to GET \/apis\/apps\/v1\/namespaces\/default\/deployments\/web, got /, text);
      return true;
    });
  }
  body = JSON.stringify(goodPod);
  assert.equal((await client.getPod('default', 'demo')).metadata.name, 'demo');
});

test('an answer larger than 64 MiB is refused and its connection closed', async (t) => {
  // Bytes the server handed to its socket (with backpressure: at most a chunk or two ahead of
  // what the kernel took).
  let written = 0;
  let serverSocketClosed = false;
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  const server = await startHostile((_req, res) => {
    res.socket!.on('close', () => (serverSocketClosed = true));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const prefix = '{"items":["';
    res.write(prefix);
    written += prefix.length;
    // Endless, at the pace the client reads; stops at 4x the limit so that a client that reads
    // it all still ends.
    const pump = () => {
      while (!res.destroyed && written < 4 * MAX_RESPONSE_BYTES) {
        const ok = res.write(chunk);
        written += chunk.length;
        if (!ok) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end('"]}');
    };
    pump();
  });
  t.after(() => server.close());
  assert.equal(MAX_RESPONSE_BYTES, 64 * 1024 * 1024);
  await assert.rejects(clientOf(server).listPods('default'), (err: unknown) => {
    assert.ok(err instanceof PodshellError, String(err));
    assert.equal(err.code, 'ERR_BAD_RESPONSE');
    assert.equal(err.message, 'the answer to GET /api/v1/namespaces/default/pods?limit=500 from ' + server.url + ' is larger than 64 MiB, the most podshell reads; narrow the request (e.g. a label selector)');
    return true;
  });
  // The server really sent more than the limit, and the client hung up long before the end.
  await until('the client to close the connection', () => serverSocketClosed);
  assert.ok(written > MAX_RESPONSE_BYTES, `the server wrote ${written} bytes`);
  assert.ok(written < 4 * MAX_RESPONSE_BYTES, `the server wrote ${written} bytes: the whole answer`);
});

test('requestTimeoutMs governs every REST call: a pod GET that is never answered is ERR_TIMEOUT', async (t) => {
  const server = await startHostile(() => {
    // never answers
  });
  t.after(() => server.close());
  const client = clientOf(server, { requestTimeoutMs: 300 });
  assert.equal(client.requestTimeoutMs, 300);
  assert.equal((await client.connectOptions()).requestTimeoutMs, 300);
  const started = Date.now();
  await assert.rejects(client.getPod('default', 'demo'), (err: unknown) => {
    assert.ok(err instanceof PodshellError, String(err));
    assert.equal(err.code, 'ERR_TIMEOUT');
    assert.equal(err.message, `GET /api/v1/namespaces/default/pods/demo at ${server.url} timed out after 300 ms`);
    return true;
  });
  // The request reached the server (so the time went waiting for its answer), and it was the
  // 300 ms, not the 30 s default, that ended it.
  assert.deepEqual(server.hits, ['/api/v1/namespaces/default/pods/demo']);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 290 && elapsed < 15_000, `${elapsed} ms`);
  // The same for resolution through a workload.
  await assert.rejects(client.resolveTargets('deploy/web'), (err: unknown) => err instanceof PodshellError && err.code === 'ERR_TIMEOUT');
  assert.throws(() => clientOf(server, { requestTimeoutMs: -1 }), (err: unknown) => err instanceof PodshellError && err.code === 'ERR_USAGE');
});

test('requestTimeoutMs 0 means no limit: only the caller ends the request', async (t) => {
  const server = await startHostile(() => {});
  t.after(() => server.close());
  const client = clientOf(server, { requestTimeoutMs: 0 });
  const controller = new AbortController();
  const reason = new Error('stop');
  const pending = client.getPod('default', 'demo', controller.signal);
  await until('the request to reach the server', () => server.hits.length === 1);
  controller.abort(reason);
  await assert.rejects(pending, (err) => err === reason);
});

test('an impersonated user with a line break is ERR_KUBECONFIG naming the header and the value', async (t) => {
  const server = await startHostile((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(goodPod)));
  t.after(() => server.close());
  const client = clientOf(server, { impersonate: { user: 'bad\nuser' } });
  const expected = (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'ERR_KUBECONFIG');
    assert.equal(err.message, 'invalid value for the Impersonate-User header: "bad\\nuser"; HTTP headers do not allow line breaks or other control characters');
    return true;
  };
  await assert.rejects(client.getPod('default', 'demo'), expected);
  await assert.rejects(client.connectOptions(), expected);
  assert.deepEqual(server.hits, []);
});

test('a token with a line break is ERR_CREDENTIALS, and the message does not show it', async (t) => {
  const server = await startHostile((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(goodPod)));
  t.after(() => server.close());
  const path = writeYaml(join(tmp.dir, 'bad-token.yaml'), {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: server.url } }],
    users: [{ name: 'test', user: { token: 'secret\ntoken' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: 'default' } }],
  });
  await assert.rejects(KubeClient.fromKubeconfig({ path }).getPod('default', 'demo'), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'ERR_CREDENTIALS');
    assert.equal(err.message, 'the credentials of user "test" cannot be sent: the Authorization header value holds characters HTTP headers do not allow (a line break or another control character)');
    return true;
  });
  assert.deepEqual(server.hits, []);
});
