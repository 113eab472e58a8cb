// copyToPod: kubectl cp's upload with stricter defaults: argv instead of shell strings, tar
// streamed into the container, a no-tar fallback (`cat`) for single files, and a single file
// written under a temp name, verified, then renamed into place.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path, { posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exec } from '../exec/index.ts';
import type { KubeClient } from '../kube/index.ts';
import * as cmd from './commands.ts';
import { collectText, context, diagnoseNoTar, forwardStderr, isMissingExecutable, noop, noShell, remoteFailure, runIn, sessionOptions, validateCopy, verifyRemote, type CopyOptions, type CopyResult, type Ctx } from './copy.ts';
import { IntegrityError, TransferError } from './errors.ts';
import { cleanRemote, uploadTarget, type RemoteSpec } from './filespec.ts';
import { packEntries, walk, type PackEntry } from './pack.ts';
import { ProgressReporter } from './progress.ts';

interface TarUploaded {
  /** Hex SHA-256 per member name of every file sent; empty with `fifo`. */
  readonly hashes: Map<string, string>;
  /**
   * With `fifo`: the archive's SHA-256 as sent and as the container's sha256sum read it on its
   * way into tar; null when the container could not hash it (then check the files afterwards).
   */
  readonly archive: { readonly sent: string; readonly received: string; readonly size: number } | null;
}

/**
 * The entries as a tar archive into `tar -x` in the container. With `fifo` (a free name in `dir`;
 * a single file only) the container hashes the archive while tar reads it (tarExtractHashing), so
 * the check needs no second pass over the written file.
 */
async function tarUpload(ctx: Ctx, entries: readonly PackEntry[], dir: string, preserve: boolean, progress: ProgressReporter, display?: string, fifo?: string): Promise<TarUploaded> {
  const single = entries[0]!;
  // With the archive hashed on both ends, the files' own checksums are needed only when the
  // container turns out unable to hash (then copyToPod reads the file again).
  const packed = packEntries(entries, { onBytes: (n, name) => progress.add(n, display ?? name), hashFiles: !fifo });
  const command = fifo ? cmd.tarExtractHashing(dir, preserve, fifo, posix.join(dir, single.name)) : cmd.tarExtract(dir, preserve);
  const session = exec(ctx.client, { ...sessionOptions(ctx), command, stdin: true, stdout: true, stderr: true });
  const stdout = collectText(session.stdout);
  const stderr = collectText(session.stderr);
  let localError: unknown = null;
  packed.hashes.catch((err: unknown) => {
    localError = err;
    session.abort(err);
  });
  const archiveHash = fifo ? createHash('sha256') : null;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      archiveHash?.update(chunk);
      cb(null, chunk);
    },
  });
  const piping = (archiveHash ? pipeline(packed.stream, hashing, session.stdin!) : pipeline(packed.stream, session.stdin!)).catch(noop);
  let status;
  try {
    status = await session.exit;
  } catch (err) {
    if (localError && (err as { code?: string }).code === 'ERR_ABORTED') throw localError;
    throw err;
  }
  await piping;
  const [outText, errText] = await Promise.all([stdout, stderr]);
  if (fifo && status.code === 127 && errText.includes(cmd.hashingNoTar)) throw noTarHere;
  if (status.code !== 0) throw remoteFailure(ctx, `tar -x into ${dir}`, status.code, errText);
  forwardStderr(ctx, errText);
  const hashes = await packed.hashes;
  const received = fifo ? cmd.parseArchiveCheck(outText) : null;
  return { hashes, archive: received && archiveHash ? { sent: archiveHash.digest('hex'), received: received.sha256, size: received.size } : null };
}

/** A file's SHA-256, read again (the container could not hash the archive as it arrived). */
async function hashLocal(entry: PackEntry): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(entry.source, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) hash.update(chunk);
  } catch (err) {
    throw new TransferError('ERR_TRANSFER_LOCAL', `cannot read ${entry.source}: ${(err as Error).message}`, { cause: err });
  }
  return hash.digest('hex');
}

/** tarUpload's hashing script found no tar (a shell without tar: the `cat` fallback's case). */
const noTarHere = new TransferError('ERR_TRANSFER_NO_TAR', 'the container has no tar');

