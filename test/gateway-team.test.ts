// The team path end to end through the real gateway: a config file's trusted-proxy sign-in and
// clusters, then every request as the signed-in person (prefixed impersonation) against the
// sandbox, whose RBAC honours it — a `dev` may exec in `default` and gets the API server's 403 in
// `restricted`; a cluster limited to `ops` is invisible to them.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startGateway, type Gateway } from '../src/gateway/server.ts';
import { validateTeamConfig } from '../src/gateway/team-config.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import { startWorldSandbox } from './helpers.ts';
import { StreamClient } from './gateway-stream-client.ts';
import WebSocket from 'ws';

const BINDINGS = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: team-dev, namespace: default }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: dev }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "team:dev" }]
`;

let work: string;
let sandbox: Sandbox;
let gateway: Gateway;

before(async () => {
  ({ sandbox, work } = await startWorldSandbox('podshell-team-', { bindings: BINDINGS }));
  const team = validateTeamConfig({
    signIn: { proxy: { userHeader: 'X-Forwarded-User', groupsHeader: 'X-Forwarded-Groups', trustedProxies: ['127.0.0.1'] } },
    secret: 'a-secret-of-at-least-thirty-two-bytes!!',
    identityPrefix: 'team:',
    clusters: [{ name: 'sandbox', context: 'podshell-sandbox' }, { name: 'ops-only', context: 'podshell-sandbox', groups: ['ops'] }],
    auditorGroups: ['auditors'],
  });
  mkdirSync(join(work, 'recordings'));
  gateway = await startGateway({ team, kubeconfig: sandbox.kubeconfigPath, logger: false, config: { recordingsDir: join(work, 'recordings') } });
});
after(async () => {
  await gateway?.close();
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A request as the trusted proxy sends it for a signed-in person. */
async function asPerson(path: string, init: RequestInit & { user?: string; groups?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('x-forwarded-user', init.user ?? 'erin');
  headers.set('x-forwarded-groups', init.groups ?? 'dev');
  headers.set('origin', gateway.url);
  if (init.method && init.method !== 'GET') {
    const me = (await (await fetch(`${gateway.url}/api/me`, { headers: { 'x-forwarded-user': init.user ?? 'erin', 'x-forwarded-groups': init.groups ?? 'dev' } })).json()) as { csrfToken: string };
    headers.set('x-csrf-token', me.csrfToken);
    headers.set('content-type', 'application/json');
  }
  return fetch(gateway.url + path, { ...init, headers });
}

test("the config's clusters: those of the person's groups only", async () => {
  const me = (await (await asPerson('/api/me')).json()) as { user: string; groups: string[] };
  assert.deepEqual({ user: me.user, groups: me.groups }, { user: 'erin', groups: ['dev'] });
  const clusters = (await (await asPerson('/api/clusters')).json()) as { clusters: { name: string }[] };
  assert.deepEqual(clusters.clusters.map((c) => c.name), ['sandbox']);
  assert.equal((await asPerson('/api/clusters/ops-only/namespaces/default/pods')).status, 404);
  const ops = (await (await asPerson('/api/clusters', { groups: 'ops' })).json()) as { clusters: { name: string }[] };
  assert.deepEqual(ops.clusters.map((c) => c.name).sort(), ['ops-only', 'sandbox']);
});

test('as the person: a shell in default runs; restricted answers the API server\'s 403 naming the prefixed user', async () => {
  const created = await asPerson('/api/sessions', { method: 'POST', body: JSON.stringify({ cluster: 'sandbox', namespace: 'default', pod: 'demo', command: ['sh', '-c', 'echo as-$((40+2))'] }) });
  assert.equal(created.status, 201, await created.clone().text());
  const { id } = (await created.json()) as { id: string };
  const socket = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}/api/sessions/${id}/stream`, { origin: gateway.url, headers: { 'x-forwarded-user': 'erin', 'x-forwarded-groups': 'dev' } });
  const c = new StreamClient(socket);
  await c.closed;
  assert.match(c.text(), /as-42/);

  // Its recording: for its owner and for the configured auditors, for nobody else.
  const own = await asPerson(`/api/sessions/${id}/recording`);
  assert.equal(own.status, 200);
  assert.match(await own.text(), /as-42/);
  const auditor = await asPerson(`/api/sessions/${id}/recording`, { user: 'ann', groups: 'auditors' });
  assert.equal(auditor.status, 200, 'an auditor reads anyone\'s recording');
  assert.match(await auditor.text(), /as-42/);
  assert.equal((await asPerson(`/api/sessions/${id}/recording`, { user: 'bob', groups: 'dev' })).status, 404, 'another person does not');

  const refused = await asPerson('/api/sessions', { method: 'POST', body: JSON.stringify({ cluster: 'sandbox', namespace: 'restricted', pod: 'vault', command: ['true'] }) });
  assert.equal(refused.status, 403);
  const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'ERR_FORBIDDEN');
  assert.match(error.message, /User "team:erin" cannot/);
});

test('a person claiming system:masters gets nothing from it: the API server sees team:system:masters', async () => {
  const res = await asPerson('/api/sessions', { method: 'POST', groups: 'system:masters', body: JSON.stringify({ cluster: 'sandbox', namespace: 'restricted', pod: 'vault', command: ['true'] }) });
  assert.equal(res.status, 403);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /User "team:erin" cannot/);
});
