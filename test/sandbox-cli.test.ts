// `podshell sandbox` as a user starts it: the ready line, a working kubeconfig, clean shutdown
// that leaves no process behind.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, cmdline, descendants, run, websocketKubectls } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;

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
  await sleep(500);

  const started = descendants(child.pid!);
  assert.ok(started.length >= 10, `expected the containers' processes under the sandbox, found ${started.length}`);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.notEqual(await longExit, 0, 'the exec was cut off by the shutdown');
  // Give processes that were told to go a moment to be reaped; anything still there is a leak.
  for (let i = 0; i < 50 && started.some(alive); i++) await sleep(100);
  const left = started.filter(alive).map((pid) => `${pid} ${cmdline(pid)}`);
  assert.deepEqual(left, [], `processes left behind:\n${left.join('\n')}`);
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
