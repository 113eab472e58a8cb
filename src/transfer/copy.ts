// What copyToPod (upload.ts) and copyFromPod (download.ts) share: their options and result, the
// pod and container a copy runs in, the commands' error reports, and the checksum comparison that
// follows every copy (unless `verify: false`).

import { randomBytes } from 'node:crypto';
import { RemoteError, UsageError, exec, run, type ExecSession, type RunResult } from '../exec/index.ts';
import { resolveSessionTarget, type KubeClient, type ResolvedTarget } from '../kube/index.ts';
import * as cmd from './commands.ts';
import { IntegrityError, TransferError } from './errors.ts';
import type { ExtractLimits } from './extract.ts';
import type { RemoteSpec } from './filespec.ts';
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

async function context(client: KubeClient, remote: RemoteSpec, options: CopyOptions): Promise<Ctx> {
  if (!remote.path) throw new TransferError('ERR_TRANSFER_FILESPEC', 'remote path cannot be empty');
  const namespace = remote.namespace ?? options.namespace;
  const target = await resolveSessionTarget(client, remote.pod, {
    ...(namespace ? { namespace } : {}),
    ...(options.container ? { container: options.container } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return contextOf(client, target, options);
}

function contextOf(client: KubeClient, target: ResolvedTarget, options: CopyOptions): Ctx {
  return {
    client,
    target,
    signal: options.signal,
    warn: options.onWarning ?? noop,
    where: `container "${target.container}" of pod ${target.namespace}/${target.pod}`,
  };
}

/**
 * The context a copy's sessions may start with while context() still looks the target up, when
 * the lookup cannot change it: a plain pod name and a named container make the exec URL the
 * lookup would confirm (or its error stands, and the sessions are dropped). Null otherwise.
 */
function guessedContext(client: KubeClient, remote: RemoteSpec, options: CopyOptions): Ctx | null {
  if (!options.container || !remote.path || remote.pod.includes('/')) return null;
  const namespace = remote.namespace ?? options.namespace;
  return contextOf(client, { namespace: namespace || client.namespace, pod: remote.pod, container: options.container }, options);
}

/** Whether context()'s answer is the guessed one (it always is: resolvePod keeps a named pod, namespace and container). */
function confirms(ctx: Ctx, guessed: Ctx): boolean {
  return ctx.target.namespace === guessed.target.namespace && ctx.target.pod === guessed.target.pod && ctx.target.container === guessed.target.container;
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

/** A stepped session (commands.statThenVerify, statTarVerify, uploadSteps): several commands for one session's cost. */
interface Stepped {
  /** Its session: with steps on stderr, the caller reads stdout. */
  readonly session: ExecSession;
  /** The mark that ends each step (commands.stepMark). */
  readonly mark: string;
  /**
   * The next step's output and exit status (stderr: what came on stderr since the step before, as
   * far as it arrived, for steps on stdout). Null when the script ended before it; rejects with
   * the session's failure (no shell, a lost connection).
   */
  next(): Promise<RunResult<string> | null>;
  /** A line for the script to read (a session opened with `stdin`). */
  send(line: string): void;
  /** End it: stdin ends (the script reads no more lines), or, without stdin, the session is aborted. */
  stop(): void;
}

/**
 * Runs the script `command(token)` makes (its steps end with commands.stepMark(token) lines, on
 * stdout, or on stderr with `stepsOn: 'stderr'`) and reads its steps as they come.
 */
function stepped(ctx: Ctx, command: (token: string) => string[], options: { stdin: boolean; stepsOn?: 'stdout' | 'stderr'; signal?: AbortSignal | undefined }): Stepped {
  const token = cmd.stepToken(randomBytes(8).toString('hex'));
  const mark = cmd.stepMark(token);
  const session = exec(ctx.client, { ...sessionOptions(ctx, options.signal ?? ctx.signal), command: command(token), stdin: options.stdin, stdout: true, stderr: true });
  const onStderr = options.stepsOn === 'stderr';
  const stepStream = onStderr ? session.stderr! : session.stdout!;
  const steps: RunResult<string>[] = [];
  const waiting: Array<{ resolve: (r: RunResult<string> | null) => void; reject: (err: unknown) => void }> = [];
  let out = '';
  let errText = '';
  let ended: { failure: unknown } | null = null;
  const settle = () => {
    while (waiting.length > 0 && (steps.length > 0 || ended)) {
      const w = waiting.shift()!;
      if (steps.length > 0) w.resolve(steps.shift()!);
      else if (ended!.failure) w.reject(ended!.failure);
      else w.resolve(null);
    }
  };
  session.stdin?.on('error', noop);
  if (!onStderr) {
    session.stderr!.setEncoding('utf8');
    session.stderr!.on('data', (text: string) => {
      if (errText.length < 65536) errText += text;
    });
    session.stderr!.on('error', noop);
  }
  stepStream.setEncoding('utf8');
  stepStream.on('data', (text: string) => {
    out += text;
    for (let at = out.indexOf(mark); at >= 0; at = out.indexOf(mark)) {
      const eol = out.indexOf('\n', at + mark.length);
      if (eol < 0) break;
      steps.push({ stdout: out.slice(0, at), stderr: errText, exitCode: Number(out.slice(at + mark.length, eol)) });
      errText = '';
      out = out.slice(eol + 1);
    }
    // Text that holds no mark for long is no step's (a step's output is a few lines).
    if (out.length > 1024 * 1024) out = out.slice(-mark.length - 16);
    settle();
  });
  stepStream.on('error', noop);
  // Every step that was printed is read before the end is told.
  const stepsDone = new Promise<void>((resolve) => {
    stepStream.once('end', resolve);
    stepStream.once('close', resolve);
  });
  session.exit.then(
    () => null,
    (err: unknown) => err,
  ).then(async (failure) => {
    if (!failure) await stepsDone;
    ended = { failure };
    settle();
  });
  return {
    session,
    mark,
    next: () => new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      settle();
    }),
    send: (line) => {
      if (!ended) session.stdin?.write(`${line}\n`);
    },
    stop: () => {
      if (ended) return;
      if (session.stdin) session.stdin.end('stop\n');
      else session.abort(new Error('the copy stopped'));
    },
  };
}

function collectText(stream: NodeJS.ReadableStream | null): Promise<string> {
  // Already destroyed (a session that failed before anyone read it): no more events will come.
  if (!stream || (stream as NodeJS.ReadableStream & { destroyed?: boolean }).destroyed) return Promise.resolve('');
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

export {
  collectText,
  confirms,
  context,
  diagnoseNoTar,
  forwardStderr,
  guessedContext,
  noop,
  noShell,
  notFound,
  remoteFailure,
  runIn,
  sessionOptions,
  stepped,
  validateCopy,
  verifyRemote,
  type Ctx,
  type Stepped,
};
