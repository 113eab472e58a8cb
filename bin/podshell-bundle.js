// Runs the CLI's bundle (scripts/bundle-cli.ts: one CommonJS script) with a V8 code cache made
// after a run. Node's compile cache keeps only the code compiled before a module runs, so each
// start compiled most of podshell's functions again; this cache, written when a run ends, holds
// every function that run compiled, and the next start reads them all back.
//
// The cache lives in Node's compile cache folder (module.getCompileCacheDir(): per Node.js
// version and V8 flags), named after the bundle's path, size and time and the command run, and
// V8 checks it again before use: a cache it rejects is made anew. Only a file of this user's,
// writable by no one else, is used. Without a compile cache folder
// (NODE_DISABLE_COMPILE_CACHE) the bundle runs without one.

// Node's built-ins as process.getBuiltinModule() gives them: an ES module import of one makes a
// facade that reads every export, and some load more (fs.promises, crypto.webcrypto).
const { closeSync, fstatSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = process.getBuiltinModule('node:fs');
const { createRequire, enableCompileCache, getCompileCacheDir } = process.getBuiltinModule('node:module');
const { dirname, join } = process.getBuiltinModule('node:path');
const { fileURLToPath } = process.getBuiltinModule('node:url');
const vm = process.getBuiltinModule('node:vm');

const commands = new Set(['exec', 'attach', 'cp', 'sandbox', 'web']);

/** FNV-1a, 32 bits, as hex: a short name for a path (a cryptographic hash would load node:crypto). */
function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/**
 * The file's contents if this user owns it and no one else may write it: V8 runs a code cache's
 * bytecode as it finds it, so one planted by someone else in a shared folder must not be used.
 */
function readOwnFile(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
    const s = fstatSync(fd);
    if ((process.getuid && s.uid !== process.getuid()) || (s.mode & 0o022) !== 0) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined; // none yet
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Caches of other bundles (older versions, a checkout's earlier bundles) go when an hour old: a
 * bundle still in use makes its cache again, once.
 */
function removeOldCaches(folder, keep) {
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (!name.startsWith('podshell-') || path === keep) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > 3600_000) rmSync(path, { force: true });
    } catch {
      // Gone already.
    }
  }
}

/** Runs the bundle at `file` (a path or file: URL) as the CLI, with this process's argv. */
export function runBundle(file) {
  const path = file instanceof URL ? fileURLToPath(file) : file;
  enableCompileCache();
  const folder = getCompileCacheDir();
  const source = readFileSync(path, 'utf8');
  let cacheFile;
  let cachedData;
  if (folder) {
    const s = statSync(path);
    // One cache per command: the first run of each decides what its cache holds (`--version`
    // first must not leave exec without its functions).
    const command = process.argv.slice(2).find((arg) => commands.has(arg)) ?? 'other';
    cacheFile = join(folder, `podshell-${fnv1a(path)}-${s.size}-${Math.trunc(s.mtimeMs * 1000)}-${command}`);
    cachedData = readOwnFile(cacheFile);
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: path,
    ...(cachedData ? { cachedData } : {}),
  });
  if (cacheFile && (!cachedData || script.cachedDataRejected)) {
    process.once('exit', () => {
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData(), { mode: 0o600, flag: 'wx' }); // never through a planted link
        renameSync(tmp, cacheFile);
        removeOldCaches(folder, cacheFile);
      } catch {
        // A cache is an optimisation: without it the next start compiles again.
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(path), module, path, dirname(path));
}
