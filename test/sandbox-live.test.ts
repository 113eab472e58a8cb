// The sandbox's pods are alive: when a container's main process ends, the pod's status changes as
// a kubelet changes it (a restart, CrashLoopBackOff, Succeeded or Failed, per restartPolicy), and
// watches — a raw one, and the machine's `kubectl get pods -w` — see each change.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request, type RequestOptions } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { builtinManifest } from '../src/sandbox/world.ts';
import { pollUntil, run, websocketKubectls } from './helpers.ts';

let sandbox: Sandbox;
let work: string;
const children = new Set<ChildProcess>();

// Pods of the test's own, beside the built-in world's: each main process ends on its own.
const extra = `
apiVersion: v1
kind: Pod
metadata: {name: never-fails, labels: {app: live}}
spec:
  restartPolicy: Never
  containers: [{name: main, image: podshell.dev/full:latest, command: [sh, -c, 'exit 3']}]
---
apiVersion: v1
kind: Pod
metadata: {name: never-succeeds, labels: {app: live}}
spec:
  restartPolicy: Never
  containers: [{name: main, image: podshell.dev/full:latest, command: [sh, -c, 'exit 0']}]
---
apiVersion: v1
kind: Pod
metadata: {name: onfailure-succeeds, labels: {app: live}}
spec:
  restartPolicy: OnFailure
  containers: [{name: main, image: podshell.dev/full:latest, command: [sh, -c, 'exit 0']}]
---
apiVersion: v1
kind: Pod
metadata: {name: on-cue, labels: {app: live}}
spec:
  restartPolicy: Never
  containers: [{name: main, image: podshell.dev/full:latest, command: [sh, -c, 'while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 4']}]
---
apiVersion: v1
kind: Pod
metadata: {name: crasher, labels: {app: live}}
spec:
  containers: [{name: main, image: podshell.dev/full:latest, command: [sh, -c, 'exit 1']}]
`;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-live-'));
  sandbox = await startSandbox({
    kubeconfigPath: join(work, 'kubeconfig'),
    manifestTexts: [{ source: 'built-in world', text: builtinManifest }, { source: 'live.yaml', text: extra }],
    restartBackoff: { baseMs: 1000, maxMs: 4000 },
  });
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

const kubectlPath = websocketKubectls().at(-1)?.path ?? 'kubectl';
const kubectl = (args: string[]) => run(kubectlPath, ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'cache'), ...args]);

function options(path: string, user: 'admin' | 'dev'): RequestOptions {
  const url = new URL(path, sandbox.url);
  const auth = user === 'admin' ? { cert: sandbox.users.admin!.clientCert.certPem, key: sandbox.users.admin!.clientCert.keyPem } : { headers: { Authorization: `Bearer ${sandbox.users.dev!.token}` } };
  return { hostname: url.hostname, port: url.port, path: url.pathname + url.search, ca: sandbox.caPem, ...auth };
}

async function getJson(path: string, user: 'admin' | 'dev' = 'admin'): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(options(path, user), (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (s: string) => (text += s));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Watch {
  status: Promise<number>;
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  events: { type: string; object: any }[];
  close(): void;
}

/** A raw watch: every event it receives, in order. */
function watch(path: string, user: 'admin' | 'dev' = 'admin'): Watch {
  const events: { type: string; object: any }[] = [];
  let buffer = '';
  const req = request(options(path, user));
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      resolve(res.statusCode!);
      res.setEncoding('utf8').on('data', (s: string) => {
        buffer += s;
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.trim()) events.push(JSON.parse(line));
        }
      });
      res.on('error', () => {});
      res.on('end', end);
    });
    req.on('error', (err) => (events.length ? undefined : reject(err)));
  });
  req.end();
  return { status, events, ended, close: () => req.destroy() };
}

const mainStatus = (pod: any) => pod.status.containerStatuses[0];

