// copyToPod / copyFromPod: kubectl cp's semantics (PROTOCOL.md §8) with stricter defaults: argv
// instead of shell strings, an atomic single-file upload, a no-tar fallback for single files, a
// path-guarded untar, resumable downloads, and a checksum comparison after every copy.

import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { lstat, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path, { posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RemoteError, UsageError, exec, run, type RunResult } from '../exec/index.ts';
import type { KubeClient, ResolvedTarget } from '../kube/index.ts';
import * as cmd from './commands.ts';
import { IntegrityError, TransferError } from './errors.ts';
import { canonicalDestination, extractTar, type ExtractLimits } from './extract.ts';
import { cleanRemote, tarPrefix, uploadTarget, type RemoteSpec } from './filespec.ts';
import { packEntries, walk, type PackEntry } from './pack.ts';
import { ProgressReporter, type CopyProgress } from './progress.ts';

export interface CopyOptions {
  /** Default: the pod's `kubectl.kubernetes.io/default-container`, else its first container. */
  container?: string;
  /** Used when the RemoteSpec names none. Default: the kubeconfig context's namespace. */
  namespace?: string;
  /**
   * Keep permission bits (and, when tar in the pod runs as root, numeric owners) as tar keeps
   * them; downloads keep permission bits (never setuid/setgid/sticky) and mtimes. `false` is
   * kubectl's `--no-preserve`. [default true]
   */
  preserve?: boolean;
  /**
   * Downloads: when the connection breaks, resume from the last byte received (`tail -c +N` in the
   * pod), up to this many times; negative = without limit. The result is verified either way. [default 0]
   */
  retries?: number;
  /**
   * Compare SHA-256 checksums after the copy (`sha256sum` in the container; byte counts when it
   * has none). A difference fails the copy with ERR_TRANSFER_INTEGRITY. [default true]
   */
  verify?: boolean;
  /** At most every ~100 ms while bytes flow, plus a closing event per phase. */
  onProgress?: (progress: CopyProgress) => void;
  /** Skipped symlinks and special files, resumed transfers, tar's own warnings (kubectl's wording). */
  onWarning?: (message: string) => void;
  /** Downloads: safety caps on the archive from the pod. [defaults: see ExtractLimits] */
  limits?: Partial<ExtractLimits>;
  signal?: AbortSignal;
}

export interface CopyResult {
  /** Regular files written. */
  files: number;
  /** Bytes of file content copied. */
  bytes: number;
  /** How the copy was checked: checksums, sizes (the container has no sha256sum), or not at all. */
  verified: 'sha256' | 'size' | 'none';
  /** 'cat' when the container has no tar (single files only). */
  method: 'tar' | 'cat';
}

interface Ctx {
  readonly client: KubeClient;
  readonly target: ResolvedTarget;
  readonly signal: AbortSignal | undefined;
  readonly warn: (message: string) => void;
  /** `container "main" of pod default/demo`. */
  readonly where: string;
}

const noop = () => {};

/**
 * The arguments as a plain-JavaScript caller may pass them: anything. What TypeScript would have
 * refused becomes a UsageError naming the argument, never a TypeError from deep inside.
 */
function validateCopy(name: string, localPath: unknown, remote: unknown, options: unknown): void {
  if (typeof localPath !== 'string' || localPath === '') throw new UsageError(`${name} needs a local path (a non-empty string)`);
  if (typeof remote !== 'object' || remote === null) throw new UsageError(`${name} needs a remote spec: { pod, path, namespace? }`);
  const r = remote as Record<string, unknown>;
  if (typeof r['pod'] !== 'string' || r['pod'] === '') throw new UsageError(`${name} needs remote.pod: a pod name or TYPE/NAME`);
  if (typeof r['path'] !== 'string') throw new UsageError(`${name} needs remote.path: a path in the container`);
  if (r['namespace'] !== undefined && typeof r['namespace'] !== 'string') throw new UsageError(`remote.namespace must be a string, not ${typeof r['namespace']}`);
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new UsageError(`${name} options must be an object`);
}

async function context(client: KubeClient, remote: RemoteSpec, options: CopyOptions): Promise<Ctx> {
  if (!remote.path) throw new TransferError('ERR_TRANSFER_FILESPEC', 'remote path cannot be empty');
  const namespace = remote.namespace ?? options.namespace;
  const [target] = await client.resolveTargets(remote.pod, {
    ...(namespace ? { namespace } : {}),
    ...(options.container ? { container: options.container } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!target) throw new TransferError('ERR_TRANSFER_NOT_FOUND', `"${remote.pod}" matched no pod`);
  return {
    client,
    target,
    signal: options.signal,
    warn: options.onWarning ?? noop,
    where: `container "${target.container}" of pod ${target.namespace}/${target.pod}`,
  };
}

function sessionOptions(ctx: Ctx, signal: AbortSignal | undefined = ctx.signal) {
  return {
    target: { pod: ctx.target.pod },
    namespace: ctx.target.namespace,
    container: ctx.target.container,
    ...(signal ? { signal } : {}),
  };
}

function runIn(ctx: Ctx, command: string[], signal: AbortSignal | undefined = ctx.signal): Promise<RunResult<string>> {
  return run(ctx.client, { ...sessionOptions(ctx, signal), command });
}

/** How a container runtime reports a command that is not there (runc/crun through the API server). */
export function isMissingExecutable(err: unknown): boolean {
  return err instanceof RemoteError && /executable file not found|exec: "[^"]*": stat [^:]*: no such file or directory/i.test(err.message);
}

function remoteFailure(ctx: Ctx, what: string, code: number, stderr: string): TransferError {
  const text = stderr.trim().split('\n').slice(-5).join('; ');
  return new TransferError('ERR_TRANSFER_REMOTE', `${what} failed in ${ctx.where} with exit code ${code}${text ? `: ${text}` : ' and no message'}`);
}

function notFound(ctx: Ctx, remotePath: string): TransferError {
  return new TransferError('ERR_TRANSFER_NOT_FOUND', `${remotePath}: no such file or directory in ${ctx.where}`);
}

function noShell(ctx: Ctx): TransferError {
  return new TransferError(
    'ERR_TRANSFER_NO_SHELL',
    `cannot copy: ${ctx.where} has no tar and no shell (tried tar, then sh for the cat fallback). ` +
      'podshell needs tar in the container, or at least sh and cat for single files. Instead: use an image that includes tar, ' +
      `or copy through an ephemeral debug container that has them (kubectl debug -it -n ${ctx.target.namespace} ${ctx.target.pod} --image=busybox --target=${ctx.target.container}; ` +
      `the target's files are then under /proc/1/root)`,
  );
}

function noTar(ctx: Ctx, upload: boolean): TransferError {
  return new TransferError(
    'ERR_TRANSFER_NO_TAR',
    `copying a directory needs tar in the container; ${ctx.where} has a shell but no tar. ` +
      `Copy the files one by one (single files ${upload ? 'upload' : 'download'} without tar), or use an image that includes tar`,
  );
}

/** After `tar` was missing: is there at least a shell? */
async function diagnoseNoTar(ctx: Ctx, upload: boolean): Promise<TransferError> {
  try {
    await runIn(ctx, ['sh', '-c', 'exit 0']);
  } catch (err) {
    if (isMissingExecutable(err)) return noShell(ctx);
    throw err;
  }
  return noTar(ctx, upload);
}

function collectText(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (!stream) return Promise.resolve('');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      if (size < 65536) chunks.push(c);
      size += c.length;
    });
    stream.on('error', noop);
    stream.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** tar's notices worth passing on (not the routine "Removing leading `/'"). */
function forwardStderr(ctx: Ctx, stderr: string): void {
  for (const line of stderr.split('\n')) {
    if (line.trim() && !/Removing leading/.test(line)) ctx.warn(`warning: ${line}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Verification.

interface VerifyItem {
  /** Path in the container. */
  readonly remote: string;
  /** Path shown in messages. */
  readonly label: string;
  readonly sha256: string;
  readonly size: number;
}

/**
 * Compare each item's checksum computed while streaming with the container's (sizes when the
 * container has no sha256sum). `early`: the container's answer for a single item, started while
 * the bytes were still travelling.
 */
async function verifyRemote(ctx: Ctx, items: readonly VerifyItem[], progress: ProgressReporter, early?: Promise<RunResult<string>>): Promise<CopyResult['verified']> {
  progress.phase('verify', items.reduce((n, i) => n + i.size, 0));
  progress.flush();
  let method: CopyResult['verified'] = items.length === 0 ? 'sha256' : 'none';
  let offset = 0;
  for (const batch of cmd.batches(items.map((i) => i.remote))) {
    const part = items.slice(offset, offset + batch.length);
    offset += batch.length;
    let r: RunResult<string>;
    try {
      r = await (early && items.length === 1 ? early : runIn(ctx, cmd.verifyFiles(batch)));
    } catch (err) {
      if (!isMissingExecutable(err)) throw err;
      ctx.warn(`warning: cannot verify the copy: ${ctx.where} has no shell`);
      return 'none';
    }
    if (r.exitCode !== 0) {
      throw new TransferError('ERR_TRANSFER_INTEGRITY', `cannot verify the copy in ${ctx.where}: exit code ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-3).join('; ')}`);
    }
    const parsed = cmd.parseVerifyOutput(r.stdout, batch.length);
    if (!parsed) throw new TransferError('ERR_TRANSFER_INTEGRITY', `cannot verify the copy in ${ctx.where}: expected ${batch.length} checksums, found ${JSON.stringify(r.stdout.slice(0, 200))}`);
    if (parsed.method === 'none') {
      ctx.warn(`warning: cannot verify the copy: ${ctx.where} has neither sha256sum nor stat`);
      return 'none';
    }
    method = parsed.method;
    part.forEach((item, i) => {
      const found = parsed.values[i]!;
      const expected = parsed.method === 'sha256' ? item.sha256 : String(item.size);
      if (found !== expected) throw new IntegrityError(item.label, parsed.method, expected, found);
      progress.add(item.size, item.label);
    });
  }
  progress.flush();
  return method;
}

// ---------------------------------------------------------------------------------------------
// Upload.

async function tarUpload(ctx: Ctx, entries: readonly PackEntry[], dir: string, preserve: boolean, progress: ProgressReporter, display?: string): Promise<Map<string, string>> {
  const packed = packEntries(entries, { onBytes: (n, name) => progress.add(n, display ?? name) });
  const session = exec(ctx.client, { ...sessionOptions(ctx), command: cmd.tarExtract(dir, preserve), stdin: true, stdout: true, stderr: true });
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

async function runChecked(ctx: Ctx, command: string[], what: string): Promise<void> {
  const r = await runIn(ctx, command);
  if (r.exitCode !== 0) throw remoteFailure(ctx, what, r.exitCode, r.stderr);
}

async function renameRemote(ctx: Ctx, tmp: string, finalPath: string): Promise<void> {
  try {
    await runChecked(ctx, cmd.renameInto(tmp, finalPath), `moving the copy onto ${finalPath}`);
  } catch (err) {
    if (!isMissingExecutable(err)) throw err;
    await runChecked(ctx, ['mv', '-f', '--', tmp, finalPath], `moving the copy onto ${finalPath}`);
  }
}

/** Best effort, also after an abort: the temp name must not stay behind. */
async function removeRemote(ctx: Ctx, file: string): Promise<void> {
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

  const tmp = posix.join(dir, cmd.tempName(randomBytes(4).toString('hex')));
  const walked = await walk(localPath, posix.basename(tmp), warn);
  const entry = walked.entries[0];
  if (!entry || entry.type !== 'file') throw new TransferError('ERR_TRANSFER_LOCAL', `${localPath} is not a regular file or directory`);
  progress.totalBytes = entry.size;
  let method: CopyResult['method'] = 'tar';
  try {
    let sha256: string;
    try {
      sha256 = (await tarUpload(ctx, [entry], dir, preserve, progress, posix.basename(finalPath))).get(entry.name)!;
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
    const verified = verify ? await verifyRemote(ctx, [{ remote: tmp, label: finalPath, sha256, size: entry.size }], progress) : 'none';
    await renameRemote(ctx, tmp, finalPath);
    return { files: 1, bytes: entry.size, verified, method };
  } catch (err) {
    await removeRemote(ctx, tmp);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Download.

const retryableCodes = new Set(['ERR_CONNECTION_LOST', 'ERR_TIMEOUT']);

/**
 * The bytes of a command's stdout, resumed after a broken connection with `commandAt(offset)`
 * up to `retries` times (negative: no limit). Fails with the command's exit code and stderr.
 */
async function* remoteBytes(ctx: Ctx, what: string, commandAt: (offset: number) => string[], retries: number): AsyncGenerator<Buffer> {
  let offset = 0;
  for (let attempt = 0; ; attempt++) {
    const session = exec(ctx.client, { ...sessionOptions(ctx), command: commandAt(offset), stdout: true, stderr: true });
    const stderr = collectText(session.stderr);
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
  const ctx = await context(client, remote, options);
  const remotePath = cleanRemote(remote.path);
  const progress = new ProgressReporter(options.onProgress, 'download');

  // What the path is (and its size, for progress): cheap, and a clear "no such file".
  let info: cmd.StatInfo | null = null;
  try {
    const r = await runIn(ctx, cmd.statPath(remotePath));
    if (r.exitCode === 0) info = cmd.parseStat(r.stdout);
    else if (/no such file|not a directory/i.test(r.stderr)) throw notFound(ctx, remotePath);
  } catch (err) {
    if (!isMissingExecutable(err)) throw err;
  }
  // A symlink named by the user is followed (tar alone would archive the link, which is then
  // skipped): `h` for a file, `PATH/.` for a directory. Links inside a directory stay skipped.
  let tarPath = remotePath;
  let dereference = false;
  if (info?.type === 'symlink') {
    const r = await runIn(ctx, cmd.statTarget(remotePath));
    const target = r.exitCode === 0 ? cmd.parseStat(r.stdout) : null;
    if (!target) throw new TransferError('ERR_TRANSFER_NOT_FOUND', `${remotePath} is a symbolic link to nothing in ${ctx.where}: ${r.stderr.trim()}`);
    info = target;
    if (target.type === 'directory') tarPath = remotePath === '/' ? '/.' : `${remotePath}/.`;
    else dereference = true;
  }
  if (info?.type === 'file') progress.totalBytes = info.size;
  const dest = await canonicalDestination(localPath);

  // A single file's checksum is computed in the container while its bytes travel, not after.
  const early = verify && info?.type === 'file' ? runIn(ctx, cmd.verifyFiles([remotePath])) : undefined;
  early?.catch(noop);

  // Ends the remote command when the untar fails first (an unsafe member, a cap).
  const stop = new AbortController();
  const streamCtx = { ...ctx, signal: ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal };
  let result;
  try {
    result = await extractTar(
      remoteBytes(streamCtx, `tar -c of ${remotePath}`, (offset) => (offset === 0 ? cmd.tarCreate(tarPath, dereference) : cmd.tarCreateFrom(tarPath, offset, dereference)), retries),
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
