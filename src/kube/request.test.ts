// KubeClient.request(): answers, errors, aborts, timeouts and redirects, over real sockets.

import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PodshellError } from '../protocol/errors.ts';
import { createPki } from '../sandbox/pki.ts';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { ApiStatusError, ConnectError, KubeClient, apiStatusError } from './index.ts';
import { b64, oneContextKubeconfig, startRedirectServer, tempDir, writeYaml } from '../../test/fixtures/kube/helpers.ts';

let sandbox: Sandbox;
let admin: KubeClient;
let dev: KubeClient;
let tmp: ReturnType<typeof tempDir>;

before(async () => {
  sandbox = await startSandbox();
  tmp = tempDir();
  admin = KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath });
  dev = KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox-dev' });
});

after(async () => {
  await sandbox.close();
  tmp.remove();
});

const watchPods = { path: '/api/v1/namespaces/default/pods', query: { watch: 'true' } };

test('GET returns the parsed JSON; getPod and listPods', async () => {
  const pod = await admin.getPod('default', 'demo');
  assert.equal(pod.metadata.name, 'demo');
  assert.deepEqual(pod.spec.containers.map((c) => c.name), ['main']);
  const web = await admin.listPods('default', { labelSelector: 'app=web' });
  assert.equal(web.length, 3);
  const demo = await admin.listPods('default', { fieldSelector: 'metadata.name=demo' });
  assert.deepEqual(demo.map((p) => p.metadata.name), ['demo']);
  const all = await admin.listPods('');
  assert.ok(all.some((p) => p.metadata.namespace === 'restricted' && p.metadata.name === 'vault'));
});

test('POST sends a JSON body: SelfSubjectAccessReview', async () => {
  const review = (namespace: string) => ({
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { namespace, verb: 'create', resource: 'pods', subresource: 'exec', name: 'demo' } },
  });
  const path = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
  const inDefault = await dev.request<{ status: { allowed: boolean } }>({ method: 'POST', path, body: review('default') });
  assert.equal(inDefault.status.allowed, true);
  const inRestricted = await dev.request<{ status: { allowed: boolean } }>({ method: 'POST', path, body: review('restricted') });
  assert.equal(inRestricted.status.allowed, false);
});

test('404 is ApiStatusError ERR_NOT_FOUND with the server\'s message and Status', async () => {
  await assert.rejects(admin.getPod('default', 'nope'), (err: unknown) => {
    assert.ok(err instanceof ApiStatusError);
    assert.equal(err.code, 'ERR_NOT_FOUND');
    assert.equal(err.statusCode, 404);
    assert.equal(err.message, 'pods "nope" not found');
    assert.equal(err.status?.reason, 'NotFound');
    assert.deepEqual(err.status?.details, { name: 'nope', kind: 'pods' });
    return true;
  });
});

test('a plain-text error body is kept and quoted in the message', async () => {
  await assert.rejects(admin.request({ path: '/no/such/path' }), (err: unknown) => {
    assert.ok(err instanceof ApiStatusError);
    assert.equal(err.message, '404 Not Found: 404 page not found');
    assert.equal(err.status, undefined);
    assert.equal(err.body, '404 page not found\n');
    return true;
  });
});

test('apiStatusError maps statuses to codes and messages', () => {
  const status = (code: number, message: string) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code });
  const cases: [number, string, string, string][] = [
    [400, status(400, 'container nope is not valid for pod web-1'), 'ERR_BAD_REQUEST', 'container nope is not valid for pod web-1'],
    [401, status(401, 'Unauthorized'), 'ERR_UNAUTHORIZED', 'Unauthorized'],
    [403, '', 'ERR_FORBIDDEN', '403 Forbidden'],
    [404, 'pod does not exist', 'ERR_NOT_FOUND', '404 Not Found: pod does not exist'],
    [429, '', 'ERR_TOO_MANY_REQUESTS', '429 Too Many Requests'],
    [500, 'container not found ("app")', 'ERR_SERVER', '500 Internal Server Error: container not found ("app")'],
    [503, '<html>\n<body>down</body>\n</html>', 'ERR_SERVER', '503 Service Unavailable: <html> <body>down</body> </html>'],
    [302, 'Found', 'ERR_API_STATUS', '302 Found: Found'],
    [422, status(422, 'x is invalid'), 'ERR_API_STATUS', 'x is invalid'],
    [599, '', 'ERR_SERVER', 'HTTP status 599'],
  ];
  for (const [code, body, errCode, message] of cases) {
    const err = apiStatusError(code, body);
    assert.equal(err.code, errCode, `${code}`);
    assert.equal(err.message, message, `${code}`);
    assert.equal(err.statusCode, code);
  }
  assert.equal(apiStatusError(500, 'x'.repeat(100_000)).body.length, 65536);
});

