// The library's exec, run and attach against the sandbox: protocols, exit codes, streams,
// resize, stdin close, abort and the errors a caller sees.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { sha256 } from './helpers.ts';

let sandbox: Sandbox;
let v4only: Sandbox;
let work: string;
let cluster: Cluster;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-exec-'));
  [sandbox, v4only] = await Promise.all([
    startSandbox({ kubeconfigPath: join(work, 'kubeconfig') }),
    startSandbox({ kubeconfigPath: join(work, 'kubeconfig-v4'), protocols: ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'base64.channel.k8s.io', 'channel.k8s.io'] }),
  ]);
  cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath });
});
after(async () => {
  await Promise.all([sandbox?.close(), v4only?.close()]);
  rmSync(work, { recursive: true, force: true });
});

/** Poll until `condition` holds; fail after a generous deadline. */
async function until(what: string, condition: () => boolean, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

const protocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'base64.channel.k8s.io', 'channel.k8s.io'] as const;

describe('every subprotocol', () => {
  for (const protocol of protocols) {
    test(`${protocol}: stdout and stderr apart, exit codes 0, 1, 7, 255`, async () => {
      for (const code of [0, 1, 7, 255]) {
        const session = cluster.exec({ target: 'demo', command: ['sh', '-c', `printf out; printf err >&2; exit ${code}`], protocols: [protocol] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        session.stdout!.on('data', (c: Buffer) => out.push(c));
        session.stderr!.on('data', (c: Buffer) => err.push(c));
        assert.equal((await session.opened).protocol, protocol);
        const status = await session.exit;
        assert.equal(status.code, code);
        assert.equal(Buffer.concat(out).toString(), 'out');
        assert.equal(Buffer.concat(err).toString(), 'err');
      }
    });
  }
});

test('run() collects output and resolves with the exit code', async () => {
  assert.deepEqual(await cluster.run({ target: 'demo', command: ['sh', '-c', 'echo hi; echo there >&2; exit 3'] }), { stdout: 'hi\n', stderr: 'there\n', exitCode: 3 });
  assert.deepEqual(await cluster.run({ target: 'demo', command: ['cat'], stdin: 'from a string' }), { stdout: 'from a string', stderr: '', exitCode: 0 });
  const bytes = randomBytes(300_000);
  const r = await cluster.run({ target: 'demo', command: ['cat'], stdin: Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), encoding: 'buffer' });
  assert.ok(r.stdout.equals(bytes));
});

test('closeStdin() makes wc -c finish with the right count (v5)', async () => {
  const session = cluster.exec({ target: 'demo', command: ['wc', '-c'], stdin: true });
  let out = '';
  session.stdout!.on('data', (c) => (out += c));
  session.stdin!.write(Buffer.alloc(70_000, 1));
  session.stdin!.write('abc');
  session.closeStdin();
  assert.equal((await session.exit).code, 0);
  assert.equal(out.trim(), '70003');
  assert.equal(session.protocol, 'v5.channel.k8s.io');
});

describe('a cluster older than 1.30 (v4 only)', () => {
  test('exec without stdin works; the offer falls back to v4', async () => {
    const old = Cluster.fromKubeconfig({ path: v4only.kubeconfigPath });
    const session = old.exec({ target: 'demo', command: ['echo', 'ok'] });
    session.stdout!.resume();
    session.stderr!.resume();
    assert.equal((await session.opened).protocol, 'v4.channel.k8s.io');
    assert.equal((await session.exit).code, 0);
  });

  test('run() with stdin fails at once, explaining the cluster is too old', async () => {
    const old = Cluster.fromKubeconfig({ path: v4only.kubeconfigPath });
    const started = Date.now();
    await assert.rejects(old.run({ target: 'demo', command: ['wc', '-c'], stdin: 'abc' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_STDIN_CLOSE_UNSUPPORTED');
      assert.match(err.message, /v4\.channel\.k8s\.io.*Kubernetes 1\.30 or newer/);
      return true;
    });
    assert.ok(Date.now() - started < 5000);
  });

  test('on a terminal, closing stdin sends ^D and cat ends with all its output', async () => {
    const old = Cluster.fromKubeconfig({ path: v4only.kubeconfigPath });
    const session = old.exec({ target: 'demo', command: ['cat'], stdin: true, tty: true });
    let out = '';
    session.stdout!.on('data', (c) => (out += c));
    session.stdin!.end('line one\n');
    assert.equal((await session.exit).code, 0);
    assert.match(out, /line one\r\n/);
  });
});

test('resize() reaches the pty', async () => {
  // The command waits for a line before each `stty size`: the initial size (sent when the session
  // opens) and the later resize both travel ahead of that line on the same socket.
  const session = cluster.exec({ target: 'demo', command: ['sh', '-c', 'read x; stty size; read y; stty size'], stdin: true, tty: true, size: { cols: 91, rows: 27 } });
  let out = '';
  session.stdout!.on('data', (c) => (out += c));
  await session.opened;
  session.stdin!.write('\r');
  await until('the first stty size printed', () => out.includes('27 91'));
  session.resize(150, 50);
  session.stdin!.write('\r');
  await session.exit;
  assert.match(out, /27 91\r\n/);
  assert.match(out, /50 150\r\n$/);
  assert.throws(() => cluster.exec({ target: 'demo', command: ['true'] }).resize(1, 1), { code: 'ERR_USAGE' });
});

function processesWithArg(arg: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      // The sleep itself: not the sandbox's nsenter that started it, whose arguments include it.
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (argv[0]!.endsWith('sleep') && argv.includes(arg)) found.push(Number(pid));
    } catch {}
  }
  return found;
}

