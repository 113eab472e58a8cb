// Every authentication method, each proven by the sandbox answering as the expected user.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { builtinManifest } from '../sandbox/world.ts';
import { PodshellError } from '../protocol/errors.ts';
import { ApiStatusError, ConfigError, KubeClient } from './index.ts';
import { b64, fakeIdToken, oneContextKubeconfig, tempDir, whoami, writeYaml } from '../../test/fixtures/kube/helpers.ts';

let sandbox: Sandbox;
let oidcSandbox: Sandbox;
let tmp: ReturnType<typeof tempDir>;
const idToken = fakeIdToken('oidc-user');

before(async () => {
  tmp = tempDir();
  [sandbox, oidcSandbox] = await Promise.all([
    startSandbox(),
    startSandbox({
      manifestTexts: [
        { source: 'built-in world', text: builtinManifest },
        { source: 'oidc user', text: `apiVersion: sandbox.podshell.dev/v1\nkind: SandboxUser\nmetadata:\n  name: oidc-user\nspec:\n  tokens: ["${idToken}"]\n` },
      ],
    }),
  ]);
});

after(async () => {
  await Promise.all([sandbox.close(), oidcSandbox.close()]);
  tmp.remove();
});

function clientFor(user: Record<string, unknown>, name: string, target = sandbox): KubeClient {
  const path = writeYaml(join(tmp.dir, `${name}.yaml`), oneContextKubeconfig(target, user));
  return KubeClient.fromKubeconfig({ path });
}

test('bearer token', async () => {
  assert.equal(await whoami(clientFor({ token: 'dev-token' }, 'token')), 'dev');
});

test('tokenFile (relative to the kubeconfig) is re-read for every connection and wins over token', async () => {
  const dir = join(tmp.dir, 'tokenfile');
  mkdirSync(dir);
  writeFileSync(join(dir, 'token'), 'viewer-token\n');
  const path = writeYaml(join(dir, 'config.yaml'), oneContextKubeconfig(sandbox, { tokenFile: 'token', token: 'admin-token' }));
  const client = KubeClient.fromKubeconfig({ path });
  assert.equal(await whoami(client), 'viewer');
  writeFileSync(join(dir, 'token'), 'dev-token');
  assert.equal(await whoami(client), 'dev');
});

test('client certificate from files (relative paths) and from inline data', async () => {
  const dir = join(tmp.dir, 'certs');
  mkdirSync(dir);
  writeFileSync(join(dir, 'dev.crt'), sandbox.users['dev']!.clientCert.certPem);
  writeFileSync(join(dir, 'dev.key'), sandbox.users['dev']!.clientCert.keyPem, { mode: 0o600 });
  const path = writeYaml(join(dir, 'config.yaml'), oneContextKubeconfig(sandbox, { 'client-certificate': 'dev.crt', 'client-key': 'dev.key' }));
  assert.equal(await whoami(KubeClient.fromKubeconfig({ path })), 'dev');

  const viewer = sandbox.users['viewer']!.clientCert;
  assert.equal(await whoami(clientFor({ 'client-certificate-data': b64(viewer.certPem), 'client-key-data': b64(viewer.keyPem) }, 'inline-cert')), 'viewer');
});

test('exec credential plugin (relative command path, KUBERNETES_EXEC_INFO), run once while its credential has no expiry', async () => {
  const dir = join(tmp.dir, 'exec');
  mkdirSync(dir);
  const plugin = join(dir, 'plugin.sh');
  writeFileSync(
    plugin,
    `#!/bin/sh\nprintf '%s\\n' "$KUBERNETES_EXEC_INFO" >> "$PLUGIN_RUNS"\nprintf '%s' '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'"$PLUGIN_TOKEN"'"}}'\n`,
  );
  chmodSync(plugin, 0o755);
  const runs = join(dir, 'runs');
  writeFileSync(runs, '');
  const user = {
    exec: {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: './plugin.sh',
      env: [
        { name: 'PLUGIN_TOKEN', value: 'dev-token' },
        { name: 'PLUGIN_RUNS', value: runs },
      ],
      interactiveMode: 'Never',
    },
  };
  const path = writeYaml(join(dir, 'config.yaml'), oneContextKubeconfig(sandbox, user));
  const client = KubeClient.fromKubeconfig({ path });
  assert.equal(await whoami(client), 'dev');
  assert.equal(await whoami(client), 'dev');
  // @kubernetes/client-node caches an ExecCredential until its expirationTimestamp (forever without one).
  // It ran once, told (as client-go tells it) which ExecCredential version is wanted.
  assert.equal(readFileSync(runs, 'utf8'), '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}\n');
});

