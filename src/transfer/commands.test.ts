// The remote commands: exact argv (kubectl TestCopyToPodNoPreserve / TestCopyFromPod shapes), and
// each shell script run here, on this machine's sh and coreutils, with hostile file names, to prove
// paths are data and never code.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as cmd from './commands.ts';

test('tar extract argv, preserving or not (kubectl TestCopyToPodNoPreserve)', () => {
  assert.deepEqual(cmd.tarExtract('.', false), ['tar', '--no-same-permissions', '--no-same-owner', '-xmf', '-', '-C', '.']);
  assert.deepEqual(cmd.tarExtract('.', true), ['tar', '-xmf', '-', '-C', '.']);
});

test("download argv: plain tar, then a resume script whose path is a positional parameter (kubectl TestCopyFromPod's quotes case)", () => {
  assert.deepEqual(cmd.tarCreate('/tmp/foo'), ['tar', 'cf', '-', '--', '/tmp/foo']);
  assert.deepEqual(cmd.tarCreate('/tmp/link', true), ['tar', 'chf', '-', '--', '/tmp/link']);
  assert.match(cmd.tarCreateFrom('/tmp/link', 5, true)[2]!, /\{ tar chf - -- "\$1"; echo \$\? >&3; \}.*exit "\$\{s:-1\}"$/);
  const resumed = cmd.tarCreateFrom("/tmp/path'with'quotes", 0);
  assert.equal(resumed.length, 6);
  assert.deepEqual([resumed[0], resumed[1], resumed[3], resumed[4], resumed[5]], ['sh', '-c', 'sh', "/tmp/path'with'quotes", '1']);
  assert.doesNotMatch(resumed[2]!, /quotes/);
  assert.deepEqual(cmd.catReadFrom('-x', 1000), ['tail', '-c', '+1001', '--', '-x']);
});

test('parseStat', () => {
  assert.deepEqual(cmd.parseStat('regular file|123|644\n'), { type: 'file', size: 123, mode: 0o644 });
  assert.deepEqual(cmd.parseStat('regular empty file|0|600\n'), { type: 'file', size: 0, mode: 0o600 });
  assert.deepEqual(cmd.parseStat('directory|4096|1777\n'), { type: 'directory', size: 4096, mode: 0o1777 });
  assert.deepEqual(cmd.parseStat('symbolic link|7|777\n'), { type: 'symlink', size: 7, mode: 0o777 });
  assert.deepEqual(cmd.parseStat('fifo|0|644'), { type: 'other', size: 0, mode: 0o644 });
  assert.equal(cmd.parseStat('garbage'), null);
  assert.equal(cmd.parseStat('regular file|12|644\nmore|1|1\n'), null);
});

test('parseVerifyOutput', () => {
  const h = 'a'.repeat(64);
  assert.deepEqual(cmd.parseVerifyOutput(`sha256\n${h}  /x\n\\${h}  /a\\nb\n`, 2), { method: 'sha256', values: [h, h] });
  assert.deepEqual(cmd.parseVerifyOutput('size\n12\n0\n', 2), { method: 'size', values: ['12', '0'] });
  assert.deepEqual(cmd.parseVerifyOutput('none\n', 3), { method: 'none' });
  assert.equal(cmd.parseVerifyOutput(`sha256\n${h}  /x\n`, 2), null);
  assert.equal(cmd.parseVerifyOutput('sha256\nnot a hash  /x\n', 1), null);
  assert.equal(cmd.parseVerifyOutput('', 1), null);
});

test('batches keep each exec URL bounded and keep order', () => {
  const paths = Array.from({ length: 100 }, (_, i) => `/data/${String(i).padStart(3, '0')}-${'x'.repeat(1000)}`);
  const out = cmd.batches(paths, 32 * 1024);
  assert.ok(out.length > 1);
  assert.deepEqual(out.flat(), paths);
  for (const b of out) assert.ok(b.reduce((n, p) => n + p.length + 16, 0) <= 32 * 1024);
  assert.deepEqual(cmd.batches([]), []);
});

