// The commands podshell runs in containers to copy files. Paths always travel as argv elements
// (each one a `command=` query parameter), never inside a shell string: where a shell is needed
// (a pipe, a redirect, a test before a rename) the script is a constant and the paths are its
// positional parameters `"$1"`, `"$2"`. Pure functions.

/**
 * `tar cf - -- PATH`: the archive on stdout. `dereference` (`h`) archives what a symlink PATH
 * points to (used for a symlink to a file; a symlink to a directory is read as `PATH/.`).
 */
export function tarCreate(path: string, dereference = false): string[] {
  return ['tar', dereference ? 'chf' : 'cf', '-', '--', path];
}

/**
 * The archive from byte `offset` on (0-based; tail is 1-based), for resuming a broken download.
 * The exit status is tar's (a plain pipe would report tail's): tar's status travels on fd 3 out
 * of the pipe into `$(…)` while the data keeps the original stdout on fd 4.
 */
export function tarCreateFrom(path: string, offset: number, dereference = false): string[] {
  const script = `exec 4>&1; s=$( { { tar ${dereference ? 'chf' : 'cf'} - -- "$1"; echo $? >&3; } | tail -c "+$2" >&4; } 3>&1 ); exit "\${s:-1}"`;
  return ['sh', '-c', script, 'sh', path, String(offset + 1)];
}

/** statPath, following a final symlink. */
export function statTarget(path: string): string[] {
  return ['stat', '-L', '-c', '%F|%s|%a', '--', path];
}

/**
 * `tar xmf - -C DIR`: unpack stdin into DIR, with modification times left to "now" (`-m`, as kubectl).
 * `preserve: false` is kubectl's `--no-preserve`.
 */
export function tarExtract(dir: string, preserve: boolean): string[] {
  return preserve ? ['tar', '-xmf', '-', '-C', dir] : ['tar', '--no-same-permissions', '--no-same-owner', '-xmf', '-', '-C', dir];
}

/** `cat -- FILE` to stdout (the no-tar download). */
export function catRead(path: string): string[] {
  return ['cat', '--', path];
}

/** FILE from byte `offset` on (0-based), for resuming a no-tar download. */
export function catReadFrom(path: string, offset: number): string[] {
  return ['tail', '-c', `+${offset + 1}`, '--', path];
}

/**
 * stdin into a new file (the no-tar upload). `set -C` refuses to reuse an existing name and
 * umask 077 keeps the half-written file private until its mode is set.
 */
export function catWrite(tmpPath: string): string[] {
  return ['sh', '-c', 'set -C; umask 077; cat > "$1"', 'sh', tmpPath];
}

/** Set a file's permission bits (octal, e.g. `644`). */
export function chmod(path: string, mode: number): string[] {
  return ['chmod', (mode & 0o7777).toString(8), '--', path];
}

/**
 * Move a finished temp file onto its final name, never into a directory of that name: mv would
 * move it inside, and a half-copy under the real name is what the temp file exists to prevent.
 */
export function renameInto(tmpPath: string, finalPath: string): string[] {
  return ['sh', '-c', renameScript, 'sh', tmpPath, finalPath];
}

const renameScript = 'if [ -d "$2" ] && [ ! -L "$2" ]; then echo "cannot overwrite directory \'$2\' with a file" >&2; exit 21; fi; exec mv -f -- "$1" "$2"';

/** Best-effort removal of a temp file. */
export function removeFile(path: string): string[] {
  return ['rm', '-f', '--', path];
}

/** kubectl's upload probe: exit 0 when DEST is a directory. */
export function testDirectory(path: string): string[] {
  return ['test', '-d', path];
}

/**
 * What PATH is, without following a final symlink: one line `TYPE|SIZE|MODE` (`%F|%s|%a`:
 * "regular file|123|644", "directory|4096|755", "symbolic link|…").
 */
export function statPath(path: string): string[] {
  return ['stat', '-c', '%F|%s|%a', '--', path];
}

/**
 * A POSIX sh test: `openssl dgst -sha256 -r` answers `HASH *stdin` (file contents on stdin).
 * OpenSSL hashes with the CPU's SHA instructions, several times faster than coreutils' sha256sum
 * (this machine: 100 MiB in 0.06 s of CPU against 0.3 s), so it goes first where a container has it.
 */
const opensslWorks = 'command -v openssl >/dev/null 2>&1 && [ "$(openssl dgst -sha256 -r </dev/null 2>/dev/null)" = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 *stdin" ]';

/**
 * Checksums of files, one line per file in argv order, after a first line naming the method:
 * `sha256` (sha256sum lines; a single file may be hashed by openssl instead), `size` (byte counts
 * from stat) or `none`.
 */
export function verifyFiles(paths: readonly string[]): string[] {
  return ['sh', '-c', verifyScript, 'sh', ...paths];
}

const verifyScript =
  `if [ $# -eq 1 ] && ${opensslWorks} && h=$(openssl dgst -sha256 -r < "$1"); then echo sha256; echo "$h"; exit 0; fi; ` +
  'if command -v sha256sum >/dev/null 2>&1; then echo sha256; exec sha256sum -- "$@"; fi; ' +
  'if command -v stat >/dev/null 2>&1; then echo size; exec stat -c %s -- "$@"; fi; ' +
  'echo none';

/**
 * What ends each step of a stepped script's output (see statThenVerify): a line of its own,
 * `\n@podshell-step TOKEN STATUS\n`, with the step's exit status. TOKEN is the script's `$0`, a
 * random name (stepToken) that no output of a step can know, so that none can end a step early.
 * The step's output is what comes before it.
 */
