// `podshell attach` and `kubectl podshell` (the plugin entry) against the sandbox.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { run, TmuxSession, websocketKubectls } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
let sandbox: Sandbox;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-attach-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

test("attach -i demo: what goes in comes back from the main process, with kubectl's notice", async (t) => {
  const child = spawn(bin, ['attach', '-i', 'demo', '--kubeconfig', sandbox.kubeconfigPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 400 && !err.includes('try pressing enter'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(err, "If you don't see a command prompt, try pressing enter.\n");
  child.stdin.write('hello attach\n');
  for (let i = 0; i < 400 && !out.includes('hello attach'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(out, 'hello attach\n');
  child.kill('SIGINT');
  assert.notEqual(await exited, 0);
});

test('attach -it into a container without a terminal: kubectl\'s warning, no raw mode, and Ctrl-C ends it', async (t) => {
  // The shell traps SIGINT (a trap, unlike an ignored signal, is not inherited): it survives the
  // Ctrl-C that ends podshell and reports how podshell ended.
  const script = `trap 'echo' INT; KUBECONFIG=${sandbox.kubeconfigPath} ${bin} attach -it demo; echo "EXIT=$?"; sleep 30`;
  const tmux = new TmuxSession('podshell-attach', ['sh', '-c', script]);
  t.after(() => tmux.kill());
  await tmux.waitFor(/try pressing enter/);
  assert.match(tmux.screen(), /^error: Unable to use a TTY - container main did not allocate one\nIf you don't see a command prompt, try pressing enter\.$/m);
  // Still attached, stdin to the main process: a line comes back (echoed once by the local
  // terminal, which is not raw, and once by the container's cat).
  tmux.type('ping attach');
  await tmux.waitFor(/^ping attach\nping attach$/m);
  // Ctrl-C, as a key on the terminal (TmuxSession names its server <name>-<pid>).
  execFileSync('tmux', ['-L', `podshell-attach-${process.pid}`, 'send-keys', '-t', `podshell-attach-${process.pid}`, 'C-c']);
  await tmux.waitFor(/^EXIT=\d+$/m);
});

test('attach refuses a missing target with a usage error', async () => {
  const r = await run(bin, ['attach', '--kubeconfig', sandbox.kubeconfigPath]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^podshell: expected POD or TYPE\/NAME to be specified for attach\n/);
});

test('kubectl podshell exec runs podshell as a kubectl plugin', async () => {
  const kubectl = websocketKubectls().at(-1)!.path;
  const env = { ...process.env, PATH: `${dirname(bin)}:${process.env.PATH}`, KUBECONFIG: sandbox.kubeconfigPath };
  const r = await run(kubectl, ['podshell', 'exec', 'demo', '--', 'echo', 'plugged in'], { env });
  assert.equal(r.stderr, '');
  assert.equal(r.stdout.toString(), 'plugged in\n');
  assert.equal(r.code, 0);
  const plugins = await run(kubectl, ['plugin', 'list'], { env });
  assert.match(plugins.stdout.toString(), /kubectl-podshell/);
});

test('the plugin\'s help and usage say `kubectl podshell`; podshell\'s own say `podshell`', async () => {
  const plugin = new URL('../bin/kubectl-podshell', import.meta.url).pathname;
  const help = await run(plugin, ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout.toString(), /^Usage: kubectl podshell \[kube flags\] COMMAND/);
  const exec = await run(plugin, ['exec', '--help']);
  assert.match(exec.stdout.toString(), /^Usage: kubectl podshell exec \[options\]/);
  assert.match(exec.stdout.toString(), /^ {2}kubectl podshell exec -it demo -- sh$/m);
  assert.doesNotMatch(exec.stdout.toString(), /^ {2}podshell /m);
  // Through kubectl itself, as a user runs it.
  const kubectl = websocketKubectls().at(-1)!.path;
  const viaKubectl = await run(kubectl, ['podshell', 'cp', '--help'], { env: { ...process.env, PATH: `${dirname(bin)}:${process.env.PATH}` } });
  assert.match(viaKubectl.stdout.toString(), /^Usage: kubectl podshell cp \[options\] SRC DEST/);
  const own = await run(bin, ['exec', '--help']);
  assert.match(own.stdout.toString(), /^Usage: podshell exec \[options\]/);
});
