// The build: `tsc -b` compiles every layer of src/ into dist/, then the files the compiled code
// reads at run time (every file under src/<layer>/ that is not TypeScript, not a tsconfig.json
// and not a test file) are copied to the same place under dist/, so that
// `new URL('./world.yaml', import.meta.url)` finds its file from src/ and dist/ alike. Then esbuild
// bundles the browser UI (src/web) into dist/web (scripts/build-web.ts) and the CLI into
// dist/bundle (scripts/bundle-cli.ts), which is what the package's bin/podshell runs.
//
//   node scripts/build.ts           build (incremental: a no-op when dist/ is current)
//   node scripts/build.ts --clean   remove dist/ first (npm pack and npm publish: no stale files)

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb } from './build-web.ts';
import { bundleCli } from './bundle-cli.ts';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'src');
const dist = join(root, 'dist');

/** Whether a file under src/ is read at run time from next to the compiled code. */
export function isRuntimeAsset(name: string): boolean {
  return !name.endsWith('.ts') && name !== 'tsconfig.json' && !/\.test\./.test(name);
}

/** Copies the run-time files of src/*\/ to dist/, keeping their paths; returns them, relative to src/. */
export function copyAssets(from = src, to = dist): string[] {
  const copied: string[] = [];
  for (const layer of readdirSync(from, { withFileTypes: true })) {
    if (!layer.isDirectory()) continue;
    for (const entry of readdirSync(join(from, layer.name), { withFileTypes: true, recursive: true })) {
      if (!entry.isFile() || !isRuntimeAsset(entry.name)) continue;
      const file = join(entry.parentPath, entry.name);
      const path = relative(from, file);
      mkdirSync(dirname(join(to, path)), { recursive: true });
      copyFileSync(file, join(to, path));
      copied.push(path);
    }
  }
  return copied.sort();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--clean')) rmSync(dist, { recursive: true, force: true });
  const tsc = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-b'], { cwd: root, stdio: 'inherit' });
  if (tsc.error) {
    console.error(`build: cannot run tsc (${tsc.error.message}); run npm install first`);
    process.exit(1);
  }
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  copyAssets();
  await buildWeb();
  // Chunk names change with their contents: no stale chunk stays behind.
  rmSync(join(dist, 'bundle'), { recursive: true, force: true });
  await bundleCli(join(dist, 'bundle'), 'dist');
}
