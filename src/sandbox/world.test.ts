import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestError, parseManifests } from './manifest.ts';
import { templateHash } from './controllers.ts';
import { buildWorld, builtinManifest, builtinUsers, builtinWorld, type World } from './world.ts';
import { parsePodFieldSelector } from './fields.ts';
import { fromLabelSelector } from './labels.ts';
import type { KubeObject, Pod, Workload } from './types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const SAFE = /^[bcdfghjklmnpqrstvwxz2456789]+$/;

function build(text: string): World {
  return buildWorld(parseManifests(text, 'm.yaml'));
}

function buildRejects(text: string, message: string): void {
  assert.throws(
    () => build(text),
    (e: unknown) => {
      assert.ok(e instanceof ManifestError, `not a ManifestError: ${String(e)}`);
      assert.equal(e.message, message);
      return true;
    },
  );
}

const podOf = (w: World, ns: string, name: string): Pod => {
  const p = w.pods.find((x) => x.metadata.namespace === ns && x.metadata.name === name);
  assert.ok(p, `pod ${ns}/${name}`);
  return p;
};

const status = (p: Pod) => p.status as Record<string, any>;
const spec = (p: Pod) => p.spec as Record<string, any>;

describe('the built-in world', () => {
  const w = buildWorld(parseManifests(builtinManifest, 'builtin'));

  test('has the pods docs/sandbox.md lists', () => {
    const names = w.pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    assert.deepEqual(
      names.filter((n) => !n.startsWith('default/web-')),
      ['default/demo', 'default/slim', 'default/distroless', 'restricted/vault', 'default/echo-http'],
    );
    const web = w.pods.filter((p) => p.metadata.name.startsWith('web-'));
    assert.equal(web.length, 3);
    for (const p of web) {
      assert.match(p.metadata.name, /^web-[a-z0-9]{8,10}-[a-z0-9]{5}$/);
      assert.equal(p.metadata.namespace, 'default');
    }
    assert.equal(new Set(web.map((p) => p.metadata.name)).size, 3);
  });

  test('containers, images and labels', () => {
    const containers = (p: Pod) => p.spec.containers.map((c) => `${c.name}=${c.image}`);
    assert.deepEqual(containers(podOf(w, 'default', 'demo')), ['main=podshell.dev/full:latest']);
    assert.deepEqual(podOf(w, 'default', 'demo').metadata.labels, { app: 'demo' });
    assert.deepEqual(containers(podOf(w, 'default', 'slim')), ['main=podshell.dev/slim:latest']);
    assert.deepEqual(containers(podOf(w, 'default', 'distroless')), ['app=podshell.dev/distroless:latest']);
    assert.deepEqual(containers(podOf(w, 'restricted', 'vault')), ['main=podshell.dev/full:latest']);
    for (const p of w.pods.filter((x) => x.metadata.name.startsWith('web-'))) {
      assert.deepEqual(containers(p), ['app=podshell.dev/full:latest', 'sidecar=podshell.dev/full:latest']);
      assert.equal(p.metadata.labels!['app'], 'web');
      assert.match(p.metadata.labels!['pod-template-hash']!, SAFE);
      assert.deepEqual(p.metadata.annotations, { 'kubectl.kubernetes.io/default-container': 'app' });
      assert.ok(parsePodFieldSelector('status.phase=Running,spec.nodeName=sandbox')(p));
      assert.ok(fromLabelSelector({ matchLabels: { app: 'web' } }).matches(p.metadata.labels));
    }
  });

  test('owner chain pod → ReplicaSet → Deployment, by uid', () => {
    const deploy = w.workloads.find((x) => x.kind === 'Deployment' && x.metadata.name === 'web')!;
    const rs = w.workloads.find((x) => x.kind === 'ReplicaSet')!;
    assert.ok(deploy && rs);
    const hash = rs.metadata.labels!['pod-template-hash']!;
    assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{8,10}$/);
    assert.equal(rs.metadata.name, `web-${hash}`);
    assert.deepEqual(rs.metadata.ownerReferences, [
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: deploy.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    assert.deepEqual(rs.spec.selector, { matchLabels: { app: 'web', 'pod-template-hash': hash } });
    assert.deepEqual(rs.spec.template!.metadata!.labels, { app: 'web', 'pod-template-hash': hash });
    assert.equal(rs.spec.replicas, 3);
    for (const p of w.pods.filter((x) => x.metadata.name.startsWith('web-'))) {
      assert.ok(p.metadata.name.startsWith(`${rs.metadata.name}-`));
      assert.equal(p.metadata.generateName, `${rs.metadata.name}-`);
      assert.deepEqual(p.metadata.ownerReferences, [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
    }
    assert.equal(podOf(w, 'default', 'demo').metadata.ownerReferences, undefined);
  });

  test('workload status', () => {
    const deploy = w.workloads.find((x) => x.kind === 'Deployment')!;
    const rs = w.workloads.find((x) => x.kind === 'ReplicaSet')!;
    const ds = deploy.status as Record<string, any>;
    assert.equal(deploy.metadata['generation'], 1);
    assert.equal(deploy.metadata.annotations!['deployment.kubernetes.io/revision'], '1');
    assert.deepEqual(
      { ...ds, conditions: undefined },
      { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, conditions: undefined },
    );
    assert.deepEqual(
      ds['conditions'].map((c: any) => [c.type, c.status, c.reason]),
      [
        ['Available', 'True', 'MinimumReplicasAvailable'],
        ['Progressing', 'True', 'NewReplicaSetAvailable'],
      ],
    );
    assert.equal(ds['conditions'][1].message, `ReplicaSet "${rs.metadata.name}" has successfully progressed.`);
    assert.deepEqual(rs.status, { replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 3, availableReplicas: 3, observedGeneration: 1 });
    assert.equal(rs.metadata.annotations!['deployment.kubernetes.io/max-replicas'], '4');
  });

  test('pods look scheduled and running', () => {
    const ips = new Set<string>();
    for (const p of w.pods) {
      const s = spec(p);
      assert.equal(s['nodeName'], 'sandbox');
      assert.equal(s['restartPolicy'], 'Always');
      assert.equal(s['dnsPolicy'], 'ClusterFirst');
      assert.equal(s['schedulerName'], 'default-scheduler');
      assert.equal(s['terminationGracePeriodSeconds'], 30);
      assert.equal(s['serviceAccountName'], 'default');
      for (const c of p.spec.containers) {
        assert.equal(c['imagePullPolicy'], 'Always');
        assert.equal(c['terminationMessagePath'], '/dev/termination-log');
      }
      const st = status(p);
      assert.equal(st['phase'], 'Running');
      assert.equal(st['hostIP'], '127.0.0.1');
      assert.match(st['podIP'], /^10\.244\.0\.\d+$/);
      assert.deepEqual(st['podIPs'], [{ ip: st['podIP'] }]);
      ips.add(st['podIP']);
      assert.equal(st['qosClass'], 'BestEffort');
      assert.match(st['startTime'], RFC3339);
      assert.deepEqual(
        st['conditions'].map((c: any) => `${c.type}=${c.status}`),
        ['PodReadyToStartContainers=True', 'Initialized=True', 'Ready=True', 'ContainersReady=True', 'PodScheduled=True'],
      );
      for (const c of st['conditions']) assert.match(c.lastTransitionTime, RFC3339);
      assert.deepEqual(
        st['containerStatuses'].map((c: any) => c.name),
        p.spec.containers.map((c) => c.name),
      );
      for (const [i, cs] of st['containerStatuses'].entries()) {
        assert.equal(cs.ready, true);
        assert.equal(cs.started, true);
        assert.equal(cs.restartCount, 0);
        assert.equal(cs.image, p.spec.containers[i]!.image);
        assert.match(cs.imageID, /^podshell\.dev\/[a-z]+@sha256:[0-9a-f]{64}$/);
        assert.match(cs.containerID, /^podshell:\/\/[0-9a-f]{64}$/);
        assert.match(cs.state.running.startedAt, RFC3339);
      }
    }
    assert.equal(ips.size, w.pods.length, 'pod IPs are unique');
  });

  test('metadata filled as the apiserver does', () => {
    const all: KubeObject[] = [
      ...w.namespaces,
      ...w.pods,
      ...w.workloads,
      ...w.roles,
      ...w.clusterRoles,
      ...w.roleBindings,
      ...w.clusterRoleBindings,
      ...w.users,
    ];
    const rvs = new Set<string>();
    const uids = new Set<string>();
    for (const o of all) {
      assert.match(o.metadata.uid!, UUID);
      assert.match(o.metadata.creationTimestamp!, RFC3339);
      assert.match(o.metadata.resourceVersion!, /^\d+$/);
      rvs.add(o.metadata.resourceVersion!);
      uids.add(o.metadata.uid!);
    }
    assert.equal(rvs.size, all.length);
    assert.equal(uids.size, all.length);
    assert.deepEqual(Object.keys(podOf(w, 'default', 'demo').metadata), [
      'name',
      'namespace',
      'uid',
      'resourceVersion',
      'creationTimestamp',
      'labels',
    ]);
  });

  test('namespaces', () => {
    assert.deepEqual(
      w.namespaces.map((n) => n.metadata.name),
      ['default', 'kube-node-lease', 'kube-public', 'kube-system', 'restricted'],
    );
    const r = w.namespaces.find((n) => n.metadata.name === 'restricted')!;
    assert.deepEqual(r.metadata.labels, { 'kubernetes.io/metadata.name': 'restricted' });
    assert.deepEqual(r['status'], { phase: 'Active' });
  });

  test('users and RBAC', () => {
    assert.deepEqual(
      w.users.map((u) => [u.metadata.name, u.spec.tokens, u.spec.groups]),
      [
        ['admin', ['admin-token'], ['system:masters']],
        ['dev', ['dev-token'], undefined],
        ['viewer', ['viewer-token'], undefined],
      ],
    );
    assert.deepEqual(w.users.map((u) => u.metadata.name), [...builtinUsers]);
    assert.equal(w.users[0]!.metadata.namespace, undefined);

    const dev = w.roles.find((r) => r.metadata.name === 'dev')!;
    assert.equal(dev.metadata.namespace, 'default');
    const execRule = dev.rules!.find((r) => r.resources?.includes('pods/exec'))!;
    assert.deepEqual(execRule, { apiGroups: [''], resources: ['pods/exec', 'pods/attach'], verbs: ['get', 'create'] });
    assert.deepEqual(
      w.roleBindings.map((b) => [b.metadata.namespace, b.metadata.name, b.roleRef.kind, b.roleRef.name, b.subjects]),
      [['default', 'dev', 'Role', 'dev', [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'dev' }]]],
    );
    const viewer = w.clusterRoles.find((r) => r.metadata.name === 'viewer')!;
    const viewerResources = viewer.rules!.flatMap((r) => r.resources ?? []);
    assert.ok(viewerResources.includes('pods') && viewerResources.includes('pods/log'));
    assert.ok(!viewerResources.some((r) => r === 'pods/exec' || r === 'pods/attach'));
    assert.deepEqual(
      w.clusterRoleBindings.map((b) => [b.metadata.name, b.roleRef.name, (b.subjects ?? []).map((s) => `${s.kind}:${s.name}`)]),
      [
        ['cluster-admin', 'cluster-admin', ['Group:system:masters']],
        ['namespace-readers', 'namespace-reader', ['User:dev', 'User:viewer']],
        ['viewer', 'viewer', ['User:viewer']],
      ],
    );
  });

  test('the template hash is stable, pod suffixes are not', () => {
    const a = builtinWorld();
    const b = builtinWorld();
    const rsName = (x: World) => x.workloads.find((o) => o.kind === 'ReplicaSet')!.metadata.name;
    assert.equal(rsName(a), rsName(b));
    assert.notDeepEqual(
      a.pods.map((p) => p.metadata.name),
      b.pods.map((p) => p.metadata.name),
    );
  });
});

describe('buildWorld', () => {
  const pod = (name: string, ns?: string, extra = '') =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}${extra}spec:\n  containers:\n    - name: main\n      image: img:1.0\n`;

  test('does not change its input', () => {
    const objs = parseManifests(pod('a'), 'm.yaml');
    const before = structuredClone(objs);
    const w = buildWorld(objs);
    assert.deepEqual(objs, before);
    assert.equal(w.pods[0]!.metadata.namespace, 'default');
    assert.equal(w.pods[0]!.spec.containers[0]!['imagePullPolicy'], 'IfNotPresent');
  });

  test('a namespace that does not exist', () => {
    buildRejects(`${pod('a')}---\n${pod('b', 'nope')}`, 'm.yaml: document 2 (Pod "b"): namespaces "nope" not found');
  });

  test('objects made in code are named without a document', () => {
    const p: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'x' }, spec: { containers: [{ name: 'c', image: 'i' }] } };
    assert.throws(() => buildWorld([p]), { name: 'ManifestError', message: 'Pod "p" (namespace "x"): namespaces "x" not found' });
  });

  test('declared namespaces, and system ones without declaring', () => {
    const w = build(`apiVersion: v1\nkind: Namespace\nmetadata: {name: team, labels: {tier: a}}\n---\n${pod('a', 'team')}---\n${pod('b', 'kube-system')}`);
    assert.deepEqual(w.namespaces.find((n) => n.metadata.name === 'team')!.metadata.labels, {
      tier: 'a',
      'kubernetes.io/metadata.name': 'team',
    });
    assert.deepEqual(
      w.pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
      ['team/a', 'kube-system/b'],
    );
  });

  test('duplicates', () => {
    buildRejects(`${pod('a')}---\n${pod('a', 'default')}`, 'm.yaml: document 2 (Pod "a"): pods "a" already exists (also defined by m.yaml: document 1 (Pod "a"))');
    buildRejects(
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n',
      'm.yaml: document 2 (Namespace "x"): namespaces "x" already exists (also defined by m.yaml: document 1 (Namespace "x"))',
    );
    // The same name in two namespaces is fine; so is the same name for two kinds.
    const w = build(`${pod('a')}---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\n${pod('a', 'b')}`);
    assert.equal(w.pods.length, 2);
  });

  test('duplicate tokens across users', () => {
    buildRejects(
      'apiVersion: sandbox.podshell.dev/v1\nkind: SandboxUser\nmetadata: {name: a}\nspec: {tokens: [t]}\n---\napiVersion: sandbox.podshell.dev/v1\nkind: SandboxUser\nmetadata: {name: b}\nspec: {tokens: [u, t]}\n',
      'm.yaml: document 2 (SandboxUser "b"): spec.tokens[1]: Duplicate value: "t": already a token of SandboxUser "a"',
    );
  });

  test('cluster-scoped objects lose a namespace', () => {
    const w = build('apiVersion: sandbox.podshell.dev/v1\nkind: SandboxUser\nmetadata: {name: a, namespace: x}\n');
    assert.equal(w.users[0]!.metadata.namespace, undefined);
    assert.deepEqual(w.users[0]!.spec, {});
  });

  test('generateName', () => {
    const w = build(pod('x').replace('  name: x\n', '  generateName: job-\n'));
    assert.match(w.pods[0]!.metadata.name, /^job-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  test('explicit pod fields are kept; status is the sandbox’s', () => {
    const w = build(
      pod('a', undefined, '  annotations: {note: hi}\n').replace(
        'spec:\n',
        'spec:\n  nodeName: elsewhere\n  restartPolicy: Never\n  serviceAccountName: robot\n',
      ) + '      resources: {limits: {cpu: "1", memory: 1Gi}}\n  initContainers: [{name: init, image: img, resources: {limits: {cpu: "1", memory: 1Gi}}}]\nstatus: {phase: Failed}\n',
    );
    const p = w.pods[0]!;
    assert.equal(spec(p)['nodeName'], 'elsewhere');
    assert.equal(spec(p)['restartPolicy'], 'Never');
    assert.equal(spec(p)['serviceAccountName'], 'robot');
    assert.deepEqual(p.metadata.annotations, { note: 'hi' });
    assert.equal(status(p)['phase'], 'Running');
    assert.equal(status(p)['qosClass'], 'Guaranteed');
    assert.equal(status(p)['initContainerStatuses'][0].state.terminated.reason, 'Completed');
  });

  test('ReplicaSet given directly', () => {
    const w = build(`apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  replicas: 2
  selector: {matchLabels: {app: rs}}
  template:
    metadata: {labels: {app: rs}, annotations: {a: b}}
    spec: {containers: [{name: main, image: img}]}
`);
    const rs = w.workloads[0]!;
    assert.equal(w.pods.length, 2);
    for (const p of w.pods) {
      assert.match(p.metadata.name, /^rs-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      assert.deepEqual(p.metadata.labels, { app: 'rs' });
      assert.deepEqual(p.metadata.annotations, { a: 'b' });
      assert.equal(p.metadata.ownerReferences![0]!.uid, rs.metadata.uid);
    }
    assert.deepEqual(rs.status, { replicas: 2, fullyLabeledReplicas: 2, readyReplicas: 2, availableReplicas: 2, observedGeneration: 1 });
  });

  test('a Deployment scaled to zero', () => {
    const w = build(`apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 0
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec: {containers: [{name: main, image: img}]}
`);
    assert.equal(w.pods.length, 0);
    assert.equal(w.workloads.length, 2);
    assert.deepEqual(Object.keys(w.workloads[0]!.status!), ['observedGeneration', 'conditions']);
  });

  test('StatefulSet', () => {
    const w = build(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db-headless
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: main, image: img}]}
`);
    const ss = w.workloads[0]! as Workload;
    assert.deepEqual(
      w.pods.map((p) => p.metadata.name),
      ['db-0', 'db-1'],
    );
    const revision = (ss.status as Record<string, unknown>)['currentRevision'] as string;
    assert.match(revision, /^db-[bcdfghjklmnpqrstvwxz2456789]+$/);
    w.pods.forEach((p, i) => {
      assert.deepEqual(p.metadata.labels, {
        app: 'db',
        'apps.kubernetes.io/pod-index': String(i),
        'controller-revision-hash': revision,
        'statefulset.kubernetes.io/pod-name': `db-${i}`,
      });
      assert.equal(spec(p)['hostname'], `db-${i}`);
      assert.equal(spec(p)['subdomain'], 'db-headless');
      assert.deepEqual(p.metadata.ownerReferences![0], {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        name: 'db',
        uid: ss.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      });
    });
    assert.equal((ss.status as Record<string, unknown>)['readyReplicas'], 2);
  });

  test('a StatefulSet pod clashing with a pod of the same name', () => {
    buildRejects(
      `${pod('db-0')}---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: main, image: img}]}
`,
      'm.yaml: document 2 (StatefulSet "db"): cannot create its pod: pods "db-0" already exists (m.yaml: document 1 (Pod "db-0"))',
    );
  });

  test('DaemonSet', () => {
    const w = build(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: main, image: img}]}
