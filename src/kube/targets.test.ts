// Target resolution: the pure rules table-driven, then resolveTargets against a sandbox.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { builtinManifest } from '../sandbox/world.ts';
import { ApiStatusError, KubeClient, TargetError, type Pod } from './index.ts';
import { checkNotCompleted, chooseContainer, compareActivity, labelSelectorString, parseTarget } from './targets.ts';

// ---------------------------------------------------------------------------------------------
// Pure rules.

function pod(name: string, fields: { containers?: string[]; init?: string[]; ephem?: string[]; annotation?: string; phase?: string; node?: string; ready?: string | false; restarts?: number; created?: string; deleting?: boolean } = {}): Pod {
  return {
    metadata: {
      name,
      namespace: 'default',
      creationTimestamp: fields.created ?? '2024-01-01T00:00:00Z',
      ...(fields.annotation ? { annotations: { 'kubectl.kubernetes.io/default-container': fields.annotation } } : {}),
      ...(fields.deleting ? { deletionTimestamp: '2024-01-02T00:00:00Z' } : {}),
    },
    spec: {
      containers: (fields.containers ?? ['main']).map((n) => ({ name: n })),
      ...(fields.init ? { initContainers: fields.init.map((n) => ({ name: n })) } : {}),
      ...(fields.ephem ? { ephemeralContainers: fields.ephem.map((n) => ({ name: n })) } : {}),
      nodeName: fields.node ?? 'node-1',
    },
    status: {
      phase: fields.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: fields.ready === false ? 'False' : 'True', lastTransitionTime: fields.ready || '2024-01-01T00:01:00Z' }],
      containerStatuses: [{ name: 'main', restartCount: fields.restarts ?? 0 }],
    },
  };
}

test('parseTarget accepts POD and TYPE/NAME in kubectl\'s spellings', () => {
  const cases: [string, string, string][] = [
    ['demo', 'pods', 'demo'],
    ['pod/demo', 'pods', 'demo'],
    ['po/demo', 'pods', 'demo'],
    ['deploy/web', 'deployments', 'web'],
    ['Deployment/web', 'deployments', 'web'],
    ['deployments.apps/web', 'deployments', 'web'],
    ['deployment.v1.apps/web', 'deployments', 'web'],
    ['sts/db', 'statefulsets', 'db'],
    ['rs/web-abc', 'replicasets', 'web-abc'],
    ['ds/agent', 'daemonsets', 'agent'],
    ['jobs.batch/once', 'jobs', 'once'],
    ['svc/web', 'services', 'web'],
    ['rc/old', 'replicationcontrollers', 'old'],
  ];
  for (const [text, resource, name] of cases) {
    const parsed = parseTarget(text);
    assert.equal(parsed.kind.resource, resource, text);
    assert.equal(parsed.name, name, text);
  }
  const errors: [string, string][] = [
    ['foo/x', 'unsupported resource type "foo" in "foo/x": expected one of pods, deployments, replicasets, statefulsets, daemonsets, jobs, services, replicationcontrollers (or a short name: po, deploy, rs, sts, ds, svc, rc)'],
    ['deployments.batch/x', 'unsupported resource type "deployments.batch" in "deployments.batch/x": expected one of pods, deployments, replicasets, statefulsets, daemonsets, jobs, services, replicationcontrollers (or a short name: po, deploy, rs, sts, ds, svc, rc)'],
    ['deploy/', 'arguments in resource/name form must have a single resource and name: "deploy/"'],
    ['a/b/c', 'arguments in resource/name form must have a single resource and name: "a/b/c"'],
    ['', 'pod, type/name or --filename must be specified'],
  ];
  for (const [text, message] of errors) assert.throws(() => parseTarget(text), new TargetError(message), text);
});

