import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { ConfigError, KubeClient } from './index.ts';
import { sandboxKubeconfig, tempDir, whoami, writeYaml, type Obj } from '../../test/fixtures/kube/helpers.ts';

let sandbox: Sandbox;
let tmp: ReturnType<typeof tempDir>;

before(async () => {
  sandbox = await startSandbox();
  tmp = tempDir();
});

after(async () => {
  await sandbox.close();
  tmp.remove();
});

test('the default context is the admin, authenticated by client certificate', async () => {
  const client = KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath });
  assert.equal(client.context, 'podshell-sandbox');
  assert.equal(client.server, sandbox.url);
  assert.equal(client.namespace, 'default');
  const connect = await client.connectOptions();
  assert.ok(connect.cert && connect.key && connect.ca, 'client certificate, key and CA');
  assert.equal(connect.headers['Authorization'], undefined);
  assert.equal(connect.rejectUnauthorized, true);
  assert.equal(await whoami(client), 'allowed');
});

test('a named context with a token acts as its user', async () => {
  const client = KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox-dev' });
  assert.equal(client.context, 'podshell-sandbox-dev');
  assert.equal(await whoami(client), 'dev');
  const viewer = KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox-viewer' });
  assert.equal(await whoami(viewer), 'viewer');
});

test('KUBECONFIG files are merged as kubectl merges them: first name and first current-context win, missing files skipped', async () => {
  const config = sandboxKubeconfig(sandbox);
  const dir = join(tmp.dir, 'merge');
  mkdirSync(dir);
  // File a: clusters and users, and a current-context that the earlier file b overrides.
  const a = writeYaml(join(dir, 'a.yaml'), {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'podshell-sandbox',
    clusters: config.clusters,
    users: config.users,
    contexts: [{ name: 'dup', context: { cluster: 'podshell-sandbox', user: 'podshell-sandbox-admin', namespace: 'from-a' } }],
  });
  // File b: contexts and current-context only.
  const b = writeYaml(join(dir, 'b.yaml'), {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'podshell-sandbox-viewer',
    contexts: [...config.contexts, { name: 'dup', context: { cluster: 'podshell-sandbox', user: 'podshell-sandbox-dev', namespace: 'from-b' } }],
  });
  const env = { KUBECONFIG: [b, join(dir, 'missing.yaml'), a].join(':') };
  const client = KubeClient.fromKubeconfig({ env });
  assert.equal(client.context, 'podshell-sandbox-viewer');
  assert.equal(await whoami(client), 'viewer');
  const dup = KubeClient.fromKubeconfig({ env, context: 'dup' });
  assert.equal(dup.namespace, 'from-b');
  assert.equal(await whoami(dup), 'dev');
});