test('an aborted signal rejects with its reason, before or during the request', async () => {
  const reason = new Error('stop');
  await assert.rejects(admin.request({ ...watchPods, signal: AbortSignal.abort(reason) }), (err) => err === reason);
  const controller = new AbortController();
  const pending = admin.request({ ...watchPods, signal: controller.signal });
  setTimeout(() => controller.abort(reason), 100);
  await assert.rejects(pending, (err) => err === reason);
  // A default abort() reason is the AbortError DOMException.
  const c2 = new AbortController();
  const p2 = admin.getPod('default', 'demo', c2.signal);
  c2.abort();
  await assert.rejects(p2, (err: unknown) => (err as Error).name === 'AbortError');
});

test('timeoutMs ends a request with ERR_TIMEOUT', async () => {
  await assert.rejects(admin.request({ ...watchPods, timeoutMs: 150 }), (err: unknown) => {
    assert.ok(err instanceof PodshellError);
    assert.equal(err.code, 'ERR_TIMEOUT');
    assert.equal(err.message, `GET /api/v1/namespaces/default/pods?watch=true at ${sandbox.url} timed out after 150 ms`);
    return true;
  });
});

test('redirects are not followed', async () => {
  const pki = await createPki();
  const server = await startRedirectServer(pki.server);
  try {
    const path = writeYaml(join(tmp.dir, 'redirect.yaml'), oneContextKubeconfig(sandbox, { token: 'admin-token' }, { server: server.url, 'certificate-authority-data': b64(pki.ca.certPem) }));
    const client = KubeClient.fromKubeconfig({ path });
    await assert.rejects(client.getPod('default', 'demo'), (err: unknown) => err instanceof ApiStatusError && err.statusCode === 302 && err.code === 'ERR_API_STATUS');
    assert.deepEqual(server.hits, ['/api/v1/namespaces/default/pods/demo']);
  } finally {
    await server.close();
  }
});

test('a server nobody listens on is a ConnectError naming it', async () => {
  const free = net.createServer();
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => free.close(() => resolve()));
  const path = writeYaml(join(tmp.dir, 'refused.yaml'), oneContextKubeconfig(sandbox, { token: 'admin-token' }, { server: `https://127.0.0.1:${port}` }));
  await assert.rejects(KubeClient.fromKubeconfig({ path }).getPod('default', 'demo'), (err: unknown) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, 'ERR_CONNECT');
    assert.equal(err.message, `cannot reach the API server at https://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    return true;
  });
});

test('a server URL with a path prefix keeps it in every request URL', () => {
  const path = writeYaml(join(tmp.dir, 'prefix.yaml'), oneContextKubeconfig(sandbox, { token: 'admin-token' }, { server: `${sandbox.url}/k8s/clusters/c-1/` }));
  const client = KubeClient.fromKubeconfig({ path });
  assert.equal(client.server, `${sandbox.url}/k8s/clusters/c-1`);
  assert.equal(client.url('/api/v1/pods', { labelSelector: 'a in (b,c)', x: ['1', '2'], y: undefined }).href, `${sandbox.url}/k8s/clusters/c-1/api/v1/pods?labelSelector=a+in+%28b%2Cc%29&x=1&x=2`);
});
