// Scaling workloads in the sandbox with the machine's real kubectl 1.33: `kubectl scale` patches
// the scale subresource, the ReplicaSet (or StatefulSet) controller adds pods that start Running
// (exec and logs work in them) or deletes pods, which go through Terminating to gone — as a watch
// sees it, event by event. RBAC applies to deployments/scale, and the sandbox's replica limit is a
// 422. The file has a sandbox of its own; its tests run in order and each says the state it leaves.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { builtinManifest } from '../src/sandbox/world.ts';
import { pollUntil, run, websocketKubectls } from './helpers.ts';

const kubectl = websocketKubectls().find((k) => k.version === '1.33')!.path;
let sandbox: Sandbox;
let work: string;
const children = new Set<ChildProcess>();

const STATEFULSET = `
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: default
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
        - name: main
          image: podshell.dev/full:latest
          command: [sh, -c, 'echo "db: $HOSTNAME up"; exec cat']
          stdin: true
`;

// Its container ignores SIGTERM, so a deleted pod stays Terminating for the grace period.
const SLOW = `
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: slow
  namespace: default
spec:
  serviceName: slow
  replicas: 1
  selector:
    matchLabels:
      app: slow
  template:
    metadata:
      labels:
        app: slow
    spec:
      terminationGracePeriodSeconds: 600
      containers:
        - name: main
          image: podshell.dev/full:latest
          command: [sh, -c, 'trap "" TERM; exec cat']
          stdin: true
`;

const kube = (args: string[]) => run(kubectl, ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'cache'), ...args]);

/** A long-running kubectl whose stdout is collected; killed at the end of the file at the latest. */
function startKubectl(args: string[]): { child: ChildProcess; out: () => string } {
  const child = spawn(kubectl, ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'cache'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  return { child, out: () => out };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface WatchEvent {
  type: string;
  object: { metadata: { name: string; deletionTimestamp?: string; resourceVersion: string }; status?: { phase?: string; containerStatuses?: { state: Record<string, unknown> }[] } };
}

/** A raw watch of the pods with `selector`, from the current state on; its events as parsed so far. */
async function rawWatch(selector: string): Promise<{ child: ChildProcess; events: () => WatchEvent[] }> {
  const list = JSON.parse((await kube(['get', '--raw', `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(selector)}`])).stdout.toString()) as { metadata: { resourceVersion: string } };
  const w = startKubectl(['get', '--raw', `/api/v1/namespaces/default/pods?watch=1&labelSelector=${encodeURIComponent(selector)}&resourceVersion=${list.metadata.resourceVersion}`]);
  return {
    child: w.child,
    events: () =>
      w
        .out()
        .split('\n')
        .slice(0, -1) // the last piece is a line not yet whole
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as WatchEvent),
  };
}

async function podNames(selector: string): Promise<string[]> {
  const r = await kube(['get', 'pods', '-l', selector, '-o', 'jsonpath={.items[*].metadata.name}']);
  return r.stdout.toString().split(' ').filter(Boolean).sort();
}

/** `kubectl get pods` rows of the pods with `selector`: name → "READY STATUS". */
async function podRows(selector: string): Promise<Map<string, string>> {
  const r = await kube(['get', 'pods', '-l', selector, '--no-headers']);
  return new Map(
    r.stdout
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s+/))
      .map((c) => [c[0]!, `${c[1]} ${c[2]}`]),
  );
}

const jsonpath = async (object: string, path: string) => (await kube(['get', object, '-o', `jsonpath=${path}`])).stdout.toString();

let initialWeb: string[];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-scale-'));
  sandbox = await startSandbox({
    kubeconfigPath: join(work, 'kubeconfig'),
    manifestTexts: [
      { source: 'built-in world', text: builtinManifest },
      { source: 'statefulset', text: STATEFULSET },
      { source: 'slow statefulset', text: SLOW },
    ],
  });
  initialWeb = await podNames('app=web');
  assert.equal(initialWeb.length, 3);
});