/** No tar: the file's bytes into `sh -c 'cat > "$1"'`. Returns its SHA-256. */
async function catUpload(ctx: Ctx, entry: PackEntry, tmp: string, progress: ProgressReporter, display: string): Promise<string> {
  const session = exec(ctx.client, { ...sessionOptions(ctx), command: cmd.catWrite(tmp), stdin: true, stdout: true, stderr: true });
  const stdout = collectText(session.stdout);
  const stderr = collectText(session.stderr);
  const hash = createHash('sha256');
  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      read += chunk.length;
      progress.add(chunk.length, display);
      cb(null, chunk);
    },
  });
  let localError: unknown = null;
  const input = entry.size > 0 ? createReadStream(entry.source, { start: 0, end: entry.size - 1, highWaterMark: 256 * 1024 }) : createReadStream(entry.source, { start: 0, end: -1 });
  input.on('error', (err) => {
    localError = new TransferError('ERR_TRANSFER_LOCAL', `cannot read ${entry.source}: ${err.message}`, { cause: err });
    session.abort(localError);
  });
  const piping = pipeline(input, counter, session.stdin!).catch(noop);
  let status;
  try {
    status = await session.exit;
  } catch (err) {
    if (localError) throw localError;
    throw err;
  }
  await piping;
  const [, errText] = await Promise.all([stdout, stderr]);
  if (status.code !== 0) throw remoteFailure(ctx, `writing ${tmp} with cat`, status.code, errText);
  if (read !== entry.size) throw new TransferError('ERR_TRANSFER_LOCAL', `${entry.source} changed while it was copied: expected ${entry.size} bytes, read ${read}`);
  return hash.digest('hex');
}

export async function runChecked(ctx: Ctx, command: string[], what: string): Promise<void> {
  const r = await runIn(ctx, command);
  if (r.exitCode !== 0) throw remoteFailure(ctx, what, r.exitCode, r.stderr);
}

export async function renameRemote(ctx: Ctx, tmp: string, finalPath: string): Promise<void> {
  try {
    await runChecked(ctx, cmd.renameInto(tmp, finalPath), `moving the copy onto ${finalPath}`);
  } catch (err) {
    if (!isMissingExecutable(err)) throw err;
    await runChecked(ctx, ['mv', '-f', '--', tmp, finalPath], `moving the copy onto ${finalPath}`);
  }
}

/** Best effort, also after an abort: the temp name must not stay behind. */
export async function removeRemote(ctx: Ctx, file: string): Promise<void> {
  try {
    await runIn(ctx, cmd.removeFile(file), AbortSignal.timeout(10_000));
  } catch {
    // Nothing more to do: the name says what it is (.podshell-*.tmp).
  }
}

/**
 * Copy a local file or directory into a container, as `kubectl cp LOCAL POD:PATH`: when PATH is an
 * existing directory the source lands inside it under its own name, otherwise at PATH.
 * A single file is written under a temp name beside PATH, verified, then renamed onto PATH.
 * @example
 * await copyToPod(client, './config.yaml', { pod: 'deploy/web', path: '/etc/app/' });
 */