`);
    assert.equal(w.pods.length, 1);
    const p = w.pods[0]!;
    assert.match(p.metadata.name, /^agent-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.equal(p.metadata.namespace, 'kube-system');
    assert.equal(p.metadata.labels!['app'], 'agent');
    assert.equal(p.metadata.labels!['pod-template-generation'], '1');
    assert.match(p.metadata.labels!['controller-revision-hash']!, SAFE);
    assert.equal((w.workloads[0]!.status as Record<string, unknown>)['numberReady'], 1);
  });

  test('Job', () => {
    const w = build(`apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    metadata: {labels: {team: a}}
    spec:
      restartPolicy: Never
      containers: [{name: main, image: img, command: [sh, -c, "exit 0"]}]
`);
    const job = w.workloads[0]!;
    const uid = job.metadata.uid!;
    assert.deepEqual(job.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
    const p = w.pods[0]!;
    assert.match(p.metadata.name, /^once-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(p.metadata.labels, {
      team: 'a',
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': 'once',
      'controller-uid': uid,
      'job-name': 'once',
    });
    assert.equal(spec(p)['restartPolicy'], 'Never');
    assert.deepEqual(p.metadata.ownerReferences![0], {
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: 'once',
      uid,
      controller: true,
      blockOwnerDeletion: true,
    });
    assert.ok(fromLabelSelector(job.spec.selector).matches(p.metadata.labels));
    assert.equal((job.status as Record<string, unknown>)['active'], 1);
  });

  test('User and Group subjects get the RBAC group', () => {
    const w = build(
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: User, name: u}, {kind: ServiceAccount, name: default}]\n',
    );
    assert.deepEqual(w.roleBindings[0]!.subjects, [
      { kind: 'User', name: 'u', apiGroup: 'rbac.authorization.k8s.io' },
      { kind: 'ServiceAccount', name: 'default' },
    ]);
    assert.equal(w.roleBindings[0]!.metadata.namespace, 'default');
  });

  test('templateHash is FNV-based and spelled in the safe alphabet', () => {
    const h = templateHash({ spec: { containers: [] } });
    assert.match(h, /^[456789bcdf]{1,10}$/);
    assert.equal(h, templateHash({ spec: { containers: [] } }));
    assert.notEqual(h, templateHash({ spec: { containers: [{ name: 'a' }] } }));
  });
});
