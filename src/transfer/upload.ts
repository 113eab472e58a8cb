// copyToPod: kubectl cp's upload with stricter defaults: argv instead of shell strings, tar
// streamed into the container, a no-tar fallback (`cat`) for single files, and a single file
// written under a temp name, verified, then renamed into place.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path, { posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exec, type ExecSession, type RunResult } from '../exec/index.ts';
import type { KubeClient } from '../kube/index.ts';
import * as cmd from './commands.ts';
import { collectText, confirms, context, diagnoseNoTar, forwardStderr, guessedContext, isMissingExecutable, noop, noShell, remoteFailure, runIn, sessionOptions, stepped, validateCopy, verifyRemote, type CopyOptions, type CopyResult, type Ctx, type Stepped } from './copy.ts';
import { TransferError } from './errors.ts';
import { cleanRemote, uploadTarget, type RemoteSpec } from './filespec.ts';
import { packEntries, walk, type PackEntry } from './pack.ts';
import { ProgressReporter } from './progress.ts';

function tarSession(ctx: Ctx, dir: string, preserve: boolean): ExecSession {
  return exec(ctx.client, { ...sessionOptions(ctx), command: cmd.tarExtract(dir, preserve), stdin: true, stdout: true, stderr: true });
}

/** `session`: tarSession(ctx, dir, preserve), already started (nothing written to it yet). */
async function tarUpload(ctx: Ctx, entries: readonly PackEntry[], dir: string, preserve: boolean, progress: ProgressReporter, display?: string, session = tarSession(ctx, dir, preserve)): Promise<Map<string, string>> {
  const packed = packEntries(entries, { onBytes: (n, name) => progress.add(n, display ?? name) });
  const stdout = collectText(session.stdout);
  const stderr = collectText(session.stderr);
  let localError: unknown = null;
  packed.hashes.catch((err: unknown) => {
    localError = err;
    session.abort(err);
  });
  const piping = pipeline(packed.stream, session.stdin!).catch(noop);
  let status;
  try {
    status = await session.exit;
  } catch (err) {
    if (localError && (err as { code?: string }).code === 'ERR_ABORTED') throw localError;
    throw err;
  }
  await piping;
  const [, errText] = await Promise.all([stdout, stderr]);
  if (status.code !== 0) throw remoteFailure(ctx, `tar -x into ${dir}`, status.code, errText);
  forwardStderr(ctx, errText);
  return packed.hashes;
}

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

/**
 * The session that ends a single file's upload (commands.uploadSteps): the directory test of
 * `test` (when given), then, each when asked, the check of the temp file and its rename. It opens
 * while the copy runs, and each step then costs only its command.
 */
function finishSteps(ctx: Ctx, test: string, tmp: string, finalPath: string): Stepped {
  return stepped(ctx, (token) => cmd.uploadSteps(test, tmp, finalPath, token), { stdin: true });
}

/**
 * The sessions of a single file's upload onto `finalPath`, started before it is known for sure
 * (the destination may turn out to be a directory): tar -x into its folder (nothing written to it
 * until used), and the steps that test the destination, then check the temp file and rename it.
 * `drop()` ends them unused.
 */
function speculate(ctx: Ctx, remotePath: string, finalPath: string, preserve: boolean) {
  const tmp = posix.join(posix.dirname(finalPath), cmd.tempName(randomBytes(4).toString('hex')));
  const tar = tarSession(ctx, posix.dirname(finalPath), preserve);
  tar.exit.catch(noop);
  const steps = finishSteps(ctx, remotePath, tmp, finalPath);
  return {
    finalPath,
    tmp,
    tar,
    steps,
    drop() {
      tar.abort(new Error('the upload went elsewhere'));
      steps.stop();
    },
  };
}

