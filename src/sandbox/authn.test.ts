import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { Authenticator, BEARER_PROTOCOL_PREFIX, parseProtocolToken, splitProtocolToken } from './authn.ts';
import { ApiError } from './errors.ts';
import { createPki } from './pki.ts';
import type { CertPair, Pki } from './pki.ts';
import { RbacAuthorizer, bootstrapPolicy } from './rbac.ts';
import type { Role, RoleBinding, SandboxUser, UserInfo } from './types.ts';

function sandboxUser(name: string, spec: SandboxUser['spec']): SandboxUser {
  return { apiVersion: 'sandbox.podshell.dev/v1', kind: 'SandboxUser', metadata: { name }, spec };
}

const users = [
  sandboxUser('dev', { tokens: ['dev-token', 'dev-token-2'], groups: ['developers'], uid: 'uid-dev' }),
  sandboxUser('root', { tokens: ['root-token'], groups: ['system:masters'] }),
  sandboxUser('plain', { tokens: ['plain-token'] }),
];

const bootstrap = bootstrapPolicy();
const clusterRoles: Role[] = [
  ...bootstrap.clusterRoles,
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'impersonator' },
    rules: [
      { verbs: ['impersonate'], apiGroups: [''], resources: ['users'], resourceNames: ['alice', 'system:anonymous'] },
      { verbs: ['impersonate'], apiGroups: [''], resources: ['groups'], resourceNames: ['qa', 'ops'] },
      { verbs: ['impersonate'], apiGroups: ['authentication.k8s.io'], resources: ['userextras/scopes'] },
      { verbs: ['impersonate'], apiGroups: ['authentication.k8s.io'], resources: ['uids'], resourceNames: ['uid-alice'] },
    ],
  },
];
const clusterRoleBindings: RoleBinding[] = [
  ...bootstrap.clusterRoleBindings,
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'dev-impersonates' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'impersonator' },
    subjects: [{ kind: 'User', name: 'dev' }],
  },
];
const roleBindings: RoleBinding[] = [
  {
    // edit includes `impersonate serviceaccounts`, here only in namespace team
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'dev-edits-team', namespace: 'team' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ kind: 'Group', name: 'developers' }],
  },
];
const authorizer = new RbacAuthorizer({
  roles: () => [],
  clusterRoles: () => clusterRoles,
  roleBindings: () => roleBindings,
  clusterRoleBindings: () => clusterRoleBindings,
});

interface Sandbox {
  pki: Pki;
  port: number;
}

interface Reply {
  status: number;
  body: { user?: UserInfo; protocol?: string; authorization?: string } & Record<string, unknown>;
}

/** An https server that answers with the authenticated (and impersonated) user, or the ApiError. */
async function startSandbox(t: TestContext, opts: { anonymous?: boolean } = {}): Promise<Sandbox> {
  const pki = await createPki();
  const authn = new Authenticator({ users: () => users, ...opts });
  const whoami = (req: IncomingMessage): { status: number; body: unknown } => {
    try {
      const user = authn.impersonate(req, authn.authenticate(req), authorizer);
      return {
        status: 200,
        body: { user, protocol: req.headers['sec-websocket-protocol'], authorization: req.headers.authorization },
      };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return { status: err.code, body: err.body };
    }
  };
  const server = createServer(
    { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const { status, body } = whoami(req);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    },
  );
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    const { status, body } = whoami(req);
    if (status !== 200) {
      const json = JSON.stringify(body);
      socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify(body), () => ws.close()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
    wss.close();
  });
  return { pki, port: (server.address() as AddressInfo).port };
}

