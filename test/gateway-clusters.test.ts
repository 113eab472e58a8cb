// The gateway's clusters, namespaces and pods (docs/web.md, "Clusters, namespaces and pods"), over
// real sockets: against the sandbox, and against an API server of the test's own where the test
// must see every request the gateway makes (names that must never reach it, the watch protocol:
// resume, 410, long lines, the upstream watch closed when the client goes away).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import type { ClusterEntry, ClusterRegistry } from '../src/gateway/context.ts';
import { GatewayError } from '../src/gateway/errors.ts';
import { registerClusterRoutes, type ClusterRoutesOptions } from '../src/gateway/routes-clusters.ts';
import { Cluster } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { kubeconfigClusters, type GatewayTestClient } from './gateway-harness.ts';
import { startTestGateway } from './gateway-client.ts';

const CONTEXTS = ['podshell-sandbox', 'podshell-sandbox-dev', 'podshell-sandbox-viewer'];

let work: string;
let sandbox: Sandbox;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-gclus-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

/** Poll until `condition` holds; fail after a generous deadline. */
async function until(what: string, condition: () => boolean, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

function registry(entries: ClusterEntry[]): ClusterRegistry {
  return {
    list: () => entries,
    get: (name) => {
      const entry = entries.find((e) => e.name === name);
      if (!entry) throw new GatewayError('ERR_GATEWAY_UNKNOWN_CLUSTER', 404, `no cluster "${name}"`);
      return entry;
    },
  };
}

function entry(name: string, make: () => Cluster, namespace = 'default'): ClusterEntry {
  let handle: Cluster | undefined;
  return { name, server: '', namespace, current: false, cluster: () => (handle ??= make()) };
}

/** The real gateway (sign-in, Origin/Host/CSRF checks), with the cluster routes tuned for the test. */
async function gateway(clusters: ClusterRegistry, options: ClusterRoutesOptions = {}) {
  return startTestGateway({ clusters, routes: [(app, ctx) => registerClusterRoutes(app, ctx, options)] });
}

async function json(res: Response): Promise<any> {
  return JSON.parse(await res.text());
}

/** A server-sent event stream read as it arrives. */
interface EventStream {
  /** `data:` payloads, parsed, with their `event:` name (undefined for plain messages). */
  events: { event: string | undefined; data: any }[];
  /** Comment lines (`: ping`). */
  comments: string[];
  /** Resolves when the gateway ended the stream. */
  ended: Promise<void>;
  done: boolean;
  status: number;
  contentType: string | null;
  close(): void;
  /** Start reading (streams opened with `read: false`). */
  read(): Promise<void>;
}

/** Open a stream; it is read from the start unless `read: false`, then from `stream.read()` on. */
async function openStream(client: GatewayTestClient, path: string, opts: { read?: boolean } = {}): Promise<EventStream> {
  const control = new AbortController();
  const res = await client.fetch(path, { signal: control.signal, headers: { accept: 'text/event-stream' } });
  const stream: EventStream = { events: [], comments: [], done: false, status: res.status, contentType: res.headers.get('content-type'), ended: Promise.resolve(), close: () => control.abort(), read: () => Promise.resolve() };
  const reading = async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let blank: number;
        while ((blank = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, blank);
          buffer = buffer.slice(blank + 2);
          let event: string | undefined;
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) stream.comments.push(line);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
            else throw new Error(`unexpected line in the event stream: ${JSON.stringify(line)}`);
          }
          if (data.length) stream.events.push({ event, data: JSON.parse(data.join('\n')) });
        }
      }
    } catch (err) {
      if (!control.signal.aborted) throw err;
    } finally {
      stream.done = true;
    }
  };
  stream.read = () => (stream.ended = reading());
  if (opts.read !== false) stream.read();
  return stream;
}

