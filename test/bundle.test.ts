// The CLI's bundle (scripts/bundle-cli.ts): what stays a package import, where files read next to
// the code are found from the bundle's folder, and the built-ins loaded on first use.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { isExternal, lazyBuiltin, packageName, rewriteAssetUrls } from '../scripts/bundle-cli.ts';

const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

test('packages on the path of exec, attach and cp are bundled, with their dependencies; the others and native addons are not', () => {
  assert.equal(packageName('@kubernetes/client-node/dist/config_types.js'), '@kubernetes/client-node');
  assert.equal(packageName('ws'), 'ws');
  const own = join(root, 'src', 'kube', 'client.ts');
  const inWs = join(root, 'node_modules', 'ws', 'lib', 'buffer-util.js');
  for (const name of ['commander', 'ws', 'js-yaml', 'tar-stream', '@kubernetes/client-node/dist/config_types.js']) assert.equal(isExternal(name, own), false, name);
  for (const name of ['fastify', 'node-pty', '@kubernetes/client-node', 'openid-client', 'yaml']) assert.equal(isExternal(name, own), true, name);
  assert.equal(isExternal('streamx', join(root, 'node_modules', 'tar-stream', 'extract.js')), false);
  assert.equal(isExternal('bufferutil', inWs), true);
  assert.equal(isExternal('utf-8-validate', inWs), true);
});

test("files read next to the code are found from the bundle's folder: in dist/ for the package, in src/ for a checkout", () => {
  const world = join(root, 'src', 'sandbox', 'world.ts');
  const source = "readFileSync(new URL('./world.yaml', import.meta.url), 'utf8'); new URL(\"../web/\", import.meta.url); new URL(text);";
  assert.equal(
    rewriteAssetUrls(source, world, join(root, 'dist', 'bundle'), 'dist'),
    "readFileSync(new URL('../sandbox/world.yaml', import.meta.url), 'utf8'); new URL(\"../web/\", import.meta.url); new URL(text);",
  );
  assert.equal(
    rewriteAssetUrls(source, world, join(root, 'dist', 'checkout', 'x'), 'src'),
    "readFileSync(new URL('../../../src/sandbox/world.yaml', import.meta.url), 'utf8'); new URL(\"../../../src/web/\", import.meta.url); new URL(text);",
  );
  // Outside src/ (package.json) the file is the same for both.
  const program = "new URL('../../package.json', import.meta.url)";
  assert.equal(rewriteAssetUrls(program, join(root, 'src', 'cli', 'program.ts'), join(root, 'dist', 'bundle'), 'dist'), "new URL('../../package.json', import.meta.url)");
});

test('a built-in loaded on first use is the built-in: its functions, constants and keys', () => {
  const module = { exports: {} as Record<string | symbol, unknown> };
  new Function('module', lazyBuiltin('zlib'))(module);
  const lazy = module.exports as unknown as typeof zlib;
  assert.equal(lazy.createInflateRaw, zlib.createInflateRaw);
  assert.equal(lazy.constants.Z_DEFAULT_WINDOWBITS, zlib.constants.Z_DEFAULT_WINDOWBITS);
  assert.ok('constants' in lazy);
  assert.deepEqual(Object.keys(lazy).sort(), Object.keys(zlib).sort());
  const inflated = lazy.inflateRawSync(zlib.deflateRawSync(Buffer.from('podshell')));
  assert.equal(inflated.toString(), 'podshell');
});
