// The machine's real kubectl (every WebSocket-era build) against the sandbox: what it prints and
// how it exits must be what it prints and how it exits against a cluster.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { run, sha256, TmuxSession, websocketKubectls } from './helpers.ts';

let sandbox: Sandbox;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-kubectl-'));
  // A kubeconfig left world-readable by something else: the sandbox must not keep its mode.
  writeFileSync(join(work, 'kubeconfig'), 'stale: true\n', { mode: 0o644 });
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});

after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

const kubectls = websocketKubectls();

test('an existing 0644 kubeconfig is replaced by a 0600 file with the new config, no temporary file left', () => {
  const path = join(work, 'kubeconfig');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(readFileSync(path, 'utf8'), sandbox.kubeconfig);
  assert.match(sandbox.kubeconfig, /client-key-data/);
  assert.deepEqual(readdirSync(work).filter((name) => name.includes('kubeconfig')), ['kubeconfig']);
});

test('the machine has the WebSocket-era kubectl builds this suite drives', () => {
  assert.deepEqual(kubectls.map((k) => k.version), ['1.30', '1.31', '1.32', '1.33']);
});

for (const { version, path } of kubectls) {
  describe(`kubectl ${version}`, () => {
    const kubectl = (args: string[], input?: Buffer | string) =>
      run(path, ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, `cache-${version}`), ...args], input === undefined ? {} : { input });

    test('exec demo -- echo hi prints hi', async () => {
      const r = await kubectl(['exec', 'demo', '--', 'echo', 'hi']);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout.toString(), 'hi\n');
      assert.equal(r.code, 0);
    });

    test("exec demo -- sh -c 'exit 7' exits 7 with kubectl's own message", async () => {
      const r = await kubectl(['exec', 'demo', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
      assert.equal(r.stdout.toString(), 'out\n');
      assert.equal(r.stderr, 'err\ncommand terminated with exit code 7\n');
      assert.equal(r.code, 7);
    });

    test('exec -i demo -- cat returns 1 MiB of random bytes unchanged', async () => {
      const data = randomBytes(1024 * 1024);
      const r = await kubectl(['exec', '-i', 'demo', '--', 'cat'], data);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.length, data.length);
      assert.equal(sha256(r.stdout), sha256(data));
    });

    test('exec -i demo -- wc -c ends on stdin EOF', async () => {
      const r = await kubectl(['exec', '-i', 'demo', '--', 'wc', '-c'], Buffer.alloc(12345, 'x'));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString().trim(), '12345');
    });

    test('exec deploy/web answers from a web pod, in its app container', async () => {
      const pods = JSON.parse((await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout.toString()).items.map((p: { metadata: { name: string } }) => p.metadata.name);
      for (const pod of pods) {
        const w = await kubectl(['exec', pod, '-c', 'app', '--', 'sh', '-c', `echo app > /tmp/which`]);
        assert.equal(w.code, 0, w.stderr);
      }
      const r = await kubectl(['exec', 'deploy/web', '--', 'sh', '-c', 'hostname; cat /tmp/which']);
      assert.equal(r.code, 0, r.stderr);
      const [hostname, which] = r.stdout.toString().trim().split('\n');
      assert.ok(pods.includes(hostname), `hostname ${hostname} is one of ${pods}`);
      assert.equal(which, 'app');
    });

    test('cp of a 10 MiB file into the pod and back is byte-exact', async () => {
      const data = randomBytes(10 * 1024 * 1024);
      const src = join(work, `up-${version}.bin`);
      const back = join(work, `down-${version}.bin`);
      writeFileSync(src, data);
      const up = await kubectl(['cp', src, `demo:/tmp/cp-${version}.bin`]);
      assert.equal(up.code, 0, up.stderr);
      const down = await kubectl(['cp', `demo:/tmp/cp-${version}.bin`, back]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(sha256(readFileSync(back)), sha256(data));
    });

    test('get pods -l app=web lists 3 pods', async () => {
      const r = await kubectl(['get', 'pods', '-l', 'app=web']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.toString().trim().split('\n');
      assert.match(lines[0]!, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
      assert.equal(lines.length, 4);
      for (const line of lines.slice(1)) assert.match(line, /^web-[a-z0-9]+-[a-z0-9]{5}\s+2\/2\s+Running\s+0\s+\d+s$/);
    });

    test('the viewer context is Forbidden with the RBAC sentence', async () => {
      const r = await kubectl(['--context', 'podshell-sandbox-viewer', 'exec', 'demo', '--', 'true']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error from server \(Forbidden\): pods "demo" is forbidden: User "viewer" cannot (get|create) resource "pods\/exec" in API group "" in the namespace "default"\n$/);
    });

    test('an unknown pod is NotFound', async () => {
      const r = await kubectl(['exec', 'nope', '--', 'true']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'Error from server (NotFound): pods "nope" not found\n');
    });

    test('logs demo prints the main process output', async () => {
      const r = await kubectl(['logs', 'demo']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString(), /^podshell sandbox: pod demo is running\n/);
    });

    test('exec -it demo -- sh under tmux: a prompt, and stty size follows a resize', async (t) => {
      const tmux = new TmuxSession(`podshell-${version.replace('.', '-')}`, [path, '--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, `cache-${version}`), 'exec', '-it', 'demo', '--', 'sh']);
      t.after(() => tmux.kill());
      await tmux.shellFollowsResize();
      tmux.type('exit');
    });
  });
}