async function podWhen(name: string, what: string, condition: (pod: any) => boolean, timeoutMs = 30_000): Promise<any> {
  let last: any;
  const ok = await pollUntil(async () => {
    last = (await getJson(`/api/v1/namespaces/default/pods/${name}`)).body;
    return condition(last);
  }, timeoutMs, 200);
  assert.ok(ok, `${what}; last status: ${JSON.stringify(last?.status)}`);
  return last;
}

/** Ends demo's main process a moment after the exec that starts it has ended. */
const KILL_MAIN_LATER = '(sleep 1; kill 1) >/dev/null 2>&1 &';

test('kill 1 in demo ends its main process: restartCount 1, a watch started before sees MODIFIED, kubectl get pods -w shows it', async () => {
  const before = (await getJson('/api/v1/namespaces/default/pods/demo')).body;
  assert.equal(mainStatus(before).restartCount, 0);
  const raw = watch('/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Ddemo');
  assert.equal(await raw.status, 200);
  const kubectlWatch = spawn(kubectlPath, ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'cache'), 'get', 'pods', '-w'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(kubectlWatch);
  let printed = '';
  kubectlWatch.stdout!.setEncoding('utf8').on('data', (s: string) => (printed += s));
  kubectlWatch.stderr!.setEncoding('utf8').on('data', (s: string) => (printed += s));
  // Both watches have said what exists before the main process ends.
  assert.ok(await pollUntil(() => raw.events.length > 0 && /^demo\s+1\/1\s+Running\s+0\s/m.test(printed), 30_000), `the initial lists: ${printed}`);
  assert.deepEqual(raw.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'demo']]);

  // From a background process after the exec ended: an exec still running when the main process
  // dies ends with it (137, as on a cluster), a race `kill 1` itself can lose on a loaded machine.
  const killed = await kubectl(['exec', 'demo', '--', 'sh', '-c', KILL_MAIN_LATER]);
  assert.equal(killed.stderr, '');

  const after = await podWhen('demo', 'demo restarted once', (pod) => mainStatus(pod).restartCount === 1 && mainStatus(pod).state.running !== undefined);
  const s = mainStatus(after);
  assert.equal(s.ready, true);
  assert.equal(s.lastState.terminated.exitCode, 143, 'cat ended by SIGTERM');
  assert.equal(s.lastState.terminated.reason, 'Error');
  assert.notEqual(s.containerID, mainStatus(before).containerID);
  assert.equal(s.lastState.terminated.containerID, mainStatus(before).containerID);
  assert.ok(Number(after.metadata.resourceVersion) > Number(before.metadata.resourceVersion));
  assert.equal(after.status.phase, 'Running');
  assert.equal(after.status.conditions.find((c: any) => c.type === 'Ready').status, 'True');

  // The raw watch: MODIFIED events of demo only, resourceVersions increasing, the last one the restart.
  assert.ok(await pollUntil(() => raw.events.some((e) => e.type === 'MODIFIED' && mainStatus(e.object).restartCount === 1), 20_000), JSON.stringify(raw.events.map((e) => e.type)));
  const modified = raw.events.slice(1);
  assert.ok(modified.every((e) => e.type === 'MODIFIED' && e.object.metadata.name === 'demo'), JSON.stringify(modified.map((e) => [e.type, e.object.metadata.name])));
  const versions = modified.map((e) => Number(e.object.metadata.resourceVersion));
  assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
  assert.equal(new Set(versions).size, versions.length);
  // While it was down: not ready, the pod's Ready condition False.
  const down = modified.find((e) => mainStatus(e.object).state.terminated);
  assert.ok(down, 'a MODIFIED event with the container terminated');
  assert.equal(mainStatus(down.object).ready, false);
  assert.equal(down.object.status.conditions.find((c: any) => c.type === 'Ready').status, 'False');
  assert.equal(down.object.status.conditions.find((c: any) => c.type === 'ContainersReady').reason, 'ContainersNotReady');
  raw.close();

  // kubectl's watch prints demo again, running with one restart.
  assert.ok(await pollUntil(() => /^demo\s+1\/1\s+Running\s+1 \(\S+ ago\)\s/m.test(printed), 20_000), `kubectl get pods -w printed:\n${printed}`);
  kubectlWatch.kill();

  // The new container works: exec, and its log starts over with the banner.
  const r = await kubectl(['exec', 'demo', '--', 'echo', 'hi']);
  assert.equal(r.stdout.toString(), 'hi\n');
  assert.equal((await kubectl(['logs', 'demo'])).stdout.toString(), 'podshell sandbox: pod demo is running\n');
});

