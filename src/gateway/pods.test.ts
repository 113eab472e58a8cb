import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Pod } from '../lib/index.ts';
import { GatewayError } from './errors.ts';
import { checkNamespaceName, checkPodName, podPhase, podSummary } from './pods.ts';

const running = { running: { startedAt: '2026-11-30T23:36:31Z' } };
const waiting = (reason?: string) => ({ waiting: reason ? { reason } : {} });
const terminated = (t: { reason?: string; exitCode?: number; signal?: number }) => ({ terminated: t });

function pod(p: {
  containers?: string[];
  init?: { name: string; restartPolicy?: string }[];
  statuses?: { name: string; ready?: boolean; restartCount?: number; state?: unknown }[];
  initStatuses?: { name: string; ready?: boolean; restartCount?: number; state?: unknown; started?: boolean }[];
  phase?: string;
  reason?: string;
  conditions?: { type: string; status: string }[];
  deleting?: boolean;
  annotations?: Record<string, string>;
  noStatus?: boolean;
}): Pod {
  return {
    metadata: {
      name: 'p',
      creationTimestamp: '2026-11-30T23:36:31Z',
      ...(p.deleting ? { deletionTimestamp: '2026-12-01T00:00:00Z' } : {}),
      ...(p.annotations ? { annotations: p.annotations } : {}),
    },
    spec: {
      containers: (p.containers ?? ['main']).map((name) => ({ name, image: `img/${name}:1` })),
      ...(p.init ? { initContainers: p.init.map((c) => ({ ...c, image: 'init' })) } : {}),
    },
    ...(p.noStatus
      ? {}
      : {
          status: {
            ...(p.phase ? { phase: p.phase } : {}),
            ...(p.reason ? { reason: p.reason } : {}),
            ...(p.conditions ? { conditions: p.conditions } : {}),
            ...(p.statuses ? { containerStatuses: p.statuses } : {}),
            ...(p.initStatuses ? { initContainerStatuses: p.initStatuses } : {}),
          },
        }),
  };
}

describe('podPhase: kubectl STATUS', () => {
  const cases: { name: string; pod: Pod; want: string }[] = [
    { name: 'running and ready', pod: pod({ phase: 'Running', statuses: [{ name: 'main', ready: true, state: running }] }), want: 'Running' },
    { name: 'pending without statuses', pod: pod({ phase: 'Pending' }), want: 'Pending' },
    { name: 'no status at all', pod: pod({ noStatus: true }), want: 'Unknown' },
    { name: 'the pod reason wins over the phase', pod: pod({ phase: 'Failed', reason: 'Evicted' }), want: 'Evicted' },
    { name: 'a waiting reason', pod: pod({ phase: 'Running', statuses: [{ name: 'main', state: waiting('CrashLoopBackOff'), restartCount: 5 }] }), want: 'CrashLoopBackOff' },
    { name: 'waiting without a reason keeps the phase', pod: pod({ phase: 'Pending', statuses: [{ name: 'main', state: waiting() }] }), want: 'Pending' },
    { name: 'the first container with a reason, as kubectl walks them from the last', pod: pod({ containers: ['a', 'b'], phase: 'Pending', statuses: [{ name: 'a', state: waiting('ErrImagePull') }, { name: 'b', state: waiting('ContainerCreating') }] }), want: 'ErrImagePull' },
    { name: 'terminated with a reason', pod: pod({ phase: 'Failed', statuses: [{ name: 'main', state: terminated({ reason: 'OOMKilled', exitCode: 137 }) }] }), want: 'OOMKilled' },
    { name: 'terminated by a signal, no reason', pod: pod({ phase: 'Failed', statuses: [{ name: 'main', state: terminated({ signal: 9, exitCode: 137 }) }] }), want: 'Signal:9' },
    { name: 'terminated with an exit code, no reason', pod: pod({ phase: 'Failed', statuses: [{ name: 'main', state: terminated({ exitCode: 2 }) }] }), want: 'ExitCode:2' },
    { name: 'completed', pod: pod({ phase: 'Succeeded', statuses: [{ name: 'main', state: terminated({ reason: 'Completed', exitCode: 0 }) }] }), want: 'Completed' },
    {
      name: 'one completed, one running, pod ready',
      pod: pod({ containers: ['a', 'b'], phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], statuses: [{ name: 'a', state: terminated({ reason: 'Completed', exitCode: 0 }) }, { name: 'b', ready: true, state: running }] }),
      want: 'Running',
    },
    {
      name: 'one completed, one running, pod not ready',
      pod: pod({ containers: ['a', 'b'], phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], statuses: [{ name: 'a', state: terminated({ reason: 'Completed', exitCode: 0 }) }, { name: 'b', ready: true, state: running }] }),
      want: 'NotReady',
    },
    { name: 'terminating', pod: pod({ deleting: true, phase: 'Running', statuses: [{ name: 'main', ready: true, state: running }] }), want: 'Terminating' },
    { name: 'terminating on a lost node', pod: pod({ deleting: true, phase: 'Running', reason: 'NodeLost' }), want: 'Unknown' },
    { name: 'init containers still to run', pod: pod({ phase: 'Pending', init: [{ name: 'i1' }, { name: 'i2' }], initStatuses: [{ name: 'i1', state: terminated({ exitCode: 0, reason: 'Completed' }) }, { name: 'i2', state: running }] }), want: 'Init:1/2' },
    { name: 'init container waiting for its pod', pod: pod({ phase: 'Pending', init: [{ name: 'i1' }], initStatuses: [{ name: 'i1', state: waiting('PodInitializing') }] }), want: 'Init:0/1' },
    { name: 'init container crash looping', pod: pod({ phase: 'Pending', init: [{ name: 'i1' }], initStatuses: [{ name: 'i1', state: waiting('CrashLoopBackOff') }] }), want: 'Init:CrashLoopBackOff' },
    { name: 'init container failed with a reason', pod: pod({ phase: 'Pending', init: [{ name: 'i1' }], initStatuses: [{ name: 'i1', state: terminated({ exitCode: 1, reason: 'Error' }) }] }), want: 'Init:Error' },
    { name: 'init container failed without a reason', pod: pod({ phase: 'Pending', init: [{ name: 'i1' }], initStatuses: [{ name: 'i1', state: terminated({ exitCode: 3 }) }] }), want: 'Init:ExitCode:3' },
    { name: 'init container killed by a signal', pod: pod({ phase: 'Pending', init: [{ name: 'i1' }], initStatuses: [{ name: 'i1', state: terminated({ exitCode: 137, signal: 9 }) }] }), want: 'Init:Signal:9' },
    {
      name: 'a started sidecar init container does not hold the pod in Init',
      pod: pod({ phase: 'Running', init: [{ name: 'side', restartPolicy: 'Always' }], initStatuses: [{ name: 'side', started: true, ready: true, state: running }], statuses: [{ name: 'main', ready: true, state: running }] }),
      want: 'Running',
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(podPhase(c.pod), c.want));
  }
});

