// prepareDownload: a file or directory of a container as a Node Readable, for a server that
// streams it on (an HTTP download). What the path is, its size and its sha256 are known before
// the first byte (stat and sha256sum in the container), so they can go out as headers first; a
// file can start at an offset (`tail -c +N`, for Range requests); a directory is a tar stream.
// A single file needs neither tar nor a shell (cat or tail), so containers without tar work too.

import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exec } from '../exec/index.ts';
import type { KubeClient } from '../kube/index.ts';
import * as cmd from './commands.ts';
import { collectText, context, diagnoseNoTar, isMissingExecutable, noop, noShell, notFound, remoteFailure, runIn, sessionOptions, type Ctx } from './copy.ts';
import { IntegrityError, TransferError } from './errors.ts';
import { cleanRemote, type RemoteSpec } from './filespec.ts';

export interface DownloadStreamOptions {
  /** Default: the pod's `kubectl.kubernetes.io/default-container`, else its first container. */
  container?: string;
  /** Used when the RemoteSpec names none. Default: the kubeconfig context's namespace. */
  namespace?: string;
  /** Ends every command of the download (and the stream, with an error). */
  signal?: AbortSignal;
}

/** A path in a container, examined and ready to stream. */
export interface PreparedDownload {
  /** A symbolic link is followed: this is what it points to. */
  readonly type: 'file' | 'directory';
  /** The path in the container (cleaned). */
  readonly path: string;
  /** The last segment of the path ("root" for `/`): a name to save it under. */
  readonly name: string;
  /** A file's size in bytes; null for a directory. */
  readonly size: number | null;
  /** A file's SHA-256 (hex) as the container computed it; null for a directory, or without sha256sum there. */
  readonly sha256: string | null;
  /**
   * Start the bytes: a file from byte `start` (0-based), a directory as a tar archive (`start`
   * must be 0). Resolves once the first bytes (or the end) arrived, so a command that cannot run
   * rejects here, before anything was sent on. The stream then fails — rather than ends — when
   * the bytes are not the ones announced (count, and sha256 for a whole file): its last chunk is
   * held back until they are checked. Destroying the stream ends the command in the container.
   */
  open(start?: number): Promise<Readable>;
}

/**
 * Examine a path in a container for streaming it out: file or directory, size, sha256.
 * @example
 * const d = await prepareDownload(client, { pod: 'demo', path: '/var/log/app.log' });
 * await pipeline(await d.open(), response);
 */
export async function prepareDownload(client: KubeClient, remote: RemoteSpec, options: DownloadStreamOptions = {}): Promise<PreparedDownload> {
  const ctx = await context(client, remote, options);
  const remotePath = cleanRemote(remote.path);
  // Both at once: sha256sum fails harmlessly on a directory, and a file's checksum is the slow part.
  const checksum = runIn(ctx, cmd.verifyFiles([remotePath]));
  checksum.catch(noop);
  let info = await statOf(ctx, remotePath, cmd.statPath(remotePath));
  // A symbolic link named by the caller is followed: the download is what it points to.
  const link = info?.type === 'symlink';
  if (link) info = await statOf(ctx, remotePath, cmd.statTarget(remotePath));
  if (!info) throw new TransferError('ERR_TRANSFER_REMOTE', `cannot tell what ${remotePath} is in ${ctx.where}: stat answered something else`);
  if (info.type !== 'file' && info.type !== 'directory') {
    throw new TransferError('ERR_TRANSFER_UNSAFE', `${remotePath} in ${ctx.where} is neither a regular file nor a directory`);
  }
  const name = posix.basename(remotePath) || 'root';
  if (info.type === 'directory') {
    return { type: 'directory', path: remotePath, name, size: null, sha256: null, open: (start = 0) => openTar(ctx, remotePath, link, start) };
  }
  let sha256: string | null = null;
  try {
    const r = await checksum;
    if (r.exitCode !== 0) throw remoteFailure(ctx, `sha256sum of ${remotePath}`, r.exitCode, r.stderr);
    const parsed = cmd.parseVerifyOutput(r.stdout, 1);
    if (!parsed) throw new TransferError('ERR_TRANSFER_REMOTE', `cannot read the checksum of ${remotePath} in ${ctx.where}: ${JSON.stringify(r.stdout.slice(0, 200))}`);
    if (parsed.method === 'sha256') sha256 = parsed.values[0]!;
  } catch (err) {
    // stat ran, so a shell should too; without one the download goes on unchecked.
    if (!isMissingExecutable(err)) throw err;
  }
  const size = info.size;
  return { type: 'file', path: remotePath, name, size, sha256, open: (start = 0) => openFile(ctx, remotePath, size, sha256, start) };
}

/**
 * Download to a Writable: examine, then stream from `start`. Resolves with what was examined
 * once every byte was written (and checked).
 * @example
 * await downloadStream(client, { pod: 'demo', path: '/etc/hostname' }, process.stdout);
 */
