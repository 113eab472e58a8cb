// The upload side's tar: a walk of the local source (lstat, sorted, so the archive is the same
// every time) and a tar-stream pack of it, streamed with backpressure while each file's SHA-256 is
// computed for the integrity check. Files, directories, permission bits, mtimes and numeric owners
// travel; symbolic links, sockets, FIFOs and devices are skipped with a warning (a FIFO would
// block the copy; a link's target means nothing in the pod).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { TransferError } from './errors.ts';

export interface PackEntry {
  /** Local path. */
  readonly source: string;
  /** Member name in the archive (POSIX separators). */
  readonly name: string;
  readonly type: 'file' | 'directory';
  readonly mode: number;
  readonly mtime: Date;
  readonly size: number;
  readonly uid: number;
  readonly gid: number;
}

export interface WalkResult {
  readonly entries: PackEntry[];
  /** Sum of the regular files' sizes. */
  readonly totalBytes: number;
  readonly files: number;
  readonly isDirectory: boolean;
}

/** The largest id a ustar header holds (6 octal digits); larger ones are left out. */
const maxId = 0o777777;

function missing(source: string): TransferError {
  return new TransferError('ERR_TRANSFER_LOCAL_NOT_FOUND', `${source} doesn't exist in local filesystem`);
}

/**
 * Lists what an upload of `source` sends, named `rootName[/sub…]`. The source itself may be a
 * symbolic link (it is followed: the user named it); links below it are skipped with a warning.
 */
export async function walk(source: string, rootName: string, onWarning: (message: string) => void = () => {}): Promise<WalkResult> {
  const abs = path.resolve(source);
  let top;
  try {
    top = await stat(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') throw missing(source);
    throw new TransferError('ERR_TRANSFER_LOCAL', `cannot read ${source}: ${(err as Error).message}`, { cause: err });
  }
  const entries: PackEntry[] = [];
  let totalBytes = 0;
  let files = 0;
  const add = (local: string, name: string, st: Awaited<ReturnType<typeof lstat>>, type: 'file' | 'directory') => {
    entries.push({
      source: local,
      name,
      type,
      mode: Number(st.mode) & 0o7777,
      mtime: st.mtime,
      size: type === 'file' ? Number(st.size) : 0,
      uid: Number(st.uid) <= maxId ? Number(st.uid) : 0,
      gid: Number(st.gid) <= maxId ? Number(st.gid) : 0,
    });
    if (type === 'file') {
      totalBytes += Number(st.size);
      files++;
    }
  };
  const visit = async (local: string, name: string, st: Awaited<ReturnType<typeof lstat>>): Promise<void> => {
    if (st.isDirectory()) {
      add(local, name, st, 'directory');
      let children: string[];
      try {
        children = (await readdir(local)).sort();
      } catch (err) {
        throw new TransferError('ERR_TRANSFER_LOCAL', `cannot read directory ${local}: ${(err as Error).message}`, { cause: err });
      }
      for (const child of children) {
        const childPath = path.join(local, child);
        await visit(childPath, `${name}/${child}`, await lstat(childPath));
      }
    } else if (st.isFile()) {
      add(local, name, st, 'file');
    } else if (st.isSymbolicLink()) {
      onWarning(`warning: skipping symlink: ${JSON.stringify(local)} -> ${JSON.stringify(await readlink(local).catch(() => '?'))}`);
    } else {
      const kind = st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : st.isCharacterDevice() ? 'character device' : 'block device';
      onWarning(`warning: skipping ${kind} ${JSON.stringify(local)}: only regular files and directories are copied`);
    }
  };
  await visit(abs, rootName, top);
  return { entries, totalBytes, files, isDirectory: top.isDirectory() };
}

export interface PackOptions {
  /** Called as file content enters the archive: bytes and the member name. */
  onBytes?: (bytes: number, name: string) => void;
}

export interface PackedStream {
  /** The archive. */
  readonly stream: Readable;
  /** Hex SHA-256 per member name of every file, complete once the stream ended. */
  readonly hashes: Promise<Map<string, string>>;
}

/**
 * The archive of `entries` as a Node stream. A file whose size changed since the walk fails the
 * stream (an archive with a wrong size would be corrupt).
 */
export function packEntries(entries: readonly PackEntry[], options: PackOptions = {}): PackedStream {
  const pack = tarPack();
  const hashes = new Map<string, string>();
  const filling = (async () => {
    for (const entry of entries) {
      if (pack.destroying) return hashes;
      const header = { name: entry.name, mode: entry.mode, mtime: entry.mtime, uid: entry.uid, gid: entry.gid };
      if (entry.type === 'directory') {
        await new Promise<void>((resolve, reject) => pack.entry({ ...header, type: 'directory' }, (err) => (err ? reject(err) : resolve())));
        continue;
      }
      const hash = createHash('sha256');
      const sink = pack.entry({ ...header, type: 'file', size: entry.size });
      const done = new Promise<void>((resolve, reject) => {
        sink.on('error', reject);
        sink.on('close', () => resolve());
      });
      // Awaited below unless reading fails first; then the failure reported is the read's.
      done.catch(() => {});
      let read = 0;
      if (entry.size > 0) {
        const input = createReadStream(entry.source, { start: 0, end: entry.size - 1, highWaterMark: 256 * 1024 });
        try {
          for await (const chunk of input as AsyncIterable<Buffer>) {
            read += chunk.length;
            hash.update(chunk);
            options.onBytes?.(chunk.length, entry.name);
            if (!sink.write(chunk)) {
              await new Promise<void>((resolve) => {
                const go = () => {
                  sink.off('drain', go);
                  sink.off('close', go);
                  resolve();
                };
                sink.on('drain', go);
                sink.on('close', go);
              });
            }
            if (sink.destroying) break;
          }
        } catch (err) {
          throw new TransferError('ERR_TRANSFER_LOCAL', `cannot read ${entry.source}: ${(err as Error).message}`, { cause: err });
        }
      }
      if (read !== entry.size) {
        throw new TransferError('ERR_TRANSFER_LOCAL', `${entry.source} changed while it was copied: expected ${entry.size} bytes, read ${read}`);
      }
      sink.end(null);
      await done;
      hashes.set(entry.name, hash.digest('hex'));
    }
    pack.finalize();
    return hashes;
  })();
  const stream = Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
  filling.catch((err: Error) => {
    pack.destroy(err);
    stream.destroy(err);
  });
  return { stream, hashes: filling };
}