test('label selectors become selector strings as apimachinery writes them', () => {
  assert.equal(labelSelectorString({ matchLabels: { tier: 'web', app: 'shop' } }), 'app=shop,tier=web');
  assert.equal(
    labelSelectorString({
      matchLabels: { app: 'shop' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'canary'] },
        { key: 'zone', operator: 'NotIn', values: ['b'] },
        { key: 'gpu', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }),
    'app=shop,env in (canary,prod),gpu,!legacy,zone notin (b)',
  );
  assert.throws(() => labelSelectorString({ matchExpressions: [{ key: 'a', operator: 'Like' }] }), new TargetError('"Like" is not a valid label selector operator'));
});

test('the most active pod sorts first (kubectl ActivePods, reversed)', () => {
  const pairs: [Pod, Pod, string][] = [
    [pod('b'), pod('a', { node: '' }), 'assigned before unassigned'],
    [pod('b'), pod('a', { phase: 'Pending' }), 'Running before Pending'],
    [pod('b', { phase: 'Unknown' }), pod('a', { phase: 'Pending' }), 'Unknown before Pending'],
    [pod('b'), pod('a', { ready: false }), 'ready before not ready'],
    [pod('b'), pod('a', { deleting: true }), 'not deleting before deleting'],
    [pod('b', { ready: '2024-01-01T00:00:00Z' }), pod('a', { ready: '2024-01-01T05:00:00Z' }), 'ready longer first'],
    [pod('b'), pod('a', { restarts: 3 }), 'fewer restarts first'],
    [pod('b', { created: '2023-01-01T00:00:00Z' }), pod('a'), 'older first'],
    [pod('a'), pod('b'), 'then by name'],
  ];
  for (const [first, second, why] of pairs) {
    assert.ok(compareActivity(first, second) < 0, why);
    assert.ok(compareActivity(second, first) > 0, why);
  }
});

test('container choice: -c, then the default-container annotation, then the first with a notice', () => {
  const p = pod('p', { containers: ['a', 'b'], init: ['y'], ephem: ['x'] });
  assert.deepEqual(chooseContainer(p), { container: 'a', defaultedNotice: 'Defaulted container "a" out of: a, b, x (ephem), y (init)' });
  assert.deepEqual(chooseContainer(p, 'b'), { container: 'b' });
  assert.deepEqual(chooseContainer(p, 'y'), { container: 'y' });
  assert.deepEqual(chooseContainer(pod('p', { containers: ['a', 'b'], annotation: 'b' })), { container: 'b' });
  assert.deepEqual(chooseContainer(pod('p', { containers: ['only'] })), { container: 'only' });
  assert.deepEqual(chooseContainer(pod('p', { containers: ['only'], init: ['i'] })), { container: 'only', defaultedNotice: 'Defaulted container "only" out of: only, i (init)' });
  assert.throws(() => chooseContainer(p, 'nope'), new TargetError('container nope is not valid for pod p out of: a, b, x (ephem), y (init)'));
  assert.throws(() => chooseContainer(pod('p', { containers: ['a', 'b'], annotation: 'gone' })), new TargetError('container gone is not valid for pod p out of: a, b'));
});

test('completed pods are refused with kubectl\'s words', () => {
  assert.throws(() => checkNotCompleted(pod('p', { phase: 'Succeeded' })), new TargetError('cannot exec into a container in a completed pod; current phase is Succeeded'));
  assert.throws(() => checkNotCompleted(pod('p', { phase: 'Failed' }), 'attach'), new TargetError('cannot attach a container in a completed pod; current phase is Failed'));
  checkNotCompleted(pod('p', { phase: 'Pending' }));
});

// ---------------------------------------------------------------------------------------------
// Against a sandbox: the built-in world plus a pod with two containers and a StatefulSet.

const extraWorld = `apiVersion: v1
kind: Pod
metadata:
  name: pair
  namespace: default
  labels: {app: pair}
spec:
  containers:
    - {name: a, image: podshell.dev/slim:latest}
    - {name: b, image: podshell.dev/slim:latest}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: default
spec:
  replicas: 2
  serviceName: db
  selector:
    matchExpressions:
      - {key: app, operator: In, values: [db]}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
        - {name: postgres, image: podshell.dev/slim:latest}
`;

