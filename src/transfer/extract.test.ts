// The path-guarded untar against crafted archives: kubectl's TestUntar,
// TestBadTar, TestTarUntarWrongPrefix and TestUntar_SingleFile vectors, then links planted in the
// destination, special files, modes, caps, and corrupt input. After each run the whole test folder
// is walked: nothing may exist but what was expected.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import { pack } from 'tar-stream';
import { TransferError } from './errors.ts';
import { canonicalDestination, extractTar, type ExtractOptions } from './extract.ts';

interface Member {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  data?: string | Buffer;
  mode?: number;
  linkname?: string;
  mtime?: Date;
}

async function archive(members: Member[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of p as AsyncIterable<Buffer>) out.push(chunk);
  })();
  for (const m of members) {
    const type = m.type ?? 'file';
    const header = { name: m.name, type, mode: m.mode ?? (type === 'directory' ? 0o755 : 0o644), ...(m.linkname ? { linkname: m.linkname } : {}), ...(m.mtime ? { mtime: m.mtime } : {}) };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') p.entry(header, m.data ?? '', cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}

/** The archive in uneven chunks, as a network would deliver it. */
async function* chunks(buf: Buffer, size = 777): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** Every non-directory under `dir` (symlinks included, not followed). */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) visit(p);
      else out.push(p);
    }
  };
  visit(dir);
  return out.sort();
}

