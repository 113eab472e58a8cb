// `podshell debug` through the real CLI against the sandbox: under tmux (a real terminal) a shell
// in a debug container that sees its target's processes, kubectl's messages, the container's exit
// code; the form without -i; usage errors; and the hint `podshell exec` prints for a container
// without a shell — a command that, run as printed, works.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster, waitForDebugExit } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { run, TmuxSession } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
let sandbox: Sandbox;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-cli-debug-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

const env = () => ({ ...process.env, KUBECONFIG: sandbox.kubeconfigPath, NO_COLOR: '1' });
const podshell = (args: string[], input?: string) => run(bin, args, { env: env(), ...(input !== undefined ? { input } : {}) });

function namespaced(t: { skip(message: string): void }): boolean {
  if (sandbox.isolation === 'namespaces') return true;
  t.skip('namespace isolation is not available here');
  return false;
}

/** A tmux window running `podshell ARGS`, then printing its exit code. */
function underTmux(name: string, args: string[]): TmuxSession {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new TmuxSession(name, ['sh', '-c', `KUBECONFIG='${sandbox.kubeconfigPath}' '${bin}' ${quoted}; echo "EXIT=$?"; sleep 600`]);
}

test('debug demo -it --image=busybox --target=main -- sh under tmux: kubectl\'s messages, ps shows cat, the shell\'s exit code', async (t) => {
  if (!namespaced(t)) return;
  const tmux = underTmux('podshell-debug', ['debug', 'demo', '-it', '--image=busybox', '--target=main', '--', 'sh']);
  t.after(() => tmux.kill());
  await tmux.waitFor(/Targeting container "main"\. If you don't see processes from this container/);
  await tmux.waitFor(/Defaulting debug container name to debugger-[a-z0-9]{5}\./);
  await tmux.waitFor(/If you don't see a command prompt, try pressing enter\./);
  tmux.type('');
  await tmux.waitFor(/^# ?$/m);
  // Output may share a line with a prompt (the echo of typed lines can come first): marked lines.
  tmux.type("ps -e -o pid=,comm= | grep -w cat | sed 's/^ */found-/'");
  await tmux.waitFor(/found-\d+ cat *\n# *$/m);
  await tmux.shellFollowsResize();
  tmux.type('exit 6');
  await tmux.waitFor(/^EXIT=6$/m);
});

test('debug without -i adds the container and returns; its output is in its log', async () => {
  const r = await podshell(['debug', 'demo', '--image=busybox', '-c', 'cli-once', '--', 'sh', '-c', 'echo once-$((40+2))']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), '');
  assert.equal(r.stderr, '');
  const cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath });
  assert.equal(await waitForDebugExit(cluster.client, { namespace: 'default', pod: 'demo', container: 'cli-once' }), 0);
  const logs = await run('kubectl', ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'cache'), 'logs', 'demo', '-c', 'cli-once']);
  assert.equal(logs.stdout.toString(), 'once-42\n');
});

test('debug -i without a terminal: piped stdin, the exit code of the container', async () => {
  const r = await podshell(['debug', 'demo', '-i', '--image=busybox', '-c', 'cli-piped', '--', 'sh'], 'echo piped-$((6*7)); exit 3\n');
  assert.equal(r.stdout.toString(), 'piped-42\n');
  assert.equal(r.stderr, "If you don't see a command prompt, try pressing enter.\n");
  assert.equal(r.code, 3);
});

test('usage errors exit 2 with kubectl\'s words; server refusals exit 1', async () => {
  const cases: [string[], RegExp, number][] = [
    [['debug', '--image=busybox'], /^podshell: NAME is required for debug\n/, 2],
    [['debug', 'demo'], /^podshell: --image is required\n/, 2],
    [['debug', 'demo', '-t', '--image=busybox'], /^podshell: -i\/--stdin is required for containers with -t\/--tty=true\n/, 2],
    [['debug', 'demo', 'sh', '--image=busybox'], /^podshell: debug POD \[COMMAND\] is not supported: use debug POD -- COMMAND/, 2],
    [['debug', 'nosuch', '--image=busybox', '-c', 'x'], /^podshell: pods "nosuch" not found\n$/, 1],
    [['debug', 'demo', '--image=busybox', '-c', 'main'], /^podshell: a container named "main" already exists in pod "demo"; choose another name\n$/, 1],
    [['debug', 'demo', '--image=busybox', '-q', '-c', 'x', '--target=nosuch'], /^podshell: Pod "demo" is invalid: spec\.ephemeralContainers\[\d+\]\.targetContainerName: Not found: "nosuch"\n$/, 1],
  ];
  for (const [args, stderr, code] of cases) {
    const r = await podshell(args);
    assert.match(r.stderr, stderr, args.join(' '));
    assert.equal(r.code, code, args.join(' '));
  }
  const help = await podshell(['debug', '--help']);
  assert.equal(help.code, 0);
  for (const flag of ['--image', '--target', '--container', '--stdin', '--tty', '--quiet']) assert.match(help.stdout.toString(), new RegExp(`${flag}\\b`));
});

test('exec into a container without a shell prints the debug command that gets one, and that command works', async (t) => {
  const r = await podshell(['exec', 'distroless', '--', 'sh']);
  assert.equal(r.code, 1);
  const lines = r.stderr.split('\n');
  assert.match(lines[0]!, /^podshell: .*exec: "sh": executable file not found in \$PATH/);
  assert.equal(lines[1], 'podshell: the container has no shell ("sh"); to get one beside it, with a debug container that sees its processes and files, run:');
  assert.equal(lines[2], '  podshell debug distroless -it --image=busybox --target=app -- sh');
  const ns = await podshell(['exec', '-n', 'default', 'distroless', '--', '/bin/bash', '-c', 'echo $HOSTNAME']);
  assert.match(ns.stderr, /\n {2}podshell debug -n default distroless -it --image=busybox --target=app -- \/bin\/bash -c 'echo \$HOSTNAME'\n$/);
  // A missing program that is not a shell (a typo, most likely): no hint.
  const other = await podshell(['exec', 'distroless', '--', 'no-such-program']);
  assert.match(other.stderr, /executable file not found/);
  assert.doesNotMatch(other.stderr, /podshell debug/);
  if (!namespaced(t)) return;
  // The printed command, run as printed, gives a shell beside the distroless app.
  const tmux = underTmux('podshell-hint', lines[2]!.trim().split(' ').slice(1));
  t.after(() => tmux.kill());
  await tmux.waitFor(/If you don't see a command prompt, try pressing enter\./);
  tmux.type('');
  await tmux.waitFor(/^# ?$/m);
  tmux.type('ls -d /proc/1/root/etc; echo LS-$((1+1))');
  await tmux.waitFor(/\/proc\/1\/root\/etc *\nLS-2 *$/m);
  tmux.type('exit');
  await tmux.waitFor(/^EXIT=0$/m);
});
