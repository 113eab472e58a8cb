// Root filesystems for sandbox containers: which image flavour a container gets, the directory
// skeleton and mount table that assemble its root from the host's own files, the tar-free tool
// set of "slim" images, and executable lookup inside a container's root as seen from the host.

import { constants as fsConstants, lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { copyFile, chmod, link, lstat, mkdir, readlink, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { SandboxError } from './errors.ts';

export type Flavor = 'full' | 'slim' | 'distroless';

/** PATH inside containers, as container runtimes default it. */
export const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The image flavour, from the image name: its last path segment (without tag and digest)
 * containing "distroless" → distroless; containing "slim" → slim; anything else → full.
 */
export function flavorOf(image: string | undefined): Flavor {
  if (!image) return 'full';
  const noDigest = image.split('@')[0]!;
  const segment = noDigest.slice(noDigest.lastIndexOf('/') + 1);
  const name = segment.split(':')[0]!.toLowerCase();
  if (name.includes('distroless')) return 'distroless';
  if (name.includes('slim')) return 'slim';
  return 'full';
}

/**
 * What a slim image keeps in /usr/bin: shells, coreutils and the usual text tools, but nothing
 * that reads or writes archives (no tar, gzip, xz, cpio, busybox, python, perl…).
 */
export const SLIM_TOOLS: readonly string[] = [
  'sh', 'dash', 'bash', 'env', 'cat', 'ls', 'cp', 'mv', 'rm', 'mkdir', 'rmdir', 'stat', 'head', 'tail', 'wc',
  'sha1sum', 'sha256sum', 'sha512sum', 'md5sum', 'cksum', 'test', '[', 'echo', 'printf', 'dd', 'sleep', 'true',
  'false', 'id', 'whoami', 'hostname', 'stty', 'tty', 'base64', 'sort', 'uniq', 'tr', 'cut', 'chmod', 'chown',
  'chgrp', 'touch', 'ln', 'readlink', 'realpath', 'dirname', 'basename', 'du', 'df', 'date', 'uname', 'kill',
  'ps', 'find', 'xargs', 'grep', 'egrep', 'fgrep', 'sed', 'awk', 'mawk', 'gawk', 'tee', 'nproc', 'seq', 'yes',
  'od', 'nl', 'paste', 'expr', 'pwd', 'mktemp', 'sync', 'timeout', 'nice', 'nohup', 'printenv', 'which',
  'cmp', 'diff', 'more', 'clear', 'tput', 'mkfifo', 'truncate', 'split', 'fold', 'rev', 'comm', 'join', 'tac',
];

/** Binaries that must never end up in a slim image, whatever name they hide behind. */
const ARCHIVERS = new Set(['tar', 'bsdtar', 'gtar', 'busybox', 'toybox', 'cpio', 'pax', 'gzip', 'xz', 'zip', 'unzip', 'python3', 'perl']);

const HOST_BIN_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

/**
 * Fills `dir` with the slim tool set taken from the host: hard links when `dir` is on the same
 * filesystem as the host binaries, copies otherwise. Symbolic links are resolved, so the
 * result holds only regular files. Returns how many tools were found.
 */
export async function prepareSlimBin(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const placed = await Promise.all(
    SLIM_TOOLS.map(async (name) => {
      for (const d of HOST_BIN_DIRS) {
        let real: string;
        try {
          real = await realpath(posix.join(d, name));
          if (!(await stat(real)).isFile()) continue;
        } catch {
          continue;
        }
        if (ARCHIVERS.has(posix.basename(real))) return false;
        const dest = posix.join(dir, name);
        try {
          await link(real, dest);
        } catch {
          await copyFile(real, dest, fsConstants.COPYFILE_FICLONE);
          await chmod(dest, 0o755);
        }
        return true;
      }
      return false;
    }),
  );
  return placed.filter(Boolean).length;
}

/**
 * Where a container root holds the host's setsid and setpriv, which every process of the
 * container passes through on its way in (a new session; no capabilities, no_new_privs), and the
 * host's sh, which runs the container's pid 1 (it sleeps and reaps orphans).
 */
export const HELPER_DIR = '/dev/.podshell';
export const SETSID_IN_ROOT = `${HELPER_DIR}/setsid`;
export const SETPRIV_IN_ROOT = `${HELPER_DIR}/setpriv`;
export const SH_IN_ROOT = `${HELPER_DIR}/sh`;

export interface RootPlan {
  /** The container's root directory (on the host: an empty skeleton until the mounts are made). */
  readonly root: string;
  /** fstab(5) text for `mount -a -T`, to run inside the container's mount namespace. */
  readonly fstab: string;
  /** The in-container path of a binary that sleeps forever when given "infinity". */
  readonly pause: string;
}

export interface RootOptions {
  readonly root: string;
  readonly flavor: Flavor;
  /** Directory made by prepareSlimBin (slim only). */
  readonly slimBin?: string;
  /** An empty directory, to hide host directories with. */
  readonly emptyDir: string;
  /** The container's working directory (absolute, inside the container). */
  readonly workingDir: string;
  /** The host's `sleep`, bound to /pause in distroless roots. */
  readonly sleepBinary: string;
  /** The host's setsid and setpriv binaries, bound under HELPER_DIR. */
  readonly setsidBinary: string;
  readonly setprivBinary: string;
  /** The host's sh (resolved), bound under HELPER_DIR too. */
  readonly shBinary: string;
  /** A host file holding the container's hostname, bound over /etc/hostname. */
  readonly hostnameFile: string;
}

const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx'];
const LIB_DIRS = ['lib', 'lib32', 'lib64', 'libx32'];
/** Top-level names in every root that are mounts or links: never create directories through them. */
const MANAGED_TOP = new Set(['usr', 'etc', 'opt', 'dev', 'proc', 'sys', 'bin', 'sbin', 'pause', ...LIB_DIRS]);

/** Escapes a path for an fstab field (octal escapes, as libmount reads them). */
export function fstabEscape(p: string): string {
  return p.replace(/[^A-Za-z0-9/._+@:,=-]/g, (c) =>
    [...Buffer.from(c)].map((b) => '\\' + b.toString(8).padStart(3, '0')).join(''),
  );
}

async function kindOf(p: string): Promise<'dir' | 'link' | 'file' | null> {
  try {
    const st = await lstat(p);
    return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

/**
 * Creates the skeleton of a container root under `opts.root` and returns the mount table that
 * completes it. The private writable directories (/tmp, /root, /data, /var/tmp) are plain
 * directories of the skeleton; everything taken from the host is mounted (read-only, except
 * the device nodes and /dev/pts).
 */
export async function planRoot(opts: RootOptions): Promise<RootPlan> {
  const { root, flavor } = opts;
  const lines: string[] = [];
  const bind = (src: string, rel: string, ro: boolean): void => {
    lines.push(`${fstabEscape(src)} ${fstabEscape(posix.join(root, rel))} none ${ro ? 'bind,ro' : 'bind'} 0 0`);
  };
  const dir = (rel: string, mode = 0o755): Promise<string | undefined> => mkdir(posix.join(root, rel), { recursive: true, mode });

  await mkdir(root, { recursive: true, mode: 0o755 });
  await Promise.all([dir('etc'), dir('dev'), dir('proc'), dir('sys'), dir('root', 0o700), dir('data'), dir('var')]);
  await Promise.all([dir('tmp'), dir('var/tmp')]);
  await Promise.all([chmod(posix.join(root, 'tmp'), 0o1777), chmod(posix.join(root, 'var/tmp'), 0o1777)]);

  // /usr and the top-level bin/sbin/lib* entries, mirroring the host's layout.
  if (flavor === 'distroless') {
    await dir('usr');
    for (const lib of LIB_DIRS) {
      if ((await kindOf(`/usr/${lib}`)) === 'dir') {
        await dir(`usr/${lib}`);
        bind(`/usr/${lib}`, `usr/${lib}`, true);
      }
    }
  } else {
    await dir('usr');
    bind('/usr', 'usr', true);
    if (flavor === 'slim') {
      if (!opts.slimBin) throw new SandboxError('ERR_SANDBOX_CONTAINER_START', 'slim root without a slim tool directory');
      bind(opts.slimBin, 'usr/bin', true);
      for (const hide of ['sbin', 'local', 'libexec', 'games']) {
        if ((await kindOf(`/usr/${hide}`)) === 'dir') bind(opts.emptyDir, `usr/${hide}`, true);
      }
    }
  }
  for (const top of ['bin', 'sbin', ...LIB_DIRS]) {
    const kind = await kindOf(`/${top}`);
    const isLib = top.startsWith('lib');
    if (kind === 'link') {
      const target = await readlink(`/${top}`);
      if (flavor === 'distroless' && !isLib) continue;
      await symlink(target, posix.join(root, top));
    } else if (kind === 'dir') {
      if (isLib || flavor === 'full') {
        await dir(top);
        bind(`/${top}`, top, true);
      } else if (flavor === 'slim') {
        await symlink(`usr/${top}`, posix.join(root, top));
      }
    }
  }

  bind('/etc', 'etc', true);
  if ((await kindOf('/etc/hostname')) === 'file') bind(opts.hostnameFile, 'etc/hostname', true);
  if (flavor === 'full' && (await kindOf('/opt')) === 'dir') {
    await dir('opt');
    bind('/opt', 'opt', true);
  }

  let pause = 'sleep';
  if (flavor === 'distroless') {
    await writeFile(posix.join(root, 'pause'), '', { mode: 0o755 });
    bind(opts.sleepBinary, 'pause', true);
    pause = '/pause';
  }

  // A minimal /dev: the usual character devices bound from the host, the host's devpts (ptys
  // opened outside are visible inside, so `tty` works) and a private /dev/shm.
  await Promise.all([
    ...DEV_NODES.map((n) => writeFile(posix.join(root, 'dev', n), '', { mode: 0o666 })),
    dir('dev/pts'),
    dir('dev/shm', 0o1777),
    symlink('/proc/self/fd', posix.join(root, 'dev/fd')),
    symlink('/proc/self/fd/0', posix.join(root, 'dev/stdin')),
    symlink('/proc/self/fd/1', posix.join(root, 'dev/stdout')),
    symlink('/proc/self/fd/2', posix.join(root, 'dev/stderr')),
  ]);
  for (const n of DEV_NODES) bind(`/dev/${n}`, `dev/${n}`, false);
  await dir(HELPER_DIR.slice(1));
  await Promise.all([SETSID_IN_ROOT, SETPRIV_IN_ROOT, SH_IN_ROOT].map((f) => writeFile(posix.join(root, f), '', { mode: 0o755 })));
  bind(opts.setsidBinary, SETSID_IN_ROOT.slice(1), true);
  bind(opts.setprivBinary, SETPRIV_IN_ROOT.slice(1), true);
  bind(opts.shBinary, SH_IN_ROOT.slice(1), true);
  bind('/dev/pts', 'dev/pts', false);
  lines.push(`shm ${fstabEscape(posix.join(root, 'dev/shm'))} tmpfs nosuid,nodev,mode=1777 0 0`);
  lines.push(`proc ${fstabEscape(posix.join(root, 'proc'))} proc nosuid,nodev,noexec 0 0`);
  // Read-only, as container runtimes make them: uid 0 without capabilities could still write
  // some of these (sysrq-trigger needs no capability, only root's file permission).
  for (const rel of ['sys', 'sysrq-trigger', 'bus', 'fs', 'irq']) {
    if ((await kindOf(`/proc/${rel}`)) !== null) bind(posix.join(root, 'proc', rel), `proc/${rel}`, true);
  }
  bind('/sys', 'sys', true);

  // The working directory, when it lies in the container's own part of the tree.
  const wd = posix.resolve('/', opts.workingDir);
  const top = wd.split('/')[1];
  if (top && !MANAGED_TOP.has(top)) await dir(wd.slice(1));

  return { root, fstab: lines.join('\n') + '\n', pause };
}

// ---------------------------------------------------------------------------------------------
// Executable lookup, as runc does it before exec, but from the host through /proc/<pid>/root.

export type LookupResult =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly reason: 'not-found' | 'no-such-file' | 'permission-denied'; readonly message: string };

/**
 * Resolves an absolute in-container path to a host path under `root`, following symbolic links
 * as the container would (absolute targets relative to `root`). Null when it does not exist.
 */
export function resolveInRoot(root: string, absPath: string): string | null {
  let pending = absPath.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '.') continue;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = root + '/' + [...done, c].join('/');
    let st: Stats;
    try {
      st = lstatSync(host);
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return null;
      let target: string;
      try {
        target = readlinkSync(host);
      } catch {
        return null;
      }
      if (target.startsWith('/')) done.length = 0;
      pending = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...pending];
    } else {
      if (pending.length > 0 && !st.isDirectory()) return null;
      done.push(c);
    }
  }
  return root + '/' + done.join('/');
}