describe('against the sandbox', () => {
  let client: Awaited<ReturnType<typeof gateway>>;
  before(async () => {
    client = await gateway(kubeconfigClusters(sandbox.kubeconfigPath, CONTEXTS), { pingIntervalMs: 200 });
  });
  after(() => client?.close());

  test('GET /api/clusters: every context, never a credential', async () => {
    const res = await client.fetch('/api/clusters');
    assert.equal(res.status, 200);
    const text = await res.text();
    const body = JSON.parse(text);
    assert.deepEqual(
      body.clusters.map((c: any) => c.name),
      CONTEXTS,
    );
    for (const c of body.clusters) assert.deepEqual(Object.keys(c).sort(), ['current', 'name', 'namespace', 'server']);
    assert.equal(body.clusters[0].current, true);
    // Every secret of the kubeconfig: tokens, client keys and certificates, in the file's base64
    // and decoded, and the sandbox's own record of them.
    const kubeconfig = parseYaml(sandbox.kubeconfig);
    const secrets: string[] = [];
    for (const { user } of kubeconfig.users) {
      for (const key of ['token', 'client-key-data', 'client-certificate-data']) {
        if (!user[key]) continue;
        secrets.push(user[key]);
        if (key !== 'token') secrets.push(...Buffer.from(user[key], 'base64').toString().split('\n').filter((l: string) => l.length > 40));
      }
    }
    for (const creds of Object.values(sandbox.users)) if (creds.token) secrets.push(creds.token);
    assert.ok(secrets.length >= 6, `the kubeconfig's secrets were found (${secrets.length})`);
    for (const secret of secrets) assert.ok(!text.includes(secret), 'a secret of the kubeconfig is in the answer');
  });

  test('namespaces of a cluster', async () => {
    for (const context of ['podshell-sandbox', 'podshell-sandbox-viewer']) {
      const res = await client.fetch(`/api/clusters/${context}/namespaces`);
      assert.equal(res.status, 200);
      const { namespaces } = await json(res);
      assert.ok(namespaces.includes('default') && namespaces.includes('restricted'), `${context}: ${namespaces}`);
    }
  });

  test('a user who may not list namespaces gets the context namespace alone', async () => {
    const nobody = await gateway(
      registry([entry('nobody', () => Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox', impersonate: { user: 'nobody' } }), 'team-a')]),
    );
    try {
      // Precondition: the cluster itself refuses this user the list.
      await assert.rejects(
        Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox', impersonate: { user: 'nobody' } }).client.request({ path: '/api/v1/namespaces' }),
        (err: any) => err.statusCode === 403,
      );
      const res = await nobody.fetch('/api/clusters/nobody/namespaces');
      assert.equal(res.status, 200);
      assert.deepEqual(await json(res), { namespaces: ['team-a'] });
    } finally {
      await nobody.close();
    }
  });

  test('pods of default: demo Running 1/1, web-* with two containers and app as default', async () => {
    const res = await client.fetch('/api/clusters/podshell-sandbox-viewer/namespaces/default/pods');
    assert.equal(res.status, 200);
    const { pods } = await json(res);
    const demo = pods.find((p: any) => p.name === 'demo');
    assert.ok(demo, 'demo is listed');
    assert.equal(demo.phase, 'Running');
    assert.equal(demo.ready, '1/1');
    assert.equal(demo.restarts, 0);
    assert.match(demo.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(
      demo.containers.map((c: any) => [c.name, c.ready, c.state]),
      [['main', true, 'running']],
    );
    assert.equal(typeof demo.containers[0].image, 'string');
    assert.equal(demo.defaultContainer, 'main');
    const webs = pods.filter((p: any) => p.name.startsWith('web-'));
    assert.ok(webs.length >= 1, 'web pods are listed');
    for (const web of webs) {
      assert.deepEqual(
        web.containers.map((c: any) => c.name),
        ['app', 'sidecar'],
      );
      assert.equal(web.ready, '2/2');
      assert.equal(web.defaultContainer, 'app');
    }
    assert.deepEqual(Object.keys(demo).sort(), ['containers', 'created', 'defaultContainer', 'name', 'phase', 'ready', 'restarts']);
  });

  test('a namespace that does not exist has no pods, as the API server answers', async () => {
    const res = await client.fetch('/api/clusters/podshell-sandbox/namespaces/nope/pods');
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { pods: [] });
  });

  test('one pod', async () => {
    const res = await client.fetch('/api/clusters/podshell-sandbox/namespaces/default/pods/demo');
    assert.equal(res.status, 200);
    const demo = await json(res);
    assert.equal(demo.name, 'demo');
    assert.equal(demo.ready, '1/1');
    const missing = await client.fetch('/api/clusters/podshell-sandbox/namespaces/default/pods/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(await json(missing), { error: { code: 'ERR_NOT_FOUND', message: 'pods "nope" not found', status: 404 } });
  });

  test("the cluster's refusal reaches the client as the API server wrote it", async () => {
    // What the API server says to dev about the pods of `restricted`, asked directly.
    const kubeconfig = parseYaml(sandbox.kubeconfig);
    const token = kubeconfig.users.find((u: any) => u.name === 'podshell-sandbox-dev').user.token;
    const direct = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(`${sandbox.url}/api/v1/namespaces/restricted/pods?limit=500`, { ca: sandbox.caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(direct.status, 403);
    const expected = JSON.parse(direct.body).message;
    assert.match(expected, /cannot list resource "pods"/);

    for (const path of ['/api/clusters/podshell-sandbox-dev/namespaces/restricted/pods', '/api/clusters/podshell-sandbox-dev/namespaces/restricted/pods?watch=1']) {
      const res = await client.fetch(path);
      assert.equal(res.status, 403, path);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(await json(res), { error: { code: 'ERR_FORBIDDEN', message: expected, status: 403 } });
    }
  });

  test('the watch stream: ADDED for every pod, then it stays open with pings', async () => {
    const listed = (await json(await client.fetch('/api/clusters/podshell-sandbox/namespaces/default/pods'))).pods;
    const stream = await openStream(client, '/api/clusters/podshell-sandbox/namespaces/default/pods?watch=1');
    try {
      assert.equal(stream.status, 200);
      assert.equal(stream.contentType, 'text/event-stream; charset=utf-8');
      await until('an event for every listed pod', () => stream.events.length >= listed.length);
      assert.deepEqual(
        stream.events.map((e) => [e.event, e.data.type, e.data.pod.name]),
        listed.map((p: any) => [undefined, 'ADDED', p.name]),
      );
      assert.deepEqual(stream.events.find((e) => e.data.pod.name === 'demo')!.data.pod, listed.find((p: any) => p.name === 'demo'));
      const before = stream.comments.length;
      await until('two pings after the pods', () => stream.comments.length >= before + 2);
      assert.ok(stream.comments.every((c) => c === ': ping'));
      assert.equal(stream.done, false, 'the stream stays open');
      // The sandbox's watch sent every pod again: none is repeated to the client.
      assert.equal(stream.events.length, listed.length);
    } finally {
      stream.close();
      await stream.ended;
    }
  });

  test('an unknown cluster is 404', async () => {
    for (const path of ['/api/clusters/nope/namespaces', '/api/clusters/nope/namespaces/default/pods', '/api/clusters/nope/namespaces/default/pods?watch=1', '/api/clusters/nope/namespaces/default/pods/demo']) {
      const res = await client.fetch(path);
      assert.equal(res.status, 404, path);
      assert.equal((await json(res)).error.code, 'ERR_GATEWAY_UNKNOWN_CLUSTER');
    }
  });
});

// An API server of the test's own: plain HTTP, every request recorded, pod lists and watches
// answered as the test says.
interface FakeApi {
  url: string;
  requests: { method: string; url: string }[];
  /** Open watch requests, in arrival order. */
  watches: { url: URL; res: ServerResponse; closed: boolean; at: number }[];
  /** End every watch as soon as it arrives. */
  endWatchesAtOnce: boolean;
  /** What a pod list answers. */
  list: { resourceVersion: string; pods: any[] };
  kubeconfigPath: string;
  close(): Promise<void>;
}

function fakePod(name: string, opts: { rv: string; phase?: string; ready?: boolean }): any {
  return {
    metadata: { name, namespace: 'ns', resourceVersion: opts.rv, creationTimestamp: '2026-11-30T23:36:31Z' },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
    status: { phase: opts.phase ?? 'Running', containerStatuses: [{ name: 'main', ready: opts.ready ?? true, restartCount: 0, state: { running: {} } }] },
  };
}

async function startFakeApi(): Promise<FakeApi> {
  const fake: FakeApi = { url: '', requests: [], watches: [], list: { resourceVersion: '10', pods: [] }, endWatchesAtOnce: false, kubeconfigPath: '', close: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    fake.requests.push({ method: req.method!, url: req.url! });
    const url = new URL(req.url!, 'http://fake');
    if (url.pathname !== '/api/v1/namespaces/ns/pods') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 }));
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      const watch = { url, res, closed: false, at: Date.now() };
      res.on('close', () => (watch.closed = true));
      fake.watches.push(watch);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      if (fake.endWatchesAtOnce) res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: fake.list.resourceVersion }, items: fake.list.pods }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  fake.kubeconfigPath = join(work, `fake-${Date.now()}-${Math.random().toString(16).slice(2)}.kubeconfig`);
  writeFileSync(
    fake.kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server: fake.url } }],
      users: [{ name: 'fake', user: { token: 'fake-token' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'ns' } }],
    }),
    { mode: 0o600 },
  );
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return fake;
}

