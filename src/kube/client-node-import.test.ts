// config.ts reads kubeconfig entries with @kubernetes/client-node's `dist/config_types.js`, a file
// inside that package rather than one of its published entry points. The import works only while
// the package has no `exports` map that leaves this file out, and the functions keep their shape:
// so package.json pins client-node to one exact version, and this test fails loudly, saying what to
// do, when that version or that file changes.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const what =
  "src/kube/config.ts imports newClusters, newUsers and newContexts from '@kubernetes/client-node/dist/config_types.js' " +
  '(a file inside the package, not a published entry point). Keep @kubernetes/client-node pinned to the version this was ' +
  'written against, or, to upgrade, check that file in the new version and adapt config.ts (or read the entries in config.ts itself)';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
const clientNodeJson = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('@kubernetes/client-node/package.json'), 'utf8')) as { version: string; exports?: unknown };

const tmp = mkdtempSync(join(tmpdir(), 'podshell-client-node-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('@kubernetes/client-node is pinned to one exact version, the installed one', () => {
  const range = packageJson.dependencies['@kubernetes/client-node'];
  assert.match(range ?? '', /^\d+\.\d+\.\d+$/, `package.json must pin @kubernetes/client-node to an exact version (it says ${range}). ${what}.`);
  assert.equal(clientNodeJson.version, range, `installed @kubernetes/client-node ${clientNodeJson.version} is not the pinned ${range}: run npm ci. ${what}.`);
});

test("config.ts's deep import of @kubernetes/client-node/dist/config_types.js resolves and keeps its shape", async () => {
  // The very import config.ts makes, so that a package `exports` map without this path fails here.
  let types: typeof import('@kubernetes/client-node/dist/config_types.js');
  try {
    types = await import('@kubernetes/client-node/dist/config_types.js');
  } catch (e) {
    assert.fail(`cannot import @kubernetes/client-node/dist/config_types.js (${(e as Error).message}). ${what}.`);
  }
  for (const name of ['newClusters', 'newUsers', 'newContexts'] as const) {
    assert.equal(typeof types[name], 'function', `@kubernetes/client-node/dist/config_types.js no longer exports ${name}. ${what}.`);
  }

  const tokenFile = join(tmp, 'token');
  writeFileSync(tokenFile, 'token-from-file');
  const options = { onInvalidEntry: 'filter' } as const;
  const clusters = types.newClusters(
    [
      { name: 'c1', cluster: { server: 'https://127.0.0.1:6443/', 'certificate-authority': 'ca.crt', 'insecure-skip-tls-verify': true, 'tls-server-name': 'kube', 'proxy-url': 'http://proxy:3128' } },
      { name: 'no-server', cluster: {} },
    ],
    options,
  );
  const users = types.newUsers(
    [
      { name: 'u1', user: { token: 'abc', 'client-certificate': 'client.crt', 'client-key-data': 'S0VZ', as: 'someone' } },
      { name: 'u2', user: { 'token-file': tokenFile, username: 'me', password: 'pw' } },
      { user: { token: 'nameless' } },
    ],
    options,
  );
  const contexts = types.newContexts(
    [
      { name: 'ctx', context: { cluster: 'c1', user: 'u1', namespace: 'ns' } },
      { name: 'no-cluster', context: { user: 'u1' } },
    ],
    options,
  );
  const shape = `@kubernetes/client-node/dist/config_types.js reads kubeconfig entries differently. ${what}.`;
  assert.deepEqual(
    clusters.map((c) => [c.name, c.server, c.caFile, c.skipTLSVerify, c.tlsServerName, c.proxyUrl]),
    [['c1', 'https://127.0.0.1:6443', 'ca.crt', true, 'kube', 'http://proxy:3128']],
    shape,
  );
  assert.deepEqual(
    users.map((u) => [u.name, u.token, u.certFile, u.keyData, u.impersonateUser, u.username, u.password]),
    [
      ['u1', 'abc', 'client.crt', 'S0VZ', 'someone', undefined, undefined],
      ['u2', 'token-from-file', undefined, undefined, undefined, 'me', 'pw'],
    ],
    shape,
  );
  assert.deepEqual(
    contexts.map((c) => [c.name, c.cluster, c.user, c.namespace]),
    [['ctx', 'c1', 'u1', 'ns']],
    shape,
  );
});
