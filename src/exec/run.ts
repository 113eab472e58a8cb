// The common cases on top of ExecSession: exec(), attach(), and run() which collects output.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { KubeClient } from '../kube/index.ts';
import { PodshellError } from '../protocol/index.ts';
import { UsageError } from './errors.ts';
import { ExecSession, type ExecOptions, type SessionOptions } from './session.ts';

export function exec(client: KubeClient, options: ExecOptions): ExecSession {
  return new ExecSession(client, 'exec', options);
}

export function attach(client: KubeClient, options: SessionOptions): ExecSession {
  return new ExecSession(client, 'attach', options);
}

export interface RunOptions extends Omit<ExecOptions, 'stdin' | 'stdout' | 'stderr'> {
  /** Sent to the command, then stdin is closed. */
  stdin?: string | Uint8Array | NodeJS.ReadableStream;
  /** 'utf8' (default) gives strings; 'buffer' gives the exact bytes. */
  encoding?: 'utf8' | 'buffer';
  /** Fail (ERR_MAX_BUFFER) when stdout or stderr exceeds this many bytes. [default 64 MiB] */
  maxBuffer?: number;
}

export interface RunResult<T extends string | Buffer = string> {
  readonly stdout: T;
  readonly stderr: T;
  readonly exitCode: number;
}

export class MaxBufferError extends PodshellError {
  constructor(stream: string, limit: number) {
    super('ERR_MAX_BUFFER', `${stream} exceeded maxBuffer (${limit} bytes); use exec() and stream the output instead`);
    this.name = 'MaxBufferError';
  }
}

function collect(stream: Readable | null, name: string, limit: number, onOverflow: (err: Error) => void): Promise<Buffer> {
  if (!stream) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return onOverflow(new MaxBufferError(name, limit));
      chunks.push(chunk);
    });
    stream.on('error', () => {});
    stream.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * Run a command to completion and collect its output. Resolves whatever the exit code (a
 * non-zero code is a result, not an error); rejects when the session fails.
 */
export function run(client: KubeClient, options: RunOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
export function run(client: KubeClient, options: RunOptions & { encoding?: 'utf8' }): Promise<RunResult<string>>;
export async function run(client: KubeClient, options: RunOptions): Promise<RunResult<string | Buffer>> {
  // From plain JavaScript options may be anything; the session checks the fields it needs.
  if (typeof options !== 'object' || options === null) throw new UsageError('run needs an options object with a target and a command');
  const { stdin, encoding, maxBuffer, ...rest } = options;
  const session = exec(client, { ...rest, stdin: stdin !== undefined, stdout: true, stderr: !options.tty });
  const limit = maxBuffer ?? 64 * 1024 * 1024;
  const stdout = collect(session.stdout, 'stdout', limit, (err) => session.abort(err));
  const stderr = collect(session.stderr, 'stderr', limit, (err) => session.abort(err));
  if (stdin !== undefined && session.stdin) {
    const source = typeof stdin === 'string' || stdin instanceof Uint8Array ? Readable.from([Buffer.from(stdin)]) : (stdin as Readable);
    // The command may exit before reading all of its input; the session's result tells.
    pipeline(source, session.stdin).catch(() => {});
  }
  const status = await session.exit.catch((err: Error) => {
    const cause = err.cause;
    throw cause instanceof MaxBufferError ? cause : err;
  });
  const [out, errOut] = await Promise.all([stdout, stderr]);
  return encoding === 'buffer'
    ? { stdout: out, stderr: errOut, exitCode: status.code }
    : { stdout: out.toString('utf8'), stderr: errOut.toString('utf8'), exitCode: status.code };
}
