// Other real clients against the sandbox: Debian's python3-kubernetes (WebSocket v4) and
// @kubernetes/client-node's Exec.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { run } from './helpers.ts';

let sandbox: Sandbox;
before(async () => {
  sandbox = await startSandbox();
});
after(async () => {
  await sandbox?.close();
});

const python = `
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(config_file=sys.argv[1], context=sys.argv[2])
api = client.CoreV1Api()
names = [p.metadata.name for p in api.list_namespaced_pod("default", label_selector="app=web").items]
print("web pods:", len(names))
out = stream(api.connect_get_namespaced_pod_exec, "demo", "default",
             command=["sh", "-c", "echo hello from $(hostname)"], stderr=True, stdin=False, stdout=True, tty=False)
sys.stdout.write(out)
`;

for (const context of ['podshell-sandbox', 'podshell-sandbox-dev']) {
  test(`python3-kubernetes stream() exec returns the output (${context})`, async () => {
    const r = await run('/usr/bin/python3', ['-c', python, sandbox.kubeconfigPath, context]);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.toString(), 'web pods: 3\nhello from demo\n');
    assert.equal(r.code, 0);
  });
}

test('@kubernetes/client-node Exec delivers stdout, stderr and the exit status', async () => {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfigPath);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const status = await new Promise<k8s.V1Status>((resolve, reject) => {
    new k8s.Exec(kc).exec('default', 'demo', 'main', ['sh', '-c', 'echo out; echo err >&2; exit 3'], stdout, stderr, null, false, resolve).catch(reject);
  });
  assert.equal(Buffer.concat(out).toString(), 'out\n');
  assert.equal(Buffer.concat(err).toString(), 'err\n');
  assert.equal(status.status, 'Failure');
  assert.equal(status.reason, 'NonZeroExitCode');
  assert.deepEqual(status.details?.causes, [{ reason: 'ExitCode', message: '3' }]);
});

test('@kubernetes/client-node lists pods through the sandbox API', async () => {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfigPath);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const pods = await api.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' });
  assert.equal(pods.items.length, 3);
  assert.deepEqual(pods.items.map((p) => p.spec?.containers.map((c) => c.name)), [['app', 'sidecar'], ['app', 'sidecar'], ['app', 'sidecar']]);
});