function executable(hostPath: string): 'ok' | 'missing' | 'denied' {
  let st: Stats;
  try {
    st = statSync(hostPath);
  } catch {
    return 'missing';
  }
  return st.isFile() && (st.mode & 0o111) !== 0 ? 'ok' : 'denied';
}

/**
 * Finds argv[0] in a container whose root is `root` (a host path, e.g. /proc/<pid>/root, or "/"
 * for plain host processes). `cwd` is the in-container working directory for relative paths.
 * On success `path` is the in-container absolute path. Messages are the ones runc reports.
 */
export function lookupExecutable(root: string, file: string, pathEnv: string, cwd: string): LookupResult {
  const rootPrefix = root === '/' ? '' : root;
  if (file.includes('/')) {
    const abs = posix.resolve(cwd, file);
    const host = resolveInRoot(rootPrefix, abs);
    const state = host === null ? 'missing' : executable(host);
    if (state === 'ok') return { ok: true, path: abs };
    if (state === 'missing') {
      return { ok: false, reason: 'no-such-file', message: `exec: "${file}": stat ${file}: no such file or directory` };
    }
    return { ok: false, reason: 'permission-denied', message: `exec: "${file}": permission denied` };
  }
  if (file !== '') {
    for (const d of pathEnv.split(':')) {
      const abs = posix.resolve(cwd, d === '' ? '.' : d, file);
      const host = resolveInRoot(rootPrefix, abs);
      if (host !== null && executable(host) === 'ok') return { ok: true, path: abs };
    }
  }
  return { ok: false, reason: 'not-found', message: `exec: "${file}": executable file not found in $PATH` };
}