function get(sb: Sandbox, opts: { headers?: OutgoingHttpHeaders; client?: CertPair } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: sb.port,
        path: '/api/v1/namespaces/default/pods',
        ca: sb.pki.ca.certPem,
        agent: false,
        headers: opts.headers,
        ...(opts.client ? { cert: opts.client.certPem, key: opts.client.keyPem } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Open a WebSocket offering `protocols`; resolves with the negotiated protocol and the server's message, or the HTTP error. */
function openWebSocket(
  sb: Sandbox,
  protocols: string[],
  headers: Record<string, string> = {},
): Promise<{ protocol: string; body: Reply['body'] } | { status: number; body: Reply['body'] }> {
  return new Promise((resolve, reject) => {
    const url = `wss://127.0.0.1:${sb.port}/api/v1/namespaces/default/pods/web/exec`;
    const ws = new WebSocket(url, protocols, { ca: sb.pki.ca.certPem, headers });
    ws.once('message', (data) => resolve({ protocol: ws.protocol, body: JSON.parse(String(data)) }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    ws.once('error', reject);
  });
}

const bearerProtocol = (token: string) => BEARER_PROTOCOL_PREFIX + Buffer.from(token).toString('base64url');

const UNAUTHORIZED = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };

describe('Authenticator.authenticate', async () => {
  test('x509 client certificate: CN is the user, O the groups, plus system:authenticated', async (t) => {
    const sb = await startSandbox(t);
    const client = await sb.pki.issueClientCert({ user: 'alice', groups: ['dev', 'ops'] });
    const fingerprint = new X509Certificate(client.certPem).fingerprint256.replaceAll(':', '').toLowerCase();
    const reply = await get(sb, { client });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.user, {
      name: 'alice',
      groups: ['dev', 'ops', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/credential-id': [`X509SHA256=${fingerprint}`] },
    });
  });

  test('x509: a single group, and none', async (t) => {
    const sb = await startSandbox(t);
    const one = await get(sb, { client: await sb.pki.issueClientCert({ user: 'bob', groups: ['system:masters'] }) });
    assert.deepEqual(one.body.user?.groups, ['system:masters', 'system:authenticated']);
    const none = await get(sb, { client: await sb.pki.issueClientCert({ user: 'carol', groups: [] }) });
    assert.deepEqual(none.body.user?.groups, ['system:authenticated']);
  });

  test('x509 takes precedence over a bearer token', async (t) => {
    const sb = await startSandbox(t);
    const client = await sb.pki.issueClientCert({ user: 'alice', groups: [] });
    const reply = await get(sb, { client, headers: { authorization: 'Bearer dev-token' } });
    assert.equal(reply.body.user?.name, 'alice');
    assert.equal(reply.body.authorization, 'Bearer dev-token', 'an unused token stays on the request');
  });

  test('an untrusted client certificate: 401, unless a valid token follows', async (t) => {
    const sb = await startSandbox(t);
    const stranger = await (await createPki()).issueClientCert({ user: 'mallory', groups: ['system:masters'] });
    assert.deepEqual(await get(sb, { client: stranger }), { status: 401, body: UNAUTHORIZED });
    const withToken = await get(sb, { client: stranger, headers: { authorization: 'Bearer dev-token' } });
    assert.equal(withToken.body.user?.name, 'dev');
  });

  test('a server certificate (no clientAuth) is not a client credential', async (t) => {
    const sb = await startSandbox(t);
    assert.deepEqual(await get(sb, { client: sb.pki.server }), { status: 401, body: UNAUTHORIZED });
  });

  test('bearer token: the SandboxUser, its uid and groups; the header is consumed', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { authorization: 'Bearer dev-token-2' } });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.user, { name: 'dev', uid: 'uid-dev', groups: ['developers', 'system:authenticated'] });
    assert.equal(reply.body.authorization, undefined);
  });

  test('bearer token: scheme is case-insensitive; text after a second space is ignored', async (t) => {
    const sb = await startSandbox(t);
    assert.equal((await get(sb, { headers: { authorization: 'bearer plain-token' } })).body.user?.name, 'plain');
    assert.equal((await get(sb, { headers: { authorization: '  BEARER plain-token trailing' } })).body.user?.name, 'plain');
    assert.deepEqual((await get(sb, { headers: { authorization: 'Bearer plain-token' } })).body.user?.groups, ['system:authenticated']);
  });

  test('system:masters from a token is kept', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { authorization: 'Bearer root-token' } });
    assert.deepEqual(reply.body.user, { name: 'root', groups: ['system:masters', 'system:authenticated'] });
  });

  test('an invalid token: 401 Status', async (t) => {
    const sb = await startSandbox(t);
    assert.deepEqual(await get(sb, { headers: { authorization: 'Bearer nope' } }), { status: 401, body: UNAUTHORIZED });
  });

  test('no credentials: 401 Status', async (t) => {
    const sb = await startSandbox(t);
    assert.deepEqual(await get(sb), { status: 401, body: UNAUTHORIZED });
    // Not a bearer credential at all, and an empty token (two spaces): no credentials.
    assert.deepEqual(await get(sb, { headers: { authorization: 'Basic ZGV2OmRldg==' } }), { status: 401, body: UNAUTHORIZED });
    assert.deepEqual(await get(sb, { headers: { authorization: 'Bearer  dev-token' } }), { status: 401, body: UNAUTHORIZED });
  });

  test('anonymous: no credentials become system:anonymous; bad ones stay 401', async (t) => {
    const sb = await startSandbox(t, { anonymous: true });
    assert.deepEqual((await get(sb)).body.user, { name: 'system:anonymous', groups: ['system:unauthenticated'] });
    assert.deepEqual((await get(sb, { headers: { authorization: 'Basic eDp5' } })).body.user?.name, 'system:anonymous');
    assert.deepEqual(await get(sb, { headers: { authorization: 'Bearer nope' } }), { status: 401, body: UNAUTHORIZED });
    const stranger = await (await createPki()).issueClientCert({ user: 'mallory', groups: [] });
    assert.deepEqual(await get(sb, { client: stranger }), { status: 401, body: UNAUTHORIZED });
  });

  test('WebSocket token subprotocol: authenticates and is removed before negotiation', async (t) => {
    const sb = await startSandbox(t);
    const reply = await openWebSocket(sb, ['v5.channel.k8s.io', bearerProtocol('dev-token'), 'v4.channel.k8s.io']);
    assert.ok('protocol' in reply);
    assert.equal(reply.protocol, 'v5.channel.k8s.io');
    assert.equal(reply.body.user?.name, 'dev');
    assert.equal(reply.body.protocol, 'v5.channel.k8s.io,v4.channel.k8s.io');
  });

  test('WebSocket: an Authorization header wins over the subprotocol, which then stays', async (t) => {
    const sb = await startSandbox(t);
    const reply = await openWebSocket(sb, ['v5.channel.k8s.io', bearerProtocol('dev-token')], { authorization: 'Bearer plain-token' });
    assert.ok('protocol' in reply);
    assert.equal(reply.body.user?.name, 'plain');
    assert.equal(reply.body.protocol, `v5.channel.k8s.io,${bearerProtocol('dev-token')}`);
  });

  const badProtocols: [string, string[]][] = [
    ['a token as the only subprotocol', [bearerProtocol('dev-token')]],
    ['two token subprotocols', ['v5.channel.k8s.io', bearerProtocol('dev-token'), bearerProtocol('plain-token')]],
    ['an unknown token', ['v5.channel.k8s.io', bearerProtocol('nope')]],
    ['standard-alphabet base64', ['v5.channel.k8s.io', `${BEARER_PROTOCOL_PREFIX}ZGV2+XRva2Vu`]],
    ['not UTF-8', ['v5.channel.k8s.io', `${BEARER_PROTOCOL_PREFIX}_w`]],
  ];
  for (const [name, protocols] of badProtocols) {
    test(`WebSocket: ${name} → 401`, async (t) => {
      const sb = await startSandbox(t);
      assert.deepEqual(await openWebSocket(sb, protocols), { status: 401, body: UNAUTHORIZED });
    });
  }

  test('the token subprotocol counts only on WebSocket upgrade requests', async (t) => {
    const sb = await startSandbox(t);
    const header = `v5.channel.k8s.io, ${bearerProtocol('dev-token')}`;
    assert.deepEqual(await get(sb, { headers: { 'sec-websocket-protocol': header } }), { status: 401, body: UNAUTHORIZED });
    // `Upgrade: websocket` without `Connection: upgrade` is not a WebSocket request either.
    const noConnectionUpgrade = await get(sb, { headers: { 'sec-websocket-protocol': header, upgrade: 'websocket', connection: 'keep-alive' } });
    assert.deepEqual(noConnectionUpgrade, { status: 401, body: UNAUTHORIZED });
  });
});

