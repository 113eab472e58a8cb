// `podshell sandbox` as a user starts it (directly, through npm start — the sandbox with the web
// shell in front —, under a shell): the ready line, a working kubeconfig, and a shutdown that
// leaves no process behind, whether it is told to stop or whatever started it goes away.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { test, type TestContext } from 'node:test';
import { cmdline, descendants, pollUntil, run, running, websocketKubectls } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
const root = new URL('..', import.meta.url).pathname;

test('podshell sandbox prints the ready line, serves kubectl, and leaves no process after SIGTERM', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'podshell-cli-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const kubeconfig = join(work, 'kubeconfig');
  const child = spawn(bin, ['sandbox', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.on('exit', (code) => reject(new Error(`sandbox exited ${code}: ${stderr}`)));
  });
  assert.match(line, new RegExp(`^sandbox ready https://127\\.0\\.0\\.1:\\d+ kubeconfig=${kubeconfig}$`));

  const kubectl = websocketKubectls().at(-1)!.path;
  // A long-running exec whose process must die with the sandbox.
  const long = spawn(kubectl, ['--kubeconfig', kubeconfig, '--cache-dir', join(work, 'cache'), 'exec', 'demo', '--', 'sh', '-c', 'sleep 1000 & sleep 1000'], { stdio: 'ignore' });
  const longExit = new Promise<number | null>((resolve) => long.on('exit', (code) => resolve(code)));
  const r = await run(kubectl, ['--kubeconfig', kubeconfig, '--cache-dir', join(work, 'cache'), 'exec', 'demo', '--', 'echo', 'hi']);
  assert.equal(r.stdout.toString(), 'hi\n');
  // The long exec's two sleeps are running under the sandbox.
  const sleeping = () => descendants(child.pid!).filter((pid) => cmdline(pid).endsWith('sleep 1000')).length >= 2;
  assert.ok(await pollUntil(sleeping, 20_000), 'the long exec started its sleeps');

  const started = descendants(child.pid!);
  assert.ok(started.length >= 10, `expected the containers' processes under the sandbox, found ${started.length}`);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.notEqual(await longExit, 0, 'the exec was cut off by the shutdown');
  // Processes that were told to go are given time to be reaped; anything still there is a leak.
  await pollUntil(() => !started.some(running), 20_000);
  const left = started.filter(running).map((pid) => `${pid} ${cmdline(pid)}`);
  assert.deepEqual(left, [], `processes left behind:\n${left.join('\n')}`);
});

/**
 * Start the sandbox through `launcher` (npm, a shell), wait for its ready line (and, for `npm
 * start`, the web shell's), and return what the test needs to watch it end: the launcher, every
 * process under it and the ports it serves (the sandbox's first).
 */
