// The published package, as a user gets it: `npm pack` of a copy of this checkout (so the
// checkout's own dist/ is left alone), the tarball installed into a new project from npm's cache,
// then the installed CLI and the library run there against a sandbox.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { copyAssets, isRuntimeAsset } from '../scripts/build.ts';
import { webFiles } from '../scripts/build-web.ts';
import { run } from './helpers.ts';

const repo = dirname(new URL('../package.json', import.meta.url).pathname);
/** Node.js 24 first on PATH, as for any user of the published package with a new enough Node.js. */
const newNodePath = [dirname(process.execPath), process.env['PATH']].join(delimiter);
let sandbox: Sandbox;
let work: string;
let checkout: string;
let project: string;
let packed: { filename: string; files: { path: string }[] };

/** The files of the checkout as git sees them (tracked and new, not ignored), copied to `to`. */
function copyCheckout(to: string): void {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: repo, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    if (file === 'node_modules') continue;
    try {
      cpSync(join(repo, file), join(to, file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // deleted, not yet committed
    }
  }
  symlinkSync(realpathSync(join(repo, 'node_modules')), join(to, 'node_modules'));
}

/**
 * The new project's package-lock.json: podshell's own lock entries (everything but its dev
 * dependencies, at the same node_modules/ paths, since they are hoisted) plus the tarball. With
 * it npm installs from its cache by integrity, as `npm ci` filled it, with no registry request.
 */
function projectLock(tarball: string): object {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean } & Record<string, unknown>> };
  const self = lock.packages['']!;
  const packages: Record<string, unknown> = {
    '': { name: 'user-project', version: '1.0.0' },
    'node_modules/podshell': { version: self['version'], resolved: `file:${tarball}`, license: self['license'], dependencies: self['dependencies'], bin: self['bin'], engines: self['engines'] },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  return { name: 'user-project', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-package-'));
  checkout = join(work, 'checkout');
  project = join(work, 'project');
  mkdirSync(checkout);
  mkdirSync(project);
  copyCheckout(checkout);
  const env = { ...process.env, PATH: newNodePath, npm_config_update_notifier: 'false' };
  const npm = (cwd: string, args: string[]) => promisify(execFile)('npm', args, { cwd, env, timeout: 90_000, maxBuffer: 64 << 20 });
  const pack = await npm(checkout, ['pack', '--json', '--pack-destination', work]);
  packed = (JSON.parse(pack.stdout) as (typeof packed)[])[0]!;
  const tarball = join(work, packed.filename);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(projectLock(tarball)));
  await npm(project, ['install', '--offline', '--no-audit', '--no-fund', tarball]);
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the built code, its types, the launchers and nothing else', () => {
  const files = packed.files.map((f) => f.path).sort();
  const sources = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'src'], { cwd: repo, encoding: 'utf8' }).trim().split('\n');
  const expected = new Set(['package.json', 'README.md', 'bin/podshell', 'bin/podshell.js', 'bin/podshell-bundle.js', 'bin/kubectl-podshell']);
  for (const source of sources) {
    const name = source.slice(source.lastIndexOf('/') + 1);
    const out = source.replace(/^src\//, 'dist/');
    if (name === 'tsconfig.json' || name.endsWith('.d.ts') || /\.test\./.test(name)) continue;
    if (source.startsWith('src/web/')) continue; // bundled by esbuild: webFiles below
    if (name.endsWith('.ts')) expected.add(out.replace(/\.ts$/, '.js')).add(out.replace(/\.ts$/, '.d.ts'));
    else if (isRuntimeAsset(name)) expected.add(out);
  }
  for (const file of webFiles) expected.add(`dist/web/${file}`);
  // The CLI's bundle (scripts/bundle-cli.ts).
  for (const file of readdirSync(join(checkout, 'dist', 'bundle'))) expected.add(`dist/bundle/${file}`);
  assert.deepEqual(files, [...expected].sort());
  // Spelled out, so that a change in the rule above cannot hide them.
  for (const needed of ['dist/bundle/podshell.cjs', 'dist/cli/main.js', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/sandbox/server.js']) assert.ok(files.includes(needed), needed);
  assert.deepEqual(files.filter((f) => /\.map$|tsbuildinfo|\.test\.|^src\//.test(f)), []);
});

test('the build copies the run-time files of src/<layer>/ (not TypeScript, tsconfig.json or tests) into dist/', () => {
  const from = join(work, 'assets-src');
  const to = join(work, 'assets-dist');
  const files: Record<string, string> = { 'sandbox/world.yaml': 'pods: []\n', 'sandbox/deep/data.json': '{}', 'sandbox/world.ts': '', 'sandbox/tsconfig.json': '{}', 'sandbox/world.test.yaml': '', 'lib/README.md': '#' };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(from, path)), { recursive: true });
    writeFileSync(join(from, path), text);
  }
  writeFileSync(join(from, 'top-level.yaml'), '');
  assert.deepEqual(copyAssets(from, to), ['lib/README.md', 'sandbox/deep/data.json', 'sandbox/world.yaml']);
  assert.equal(readFileSync(join(to, 'sandbox/world.yaml'), 'utf8'), 'pods: []\n');
  assert.equal(readFileSync(join(to, 'sandbox/deep/data.json'), 'utf8'), '{}');
});

