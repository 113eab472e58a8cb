// The browser UI's build: esbuild bundles src/web/main.ts (xterm.js and its addons included) into
// dist/web/assets/app.js, src/web/style.css (which imports xterm's CSS) into dist/web/assets/app.css,
// and copies src/web/index.html, which loads only those two files: no inline script or style, so the
// gateway can serve it under a Content-Security-Policy without 'unsafe-inline'.
//
//   node scripts/build-web.ts      (scripts/build.ts calls buildWeb() after tsc)

import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** Bundles the browser UI into `out` (default dist/web); returns the files written, relative to it. */
export async function buildWeb(out = join(root, 'dist', 'web')): Promise<string[]> {
  const web = join(root, 'src', 'web');
  rmSync(join(out, 'assets'), { recursive: true, force: true });
  mkdirSync(join(out, 'assets'), { recursive: true });
  await build({
    entryPoints: { app: join(web, 'main.ts'), 'app-style': join(web, 'style.css') },
    outdir: join(out, 'assets'),
    entryNames: '[name]',
    bundle: true,
    format: 'esm',
    target: ['chrome120', 'firefox121', 'safari17'],
    minify: true,
    sourcemap: false,
    legalComments: 'linked',
    logLevel: 'warning',
    absWorkingDir: root,
  });
  copyFileSync(join(web, 'index.html'), join(out, 'index.html'));
  return ['index.html', 'assets/app.js', 'assets/app-style.css'];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await buildWeb();
  } catch (err) {
    console.error(`build-web: ${(err as Error).message}`);
    process.exit(1);
  }
}
