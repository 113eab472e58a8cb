// The CLI as a bundle: esbuild turns src/cli/program.ts and everything it imports into one
// script, so that a one-shot command loads one file instead of ~130 modules (resolving, reading,
// compiling and linking each module was most of `podshell exec` 's start-up).
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
// launcher, scripts/bundle-cli-checkout.js (a bundle made again whenever a source changes).

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

/**
 * A CommonJS module standing for the built-in `name`, which loads it on first use: properties are
 * read from the real module then. (Only for `require()`: an ES module import of it would read all
 * of its properties at once.)
 */
export function lazyBuiltin(name: string): string {
  return `let real;
const load = () => (real ??= process.getBuiltinModule(${JSON.stringify(`node:${name}`)}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d && { ...d, configurable: true };
  },
});
`;
}

function plugin(outdir: string, assets: 'src' | 'dist'): Plugin {
  return {
    name: 'podshell-cli',
    setup(b) {
      // Built-ins that bundled packages require when they load but use only later, if at all
      // (ws: zlib for compression, which podshell turns off; commander: child_process for
      // subcommands run as programs, which podshell has none of): loaded on first use instead.
      b.onResolve({ filter: /^(node:)?(zlib|child_process)$/ }, (args) =>
        args.kind === 'require-call' && args.importer.split(sep).includes('node_modules') ? { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({ contents: lazyBuiltin(args.path), loader: 'js' }));
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
}

/** The bundle's entry, a module of its own (no file: what src/cli/main.ts does, without the compile cache). */
const entryName = 'podshell-bundle-entry.ts';

/** The bundle's file in its folder: one CommonJS script, which bin/podshell-bundle.js runs. */
export const bundleFile = 'podshell.cjs';

/**
 * Bundles the CLI into `outdir`/podshell.cjs.
 *
 * One CommonJS script rather than ES modules, because a script can be compiled with V8's code
 * cache made after a run, holding every function that run compiled (bin/podshell-bundle.js); Node's
 * compile cache holds only the code compiled before a module runs, so every start compiled most
 * functions again. The sandbox and the gateway, reached by `import()`, are in the same file but
 * only run (and load fastify, node-pty, …) when a command imports them.
 */
export async function bundleCli(outdir: string, assets: 'src' | 'dist', opts: { logLevel?: 'silent' | 'warning' } = {}): Promise<BundleResult> {
  const result = await build({
    stdin: { contents: "import { run } from './src/cli/program.ts';\nvoid run(process.argv.slice(2));\n", resolveDir: root, sourcefile: entryName, loader: 'ts' },
    outfile: join(outdir, bundleFile),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node22.19',
    // `import()` of a package (client-node, when a kubeconfig needs it) as require(): a script run
    // by node:vm has no ES module loader of its own (the main one is experimental there).
    supported: { 'dynamic-import': false },
    // Less to read and compile at every start; names are kept, for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    // The script's own URL, for `new URL('…', import.meta.url)` (rewritten above to point from here).
    define: { 'import.meta.url': '__podshellUrl' },
    banner: { js: "var __podshellUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [plugin(outdir, assets)],
    metafile: true,
    logLevel: opts.logLevel ?? 'warning',
    absWorkingDir: root,
  });
  return {
    // Files only: not the entry, nor the modules of the plugin's own namespaces (`lazy-builtin:zlib`).
    inputs: Object.keys(result.metafile.inputs)
      .filter((input) => input !== entryName && !/^[a-z-]+:/.test(input))
      .map((input) => resolve(root, input)),
  };
}
