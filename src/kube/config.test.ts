// config.ts: plain credentials are applied exactly as @kubernetes/client-node's KubeConfig applies
// them, without loading client-node's package index; plugin users still get client-node.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type https from 'node:https';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { b64, tempDir, writeYaml, type Obj } from '../../test/fixtures/kube/helpers.ts';
import { loadKubeconfig, selectContext } from './kubeconfig.ts';

const tmp = tempDir();
after(() => tmp.remove());

const certPem = '-----BEGIN CERTIFICATE-----\nnot-checked-here\n-----END CERTIFICATE-----\n';
writeFileSync(join(tmp.dir, 'ca.crt'), 'CA FROM FILE');
writeFileSync(join(tmp.dir, 'client.crt'), certPem);
writeFileSync(join(tmp.dir, 'client.key'), 'KEY FROM FILE');

function config(user: Obj | null, cluster: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64('CA FROM DATA'), ...cluster } }],
    users: user ? [{ name: 'test', user }] : [],
    contexts: [{ name: 'test', context: { cluster: 'test', ...(user ? { user: 'test' } : {}) } }],
  };
}

/** What each implementation puts into https options, minus client-node's agent. */
async function both(name: string, value: Obj): Promise<{ ours: https.RequestOptions; theirs: https.RequestOptions }> {
  const path = writeYaml(join(tmp.dir, `${name}.yaml`), value);
  const loaded = loadKubeconfig(path);
  selectContext(loaded, undefined);
  const ours: https.RequestOptions = { headers: {} };
  loaded.kc.applyToHTTPSOptions(ours);
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const theirs: https.RequestOptions = { headers: {} };
  await kc.applyToHTTPSOptions(theirs);
  delete theirs.agent;
  return { ours, theirs };
}

const cases: { name: string; user: Obj | null; cluster?: Obj }[] = [
  { name: 'token', user: { token: 'abc' } },
  { name: 'client certificate data', user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64('KEY') } },
  { name: 'client certificate files, relative to the kubeconfig', user: { 'client-certificate': 'client.crt', 'client-key': 'client.key' } },
  { name: 'basic auth', user: { username: 'alice', password: 's3cret' } },
  { name: 'as', user: { token: 'abc', as: 'bob' } },
  { name: 'CA file, relative to the kubeconfig', user: { token: 'abc' }, cluster: { 'certificate-authority': 'ca.crt', 'certificate-authority-data': undefined } },
  { name: 'insecure-skip-tls-verify', user: { token: 'abc' }, cluster: { 'insecure-skip-tls-verify': true, 'certificate-authority-data': undefined } },
  { name: 'tls-server-name', user: { token: 'abc' }, cluster: { 'tls-server-name': 'kubernetes.default' } },
  { name: 'token-file (client-node reads it at load)', user: { 'token-file': join(tmp.dir, 'client.key') } },
  { name: 'no user: nothing at all', user: null },
];

for (const { name, user, cluster } of cases) {
  test(`plain credentials are applied as client-node applies them: ${name}`, async () => {
    const { ours, theirs } = await both(name.replace(/\W+/g, '-'), config(user, cluster));
    assert.deepEqual(ours, theirs);
  });
}

test('a file named by the kubeconfig that cannot be read is the file system error, as in client-node', async () => {
  const path = writeYaml(join(tmp.dir, 'missing.yaml'), config({ 'client-certificate': 'nope.crt', 'client-key': 'client.key' }));
  const loaded = loadKubeconfig(path);
  selectContext(loaded, undefined);
  assert.throws(() => loaded.kc.applyToHTTPSOptions({ headers: {} }), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && err.path === join(tmp.dir, 'nope.crt'));
});

test('only users with an auth-provider need client-node (podshell runs exec plugins itself)', () => {
  const need = (user: Obj) => {
    const loaded = loadKubeconfig(writeYaml(join(tmp.dir, 'need.yaml'), config(user)));
    selectContext(loaded, undefined);
    return loaded.kc.needsClientNode();
  };
  assert.equal(need({ token: 'abc' }), false);
  assert.equal(need({ 'client-certificate-data': b64(certPem), 'client-key-data': b64('KEY') }), false);
  assert.equal(need({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } }), false);
  assert.equal(need({ 'auth-provider': { name: 'oidc', config: {} } }), true);
});

function childLoads(script: string): Promise<string[]> {
  // A fresh process: which client-node modules does connecting with a plain user load?
  const hooks = `import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ load(url, ctx, next) { if (url.includes('/@kubernetes/client-node/')) seen.push(url.replace(/^.*\\/@kubernetes\\/client-node\\//, '')); return next(url, ctx); } });
process.on('exit', () => process.stdout.write(JSON.stringify(seen)));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hooks)}`, '--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..', '..') }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as string[]);
    });
  });
}

test('connecting with a plain user does not load client-node\'s package index; a plugin user loads it on first use', async () => {
  const kubeconfig = (user: Obj) => writeYaml(join(tmp.dir, `child-${Object.keys(user)[0]}.yaml`), config(user));
  const plain = await childLoads(`import { KubeClient } from './src/kube/index.ts';
await KubeClient.fromKubeconfig({ path: ${JSON.stringify(kubeconfig({ token: 'abc' }))} }).connectOptions();`);
  assert.deepEqual(plain, ['dist/config_types.js']);

  const plugin = await childLoads(`import { KubeClient } from './src/kube/index.ts';
const client = KubeClient.fromKubeconfig({ path: ${JSON.stringify(kubeconfig({ 'auth-provider': { name: 'oidc', config: { 'client-id': 'x', 'id-token': 'e30.e30.x', 'idp-issuer-url': 'https://issuer.invalid' } } }))} });
await client.connectOptions().catch(() => {});`);
  assert.ok(plugin.includes('dist/index.js'), plugin.slice(0, 5).join(', '));
});