describe('parseProtocolToken and splitProtocolToken', () => {
  const ok: [string, { token?: string; rest: string }][] = [
    ['v5.channel.k8s.io', { rest: 'v5.channel.k8s.io' }],
    ['', { rest: '' }],
    [`v5.channel.k8s.io, ${bearerProtocol('tok')}`, { token: 'tok', rest: 'v5.channel.k8s.io' }],
    [`${bearerProtocol('tok')},a , b`, { token: 'tok', rest: 'a,b' }],
    [`a,${bearerProtocol('sécret/+=')}`, { token: 'sécret/+=', rest: 'a' }],
    // An empty token is no token (and needs no companion protocol).
    [BEARER_PROTOCOL_PREFIX, { rest: '' }],
  ];
  for (const [header, want] of ok) {
    test(`accepts ${JSON.stringify(header)}`, () => {
      assert.deepEqual(parseProtocolToken(header), want);
      assert.deepEqual(splitProtocolToken(header), want);
    });
  }

  const bad: [string, string, string][] = [
    [bearerProtocol('tok'), 'missing additional subprotocol', ''],
    [`a,${bearerProtocol('x')},${bearerProtocol('y')}`, 'multiple base64.bearer.authorization tokens specified', 'a'],
    [`a,${BEARER_PROTOCOL_PREFIX}dG9r=`, 'invalid base64.bearer.authorization token encoding', 'a'],
    [`a,${BEARER_PROTOCOL_PREFIX}dG9r+`, 'invalid base64.bearer.authorization token encoding', 'a'],
    [`a,${BEARER_PROTOCOL_PREFIX}dG9rA`, 'invalid base64.bearer.authorization token encoding', 'a'],
    [`a,${BEARER_PROTOCOL_PREFIX}_w, b`, 'invalid base64.bearer.authorization token', 'a,b'],
  ];
  for (const [header, message, rest] of bad) {
    test(`rejects ${JSON.stringify(header)}: ${message}`, () => {
      assert.throws(() => parseProtocolToken(header), { message });
      assert.deepEqual(splitProtocolToken(header), { rest }, 'splitProtocolToken only strips');
    });
  }
});