test('aborting ends the remote process and rejects exit with ERR_ABORTED', async () => {
  const controller = new AbortController();
  const marker = `${9000 + (process.pid % 999)}`;
  const session = cluster.exec({ target: 'demo', command: ['sleep', marker], signal: controller.signal });
  await session.opened;
  await until('the remote sleep runs', () => processesWithArg(marker).length > 0);
  assert.equal(processesWithArg(marker).length, 1);
  controller.abort(new Error('enough'));
  await assert.rejects(session.exit, { code: 'ERR_ABORTED' });
  await until('the remote sleep is gone', () => processesWithArg(marker).length === 0);
});

describe('errors carry the server\'s own message', () => {
  test('403 for the viewer', async () => {
    const viewer = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox-viewer' });
    await assert.rejects(viewer.run({ target: 'demo', command: ['true'] }), (err: Error & { code?: string; statusCode?: number }) => {
      assert.equal(err.code, 'ERR_FORBIDDEN');
      assert.equal(err.statusCode, 403);
      assert.equal(err.message, 'pods "demo" is forbidden: User "viewer" cannot get resource "pods/exec" in API group "" in the namespace "default"');
      return true;
    });
  });

  test('404 for an unknown pod', async () => {
    await assert.rejects(cluster.run({ target: 'nope', command: ['true'] }), { code: 'ERR_NOT_FOUND', message: 'pods "nope" not found' });
  });

  test('400 for a bad container', async () => {
    const session = cluster.exec({ target: { pod: 'demo' }, container: 'nope', command: ['true'] });
    // `{ pod }` with a container goes straight to the server, whose 400 comes back verbatim.
    await assert.rejects(session.exit, { code: 'ERR_BAD_REQUEST', message: 'container nope is not valid for pod demo' });
    // A plain name is looked up first, as kubectl does, and refused with kubectl's message.
    await assert.rejects(cluster.run({ target: 'demo', container: 'nope', command: ['true'] }), { code: 'ERR_TARGET', message: 'container nope is not valid for pod demo out of: main' });
  });

  test('a missing executable is a RemoteError with the runtime\'s message', async () => {
    await assert.rejects(cluster.run({ target: 'demo', command: ['nosuch'] }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_REMOTE');
      assert.match(err.message, /exec: "nosuch": executable file not found in \$PATH/);
      return true;
    });
  });
});

describe('who runs the command', () => {
  test('a token user (dev) may exec in default but not in restricted', async () => {
    const dev = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox-dev' });
    assert.equal((await dev.run({ target: 'demo', command: ['echo', 'dev'] })).stdout, 'dev\n');
    await assert.rejects(dev.run({ target: 'vault', namespace: 'restricted', command: ['true'] }), { code: 'ERR_FORBIDDEN' });
  });

  test('impersonation: admin acting as viewer is refused exec', async () => {
    const asViewer = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath, impersonate: { user: 'viewer' } });
    await assert.rejects(asViewer.run({ target: 'demo', command: ['true'] }), (err: Error) => /User "viewer" cannot get resource "pods\/exec"/.test(err.message));
  });

  test('sha256 of what went in equals what came out', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const r = await cluster.run({ target: 'demo', command: ['cat'], stdin: data, encoding: 'buffer' });
    assert.equal(sha256(r.stdout), sha256(data));
  });
});