export function stepMark(token: string): string {
  return `\n@podshell-step ${token} `;
}

/** A random `$0` for a stepped script. */
export function stepToken(random: string): string {
  return `podshell-${random}`;
}

const endStep = `printf '\\n@podshell-step %s %s\\n' "$0" "$?"`;

/**
 * A download's first session, in two steps: statPath's line (or stat's error: its stderr goes with
 * it, exit status 127 when there is no stat), then, for a file or a symbolic link, verifyFiles'
 * output for PATH: the container's checksum, computed while the archive travels in another session.
 * `token`: see stepMark.
 */
export function statThenVerify(path: string, token: string): string[] {
  const script =
    `s=$(stat -c '%F|%s|%a' -- "$1" 2>&1); c=$?; printf '%s' "$s"; (exit "$c"); ${endStep}; ` +
    `[ "$c" -eq 0 ] || exit 0; case $s in 'regular file|'*|'regular empty file|'*|'symbolic link|'*) ;; *) exit 0;; esac; ` +
    `(${verifyScript}); ${endStep}`;
  return ['sh', '-c', script, token, path];
}

/**
 * A download in one session: `tar` in the container, then stat's answer for PATH as a step on
 * stdout (see statThenVerify), then, for a file or a directory, the archive on stdout, then on
 * stderr tar's own messages as a step with tar's exit status and, for a file, verifyFiles' output
 * as a step: computed alongside tar (a pipe holds it until tar ends). Exits with tar's status.
 * Without tar it prints nothing; for anything but a file or a directory, nothing after stat's
 * step. `token`: see stepMark.
 */
export function statTarVerify(path: string, token: string): string[] {
  const script =
    'command -v tar >/dev/null 2>&1 || exit 0; ' +
    `s=$(stat -c '%F|%s|%a' -- "$1" 2>&1); c=$?; printf '%s' "$s"; (exit "$c"); ${endStep}; ` +
    `[ "$c" -eq 0 ] || exit 0; case $s in 'regular file|'*|'regular empty file|'*) ;; 'directory|'*) tar cf - -- "$1"; t=$?; (exit "$t"); ${endStep} >&2; exit "$t";; *) exit 0;; esac; ` +
    'exec 3>&1; ' +
    `{ (${verifyScript}) 2>/dev/null; ${endStep}; } 3>&- | ` +
    `{ tar cf - -- "$1" >&3 3>&-; t=$?; (exit "$t"); ${endStep} >&2; [ "$t" -eq 0 ] || exit "$t"; cat >&2; }`;
  return ['sh', '-c', script, token, path];
}

/**
 * What ends a single file's upload, as steps of one session: whether TEST is a directory (its exit
 * status; skipped when TEST is empty), then, each when a line on stdin asks for it, `check`
 * (verifyFiles' output for TMP) and `rename` (renameInto TMP FINAL; its errors are its output).
 * Any other line, or the end of stdin, ends it. `token`: see stepMark.
 */
export function uploadSteps(test: string, tmpPath: string, finalPath: string, token: string): string[] {
  const script =
    `if [ -n "$1" ]; then [ -d "$1" ]; ${endStep}; fi; ` +
    'read -r go || exit 0; ' +
    `if [ "$go" = check ]; then (set -- "$2"; ${verifyScript}); ${endStep}; read -r go || exit 0; fi; ` +
    '[ "$go" = rename ] || exit 0; ' +
    `(set -- "$2" "$3"; ${renameScript}) 2>&1; ${endStep}`;
  return ['sh', '-c', script, token, test, tmpPath, finalPath];
}

/** Splits paths into batches whose total length stays under `maxBytes` (the exec URL carries each one). */
export function batches(paths: readonly string[], maxBytes = 32 * 1024): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const p of paths) {
    const len = Buffer.byteLength(p) + 16;
    if (current.length > 0 && size + len > maxBytes) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(p);
    size += len;
  }
  if (current.length > 0) out.push(current);
  return out;
}

export type VerifyOutput = { method: 'sha256'; values: string[] } | { method: 'size'; values: string[] } | { method: 'none' };

/**
 * Reads verifyFiles' output: the method line, then one value per file (a sha256sum line may start
 * with `\` when GNU escaped its name; the hash follows it). Null when the output does not fit.
 */
export function parseVerifyOutput(text: string, count: number): VerifyOutput | null {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const method = lines.shift();
  if (method === 'none') return { method: 'none' };
  if (lines.length !== count) return null;
  if (method === 'sha256') {
    const values: string[] = [];
    for (const line of lines) {
      const m = /^\\?([0-9a-f]{64}) /.exec(line);
      if (!m) return null;
      values.push(m[1]!);
    }
    return { method, values };
  }
  if (method === 'size') {
    if (!lines.every((l) => /^\d+$/.test(l))) return null;
    return { method, values: lines };
  }
  return null;
}

export interface StatInfo {
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number;
}

/** Reads statPath's line. Null when it is not one. */
export function parseStat(text: string): StatInfo | null {
  const m = /^([^|\n]+)\|(\d+)\|([0-7]+)\n?$/.exec(text);
  if (!m) return null;
  const kind = m[1]!;
  const type = kind === 'regular file' || kind === 'regular empty file' ? 'file' : kind === 'directory' ? 'directory' : kind === 'symbolic link' ? 'symlink' : 'other';
  return { type, size: Number(m[2]), mode: parseInt(m[3]!, 8) };
}

/** A temp name beside the final one: `.podshell-<8 hex>.tmp`. */
export function tempName(random: string): string {
  return `.podshell-${random}.tmp`;
}