describe('Authenticator.impersonate', async () => {
  const dev = { authorization: 'Bearer dev-token' };
  const forbiddenBody = (message: string, details: Record<string, string>) => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: 'Forbidden',
    details,
    code: 403,
  });
  const badRequestBody = (message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'BadRequest', code: 400 });

  test('no impersonation headers: the user unchanged', async (t) => {
    const sb = await startSandbox(t);
    const authn = new Authenticator({ users: () => users });
    const user: UserInfo = { name: 'x', groups: [] };
    const fakeReq = { headersDistinct: {} } as IncomingMessage;
    assert.equal(authn.impersonate(fakeReq, user, authorizer), user);
    assert.equal((await get(sb, { headers: dev })).body.user?.name, 'dev');
  });

  test('Impersonate-User allowed: that user, with system:authenticated only', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { ...dev, 'impersonate-user': 'alice' } });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.user, { name: 'alice', groups: ['system:authenticated'] });
  });

  test('Impersonate-User denied: 403 with the exact kube message', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { ...dev, 'impersonate-user': 'bob' } });
    assert.deepEqual(reply, {
      status: 403,
      body: forbiddenBody('users "bob" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope', {
        name: 'bob',
        kind: 'users',
      }),
    });
  });

  test('Impersonate-Group (repeated): each group checked; the given groups replace the real ones', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { ...dev, 'impersonate-user': 'alice', 'impersonate-group': ['qa', 'ops'] } });
    assert.deepEqual(reply.body.user, { name: 'alice', groups: ['qa', 'ops', 'system:authenticated'] });

    const denied = await get(sb, { headers: { ...dev, 'impersonate-user': 'alice', 'impersonate-group': ['qa', 'system:masters'] } });
    assert.deepEqual(denied, {
      status: 403,
      body: forbiddenBody(
        'groups "system:masters" is forbidden: User "dev" cannot impersonate resource "groups" in API group "" at the cluster scope',
        { name: 'system:masters', kind: 'groups' },
      ),
    });
  });

  test('groups, extras or a uid without a user: 400', async (t) => {
    const sb = await startSandbox(t);
    assert.deepEqual(await get(sb, { headers: { ...dev, 'impersonate-group': ['qa', 'ops'] } }), {
      status: 400,
      body: badRequestBody('requested [{Group  qa    } {Group  ops    }] without impersonating a user'),
    });
    assert.deepEqual(await get(sb, { headers: { ...dev, 'impersonate-uid': 'u1', 'impersonate-extra-scopes': 'view' } }), {
      status: 400,
      body: badRequestBody(
        'requested [{UserExtra  view  authentication.k8s.io/v1  scopes} {UID  u1  authentication.k8s.io/v1  }] without impersonating a user',
      ),
    });
  });

  test('Impersonate-Extra-<key> and Impersonate-Uid', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, {
      headers: { ...dev, 'impersonate-user': 'alice', 'impersonate-extra-Scopes': ['view', 'edit'], 'impersonate-uid': 'uid-alice' },
    });
    assert.deepEqual(reply.body.user, { name: 'alice', uid: 'uid-alice', groups: ['system:authenticated'], extra: { scopes: ['view', 'edit'] } });
  });

  test('extra key is lower-cased then percent-decoded; denial names userextras/<key>', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { ...dev, 'impersonate-user': 'alice', 'impersonate-extra-Example.COM%2FTeam': 'Blue' } });
    assert.deepEqual(reply, {
      status: 403,
      body: forbiddenBody(
        'userextras.authentication.k8s.io "Blue" is forbidden: User "dev" cannot impersonate resource "userextras/example.com/team" in API group "authentication.k8s.io" at the cluster scope',
        { name: 'Blue', group: 'authentication.k8s.io', kind: 'userextras' },
      ),
    });
  });

  test('Impersonate-Uid denied', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { ...dev, 'impersonate-user': 'alice', 'impersonate-uid': '1234' } });
    assert.deepEqual(reply, {
      status: 403,
      body: forbiddenBody(
        'uids.authentication.k8s.io "1234" is forbidden: User "dev" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope',
        { name: '1234', group: 'authentication.k8s.io', kind: 'uids' },
      ),
    });
  });

  test('a service account: checked as serviceaccounts in its namespace; gets its fixed groups', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { ...dev, 'impersonate-user': 'system:serviceaccount:team:builder' } });
    assert.deepEqual(reply.body.user, {
      name: 'system:serviceaccount:team:builder',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'],
    });

    const elsewhere = await get(sb, { headers: { ...dev, 'impersonate-user': 'system:serviceaccount:other:builder' } });
    assert.deepEqual(elsewhere, {
      status: 403,
      body: forbiddenBody(
        'serviceaccounts "builder" is forbidden: User "dev" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "other"',
        { name: 'builder', kind: 'serviceaccounts' },
      ),
    });
  });

  test('a service account with explicit groups gets those instead', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { ...dev, 'impersonate-user': 'system:serviceaccount:team:builder', 'impersonate-group': 'qa' } });
    assert.deepEqual(reply.body.user, { name: 'system:serviceaccount:team:builder', groups: ['qa', 'system:authenticated'] });
  });

  test('a malformed service account name is an ordinary user name', async (t) => {
    const sb = await startSandbox(t);
    const reply = await get(sb, { headers: { ...dev, 'impersonate-user': 'system:serviceaccount:Team:builder' } });
    assert.equal(reply.status, 403);
    assert.equal(
      reply.body['message'],
      'users "system:serviceaccount:Team:builder" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
  });

  test('system:masters may impersonate anyone; system:anonymous gets system:unauthenticated', async (t) => {
    const sb = await startSandbox(t);
    const root = { authorization: 'Bearer root-token' };
    assert.deepEqual((await get(sb, { headers: { ...root, 'impersonate-user': 'anyone', 'impersonate-group': 'system:masters' } })).body.user, {
      name: 'anyone',
      groups: ['system:masters', 'system:authenticated'],
    });
    assert.deepEqual((await get(sb, { headers: { ...root, 'impersonate-user': 'system:anonymous' } })).body.user, {
      name: 'system:anonymous',
      groups: ['system:unauthenticated'],
    });
    assert.deepEqual(
      (await get(sb, { headers: { ...root, 'impersonate-user': 'x', 'impersonate-group': 'system:unauthenticated' } })).body.user,
      { name: 'x', groups: ['system:unauthenticated'] },
    );
  });

  test('the denial carries the authorizer reason (role resolution errors)', async () => {
    const broken = new RbacAuthorizer({
      roles: () => [],
      clusterRoles: () => [],
      roleBindings: () => [],
      clusterRoleBindings: () => [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'b' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'gone' },
          subjects: [{ kind: 'User', name: 'dev' }],
        },
      ],
    });
    const authn = new Authenticator({ users: () => users });
    const req = { headersDistinct: { 'impersonate-user': ['alice'] } } as unknown as IncomingMessage;
    assert.throws(() => authn.impersonate(req, { name: 'dev', groups: ['system:authenticated'] }, broken), {
      code: 403,
      message:
        'users "alice" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
    });
  });
});

