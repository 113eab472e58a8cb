// TLS verification options and proxies, against a real sandbox and a real CONNECT proxy.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { createPki } from '../sandbox/pki.ts';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { ConnectError, KubeClient } from './index.ts';
import { b64, oneContextKubeconfig, startConnectProxy, tempDir, whoami, writeYaml, type Obj, type TestProxy } from '../../test/fixtures/kube/helpers.ts';

let sandbox: Sandbox;
let proxy: TestProxy;
let refusingProxy: TestProxy;
let tmp: ReturnType<typeof tempDir>;
let port: string;
const FAKE_HOST = 'podshell-sandbox.invalid';

before(async () => {
  tmp = tempDir();
  [sandbox, proxy, refusingProxy] = await Promise.all([
    startSandbox(),
    // The made-up host name only exists for the proxy, which sends it to the sandbox.
    startConnectProxy({ resolve: (host) => (host === FAKE_HOST ? '127.0.0.1' : host) }),
    startConnectProxy({ refuse: true }),
  ]);
  port = new URL(sandbox.url).port;
});

after(async () => {
  await Promise.all([sandbox.close(), proxy.close(), refusingProxy.close()]);
  tmp.remove();
});

let files = 0;
function client(cluster: Obj, opts: { env?: NodeJS.ProcessEnv; warn?: (m: string) => void } = {}): KubeClient {
  const admin = sandbox.users['admin']!.clientCert;
  const config = oneContextKubeconfig(sandbox, { 'client-certificate-data': b64(admin.certPem), 'client-key-data': b64(admin.keyPem) }, cluster);
  for (const [key, value] of Object.entries(cluster)) if (value === undefined) delete config.clusters[0].cluster[key];
  const path = writeYaml(join(tmp.dir, `config-${files++}.yaml`), config);
  return KubeClient.fromKubeconfig({ path, env: opts.env ?? {}, warn: opts.warn ?? (() => assert.fail('no warning expected')) });
}

const isCertificateError = (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT' && err.message.startsWith(`cannot reach the API server at `) && /certificate/.test(err.message);

test('a CA that did not sign the server certificate is a ConnectError about the certificate', async () => {
  const other = await createPki();
  const c = client({ 'certificate-authority-data': b64(other.ca.certPem) });
  await assert.rejects(c.getPod('default', 'demo'), (err: unknown) => isCertificateError(err) && (err as Error).message.includes(sandbox.url));
});

test('insecure-skip-tls-verify skips verification and warns once', async () => {
  const warnings: string[] = [];
  const c = client({ 'certificate-authority-data': undefined, 'insecure-skip-tls-verify': true }, { warn: (m) => warnings.push(m) });
  assert.equal((await c.connectOptions()).rejectUnauthorized, false);
  assert.equal(await whoami(c), 'allowed');
  assert.equal((await c.getPod('default', 'demo')).metadata.name, 'demo');
  assert.deepEqual(warnings, [`insecure-skip-tls-verify is set for cluster "test": the API server's certificate is not checked, so anyone on the network path can pose as it`]);
});

test('tls-server-name is the name the certificate is checked against', async () => {
  const good = client({ 'tls-server-name': 'localhost' });
  assert.equal((await good.connectOptions()).servername, 'localhost');
  assert.equal((await good.getPod('default', 'demo')).metadata.name, 'demo');
  // The certificate has no SAN wrong.example: proof that the name is used, not the URL's host.
  await assert.rejects(client({ 'tls-server-name': 'wrong.example' }).getPod('default', 'demo'), isCertificateError);
});

test('proxy-url: requests and WebSocket upgrades go through a CONNECT tunnel', async () => {
  const before = proxy.connects.length;
  const c = client({ 'proxy-url': proxy.url });
  assert.equal(await whoami(c), 'allowed');
  assert.ok(proxy.connects.length > before);
  assert.deepEqual(new Set(proxy.connects.slice(before)), new Set([`127.0.0.1:${port}`]));

  // What exec does: a wss:// upgrade with connectOptions() spread into ws's options. (close()
  // drops the idle keep-alive connection, so the upgrade needs a tunnel of its own.)
  c.close();
  const connect = await c.connectOptions();
  const tunnels = proxy.connects.length;
  const url = c.url('/api/v1/namespaces/default/pods/demo/exec', { command: ['true'], stdout: 'true' });
  url.protocol = 'wss:';
  const protocol = await new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(url, ['v5.channel.k8s.io'], { ...connect, headers: connect.headers as Record<string, string> });
    ws.on('open', () => {
      resolve(ws.protocol);
      ws.terminate();
    });
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
  });
  assert.equal(protocol, 'v5.channel.k8s.io');
  assert.equal(proxy.connects.length, tunnels + 1);
  c.close();
});

test('a proxy that refuses the tunnel is a ConnectError naming the proxy, without its credentials', async () => {
  const url = new URL(refusingProxy.url);
  url.username = 'user';
  url.password = 'hunter2';
  await assert.rejects(client({ 'proxy-url': url.href }).getPod('default', 'demo'), (err: unknown) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.message, `cannot reach the API server at ${sandbox.url}: proxy ${refusingProxy.url} refused to tunnel to 127.0.0.1:${port}: 407 Proxy Authentication Required`);
    return true;
  });
});

test('HTTPS_PROXY is used unless NO_PROXY matches; loopback servers always go direct (as in Go)', async () => {
  const viaName = { server: `https://${FAKE_HOST}:${port}`, 'tls-server-name': 'localhost' };
  let before = proxy.connects.length;
  const proxied = client(viaName, { env: { HTTPS_PROXY: proxy.url } });
  assert.ok((await proxied.connectOptions()).agent);
  assert.equal(await whoami(proxied), 'allowed');
  assert.deepEqual(new Set(proxy.connects.slice(before)), new Set([`${FAKE_HOST}:${port}`]));
  proxied.close();

  // NO_PROXY names the host: podshell dials it directly, and the made-up name does not resolve.
  before = proxy.connects.length;
  for (const noProxy of [FAKE_HOST, '.invalid', `example.com, ${FAKE_HOST}:${port}`, '*']) {
    const direct = client(viaName, { env: { https_proxy: proxy.url, NO_PROXY: noProxy } });
    assert.equal((await direct.connectOptions()).agent, undefined, noProxy);
    await assert.rejects(direct.getPod('default', 'demo'), (err: unknown) => err instanceof ConnectError && err.message.includes('cannot resolve host name'));
  }
  // NO_PROXY=127.0.0.1, and loopback without NO_PROXY.
  for (const env of [{ HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }, { HTTPS_PROXY: proxy.url }]) {
    const direct = client({}, { env });
    assert.equal((await direct.connectOptions()).agent, undefined);
    assert.equal(await whoami(direct), 'allowed');
  }
  assert.equal(proxy.connects.length, before);
});