export async function downloadStream(client: KubeClient, remote: RemoteSpec, destination: Writable, options: DownloadStreamOptions & { start?: number } = {}): Promise<PreparedDownload> {
  const prepared = await prepareDownload(client, remote, options);
  await pipeline(await prepared.open(options.start ?? 0), destination);
  return prepared;
}

async function openFile(ctx: Ctx, remotePath: string, size: number, sha256: string | null, start: number): Promise<Readable> {
  if (!Number.isSafeInteger(start) || start < 0 || (start > 0 && start >= size)) {
    throw new TransferError('ERR_TRANSFER_FILESPEC', `cannot start at byte ${start} of ${remotePath}: it has ${size} bytes`);
  }
  const command = start === 0 ? cmd.catRead(remotePath) : cmd.catReadFrom(remotePath, start);
  const tool = command[0]!;
  const check = (count: number, digest: string | null) => {
    if (count !== size - start) throw new IntegrityError(remotePath, 'size', String(size - start), String(count));
    if (start === 0 && sha256 !== null && digest !== sha256) throw new IntegrityError(remotePath, 'sha256', sha256, digest ?? '');
  };
  return started(
    ctx,
    command,
    `${tool} of ${remotePath}`,
    (err) => {
      if (!isMissingExecutable(err)) return err;
      return new TransferError('ERR_TRANSFER_NO_SHELL', `cannot read ${remotePath}: ${ctx.where} has no ${tool}${start > 0 ? ` (a download from byte ${start} needs it)` : ''}`);
    },
    start === 0,
    check,
  );
}

/** `stat` of a path in the container; null when its answer is not a stat line. */
async function statOf(ctx: Ctx, remotePath: string, command: string[]): Promise<cmd.StatInfo | null> {
  try {
    const r = await runIn(ctx, command);
    if (r.exitCode !== 0) {
      if (/no such file|not a directory/i.test(r.stderr)) throw notFound(ctx, remotePath);
      throw remoteFailure(ctx, `stat of ${remotePath}`, r.exitCode, r.stderr);
    }
    return cmd.parseStat(r.stdout);
  } catch (err) {
    // No stat: no coreutils at all (distroless); nothing podshell can read files with.
    if (isMissingExecutable(err)) throw noShell(ctx);
    throw err;
  }
}

/**
 * A directory's archive, its members named `NAME/…` as the download's name says (`tar -C PARENT
 * NAME`); a directory reached through a symbolic link is archived from inside (`./…`), as tar
 * would otherwise archive the link itself.
 */
function tarCreateIn(remotePath: string, link: boolean): string[] {
  if (link || remotePath === '/') return ['tar', '-C', remotePath, '-cf', '-', '--', '.'];
  return ['tar', '-C', posix.dirname(remotePath), '-cf', '-', '--', posix.basename(remotePath)];
}

async function openTar(ctx: Ctx, remotePath: string, link: boolean, start: number): Promise<Readable> {
  if (start !== 0) throw new TransferError('ERR_TRANSFER_FILESPEC', `a directory downloads whole, not from byte ${start}`);
  return started(ctx, tarCreateIn(remotePath, link), `tar -c of ${remotePath}`, (err) => (isMissingExecutable(err) ? diagnoseNoTar(ctx, false) : err), false, null);
}

/**
 * Run `command` and hand out its stdout once the first bytes (or the end) arrived. The last chunk
 * is held back until the command exited 0 and `check(count, sha256)` accepted the bytes.
 */
async function started(
  ctx: Ctx,
  command: string[],
  what: string,
  explain: (err: unknown) => unknown,
  hashing: boolean,
  check: ((count: number, sha256: string | null) => void) | null,
): Promise<Readable> {
  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
  const session = exec(ctx.client, { ...sessionOptions(ctx, signal), command, stdout: true, stderr: true });
  const stderr = collectText(session.stderr);
  session.exit.catch(noop);
  async function* bytes(): AsyncGenerator<Buffer> {
    const hash = hashing ? createHash('sha256') : null;
    let count = 0;
    let held: Buffer | null = null;
    let finished = false;
    try {
      try {
        for await (const chunk of session.stdout! as AsyncIterable<Buffer>) {
          count += chunk.length;
          hash?.update(chunk);
          if (held) yield held;
          held = chunk;
        }
      } catch {
        // The session's exit says why.
      }
      let status;
      try {
        status = await session.exit;
      } catch (err) {
        throw await explain(err);
      } finally {
        finished = true;
      }
      if (status.code !== 0) throw remoteFailure(ctx, what, status.code, await stderr);
      check?.(count, hash ? hash.digest('hex') : null);
      if (held) yield held;
    } finally {
      // The consumer stopped early (the client went away): end the command in the container.
      if (!finished) stop.abort(new Error('the download stopped'));
    }
  }
  const it = bytes();
  const first = await it.next();
  async function* rest(): AsyncGenerator<Buffer> {
    if (first.done) return;
    yield first.value;
    yield* it;
  }
  const stream = Readable.from(rest(), { objectMode: false, highWaterMark: 64 * 1024 });
  // Destroyed before it was read at all: rest() never started, so end the command here.
  stream.once('close', () => {
    void it.return(undefined).catch(noop);
  });
  return stream;
}