export async function copyToPod(client: KubeClient, localPath: string, remote: RemoteSpec, options: CopyOptions = {}): Promise<CopyResult> {
  validateCopy('copyTo', localPath, remote, options);
  const preserve = options.preserve ?? true;
  const verify = options.verify ?? true;
  const warn = options.onWarning ?? noop;
  // The local side first, as kubectl: no request for a source that is not there.
  let source;
  try {
    source = await stat(localPath);
  } catch {
    throw new TransferError('ERR_TRANSFER_LOCAL_NOT_FOUND', `${localPath} doesn't exist in local filesystem`);
  }
  const ctx = await context(client, remote, options);
  const remotePath = cleanRemote(remote.path);
  let destIsDir = false;
  try {
    destIsDir = (await runIn(ctx, cmd.testDirectory(remotePath))).exitCode === 0;
  } catch (err) {
    // No `test`: the copy itself will say what else is missing.
    if (!isMissingExecutable(err)) throw err;
  }
  const finalPath = uploadTarget(localPath, remotePath, destIsDir, (p) => path.basename(path.resolve(p)));
  const dir = posix.dirname(finalPath);
  const progress = new ProgressReporter(options.onProgress, 'upload');

  if (source.isDirectory()) {
    const walked = await walk(localPath, posix.basename(finalPath), warn);
    progress.totalBytes = walked.totalBytes;
    let hashes: Map<string, string>;
    try {
      hashes = (await tarUpload(ctx, walked.entries, dir, preserve, progress)).hashes;
    } catch (err) {
      if (isMissingExecutable(err)) throw await diagnoseNoTar(ctx, true);
      throw err;
    }
    progress.flush();
    const files = walked.entries.filter((e) => e.type === 'file');
    const verified = verify
      ? await verifyRemote(
          ctx,
          files.map((e) => ({ remote: posix.join(dir, e.name), label: posix.join(dir, e.name), sha256: hashes.get(e.name)!, size: e.size })),
          progress,
        )
      : 'none';
    return { files: walked.files, bytes: walked.totalBytes, verified, method: 'tar' };
  }

  const random = randomBytes(4).toString('hex');
  const tmp = posix.join(dir, cmd.tempName(random));
  // Where the container's sha256sum reads the archive while tar unpacks it (see tarExtractHashing).
  const fifo = verify ? posix.join(dir, `.podshell-${random}.fifo`) : undefined;
  const walked = await walk(localPath, posix.basename(tmp), warn);
  const entry = walked.entries[0];
  if (!entry || entry.type !== 'file') throw new TransferError('ERR_TRANSFER_LOCAL', `${localPath} is not a regular file or directory`);
  progress.totalBytes = entry.size;
  let method: CopyResult['method'] = 'tar';
  try {
    let sha256: string;
    let archive: TarUploaded['archive'] = null;
    try {
      let sent: TarUploaded;
      try {
        sent = await tarUpload(ctx, [entry], dir, preserve, progress, posix.basename(finalPath), fifo);
      } catch (err) {
        // No shell for the hashing script: tar alone, checked afterwards.
        if (!fifo || !isMissingExecutable(err)) throw err;
        progress.phase('upload', entry.size);
        sent = await tarUpload(ctx, [entry], dir, preserve, progress, posix.basename(finalPath));
      }
      archive = sent.archive;
      sha256 = sent.hashes.get(entry.name) ?? (verify && !archive ? await hashLocal(entry) : '');
    } catch (err) {
      if (!isMissingExecutable(err) && err !== noTarHere) throw err;
      method = 'cat';
      progress.phase('upload', entry.size);
      try {
        sha256 = await catUpload(ctx, entry, tmp, progress, posix.basename(finalPath));
      } catch (err2) {
        throw isMissingExecutable(err2) ? noShell(ctx) : err2;
      }
      // cat wrote it 0600 (umask 077); give it the mode tar would have.
      const mode = preserve ? entry.mode & 0o7777 : entry.mode & 0o755;
      await runChecked(ctx, cmd.chmod(tmp, mode), `chmod ${mode.toString(8)} ${tmp}`);
    }
    progress.flush();
    let verified: CopyResult['verified'] = 'none';
    if (verify && archive) {
      // The archive (the file and its header) hashed on both ends while it travelled, tar took
      // every byte of it and succeeded, and the file it wrote has the size sent: the same bytes,
      // without a second pass reading the file back.
      progress.phase('verify', entry.size);
      progress.flush();
      if (archive.received !== archive.sent) throw new IntegrityError(finalPath, 'sha256', archive.sent, archive.received);
      if (archive.size !== entry.size) throw new IntegrityError(finalPath, 'size', String(entry.size), String(archive.size));
      progress.add(entry.size, finalPath);
      progress.flush();
      verified = 'sha256';
    } else if (verify) {
      verified = await verifyRemote(ctx, [{ remote: tmp, label: finalPath, sha256, size: entry.size }], progress);
    }
    await renameRemote(ctx, tmp, finalPath);
    return { files: 1, bytes: entry.size, verified, method };
  } catch (err) {
    await Promise.all([removeRemote(ctx, tmp), fifo ? removeRemote(ctx, fifo) : undefined]);
    throw err;
  }
}