const sendEvent = (watch: { res: ServerResponse }, type: string, object: unknown) => watch.res.write(`${JSON.stringify({ type, object })}\n`);

describe('against an API server of our own', () => {
  let fake: FakeApi;
  let client: Awaited<ReturnType<typeof gateway>>;
  before(async () => {
    fake = await startFakeApi();
    client = await gateway(kubeconfigClusters(fake.kubeconfigPath, ['fake']), { pingIntervalMs: 60_000, maxWatchLineBytes: 64 * 1024, minWatchMs: 50 });
  });
  after(async () => {
    // The server closes idle keep-alive connections itself (forceCloseConnections).
    await client?.close();
    await fake?.close();
  });

  test('names that are not Kubernetes names are refused before any request reaches the cluster', async () => {
    // Precondition: a good request does reach it, and is counted.
    fake.list = { resourceVersion: '1', pods: [] };
    const good = await client.fetch('/api/clusters/fake/namespaces/ns/pods');
    assert.equal(good.status, 200);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0]!.url, '/api/v1/namespaces/ns/pods?limit=500');

    const bad = [
      '/api/clusters/fake/namespaces/Bad_NS/pods',
      '/api/clusters/fake/namespaces/Bad_NS/pods?watch=1',
      '/api/clusters/fake/namespaces/..%2F..%2Fnodes/pods',
      '/api/clusters/fake/namespaces/ns%2F..%2F..%2Fnodes%2Fx%2Fproxy/pods',
      '/api/clusters/fake/namespaces/ns/pods/..%2F..%2Fnodes%2Fx%2Fproxy',
      '/api/clusters/fake/namespaces/ns/pods/a..b',
      '/api/clusters/fake/namespaces/ns/pods/demo%3Fwatch%3D1',
      '/api/clusters/fake/namespaces/ns/pods/Demo',
      `/api/clusters/fake/namespaces/${'a'.repeat(64)}/pods`,
    ];
    for (const path of bad) {
      const res = await client.fetch(path);
      assert.equal(res.status, 400, path);
      const body = await json(res);
      assert.equal(body.error.code, 'ERR_GATEWAY_BAD_NAME', path);
      assert.match(body.error.message, /^invalid (namespace|pod) name "/);
    }
    const traversal = await json(await client.fetch('/api/clusters/fake/namespaces/ns/pods/..%2F..%2Fnodes%2Fx%2Fproxy'));
    assert.equal(traversal.error.message.split(':')[0], 'invalid pod name "../../nodes/x/proxy"');
    assert.equal(fake.requests.length, 1, `no more requests reached the API server: ${JSON.stringify(fake.requests.slice(1))}`);
  });

  test('the watch: changes, resume after a normal end, a new list after 410, the upstream closed when the client leaves', async () => {
    fake.requests = [];
    fake.watches = [];
    fake.list = { resourceVersion: '10', pods: [fakePod('a', { rv: '8' }), fakePod('b', { rv: '9' })] };
    const stream = await openStream(client, '/api/clusters/fake/namespaces/ns/pods?watch=1');
    try {
      await until('the watch reached the API server', () => fake.watches.length === 1);
      let watch = fake.watches[0]!;
      assert.equal(watch.url.searchParams.get('resourceVersion'), '10');
      assert.equal(watch.url.searchParams.get('allowWatchBookmarks'), 'true');
      await until('ADDED a and b', () => stream.events.length === 2);
      assert.deepEqual(
        stream.events.map((e) => [e.data.type, e.data.pod.name]),
        [
          ['ADDED', 'a'],
          ['ADDED', 'b'],
        ],
      );

      sendEvent(watch, 'MODIFIED', fakePod('a', { rv: '11', ready: false }));
      // A change the summary does not show is not sent: the next event is b's deletion.
      sendEvent(watch, 'MODIFIED', fakePod('a', { rv: '12', ready: false }));
      sendEvent(watch, 'DELETED', fakePod('b', { rv: '13' }));
      sendEvent(watch, 'ADDED', fakePod('c', { rv: '14', phase: 'Pending', ready: false }));
      sendEvent(watch, 'BOOKMARK', { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '15' } });
      await until('three more events', () => stream.events.length === 5);
      assert.deepEqual(
        stream.events.slice(2).map((e) => [e.data.type, e.data.pod.name, e.data.pod.ready]),
        [
          ['MODIFIED', 'a', '0/1'],
          ['DELETED', 'b', '1/1'],
          ['ADDED', 'c', '0/1'],
        ],
      );

      // The server ends the watch normally: the gateway resumes from the last resourceVersion.
      watch.res.end();
      await until('a second watch', () => fake.watches.length === 2);
      watch = fake.watches[1]!;
      assert.equal(watch.url.searchParams.get('resourceVersion'), '15');
      assert.equal(fake.requests.filter((r) => !r.url.includes('watch=')).length, 1, 'no new list for a resume');

      // Too old: the gateway lists again and tells the client what changed meanwhile.
      fake.list = { resourceVersion: '30', pods: [fakePod('a', { rv: '12', ready: false }), fakePod('d', { rv: '29' })] };
      sendEvent(watch, 'ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 15 (25)', reason: 'Expired', code: 410 });
      await until('a third watch', () => fake.watches.length === 3);
      assert.equal(fake.watches[2]!.url.searchParams.get('resourceVersion'), '30');
      await until('the changes of the new list', () => stream.events.length === 7);
      assert.deepEqual(
        stream.events.slice(5).map((e) => [e.data.type, e.data.pod.name]),
        [
          ['ADDED', 'd'],
          ['DELETED', 'c'],
        ],
      );
      assert.equal(stream.done, false);
      assert.equal(fake.watches[2]!.closed, false, 'precondition: the upstream watch is open');
    } finally {
      stream.close();
    }
    await until('the upstream watch is closed', () => fake.watches[2]!.closed);
    assert.ok(fake.watches.every((w) => w.closed));
  });

  test('a server that ends every watch at once is not asked in a loop', async () => {
    const own = await gateway(kubeconfigClusters(fake.kubeconfigPath, ['fake']), { minWatchMs: 300 });
    fake.watches = [];
    fake.list = { resourceVersion: '10', pods: [] };
    fake.endWatchesAtOnce = true;
    const stream = await openStream(own, '/api/clusters/fake/namespaces/ns/pods?watch=1');
    try {
      await until('four watches', () => fake.watches.length >= 4);
      const gaps = fake.watches.slice(1).map((w, i) => w.at - fake.watches[i]!.at);
      assert.ok(
        gaps.every((gap) => gap >= 280),
        `at least 300 ms between watches: ${gaps}`,
      );
      assert.equal(stream.done, false);
    } finally {
      fake.endWatchesAtOnce = false;
      stream.close();
      await own.close();
    }
  });

  test('a watch line longer than the limit ends the stream with ERR_BAD_RESPONSE, and the upstream watch', async () => {
    fake.watches = [];
    fake.list = { resourceVersion: '10', pods: [fakePod('a', { rv: '8' })] };
    const stream = await openStream(client, '/api/clusters/fake/namespaces/ns/pods?watch=1');
    try {
      await until('the watch reached the API server', () => fake.watches.length === 1 && stream.events.length === 1);
      const watch = fake.watches[0]!;
      // 100 KiB without a newline, in pieces, over a 64 KiB limit.
      for (let i = 0; i < 10; i++) watch.res.write('x'.repeat(10 * 1024));
      await stream.ended;
      const last = stream.events.at(-1)!;
      assert.equal(last.event, 'error');
      assert.equal(last.data.error.code, 'ERR_BAD_RESPONSE');
      assert.match(last.data.error.message, /is longer than 65536 bytes/);
      await until('the upstream watch is closed', () => watch.closed);
    } finally {
      stream.close();
    }
  });

  test('a watch event that is not JSON ends the stream with ERR_BAD_RESPONSE', async () => {
    fake.watches = [];
    const stream = await openStream(client, '/api/clusters/fake/namespaces/ns/pods?watch=1');
    try {
      await until('the watch reached the API server', () => fake.watches.length === 1);
      fake.watches[0]!.res.write('<html>proxy error</html>\n');
      await stream.ended;
      assert.deepEqual(stream.events.at(-1)!.event, 'error');
      assert.equal(stream.events.at(-1)!.data.error.code, 'ERR_BAD_RESPONSE');
    } finally {
      stream.close();
    }
  });

  test('a client that does not read stops the gateway reading the watch: the events wait at the API server', async (t) => {
    fake.watches = [];
    fake.list = { resourceVersion: '10', pods: [] };
    const stream = await openStream(client, '/api/clusters/fake/namespaces/ns/pods?watch=1', { read: false });
    try {
      await until('the watch reached the API server', () => fake.watches.length === 1);
      const watch = fake.watches[0]!;
      const padding = 'x'.repeat(16 * 1024);
      let written = 0;
      let events = 0;
      // Bytes that left the API server's buffers: taken by the connection toward the gateway.
      const flushed = () => written - watch.res.writableLength;
      // Each event changes the pod's summary (its image), so each one is for the client. Write
      // until nothing more leaves for a second; a gateway that read without bound would take
      // everything, up to the cap.
      const cap = 256 * 1024 * 1024;
      let last = -1;
      let quietSince = Date.now();
      while (Date.now() - quietSince < 1_000) {
        assert.ok(written < cap, `the gateway took ${flushed()} bytes from a watch its client does not read`);
        if (watch.res.writableLength < 4 * 1024 * 1024) {
          const pod = fakePod('p', { rv: String(100 + events) });
          pod.spec.containers[0].image = `${events}-${padding}`;
          const line = `${JSON.stringify({ type: 'MODIFIED', object: pod })}\n`;
          watch.res.write(line);
          written += line.length;
          events++;
          continue;
        }
        if (flushed() !== last) {
          last = flushed();
          quietSince = Date.now();
        }
        await sleep(20);
      }
      t.diagnostic(`wrote ${written} bytes (${events} events); ${flushed()} left the API server, ${watch.res.writableLength} wait there`);
      assert.ok(watch.res.writableLength >= 4 * 1024 * 1024, 'precondition: events wait at the API server');
      assert.ok(flushed() < 64 * 1024 * 1024, `at most 64 MiB in flight between the API server and the client, found ${flushed()}`);

      // The client reads: every event arrives, in order, and the API server's buffer drains.
      void stream.read();
      await until('every event reached the client', () => stream.events.length === events, 60_000);
      assert.deepEqual(
        stream.events.map((e) => `${e.data.type} ${e.data.pod.containers[0].image.split('-')[0]}`),
        Array.from({ length: events }, (_, i) => `${i === 0 ? 'ADDED' : 'MODIFIED'} ${i}`),
      );
      assert.equal(watch.res.writableLength, 0);
    } finally {
      stream.close();
    }
  });

  test('closing the gateway ends open watch streams', async () => {
    const own = await gateway(kubeconfigClusters(fake.kubeconfigPath, ['fake']));
    fake.watches = [];
    const stream = await openStream(own, '/api/clusters/fake/namespaces/ns/pods?watch=1');
    await until('the watch reached the API server', () => fake.watches.length === 1);
    assert.equal(stream.done, false);
    const started = Date.now();
    await own.close();
    await stream.ended;
    assert.ok(Date.now() - started < 10_000, 'closed promptly');
    await until('the upstream watch is closed', () => fake.watches[0]!.closed);
  });
});
