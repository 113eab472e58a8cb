// The download side's untar: an archive from a pod is untrusted input. kubectl's rules plus ours:
// - every member must carry the requested prefix, else the whole copy fails ("tar contents
//   corrupted"); the rest of its name is joined to the canonical destination and must stay inside
//   it (`path.relative`), else it is skipped with kubectl's warning;
// - only regular files and directories are created: symlinks, devices and FIFOs are skipped with
//   a warning; a hard link becomes a copy of a file this same archive already wrote, nothing else;
// - no write goes through a symbolic link: every ancestor inside the destination is lstat'ed, files
//   are created O_EXCL|O_NOFOLLOW under a temp name and renamed over the final name when complete;
// - permission bits only (no setuid, setgid or sticky), under the umask; owners are never applied;
// - caps on entries, path length and depth, and total bytes.

import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { extract as tarExtract, type Header } from 'tar-stream';
import { tempName } from './commands.ts';
import { TransferError } from './errors.ts';
import { isInside } from './filespec.ts';

export interface ExtractLimits {
  /** Members in the archive, of any type. [default 1 000 000] */
  maxEntries: number;
  /** Bytes of one member name (UTF-8). [default 4096, Linux's PATH_MAX] */
  maxPathLength: number;
  /** Path segments below the destination. [default 256] */
  maxDepth: number;
  /** Bytes of file content in total. [default Infinity] */
  maxBytes: number;
}

export const defaultLimits: Readonly<ExtractLimits> = { maxEntries: 1_000_000, maxPathLength: 4096, maxDepth: 256, maxBytes: Infinity };

export interface ExtractOptions {
  /** What every member name must start with (kubectl's tarPrefix of the remote path); '' accepts all. */
  prefix: string;
  /** Canonical absolute destination (see canonicalDestination): where the prefix lands. */
  dest: string;
  /** Apply the archive's permission bits (minus setuid/setgid/sticky) and file mtimes. [default true] */
  preserve?: boolean;
  limits?: Partial<ExtractLimits>;
  onWarning?: (message: string) => void;
  /**
   * 'file': the archive must hold exactly the one file the prefix names (anything else is
   * corrupt), and it stays under its temp name until `commit()`, so the caller can verify it
   * first. [default 'any']
   */
  expect?: 'file' | 'any';
  /** Called as file content is written: bytes just written and the member's path below dest. */
  onBytes?: (bytes: number, file: string) => void;
  signal?: AbortSignal;
}

export interface ExtractedFile {
  /** The member name below the prefix, '' for the destination itself. */
  readonly name: string;
  /** Where it was written. */
  readonly path: string;
  readonly size: number;
  /** Hex SHA-256 of the bytes written. */
  readonly sha256: string;
}

export interface ExtractResult {
  readonly files: ExtractedFile[];
  readonly directories: number;
  readonly bytes: number;
  readonly skipped: number;
  /** expect 'file': rename the verified temp file onto its final name. Otherwise a no-op. */
  commit(): Promise<void>;
  /** expect 'file': remove the temp file. Otherwise a no-op. */
  discard(): Promise<void>;
}

/**
 * The absolute, symlink-free form of a local destination, created up to its parent (kubectl
 * MkdirAll's the parent): realpath when it exists, else its parent's realpath plus its name.
 */
