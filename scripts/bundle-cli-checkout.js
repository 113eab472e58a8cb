// What bin/podshell runs in a checkout: the CLI from the current sources, bundled. A bundle of
// src/ (scripts/bundle-cli.ts) starts much faster than the ~130 modules of src/*.ts, each stripped
// of its types and linked on its own. It is never stale: dist/checkout/current.json lists every
// file the bundle was made from with its modification time and size; when any differs (or a file
// is gone) the bundle is made again (~0.2 s) before the command runs.
//
// bin/podshell runs `node --import <this file> src/cli/main.ts …`: this file is loaded first and
// has the entry, src/cli/main.ts, run the bundle instead (a module load hook gives it the source
// `runBundle(…)`, bin/podshell-bundle.js, as the published package runs its own bundle). When the
// bundle cannot be made (a syntax error, esbuild missing), the hook is not set: the sources run
// as they are, and Node.js reports what is wrong. Either way the process's command line names
// src/cli/main.ts, as it always did.
//
// Plain JavaScript, so that checking the bundle costs no TypeScript stripping.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { enableCompileCache, registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

// For this file's own imports when it makes a bundle (scripts/bundle-cli.ts, esbuild).
enableCompileCache();

const root = new URL('../', import.meta.url);
const folder = new URL('dist/checkout/', root);
const pointer = new URL('current.json', folder);

/** The entry of the current bundle, or null when there is none or a source changed since. */
function currentBundle() {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(pointer, 'utf8'));
  } catch {
    return null;
  }
  for (const [path, mtimeMs, size] of stamp.inputs) {
    try {
      const s = statSync(path);
      if (s.mtimeMs !== mtimeMs || s.size !== size) return null;
    } catch {
      return null;
    }
  }
  return new URL(`${stamp.dir}/podshell.cjs`, folder);
}

/**
 * Makes a new bundle in a folder of its own, then points current.json at it (a rename: another
 * podshell starting meanwhile reads the old pointer or the new one, never half of one). Folders of
 * older bundles go after an hour, when no podshell started from them can still be loading chunks.
 */
async function rebuild() {
  const { bundleCli } = await import('./bundle-cli.ts');
  const dir = `${Date.now().toString(36)}-${process.pid}`;
  const out = new URL(`${dir}/`, folder);
  mkdirSync(out, { recursive: true });
  const started = Date.now();
  let inputs;
  try {
    ({ inputs } = await bundleCli(fileURLToPath(out), 'src', { logLevel: 'silent' }));
  } catch (err) {
    rmSync(out, { recursive: true, force: true });
    throw err;
  }
  const stamp = {
    dir,
    inputs: [...inputs, fileURLToPath(new URL('scripts/bundle-cli.ts', root))].map((path) => {
      const s = statSync(path);
      // Changed while esbuild was reading it: which version is in the bundle is unknown, so the
      // next run makes it again.
      return [path, s.mtimeMs >= started ? -1 : s.mtimeMs, s.size];
    }),
  };
  const tmp = new URL(`current.json.${process.pid}.tmp`, folder);
  writeFileSync(tmp, JSON.stringify(stamp));
  renameSync(tmp, pointer);
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === dir) continue;
    const old = new URL(`${entry.name}/`, folder);
    try {
      if (Date.now() - statSync(old).mtimeMs > 3600_000) rmSync(old, { recursive: true, force: true });
    } catch {
      // Another podshell removed it first.
    }
  }
  return new URL('podshell.cjs', out);
}

let entry = currentBundle();
if (!entry) {
  try {
    entry = await rebuild();
  } catch (err) {
    // esbuild's own failures (a syntax error) Node.js reports better, running the sources; any
    // other is said, as the sources then run much slower than the bundle.
    if (!Array.isArray(err?.errors)) process.stderr.write(`podshell: warning: cannot bundle the sources, running them as they are: ${err?.message ?? err}\n`);
    entry = null;
  }
}
if (entry) {
  const sources = new URL('src/cli/main.ts', root).href;
  const source = `import { runBundle } from ${JSON.stringify(new URL('bin/podshell-bundle.js', root).href)};\nrunBundle(new URL(${JSON.stringify(entry.href)}));\n`;
  const hooks = registerHooks({
    load(url, context, next) {
      if (url !== sources) return next(url, context);
      hooks.deregister();
      return { format: 'module', source, shortCircuit: true };
    },
  });
}