let sandbox: Sandbox;
let client: KubeClient;

before(async () => {
  sandbox = await startSandbox({
    manifestTexts: [
      { source: 'built-in world', text: builtinManifest },
      { source: 'extra', text: extraWorld },
    ],
  });
  client = KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath });
});

after(async () => {
  await sandbox.close();
});

test('a pod name, or { pod }', async () => {
  assert.deepEqual(await client.resolveTargets('demo'), [{ namespace: 'default', pod: 'demo', container: 'main' }]);
  assert.deepEqual(await client.resolveTargets({ pod: 'demo' }), [{ namespace: 'default', pod: 'demo', container: 'main' }]);
  assert.deepEqual(await client.resolveTargets('pod/vault', { namespace: 'restricted' }), [{ namespace: 'restricted', pod: 'vault', container: 'main' }]);
});

test('deploy/web is one web pod, container app chosen by the annotation (no notice)', async () => {
  const webPods = (await client.listPods('default', { labelSelector: 'app=web' })).map((p) => p.metadata.name);
  for (const target of ['deploy/web', 'deployments.apps/web']) {
    const resolved = await client.resolveTargets(target);
    assert.equal(resolved.length, 1);
    assert.ok(webPods.includes(resolved[0]!.pod));
    assert.deepEqual({ ...resolved[0], pod: '' }, { namespace: 'default', pod: '', container: 'app' });
  }
  const [one] = await client.resolveTargets('sts/db');
  assert.match(one!.pod, /^db-[01]$/);
  assert.equal(one!.container, 'postgres');
});

test('a selector, or a workload with allPods, gives every pod sorted by name', async () => {
  const bySelector = await client.resolveTargets({ selector: 'app=web' });
  assert.equal(bySelector.length, 3);
  assert.deepEqual(bySelector.map((t) => t.pod), [...bySelector.map((t) => t.pod)].sort());
  assert.ok(bySelector.every((t) => t.container === 'app' && t.namespace === 'default' && !t.defaultedNotice));
  assert.deepEqual(await client.resolveTargets({ workload: 'deploy/web', allPods: true }), bySelector);
  assert.deepEqual((await client.resolveTargets({ workload: 'statefulset/db', allPods: true })).map((t) => t.pod), ['db-0', 'db-1']);
  await assert.rejects(client.resolveTargets({ selector: 'app=none' }), new TargetError('no pods found for selector "app=none" in namespace "default"'));
});

test('an unknown container is a TargetError listing the pod\'s containers', async () => {
  const [web] = await client.resolveTargets('deploy/web');
  await assert.rejects(client.resolveTargets(web!.pod, { container: 'nope' }), new TargetError(`container nope is not valid for pod ${web!.pod} out of: app, sidecar`));
  assert.deepEqual(await client.resolveTargets(web!.pod, { container: 'sidecar' }), [{ namespace: 'default', pod: web!.pod, container: 'sidecar' }]);
});

test('two containers without the annotation: the first, with kubectl\'s notice', async () => {
  assert.deepEqual(await client.resolveTargets('pair'), [{ namespace: 'default', pod: 'pair', container: 'a', defaultedNotice: 'Defaulted container "a" out of: a, b' }]);
});

test('unknown pods and workloads are the server\'s 404; unknown types a TargetError', async () => {
  await assert.rejects(client.resolveTargets('nope'), (err: unknown) => err instanceof ApiStatusError && err.code === 'ERR_NOT_FOUND' && err.message === 'pods "nope" not found');
  await assert.rejects(client.resolveTargets('deploy/nope'), (err: unknown) => err instanceof ApiStatusError && err.code === 'ERR_NOT_FOUND' && err.message === 'deployments.apps "nope" not found');
  await assert.rejects(client.resolveTargets('foo/x'), (err: unknown) => err instanceof TargetError && err.code === 'ERR_TARGET' && err.message.startsWith('unsupported resource type "foo"'));
});
