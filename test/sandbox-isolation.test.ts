// What a container can see and reach, tested from an exec as the token user `dev` in the sandbox's
// `demo` pod: its own processes only, nothing of the host's files (above all the admin's client
// key in the sandbox's kubeconfig), no capabilities, and its pod's name as hostname.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Cluster } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';

let sandbox: Sandbox;
let dev: Cluster;

before(async () => {
  // The kubeconfig (with the admin's client key) stays in the sandbox's own state folder.
  sandbox = await startSandbox({});
  dev = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox-dev' });
});

after(async () => {
  await sandbox?.close();
});

function namespaced(t: { skip(message: string): void }): boolean {
  if (sandbox.isolation === 'namespaces') return true;
  t.skip('namespace isolation is not available here');
  return false;
}

async function sh(script: string, tty = false): Promise<{ stdout: string; code: number }> {
  if (!tty) {
    const r = await dev.run({ target: 'demo', command: ['sh', '-c', script] });
    return { stdout: r.stdout, code: r.exitCode };
  }
  const session = dev.exec({ target: 'demo', command: ['sh', '-c', script], tty: true });
  let out = '';
  session.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exit = await session.exit;
  return { stdout: out.replace(/\r\n/g, '\n'), code: exit.code };
}

test('the admin kubeconfig holds a client key, and the sandbox can read it', (t) => {
  if (!namespaced(t)) return;
  assert.match(readFileSync(sandbox.kubeconfigPath, 'utf8'), /client-key-data: \S+/);
});

test('ps and /proc list only the pod\'s processes', async (t) => {
  if (!namespaced(t)) return;
  const r = await sh('ls /proc | grep -E "^[0-9]+$" | sort -n | tr "\\n" " "; echo; ps -e -o pid=,comm=');
  assert.equal(r.code, 0, r.stdout);
  const [pidLine, ...psLines] = r.stdout.trim().split('\n');
  const pids = pidLine!.trim().split(' ').map(Number);
  // The pod's pause process is pid 1; then its main process (cat), this shell and its children.
  assert.equal(pids[0], 1, r.stdout);
  assert.ok(pids.length <= 8, `only the pod's processes in /proc: ${pidLine}`);
  const comms = new Set(psLines.map((l) => l.trim().split(/\s+/)[1]));
  for (const c of comms) assert.ok(['sleep', 'cat', 'sh', 'ps', 'ls', 'grep', 'sort', 'tr'].includes(c!), `unexpected process ${c} in:\n${r.stdout}`);
  assert.ok(comms.has('cat'), `the main process is listed:\n${r.stdout}`);
});

test('the admin key cannot be read by any path: directly, through /proc/1/root, through any /proc/*/root', async (t) => {
  if (!namespaced(t)) return;
  const path = sandbox.kubeconfigPath;
  const script = `cat '${path}'; cat '/proc/1/root${path}'; for d in /proc/[0-9]*; do cat "$d/root${path}"; done; ` +
    `for d in /proc/[0-9]*; do cat "$d/cwd${path}"; done; echo done`;
  for (const tty of [false, true]) {
    const r = await sh(script, tty);
    assert.ok(r.stdout.endsWith('done\n'), r.stdout);
    assert.doesNotMatch(r.stdout, /client-key-data|BEGIN|apiVersion/, `tty ${tty}`);
  }
});

test('every process runs without capabilities and with no_new_privs, on pipes and on a tty', async (t) => {
  if (!namespaced(t)) return;
  for (const tty of [false, true]) {
    const r = await sh('grep -E "^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status /proc/1/status', tty);
    assert.equal(r.code, 0, r.stdout);
    const lines = r.stdout.trim().split('\n');
    for (const who of ['/proc/self/status', '/proc/1/status']) {
      for (const cap of ['CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
        assert.ok(lines.includes(`${who}:${cap}:\t0000000000000000`), `${who} ${cap} (tty ${tty}):\n${r.stdout}`);
      }
    }
    assert.ok(lines.includes('/proc/self/status:NoNewPrivs:\t1'), `NoNewPrivs (tty ${tty}):\n${r.stdout}`);
  }
  // The main process too (pid 2's parent is outside the pod; find it by name).
  const main = await sh('for d in /proc/[0-9]*; do [ "$(cat $d/comm)" = cat ] && grep -E "^(CapEff|CapBnd|NoNewPrivs):" $d/status; done');
  assert.match(main.stdout, /^CapEff:\t0{16}\nCapBnd:\t0{16}\nNoNewPrivs:\t1\n/);
});

test('no process of a container holds another session\'s terminal (or any descriptor of the sandbox)', async (t) => {
  if (!namespaced(t)) return;
  // A terminal session open meanwhile: node-pty leaves its terminal's descriptor open to children.
  const other = dev.exec({ target: 'demo', command: ['cat'], stdin: true, tty: true });
  other.stdout!.resume();
  await other.opened;
  try {
    for (const tty of [false, true]) {
      // A single command (a pipeline would show the shell's own pipe descriptors).
      const r = await sh('ls -l /proc/$$/fd/', tty);
      const fds = [...r.stdout.matchAll(/ (\d+) -> /g)].map((m) => m[1]);
      assert.deepEqual(fds, ['0', '1', '2'], `tty ${tty}:\n${r.stdout}`);
    }
  } finally {
    other.stdin!.end('\x04');
    await other.exit;
  }
});

test('the kernel\'s settings under /proc are read-only', async (t) => {
  if (!namespaced(t)) return;
  const r = await sh('for p in sys sysrq-trigger bus fs irq; do [ -e /proc/$p ] && echo "$p $(grep " /proc/$p " /proc/self/mounts | cut -d" " -f4 | cut -d, -f1)"; done; ' +
    'echo x > /proc/sys/kernel/hostname && echo wrote');
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.includes('sys ro'), r.stdout);
  for (const l of lines) assert.match(l, / ro$/, r.stdout);
});

test('/etc/hostname and hostname print the pod\'s name', async (t) => {
  if (!namespaced(t)) return;
  const r = await sh('cat /etc/hostname; hostname');
  assert.equal(r.stdout, 'demo\ndemo\n');
});
