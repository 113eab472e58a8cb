// `podshell exec` side by side with the machine's kubectl 1.33: same stdout, same exit code, and
// the same stderr except where podshell's is listed as clearer.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { run, TmuxSession, websocketKubectls } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
let sandbox: Sandbox;
let work: string;
let webPods: string[];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-cli-exec-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
  const r = await run(kubectl, ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'cache'), 'get', 'pods', '-l', 'app=web', '-o', 'name']);
  webPods = r.stdout.toString().trim().split('\n').map((l) => l.replace('pod/', ''));
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

const kubectl = websocketKubectls().find((k) => k.version === '1.33')!.path;
const env = () => ({ ...process.env, KUBECONFIG: sandbox.kubeconfigPath, NO_COLOR: '1' });
const podshell = (args: string[], input?: string) => run(bin, args, { env: env(), ...(input !== undefined ? { input } : {}) });
const kube = (args: string[], input?: string) => run(kubectl, ['--cache-dir', join(work, 'cache'), ...args], { env: env(), ...(input !== undefined ? { input } : {}) });

interface Case {
  name: string;
  args: () => string[];
  /** podshell's stderr where it deliberately differs from kubectl's (clearer), else undefined = identical. */
  clearer?: (kubectlStderr: string) => RegExp;
}

const cases: Case[] = [
  { name: 'echo', args: () => ['exec', 'demo', '--', 'echo', 'hi'] },
  { name: 'stderr only', args: () => ['exec', 'demo', '--', 'sh', '-c', 'echo oops >&2'] },
  { name: 'exit 0', args: () => ['exec', 'demo', '--', 'true'] },
  { name: 'exit 7', args: () => ['exec', 'demo', '--', 'sh', '-c', 'echo out; exit 7'] },
  { name: 'exit 255', args: () => ['exec', 'demo', '--', 'sh', '-c', 'exit 255'] },
  // kubectl: `error: Internal error occurred: Internal error occurred: error executing command in container: …`
  { name: 'missing command', args: () => ['exec', 'demo', '--', 'nosuch'], clearer: () => /^podshell: error executing command in container: .*exec: "nosuch": executable file not found in \$PATH: unknown\n$/ },
  // kubectl: `Error from server (NotFound): pods "nope" not found`
  { name: 'unknown pod', args: () => ['exec', 'nope', '--', 'true'], clearer: () => /^podshell: pods "nope" not found\n$/ },
  // kubectl: `error: container nope is not valid for pod web-… out of: app, sidecar`
  { name: 'bad container', args: () => ['exec', webPods[0]!, '-c', 'nope', '--', 'true'], clearer: () => new RegExp(`^podshell: container nope is not valid for pod ${webPods[0]} out of: app, sidecar\\n$`) },
  // kubectl: `Error from server (Forbidden): pods "demo" is forbidden: User "viewer" cannot create resource …` (after its SPDY retry)
  { name: 'forbidden user', args: () => ['--context', 'podshell-sandbox-viewer', 'exec', 'demo', '--', 'true'], clearer: () => /^podshell: pods "demo" is forbidden: User "viewer" cannot get resource "pods\/exec" in API group "" in the namespace "default"\n$/ },
  { name: 'deploy/web', args: () => ['exec', 'deploy/web', '--', 'sh', '-c', 'echo $(hostname | cut -c1-4)'] },
  { name: 'old form without --', args: () => ['exec', 'demo', 'echo', 'hi'], clearer: () => /^podshell: exec \[POD\] \[COMMAND\] is not supported anymore\. Use exec \[POD\] -- \[COMMAND\] instead\n\(run with --help for usage\)\n$/ },
];

describe('podshell exec matches kubectl exec', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const args = c.args();
      // The same command line for both: podshell takes kubectl's global flags before the subcommand too.
      const [k, p] = await Promise.all([kube(args), podshell(args)]);
      assert.equal(p.stdout.toString(), k.stdout.toString(), 'stdout');
      if (c.name === 'old form without --') {
        assert.equal(k.code, 1);
        assert.equal(p.code, 2, 'a usage error');
      } else assert.equal(p.code, k.code, `exit code (kubectl stderr: ${k.stderr})`);
      if (c.clearer) assert.match(p.stderr, c.clearer(k.stderr));
      else assert.equal(p.stderr, k.stderr, 'stderr');
    });
  }
});