describe('podSummary', () => {
  test('a running pod, as docs/web.md shows it', () => {
    assert.deepEqual(podSummary(pod({ phase: 'Running', statuses: [{ name: 'main', ready: true, restartCount: 0, state: running }] })), {
      name: 'p',
      phase: 'Running',
      ready: '1/1',
      restarts: 0,
      created: '2026-11-30T23:36:31Z',
      containers: [{ name: 'main', ready: true, state: 'running', image: 'img/main:1' }],
      defaultContainer: 'main',
    });
  });

  test('ready counts ready containers of the spec; restarts add up every container, init containers too', () => {
    const s = podSummary(
      pod({
        containers: ['app', 'sidecar', 'late'],
        init: [{ name: 'i1' }],
        initStatuses: [{ name: 'i1', restartCount: 2, state: terminated({ exitCode: 0, reason: 'Completed' }) }],
        phase: 'Running',
        statuses: [
          { name: 'app', ready: true, restartCount: 3, state: running },
          { name: 'sidecar', ready: false, restartCount: 4, state: waiting('CrashLoopBackOff') },
        ],
      }),
    );
    assert.equal(s.ready, '1/3');
    assert.equal(s.restarts, 9);
    assert.equal(s.phase, 'CrashLoopBackOff');
    assert.deepEqual(
      s.containers.map((c) => [c.name, c.ready, c.state]),
      [
        ['app', true, 'running'],
        ['sidecar', false, 'waiting'],
        ['late', false, 'unknown'],
      ],
    );
  });

  const defaults: { name: string; annotations?: Record<string, string>; want: string }[] = [
    { name: 'no annotation: the first container', want: 'app' },
    { name: 'the annotation names a container', annotations: { 'kubectl.kubernetes.io/default-container': 'sidecar' }, want: 'sidecar' },
    { name: 'the annotation names no container: the first', annotations: { 'kubectl.kubernetes.io/default-container': 'gone' }, want: 'app' },
    { name: 'an empty annotation: the first', annotations: { 'kubectl.kubernetes.io/default-container': '' }, want: 'app' },
  ];
  for (const c of defaults) {
    test(`defaultContainer: ${c.name}`, () => {
      assert.equal(podSummary(pod({ containers: ['app', 'sidecar'], ...(c.annotations ? { annotations: c.annotations } : {}) })).defaultContainer, c.want);
    });
  }

  test('a terminated container and a missing timestamp', () => {
    const p = pod({ phase: 'Succeeded', statuses: [{ name: 'main', state: terminated({ reason: 'Completed', exitCode: 0 }) }] });
    delete p.metadata.creationTimestamp;
    const s = podSummary(p);
    assert.equal(s.created, '');
    assert.equal(s.containers[0]!.state, 'terminated');
    assert.equal(s.phase, 'Completed');
  });
});