test('an unread stderr holds the socket even while stdout is read: memory stays bounded, nothing is lost', async () => {
  const session = cluster.exec({ target: 'demo', command: ['sh', '-c', 'echo start; head -c 30000000 /dev/zero >&2; echo end'] });
  let out = '';
  session.stdout!.on('data', (c) => (out += c));
  await session.opened;
  // Precondition: stderr's buffer really filled (the bound below is then about a full buffer).
  const stderr = session.stderr!;
  await until('unread stderr reached its high-water mark', () => stderr.readableLength >= stderr.readableHighWaterMark);
  // stderr is read by nobody: at most its buffer (1 MiB) and a frame or two may wait in memory,
  // however long the 30 MB command keeps writing. Watch it for a while.
  let most = 0;
  const watchUntil = Date.now() + 1500;
  await until('the watch ended', () => {
    most = Math.max(most, stderr.readableLength);
    return Date.now() >= watchUntil;
  });
  assert.ok(most <= 2 * 1024 * 1024, `stderr buffered ${most} bytes`);
  let errBytes = 0;
  session.stderr!.on('data', (c: Buffer) => (errBytes += c.length));
  assert.equal((await session.exit).code, 0);
  assert.equal(errBytes, 30_000_000);
  assert.equal(out, 'start\nend\n');
});

test('a consumer that stops reading for longer than the keepalive deadline is not taken for a dead server', async () => {
  const session = cluster.exec({ target: 'demo', command: ['head', '-c', '20000000', '/dev/zero'], keepalive: { intervalMs: 100, timeoutMs: 1000 } });
  await session.opened;
  // Precondition: nobody reads, and stdout's buffer really filled, so the socket is paused and
  // pongs wait unread behind the output.
  const stdout = session.stdout!;
  await until('unread stdout reached its high-water mark', () => stdout.readableLength >= stdout.readableHighWaterMark);
  const pausedSince = Date.now();
  // Stay paused for more than twice the keepalive deadline; the session must not fail meanwhile.
  let failed: unknown = null;
  session.exit.catch((err: unknown) => (failed = err));
  await until('2.5 s passed with the socket paused', () => failed !== null || Date.now() - pausedSince >= 2500);
  assert.equal(failed, null);
  let bytes = 0;
  session.stdout!.on('data', (c: Buffer) => (bytes += c.length));
  assert.equal((await session.exit).code, 0);
  assert.equal(bytes, 20_000_000);
});

test('exit settles only after all stderr was read, when stderr is read late and slowly', async () => {
  const session = cluster.exec({ target: 'demo', command: ['sh', '-c', 'head -c 3000000 /dev/zero >&2; echo out'] });
  let out = '';
  session.stdout!.on('data', (c) => (out += c));
  await session.opened;
  // Late: stderr stays unread until its buffer is full.
  const stderr = session.stderr!;
  await until('unread stderr reached its high-water mark', () => stderr.readableLength >= stderr.readableHighWaterMark);
  // Slowly: a pause after each chunk.
  let errBytes = 0;
  stderr.on('data', (c: Buffer) => {
    errBytes += c.length;
    stderr.pause();
    setTimeout(() => stderr.resume(), 3);
  });
  const atExit = await session.exit.then((status) => ({ code: status.code, errBytes, out }));
  assert.deepEqual(atExit, { code: 0, errBytes: 3_000_000, out: 'out\n' });
});

test('run() refuses output beyond maxBuffer with ERR_MAX_BUFFER', async () => {
  await assert.rejects(cluster.run({ target: 'demo', command: ['head', '-c', '5000', '/dev/zero'], maxBuffer: 1000 }), {
    code: 'ERR_MAX_BUFFER',
    message: 'stdout exceeded maxBuffer (1000 bytes); use exec() and stream the output instead',
  });
});

test('a target that matches several pods is refused: a session runs in one pod', async () => {
  await assert.rejects(cluster.run({ target: { selector: 'app=web' }, command: ['true'] }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_USAGE');
    assert.match(err.message, /^a session runs in one pod, and the target matched 3 \(web-/);
    return true;
  });
});