test('a failing exec plugin is a ConfigError ERR_CREDENTIALS carrying its stderr', async () => {
  const client = clientFor({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh', args: ['-c', 'echo "please log in first" >&2; exit 1'] } }, 'exec-fail');
  await assert.rejects(client.connectOptions(), (err: unknown) => err instanceof ConfigError && err.code === 'ERR_CREDENTIALS' && err.message === 'cannot get credentials for user "test": please log in first');
});

test('OIDC auth-provider with an id-token that has not expired', async () => {
  const client = clientFor(
    { 'auth-provider': { name: 'oidc', config: { 'client-id': 'podshell', 'id-token': idToken, 'idp-issuer-url': 'https://issuer.podshell.invalid' } } },
    'oidc',
    oidcSandbox,
  );
  assert.equal(await whoami(client), 'oidc-user');
});

test('basic auth becomes an Authorization: Basic header', async () => {
  const connect = await clientFor({ username: 'alice', password: 's3cret' }, 'basic').connectOptions();
  assert.equal(connect.headers['Authorization'], `Basic ${b64('alice:s3cret')}`);
});

test('in-cluster: service account token and CA under root, namespace file, token rotation', async (t) => {
  const root = join(tmp.dir, 'pod');
  const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'token'), 'viewer-token');
  writeFileSync(join(dir, 'ca.crt'), sandbox.caPem);
  writeFileSync(join(dir, 'namespace'), 'restricted');
  const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
  t.after(() => {
    for (const [key, value] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
  delete process.env['KUBERNETES_SERVICE_HOST'];
  assert.throws(() => KubeClient.inCluster({ root }), (err: unknown) => err instanceof ConfigError && err.code === 'ERR_NOT_IN_CLUSTER');

  const url = new URL(sandbox.url);
  process.env['KUBERNETES_SERVICE_HOST'] = url.hostname;
  process.env['KUBERNETES_SERVICE_PORT'] = url.port;
  assert.throws(
    () => KubeClient.inCluster({ root: join(tmp.dir, 'not-a-pod') }),
    (err: unknown) => err instanceof ConfigError && err.code === 'ERR_NOT_IN_CLUSTER' && err.message.includes('not-a-pod/var/run/secrets/kubernetes.io/serviceaccount/token'),
  );

  const client = KubeClient.inCluster({ root });
  assert.equal(client.server, sandbox.url);
  assert.equal(client.namespace, 'restricted');
  assert.equal(KubeClient.inCluster({ root, namespace: 'default' }).namespace, 'default');
  assert.equal(await whoami(client), 'viewer');
  // Projected tokens rotate: the next connection must use the new one at once.
  writeFileSync(join(dir, 'token'), 'dev-token');
  assert.equal(await whoami(client), 'dev');
});

test('impersonation: an option, or the kubeconfig user\'s as/as-groups', async () => {
  const admin = { path: sandbox.kubeconfigPath };
  assert.equal(await whoami(KubeClient.fromKubeconfig({ ...admin, impersonate: { user: 'viewer' } })), 'viewer');
  // Groups travel as one header line each: system:masters makes "alice" an admin.
  const alice = KubeClient.fromKubeconfig({ ...admin, impersonate: { user: 'alice', groups: ['team', 'system:masters'] } });
  assert.equal(await whoami(alice), 'allowed');
  assert.equal(await whoami(KubeClient.fromKubeconfig({ ...admin, impersonate: { user: 'alice', groups: ['team'] } })), 'alice');
  const headers = (await KubeClient.fromKubeconfig({ ...admin, impersonate: { user: 'alice', groups: ['a', 'b'], uid: '42', extra: { 'scopes.example.com/x y': ['1', '2'] } } }).connectOptions()).headers;
  assert.deepEqual(
    Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith('Impersonate-'))),
    { 'Impersonate-User': 'alice', 'Impersonate-Group': ['a', 'b'], 'Impersonate-Uid': '42', 'Impersonate-Extra-scopes.example.com%2Fx%20y': ['1', '2'] },
  );

  const admincert = sandbox.users['admin']!.clientCert;
  const asViewer = clientFor({ 'client-certificate-data': b64(admincert.certPem), 'client-key-data': b64(admincert.keyPem), as: 'carol', 'as-groups': ['viewers'] }, 'as');
  assert.equal(await whoami(asViewer), 'carol');
  assert.deepEqual((await asViewer.connectOptions()).headers['Impersonate-Group'], ['viewers']);
  // The option replaces the kubeconfig's impersonation.
  const path = writeYaml(join(tmp.dir, 'as-override.yaml'), oneContextKubeconfig(sandbox, { 'client-certificate-data': b64(admincert.certPem), 'client-key-data': b64(admincert.keyPem), as: 'carol' }));
  assert.equal(await whoami(KubeClient.fromKubeconfig({ path, impersonate: { user: 'viewer' } })), 'viewer');
});

test('impersonation the user may not do is the server\'s 403', async () => {
  const client = KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox-dev', impersonate: { user: 'viewer' } });
  await assert.rejects(
    client.getPod('default', 'demo'),
    (err: unknown) =>
      err instanceof ApiStatusError &&
      err.code === 'ERR_FORBIDDEN' &&
      err.statusCode === 403 &&
      err.status?.reason === 'Forbidden' &&
      err.message === 'users "viewer" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope',
  );
});

/** Whether `pid` is gone (a zombie waiting for its parent to reap it counts as gone). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** A plugin that starts a child holding its output open, then waits forever itself. */
function hungPlugin(name: string): { dir: string; plugin: string; path: string; pids(): number[] } {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  const plugin = join(dir, 'hung-plugin.sh');
  writeFileSync(plugin, `#!/bin/sh\nsleep 1000 &\necho $! > "${dir}/child.pid"\necho $$ > "${dir}/plugin.pid"\nsleep 1000\n`);
  chmodSync(plugin, 0o755);
  const path = writeYaml(join(dir, 'config.yaml'), oneContextKubeconfig(sandbox, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin } }));
  return { dir, plugin, path, pids: () => ['plugin.pid', 'child.pid'].map((f) => Number(readFileSync(join(dir, f), 'utf8').trim())) };
}

