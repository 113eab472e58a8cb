// Acting as the signed-in user (docs/web.md, "Acting as the user"): every request the gateway makes
// for a principal with a user goes with the cluster's credentials plus impersonation of the
// prefixed user and groups. Against the sandbox, whose RBAC honours impersonation (a few bindings
// for `podshell:`-prefixed groups added to the built-in world), and against an API server of the
// test's own that records every header the gateway sends.

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configuredClusters, KubeconfigClusters } from '../src/gateway/clusters.ts';
import type { ClusterRegistry, GatewayConfig } from '../src/gateway/context.ts';
import { Identities } from '../src/gateway/identity.ts';
import { registerClusterRoutes } from '../src/gateway/routes-clusters.ts';
import { registerFileRoutes } from '../src/gateway/routes-files.ts';
import { registerSessionRoutes } from '../src/gateway/routes-sessions.ts';
import { SessionManager } from '../src/gateway/sessions.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import { startWorldSandbox } from './helpers.ts';
import { noMetrics, startHarness, testDefaults } from './gateway-harness.ts';

// Bindings for identities as the gateway names them (prefix `podshell:`), beside the built-in world.
const BINDINGS = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: podshell-dev, namespace: default }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: dev }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:dev" }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: podshell-viewer }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:viewer" }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: podshell-namespaces }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: namespace-reader }
subjects:
  - { apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:dev" }
  - { apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:viewer" }
---
# get on pods/exec without create: enough for a WebSocket exec before Kubernetes 1.35.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: exec-get-only, namespace: default }
rules:
  - { apiGroups: [""], resources: [pods], verbs: [get, list, watch] }
  - { apiGroups: [""], resources: [pods/exec], verbs: [get] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: podshell-getonly, namespace: default }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: exec-get-only }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:getonly" }]
`;

const ADMIN = 'podshell-sandbox';
let work: string;
let sandbox: Sandbox;

before(async () => {
  ({ sandbox, work } = await startWorldSandbox('podshell-gimp-', { bindings: BINDINGS }));
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

async function gateway(clusters: ClusterRegistry, config: Record<string, unknown> = {}) {
  const fullConfig = { ...testDefaults, ...config } as GatewayConfig;
  const manager = new SessionManager({ config: fullConfig, clusters, metrics: noMetrics, shellReadyMs: 0 });
  return startHarness({
    clusters,
    config: fullConfig,
    sessions: manager,
    register: (app, ctx) => {
      registerClusterRoutes(app, ctx);
      registerFileRoutes(app, ctx);
      registerSessionRoutes(app, ctx, manager);
    },
  });
}

function as(user: string, groups: string[], more: Record<string, string> = {}): Record<string, string> {
  return { 'x-test-user': user, 'x-test-groups': groups.join(','), ...more };
}

async function answer(res: Response): Promise<{ status: number; body: any }> {
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const session = (namespace: string, pod: string) => ({ cluster: ADMIN, namespace, pod, command: ['sh', '-c', 'sleep 30'], tty: false });
const post = (body: unknown, headers: Record<string, string>) => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
const hostname = (namespace: string, pod: string) => `/api/clusters/${ADMIN}/namespaces/${namespace}/pods/${pod}/file?path=/etc/hostname`;

describe('against the sandbox, as the signed-in user', () => {
  test('a user in group dev execs in default; in restricted the API server refuses, in its words', async (t) => {
    const gw = await gateway(new KubeconfigClusters(sandbox.kubeconfigPath));
    t.after(() => gw.close());
    const dev = as('alice', ['dev']);

    // Bytes out of the pod, through an exec made as podshell:alice.
    const file = await gw.fetch(hostname('default', 'demo'), { headers: dev });
    assert.equal(file.status, 200);
    assert.equal(await file.text(), 'demo\n');
    const created = await answer(await gw.fetch('/api/sessions', post(session('default', 'demo'), dev)));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await gw.fetch(`/api/sessions/${created.body.id}`, { method: 'DELETE', headers: dev })).status, 204);

    const refused = await answer(await gw.fetch('/api/sessions', post(session('restricted', 'vault'), dev)));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'ERR_FORBIDDEN');
    assert.equal(refused.body.error.message, 'pods "vault" is forbidden: User "podshell:alice" cannot create resource "pods/exec" in API group "" in the namespace "restricted"');
    const pods = await answer(await gw.fetch(`/api/clusters/${ADMIN}/namespaces/restricted/pods`, { headers: dev }));
    assert.equal(pods.status, 403);
    assert.match(pods.body.error.message, /User "podshell:alice" cannot list resource "pods" in API group "" in the namespace "restricted"/);
    // Watches too: refused in restricted before any stream; in default, the pods as events.
    const refusedWatch = await answer(await gw.fetch(`/api/clusters/${ADMIN}/namespaces/restricted/pods?watch=1`, { headers: dev }));
    assert.equal(refusedWatch.status, 403);
    assert.match(refusedWatch.body.error.message, /User "podshell:alice" cannot list resource "pods"/);
    const control = new AbortController();
    const watch = await gw.fetch(`/api/clusters/${ADMIN}/namespaces/default/pods?watch=1`, { headers: dev, signal: control.signal });
    assert.equal(watch.status, 200);
    const reader = watch.body!.getReader();
    let events = '';
    const deadline = Date.now() + 20_000;
    while (!events.includes('"name":"demo"') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      events += Buffer.from(value).toString();
    }
    control.abort();
    assert.match(events, /data: \{"type":"ADDED","pod":\{"name":"demo"/);
    const file2 = await answer(await gw.fetch(hostname('restricted', 'vault'), { headers: dev }));
    assert.equal(file2.status, 403);
    assert.equal(file2.body.error.code, 'ERR_FORBIDDEN');

    // The one-time-token sign-in (no user) keeps the kubeconfig's own credentials: admin.
    const own = await gw.fetch(hostname('restricted', 'vault'));
    assert.equal(own.status, 200);
    assert.equal(await own.text(), 'vault\n');
  });

  test('a viewer sees pods everywhere but cannot exec', async (t) => {
    const gw = await gateway(new KubeconfigClusters(sandbox.kubeconfigPath));
    t.after(() => gw.close());
    const viewer = as('vic', ['viewer']);
    const pods = await answer(await gw.fetch(`/api/clusters/${ADMIN}/namespaces/restricted/pods`, { headers: viewer }));
    assert.equal(pods.status, 200);
    assert.deepEqual(pods.body.pods.map((p: { name: string }) => p.name), ['vault']);
    const refused = await answer(await gw.fetch('/api/sessions', post(session('default', 'demo'), viewer)));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.message, 'pods "demo" is forbidden: User "podshell:vic" cannot create resource "pods/exec" in API group "" in the namespace "default"');
    // Someone in no group at all sees only the context's namespace and no pods.
    const nobody = as('nina', []);
    assert.deepEqual((await answer(await gw.fetch(`/api/clusters/${ADMIN}/namespaces`, { headers: nobody }))).body, { namespaces: ['default'] });
    assert.equal((await gw.fetch(`/api/clusters/${ADMIN}/namespaces/default/pods`, { headers: nobody })).status, 403);
    const admin = await answer(await gw.fetch(`/api/clusters/${ADMIN}/namespaces`));
    assert.ok(admin.body.namespaces.includes('restricted'), JSON.stringify(admin.body));
  });

  test('group system:masters is prefixed and grants nothing; unprefixed, the gateway refuses it', async (t) => {
    const gw = await gateway(new KubeconfigClusters(sandbox.kubeconfigPath));
    t.after(() => gw.close());
    const claim = as('mallory', ['system:masters']);
    const refused = await answer(await gw.fetch('/api/sessions', post(session('restricted', 'vault'), claim)));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'ERR_FORBIDDEN');
    assert.equal((await gw.fetch(`/api/clusters/${ADMIN}/namespaces/restricted/pods`, { headers: claim })).status, 403);

    const bare = await gateway(new KubeconfigClusters(sandbox.kubeconfigPath), { identityPrefix: '' });
    t.after(() => bare.close());
    for (const [path, init] of [
      ['/api/sessions', post(session('restricted', 'vault'), claim)],
      [`/api/clusters/${ADMIN}/namespaces/restricted/pods`, { headers: claim }],
      [hostname('restricted', 'vault'), { headers: claim }],
      [`/api/clusters/${ADMIN}/namespaces/restricted/pods`, { headers: as('system:admin', []) }],
    ] as const) {
      const res = await answer(await bare.fetch(path, init));
      assert.equal(res.status, 403, path);
      assert.equal(res.body.error.code, 'ERR_GATEWAY_IDENTITY', path);
    }
    assert.throws(() => new Identities(new KubeconfigClusters(sandbox.kubeconfigPath), { prefix: 'system:x-' }), { code: 'ERR_GATEWAY_IDENTITY' });
  });

  test("a client's Impersonate-* headers change nothing", async (t) => {
    const gw = await gateway(new KubeconfigClusters(sandbox.kubeconfigPath));
    t.after(() => gw.close());
    const dev = as('alice', ['dev'], { 'impersonate-user': 'admin', 'impersonate-group': 'system:masters' });
    const refused = await answer(await gw.fetch('/api/sessions', post(session('restricted', 'vault'), dev)));
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /User "podshell:alice"/);
    assert.equal((await gw.fetch(`/api/clusters/${ADMIN}/namespaces/restricted/pods`, { headers: dev })).status, 403);
  });

  test("a user with only get on pods/exec is refused by the gateway's access review", async (t) => {
    const gw = await gateway(new KubeconfigClusters(sandbox.kubeconfigPath));
    t.after(() => gw.close());
    const getOnly = as('gus', ['getonly']);
    const pods = await answer(await gw.fetch(`/api/clusters/${ADMIN}/namespaces/default/pods`, { headers: getOnly }));
    assert.equal(pods.status, 200);
    const refused = await answer(await gw.fetch('/api/sessions', post(session('default', 'demo'), getOnly)));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.message, 'pods "demo" is forbidden: User "podshell:gus" cannot create resource "pods/exec" in API group "" in the namespace "default"');
  });

  test('a cluster open to group ops is invisible to a dev user, everywhere', async (t) => {
    const clusters = configuredClusters(
      [
        { name: 'team', context: ADMIN },
        { name: 'ops-only', context: ADMIN, groups: ['ops'] },
      ],
      sandbox.kubeconfigPath,
    );
    const gw = await gateway(clusters);
    t.after(() => gw.close());
    const dev = as('alice', ['dev']);
    const names = async (headers: Record<string, string>) => (await answer(await gw.fetch('/api/clusters', { headers }))).body.clusters.map((c: { name: string }) => c.name);
    assert.deepEqual(await names(dev), ['team']);
    assert.deepEqual(await names(as('olga', ['ops', 'dev'])), ['team', 'ops-only']);
    for (const [path, init] of [
      ['/api/clusters/ops-only/namespaces', { headers: dev }],
      ['/api/clusters/ops-only/namespaces/default/pods', { headers: dev }],
      ['/api/clusters/ops-only/namespaces/default/pods/demo', { headers: dev }],
      ['/api/clusters/ops-only/namespaces/default/pods/demo/file?path=/etc/hostname', { headers: dev }],
      ['/api/sessions', post({ ...session('default', 'demo'), cluster: 'ops-only' }, dev)],
    ] as const) {
      const res = await answer(await gw.fetch(path, init));
      assert.equal(res.status, 404, path);
      assert.equal(res.body.error.code, 'ERR_GATEWAY_UNKNOWN_CLUSTER', path);
    }
    const seen = await gw.fetch('/api/clusters/ops-only/namespaces/default/pods/demo/file?path=/etc/hostname', { headers: as('olga', ['ops', 'dev']) });
    assert.equal(seen.status, 200);
    assert.equal(await seen.text(), 'demo\n');

    assert.throws(() => configuredClusters([{ name: 'x', context: 'no-such' }], sandbox.kubeconfigPath), { code: 'ERR_GATEWAY_CONFIG', message: /clusters\[0\]: the kubeconfig has no context "no-such"/ });
    assert.throws(() => configuredClusters([{ name: 'a/b', context: ADMIN }], sandbox.kubeconfigPath), { code: 'ERR_GATEWAY_CONFIG' });
    assert.throws(() => configuredClusters([{ name: 'a', context: ADMIN }, { name: 'a', context: ADMIN }], sandbox.kubeconfigPath), { code: 'ERR_GATEWAY_CONFIG', message: /given twice/ });
  });
});

/** An API server of the test's own that records the headers of every request. */
async function recordingApi(allow: boolean) {
  const seen: { method: string; path: string; headers: IncomingHttpHeaders }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method!, path: req.url!, headers: req.headers });
    res.setHeader('content-type', 'application/json');
    if (req.url!.startsWith('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')) {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', status: { allowed: allow, reason: allow ? '' : 'the test says no' } })));
      return;
    }
    if (req.url!.startsWith('/api/v1/namespaces/ns/pods/p')) {
      res.end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p', namespace: 'ns' }, spec: { containers: [{ name: 'main' }] }, status: { phase: 'Running' } }));
      return;
    }
    res.end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'ns' } }] }));
  });
  // An exec: recorded and refused.
  server.on('upgrade', (req, socket) => {
    seen.push({ method: req.method!, path: req.url!, headers: req.headers });
    const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'no exec here', reason: 'Forbidden', code: 403 });
    socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const kubeconfigPath = join(work, `recording-${allow}.kubeconfig`);
  writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'rec',
      clusters: [{ name: 'rec', cluster: { server: url } }],
      users: [{ name: 'rec', user: { token: 'rec-token' } }],
      contexts: [{ name: 'rec', context: { cluster: 'rec', user: 'rec', namespace: 'ns' } }],
    }),
    { mode: 0o600 },
  );
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return { seen, kubeconfigPath, close };
}

const impersonation = (h: IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('impersonate-')));

describe('what the API server is sent', () => {
  test('the prefixed identity and the session id; never the client’s Impersonate-* headers', async (t) => {
    const api = await recordingApi(true);
    t.after(() => api.close());
    const gw = await gateway(new KubeconfigClusters(api.kubeconfigPath));
    t.after(() => gw.close());
    const headers = as('alice', ['dev', 'system:masters'], { 'impersonate-user': 'admin', 'impersonate-group': 'system:masters', 'impersonate-extra-scopes': 'all' });

    assert.equal((await gw.fetch('/api/clusters/rec/namespaces', { headers })).status, 200);
    const listing = api.seen.find((r) => r.path.startsWith('/api/v1/namespaces'))!;
    assert.deepEqual(impersonation(listing.headers), { 'impersonate-user': 'podshell:alice', 'impersonate-group': 'podshell:dev, podshell:system:masters' });
    assert.equal(listing.headers.authorization, 'Bearer rec-token');

    const created = await answer(await gw.fetch('/api/sessions', post({ cluster: 'rec', namespace: 'ns', pod: 'p', command: ['true'] }, headers)));
    assert.equal(created.status, 403, JSON.stringify(created.body)); // the exec was refused by this API server
    const review = api.seen.find((r) => r.method === 'POST')!;
    assert.equal(impersonation(review.headers)['impersonate-user'], 'podshell:alice');
    const exec = api.seen.find((r) => r.path.includes('/exec'))!;
    assert.ok(exec, 'the exec reached the API server once the review allowed it');
    const sent = impersonation(exec.headers);
    assert.equal(sent['impersonate-user'], 'podshell:alice');
    assert.equal(sent['impersonate-group'], 'podshell:dev, podshell:system:masters');
    assert.match(String(sent['impersonate-extra-podshell.dev%2fsession']), /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(Object.keys(sent).sort(), ['impersonate-extra-podshell.dev%2fsession', 'impersonate-group', 'impersonate-user']);

    // The one-time-token sign-in: no impersonation at all, whatever the client sent.
    api.seen.length = 0;
    assert.equal((await gw.fetch('/api/clusters/rec/namespaces', { headers: { 'impersonate-user': 'admin' } })).status, 200);
    assert.deepEqual(impersonation(api.seen[0]!.headers), {});
  });

  test('a review that says no: refused before any exec reaches the API server', async (t) => {
    const api = await recordingApi(false);
    t.after(() => api.close());
    const gw = await gateway(new KubeconfigClusters(api.kubeconfigPath));
    t.after(() => gw.close());
    const created = await answer(await gw.fetch('/api/sessions', post({ cluster: 'rec', namespace: 'ns', pod: 'p', command: ['true'] }, as('alice', ['dev']))));
    assert.equal(created.status, 403);
    assert.deepEqual(created.body.error, { code: 'ERR_FORBIDDEN', status: 403, message: 'pods "p" is forbidden: User "podshell:alice" cannot create resource "pods/exec" in API group "" in the namespace "ns": the test says no' });
    assert.equal(api.seen.filter((r) => r.method === 'POST').length, 1, 'the review was asked');
    assert.equal(api.seen.filter((r) => r.path.includes('/exec')).length, 0, 'no exec reached the API server');
  });

  test('library clients per identity are kept within a bound', async () => {
    const api = await recordingApi(true);
    try {
      const clusters = new KubeconfigClusters(api.kubeconfigPath);
      const identities = new Identities(clusters, { cacheSize: 4 });
      const entry = clusters.get('rec');
      const first = identities.cluster(entry, { id: 'a', csrfToken: '', user: 'u0', groups: [] });
      assert.equal(identities.cluster(entry, { id: 'b', csrfToken: '', user: 'u0', groups: [] }), first, 'the same identity shares a client');
      for (let i = 1; i < 1000; i++) identities.cluster(entry, { id: String(i), csrfToken: '', user: `u${i}`, groups: [] });
      assert.equal(identities.cached, 4);
      assert.notEqual(identities.cluster(entry, { id: 'a', csrfToken: '', user: 'u0', groups: [] }), first, 'the least recently used was dropped');
      assert.equal(identities.cluster(entry, { id: 'x', csrfToken: '' }), entry.cluster(), 'no user: the entry’s own client');
      // An entry that cannot impersonate is refused for a user rather than used with its own rights.
      const plain = { name: 'plain', server: '', namespace: 'default', current: false, cluster: () => entry.cluster() };
      assert.throws(() => identities.cluster(plain, { id: 'a', csrfToken: '', user: 'u0', groups: [] }), { code: 'ERR_GATEWAY_IDENTITY', message: 'cluster "plain" cannot act as a signed-in user' });
    } finally {
      await api.close();
    }
  });
});
