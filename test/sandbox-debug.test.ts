// Ephemeral (debug) containers in the sandbox: the pods/ephemeralcontainers subresource as a
// cluster serves it (patch types, validation, RBAC, watch events), the machine's real
// `kubectl debug -it` getting a shell that sees its target's processes and files, and what a
// debug container cannot reach.

import assert from 'node:assert/strict';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { pollUntil, run, TmuxSession } from './helpers.ts';

let sandbox: Sandbox;
let work: string;
let admin: Cluster;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-debug-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
  admin = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath });
});

after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

interface Reply {
  status: number;
  body: any;
}

/** One API request as `user` (admin: its client certificate; others: their token). */
function api(method: string, path: string, body?: unknown, contentType = 'application/strategic-merge-patch+json', user = 'admin'): Promise<Reply> {
  const creds = sandbox.users[user]!;
  const url = new URL(path, sandbox.url);
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: sandbox.caPem,
        ...(user === 'admin' ? { cert: creds.clientCert.certPem, key: creds.clientCert.keyPem } : {}),
        headers: {
          ...(user !== 'admin' ? { Authorization: `Bearer ${creds.token}` } : {}),
          ...(text !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) } : {}),
        },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (c: string) => (data += c));
        res.on('end', () => {
          let parsed: unknown = data;
          try {
            parsed = JSON.parse(data);
          } catch {
            /* text */
          }
          resolve({ status: res.statusCode!, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

const EC = '/api/v1/namespaces/default/pods/demo/ephemeralcontainers';

async function ephemeralStatus(name: string, pod = 'demo'): Promise<any> {
  const r = await api('GET', `/api/v1/namespaces/default/pods/${pod}`);
  return (r.body.status.ephemeralContainerStatuses ?? []).find((s: any) => s.name === name);
}

function namespaced(t: { skip(message: string): void }): boolean {
  if (sandbox.isolation === 'namespaces') return true;
  t.skip('namespace isolation is not available here');
  return false;
}

test('discovery lists pods/ephemeralcontainers with get, patch and update', async () => {
  const r = await api('GET', '/api/v1');
  const sub = r.body.resources.find((x: any) => x.name === 'pods/ephemeralcontainers');
  assert.deepEqual(sub, { name: 'pods/ephemeralcontainers', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] });
});

test('GET serves the pod; a user without patch on pods/ephemeralcontainers gets 403', async () => {
  const got = await api('GET', EC);
  assert.equal(got.status, 200);
  assert.equal(got.body.kind, 'Pod');
  assert.equal(got.body.metadata.name, 'demo');
  const denied = await api('PATCH', EC, { spec: { ephemeralContainers: [{ name: 'nope', image: 'busybox' }] } }, undefined, 'dev');
  assert.equal(denied.status, 403);
  assert.equal(denied.body.message, 'pods "demo" is forbidden: User "dev" cannot patch resource "pods/ephemeralcontainers" in API group "" in the namespace "default"');
  assert.equal(await ephemeralStatus('nope'), undefined);
});

test('invalid changes are 422 with field errors: missing image, duplicate name, unknown target, forbidden fields', async () => {
  const bad = await api('PATCH', EC, { spec: { ephemeralContainers: [{ name: 'main', targetContainerName: 'nosuch', ports: [{ containerPort: 80 }] }] } });
  assert.equal(bad.status, 422);
  assert.equal(bad.body.reason, 'Invalid');
  assert.equal(
    bad.body.message,
    'Pod "demo" is invalid: [spec.ephemeralContainers[0].name: Duplicate value: "main", spec.ephemeralContainers[0].image: Required value, ' +
      'spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container, spec.ephemeralContainers[0].targetContainerName: Not found: "nosuch"]',
  );
  assert.deepEqual(bad.body.details.causes[0], { reason: 'FieldValueDuplicate', message: 'Duplicate value: "main"', field: 'spec.ephemeralContainers[0].name' });
  assert.deepEqual(bad.body.details.causes[1], { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.ephemeralContainers[0].image' });
  const type = await api('PATCH', EC, { spec: {} }, 'application/yaml');
  assert.equal(type.status, 415);
  const failedTest = await api('PATCH', EC, [{ op: 'test', path: '/metadata/name', value: 'other' }, { op: 'add', path: '/spec/ephemeralContainers', value: [{ name: 'never', image: 'busybox' }] }], 'application/json-patch+json');
  assert.equal(failedTest.status, 422);
  assert.equal(failedTest.body.message, 'testing value /metadata/name failed: test failed');
  const notJson = await api('PATCH', EC, '{"spec":', 'application/merge-patch+json');
  assert.equal(notJson.status, 400);
  const pod = (await api('GET', EC)).body;
  assert.equal((pod.spec.ephemeralContainers ?? []).some((c: any) => c.name === 'never' || c.name === 'nope'), false);
});

test('a pod may have at most 20 ephemeral containers: a patch that adds more is 422 Too many and starts none', async () => {
  const before = ((await api('GET', EC)).body.spec.ephemeralContainers ?? []) as any[];
  const extra = Array.from({ length: 21 - before.length }, (_, i) => ({ name: `many-${i}`, image: 'busybox', command: ['true'] }));
  const bad = await api('PATCH', EC, { spec: { ephemeralContainers: [...before, ...extra] } }, 'application/merge-patch+json');
  assert.equal(bad.status, 422);
  assert.equal(bad.body.reason, 'Invalid');
  const message = "Too many: 21: must have at most 20 items (the podshell sandbox's limit: each one runs as processes on this machine)";
  assert.equal(bad.body.message, `Pod "demo" is invalid: spec.ephemeralContainers: ${message}`);
  assert.deepEqual(bad.body.details.causes, [{ reason: 'FieldValueTooMany', message, field: 'spec.ephemeralContainers' }]);
  const pod = (await api('GET', EC)).body;
  assert.equal((pod.spec.ephemeralContainers ?? []).length, before.length);
});

test('merge patch adds one; it runs, cannot be changed or removed, and its statuses arrive as MODIFIED watch events', async (t) => {
  // A watch from a list's resourceVersion, as kubectl waits.
  const list = await api('GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Ddemo');
  const from = list.body.metadata.resourceVersion;
  const events: any[] = [];
  const controller = new AbortController();
  t.after(() => controller.abort());
  const creds = sandbox.users.admin!;
  const watch = request(new URL(`/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Ddemo&resourceVersion=${from}`, sandbox.url), {
    ca: sandbox.caPem,
    cert: creds.clientCert.certPem,
    key: creds.clientCert.keyPem,
    signal: controller.signal,
  });
  watch.on('error', () => {});
  watch.on('response', (res) => {
    let buf = '';
    res.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        events.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
    res.on('error', () => {});
  });
  watch.end();

  const added = await api('PATCH', EC, { spec: { ephemeralContainers: [{ name: 'merged', image: 'busybox', command: ['sh', '-c', 'echo from-merged; exit 3'] }] } }, 'application/merge-patch+json');
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.equal(added.body.spec.ephemeralContainers.at(-1).name, 'merged');
  const states = () => events.filter((e) => e.type === 'MODIFIED').map((e) => e.object.status.ephemeralContainerStatuses?.find((s: any) => s.name === 'merged')?.state).filter(Boolean);
  assert.ok(await pollUntil(() => states().some((s) => s.terminated), 60_000), JSON.stringify(events.map((e) => e.type)));
  const seen = states();
  assert.equal(seen[0].waiting.reason, 'ContainerCreating');
  assert.ok(seen.some((s) => s.running?.startedAt), JSON.stringify(seen));
  const terminated = seen.at(-1).terminated;
  assert.equal(terminated.exitCode, 3);
  assert.equal(terminated.reason, 'Error');
  const logs = await admin.run({ target: 'demo', command: ['true'] }); // the pod itself is unaffected
  assert.equal(logs.exitCode, 0);
  const log = await api('GET', '/api/v1/namespaces/default/pods/demo/log?container=merged');
  assert.equal(log.body, 'from-merged\n');

  const pod = (await api('GET', EC)).body;
  const changed = structuredClone(pod.spec.ephemeralContainers);
  changed.find((c: any) => c.name === 'merged').image = 'alpine';
  const change = await api('PATCH', EC, [{ op: 'replace', path: '/spec/ephemeralContainers', value: changed }], 'application/json-patch+json');
  assert.equal(change.status, 422);
  assert.equal(change.body.message, 'Pod "demo" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "merged" may not be changed');
  const remove = await api('PUT', EC, { ...pod, spec: { ...pod.spec, ephemeralContainers: [] } }, 'application/json');
  assert.equal(remove.status, 422);
  assert.equal(remove.body.message, 'Pod "demo" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "merged" may not be removed');
  const stale = await api('PUT', EC, { ...pod, metadata: { ...pod.metadata, resourceVersion: '1' } }, 'application/json');
  assert.equal(stale.status, 409);
});

test('JSON patch and PUT each add one more', async () => {
  const jp = await api('PATCH', EC, [{ op: 'add', path: '/spec/ephemeralContainers/-', value: { name: 'jsonpatched', image: 'busybox', command: ['sleep', '1000'] } }], 'application/json-patch+json');
  assert.equal(jp.status, 200, JSON.stringify(jp.body));
  const pod = (await api('GET', EC)).body;
  pod.spec.ephemeralContainers.push({ name: 'put', image: 'busybox', command: ['sleep', '1000'] });
  const put = await api('PUT', EC, pod, 'application/json');
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.ok(await pollUntil(async () => (await ephemeralStatus('put'))?.state?.running !== undefined && (await ephemeralStatus('jsonpatched'))?.state?.running !== undefined, 60_000));
});

test("kubectl debug -it demo --image=busybox --target=main -- sh: ps shows the target's cat, /proc/<pid>/root reaches its files", async (t) => {
  if (!namespaced(t)) return;
  const mark = `marker-${process.pid}`;
  const wrote = await admin.run({ target: 'demo', command: ['sh', '-c', `echo ${mark} > /root/only-in-main`] });
  assert.equal(wrote.exitCode, 0, wrote.stderr);
  const tmux = new TmuxSession('kubectl-debug', ['kubectl', '--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'cache'), 'debug', '-it', 'demo', '--image=busybox', '--target=main', '--', 'sh']);
  t.after(() => tmux.kill());
  await tmux.waitFor(/Defaulting debug container name to debugger-[a-z0-9]{5}\./);
  await tmux.waitFor(/If you don't see a command prompt, try pressing enter\./);
  tmux.type('');
  await tmux.waitFor(/^# ?$/m);
  // Output may share a line with a prompt (the echo of typed lines can come first): marked lines.
  tmux.type("ps -e -o pid=,comm= | grep -w cat | sed 's/^ */found-/'");
  await tmux.waitFor(/found-\d+ cat *\n# *$/m);
  tmux.type('cat /root/only-in-main; echo own=$?; cat /proc/$(pgrep -x cat | head -1)/root/root/only-in-main');
  await tmux.waitFor(new RegExp(`own=1\\s*\\n${mark}`));
  const name = /debugger-[a-z0-9]{5}/.exec(tmux.screen())![0];
  tmux.type('exit 4');
  assert.ok(await pollUntil(async () => (await ephemeralStatus(name))?.state?.terminated !== undefined, 60_000));
  assert.equal((await ephemeralStatus(name)).state.terminated.exitCode, 4);
});

test('a debug container sees nothing of the host: no host key through any /proc/*/root, no capabilities, the pod as hostname', async (t) => {
  if (!namespaced(t)) return;
  const added = await api('PATCH', EC, { spec: { ephemeralContainers: [{ name: 'isolated', image: 'busybox', command: ['sleep', '100000'], targetContainerName: 'main' }] } });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.ok(await pollUntil(async () => (await ephemeralStatus('isolated'))?.state?.running !== undefined, 60_000));
  const key = sandbox.kubeconfigPath;
  assert.match(readFileSync(key, 'utf8'), /client-key-data: \S+/);
  const script =
    `cat '${key}'; for d in /proc/[0-9]*; do cat "$d/root${key}" "$d/cwd${key}"; done; ` +
    'grep -E "^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status; hostname; ' +
    'ls /proc | grep -cE "^[0-9]+$"; echo done';
  const r = await admin.run({ target: 'demo', container: 'isolated', command: ['sh', '-c', script] });
  assert.match(r.stdout, /done\n$/);
  assert.doesNotMatch(r.stdout, /client-key-data|BEGIN|apiVersion/);
  for (const cap of ['CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.match(r.stdout, new RegExp(`^${cap}:\\s+0000000000000000$`, 'm'));
  assert.match(r.stdout, /^NoNewPrivs:\s+1$/m);
  assert.match(r.stdout, /^demo$/m);
  // Only the pod's processes: the target's and the debug containers' (a host has hundreds).
  const count = Number(/^(\d+)\ndone/m.exec(r.stdout)![1]);
  assert.ok(count > 2 && count < 40, r.stdout);
  // Stopping it does not stop the target.
  const target = await admin.run({ target: 'demo', command: ['sh', '-c', 'pgrep -x cat >/dev/null && echo alive'] });
  assert.equal(target.stdout, 'alive\n');
});

test('kubectl debug without --target: its own process namespace', async (t) => {
  if (!namespaced(t)) return;
  const r = await run('kubectl', ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'cache'), 'debug', 'demo', '--image=busybox', '-c', 'alone', '--', 'sh', '-c', 'ps -e -o comm='], {});
  assert.equal(r.code, 0, r.stderr);
  assert.ok(await pollUntil(async () => (await ephemeralStatus('alone'))?.state?.terminated !== undefined, 60_000));
  const log = await api('GET', '/api/v1/namespaces/default/pods/demo/log?container=alone');
  assert.doesNotMatch(log.body, /\bcat\b/);
  assert.match(log.body, /\bps\b/);
});

test('a pod with several containers and a debug container: the container must be named, and the message lists the ephemeral ones apart', async () => {
  const pods = await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb');
  const web = pods.body.items[0].metadata.name;
  const added = await api('PATCH', `/api/v1/namespaces/default/pods/${web}/ephemeralcontainers`, { spec: { ephemeralContainers: [{ name: 'webdbg', image: 'busybox', command: ['sh', '-c', 'echo in-web'] }] } });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.ok(await pollUntil(async () => (await ephemeralStatus('webdbg', web))?.state?.terminated !== undefined, 60_000));
  const unnamed = await api('GET', `/api/v1/namespaces/default/pods/${web}/log`);
  assert.equal(unnamed.status, 400);
  assert.equal(unnamed.body.message, `a container name must be specified for pod ${web}, choose one of: [app sidecar] or one of the ephemeral containers: [webdbg]`);
  const named = await api('GET', `/api/v1/namespaces/default/pods/${web}/log?container=webdbg`);
  assert.equal(named.body, 'in-web\n');
});
