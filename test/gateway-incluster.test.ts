// `podshell web` in a pod: its own cluster through the pod's service account (`--in-cluster`),
// proven against the sandbox with the files and environment a pod would have.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { InClusterClusters } from '../src/gateway/clusters.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { startTestGateway } from './gateway-client.ts';
import { StreamClient } from './gateway-stream-client.ts';
import { inPodEnvironment, podServiceAccount } from './helpers.ts';

let sandbox: Sandbox;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-incluster-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

/** What a pod has: KUBERNETES_SERVICE_HOST/PORT and the service account's token, CA and namespace. */
function inPod(t: { after(fn: () => void): void }, token: string, namespace: string): string {
  inPodEnvironment(t, sandbox.url);
  return podServiceAccount(join(work, `pod-${namespace}`), { token, caPem: sandbox.caPem, namespace });
}

test('the gateway serves the pod\'s own cluster as "in-cluster": its pods, and a shell in demo', async (t) => {
  const root = inPod(t, sandbox.users['admin']!.token!, 'default');
  const gw = await startTestGateway({ clusters: new InClusterClusters({ root }) });
  t.after(() => gw.close());
  const clusters = (await (await gw.fetch('/api/clusters')).json()) as { clusters: { name: string; server: string; namespace: string; current: boolean }[] };
  assert.deepEqual(clusters.clusters, [{ name: 'in-cluster', server: sandbox.url, namespace: 'default', current: true }]);
  const pods = (await (await gw.fetch('/api/clusters/in-cluster/namespaces/default/pods')).json()) as { pods: { name: string }[] };
  assert.ok(pods.pods.some((p) => p.name === 'demo'));
  const created = await gw.fetch('/api/sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cluster: 'in-cluster', namespace: 'default', pod: 'demo', command: ['sh', '-c', 'echo in-$((40+2))'] }) });
  assert.equal(created.status, 201, await created.clone().text());
  const c = new StreamClient(gw.websocket(`/api/sessions/${((await created.json()) as { id: string }).id}/stream`));
  await c.closed;
  assert.match(c.text(), /in-42/);
  assert.equal(c.exitInfo?.code, 0);
  assert.equal((await gw.fetch('/api/clusters/elsewhere/namespaces')).status, 404);
});

test('outside a pod it refuses to start: ERR_NOT_IN_CLUSTER', () => {
  const saved = process.env['KUBERNETES_SERVICE_HOST'];
  delete process.env['KUBERNETES_SERVICE_HOST'];
  try {
    assert.throws(() => new InClusterClusters({ root: join(work, 'nowhere') }), (err: Error & { code?: string }) => err.code === 'ERR_NOT_IN_CLUSTER');
  } finally {
    if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
  }
});
