// copyFromPod: kubectl cp's download with stricter defaults: argv instead of shell strings, a
// path-guarded untar of the container's `tar c`, a no-tar fallback (`cat`) for single files,
// downloads resumed after a broken connection, and nothing half-written under a final name.

import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path, { posix } from 'node:path';
import { exec, type ExecSession, type RunResult } from '../exec/index.ts';
import type { KubeClient } from '../kube/index.ts';
import * as cmd from './commands.ts';
import { collectText, confirms, context, diagnoseNoTar, forwardStderr, guessedContext, isMissingExecutable, noop, noShell, notFound, remoteFailure, runIn, sessionOptions, stepped, validateCopy, verifyRemote, type CopyOptions, type CopyResult, type Ctx, type Stepped } from './copy.ts';
import { IntegrityError, TransferError } from './errors.ts';
import { canonicalDestination, extractTar } from './extract.ts';
import { cleanRemote, tarPrefix, type RemoteSpec } from './filespec.ts';
import { ProgressReporter } from './progress.ts';

/**
 * Session failures worth resuming after: the connection broke or went silent. Everything else —
 * a protocol error, a corrupt or unsafe archive, the command's own failure — fails at once.
 */
const retryableCodes = new Set(['ERR_CONNECTION_LOST', 'ERR_TIMEOUT']);

/**
 * The bytes of a command's stdout, resumed after a broken connection with `commandAt(offset)`
 * up to `retries` times (negative: no limit). Fails with the command's exit code and stderr.
 * `first`: the session of `commandAt(0)`, already started, and its command's stderr when the
 * session's own stderr carries more (statTarVerify's steps).
 */
async function* remoteBytes(ctx: Ctx, what: string, commandAt: (offset: number) => string[], retries: number, first?: { session: ExecSession; stderr?: Promise<string> }): AsyncGenerator<Buffer> {
  let offset = 0;
  for (let attempt = 0; ; attempt++) {
    const session = attempt === 0 && first ? first.session : exec(ctx.client, { ...sessionOptions(ctx), command: commandAt(offset), stdout: true, stderr: true });
    const stderr = (attempt === 0 && first?.stderr) || collectText(session.stderr);
    let finished = false;
    try {
      try {
        for await (const chunk of session.stdout! as AsyncIterable<Buffer>) {
          offset += chunk.length;
          yield chunk;
        }
      } catch {
        // The session's exit says why.
      }
      let failure: unknown = null;
      let code = 0;
      try {
        code = (await session.exit).code;
      } catch (err) {
        failure = err;
      }
      finished = true;
      const errText = await stderr;
      if (!failure) {
        if (code !== 0) throw remoteFailure(ctx, what, code, errText);
        forwardStderr(ctx, errText);
        return;
      }
      const retryable = retryableCodes.has((failure as { code?: string }).code ?? '');
      if (!retryable || (retries >= 0 && attempt >= retries)) {
        if (retryable && retries !== 0) ctx.warn(`warning: dropping out of the copy after ${attempt} retries`);
        throw failure;
      }
      ctx.warn(`warning: ${(failure as Error).message}; resuming copy at ${offset} bytes, retry ${attempt + 1}/${retries < 0 ? 'unlimited' : retries}`);
    } finally {
      // The consumer stopped early (an unsafe member, an abort): end the remote command.
      if (!finished) session.abort(new Error('the copy stopped'));
    }
  }
}

/**
 * statTarVerify's first step, which its stdout carries before the archive: read up to its mark,
 * and the bytes after it put back for the archive's reader. Null when the session ended without
 * it (no tar) or could not start (no shell).
 */