describe('kubectl against the authenticator', async () => {
  const run = promisify(execFile);
  let kubectl = true;
  try {
    await run('kubectl', ['version', '--client'], { timeout: 10_000 });
  } catch {
    kubectl = false;
  }

  test('token and --as; a denied impersonation prints kube’s error', async (t) => {
    if (!kubectl) return t.skip('kubectl not installed');
    const sb = await startSandbox(t);
    const dir = await mkdtemp(join(tmpdir(), 'podshell-authn-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'ca.pem'), sb.pki.ca.certPem);
    const kube = (...args: string[]) =>
      run('kubectl', [`--server=https://127.0.0.1:${sb.port}`, `--certificate-authority=${join(dir, 'ca.pem')}`, '--token=dev-token', ...args], {
        timeout: 30_000,
        env: { ...process.env, KUBECONFIG: join(dir, 'no-such-kubeconfig') },
      });

    const { stdout } = await kube('--as=alice', '--as-group=qa', 'get', '--raw', '/whoami');
    assert.deepEqual(JSON.parse(stdout).user, { name: 'alice', groups: ['qa', 'system:authenticated'] });

    await assert.rejects(kube('--as=bob', 'get', '--raw', '/whoami'), (err: { stderr: string }) => {
      assert.match(err.stderr, /users "bob" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope/);
      return true;
    });
  });
});