/** Whether PATH is a directory in the container: the first of `steps` when given, else `test -d`. False when neither runs. */
async function isRemoteDirectory(ctx: Ctx, remotePath: string, steps: Stepped | undefined): Promise<boolean> {
  if (steps) {
    try {
      const r = await steps.next();
      if (r) return r.exitCode === 0;
    } catch (err) {
      if (!isMissingExecutable(err)) throw err;
    }
  }
  try {
    return (await runIn(ctx, cmd.testDirectory(remotePath))).exitCode === 0;
  } catch (err) {
    // No `test`: the copy itself will say what else is missing.
    if (!isMissingExecutable(err)) throw err;
    return false;
  }
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
  // A single file's sessions and the target lookup overlap where the lookup cannot change the target.
  const guessed = source.isFile() ? guessedContext(client, remote, options) : null;
  const lookup = context(client, remote, options);
  if (guessed) lookup.catch(noop);
  const ctx = guessed ?? (await lookup);
  const remotePath = cleanRemote(remote.path);
  const localName = (p: string) => path.basename(path.resolve(p));
  // A single file's sessions start with the directory test, for the destination it names when it
  // is not a directory (no round trip waits on the test); they are dropped, unused, when it is one.
  const guess = source.isFile() ? speculate(ctx, remotePath, uploadTarget(localPath, remotePath, false, localName), preserve) : null;
  let destIsDir: boolean;
  try {
    if (guessed && !confirms(await lookup, guessed)) throw new TransferError('ERR_TRANSFER_REMOTE', `the copy's target changed while it was looked up: ${(await lookup).where}, not ${guessed.where}`);
    destIsDir = await isRemoteDirectory(ctx, remotePath, guess?.steps);
  } catch (err) {
    guess?.drop();
    throw err;
  }
  const finalPath = uploadTarget(localPath, remotePath, destIsDir, localName);
  const dir = posix.dirname(finalPath);
  const progress = new ProgressReporter(options.onProgress, 'upload');
  const ready = guess && !destIsDir && guess.finalPath === finalPath ? guess : null;
  if (guess && !ready) guess.drop();

  if (source.isDirectory()) {
    const walked = await walk(localPath, posix.basename(finalPath), warn);
    progress.totalBytes = walked.totalBytes;
    let hashes: Map<string, string>;
    try {
      hashes = await tarUpload(ctx, walked.entries, dir, preserve, progress);
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

  const tmp = ready?.tmp ?? posix.join(dir, cmd.tempName(randomBytes(4).toString('hex')));
  let walked;
  try {
    walked = await walk(localPath, posix.basename(tmp), warn);
  } catch (err) {
    ready?.drop();
    throw err;
  }
  const entry = walked.entries[0];
  if (!entry || entry.type !== 'file') {
    ready?.drop();
    throw new TransferError('ERR_TRANSFER_LOCAL', `${localPath} is not a regular file or directory`);
  }
  progress.totalBytes = entry.size;
  let method: CopyResult['method'] = 'tar';
  // The check and the rename wait for the copy in a session that opens meanwhile.
  const steps = ready?.steps ?? finishSteps(ctx, '', tmp, finalPath);
  try {
    let sha256: string;
    try {
      sha256 = (await tarUpload(ctx, [entry], dir, preserve, progress, posix.basename(finalPath), ready?.tar)).get(entry.name)!;
    } catch (err) {
      if (!isMissingExecutable(err)) throw err;
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
    // A step that did not run (no shell, or the waiting session was lost: a kubelet's
    // streaming-connection-idle-timeout ends an idle session) runs afresh in a session of its own.
    let checked: Promise<RunResult<string>> | undefined;
    if (verify) {
      steps.send('check');
      checked = steps.next().then(
        (r) => r ?? runIn(ctx, cmd.verifyFiles([tmp])),
        () => runIn(ctx, cmd.verifyFiles([tmp])),
      );
    }
    const verified = checked ? await verifyRemote(ctx, [{ remote: tmp, label: finalPath, sha256, size: entry.size }], progress, checked) : 'none';
    steps.send('rename');
    const renamed = await steps.next().catch(() => null);
    // The rename step's errors are its output.
    if (!renamed) await renameRemote(ctx, tmp, finalPath);
    else if (renamed.exitCode !== 0) throw remoteFailure(ctx, `moving the copy onto ${finalPath}`, renamed.exitCode, renamed.stdout);
    return { files: 1, bytes: entry.size, verified, method };
  } catch (err) {
    steps.stop();
    await removeRemote(ctx, tmp);
    throw err;
  }
}
