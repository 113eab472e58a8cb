// cluster.debug() against the sandbox over HTTPS: the ephemeral container is added by the
// subresource's PATCH, waited for with a watch, attached to; and each way it can fail is a typed
// error with the server's words.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  AbortError,
  addDebugContainer,
  ApiStatusError,
  Cluster,
  DebugContainerExitedError,
  DebugContainerNotStartedError,
  EphemeralContainersDisabledError,
  TargetError,
  UsageError,
  waitForDebugContainer,
  waitForDebugExit,
} from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { pollUntil } from './helpers.ts';

let sandbox: Sandbox;
let cluster: Cluster;

before(async () => {
  sandbox = await startSandbox({});
  cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath });
});

after(async () => {
  await sandbox?.close();
});

async function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  let out = '';
  if (!stream) return out;
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

test("debug with a tty and --target: a shell that lists the target's processes; its exit code once it ends", async (t) => {
  if (sandbox.isolation !== 'namespaces') return t.skip('namespace isolation is not available here');
  const { session, container, pod, namespace } = await cluster.debug({ target: 'demo', image: 'busybox', targetContainer: 'main', command: ['sh'], stdin: true, tty: true });
  assert.match(container, /^debugger-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.equal(pod, 'demo');
  assert.equal(namespace, 'default');
  const output = collect(session.stdout);
  // The echo of this line may come before or after the prompt: look for what only ps makes.
  session.stdin!.write("ps -e -o comm= | grep -x cat | sed 's/^/found-/'; exit 5\n");
  await session.exit;
  assert.match((await output).replace(/\r/g, ''), /found-cat\n/);
  assert.equal(await waitForDebugExit(cluster.client, { namespace, pod, container }), 5);
});

test('debug with a name and stdin without a tty; the name is then taken', async () => {
  const { session, container } = await cluster.debug({ target: 'pod/demo', image: 'busybox', name: 'lib-named', command: ['sh'], stdin: true });
  assert.equal(container, 'lib-named');
  const output = collect(session.stdout);
  session.stdin!.write('echo from-debug; exit 0\n');
  await session.exit;
  assert.equal(await output, 'from-debug\n');
  for (const name of ['lib-named', 'main']) {
    await assert.rejects(cluster.debug({ target: 'demo', image: 'busybox', name }), (err: unknown) => {
      assert.ok(err instanceof TargetError, String(err));
      assert.equal(err.message, `a container named "${name}" already exists in pod "demo"; choose another name`);
      return true;
    });
  }
});

test('a container that cannot start: DebugContainerNotStartedError with the waiting reason and message after the timeout', async () => {
  await assert.rejects(cluster.debug({ target: 'demo', image: 'busybox', name: 'lib-nostart', command: ['no-such-program'], timeoutMs: 3000 }), (err: unknown) => {
    assert.ok(err instanceof DebugContainerNotStartedError, String(err));
    assert.equal(err.code, 'ERR_DEBUG_NOT_STARTED');
    assert.equal(err.reason, 'RunContainerError');
    assert.match(err.message, /^debug container "lib-nostart" in pod "demo" did not start within 3000 ms: RunContainerError: .*no-such-program.*not found/);
    return true;
  });
});

test('aborting the wait: AbortError, and the waiting stops', async () => {
  const controller = new AbortController();
  const pending = cluster.debug({ target: 'demo', image: 'busybox', name: 'lib-aborted', command: ['no-such-program'], timeoutMs: 0, signal: controller.signal });
  // Abort once the container is known to be waiting (it never starts: its command is missing).
  const waiting = async () => {
    const pod = await cluster.client.getPod('default', 'demo');
    const status = (pod.status?.['ephemeralContainerStatuses'] as any[] | undefined)?.find((s) => s.name === 'lib-aborted');
    return status?.state?.waiting?.reason === 'RunContainerError';
  };
  assert.ok(await pollUntil(waiting, 60_000), 'the container reached RunContainerError');
  controller.abort(new Error('enough'));
  await assert.rejects(pending, (err: unknown) => {
    assert.ok(err instanceof AbortError, String(err));
    assert.equal(err.message, 'the session was aborted: enough');
    return true;
  });
});

test('a container that ended before the attach: DebugContainerExitedError with its exit code and where its output is', async () => {
  const added = await addDebugContainer(cluster.client, { target: 'demo', image: 'busybox', name: 'lib-quick', command: ['sh', '-c', 'echo bye; exit 3'] });
  assert.equal(await waitForDebugExit(cluster.client, added), 3);
  await assert.rejects(waitForDebugContainer(cluster.client, added), (err: unknown) => {
    assert.ok(err instanceof DebugContainerExitedError, String(err));
    assert.equal(err.exitCode, 3);
    assert.equal(err.message, 'debug container "lib-quick" in pod "demo" exited with code 3 (Error) before it could be attached to; see its output with: kubectl logs -n default demo -c lib-quick');
    return true;
  });
});

test('bad calls: no image, a workload target, an unknown pod, an unknown target container', async () => {
  await assert.rejects(cluster.debug({ target: 'demo' } as never), (err: unknown) => err instanceof UsageError && /needs image/.test(err.message));
  await assert.rejects(cluster.debug({ target: 'deploy/web', image: 'busybox' }), UsageError);
  await assert.rejects(cluster.debug({ target: 'nosuch', image: 'busybox' }), (err: unknown) => {
    assert.ok(err instanceof ApiStatusError && !(err instanceof EphemeralContainersDisabledError));
    assert.equal(err.code, 'ERR_NOT_FOUND');
    assert.equal(err.message, 'pods "nosuch" not found');
    return true;
  });
  await assert.rejects(cluster.debug({ target: 'demo', image: 'busybox', targetContainer: 'nosuch' }), /targetContainerName: Not found: "nosuch"/);
});

test('a cluster without ephemeral containers: EphemeralContainersDisabledError with the server\'s text', async (t) => {
  const old = await startSandbox({ isolation: 'none', ephemeralContainers: false });
  t.after(() => old.close());
  const c = Cluster.fromKubeconfig({ path: old.kubeconfigPath });
  await assert.rejects(c.debug({ target: 'demo', image: 'busybox' }), (err: unknown) => {
    assert.ok(err instanceof EphemeralContainersDisabledError, String(err));
    assert.equal(err.code, 'ERR_EPHEMERAL_DISABLED');
    assert.equal(err.message, 'ephemeral containers are disabled for this cluster (error from server: "the server could not find the requested resource")');
    return true;
  });
});
