// The upload archive: what the walk includes and skips, and that GNU tar (the pod's side) reads
// the stream back into the same tree, modes and bytes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { TransferError } from './errors.ts';
import { packEntries, walk } from './pack.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'podshell-pack-'));
  const src = join(dir, 'src');
  mkdirSync(join(src, 'sub/empty'), { recursive: true });
  writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(src, 'run.sh'), 0o755);
  writeFileSync(join(src, 'sub/secret'), randomBytes(70_000));
  chmodSync(join(src, 'sub/secret'), 0o600);
  writeFileSync(join(src, 'a name with spaces & $(x)'), 'odd');
  symlinkSync('/etc/passwd', join(src, 'link'));
  execFileSync('mkfifo', [join(src, 'fifo')]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('walk: sorted entries named under the root name; symlinks and FIFOs skipped with warnings', async () => {
  const warnings: string[] = [];
  const w = await walk(join(dir, 'src'), 'dest', (m) => warnings.push(m));
  assert.deepEqual(
    w.entries.map((e) => [e.name, e.type, e.mode]),
    [
      ['dest', 'directory', statSync(join(dir, 'src')).mode & 0o7777],
      ['dest/a name with spaces & $(x)', 'file', statSync(join(dir, 'src/a name with spaces & $(x)')).mode & 0o7777],
      ['dest/run.sh', 'file', 0o755],
      ['dest/sub', 'directory', statSync(join(dir, 'src/sub')).mode & 0o7777],
      ['dest/sub/empty', 'directory', statSync(join(dir, 'src/sub/empty')).mode & 0o7777],
      ['dest/sub/secret', 'file', 0o600],
    ],
  );
  assert.equal(w.files, 3);
  assert.equal(w.totalBytes, 3 + 18 + 70_000);
  assert.deepEqual(warnings, [`warning: skipping fifo "${join(dir, 'src/fifo')}": only regular files and directories are copied`, `warning: skipping symlink: "${join(dir, 'src/link')}" -> "/etc/passwd"`]);
});

test("walk: a missing source has kubectl's message", async () => {
  await assert.rejects(walk(join(dir, 'nope'), 'x'), (err: unknown) => err instanceof TransferError && err.code === 'ERR_TRANSFER_LOCAL_NOT_FOUND' && err.message === `${join(dir, 'nope')} doesn't exist in local filesystem`);
});

test('GNU tar unpacks the stream into the same tree, modes and bytes; hashes match', async () => {
  const w = await walk(join(dir, 'src'), 'dest');
  let counted = 0;
  const { stream, hashes } = packEntries(w.entries, { onBytes: (n) => (counted += n) });
  const out = join(dir, 'out');
  mkdirSync(out);
  const tar = spawn('tar', ['-xmf', '-', '-C', out], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (c) => (stderr += c));
  stream.pipe(tar.stdin);
  const code = await new Promise((resolve) => tar.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.equal(counted, w.totalBytes);
  assert.deepEqual(readdirSync(join(out, 'dest')).sort(), ['a name with spaces & $(x)', 'run.sh', 'sub']);
  assert.deepEqual(readdirSync(join(out, 'dest/sub/empty')), []);
  assert.equal(statSync(join(out, 'dest/run.sh')).mode & 0o777, 0o755);
  assert.equal(statSync(join(out, 'dest/sub/secret')).mode & 0o777, 0o600);
  assert.deepEqual(readFileSync(join(out, 'dest/sub/secret')), readFileSync(join(dir, 'src/sub/secret')));
  const h = await hashes;
  assert.equal(h.get('dest/sub/secret'), createHash('sha256').update(readFileSync(join(dir, 'src/sub/secret'))).digest('hex'));
  assert.equal(h.size, 3);
});

test('a file that shrank since the walk fails the stream instead of sending a corrupt archive', async () => {
  const file = join(dir, 'shrinks');
  writeFileSync(file, Buffer.alloc(10_000));
  const w = await walk(file, 'x');
  writeFileSync(file, Buffer.alloc(10));
  const { stream, hashes } = packEntries(w.entries);
  stream.resume();
  stream.on('error', () => {});
  await assert.rejects(hashes, (err: unknown) => err instanceof TransferError && err.code === 'ERR_TRANSFER_LOCAL' && /changed while it was copied: expected 10000 bytes, read 10/.test(err.message));
});