after(async () => {
  for (const child of [...children]) await stop(child);
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

test('discovery lists the scale subresources as autoscaling/v1 Scale', async () => {
  const r = await kube(['get', '--raw', '/apis/apps/v1']);
  const resources = (JSON.parse(r.stdout.toString()) as { resources: { name: string; group?: string; version?: string; kind: string; verbs: string[] }[] }).resources;
  for (const name of ['deployments/scale', 'replicasets/scale', 'statefulsets/scale']) {
    const entry = resources.find((x) => x.name === name);
    assert.deepEqual(entry && { group: entry.group, version: entry.version, kind: entry.kind, verbs: entry.verbs }, { group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] }, name);
  }
  const scale = JSON.parse((await kube(['get', '--raw', '/apis/apps/v1/namespaces/default/deployments/web/scale'])).stdout.toString());
  assert.equal(scale.kind, 'Scale');
  assert.equal(scale.apiVersion, 'autoscaling/v1');
  assert.deepEqual(scale.spec, { replicas: 3 });
  assert.deepEqual(scale.status, { replicas: 3, selector: 'app=web' });
});

test('kubectl scale deploy/web --replicas=4: a fourth pod, ADDED ContainerCreating then MODIFIED Running; exec and logs work in it', async () => {
  const watch = await rawWatch('app=web');
  try {
    const r = await kube(['scale', 'deploy/web', '--replicas=4']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.toString(), 'deployment.apps/web scaled\n');
    assert.equal(r.code, 0);
    assert.ok(await pollUntil(async () => (await podNames('app=web')).length === 4, 60_000, 200));
    const [added] = (await podNames('app=web')).filter((p) => !initialWeb.includes(p));
    const hash = initialWeb[0]!.split('-')[1]!;
    assert.match(added!, new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
    assert.ok(await pollUntil(async () => (await podRows('app=web')).get(added!) === '2/2 Running', 60_000, 200), `rows: ${[...(await podRows('app=web'))]}`);
    // The watch saw it come: ADDED while its containers were being created, then Running.
    assert.ok(await pollUntil(() => watch.events().some((e) => e.type === 'MODIFIED' && e.object.metadata.name === added && e.object.status?.phase === 'Running'), 60_000, 100));
    const mine = watch.events().filter((e) => e.object.metadata.name === added);
    assert.equal(mine[0]!.type, 'ADDED');
    assert.equal(mine[0]!.object.status?.phase, 'Pending');
    assert.deepEqual(mine[0]!.object.status?.containerStatuses?.map((s) => s.state), [{ waiting: { reason: 'ContainerCreating' } }, { waiting: { reason: 'ContainerCreating' } }]);
    // A real pod: its own hostname, its own log.
    const exec = await kube(['exec', added!, '-c', 'app', '--', 'sh', '-c', 'echo "$HOSTNAME"']);
    assert.equal(exec.stdout.toString(), `${added}\n`);
    assert.equal(exec.code, 0);
    assert.ok(await pollUntil(async () => (await kube(['logs', added!])).stdout.toString() === `web: ${added} serving\n`, 60_000, 200));
    // The workloads' status follows.
    assert.ok(await pollUntil(async () => (await jsonpath('deploy/web', '{.spec.replicas} {.status.replicas} {.status.readyReplicas}')) === '4 4 4', 60_000, 200));
    assert.equal(await jsonpath(`rs/web-${hash}`, '{.spec.replicas} {.status.readyReplicas}'), '4 4');
  } finally {
    await stop(watch.child);
  }
});

test('kubectl scale deploy/web --replicas=2: the newest pods go Terminating (MODIFIED, deletionTimestamp), then DELETED', async () => {
  const before = await podNames('app=web');
  assert.equal(before.length, 4, 'the test before left four web pods');
  const watch = await rawWatch('app=web');
  const table = startKubectl(['get', 'pods', '-l', 'app=web', '-w', '--output-watch-events', '--no-headers']);
  try {
    // The table watch has printed the four pods before the scale.
    assert.ok(await pollUntil(() => before.every((p) => table.out().includes(p)), 60_000, 100));
    const r = await kube(['scale', 'deploy/web', '--replicas=2']);
    assert.equal(r.stdout.toString(), 'deployment.apps/web scaled\n');
    assert.equal(r.code, 0);
    assert.ok(await pollUntil(async () => (await podNames('app=web')).length === 2, 60_000, 200));
    const left = await podNames('app=web');
    const gone = before.filter((p) => !left.includes(p));
    assert.equal(gone.length, 2);
    // The ReplicaSet deletes the newest first: the pod the last test added is one of them.
    assert.equal(gone.filter((p) => !initialWeb.includes(p)).length, 1);
    assert.ok(await pollUntil(() => gone.every((p) => watch.events().some((e) => e.type === 'DELETED' && e.object.metadata.name === p)), 60_000, 100));
    for (const pod of gone) {
      const events = watch.events().filter((e) => e.object.metadata.name === pod);
      const marked = events.findIndex((e) => e.object.metadata.deletionTimestamp !== undefined);
      assert.ok(marked >= 0, `${pod}: ${JSON.stringify(events)}`);
      assert.equal(events[marked]!.type, 'MODIFIED');
      assert.ok(events[marked]!.object.status?.containerStatuses?.every((s) => 'running' in s.state), 'marked while still running');
      assert.equal(events.at(-1)!.type, 'DELETED');
      assert.ok(events.at(-1)!.object.status?.containerStatuses?.every((s) => 'terminated' in s.state), 'deleted once its containers ended');
      assert.equal(events.filter((e) => e.type === 'DELETED').length, 1);
    }
    for (const pod of left) assert.ok(!watch.events().some((e) => e.object.metadata.name === pod && e.object.metadata.deletionTimestamp !== undefined), pod);
    // kubectl's own watch shows them Terminating, then DELETED.
    assert.ok(await pollUntil(() => gone.every((p) => new RegExp(`^DELETED\\s+${p}\\s`, 'm').test(table.out())), 60_000, 100), table.out());
    for (const pod of gone) assert.match(table.out(), new RegExp(`^MODIFIED\\s+${pod}\\s+\\d/2\\s+Terminating\\s`, 'm'));
    assert.ok(await pollUntil(async () => (await jsonpath('deploy/web', '{.spec.replicas} {.status.replicas} {.status.readyReplicas}')) === '2 2 2', 60_000, 200));
    // Those left still work.
    const exec = await kube(['exec', left[0]!, '-c', 'app', '--', 'echo', 'still here']);
    assert.equal(exec.stdout.toString(), 'still here\n');
  } finally {
    await stop(watch.child);
    await stop(table.child);
  }
});

test('dev may not scale: kubectl\'s Forbidden for deployments/scale, nothing changes', async () => {
  const r = await kube(['--context', 'podshell-sandbox-dev', 'scale', 'deploy/web', '--replicas=5']);
  assert.equal(r.stderr, 'Error from server (Forbidden): deployments.apps "web" is forbidden: User "dev" cannot patch resource "deployments/scale" in API group "apps" in the namespace "default"\n');
  assert.equal(r.code, 1);
  assert.equal(await jsonpath('deploy/web', '{.spec.replicas}'), '2');
  const get = await kube(['--context', 'podshell-sandbox-dev', 'get', '--raw', '/apis/apps/v1/namespaces/default/deployments/web/scale']);
  assert.equal(get.stderr, 'Error from server (Forbidden): deployments.apps "web" is forbidden: User "dev" cannot get resource "deployments/scale" in API group "apps" in the namespace "default"\n');
});

test('more replicas than the sandbox allows is a 422, as a cluster refuses an invalid Scale; nothing changes', async () => {
  const r = await kube(['scale', 'deploy/web', '--replicas=51']);
  assert.equal(r.stderr, "The Scale \"web\" is invalid: spec.replicas: Invalid value: 51: must be less than or equal to 50 (the podshell sandbox's limit: each replica runs as processes on this machine)\n");
  assert.equal(r.code, 1);
  const negative = await kube(['patch', 'deploy/web', '--subresource=scale', '--type=merge', '-p', '{"spec":{"replicas":-1}}']);
  assert.equal(negative.stderr, 'The Scale "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n');
  const notNumber = await kube(['patch', 'deploy/web', '--subresource=scale', '--type=merge', '-p', '{"spec":{"replicas":"many"}}']);
  assert.equal(notNumber.stderr, 'Error from server (BadRequest): Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string into Go struct field ScaleSpec.spec.replicas of type int32\n');
  assert.equal(await jsonpath('deploy/web', '{.spec.replicas}'), '2');
  assert.equal((await podNames('app=web')).length, 2);
});

test('JSON patch, PUT and strategic merge patch of the scale subresource; a ReplicaSet a Deployment owns is set back', async () => {
  const json = await kube(['patch', 'deploy/web', '--subresource=scale', '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":3}]']);
  assert.equal(json.stdout.toString(), 'scale.autoscaling/web patched\n');
  assert.ok(await pollUntil(async () => [...(await podRows('app=web')).values()].join() === '2/2 Running,2/2 Running,2/2 Running', 60_000, 200));
  const hash = initialWeb[0]!.split('-')[1]!;
  const rs = await kube(['scale', `rs/web-${hash}`, '--replicas=1']);
  assert.equal(rs.stdout.toString(), `replicaset.apps/web-${hash} scaled\n`);
  assert.equal(await jsonpath(`rs/web-${hash}`, '{.spec.replicas}'), '3');
  // With a precondition kubectl reads the Scale and PUTs it back; a stale resourceVersion is a 409.
  const put = await kube(['scale', 'deploy/web', '--current-replicas=3', '--replicas=4']);
  assert.equal(put.stdout.toString(), 'deployment.apps/web scaled\n');
  assert.equal(await jsonpath('deploy/web', '{.spec.replicas}'), '4');
  const stale = join(work, 'stale-scale.json');
  writeFileSync(stale, JSON.stringify({ kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'web', namespace: 'default', resourceVersion: '3' }, spec: { replicas: 1 } }));
  const conflict = await kube(['replace', '--raw', '/apis/apps/v1/namespaces/default/deployments/web/scale', '-f', stale]);
  assert.equal(conflict.stderr, 'Error from server (Conflict): Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again\n');
  assert.equal(await jsonpath('deploy/web', '{.spec.replicas}'), '4');
  const strategic = await kube(['patch', 'deploy/web', '--subresource=scale', '-p', '{"spec":{"replicas":2}}']);
  assert.equal(strategic.stdout.toString(), 'scale.autoscaling/web patched\n');
  assert.ok(await pollUntil(async () => (await podNames('app=web')).length === 2, 60_000, 200));
});

test('kubectl patch of the Deployment itself: spec.replicas is served, any other change is the read-only 405', async () => {
  assert.equal(await jsonpath('deploy/web', '{.spec.replicas}'), '2', 'the test before left two');
  const r = await kube(['patch', 'deploy/web', '-p', '{"spec":{"replicas":3}}']);
  assert.equal(r.stdout.toString(), 'deployment.apps/web patched\n');
  assert.ok(await pollUntil(async () => [...(await podRows('app=web')).values()].join() === '2/2 Running,2/2 Running,2/2 Running', 60_000, 200));
  const same = await kube(['patch', 'deploy/web', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
  assert.equal(same.stdout.toString(), 'deployment.apps/web patched (no change)\n');
  const other = await kube(['patch', 'deploy/web', '-p', '{"spec":{"replicas":2,"paused":true}}']);
  assert.equal(other.stderr, 'Error from server (MethodNotAllowed): the podshell sandbox serves deployments read-only: patch is supported for spec.replicas only (or use the scale subresource)\n');
  const negative = await kube(['patch', 'deploy/web', '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":-3}]']);
  assert.equal(negative.stderr, 'The Deployment "web" is invalid: spec.replicas: Invalid value: -3: must be greater than or equal to 0\n');
  const dev = await kube(['--context', 'podshell-sandbox-dev', 'patch', 'deploy/web', '-p', '{"spec":{"replicas":1}}']);
  assert.equal(dev.stderr, 'Error from server (Forbidden): deployments.apps "web" is forbidden: User "dev" cannot patch resource "deployments" in API group "apps" in the namespace "default"\n');
  assert.equal(await jsonpath('deploy/web', '{.spec.replicas} {.spec.paused}'), '3 ');
});

test('a StatefulSet scales by ordinal: db-1 and db-2 come, then go highest first', async () => {
  assert.deepEqual(await podNames('app=db'), ['db-0']);
  const up = await kube(['scale', 'sts/db', '--replicas=3']);
  assert.equal(up.stdout.toString(), 'statefulset.apps/db scaled\n');
  assert.ok(await pollUntil(async () => [...(await podRows('app=db'))].join() === 'db-0,1/1 Running,db-1,1/1 Running,db-2,1/1 Running', 60_000, 200), `${[...(await podRows('app=db'))]}`);
  assert.ok(await pollUntil(async () => (await kube(['logs', 'db-2'])).stdout.toString() === 'db: db-2 up\n', 60_000, 200));
  assert.equal(await jsonpath('pod/db-2', '{.metadata.labels.apps\\.kubernetes\\.io/pod-index} {.spec.hostname} {.spec.subdomain}'), '2 db-2 db');
  const watch = await rawWatch('app=db');
  try {
    const down = await kube(['scale', 'sts/db', '--replicas=1']);
    assert.equal(down.code, 0);
    assert.ok(await pollUntil(async () => (await podNames('app=db')).join() === 'db-0', 60_000, 200));
    assert.ok(await pollUntil(() => watch.events().filter((e) => e.type === 'DELETED').length === 2, 60_000, 100));
    const marks = watch.events().filter((e) => e.type === 'MODIFIED' && e.object.metadata.deletionTimestamp !== undefined);
    assert.deepEqual([...new Set(marks.map((e) => e.object.metadata.name))], ['db-2', 'db-1']);
  } finally {
    await stop(watch.child);
  }
  assert.ok(await pollUntil(async () => (await jsonpath('sts/db', '{.spec.replicas} {.status.replicas} {.status.readyReplicas}')) === '1 1 1', 60_000, 200));
});

test('a Terminating pod takes no ephemeral container: kubectl debug is refused with a 422, and nothing starts', async () => {
  assert.deepEqual(await podNames('app=slow'), ['slow-0']);
  assert.equal((await kube(['scale', 'sts/slow', '--replicas=0'])).code, 0);
  assert.ok(await pollUntil(async () => (await jsonpath('pod/slow-0', '{.metadata.deletionTimestamp}')) !== '', 60_000, 200));
  const r = await kube(['debug', 'slow-0', '--image=busybox', '--container=late', '--', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr.toString(), /Pod "slow-0" is invalid: spec\.ephemeralContainers: Forbidden: cannot be added to a pod that is being deleted/);
  assert.equal(await jsonpath('pod/slow-0', '{.spec.ephemeralContainers}'), '');
});