async function allGone(pids: number[]): Promise<void> {
  // Both processes were running (they wrote their pids), and both end.
  assert.ok(pids.every((pid) => Number.isInteger(pid) && pid > 1), String(pids));
  const deadline = Date.now() + 20_000;
  while (!pids.every(gone)) {
    assert.ok(Date.now() < deadline, `still running: ${pids.filter((p) => !gone(p)).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a hung exec plugin is killed with the processes it started, and the request fails naming it', async () => {
  const { plugin, path, pids } = hungPlugin('hung');
  const client = KubeClient.fromKubeconfig({ path, credentialPluginTimeoutMs: 1000 });
  const started = Date.now();
  await assert.rejects(client.getPod('default', 'demo'), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'ERR_CREDENTIALS');
    assert.equal(err.message, `cannot get credentials for user "test": the exec plugin "${plugin}" did not answer within 1000 ms and was stopped`);
    return true;
  });
  // It failed at the plugin's deadline, not at the request's (30 s).
  assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
  await allGone(pids());
});

test('requestTimeoutMs also ends a hung exec plugin: ERR_TIMEOUT naming it, the plugin and its child stopped', async () => {
  const { plugin, path, pids } = hungPlugin('hung-request');
  const client = KubeClient.fromKubeconfig({ path, requestTimeoutMs: 1000 });
  const started = Date.now();
  await assert.rejects(client.getPod('default', 'demo'), (err: unknown) => {
    assert.ok(err instanceof PodshellError, String(err));
    assert.equal(err.code, 'ERR_TIMEOUT');
    assert.equal(err.message, `GET /api/v1/namespaces/default/pods/demo at ${sandbox.url} timed out after 1000 ms: the exec plugin "${plugin}" had not answered`);
    return true;
  });
  // The request's 1 s, not the plugin's 30 s.
  assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
  await allGone(pids());
});

test('an exec plugin\'s credential is kept until its expirationTimestamp, then the plugin runs again', async () => {
  const dir = join(tmp.dir, 'expiry');
  mkdirSync(dir);
  const plugin = join(dir, 'plugin.sh');
  const runs = join(dir, 'runs');
  writeFileSync(runs, '');
  // EXPIRES is read from a file, so the test can move it.
  writeFileSync(join(dir, 'expires'), new Date(Date.now() - 60_000).toISOString());
  writeFileSync(
    plugin,
    `#!/bin/sh\necho run >> "${runs}"\nprintf '%s' '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"dev-token","expirationTimestamp":"'"$(cat "${dir}/expires")"'"}}'\n`,
  );
  chmodSync(plugin, 0o755);
  const client = KubeClient.fromKubeconfig({ path: writeYaml(join(dir, 'config.yaml'), oneContextKubeconfig(sandbox, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin } })) });
  const count = () => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;
  // Already expired: every connection runs it.
  assert.equal(await whoami(client), 'dev');
  assert.equal(await whoami(client), 'dev');
  assert.equal(count(), 2);
  // Valid for an hour: kept.
  writeFileSync(join(dir, 'expires'), new Date(Date.now() + 3_600_000).toISOString());
  assert.equal(await whoami(client), 'dev');
  assert.equal(await whoami(client), 'dev');
  assert.equal(count(), 3);
});

test('an exec plugin that prints no ExecCredential is ERR_CREDENTIALS naming it', async () => {
  const client = clientFor({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'echo', args: ['hello'] } }, 'exec-not-json');
  await assert.rejects(client.connectOptions(), {
    code: 'ERR_CREDENTIALS',
    message: 'cannot get credentials for user "test": the exec plugin "echo" did not print an ExecCredential (JSON) on its standard output',
  });
});