test('YAML anchors and `<<` merge keys are read, as kubectl reads them', async () => {
  const config = sandboxKubeconfig(sandbox);
  const file = join(tmp.dir, 'merge-keys.yaml');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: ${JSON.stringify(config.clusters)}`,
      `users: ${JSON.stringify(config.users)}`,
      'contexts:',
      '- name: base',
      '  context: &base',
      '    cluster: podshell-sandbox',
      '    user: podshell-sandbox-dev',
      '    namespace: from-anchor',
      '- name: merged',
      '  context:',
      '    <<: *base',
      '    namespace: overridden',
      'current-context: merged',
      '',
    ].join('\n'),
  );
  const client = KubeClient.fromKubeconfig({ path: file });
  assert.equal(client.context, 'merged');
  assert.equal(client.namespace, 'overridden');
  assert.equal(await whoami(client), 'dev');
});

test('without path or KUBECONFIG, ~/.kube/config is read', async () => {
  const home = join(tmp.dir, 'home');
  mkdirSync(join(home, '.kube'), { recursive: true });
  writeYaml(join(home, '.kube', 'config'), sandboxKubeconfig(sandbox));
  const client = KubeClient.fromKubeconfig({ env: { HOME: home }, context: 'podshell-sandbox-dev' });
  assert.equal(await whoami(client), 'dev');
  assert.throws(
    () => KubeClient.fromKubeconfig({ env: { HOME: join(tmp.dir, 'nohome') } }),
    (err: unknown) => err instanceof ConfigError && err.code === 'ERR_KUBECONFIG' && err.message === `cannot read kubeconfig ${join(tmp.dir, 'nohome', '.kube', 'config')}: no such file`,
  );
});

test('the namespace comes from the context, else "default", and an option overrides it', () => {
  const config = sandboxKubeconfig(sandbox);
  config.contexts.push({ name: 'restricted', context: { cluster: 'podshell-sandbox', user: 'podshell-sandbox-admin', namespace: 'restricted' } });
  config.contexts.push({ name: 'bare', context: { cluster: 'podshell-sandbox', user: 'podshell-sandbox-admin' } });
  const path = writeYaml(join(tmp.dir, 'ns.yaml'), config);
  assert.equal(KubeClient.fromKubeconfig({ path, context: 'restricted' }).namespace, 'restricted');
  assert.equal(KubeClient.fromKubeconfig({ path, context: 'restricted', namespace: 'kube-system' }).namespace, 'kube-system');
  assert.equal(KubeClient.fromKubeconfig({ path, context: 'bare' }).namespace, 'default');
});

test('an unknown context is a ConfigError listing the contexts there are', () => {
  assert.throws(
    () => KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'nope' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.code === 'ERR_KUBECONFIG' &&
      err.message === `context "nope" does not exist in kubeconfig ${sandbox.kubeconfigPath} (available contexts: podshell-sandbox, podshell-sandbox-dev, podshell-sandbox-viewer)`,
  );
});

test('a missing kubeconfig file is a ConfigError naming the path', () => {
  const path = join(tmp.dir, 'does-not-exist.yaml');
  assert.throws(
    () => KubeClient.fromKubeconfig({ path }),
    (err: unknown) => err instanceof ConfigError && err.code === 'ERR_KUBECONFIG' && err.message === `cannot read kubeconfig ${path}: no such file`,
  );
  assert.throws(
    () => KubeClient.fromKubeconfig({ env: { KUBECONFIG: `${path}:${path}.2` } }),
    (err: unknown) => err instanceof ConfigError && err.message.includes(path),
  );
});

test('broken configurations are ConfigErrors that say what is wrong', () => {
  const config = sandboxKubeconfig(sandbox);
  const cases: { name: string; edit: (c: Obj) => unknown; context?: string; message: RegExp }[] = [
    { name: 'no current-context', edit: (c) => delete c['current-context'], message: /^no context chosen: kubeconfig .* sets no current-context \(available contexts: podshell-sandbox, / },
    { name: 'cluster without server', edit: (c) => delete c.clusters[0].cluster.server, message: /^cluster "podshell-sandbox" of context "podshell-sandbox" cannot be used: it has no server/ },
    { name: 'unknown user', edit: (c) => (c.contexts[0].context.user = 'ghost'), message: /^user "ghost" was not found for context "podshell-sandbox"/ },
    { name: 'not YAML mapping', edit: () => ['a'], message: /^invalid kubeconfig .*: expected a mapping/ },
    {
      name: 'CA with insecure-skip-tls-verify',
      edit: (c) => (c.clusters[0].cluster['insecure-skip-tls-verify'] = true),
      message: /specifying a root certificates file with the insecure flag is not allowed$/,
    },
  ];
  for (const { name, edit, message } of cases) {
    const copy = structuredClone(config);
    const replaced = edit(copy);
    const path = writeYaml(join(tmp.dir, 'broken.yaml'), Array.isArray(replaced) ? replaced : copy);
    assert.throws(() => KubeClient.fromKubeconfig({ path, warn: () => {} }), (err: unknown) => err instanceof ConfigError && err.code === 'ERR_KUBECONFIG' && message.test(err.message), name);
  }
});