test('the installed CLI runs a command in a pod, exit code included', async () => {
  const podshell = join(project, 'node_modules', '.bin', 'podshell');
  const env = { ...process.env, PATH: newNodePath, KUBECONFIG: sandbox.kubeconfigPath, NO_COLOR: '1' };
  const hi = await run(podshell, ['exec', 'demo', '--', 'echo', 'hi from the package'], { env });
  assert.equal(hi.stderr, '');
  assert.equal(hi.stdout.toString(), 'hi from the package\n');
  assert.equal(hi.code, 0);
  const failing = await run(podshell, ['exec', 'demo', '--', 'sh', '-c', 'exit 7'], { env });
  assert.equal(failing.code, 7, failing.stderr);
});

test("the installed library: import { Cluster } from 'podshell'", async () => {
  const file = join(project, 'use.mjs');
  writeFileSync(
    file,
    [
      "import { Cluster } from 'podshell';",
      'const cluster = Cluster.fromKubeconfig();',
      "const { stdout, exitCode } = await cluster.run({ target: 'demo', command: ['sh', '-c', 'echo from the library; exit 3'] });",
      'console.log(JSON.stringify({ stdout, exitCode }));',
    ].join('\n'),
  );
  const r = await run(process.execPath, [file], { env: { ...process.env, KUBECONFIG: sandbox.kubeconfigPath } });
  assert.equal(r.stderr, '');
  assert.deepEqual(JSON.parse(r.stdout.toString()), { stdout: 'from the library\n', exitCode: 3 });
});

test("a file inside the built checkout imports 'podshell' through the package's own exports", async () => {
  const file = join(checkout, 'use.mjs');
  writeFileSync(file, "import { Cluster } from 'podshell';\nconsole.log(typeof Cluster.fromKubeconfig, import.meta.resolve('podshell'));\n");
  const r = await run(process.execPath, [file]);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout.toString(), `function file://${join(realpathSync(checkout), 'dist', 'lib', 'index.js')}\n`);
});

test('the installed CLI on a Node.js older than 22.19 says which Node.js it needs', async (t) => {
  // The machine's own node, not the project's: PATH without any node_modules/.bin folder.
  const systemPath = (process.env['PATH'] ?? '').split(delimiter).filter((p) => !p.includes('node_modules')).join(delimiter);
  let system: string;
  try {
    system = execFileSync('sh', ['-c', 'command -v node'], { env: { ...process.env, PATH: systemPath }, encoding: 'utf8' }).trim();
  } catch {
    t.skip('no system node on PATH besides the project one');
    return;
  }
  const version = execFileSync(system, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
  const [major, minor] = version.slice(1).split('.').map(Number) as [number, number];
  if (major > 22 || (major === 22 && minor >= 19)) {
    t.skip(`the system node (${system}) is ${version}, new enough: nothing to refuse`);
    return;
  }
  const r = await run(join(project, 'node_modules', '.bin', 'podshell'), ['exec', 'demo', '--', 'true'], { env: { ...process.env, PATH: systemPath, KUBECONFIG: sandbox.kubeconfigPath } });
  assert.equal(r.stderr, `podshell: needs Node.js >= 22.19 (this is Node.js ${version})\n`);
  assert.equal(r.stdout.toString(), '');
  assert.equal(r.code, 1);
});

test("the checkout's bin/podshell runs a bundle of the current sources, made again when one of them changes", async () => {
  const podshell = join(checkout, 'bin', 'podshell');
  const env = { ...process.env, KUBECONFIG: sandbox.kubeconfigPath, NO_COLOR: '1' };
  const first = await run(podshell, ['exec', 'demo', '--', 'echo', 'from the checkout'], { env });
  assert.equal(first.stderr, '');
  assert.equal(first.stdout.toString(), 'from the checkout\n');
  assert.equal(first.code, 0);
  // It ran the bundle (scripts/bundle-cli-checkout.js), not the sources, which it falls back to.
  const pointer = join(checkout, 'dist', 'checkout', 'current.json');
  const stamp = JSON.parse(readFileSync(pointer, 'utf8')) as { dir: string; inputs: [string, number, number][] };
  assert.ok(stamp.inputs.some(([path]) => path === join(realpathSync(checkout), 'src', 'cli', 'program.ts')));
  const name = join(checkout, 'src', 'cli', 'name.ts');
  writeFileSync(name, readFileSync(name, 'utf8').replace("|| 'podshell'", "|| 'podshell-changed'"));
  const second = await run(podshell, ['exec', '--help'], { env });
  assert.equal(second.stderr, '');
  assert.match(second.stdout.toString(), /^Usage: podshell-changed exec /);
  assert.notEqual((JSON.parse(readFileSync(pointer, 'utf8')) as { dir: string }).dir, stamp.dir);
});
