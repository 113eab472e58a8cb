// The CLI as a bundle: esbuild turns src/cli/main.ts and everything it imports into a few ES
// module files, so that a one-shot command loads three files instead of ~130 (resolving, reading
// and linking each module was most of `podshell exec` 's start-up). Code that only some commands
// need (the sandbox, the web gateway) is reached through `await import()` and stays in chunks of
// its own, loaded by those commands alone.
//
// What is bundled: podshell's own code and the packages on the path of exec, attach and cp
// (commander, ws, js-yaml, tar-stream, client-node's config_types), with their dependencies.
// Every other package (fastify, node-pty, client-node itself, …) stays an import of
// node_modules, as native addons (ws's optional bufferutil) must.
//
// Files the code reads next to itself (`new URL('./world.yaml', import.meta.url)`) are found from
// the bundle's folder: each such URL is rewritten to point from there to the file, in dist/ (as
// scripts/build.ts lays it out) for the published bundle, or in src/ for a checkout's.
//
// Used by scripts/build.ts (dist/bundle, which bin/podshell.js runs) and by the checkout's
// launcher, scripts/bundle-cli-checkout.js (a bundle rebuilt whenever a source changes).

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** Packages bundled when podshell's own code imports them (their dependencies come along). */
const bundled = new Set(['commander', 'ws', 'js-yaml', 'tar-stream']);
/** client-node is large and loaded on demand; only this one small file of it is bundled. */
const bundledFiles = new Set(['@kubernetes/client-node/dist/config_types.js']);
/** Optional native addons that bundled packages try to load: always from node_modules. */
const native = new Set(['bufferutil', 'utf-8-validate']);

/** `@scope/name` or `name` of a bare import specifier. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Whether the import of `specifier` from `importer` stays an import of node_modules at run time. */
export function isExternal(specifier: string, importer: string): boolean {
  const name = packageName(specifier);
  if (native.has(name)) return true;
  // A dependency of a bundled package: bundled with it.
  if (importer.split(sep).includes('node_modules')) return false;
  return !bundled.has(name) && !bundledFiles.has(specifier);
}

/**
 * Rewrites `new URL('<relative>', import.meta.url)` in `source` (the file `file`) to the same
 * target as seen from `outdir`, where the bundle runs; `assets` says whether the targets under
 * src/ are read from src/ (a checkout) or from their copies under dist/ (the published build).
 */
export function rewriteAssetUrls(source: string, file: string, outdir: string, assets: 'src' | 'dist'): string {
  return source.replace(/new URL\((['"])(\.\.?\/[^'"]*)\1, import\.meta\.url\)/g, (_, quote: string, path: string) => {
    let target = resolve(dirname(file), path);
    const inSrc = relative(join(root, 'src'), target);
    if (assets === 'dist' && !inSrc.startsWith('..') && !isAbsolute(inSrc)) target = join(root, 'dist', inSrc);
    let rel = relative(outdir, target).split(sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    if (path.endsWith('/')) rel += '/';
    return `new URL(${quote}${rel}${quote}, import.meta.url)`;
  });
}

function plugin(outdir: string, assets: 'src' | 'dist'): Plugin {
  return {
    name: 'podshell-cli',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:') || isAbsolute(args.path)) return undefined;
        return isExternal(args.path, args.importer) ? { path: args.path, external: true } : undefined;
      });
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        if (args.path.split(sep).includes('node_modules')) return undefined;
        const source = readFileSync(args.path, 'utf8');
        return { contents: source.includes('import.meta.url') ? rewriteAssetUrls(source, args.path, outdir, assets) : source, loader: 'ts' };
      });
    },
  };
}

export interface BundleResult {
  /** The files the bundle was made from (absolute paths): sources and bundled packages. */
  inputs: string[];
  /** The files written, relative to outdir. */
  files: string[];
}

/** Bundles the CLI into `outdir`: `podshell.js`, the entry, and its chunks. */
export async function bundleCli(outdir: string, assets: 'src' | 'dist', opts: { logLevel?: 'silent' | 'warning' } = {}): Promise<BundleResult> {
  const result = await build({
    entryPoints: { podshell: join(root, 'src', 'cli', 'main.ts') },
    outdir,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22.19',
    // Bundled CommonJS packages call require() (for Node's built-ins and the optional addons).
    banner: { js: "import { createRequire as __podshellRequire } from 'node:module';\nconst require = __podshellRequire(import.meta.url);" },
    plugins: [plugin(outdir, assets)],
    metafile: true,
    logLevel: opts.logLevel ?? 'warning',
    absWorkingDir: root,
  });
  return {
    inputs: Object.keys(result.metafile.inputs).map((input) => resolve(root, input)),
    files: Object.keys(result.metafile.outputs).map((output) => relative(outdir, resolve(root, output)).split(sep).join('/')).sort(),
  };
}