describe('kube flags before the subcommand, as kubectl takes its global flags', () => {
  test('--context before exec takes effect: the viewer is Forbidden', async () => {
    const r = await podshell(['--context', 'podshell-sandbox-viewer', 'exec', 'demo', '--', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^podshell: pods "demo" is forbidden: User "viewer" cannot get resource "pods\/exec"/);
  });

  test('-n before exec reaches the namespace; given after the subcommand too, that one wins', async () => {
    const r = await podshell(['-n', 'restricted', 'exec', 'vault', '--', 'sh', '-c', 'echo in vault']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.toString(), 'in vault\n');
    assert.equal(r.code, 0);
    const after = await podshell(['-n', 'default', 'exec', '-n', 'restricted', 'vault', '--', 'true']);
    assert.equal(after.stderr, '');
    assert.equal(after.code, 0);
    const overridden = await podshell(['--namespace=restricted', 'exec', '--namespace', 'default', 'vault', '--', 'true']);
    assert.equal(overridden.stderr, 'podshell: pods "vault" not found\n');
    assert.equal(overridden.code, 1);
  });

  test('--kubeconfig before exec; the remote command keeps a later `--` of its own', async () => {
    const r = await run(bin, ['--kubeconfig', sandbox.kubeconfigPath, 'exec', 'demo', '--', 'echo', 'a', '--', 'b'], { env: { ...process.env, KUBECONFIG: '/nonexistent' } });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.toString(), 'a -- b\n');
  });

  test('cp -- SRC DEST copies', async () => {
    const file = join(work, 'dashed');
    writeFileSync(file, 'after the double dash\n');
    const cp = await podshell(['cp', '--', file, 'demo:/tmp/dashed']);
    assert.equal(cp.stderr, '');
    assert.equal(cp.code, 0);
    const cat = await podshell(['exec', 'demo', '--', 'cat', '/tmp/dashed']);
    assert.equal(cat.stdout.toString(), 'after the double dash\n');
  });

  test('an unknown flag before the subcommand is still a usage error', async () => {
    const r = await podshell(['--bogus', 'exec', 'demo', '--', 'true']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^podshell: unknown option '--bogus'\n/);
  });
});

test('-i passes stdin and forwards its end; -t without a terminal warns like kubectl', async () => {
  const r = await podshell(['exec', '-i', 'demo', '--', 'wc', '-c'], 'x'.repeat(4321));
  assert.equal(r.stdout.toString().trim(), '4321');
  const t = await podshell(['exec', '-i', '-t', 'demo', '--', 'cat'], 'hello\n');
  const k = await kube(['exec', '-i', '-t', 'demo', '--', 'cat'], 'hello\n');
  assert.equal(t.stderr, k.stderr);
  assert.equal(t.stdout.toString(), 'hello\n');
  assert.equal(t.code, 0);
});

describe('many pods at once', () => {
  test('exec -l app=web -- hostname prints three prefixed lines', async () => {
    const r = await podshell(['exec', '-l', 'app=web', '--', 'hostname']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.toString().trim().split('\n').sort();
    assert.deepEqual(lines, webPods.map((p) => `[${p}/app] ${p}`).sort());
  });

  test('one pod failing gives its exit code and a summary', async () => {
    const failing = webPods[1]!;
    const r = await podshell(['exec', 'deploy/web', '--all-pods', '--', 'sh', '-c', `[ "$(hostname)" != ${failing} ] || exit 3; echo fine`]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout.toString().split('\n').filter((l) => l.endsWith('] fine')).length, 2);
    assert.equal(r.stderr, `podshell: 1 of 3 pods failed:\n  ${failing}/app: exit code 3\n`);
    const plain = await podshell(['exec', '-l', 'app=web', '--prefix=false', '--', 'echo', 'x']);
    assert.equal(plain.stdout.toString(), 'x\nx\nx\n');
  });
});

test('-it under tmux: a prompt, resize follows, and the terminal settings come back unchanged', async (t) => {
  const sttyFile = join(work, 'stty');
  // Record the terminal settings before and after podshell, in the same shell.
  const script = `stty -g > ${sttyFile}.before; KUBECONFIG=${sandbox.kubeconfigPath} ${bin} exec -it demo -- sh; stty -g > ${sttyFile}.after; echo DONE; sleep 30`;
  const tmux = new TmuxSession('podshell-cli', ['sh', '-c', script]);
  t.after(() => tmux.kill());
  await tmux.shellFollowsResize();
  tmux.type('exit');
  await tmux.waitFor(/^DONE$/m);
  assert.equal(readFileSync(`${sttyFile}.after`, 'utf8'), readFileSync(`${sttyFile}.before`, 'utf8'));
});

test('with no kubeconfig at all, podshell says so and points at the sandbox', async () => {
  const home = join(work, 'empty-home');
  const r = await run(bin, ['exec', 'demo', '--', 'true'], { env: { ...process.env, HOME: home, KUBECONFIG: '' } });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `podshell: cannot read kubeconfig ${home}/.kube/config: no such file\n(no cluster configured: \`podshell sandbox\` starts a local one and writes a kubeconfig for it)\n`);
});

test('a reader that goes away early ends podshell quietly with 141, as kubectl on a broken pipe', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(bin, ['exec', 'demo', '--', 'yes'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Wait for output to flow (the situation under test), then close the read side, as `| head` does.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.equal(code, 141);
  assert.equal(stderr, '');
});
