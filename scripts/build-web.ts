// The browser UI's build: esbuild bundles src/web/main.ts (xterm.js and its addons included) into
// dist/web/assets/app.js, src/web/style.css (which imports xterm's CSS) into dist/web/assets/app.css,
// and copies src/web/index.html, which loads only those two files: no inline script or style, so the
// gateway can serve it under a Content-Security-Policy without 'unsafe-inline'.
//
//   node scripts/build-web.ts      (scripts/build.ts calls buildWeb() after tsc)

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** Bundles the browser UI into `out` (default dist/web); returns the files written, relative to it. */
export async function buildWeb(out = join(root, 'dist', 'web')): Promise<string[]> {
  const web = join(root, 'src', 'web');
  const result = await build({
    entryPoints: {
      app: join(web, 'main.ts'),
      'app-style': join(web, 'style.css'),
      // The recordings' replay page (asciinema-player and its CSS).
      replay: join(web, 'replay.ts'),
      'replay-style': join(web, 'replay.css'),
    },
    outdir: join(out, 'assets'),
    entryNames: '[name]',
    bundle: true,
    format: 'esm',
    target: ['chrome120', 'firefox121', 'safari17'],
    minify: true,
    sourcemap: false,
    legalComments: 'eof', // the licences of the bundled packages stay in the bundle
    logLevel: 'warning',
    absWorkingDir: root,
    write: false,
  });
  const files = new Map<string, Uint8Array>(result.outputFiles.map((f) => [relative(out, f.path), f.contents]));
  files.set('index.html', readFileSync(join(web, 'index.html')));
  files.set('replay.html', readFileSync(join(web, 'replay.html')));
  // Each file is written under a temporary name and renamed into place, so a gateway serving
  // dist/web meanwhile (another test) never reads a half-written file.
  mkdirSync(join(out, 'assets'), { recursive: true });
  for (const [name, contents] of files) {
    const tmp = join(out, `${name}.${process.pid}.tmp`);
    writeFileSync(tmp, contents);
    renameSync(tmp, join(out, name));
  }
  // dist/web is this build's alone (scripts/build.ts copied src/web's HTML and CSS there first).
  for (const e of readdirSync(out, { withFileTypes: true, recursive: true })) {
    const name = relative(out, join(e.parentPath, e.name));
    if (e.isFile() && !files.has(name) && !name.endsWith('.tmp')) rmSync(join(out, name));
  }
  return [...files.keys()].sort();
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  return t;
}

/** Builds dist/web unless every file of it is newer than every file of src/web (tests call this). */
export async function ensureWebBuilt(): Promise<void> {
  const out = join(root, 'dist', 'web');
  const oldest = Math.min(...webFiles.map((f) => (existsSync(join(out, f)) ? statSync(join(out, f)).mtimeMs : 0)));
  if (oldest >= newest(join(root, 'src', 'web'))) return;
  await buildWeb();
}

/** What buildWeb writes, relative to its output folder. */
export const webFiles = ['assets/app-style.css', 'assets/app.js', 'assets/replay-style.css', 'assets/replay.js', 'index.html', 'replay.html'] as const;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await buildWeb();
  } catch (err) {
    console.error(`build-web: ${(err as Error).message}`);
    process.exit(1);
  }
}