async function failsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TransferError, `expected a TransferError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

let testdir: string;
const roots: string[] = [];
beforeEach(() => {
  testdir = realpathSync(mkdtempSync(join(tmpdir(), 'podshell-untar-')));
  roots.push(testdir);
});
after(() => {
  for (const r of roots) {
    try {
      rmSync(r, { recursive: true, force: true });
    } catch {
      // a 0555 directory left by a test: make it writable and retry
      for (const f of [r]) rmSync(f, { recursive: true, force: true });
    }
  }
});

const run = (members: Member[] | Buffer, options: Partial<ExtractOptions> & { dest: string }, warnings: string[] = []) =>
  (Buffer.isBuffer(members) ? Promise.resolve(members) : archive(members)).then((buf) => extractTar(chunks(buf), { prefix: '', onWarning: (m) => warnings.push(m), ...options }));

test('kubectl TestUntar: names re-rooted under dest, escapes and every link skipped', async () => {
  const basedir = join(testdir, 'base');
  const files: { path: string; linkTarget?: string; expected: string }[] = [
    { path: `${basedir}/abs`, expected: `${basedir}${basedir}/abs` },
    { path: `${testdir}/abs-out`, expected: `${basedir}${testdir}/abs-out` },
    { path: `${basedir}/nested/nest-abs`, expected: `${basedir}${basedir}/nested/nest-abs` },
    { path: `${basedir}/nested/../../nest-abs-out`, expected: `${basedir}${testdir}/nest-abs-out` },
    { path: 'relative', expected: `${basedir}/relative` },
    { path: '../unrelative', expected: '' },
    { path: '..\\unrelative-windows', expected: '' },
    { path: 'nested/nest-rel', expected: `${basedir}/nested/nest-rel` },
    { path: 'nested/../../nest-unrelative', expected: '' },
    { path: 'nested\\..\\..\\nest-unrelative', expected: '' },
  ];
  const links: typeof files = [];
  for (const f of files) {
    links.push(
      { path: `${f.path}-innerlink`, linkTarget: 'link-target', expected: '' },
      { path: `${f.path}-innerlink-abs`, linkTarget: `${basedir}/link-target`, expected: '' },
      { path: `${f.path}-backlink`, linkTarget: '../link-target', expected: '' },
      { path: `${f.path}-outerlink-abs`, linkTarget: `${testdir}/link-target`, expected: '' },
    );
    if (f.expected) links.push({ path: `${f.path}outerlink`, linkTarget: `${relative(f.expected, testdir)}/link-target`, expected: '' });
  }
  files.push(...links);
  files.push(
    { path: 'nested/again/back-link', linkTarget: '../../nested', expected: '' },
    { path: 'nested/again/back-link/../../../back-link-file', expected: `${basedir}/back-link-file` },
    { path: 'nested/back-link-first', linkTarget: '../', expected: '' },
    { path: 'nested/back-link-first/back-link-second', linkTarget: '../', expected: '' },
    { path: 'direct/dir/', expected: '' },
  );
  const members: Member[] = files.map((f) => (f.linkTarget ? { name: f.path, type: 'symlink', linkname: f.linkTarget, mode: 0o777 } : { name: f.path, data: f.path.endsWith('/') ? '' : f.path, mode: 0o666 }));
  const warnings: string[] = [];
  await run(members, { dest: basedir }, warnings);
  assert.deepEqual(listFiles(testdir), files.filter((f) => f.expected).map((f) => f.expected).sort());
  assert.ok(warnings.some((w) => w.startsWith('warning: skipping symlink: ')));
  assert.ok(warnings.some((w) => /^warning: file ".*unrelative" is outside target destination, skipping$/.test(w)));
});

test('kubectl TestBadTar: /prefix/foo/bar/../../home/x lands inside dest', async () => {
  const dest = join(testdir, 'dest');
  await run([{ name: '/prefix/foo/bar/../../home/bburns/names.txt', data: 'Down and back', mode: 0o600 }], { dest, prefix: '/prefix' });
  assert.deepEqual(listFiles(testdir), [join(dest, 'home/bburns/names.txt')]);
  assert.equal(readFileSync(join(dest, 'home/bburns/names.txt'), 'utf8'), 'Down and back');
});

test('kubectl TestTarUntarWrongPrefix: a member without the prefix aborts the copy', async () => {
  const dest = join(testdir, 'dest');
  await failsWith(run([{ name: 'foo', data: 'sample data' }], { dest, prefix: 'verylongprefix-showing-the-tar-was-tempered-with' }), 'ERR_TRANSFER_CORRUPT', /^tar contents corrupted: /);
  assert.deepEqual(listFiles(testdir), []);
});

test('a sibling that merely starts like the prefix is not under it (tmp/foobar vs tmp/foo)', async () => {
  await failsWith(run([{ name: 'tmp/foo/a', data: 'a' }, { name: 'tmp/foobar/b', data: 'b' }], { dest: join(testdir, 'd'), prefix: 'tmp/foo' }), 'ERR_TRANSFER_CORRUPT');
  assert.deepEqual(listFiles(testdir), [join(testdir, 'd/a')]);
});

test('kubectl TestUntar_SingleFile: the member named by the prefix becomes dest', async () => {
  const dest = join(testdir, 'target');
  const r = await run([{ name: 'source', data: 'file contents' }], { dest, prefix: 'source', expect: 'file' });
  assert.deepEqual(listFiles(testdir).map((f) => relative(testdir, f)).filter((f) => !f.startsWith('.podshell-')), []);
  await r.commit();
  assert.deepEqual(listFiles(testdir), [dest]);
  assert.equal(readFileSync(dest, 'utf8'), 'file contents');
  assert.equal(r.files[0]!.sha256, createHash('sha256').update('file contents').digest('hex'));
});

test('expect file: anything besides the one file is corrupt, and nothing stays behind', async () => {
  const dest = join(testdir, 'target');
  await failsWith(run([{ name: 'tmp/f', data: 'x' }, { name: 'tmp/f/evil', data: 'y' }], { dest, prefix: 'tmp/f', expect: 'file' }), 'ERR_TRANSFER_CORRUPT', /expected only the file "tmp\/f"/);
  await failsWith(run([{ name: 'tmp/f', type: 'directory' }], { dest, prefix: 'tmp/f', expect: 'file' }), 'ERR_TRANSFER_CORRUPT');
  await failsWith(run([], { dest, prefix: 'tmp/f', expect: 'file' }), 'ERR_TRANSFER_CORRUPT', /empty archive/);
  assert.deepEqual(listFiles(testdir), []);
});

test('a single file into an existing directory lands inside it under its own name', async () => {
  const dest = join(testdir, 'existing');
  mkdirSync(dest);
  const r = await run([{ name: 'var/log/app.log', data: 'log' }], { dest, prefix: 'var/log/app.log', expect: 'file' });
  await r.commit();
  assert.deepEqual(listFiles(testdir), [join(dest, 'app.log')]);
});

describe('links: never created, never followed (A2, A3)', () => {
  test('a symlink planted in dest before the copy is not written through', async () => {
    const dest = join(testdir, 'dest');
    const outside = join(testdir, 'outside');
    mkdirSync(dest);
    mkdirSync(outside);
    symlinkSync(outside, join(dest, 'x'));
    await failsWith(run([{ name: 'x/file', data: 'pwned' }], { dest }), 'ERR_TRANSFER_UNSAFE', /symbolic link/);
    assert.deepEqual(listFiles(outside), []);
  });

  test('two copies: the first plants nothing, so the second cannot be redirected (CVE-2025-45582 shape)', async () => {
    const dest = join(testdir, 'dest');
    const w1: string[] = [];
    await run([{ name: 'x', type: 'symlink', linkname: '../../..' }], { dest }, w1);
    assert.equal(w1.length, 1);
    await run([{ name: 'x/authorized_keys', data: 'key' }], { dest });
    assert.deepEqual(listFiles(testdir), [join(dest, 'x/authorized_keys')]);
    assert.equal(lstatSync(join(dest, 'x')).isDirectory(), true);
  });

  test('a file member over a pre-existing symlink replaces the link, never writes its target', async () => {
    const dest = join(testdir, 'dest');
    mkdirSync(dest);
    writeFileSync(join(testdir, 'victim'), 'original');
    symlinkSync(join(testdir, 'victim'), join(dest, 'f'));
    await run([{ name: 'f', data: 'new' }], { dest });
    assert.equal(readFileSync(join(testdir, 'victim'), 'utf8'), 'original');
    assert.equal(lstatSync(join(dest, 'f')).isFile(), true);
    assert.equal(readFileSync(join(dest, 'f'), 'utf8'), 'new');
  });

  test('a symlink and then a file through it; chained symlinks', async () => {
    const dest = join(testdir, 'dest');
    const warnings: string[] = [];
    await run(
      [
        { name: 'escape', type: 'symlink', linkname: testdir },
        { name: 'escape/pwned', data: 'x' },
        { name: 'a', type: 'symlink', linkname: '../' },
        { name: 'a/b', type: 'symlink', linkname: '../' },
        { name: 'a/b/pwned2', data: 'y' },
      ],
      { dest },
      warnings,
    );
    // The names are plain directories inside dest now: nothing reached testdir.
    assert.deepEqual(listFiles(testdir), [join(dest, 'a/b/pwned2'), join(dest, 'escape/pwned')]);
    assert.equal(warnings.filter((w) => w.startsWith('warning: skipping symlink:')).length, 3);
  });

  test('a hard link becomes a copy of a file of the same archive; any other hard link is skipped', async () => {
    const dest = join(testdir, 'dest');
    writeFileSync(join(testdir, 'secret'), 'secret');
    const warnings: string[] = [];
    const r = await run(
      [
        { name: 'd/orig', data: 'shared' },
        { name: 'd/copy', type: 'link', linkname: 'd/orig' },
        { name: 'd/steal', type: 'link', linkname: join(testdir, 'secret') },
        { name: 'd/steal2', type: 'link', linkname: '../secret' },
      ],
      { dest, prefix: 'd' },
      warnings,
    );
    assert.deepEqual(listFiles(dest), [join(dest, 'copy'), join(dest, 'orig')]);
    assert.equal(readFileSync(join(dest, 'copy'), 'utf8'), 'shared');
    assert.notEqual(statSync(join(dest, 'copy')).ino, statSync(join(dest, 'orig')).ino);
    assert.equal(r.files.length, 2);
    assert.equal(warnings.filter((w) => w.startsWith('warning: skipping hard link:')).length, 2);
  });
});

test('special files are skipped; setuid, setgid and sticky bits dropped; umask applies (A7)', async () => {
  const dest = join(testdir, 'dest');
  const warnings: string[] = [];
  await run(
    [
      { name: 'dev', type: 'character-device' },
      { name: 'blk', type: 'block-device' },
      { name: 'pipe', type: 'fifo' },
      { name: 'suid', data: '#!/bin/sh\n', mode: 0o4755 },
      { name: 'sgid', data: 'x', mode: 0o2775 },
      { name: 'secret', data: 'x', mode: 0o600 },
      { name: 'sticky', type: 'directory', mode: 0o1777 },
    ],
    { dest },
    warnings,
  );
  assert.deepEqual(listFiles(dest), [join(dest, 'secret'), join(dest, 'sgid'), join(dest, 'suid')]);
  const umask = process.umask();
  assert.equal(statSync(join(dest, 'suid')).mode & 0o7777, 0o755 & ~umask);
  assert.equal(statSync(join(dest, 'sgid')).mode & 0o7777, 0o775 & ~umask);
  assert.equal(statSync(join(dest, 'secret')).mode & 0o7777, 0o600);
  assert.equal(statSync(join(dest, 'sticky')).mode & 0o7777, 0o777 & ~umask);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0]!, /^warning: skipping character device ".*dev": only regular files and directories are copied$/);
});

test('modes and mtimes, or not (preserve false: 0666/0777 under the umask); a 0555 directory still gets its files', async () => {
  const mtime = new Date('2020-02-02T02:02:02Z');
  const members: Member[] = [
    { name: 'ro', type: 'directory', mode: 0o555 },
    { name: 'ro/file', data: 'inside', mode: 0o444, mtime },
    { name: 'exe', data: 'x', mode: 0o700 },
  ];
  const a = join(testdir, 'a');
  await run(members, { dest: a });
  assert.equal(statSync(join(a, 'ro')).mode & 0o777, 0o555);
  assert.equal(readFileSync(join(a, 'ro/file'), 'utf8'), 'inside');
  assert.equal(statSync(join(a, 'ro/file')).mode & 0o777, 0o444);
  assert.equal(statSync(join(a, 'ro/file')).mtime.getTime(), mtime.getTime());
  assert.equal(statSync(join(a, 'exe')).mode & 0o777, 0o700);
  const b = join(testdir, 'b');
  await run(members, { dest: b, preserve: false });
  const umask = process.umask();
  assert.equal(statSync(join(b, 'ro')).mode & 0o777, 0o777 & ~umask);
  assert.equal(statSync(join(b, 'exe')).mode & 0o777, 0o666 & ~umask);
  assert.notEqual(statSync(join(b, 'ro/file')).mtime.getTime(), mtime.getTime());
  const { chmodSync } = await import('node:fs');
  chmodSync(join(a, 'ro'), 0o755);
});

describe('caps (A6)', () => {
  test('path depth', async () => {
    const deep = Array.from({ length: 300 }, () => 'a').join('/') + '/f';
    await failsWith(run([{ name: deep, data: 'x' }], { dest: join(testdir, 'd') }), 'ERR_TRANSFER_LIMIT', /is 301 levels deep, more than the 256 allowed$/);
    await failsWith(run([{ name: 'a/b/c/f', data: 'x' }], { dest: join(testdir, 'd'), limits: { maxDepth: 3 } }), 'ERR_TRANSFER_LIMIT');
  });
  test('a 10 000-level path is refused by its length before anything is created', async () => {
    const name = Array.from({ length: 10_000 }, () => 'x').join('/');
    await failsWith(run([{ name, data: 'x' }], { dest: join(testdir, 'd') }), 'ERR_TRANSFER_LIMIT', /19999 bytes long, more than the 4096 allowed/);
    assert.deepEqual(readdirSync(testdir), []);
  });
  test('entries', async () => {
    const members = Array.from({ length: 50 }, (_, i) => ({ name: `e${i}`, type: 'directory' as const }));
    await failsWith(run(members, { dest: join(testdir, 'd'), limits: { maxEntries: 20 } }), 'ERR_TRANSFER_LIMIT', /more than 20 members/);
  });
  test('total bytes', async () => {
    await failsWith(run([{ name: 'a', data: Buffer.alloc(600) }, { name: 'b', data: Buffer.alloc(600) }], { dest: join(testdir, 'd'), limits: { maxBytes: 1000 } }), 'ERR_TRANSFER_LIMIT', /1000 bytes/);
    assert.deepEqual(listFiles(join(testdir, 'd')), [join(testdir, 'd/a')]);
  });
});

describe('corrupt input and failures leave no partial file under a final name', () => {
  test('a truncated archive', async () => {
    const buf = await archive([{ name: 'big', data: Buffer.alloc(100_000, 1) }]);
    await failsWith(run(buf.subarray(0, 50_000), { dest: join(testdir, 'd') }), 'ERR_TRANSFER_CORRUPT', /unexpected end of data/);
    assert.deepEqual(listFiles(testdir), []);
  });
  test('an archive cut just after a member header, or early in its data, is corrupt too (never a bare stream error)', async () => {
    const buf = await archive([{ name: 'big', data: Buffer.alloc(100_000, 1) }]);
    for (const cut of [512, 5000]) {
      for (const expect of ['any', 'file'] as const) {
        await failsWith(run(buf.subarray(0, cut), { dest: join(testdir, 'd'), ...(expect === 'file' ? { prefix: 'big', expect } : {}) }), 'ERR_TRANSFER_CORRUPT', /^tar contents corrupted: unexpected end of data$/);
        assert.deepEqual(listFiles(testdir), [], `cut at ${cut}, expect ${expect}`);
      }
    }
  });
  test('garbage', async () => {
    await failsWith(run(Buffer.alloc(2048, 0x41), { dest: join(testdir, 'd') }), 'ERR_TRANSFER_CORRUPT');
  });
  test("the source's own error comes through unchanged, mid-file", async () => {
    const buf = await archive([{ name: 'big', data: Buffer.alloc(100_000, 1) }]);
    const lost = Object.assign(new Error('connection lost'), { code: 'ERR_CONNECTION_LOST' });
    async function* broken() {
      yield buf.subarray(0, 30_000);
      throw lost;
    }
    await assert.rejects(extractTar(broken(), { prefix: '', dest: join(testdir, 'd') }), (err) => err === lost);
    assert.deepEqual(listFiles(testdir), []);
  });
  test('a file member over an existing directory', async () => {
    const dest = join(testdir, 'd');
    mkdirSync(join(dest, 'x'), { recursive: true });
    await failsWith(run([{ name: 'x', data: 'y' }], { dest }), 'ERR_TRANSFER_UNSAFE', /cannot overwrite directory/);
    assert.deepEqual(listFiles(testdir), []);
  });
});

test('./ names, duplicates (the last wins), directories after their files', async () => {
  const dest = join(testdir, 'd');
  const r = await run(
    [
      { name: './x/a', data: 'first' },
      { name: './x/a', data: 'second' },
      { name: './x/', type: 'directory', mode: 0o700 },
    ],
    { dest, prefix: 'x' },
  );
  assert.deepEqual(listFiles(dest), [join(dest, 'a')]);
  assert.equal(readFileSync(join(dest, 'a'), 'utf8'), 'second');
  assert.equal(r.files.length, 1);
});

test('canonicalDestination resolves symlinks and creates the parent', async () => {
  const real = join(testdir, 'real');
  mkdirSync(real);
  symlinkSync(real, join(testdir, 'link'));
  assert.equal(await canonicalDestination(join(testdir, 'link')), real);
  assert.equal(await canonicalDestination(join(testdir, 'link', 'new', 'file')), join(real, 'new', 'file'));
  assert.equal(statSync(join(real, 'new')).isDirectory(), true);
  assert.equal(readlinkSync(join(testdir, 'link')), real);
});