test('restartPolicy Never: a main process exiting 3 leaves the pod Failed with exit code 3; exiting 0, Succeeded', async () => {
  const failed = await podWhen('never-fails', 'never-fails Failed', (pod) => pod.status.phase === 'Failed');
  assert.deepEqual({ ...mainStatus(failed).state.terminated, startedAt: undefined, finishedAt: undefined }, { containerID: mainStatus(failed).containerID, exitCode: 3, reason: 'Error', startedAt: undefined, finishedAt: undefined });
  assert.equal(mainStatus(failed).restartCount, 0);
  assert.equal(mainStatus(failed).ready, false);
  assert.deepEqual(failed.status.conditions.find((c: any) => c.type === 'Ready'), { ...failed.status.conditions.find((c: any) => c.type === 'Ready'), status: 'False', reason: 'PodCompleted' });

  const succeeded = await podWhen('never-succeeds', 'never-succeeds Succeeded', (pod) => pod.status.phase === 'Succeeded');
  assert.equal(mainStatus(succeeded).state.terminated.exitCode, 0);
  assert.equal(mainStatus(succeeded).state.terminated.reason, 'Completed');
  const onFailure = await podWhen('onfailure-succeeds', 'onfailure-succeeds Succeeded', (pod) => pod.status.phase === 'Succeeded');
  assert.equal(mainStatus(onFailure).restartCount, 0);

  // exec into a terminated container is refused, as by a cluster.
  const r = await kubectl(['exec', 'never-fails', '--', 'true']);
  assert.notEqual(r.code, 0);

  // kubectl's table says so too.
  const table = (await kubectl(['get', 'pods', '-l', 'app=live'])).stdout.toString();
  assert.match(table, /^never-fails\s+0\/1\s+Error\s+0\s/m);
  assert.match(table, /^never-succeeds\s+0\/1\s+Completed\s+0\s/m);
});

test('a main process that keeps failing goes through CrashLoopBackOff, with the back-off doubling', async () => {
  const waiting = await podWhen('crasher', 'crasher in CrashLoopBackOff', (pod) => mainStatus(pod).state.waiting?.reason === 'CrashLoopBackOff');
  const s = mainStatus(waiting);
  assert.ok(s.restartCount >= 1, `restarted at once the first time: ${JSON.stringify(s)}`);
  assert.match(s.state.waiting.message, new RegExp(`^back-off [124]s restarting failed container=main pod=crasher_default\\(${waiting.metadata.uid}\\)$`));
  assert.equal(s.lastState.terminated.exitCode, 1);
  assert.equal(s.ready, false);
  assert.equal(waiting.status.phase, 'Running');
  // After the back-off it is started again, and the next back-off is longer.
  const later = await podWhen('crasher', 'crasher restarted after its back-off', (pod) => mainStatus(pod).restartCount >= 2 && mainStatus(pod).state.waiting?.reason === 'CrashLoopBackOff');
  assert.match(mainStatus(later).state.waiting.message, /^back-off [24]s /);
  const table = (await kubectl(['get', 'pod', 'crasher'])).stdout.toString();
  assert.match(table, /^crasher\s+0\/1\s+CrashLoopBackOff\s+\d+ \(\S+ ago\)\s/m);
});