export async function canonicalDestination(localPath: string): Promise<string> {
  const abs = path.resolve(localPath);
  try {
    return await realpath(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw localError(err, abs);
  }
  const parent = path.dirname(abs);
  try {
    await mkdir(parent, { recursive: true });
    return path.join(await realpath(parent), path.basename(abs));
  } catch (err) {
    throw localError(err, parent);
  }
}

function localError(err: unknown, file: string): TransferError {
  if (err instanceof TransferError) return err;
  const e = err as NodeJS.ErrnoException;
  return new TransferError('ERR_TRANSFER_LOCAL', `cannot write "${file}": ${e.code ? `${e.code}: ` : ''}${e.message.replace(/^[A-Z]+: /, '')}`, { cause: err });
}

async function lstatOrNull(p: string) {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Member names as tar writes them may start with `./`; that changes nothing they mean. */
function stripDotSlash(name: string): string {
  let out = name;
  while (out.startsWith('./')) out = out.slice(2);
  return out;
}

/** Waits for a streamx writable to drain, or to close. */
function drained(stream: { once(event: string, fn: () => void): unknown; off(event: string, fn: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

/**
 * Unpack an untrusted tar stream under `options.dest`. Rejects on the first unsafe or corrupt
 * member; files completed before stay (each is complete), nothing is ever half-written under its
 * final name. Errors of `source` come through unchanged.
 */
export async function extractTar(source: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<ExtractResult> {
  const limits = { ...defaultLimits, ...options.limits };
  const preserve = options.preserve ?? true;
  const root = options.dest;
  const prefix = options.prefix;
  const warn = options.onWarning ?? (() => {});
  const files: ExtractedFile[] = [];
  const written = new Map<string, ExtractedFile>();
  const knownDirs = new Set<string>();
  /** Directories created here whose final mode lacks owner bits podshell needed while writing. */
  const restrictLater: { dir: string; mode: number }[] = [];
  let entries = 0;
  let bytes = 0;
  let skipped = 0;
  let directories = 0;
  const single = options.expect === 'file';
  const pending: { tmp: string; target: string }[] = [];
  const rootStat = await lstatOrNull(root);
  const rootIsDir = rootStat?.isDirectory() ?? false;
  if (rootIsDir) knownDirs.add(root);

  const ex = tarExtract();
  let sourceError: unknown = null;
  let stopped = false;
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        if (stopped || ex.destroying) break;
        if (!ex.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)) && !ex.destroying) await drained(ex);
      }
      if (!stopped && !ex.destroying) ex.end(null);
    } catch (err) {
      sourceError = err;
      ex.destroy(err as Error);
    }
  })();

  /** Makes `dir` (root or inside it) and its missing ancestors; refuses links and non-directories. */
  const ensureDir = async (dir: string, mode: number | null): Promise<void> => {
    if (knownDirs.has(dir)) return;
    if (dir !== root && !isInside(root, dir)) {
      // The folder holding the destination (a single-file download): the user's, made as needed.
      await mkdir(dir, { recursive: true });
      knownDirs.add(dir);
      return;
    }
    if (dir !== root) await ensureDir(path.dirname(dir), null);
    const st = await lstatOrNull(dir);
    if (st) {
      if (st.isSymbolicLink()) throw new TransferError('ERR_TRANSFER_UNSAFE', `refusing to write through "${dir}": it is a symbolic link in the destination`);
      if (!st.isDirectory()) throw new TransferError('ERR_TRANSFER_UNSAFE', `cannot create directory "${dir}": a file of that name exists`);
    } else {
      const want = mode ?? 0o755;
      await mkdir(dir, { mode: want | 0o700 });
      if ((want & 0o700) !== 0o700) restrictLater.push({ dir, mode: want });
      directories++;
    }
    knownDirs.add(dir);
  };

  /** Where a member goes, or null (with a warning) when it would leave the destination. */
  const place = (rawName: string): { target: string; name: string } | null => {
    if (Buffer.byteLength(rawName) > limits.maxPathLength) {
      throw new TransferError('ERR_TRANSFER_LIMIT', `tar member name is ${Buffer.byteLength(rawName)} bytes long, more than the ${limits.maxPathLength} allowed`);
    }
    const name = stripDotSlash(rawName);
    if (prefix !== '' && name !== prefix && !name.startsWith(`${prefix}/`)) {
      throw new TransferError('ERR_TRANSFER_CORRUPT', `tar contents corrupted: expected every member under "${prefix}", found "${rawName}"`);
    }
    const sub = name.slice(prefix.length).replaceAll('\\', '/');
    const segments = sub.split('/').filter((s) => s !== '' && s !== '.');
    if (segments.length > limits.maxDepth) {
      throw new TransferError('ERR_TRANSFER_LIMIT', `tar member "${rawName.length > 100 ? `${rawName.slice(0, 100)}…` : rawName}" is ${segments.length} levels deep, more than the ${limits.maxDepth} allowed`);
    }
    const target = path.join(root, ...segments);
    if (!isInside(root, target)) {
      warn(`warning: file ${JSON.stringify(target)} is outside target destination, skipping`);
      return null;
    }
    return { target, name: segments.join('/') };
  };

  const writeFile = async (header: Header, entry: AsyncIterable<Buffer>, target: string, name: string): Promise<void> => {
    const dir = path.dirname(target);
    await ensureDir(dir, null);
    const tmp = path.join(dir, tempName(randomBytes(4).toString('hex')));
    const mode = preserve ? header.mode & 0o777 : 0o666;
    let fh: FileHandle | null = null;
    const hash = createHash('sha256');
    let size = 0;
    try {
      fh = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, mode);
      for await (const chunk of entry) {
        hash.update(chunk);
        size += chunk.length;
        await fh.write(chunk);
        options.onBytes?.(chunk.length, name);
      }
      if (preserve && header.mtime) await fh.utimes(header.mtime, header.mtime);
      await fh.close();
      fh = null;
      if (single) pending.push({ tmp, target });
      else await renameOver(tmp, target);
    } catch (err) {
      await fh?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
    const file = { name, path: target, size, sha256: hash.digest('hex') };
    if (written.has(target)) files.splice(files.indexOf(written.get(target)!), 1);
    written.set(target, file);
    files.push(file);
  };

  const copyLinked = async (source: ExtractedFile, target: string, name: string): Promise<void> => {
    const dir = path.dirname(target);
    await ensureDir(dir, null);
    const tmp = path.join(dir, tempName(randomBytes(4).toString('hex')));
    try {
      await copyFile(source.path, tmp, fsConstants.COPYFILE_EXCL);
      await renameOver(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    const file = { name, path: target, size: source.size, sha256: source.sha256 };
    if (written.has(target)) files.splice(files.indexOf(written.get(target)!), 1);
    written.set(target, file);
    files.push(file);
  };

  const renameOver = async (tmp: string, target: string): Promise<void> => {
    const existing = await lstatOrNull(target);
    if (existing?.isDirectory()) throw new TransferError('ERR_TRANSFER_UNSAFE', `cannot overwrite directory "${target}" with a file`);
    // rename() replaces a symlink at `target` itself; it never writes through one.
    await rename(tmp, target);
  };

  try {
    for await (const entry of ex) {
      if (options.signal?.aborted) throw options.signal.reason;
      const header = entry.header;
      if (++entries > limits.maxEntries) throw new TransferError('ERR_TRANSFER_LIMIT', `the archive has more than ${limits.maxEntries} members`);
      if (single && (stripDotSlash(header.name) !== prefix || (header.type !== 'file' && header.type !== 'contiguous-file') || files.length > 0)) {
        throw new TransferError('ERR_TRANSFER_CORRUPT', `tar contents corrupted: expected only the file "${prefix}", found ${header.type} "${header.name}"`);
      }
      const placed = place(header.name);
      if (!placed) {
        skipped++;
        entry.resume();
        continue;
      }
      let { target } = placed;
      const { name } = placed;
      // Old tars mark directories by a trailing slash on a regular-file member.
      const type = header.type === 'file' && header.name.endsWith('/') ? 'directory' : header.type;
      switch (type) {
        case 'directory':
          await ensureDir(target, preserve ? header.mode & 0o777 : 0o777);
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file': {
          // A single file into an existing directory lands inside it (kubectl would fail).
          if (target === root && rootIsDir) target = path.join(root, path.posix.basename(prefix) || 'file');
          if (bytes + header.size > limits.maxBytes) throw new TransferError('ERR_TRANSFER_LIMIT', `the archive holds more than the ${limits.maxBytes} bytes allowed`);
          bytes += header.size;
          await writeFile(header, entry as AsyncIterable<Buffer>, target, name);
          break;
        }
        case 'link': {
          entry.resume();
          const to = header.linkname ? placeQuietly(header.linkname) : null;
          const source = to ? written.get(to) : undefined;
          if (source && source.path !== target) {
            await copyLinked(source, target, name);
          } else {
            skipped++;
            warn(`warning: skipping hard link: ${JSON.stringify(target)} -> ${JSON.stringify(header.linkname ?? '')}`);
          }
          break;
        }
        case 'symlink':
          skipped++;
          warn(`warning: skipping symlink: ${JSON.stringify(target)} -> ${JSON.stringify(header.linkname ?? '')}`);
          entry.resume();
          break;
        default:
          skipped++;
          warn(`warning: skipping ${String(type).replace('-', ' ')} ${JSON.stringify(target)}: only regular files and directories are copied`);
          entry.resume();
      }
    }
    await feeding;
    if (sourceError) throw sourceError;
    for (const { dir, mode } of restrictLater.reverse()) {
      const current = (await stat(dir)).mode & 0o777;
      await chmod(dir, current & ~(0o700 & ~mode));
    }
  } catch (err) {
    await Promise.all(pending.splice(0).map((p) => unlink(p.tmp).catch(() => {})));
    // The feeder may be waiting on the source: the caller ends that (it owns the session).
    stopped = true;
    ex.destroy();
    if (sourceError) throw sourceError;
    if (options.signal?.aborted) throw options.signal.reason;
    if (err instanceof TransferError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e?.code && typeof e.syscall === 'string') throw localError(err, e.path ?? root);
    // An archive that ends inside a member: tar-stream destroys the member's stream, and reading
    // it fails with streamx's STREAM_DESTROYED or PREMATURE_CLOSE rather than tar's own message.
    if (e instanceof Error && e.name === 'StreamError') throw new TransferError('ERR_TRANSFER_CORRUPT', 'tar contents corrupted: unexpected end of data', { cause: err });
    if (e instanceof Error && !(e as { code?: unknown }).code) throw new TransferError('ERR_TRANSFER_CORRUPT', `tar contents corrupted: ${e.message.toLowerCase()}`, { cause: err });
    throw err;
  }
  if (single && files.length === 0) throw new TransferError('ERR_TRANSFER_CORRUPT', `tar contents corrupted: expected the file "${prefix}", found an empty archive`);
  return {
    files,
    directories,
    bytes,
    skipped,
    async commit() {
      for (const p of pending.splice(0)) {
        try {
          await renameOver(p.tmp, p.target);
        } catch (err) {
          await unlink(p.tmp).catch(() => {});
          throw err instanceof TransferError ? err : localError(err, p.target);
        }
      }
    },
    async discard() {
      await Promise.all(pending.splice(0).map((p) => unlink(p.tmp).catch(() => {})));
    },
  };

  /** A hard link's target, placed like a member name; null when it is not one. */
  function placeQuietly(linkname: string): string | null {
    const name = stripDotSlash(linkname);
    if (prefix !== '' && name !== prefix && !name.startsWith(`${prefix}/`)) return null;
    const segments = name.slice(prefix.length).replaceAll('\\', '/').split('/').filter((s) => s !== '' && s !== '.');
    const target = path.join(root, ...segments);
    return isInside(root, target) ? target : null;
  }
}