async function launch(t: TestContext, file: string, args: string[], kubeconfig: string, options: { web?: boolean } = {}) {
  const launcher = spawn(file, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
  const started: number[] = [];
  t.after(() => {
    // Whatever is left (a failed test) goes: the launcher and every process it started, orphans
    // included (they hold the launcher's output pipes).
    for (const pid of [launcher.pid!, ...descendants(launcher.pid!), ...started]) {
      try {
        if (running(pid)) process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
  let stderr = '';
  launcher.stderr!.on('data', (c) => (stderr += c));
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    launcher.stdout!.on('data', (c) => {
      out += c;
      const m = /^sandbox ready https:\/\/127\.0\.0\.1:(\d+) kubeconfig=(\S+)$/m.exec(out);
      const web = /^web ready http:\/\/127\.0\.0\.1:(\d+)\/login\?token=\S+$/m.exec(out);
      if (m && (web || !options.web)) {
        assert.equal(m[2], kubeconfig, 'the kubeconfig flag reached the sandbox');
        resolve([Number(m[1]), ...(web ? [Number(web[1])] : [])]);
      }
    });
    launcher.on('exit', (code) => reject(new Error(`${file} exited ${code}: ${stderr}`)));
  });
  // Every process the launcher started (the sandbox, its containers' processes, its watchdog).
  started.push(...descendants(launcher.pid!));
  return { launcher, port: ports[0]!, ports, started, stderr: () => stderr };
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

/**
 * After `end`, every process of the sandbox has ended within 5 s and its ports refuse
 * connections. Polled well past 5 s, so a slow machine shows how long it really took.
 */
async function assertAllEnd(started: number[], ports: number[], end: () => void, node = 'src/cli/main.ts sandbox') {
  const sandboxNode = started.filter((pid) => cmdline(pid).includes(node));
  assert.equal(sandboxNode.length, 1, `the sandbox's node process is among ${started.map((p) => `${p} ${cmdline(p)}`).join('; ')}`);
  assert.ok(started.length >= 10, `expected the containers' processes under the launcher, found ${started.length}`);
  assert.ok(started.every(running), 'every process was running before the stop');
  for (const port of ports) assert.equal(await refused(port), false, `port ${port} served before the stop`);
  const t0 = Date.now();
  end();
  const ended = await pollUntil(() => !started.some(running), 30_000, 50);
  const elapsed = Date.now() - t0;
  const left = started.filter(running).map((pid) => `${pid} ${cmdline(pid)}`);
  assert.ok(ended, `processes left behind:\n${left.join('\n')}`);
  assert.ok(elapsed <= 5000, `every process ended, but only after ${elapsed} ms`);
  for (const port of ports) assert.equal(await refused(port), true, `port ${port} refuses connections`);
}

test('SIGTERM to `npm start` ends the web shell, the sandbox and every process they started within 5 s', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'podshell-cli-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const kubeconfig = join(work, 'kubeconfig');
  const { launcher, ports, started } = await launch(t, 'npm', ['start', '--', '--kubeconfig', kubeconfig], kubeconfig, { web: true });
  assert.equal(ports.length, 2, 'npm start prints the sandbox line and the web shell URL');
  await assertAllEnd(started, ports, () => launcher.kill('SIGTERM'), 'src/cli/main.ts web --sandbox');
});

test('the web shell with its sandbox ends, and everything it started, when its parent is SIGKILLed', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'podshell-cli-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const kubeconfig = join(work, 'kubeconfig');
  // What `npm start` runs, under a shell that stays its parent and dies without a word.
  const { launcher, ports, started } = await launch(t, 'sh', ['-c', `"${bin}" web --sandbox --kubeconfig "${kubeconfig}" & wait`], kubeconfig, { web: true });
  await assertAllEnd(started, ports, () => launcher.kill('SIGKILL'), 'src/cli/main.ts web --sandbox');
});

test('the sandbox ends, and everything it started, when its parent is SIGKILLed', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'podshell-cli-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const kubeconfig = join(work, 'kubeconfig');
  // The shell stays the sandbox's parent (`& wait`: it does not exec); then it dies without a word.
  const { launcher, port, started } = await launch(t, 'sh', ['-c', `"${bin}" sandbox --kubeconfig "${kubeconfig}" & wait`], kubeconfig);
  await assertAllEnd(started, [port], () => launcher.kill('SIGKILL'));
});

test('a second SIGTERM while the sandbox stops ends it at once, and still nothing is left', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'podshell-cli-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const kubeconfig = join(work, 'kubeconfig');
  const { port, started } = await launch(t, 'sh', ['-c', `"${bin}" sandbox --kubeconfig "${kubeconfig}" & wait`], kubeconfig);
  const sandboxNode = started.find((pid) => cmdline(pid).includes('src/cli/main.ts sandbox'))!;
  await assertAllEnd(started, [port], () => {
    process.kill(sandboxNode, 'SIGTERM');
    process.kill(sandboxNode, 'SIGTERM');
  });
});

test('podshell sandbox names a bad manifest, its document and field, and exits non-zero', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'podshell-cli-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const manifest = join(work, 'world.yaml');
  writeFileSync(manifest, 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - image: x\n');
  const r = await run(bin, ['sandbox', '--kubeconfig', join(work, 'k'), '--manifest', manifest]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^podshell: .*world\.yaml: document 2 \(Pod "p"\): spec\.containers\[0\]\.name: Required value\n$/);
});

test('podshell sandbox --help explains the command; a bad flag is a usage error', async () => {
  const help = await run(bin, ['sandbox', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout.toString(), /--kubeconfig <file>/);
  assert.match(help.stdout.toString(), /sandbox ready <url> kubeconfig=<file>/);
  const bad = await run(bin, ['sandbox', '--port', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^podshell: option '--port <n>' argument 'x' is invalid\. expected a TCP port number from 0 to 65535\./);
});