describe('podSummary: ephemeral containers', () => {
  const withDebug = (ephemeral: unknown[], statuses?: unknown[]): Pod => {
    const p = pod({ phase: 'Running', statuses: [{ name: 'main', ready: true, state: running }] });
    p.spec.ephemeralContainers = ephemeral as Pod['spec']['containers'];
    if (statuses) p.status!['ephemeralContainerStatuses'] = statuses;
    return p;
  };

  test('listed after the containers, marked ephemeral, with their target and the state of ephemeralContainerStatuses', () => {
    const s = podSummary(
      withDebug(
        [
          { name: 'debugger-ab12c', image: 'busybox:1.36', targetContainerName: 'main', stdin: true, tty: true },
          { name: 'debugger-zz999', image: 'busybox:1.36' },
          { name: 'debugger-old', image: 'busybox:1.36' },
        ],
        [
          { name: 'debugger-ab12c', state: running, ready: false, restartCount: 0 },
          { name: 'debugger-old', state: terminated({ reason: 'Completed', exitCode: 0 }), restartCount: 0 },
        ],
      ),
    );
    assert.deepEqual(s.containers, [
      { name: 'main', ready: true, state: 'running', image: 'img/main:1' },
      { name: 'debugger-ab12c', ready: false, state: 'running', image: 'busybox:1.36', ephemeral: true, target: 'main' },
      { name: 'debugger-zz999', ready: false, state: 'unknown', image: 'busybox:1.36', ephemeral: true },
      { name: 'debugger-old', ready: false, state: 'terminated', image: 'busybox:1.36', ephemeral: true },
    ]);
    // Not counted in READY (kubectl counts spec.containers only), never the default container.
    assert.equal(s.ready, '1/1');
    assert.equal(s.defaultContainer, 'main');
    assert.equal(s.phase, 'Running');
  });

  test('waiting while it is created', () => {
    const s = podSummary(withDebug([{ name: 'debugger-ab12c', image: 'busybox:1.36', targetContainerName: 'main' }], [{ name: 'debugger-ab12c', state: waiting('ContainerCreating') }]));
    assert.equal(s.containers[1]!.state, 'waiting');
  });

  test('malformed entries are skipped, not thrown on', () => {
    const s = podSummary(withDebug([null, 'x', { image: 'no-name' }, { name: 'ok', targetContainerName: '' }], [null, { state: running }, 7]));
    assert.deepEqual(s.containers.slice(1), [{ name: 'ok', ready: false, state: 'unknown', image: '', ephemeral: true }]);
    const p = withDebug([]);
    p.spec.ephemeralContainers = 'nope' as never;
    p.status!['ephemeralContainerStatuses'] = { not: 'a list' };
    assert.equal(podSummary(p).containers.length, 1);
  });
});

describe('names from the URL', () => {
  const namespaces: [string, boolean][] = [
    ['default', true],
    ['kube-system', true],
    ['a', true],
    ['0abc', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['', false],
    ['Default', false],
    ['-a', false],
    ['a-', false],
    ['a.b', false],
    ['..', false],
    ['a/b', false],
    ['a%2Fb', false],
    ['a b', false],
    ['a\n', false],
  ];
  for (const [name, ok] of namespaces) {
    test(`namespace ${JSON.stringify(name)} is ${ok ? 'accepted' : 'refused'}`, () => {
      if (ok) assert.equal(checkNamespaceName(name), name);
      else assert.throws(() => checkNamespaceName(name), (err: unknown) => err instanceof GatewayError && err.code === 'ERR_GATEWAY_BAD_NAME' && err.statusCode === 400 && err.message.startsWith('invalid namespace name '));
    });
  }
  const pods: [string, boolean][] = [
    ['demo', true],
    ['web-5d8f7c6b9-x2x7k', true],
    ['a.b.c', true],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, true],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`, false],
    ['../../nodes/x/proxy', false],
    ['..', false],
    ['.', false],
    ['a..b', false],
    ['a.', false],
    ['.a', false],
    ['Demo', false],
    ['demo?x=1', false],
    ['demo%2F', false],
    ['', false],
  ];
  for (const [name, ok] of pods) {
    test(`pod ${JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name)} is ${ok ? 'accepted' : 'refused'}`, () => {
      if (ok) assert.equal(checkPodName(name), name);
      else assert.throws(() => checkPodName(name), (err: unknown) => err instanceof GatewayError && err.code === 'ERR_GATEWAY_BAD_NAME' && err.statusCode === 400 && err.message.startsWith('invalid pod name '));
    });
  }

  test('the message quotes the name as JSON and cuts a long one', () => {
    assert.throws(() => checkPodName(`a"\n${'x'.repeat(300)}`), (err: Error) => err.message.startsWith(`invalid pod name "a\\"\\n${'x'.repeat(97)}…": a pod name is a DNS-1123 subdomain`));
  });
});
