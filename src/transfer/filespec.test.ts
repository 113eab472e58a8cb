// File specs and path helpers, table-driven; the vectors of kubectl cp's own tests
// (file spec extraction, prefixes, path shortcuts, relative destinations) plus ours.

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { TransferError } from './errors.ts';
import { cleanRemote, isInside, parseFileSpec, stripLeadingSlashes, stripPathShortcuts, tarPrefix, uploadTarget } from './filespec.ts';

const canonical = 'filespec must match the canonical format: [[namespace/]pod:]file/path';

describe('parseFileSpec', () => {
  const ok: [string, ReturnType<typeof parseFileSpec>][] = [
    // kubectl TestExtractFileSpec
    ['namespace/pod:/some/file', { kind: 'remote', namespace: 'namespace', pod: 'pod', path: '/some/file' }],
    ['pod:/some/file', { kind: 'remote', pod: 'pod', path: '/some/file' }],
    ['/some/file', { kind: 'local', path: '/some/file' }],
    ['pod:/some/filenamewith:in', { kind: 'remote', pod: 'pod', path: '/some/filenamewith:in' }],
    // TYPE/NAME
    ['deploy/web:/tmp/x', { kind: 'remote', pod: 'deploy/web', path: '/tmp/x' }],
    ['Deployments.apps/web:/tmp/x', { kind: 'remote', pod: 'Deployments.apps/web', path: '/tmp/x' }],
    ['sts/db:data', { kind: 'remote', pod: 'sts/db', path: 'data' }],
    ['po/demo:/x', { kind: 'remote', pod: 'po/demo', path: '/x' }],
    ['kube-system/coredns-1:/x', { kind: 'remote', namespace: 'kube-system', pod: 'coredns-1', path: '/x' }],
    // remote paths: backslashes become slashes, one trailing slash goes
    ['pod:/tmp/dir/', { kind: 'remote', pod: 'pod', path: '/tmp/dir' }],
    ['pod:/', { kind: 'remote', pod: 'pod', path: '/' }],
    ['pod:C:\\x\\y', { kind: 'remote', pod: 'pod', path: 'C:/x/y' }],
    // local: Windows drive letters, relative paths, trailing slash
    ['C:\\Users\\me\\file.txt', { kind: 'local', path: 'C:\\Users\\me\\file.txt' }],
    ['d:/data/x', { kind: 'local', path: 'd:/data/x' }],
    ['./out/', { kind: 'local', path: './out' }],
    ['file with spaces', { kind: 'local', path: 'file with spaces' }],
  ];
  for (const [spec, want] of ok) {
    test(JSON.stringify(spec), () => assert.deepEqual(parseFileSpec(spec), want));
  }

  const bad: [string, string][] = [
    [':file:not:exist:in:local:filesystem', canonical],
    ['namespace/pod/invalid:/some/file', canonical],
    ['/pod:/x', canonical],
    ['ns/:/x', canonical],
    ['a/b/c/d:/x', canonical],
    ['prod/deploy/web:/tmp/x', canonical],
    ['pod:', 'remote path cannot be empty: "pod:" names pod "pod" but no file in it'],
    ['ns/pod:', 'remote path cannot be empty: "ns/pod:" names pod "pod" but no file in it'],
    ['', 'filepath can not be empty'],
  ];
  for (const [spec, message] of bad) {
    test(`${JSON.stringify(spec)} fails`, () => {
      assert.throws(
        () => parseFileSpec(spec),
        (err: unknown) => err instanceof TransferError && err.code === 'ERR_TRANSFER_FILESPEC' && err.message === message,
      );
    });
  }
});

test('stripLeadingSlashes (kubectl TestGetPrefix)', () => {
  assert.equal(stripLeadingSlashes('/foo/bar'), 'foo/bar');
  assert.equal(stripLeadingSlashes('foo/bar'), 'foo/bar');
  assert.equal(stripLeadingSlashes('\\foo\\bar'), 'foo\\bar');
});

describe('stripPathShortcuts of a cleaned remote path (kubectl TestStripPathShortcuts)', () => {
  const cases: [string, string][] = [
    ['../foo/bar', 'foo/bar'],
    ['..\\foo\\bar', 'foo/bar'],
    ['../../foo/bar', 'foo/bar'],
    ['..\\..\\foo\\bar', 'foo/bar'],
    ['/tmp/one/two/../../foo/bar', 'tmp/foo/bar'],
    ['\\tmp\\one\\two\\..\\..\\foo\\bar', 'tmp/foo/bar'],
    ['../../', ''],
    ['..\\..\\', ''],
    ['../..', ''],
    ['..\\..', ''],
    ['/tmp/one/two/../../foo/..bar', 'tmp/foo/..bar'],
    ['\\tmp\\one\\two\\..\\..\\foo\\..bar', 'tmp/foo/..bar'],
    ['../...foo', '...foo'],
    ['..\\...foo', '...foo'],
    ['...foo', '...foo'],
    ['/', ''],
    ['\\', ''],
  ];
  for (const [input, want] of cases) test(JSON.stringify(input), () => assert.equal(stripPathShortcuts(cleanRemote(input)), want));
});

describe('tarPrefix: what every member of `tar cf - PATH` starts with', () => {
  const cases: [string, string][] = [
    ['/tmp/foo', 'tmp/foo'],
    ['/tmp/foo/', 'tmp/foo'],
    ['/', ''],
    ['rel/dir', 'rel/dir'],
    ['./rel', 'rel'],
    ['/tmp/a/../b', 'tmp/b'],
    ['../../etc', 'etc'],
  ];
  for (const [input, want] of cases) test(JSON.stringify(input), () => assert.equal(tarPrefix(input), want));
});

describe('isInside (kubectl TestIsDestRelative)', () => {
  const cases: [string, string, boolean][] = [
    ['/dir', '/dir/../link', false],
    ['/dir', '/dir/../../link', false],
    ['/dir', '/link', false],
    ['/dir', '/dir/link', true],
    ['/dir', '/dir/int/../link', true],
    ['dir', 'dir/link', true],
    ['dir', 'dir/int/../link', true],
    ['dir', 'dir/../../link', false],
    // ours: the base itself, names that merely start with dots, sibling prefixes
    ['/dir', '/dir', true],
    ['/dir', '/dir/..foo', true],
    ['/dir', '/dir2/x', false],
  ];
  for (const [base, dest, want] of cases) test(`${base} ⊇ ${dest}: ${want}`, () => assert.equal(isInside(base, dest), want));
  test('Windows rules', () => {
    assert.equal(isInside('C:\\dest', 'C:\\dest\\a\\b', path.win32), true);
    assert.equal(isInside('C:\\dest', 'D:\\dest\\a', path.win32), false);
    assert.equal(isInside('C:\\dest', 'C:\\dest\\..\\x', path.win32), false);
  });
});

test('uploadTarget: into an existing directory under the source name, else at the path (kubectl copyToPod)', () => {
  const base = (p: string) => path.basename(path.resolve(p));
  assert.equal(uploadTarget('/src/a.txt', '/tmp', true, base), '/tmp/a.txt');
  assert.equal(uploadTarget('/src/a.txt', '/tmp/', true, base), '/tmp/a.txt');
  assert.equal(uploadTarget('/src/a.txt', '/tmp/b.txt', false, base), '/tmp/b.txt');
  assert.equal(uploadTarget('/src/dir/', '/', true, base), '/dir');
  assert.equal(uploadTarget('./x', 'rel', false, base), 'rel');
});