describe('the scripts, run by this machine’s sh with hostile names', () => {
  let dir: string;
  const hostile = ["a b", "it's", 'q"uote', '$(touch PWNED)', '`touch PWNED`', 'semi;touch PWNED', 'new\nline', '-rf', '*', 'back\\slash'];
  const run = (argv: string[], input?: Buffer, env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: Buffer; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(argv[0]!, argv.slice(1), { cwd: dir, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, ...(env ? { env } : {}) }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() }),
      );
      child.stdin!.on('error', () => {});
      if (input) child.stdin!.end(input);
      else child.stdin!.end();
    });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'podshell-cmd-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const name of hostile) {
    test(JSON.stringify(name), async () => {
      const data = randomBytes(5000);
      // cat > "$1" (no-tar upload), chmod, verify, rename onto the hostile name, resume a read.
      const tmp = join(dir, cmd.tempName(randomBytes(4).toString('hex')));
      assert.equal((await run(cmd.catWrite(tmp), data)).code, 0);
      assert.equal(statSync(tmp).mode & 0o777, 0o600);
      assert.equal((await run(cmd.catWrite(tmp), data)).code === 0, false, 'set -C refuses an existing temp name');
      assert.equal((await run(cmd.chmod(tmp, 0o640))).code, 0);
      const v = await run(cmd.verifyFiles([tmp]));
      assert.deepEqual(cmd.parseVerifyOutput(v.stdout.toString(), 1), { method: 'sha256', values: [createHash('sha256').update(data).digest('hex')] });
      const final = join(dir, name);
      assert.equal((await run(cmd.renameInto(tmp, final))).code, 0);
      assert.deepEqual(readFileSync(final), data);
      assert.equal(statSync(final).mode & 0o777, 0o640);
      assert.deepEqual((await run(cmd.catReadFrom(final, 1234))).stdout, data.subarray(1234));
      // tar resume: the same bytes as the plain archive, from the offset.
      const whole = await run(cmd.tarCreate(name));
      assert.equal(whole.code, 0);
      const tail = await run(cmd.tarCreateFrom(name, 777));
      assert.equal(tail.code, 0);
      assert.deepEqual(tail.stdout, whole.stdout.subarray(777));
      assert.equal(existsSync(join(dir, 'PWNED')), false);
    });
  }

  test("the resume script exits with tar's status, not tail's", async () => {
    const r = await run(cmd.tarCreateFrom('no such file', 0));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no such file/);
  });

  test('renameInto never moves a file into a directory of the final name', async () => {
    mkdirSync(join(dir, 'adir'));
    const tmp = join(dir, cmd.tempName('00000001'));
    writeFileSync(tmp, 'x');
    const r = await run(cmd.renameInto(tmp, join(dir, 'adir')));
    assert.equal(r.code, 21);
    assert.match(r.stderr, /cannot overwrite directory/);
    assert.equal(existsSync(join(dir, 'adir', cmd.tempName('00000001'))), false);
  });

  test('verifyFiles with openssl for a single file, sha256sum where there is no openssl', async () => {
    const data = randomBytes(70_000);
    writeFileSync(join(dir, 'f'), data);
    const want = { method: 'sha256', values: [createHash('sha256').update(data).digest('hex')] };
    const v = await run(cmd.verifyFiles([join(dir, 'f')]));
    assert.match(v.stdout.toString(), /^sha256\n[0-9a-f]{64} \*stdin\n$/, 'this machine has openssl');
    assert.deepEqual(cmd.parseVerifyOutput(v.stdout.toString(), 1), want);
    const bin = mkdtempSync(join(dir, 'bin-'));
    const found = await run(['/bin/sh', '-c', 'command -v sha256sum']);
    symlinkSync(found.stdout.toString().trim(), join(bin, 'sha256sum'));
    const [, ...verify] = cmd.verifyFiles([join(dir, 'f')]);
    const w = await run(['/bin/sh', ...verify], undefined, { PATH: bin });
    assert.match(w.stdout.toString(), /^sha256\n[0-9a-f]{64} {2}\//);
    assert.deepEqual(cmd.parseVerifyOutput(w.stdout.toString(), 1), want);
  });

  test('verifyFiles reports a missing file by its exit status', async () => {
    const r = await run(cmd.verifyFiles([join(dir, 'missing')]));
    assert.notEqual(r.code, 0);
  });
  const token = cmd.stepToken('test');
  /** A stepped script's output cut at its step marks: [output, status] per step. */
  const stepsOf = (stdout: Buffer): Array<[string, number]> =>
    stdout
      .toString()
      .split(/\n@podshell-step podshell-test (\d+)\n/)
      .reduce<Array<[string, number]>>((out, part, i, all) => (i % 2 === 0 && i + 1 < all.length ? [...out, [part, Number(all[i + 1])]] : out), []);

  test('statThenVerify: stat, then a checksum for a file only; a missing path says so in its first step', async () => {
    const data = randomBytes(3000);
    const name = join(dir, 'step $(touch PWNED) file');
    writeFileSync(name, data, { mode: 0o640 });
    const file = await run(cmd.statThenVerify(name, token));
    assert.equal(file.code, 0);
    const [[statLine, statStatus], [verified, verifyStatus], ...rest] = stepsOf(file.stdout);
    assert.deepEqual([statStatus, cmd.parseStat(statLine!)], [0, { type: 'file', size: 3000, mode: 0o640 }]);
    assert.equal(verifyStatus, 0);
    assert.deepEqual(cmd.parseVerifyOutput(verified!, 1), { method: 'sha256', values: [createHash('sha256').update(data).digest('hex')] });
    assert.deepEqual(rest, []);
    const directory = await run(cmd.statThenVerify(dir, token));
    assert.deepEqual(stepsOf(directory.stdout).map(([out, status]) => [cmd.parseStat(out)?.type, status]), [['directory', 0]]);
    const missing = stepsOf((await run(cmd.statThenVerify(join(dir, 'missing'), token))).stdout);
    assert.equal(missing.length, 1);
    assert.notEqual(missing[0]![1], 0);
    assert.match(missing[0]![0], /no such file/i);
    assert.equal(existsSync(join(dir, 'PWNED')), false);
  });

  test('statTarVerify: stat as a step on stdout before the archive; tar\'s messages and the checksum as steps on stderr; tar\'s exit status', async () => {
    const data = randomBytes(3000);
    const name = 'one $(touch PWNED) file';
    writeFileSync(join(dir, name), data);
    const file = await run(cmd.statTarVerify(name, token));
    assert.equal(file.code, 0);
    const mark = Buffer.from(cmd.stepMark(token));
    const eol = file.stdout.indexOf(10, file.stdout.indexOf(mark) + mark.length);
    assert.deepEqual(stepsOf(file.stdout.subarray(0, eol + 1)).map(([out, status]) => [cmd.parseStat(out), status]), [[{ type: 'file', size: 3000, mode: statSync(join(dir, name)).mode & 0o777 }, 0]]);
    assert.deepEqual(file.stdout.subarray(eol + 1), (await run(cmd.tarCreate(name))).stdout);
    const [[tarText, tarStatus], [verified, verifyStatus], ...rest] = stepsOf(Buffer.from(file.stderr));
    assert.deepEqual([tarText, tarStatus, verifyStatus, rest], ['', 0, 0, []]);
    assert.deepEqual(cmd.parseVerifyOutput(verified!, 1), { method: 'sha256', values: [createHash('sha256').update(data).digest('hex')] });
    // A directory: its archive and tar's step, no checksum.
    mkdirSync(join(dir, 'tdir'));
    const tree = await run(cmd.statTarVerify('tdir', token));
    assert.deepEqual(stepsOf(Buffer.from(tree.stderr)), [['', 0]]);
    // Missing: stat's error as the only step; no tar: nothing at all.
    const missing = await run(cmd.statTarVerify('missing', token));
    assert.equal(missing.stderr, '');
    assert.match(stepsOf(missing.stdout)[0]![0], /no such file/i);
    const noTar = await run(['/bin/sh', ...cmd.statTarVerify(name, token).slice(1)], undefined, { PATH: mkdtempSync(join(dir, 'empty-')) });
    assert.deepEqual([noTar.code, noTar.stdout.length, noTar.stderr], [0, 0, '']);
    assert.equal(existsSync(join(dir, 'PWNED')), false);
  });

  test('uploadSteps: the directory test, then check and rename each when asked; a directory of the final name is refused; any other line stops it', async () => {
    const data = randomBytes(3000);
    const tmp = join(dir, cmd.tempName('00000002'));
    writeFileSync(tmp, data);
    const final = join(dir, 'up $(touch PWNED)');
    const full = await run(cmd.uploadSteps(dir, tmp, final, token), Buffer.from('check\nrename\n'));
    assert.equal(full.code, 0);
    const [[, isDir], [verified], [renamed, renameStatus], ...rest] = stepsOf(full.stdout);
    assert.equal(isDir, 0);
    assert.deepEqual(cmd.parseVerifyOutput(verified!, 1), { method: 'sha256', values: [createHash('sha256').update(data).digest('hex')] });
    assert.deepEqual([renamed, renameStatus, rest], ['', 0, []]);
    assert.deepEqual(readFileSync(final), data);
    assert.equal(existsSync(tmp), false);
    // No test, no check: the rename alone; onto a directory it fails, with its message as output.
    writeFileSync(tmp, data);
    mkdirSync(join(dir, 'bdir'));
    const refused = await run(cmd.uploadSteps('', tmp, join(dir, 'bdir'), token), Buffer.from('rename\n'));
    assert.deepEqual(stepsOf(refused.stdout).map(([out, status]) => [status, /cannot overwrite directory/.test(out)]), [[21, true]]);
    assert.equal(existsSync(join(dir, 'bdir', cmd.tempName('00000002'))), false);
    // Stopped after the test: nothing runs.
    const stopped = await run(cmd.uploadSteps(final, tmp, final, token), Buffer.from('stop\nrename\n'));
    assert.deepEqual(stepsOf(stopped.stdout), [['', 1]]);
    assert.equal(existsSync(tmp), true);
    assert.equal(existsSync(join(dir, 'PWNED')), false);
  });
});
