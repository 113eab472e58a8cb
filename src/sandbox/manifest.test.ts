import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PodshellError } from '../protocol/index.ts';
import { SandboxError } from './errors.ts';
import { supportedKinds } from './kinds.ts';
import { ManifestError, describeObject, parseManifests, validateObject } from './manifest.ts';
import type { Pod } from './types.ts';

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

const pod = (name: string, containers = '    - name: main\n      image: img') =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n${containers}\n`;

const deployment = (selector: string, labels: string, extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
${selector}
  template:
    metadata:
      labels:
${labels}
    spec:
${extra}      containers:
        - name: app
          image: img
`;

function rejects(text: string, message: string): void {
  assert.throws(
    () => parseManifests(text, 'world.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof ManifestError, `not a ManifestError: ${String(e)}`);
      assert.equal(e.message, message);
      return true;
    },
  );
}

describe('parseManifests', () => {
  test('reads several documents, skipping empty ones', () => {
    const objs = parseManifests(`---\n${pod('a')}---\n---\n# only a comment\n---\n${pod('b')}`, 'm.yaml');
    assert.deepEqual(
      objs.map((o) => o.metadata.name),
      ['a', 'b'],
    );
    const a = objs[0] as Pod;
    assert.equal(a.kind, 'Pod');
    assert.deepEqual(a.spec.containers, [{ name: 'main', image: 'img' }]);
    assert.equal(a.metadata.namespace, undefined, 'parsing does not default');
  });

  test('empty text gives no objects', () => {
    assert.deepEqual(parseManifests('', 'm.yaml'), []);
    assert.deepEqual(parseManifests('# nothing\n', 'm.yaml'), []);
  });

  test('expands kind: List', () => {
    const text = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: team}
  - apiVersion: v1
    kind: Pod
    metadata: {name: p, namespace: team}
    spec: {containers: [{name: main, image: img}]}
`;
    assert.deepEqual(
      parseManifests(text, 'm.yaml').map((o) => `${o.kind}/${o.metadata.name}`),
      ['Namespace/team', 'Pod/p'],
    );
    rejects(
      text.replace('name: main', 'name: Main'),
      `world.yaml: document 1, items[1] (Pod "p"): spec.containers[0].name: Invalid value: "Main": ${LABEL_MSG}`,
    );
  });

  test('keeps fields it does not know', () => {
    const [p] = parseManifests(pod('a', '    - name: main\n      image: img\n      ports: [{containerPort: 80}]'), 'm.yaml');
    assert.deepEqual((p as Pod).spec.containers[0]!['ports'], [{ containerPort: 80 }]);
  });

  test('reads YAML as Kubernetes does (1.1 booleans, timestamps as strings, anchors)', () => {
    const [p] = parseManifests(
      `apiVersion: v1
kind: Pod
metadata:
  name: a
  annotations:
    when: 2024-01-01
spec:
  containers:
    - &c {name: main, image: img, command: [sh, -c, "true"]}
`,
      'm.yaml',
    );
    assert.equal(p!.metadata.annotations!['when'], '2024-01-01');
    rejects(
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    enabled: yes\nspec:\n  containers: [{name: main, image: img}]\n',
      'world.yaml: document 1 (Pod "a"): metadata.labels[enabled]: Invalid value: true: must be a string',
    );
  });

  test('records where each object came from', () => {
    const objs = parseManifests(`${pod('a')}---\n${pod('b')}`, 'm.yaml');
    assert.equal(describeObject(objs[1]!), 'm.yaml: document 2 (Pod "b")');
    assert.equal(JSON.stringify(Object.keys(objs[1]!)), '["apiVersion","kind","metadata","spec"]');
  });

  const errors: [string, string, string][] = [
    [
      'container without a name',
      `${pod('a')}---\n${pod('b')}---\n${pod('web', '    - image: img')}`,
      'world.yaml: document 3 (Pod "web"): spec.containers[0].name: Required value',
    ],
    [
      'unsupported kind',
      `${pod('a')}---\napiVersion: v1\nkind: Potato\nmetadata: {name: p}\n`,
      'world.yaml: document 2: kind "Potato" is not supported (supported: Namespace, Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, Role, ClusterRole, RoleBinding, ClusterRoleBinding, SandboxUser)',
    ],
    [
      'YAML syntax',
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   bad: 1\n',
      'world.yaml: document 1: line 4, column 9: Nested mappings are not allowed in compact mappings',
    ],
    ['YAML syntax in a later document', `${pod('a')}---\na: [1\nb: 2\n`, 'world.yaml: document 2: line 11, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['duplicate keys', 'a: 1\na: 2\n', 'world.yaml: document 1: line 2, column 1: Map keys must be unique'],
    ['unresolved alias', 'x: *a\n', 'world.yaml: document 1: Unresolved alias (the anchor must be set before the alias): a'],
    ['not a mapping', '- a\n- b\n', 'world.yaml: document 1: expected a Kubernetes object (a mapping with apiVersion and kind), got a list'],
    ['no kind', 'apiVersion: v1\nmetadata: {name: a}\n', 'world.yaml: document 1: kind: Required value'],
    ['no apiVersion', 'kind: Pod\nmetadata: {name: a}\n', 'world.yaml: document 1 (Pod "a"): apiVersion: Required value'],
    [
      'wrong apiVersion',
      deployment('    matchLabels: {app: web}', '        app: web').replace('apps/v1', 'v1'),
      'world.yaml: document 1 (Deployment "web"): no matches for kind "Deployment" in version "v1" (Deployment is apps/v1)',
    ],
    [
      'SandboxUser in the wrong group',
      'apiVersion: v1\nkind: SandboxUser\nmetadata: {name: a}\n',
      'world.yaml: document 1 (SandboxUser "a"): no matches for kind "SandboxUser" in version "v1" (SandboxUser is sandbox.podshell.dev/v1)',
    ],
    ['no name', 'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: i}]}\n', 'world.yaml: document 1 (Pod): metadata.name: Required value: name or generateName is required'],
    ['invalid pod name', pod('Web'), `world.yaml: document 1 (Pod "Web"): metadata.name: Invalid value: "Web": ${SUBDOMAIN_MSG}`],
    [
      'invalid namespace name',
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n',
      'world.yaml: document 1 (Namespace "a.b"): metadata.name: Invalid value: "a.b": must not contain dots',
    ],
    [
      'invalid namespace of a pod',
      pod('a').replace('  name: a\n', '  name: a\n  namespace: Team\n'),
      `world.yaml: document 1 (Pod "a"): metadata.namespace: Invalid value: "Team": ${LABEL_MSG}`,
    ],
    [
      'invalid container name',
      pod('a', '    - name: Main\n      image: img'),
      `world.yaml: document 1 (Pod "a"): spec.containers[0].name: Invalid value: "Main": ${LABEL_MSG}`,
    ],
    [
      'duplicate container names',
      pod('a', '    - name: main\n      image: img\n    - name: main\n      image: img'),
      'world.yaml: document 1 (Pod "a"): spec.containers[1].name: Duplicate value: "main"',
    ],
    [
      'init container named like a container',
      pod('a', '    - name: main\n      image: img\n  initContainers:\n    - name: main\n      image: img'),
      'world.yaml: document 1 (Pod "a"): spec.containers[0].name: Duplicate value: "main"',
    ],
    ['no containers', pod('a', '    []'), 'world.yaml: document 1 (Pod "a"): spec.containers: Required value'],
    ['no spec', 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n', 'world.yaml: document 1 (Pod "a"): spec.containers: Required value'],
    ['no image', pod('a', '    - name: main'), 'world.yaml: document 1 (Pod "a"): spec.containers[0].image: Required value'],
    [
      'command is a string',
      pod('a', '    - name: main\n      image: img\n      command: echo hi'),
      'world.yaml: document 1 (Pod "a"): spec.containers[0].command: Invalid value: "echo hi": must be an array of strings',
    ],
    [
      'args holds a number',
      pod('a', '    - name: main\n      image: img\n      args: [a, 5]'),
      'world.yaml: document 1 (Pod "a"): spec.containers[0].args[1]: Invalid value: 5: must be a string',
    ],
    [
      'env value is a number',
      pod('a', '    - name: main\n      image: img\n      env: [{name: PORT, value: 8080}]'),
      'world.yaml: document 1 (Pod "a"): spec.containers[0].env[0].value: Invalid value: 8080: must be a string',
    ],
    [
      'several problems at once',
      pod('a', '    - name: main\n    - image: img'),
      'world.yaml: document 1 (Pod "a"): [spec.containers[0].image: Required value, spec.containers[1].name: Required value]',
    ],
    [
      'restart policy',
      pod('a').replace('spec:\n', 'spec:\n  restartPolicy: Sometimes\n'),
      'world.yaml: document 1 (Pod "a"): spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ],
    [
      'invalid label',
      pod('a').replace('  name: a\n', '  name: a\n  labels: {app: -x}\n'),
      `world.yaml: document 1 (Pod "a"): metadata.labels: Invalid value: "-x": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    ],
    [
      'selector does not match template labels',
      deployment('    matchLabels: {app: web}', '        app: other'),
      'world.yaml: document 1 (Deployment "web"): spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
    ],
    [
      'template without labels',
      deployment('    matchLabels: {app: web}', '        {}').replace('      labels:\n        {}\n', ''),
      'world.yaml: document 1 (Deployment "web"): spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`',
    ],
    [
      'no selector',
      deployment('    null', '        app: web'),
      'world.yaml: document 1 (Deployment "web"): spec.selector: Required value',
    ],
    [
      'empty selector',
      deployment('    {}', '        app: web'),
      'world.yaml: document 1 (Deployment "web"): spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for deployment',
    ],
    [
      'bad selector operator',
      deployment('    matchExpressions: [{key: app, operator: Is, values: [web]}]', '        app: web'),
      'world.yaml: document 1 (Deployment "web"): spec.selector.matchExpressions[0].operator: Invalid value: "Is": not a valid selector operator',
    ],
    [
      'In without values',
      deployment('    matchExpressions: [{key: app, operator: In}]', '        app: web'),
      "world.yaml: document 1 (Deployment \"web\"): spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
    ],
    [
      'negative replicas',
      deployment('    matchLabels: {app: web}', '        app: web').replace('replicas: 2', 'replicas: -1'),
      'world.yaml: document 1 (Deployment "web"): spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    ],
    [
      'deployment pods must restart always',
      deployment('    matchLabels: {app: web}', '        app: web', '      restartPolicy: Never\n'),
      'world.yaml: document 1 (Deployment "web"): spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ],
    [
      'job without a restart policy',
      'apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: main, image: img}]\n',
      'world.yaml: document 1 (Job "j"): spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    ],
    [
      'job with a selector but no manualSelector',
      'apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      restartPolicy: Never\n      containers: [{name: main, image: img}]\n',
      'world.yaml: document 1 (Job "j"): spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{},}: `selector` not auto-generated',
    ],
    [
      'binding without roleRef',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nsubjects: [{kind: User, name: dev}]\n',
      'world.yaml: document 1 (RoleBinding "b"): roleRef: Required value',
    ],
    [
      'roleRef without a name',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role}\n',
      'world.yaml: document 1 (RoleBinding "b"): roleRef.name: Required value',
    ],
    [
      'cluster binding to a Role',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n',
      'world.yaml: document 1 (ClusterRoleBinding "b"): roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
    ],
    [
      'subject of an unknown kind',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: Person, name: dev}]\n',
      'world.yaml: document 1 (RoleBinding "b"): subjects[0].kind: Unsupported value: "Person": supported values: "ServiceAccount", "User", "Group"',
    ],
    [
      'rule without verbs',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: [{apiGroups: [""], resources: [pods]}]\n',
      'world.yaml: document 1 (Role "r"): rules[0].verbs: Required value: verbs must contain at least one value',
    ],
    [
      'namespaced non-resource URLs',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: [{nonResourceURLs: [/healthz], verbs: [get]}]\n',
      'world.yaml: document 1 (Role "r"): rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs',
    ],
    [
      'token that is not a string',
      'apiVersion: sandbox.podshell.dev/v1\nkind: SandboxUser\nmetadata: {name: u}\nspec: {tokens: [5]}\n',
      'world.yaml: document 1 (SandboxUser "u"): spec.tokens[0]: Invalid value: 5: must be a string',
    ],
    [
      'tokens not a list',
      'apiVersion: sandbox.podshell.dev/v1\nkind: SandboxUser\nmetadata: {name: u}\nspec: {tokens: secret}\n',
      'world.yaml: document 1 (SandboxUser "u"): spec.tokens: Invalid value: "secret": must be an array of strings',
    ],
    [
      'user name with a slash',
      'apiVersion: sandbox.podshell.dev/v1\nkind: SandboxUser\nmetadata: {name: a/b}\n',
      'world.yaml: document 1 (SandboxUser "a/b"): metadata.name: Invalid value: "a/b": may not contain \'/\'',
    ],
  ];
  for (const [what, text, message] of errors) {
    test(`error: ${what}`, () => rejects(text, message));
  }

  test('accepts every supported kind', () => {
    const text = `apiVersion: v1
kind: Namespace
metadata: {name: team}
---
${pod('p')}---
${deployment('    matchLabels: {app: web}', '        app: web')}---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  selector: {matchExpressions: [{key: app, operator: In, values: [rs, x]}]}
  template:
    metadata: {labels: {app: rs}}
    spec: {containers: [{name: main, image: img}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: main, image: img}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: main, image: img}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: img, command: [sh, -c, "exit 0"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: team}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:thing"}
rules: [{nonResourceURLs: ["/healthz"], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects: [{kind: User, name: dev}, {kind: ServiceAccount, name: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:thing"}
subjects: [{kind: Group, name: devs}, {kind: ServiceAccount, name: default, namespace: team}]
---
apiVersion: sandbox.podshell.dev/v1
kind: SandboxUser
metadata: {name: alice@example.com}
spec: {tokens: [t1, t2], groups: [devs], uid: "1000"}
`;
    const kinds = parseManifests(text, 'all.yaml').map((o) => o.kind);
    assert.deepEqual(kinds, supportedKinds.map((k) => k.kind));
  });

  test('validateObject names objects made in code', () => {
    assert.throws(
      () => validateObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'x' }, spec: { containers: [] } }),
      { name: 'ManifestError', message: 'Pod "p" (namespace "x"): spec.containers: Required value', errors: ['spec.containers: Required value'] },
    );
    assert.equal(validateObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ok' } }).resource, 'namespaces');
  });
});

test('a ManifestError is a PodshellError with code ERR_SANDBOX_MANIFEST', () => {
  let caught: unknown;
  try {
    parseManifests('kind: Pod\n', 'x.yaml');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ManifestError);
  assert.ok(caught instanceof SandboxError);
  assert.ok(caught instanceof PodshellError);
  assert.equal(caught.code, 'ERR_SANDBOX_MANIFEST');
});
