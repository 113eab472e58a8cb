// `podshell cp` as a user runs it: real processes, real files, a real sandbox, and a proxy that
// cuts connections.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { FaultProxy } from './fault-proxy.ts';
import { run, sha256 } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
let sandbox: Sandbox;
let proxy: FaultProxy;
let work: string;
let cutKubeconfig: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-cli-cp-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
  proxy = new FaultProxy(Number(new URL(sandbox.url).port));
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', () => resolve()));
  cutKubeconfig = join(work, 'kubeconfig-cut');
  writeFileSync(cutKubeconfig, sandbox.kubeconfig.replaceAll(sandbox.url, `https://127.0.0.1:${proxy.port}`));
});
after(async () => {
  await proxy?.close();
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

const podshell = (args: string[], kubeconfig = sandbox.kubeconfigPath) => run(bin, ['cp', '--kubeconfig', kubeconfig, ...args], { timeoutMs: 120_000 });

test('a 100 MiB random file up and down, byte-exact', async () => {
  const data = randomBytes(100 * 1024 * 1024);
  const src = join(work, 'big.bin');
  writeFileSync(src, data);
  const up = await podshell([src, 'demo:/tmp/big.bin']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal(up.stderr, '');
  const back = join(work, 'big-back.bin');
  const down = await podshell(['demo:/tmp/big.bin', back]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(sha256(readFileSync(back)), sha256(data));
});

test('a directory tree keeps its modes both ways', async () => {
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'bin'), { recursive: true });
  mkdirSync(join(tree, 'empty'));
  writeFileSync(join(tree, 'bin', 'run.sh'), '#!/bin/sh\necho ran\n');
  chmodSync(join(tree, 'bin', 'run.sh'), 0o755);
  writeFileSync(join(tree, 'secret'), 'shh');
  chmodSync(join(tree, 'secret'), 0o600);
  const up = await podshell([tree, 'demo:/tmp/tree']);
  assert.equal(up.code, 0, up.stderr);
  const ran = await run(bin, ['exec', '--kubeconfig', sandbox.kubeconfigPath, 'demo', '--', '/tmp/tree/bin/run.sh']);
  assert.equal(ran.stdout.toString(), 'ran\n');
  const back = join(work, 'tree-back');
  const down = await podshell(['demo:/tmp/tree', back]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(statSync(join(back, 'bin', 'run.sh')).mode & 0o777, 0o755);
  assert.equal(statSync(join(back, 'secret')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(back, 'secret'), 'utf8'), 'shh');
  assert.ok(statSync(join(back, 'empty')).isDirectory());
});

describe('containers without tar', () => {
  test('slim: a single file into and out of a container with no tar', async () => {
    const src = join(work, 'note.txt');
    writeFileSync(src, 'no tar needed\n');
    const up = await podshell([src, 'slim:/tmp/note.txt']);
    assert.equal(up.code, 0, up.stderr);
    const back = join(work, 'note-back.txt');
    const down = await podshell(['slim:/tmp/note.txt', back]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(readFileSync(back, 'utf8'), 'no tar needed\n');
  });

  test('distroless: a clear error naming what is missing and what would work', async () => {
    const src = join(work, 'note.txt');
    const r = await podshell([src, 'distroless:/tmp/note.txt']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^podshell: cannot copy: .*has no tar and no shell.*kubectl debug/s);
  });
});

describe('a connection cut mid-download', () => {
  test('--retries 3 resumes and verifies', async () => {
    const data = randomBytes(12 * 1024 * 1024);
    const src = join(work, 'cut.bin');
    writeFileSync(src, data);
    assert.equal((await podshell([src, 'demo:/tmp/cut.bin'])).code, 0);
    proxy.cut(4 * 1024 * 1024);
    const before = proxy.cutCount;
    const back = join(work, 'cut-back.bin');
    const r = await podshell(['demo:/tmp/cut.bin', back, '--retries', '3'], cutKubeconfig);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.cutCount - before, 1, 'the connection was cut once');
    assert.match(r.stderr, /resum/i);
    assert.equal(sha256(readFileSync(back)), sha256(data));
  });

  test('without retries it exits non-zero and leaves no file', async () => {
    proxy.cut(4 * 1024 * 1024);
    const back = join(work, 'cut-none.bin');
    const r = await podshell(['demo:/tmp/cut.bin', back], cutKubeconfig);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^podshell: .*connection/);
    assert.equal(existsSync(back), false);
  });
});

test('a progress bar on a terminal: bytes, percentage, rate and ETA', async () => {
  const src = join(work, 'progress.bin');
  writeFileSync(src, randomBytes(8 * 1024 * 1024));
  // `script` gives podshell a terminal for stdout and stderr.
  const r = await run('script', ['-qec', `${bin} cp --kubeconfig ${sandbox.kubeconfigPath} ${src} demo:/tmp/progress.bin`, '/dev/null'], { timeoutMs: 60_000 });
  const screen = r.stdout.toString();
  assert.equal(r.code, 0, screen);
  assert.match(screen, /upload \[#+\] 8\.0 MiB\/8\.0 MiB 100%\s+[\d.]+ [KMG]?i?B\/s\s+ETA \d\d:\d\d/);
  assert.match(screen, /copied 1 file, 8388608 bytes, verified by sha256/);
});

test('wrong command lines are usage errors (exit 2)', async () => {
  const both = await podshell(['a', 'b']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /^podshell: one of src or dest must be a remote file specification/);
  const missing = await podshell([join(work, 'does-not-exist'), 'demo:/tmp/x']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /does-not-exist/);
});
