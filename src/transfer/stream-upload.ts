// uploadStream: a file's bytes from any Node Readable (an HTTP request body, a socket) into a
// container, its size possibly unknown in advance. The bytes go to a temp name beside the
// destination through `cat`'s stdin with backpressure, are hashed here while they stream, checked
// against the container's sha256sum, and only then renamed onto the destination. A failure, an
// abort or a size past the limit removes the temp file: a broken upload leaves nothing behind.
// cat (not tar) writes the file, so containers without tar ("slim") take uploads too.

import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { finished, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exec } from '../exec/index.ts';
import type { KubeClient } from '../kube/index.ts';
import * as cmd from './commands.ts';
import { collectText, context, isMissingExecutable, noShell, remoteFailure, runIn, sessionOptions, verifyRemote, type Ctx } from './copy.ts';
import { TransferError } from './errors.ts';
import { cleanRemote, type RemoteSpec } from './filespec.ts';
import { ProgressReporter } from './progress.ts';
import { removeRemote, renameRemote, runChecked } from './upload.ts';

export interface UploadStreamOptions {
  /** Default: the pod's `kubectl.kubernetes.io/default-container`, else its first container. */
  container?: string;
  /** Used when the RemoteSpec names none. Default: the kubeconfig context's namespace. */
  namespace?: string;
  /** Past this many bytes the upload stops with ERR_TRANSFER_LIMIT (and leaves nothing). [default: no limit] */
  maxBytes?: number;
  /** Permission bits of the new file. [default 0o644] */
  mode?: number;
  /** Aborting stops the upload and removes the temp file; the promise rejects with the reason (or ERR_ABORTED). */
  signal?: AbortSignal;
}

export interface UploadStreamResult {
  /** The file's path in the container (cleaned). */
  path: string;
  /** Bytes written. */
  size: number;
  /** SHA-256 of the bytes, hex. */
  sha256: string;
  /** How the container confirmed them: its own sha256, a byte count (no sha256sum), or not at all (neither). */
  verified: 'sha256' | 'size' | 'none';
}

/**
 * Write the bytes of `source` to `remote.path` in a container: temp name, verified, renamed.
 * `remote.path` names the file itself (an existing directory there is refused, never written into).
 * The source is read until it ends or the upload fails, never destroyed: it stays its owner's
 * (an HTTP server still answers on the request's socket).
 * @example
 * const r = await uploadStream(client, request, { pod: 'demo', path: '/tmp/upload.bin' }, { maxBytes: 2 ** 30 });
 */
export async function uploadStream(client: KubeClient, source: Readable, remote: RemoteSpec, options: UploadStreamOptions = {}): Promise<UploadStreamResult> {
  if (typeof remote?.path !== 'string' || remote.path === '' || remote.path.endsWith('/')) {
    throw new TransferError('ERR_TRANSFER_FILESPEC', `an upload needs the path of a file, not ${JSON.stringify(remote?.path)}`);
  }
  const finalPath = cleanRemote(remote.path);
  const ctx = await context(client, remote, options);
  const tmp = posix.join(posix.dirname(finalPath), cmd.tempName(randomBytes(4).toString('hex')));
  try {
    const { sha256, size } = await writeTemp(ctx, source, tmp, finalPath, options.maxBytes ?? Infinity);
    const mode = (options.mode ?? 0o644) & 0o7777;
    // Created 0600 (umask 077) so it stayed private while incomplete.
    await runChecked(ctx, cmd.chmod(tmp, mode), `chmod ${mode.toString(8)} ${tmp}`);
    const verified = await verifyRemote(ctx, [{ remote: tmp, label: finalPath, sha256, size }], new ProgressReporter(undefined, 'verify'));
    await renameRemote(ctx, tmp, finalPath);
    return { path: finalPath, size, sha256, verified };
  } catch (err) {
    await removeRemote(ctx, tmp);
    throw err;
  }
}

/**
 * Create the empty temp file (private: umask 077; `set -C` refuses an existing name). Run to the
 * end even when the upload is aborted meanwhile, so that the removal that follows comes after it.
 */
function createTemp(tmp: string): string[] {
  return ['sh', '-c', 'set -C; umask 077; : > "$1"', 'sh', tmp];
}

/**
 * stdin onto the end of the temp file, which must exist: a writer whose exec was aborted before
 * its shell even started finds the file removed and creates nothing behind the cleanup's back.
 * (No `exec`: the shell stays, and its command line names the file being written.)
 */
function appendTemp(tmp: string): string[] {
  return ['sh', '-c', 'if [ ! -f "$1" ]; then echo "$1: removed before the upload started" >&2; exit 1; fi; cat >> "$1"', 'sh', tmp];
}

/** The source's bytes into a new temp file through `cat`, hashed and counted on the way. */
async function writeTemp(ctx: Ctx, source: Readable, tmp: string, finalPath: string, maxBytes: number): Promise<{ sha256: string; size: number }> {
  let created;
  try {
    created = await runIn(ctx, createTemp(tmp), AbortSignal.timeout(60_000));
  } catch (err) {
    throw isMissingExecutable(err) ? noShell(ctx) : err;
  }
  if (created.exitCode !== 0) throw remoteFailure(ctx, `creating ${tmp}`, created.exitCode, created.stderr);
  ctx.signal?.throwIfAborted();
  const session = exec(ctx.client, { ...sessionOptions(ctx), command: appendTemp(tmp), stdin: true, stdout: true, stderr: true });
  const stdout = collectText(session.stdout);
  const stderr = collectText(session.stderr);
  const hash = createHash('sha256');
  let size = 0;
  // Why the upload stopped on this side (the source failed, the limit), if it did.
  let localError: unknown = null;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > maxBytes) {
        cb(new TransferError('ERR_TRANSFER_LIMIT', `the upload to ${finalPath} is larger than the limit of ${maxBytes} bytes`));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  counter.on('error', (err) => {
    localError ??= err;
  });
  // The source ending without its end (a client that went away) fails the upload.
  const stopWatching = finished(source, { writable: false }, (err) => {
    if (!err) return;
    localError ??= new TransferError('ERR_TRANSFER_LOCAL', `the upload to ${finalPath} broke off after ${size} bytes: ${err.message}`, { cause: err });
    counter.destroy(localError as Error);
  });
  const piping = pipeline(counter, session.stdin!).then(
    () => null,
    (err: unknown) => {
      // The source ended early or the limit was passed: stop the remote cat now. (A failure of
      // the session itself shows in its exit.)
      if (localError) session.abort(localError);
      return err;
    },
  );
  // pipe(), not pipeline(): a failure here unpipes the source and leaves it paused, never
  // destroyed (destroying a request would take its socket, and the error answer, with it).
  source.pipe(counter);
  let status;
  try {
    status = await session.exit;
  } catch (err) {
    await piping;
    source.unpipe(counter);
    stopWatching();
    if (localError) throw localError;
    if (isMissingExecutable(err)) throw noShell(ctx);
    throw err;
  }
  const pipeError = await piping;
  source.unpipe(counter);
  stopWatching();
  const [, errText] = await Promise.all([stdout, stderr]);
  if (localError) throw localError;
  if (status.code !== 0) throw remoteFailure(ctx, `writing ${tmp} with cat`, status.code, errText);
  if (pipeError) throw new TransferError('ERR_TRANSFER_REMOTE', `cat in ${ctx.where} stopped reading ${tmp} early: ${(pipeError as Error).message}`);
  return { sha256: hash.digest('hex'), size };
}