async function headStep(one: Stepped): Promise<RunResult<string> | null> {
  const stream = one.session.stdout!;
  stream.on('error', noop);
  let head: Buffer = Buffer.alloc(0);
  for (;;) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      head = head.length > 0 ? Buffer.concat([head, chunk]) : chunk;
      const at = head.indexOf(one.mark);
      const eol = at >= 0 ? head.indexOf(10, at + one.mark.length) : -1;
      if (eol >= 0) {
        if (eol + 1 < head.length) stream.unshift(head.subarray(eol + 1));
        return { stdout: head.subarray(0, at).toString(), stderr: '', exitCode: Number(head.subarray(at + one.mark.length, eol).toString()) };
      }
      // stat's answer is one line: this is something else.
      if (head.length > 65536) return null;
      continue;
    }
    if (stream.readableEnded || stream.destroyed) break;
    await new Promise<void>((resolve) => {
      const done = () => {
        stream.off('readable', done);
        stream.off('end', done);
        stream.off('close', done);
        resolve();
      };
      stream.on('readable', done);
      stream.on('end', done);
      stream.on('close', done);
    });
  }
  try {
    await one.session.exit;
  } catch (err) {
    if (!isMissingExecutable(err)) throw err;
  }
  return null;
}

/**
 * statPath's answer: the first step of `steps` when there are steps (statThenVerify), else a
 * session of its own (also when the steps' shell is missing). Null when the container has no stat.
 */
async function statRemote(ctx: Ctx, remotePath: string, steps: Stepped | null): Promise<RunResult<string> | null> {
  if (steps) {
    try {
      const r = await steps.next();
      // 127: the shell found no stat.
      if (r && r.exitCode === 127) return null;
      if (r) return r.exitCode === 0 ? r : { stdout: '', stderr: r.stdout, exitCode: r.exitCode };
    } catch (err) {
      if (!isMissingExecutable(err)) throw err;
    }
  }
  try {
    return await runIn(ctx, cmd.statPath(remotePath));
  } catch (err) {
    if (isMissingExecutable(err)) return null;
    throw err;
  }
}

/** Without stat: a shell tells what the path is. Null when there is no shell. */
async function kindWithShell(ctx: Ctx, remotePath: string): Promise<'file' | 'directory' | 'missing' | 'other' | null> {
  const script = 'if [ -d "$1" ]; then echo directory; elif [ -f "$1" ]; then echo file; elif [ -e "$1" ]; then echo other; else echo missing; fi';
  try {
    const r = await runIn(ctx, ['sh', '-c', script, 'sh', remotePath]);
    const kind = r.stdout.trim();
    return kind === 'file' || kind === 'directory' || kind === 'missing' ? kind : 'other';
  } catch (err) {
    if (isMissingExecutable(err)) return null;
    throw err;
  }
}

function localWriteError(err: unknown, file: string): TransferError {
  if (err instanceof TransferError) return err;
  return new TransferError('ERR_TRANSFER_LOCAL', `cannot write "${file}": ${(err as Error).message}`, { cause: err });
}

/**
 * Copy a file or directory out of a container, as `kubectl cp POD:PATH LOCAL`: a directory's
 * contents land in LOCAL (created as needed); a file becomes LOCAL, or LOCAL/<name> when LOCAL is
 * an existing directory. Nothing is ever written outside LOCAL, and no file is left half-written
 * under its final name.
 * @example
 * const r = await copyFromPod(client, { pod: 'demo', path: '/var/log/app' }, './logs', { retries: 3 });
 */