test('a watch from a list\'s resourceVersion gets the changes made after it, honours selectors, and RBAC applies to it', async () => {
  const list = (await getJson('/api/v1/namespaces/default/pods?labelSelector=app%3Ddemo')).body;
  const demoRv = Number(list.items[0].metadata.resourceVersion);
  const next = mainStatus(list.items[0]).restartCount + 1;
  const fromList = watch(`/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Ddemo&resourceVersion=${list.metadata.resourceVersion}`);
  assert.equal(await fromList.status, 200);
  const everything = watch('/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Ddemo');
  assert.equal(await everything.status, 200);
  assert.ok(await pollUntil(() => everything.events.length === 1, 20_000));
  assert.equal((await kubectl(['exec', 'demo', '--', 'sh', '-c', KILL_MAIN_LATER])).stderr, '');
  assert.ok(await pollUntil(() => fromList.events.some((e) => mainStatus(e.object).restartCount === next), 30_000), JSON.stringify(fromList.events.map((e) => e.type)));
  // No initial ADDED from a resourceVersion: only what changed after it, all demo.
  assert.ok(fromList.events.every((e) => e.type === 'MODIFIED' && e.object.metadata.name === 'demo' && Number(e.object.metadata.resourceVersion) > demoRv));
  assert.ok(await pollUntil(() => everything.events.some((e) => e.type === 'MODIFIED' && mainStatus(e.object).restartCount === next), 20_000));
  assert.ok(everything.events.every((e) => e.object.metadata.name === 'demo'));
  fromList.close();
  everything.close();

  // A resourceVersion the sandbox no longer remembers: 410 Expired, as an ERROR event.
  const expired = watch('/api/v1/namespaces/default/pods?watch=1&resourceVersion=1');
  assert.equal(await expired.status, 200);
  assert.ok(await pollUntil(() => expired.events.length > 0, 20_000));
  assert.equal(expired.events[0]!.type, 'ERROR');
  assert.equal(expired.events[0]!.object.code, 410);
  assert.equal(expired.events[0]!.object.reason, 'Expired');
  expired.close();

  // dev may watch pods in default only.
  const denied = await getJson('/api/v1/namespaces/restricted/pods?watch=1', 'dev');
  assert.equal(denied.status, 403);
});

test('a pod that stops matching a watch\'s field selector is DELETED from it; timeoutSeconds ends a watch', async () => {
  const running = watch('/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Dlive&fieldSelector=status.phase%3DRunning');
  assert.equal(await running.status, 200);
  assert.ok(await pollUntil(() => running.events.some((e) => e.object.metadata.name === 'on-cue'), 20_000), JSON.stringify(running.events.map((e) => [e.type, e.object.metadata.name])));
  assert.equal((await kubectl(['exec', 'on-cue', '--', 'touch', '/tmp/go'])).code, 0);
  assert.ok(await pollUntil(() => running.events.some((e) => e.type === 'DELETED' && e.object.metadata.name === 'on-cue'), 20_000), JSON.stringify(running.events.map((e) => [e.type, e.object.metadata.name])));
  const gone = running.events.find((e) => e.type === 'DELETED' && e.object.metadata.name === 'on-cue')!;
  assert.equal(gone.object.status.phase, 'Failed');
  assert.equal(mainStatus(gone.object).state.terminated.exitCode, 4);
  // Pods that were never Running for this watch (never-fails…) are never sent.
  assert.ok(running.events.every((e) => ['on-cue', 'crasher'].includes(e.object.metadata.name)), JSON.stringify(running.events.map((e) => e.object.metadata.name)));
  running.close();

  const short = watch('/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1');
  assert.equal(await short.status, 200);
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([short.ended.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 20_000)))]);
  clearTimeout(timer);
  assert.ok(ended, 'the watch ended after timeoutSeconds');
  // It ended by itself (after what exists, and whatever crasher did meanwhile).
  assert.equal(short.events[0]?.type, 'ADDED');
});