export async function copyFromPod(client: KubeClient, remote: RemoteSpec, localPath: string, options: CopyOptions = {}): Promise<CopyResult> {
  validateCopy('copyFrom', localPath, remote, options);
  const preserve = options.preserve ?? true;
  const verify = options.verify ?? true;
  const retries = options.retries ?? 0;
  // The target lookup and the sessions overlap where the lookup cannot change the target.
  const guessed = guessedContext(client, remote, options);
  const lookup = context(client, remote, options);
  if (guessed) lookup.catch(noop);
  const ctx = guessed ?? (await lookup);
  const remotePath = cleanRemote(remote.path);
  const progress = new ProgressReporter(options.onProgress, 'download');

  // Ends the remote command when the untar fails first (an unsafe member, a cap).
  const stop = new AbortController();
  const streamCtx = { ...ctx, signal: ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal };
  let started: { session: ExecSession; stderr?: Promise<string> } | undefined;
  const unchecked = new AbortController();
  let early: Promise<RunResult<string>> | undefined;
  const unstarted = () => {
    started?.session.abort(new Error('the copy stopped'));
    started = undefined;
  };
  // One session where it can: stat, the archive and a single file's checksum, all from
  // statTarVerify. Else (no tar, a symbolic link, no shell) the sessions below.
  const one = verify ? stepped(streamCtx, (token) => cmd.statTarVerify(remotePath, token), { stdin: false, stepsOn: 'stderr' }) : null;

  // What the path is (and its size, for progress): cheap, and a clear "no such file".
  let info: cmd.StatInfo | null = null;
  let tarPath = remotePath;
  let dereference = false;
  let dest: string;
  try {
    if (guessed && !confirms(await lookup, guessed)) throw new TransferError('ERR_TRANSFER_REMOTE', `the copy's target changed while it was looked up: ${(await lookup).where}, not ${guessed.where}`);
    const head = one ? await headStep(one) : null;
    const known = head?.exitCode === 0 ? cmd.parseStat(head.stdout) : null;
    if (one && known && (known.type === 'file' || known.type === 'directory')) {
      info = known;
      // tar's own messages, then (for a file) the container's checksum, after the archive.
      started = { session: one.session, stderr: one.next().then((r) => r?.stdout ?? '', () => '') };
      if (known.type === 'file') {
        early = one.next().then(
          (checked) => checked ?? runIn(ctx, cmd.verifyFiles([remotePath])),
          () => runIn(ctx, cmd.verifyFiles([remotePath])),
        );
        early.catch(noop);
      }
    } else {
      one?.stop();
      if (head && head.exitCode !== 0 && head.exitCode !== 127 && /no such file|not a directory/i.test(head.stdout)) throw notFound(ctx, remotePath);
      let r: RunResult<string> | null;
      if (known) {
        // A symbolic link or a special file: stat answered already.
        r = head;
      } else {
        // The archive's session starts while stat runs (one round trip instead of two): for
        // anything but a symbolic link its command is already the right one, and its bytes wait,
        // with backpressure, until stat said what they are.
        started = { session: exec(ctx.client, { ...sessionOptions(streamCtx), command: cmd.tarCreate(remotePath), stdout: true, stderr: true }) };
        // Stat runs in the session that then, for a single file, computes its checksum in the
        // container while its bytes travel: no round trip waits on stat.
        const steps = verify ? stepped(ctx, (token) => cmd.statThenVerify(remotePath, token), { stdin: false, signal: ctx.signal ? AbortSignal.any([ctx.signal, unchecked.signal]) : unchecked.signal }) : null;
        r = await statRemote(ctx, remotePath, steps);
        if (steps && r?.exitCode === 0) {
          early = steps.next().then((checked) => checked ?? runIn(ctx, cmd.verifyFiles([remotePath])));
          early.catch(noop);
        }
      }
      if (r?.exitCode === 0) info = cmd.parseStat(r.stdout);
      else if (r && /no such file|not a directory/i.test(r.stderr)) throw notFound(ctx, remotePath);
    }
    // A symlink named by the user is followed (tar alone would archive the link, which is then
    // skipped): `h` for a file, `PATH/.` for a directory. Links inside a directory stay skipped.
    if (info?.type === 'symlink') {
      unstarted();
      const r = await runIn(ctx, cmd.statTarget(remotePath));
      const target = r.exitCode === 0 ? cmd.parseStat(r.stdout) : null;
      if (!target) throw new TransferError('ERR_TRANSFER_NOT_FOUND', `${remotePath} is a symbolic link to nothing in ${ctx.where}: ${r.stderr.trim()}`);
      info = target;
      if (target.type === 'directory') tarPath = remotePath === '/' ? '/.' : `${remotePath}/.`;
      else dereference = true;
    }
    if (info?.type === 'file') progress.totalBytes = info.size;
    dest = await canonicalDestination(localPath);
  } catch (err) {
    unstarted();
    one?.stop();
    unchecked.abort(new Error('the copy stopped'));
    throw err;
  }
  if (info?.type !== 'file') {
    unchecked.abort(new Error('not a single file'));
    early = undefined;
  }

  let result;
  try {
    result = await extractTar(
      remoteBytes(streamCtx, `tar -c of ${remotePath}`, (offset) => (offset === 0 ? cmd.tarCreate(tarPath, dereference) : cmd.tarCreateFrom(tarPath, offset, dereference)), retries, started),
      {
        prefix: tarPrefix(remotePath),
        dest,
        preserve,
        expect: info?.type === 'file' ? 'file' : 'any',
        onWarning: ctx.warn,
        onBytes: (n, file) => progress.add(n, file || posix.basename(remotePath)),
        ...(options.limits ? { limits: options.limits } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
  } catch (err) {
    stop.abort();
    if (!isMissingExecutable(err)) throw err;
    let kind: string | null = info?.type ?? null;
    if (!info) {
      kind = await kindWithShell(ctx, remotePath);
      if (kind === null) throw noShell(ctx);
    }
    if (kind === 'missing') throw notFound(ctx, remotePath);
    if (kind === 'directory') throw await diagnoseNoTar(ctx, false);
    progress.phase('download', info?.size);
    return catDownload(ctx, remotePath, dest, info, { preserve, verify, retries }, progress);
  }
  progress.flush();
  if (verify) {
    const items = result.files.map((f) => {
      const remoteFile = f.name === '' ? remotePath : posix.join(remotePath, f.name);
      return { remote: remoteFile, label: f.path, sha256: f.sha256, size: f.size };
    });
    let verified: CopyResult['verified'];
    try {
      verified = await verifyRemote(ctx, items, progress, items.length === 1 && items[0]!.remote === remotePath ? early : undefined);
    } catch (err) {
      await result.discard();
      // A directory's file with the wrong bytes goes (a single file was never renamed into place).
      if (err instanceof IntegrityError && info?.type !== 'file') await unlink(err.file).catch(noop);
      throw err;
    }
    await result.commit();
    return { files: result.files.length, bytes: result.bytes, verified, method: 'tar' };
  }
  await result.commit();
  return { files: result.files.length, bytes: result.bytes, verified: 'none', method: 'tar' };
}

/** No tar: `cat FILE` (resumed with `tail -c +N FILE`) into a temp file, verified, then renamed. */
async function catDownload(
  ctx: Ctx,
  remotePath: string,
  dest: string,
  info: cmd.StatInfo | null,
  options: { preserve: boolean; verify: boolean; retries: number },
  progress: ProgressReporter,
): Promise<CopyResult> {
  let target = dest;
  const existing = await lstat(dest).catch(() => null);
  if (existing?.isDirectory()) target = path.join(dest, posix.basename(remotePath));
  const tmp = path.join(path.dirname(target), cmd.tempName(randomBytes(4).toString('hex')));
  const mode = options.preserve && info ? info.mode & 0o777 : 0o666;
  const hash = createHash('sha256');
  let size = 0;
  let fh: FileHandle | null = null;
  try {
    try {
      fh = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, mode);
    } catch (err) {
      throw localWriteError(err, target);
    }
    const name = posix.basename(remotePath);
    for await (const chunk of remoteBytes(ctx, `cat ${remotePath}`, (offset) => (offset === 0 ? cmd.catRead(remotePath) : cmd.catReadFrom(remotePath, offset)), options.retries)) {
      hash.update(chunk);
      size += chunk.length;
      await fh.write(chunk);
      progress.add(chunk.length, name);
    }
    await fh.close();
    fh = null;
    progress.flush();
    const sha256 = hash.digest('hex');
    const verified = options.verify ? await verifyRemote(ctx, [{ remote: remotePath, label: target, sha256, size }], progress) : 'none';
    const now = await lstat(target).catch(() => null);
    if (now?.isDirectory()) throw new TransferError('ERR_TRANSFER_UNSAFE', `cannot overwrite directory "${target}" with a file`);
    try {
      await rename(tmp, target);
    } catch (err) {
      throw localWriteError(err, target);
    }
    return { files: 1, bytes: size, verified, method: 'cat' };
  } catch (err) {
    await fh?.close().catch(noop);
    await unlink(tmp).catch(noop);
    throw err;
  }
}
