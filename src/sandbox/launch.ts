// Launching one process, on pipes or on a pty (node-pty), and following it until it has been
// reaped and its output has been read.

import { spawn as spawnChild } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Socket } from 'node:net';
import { finished, Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import * as pty from 'node-pty';
import { SandboxError } from './errors.ts';
import { signalEntered, signalSession } from './procfs.ts';

export interface ExecProcess {
  readonly pid: number;
  /** Null when the exec has no stdin. */
  readonly stdin: Writable | null;
  /** With a tty: the terminal's output (stderr merged, as a real terminal does). Honours backpressure. */
  readonly stdout: Readable;
  /** Null with a tty. */
  readonly stderr: Readable | null;
  /** How stdout and stderr chunks may be sent on without a copy (pipes only; null with a tty). */
  readonly output: OutputBuffers | null;
  /** Resizes the terminal (tty only; a no-op otherwise). */
  resize(cols: number, rows: number): void;
  /** Pipes: end stdin (EOF). Tty: write the terminal's EOF character (^D) once. */
  closeStdin(): void;
  /** Signals the process and its whole session (every process it started); SIGKILL by default. */
  kill(signal?: NodeJS.Signals): void;
  /**
   * Exit status (128 + signal number when killed by a signal, as container runtimes report it).
   * Resolves only after stdout and stderr have ended, i.e. after their consumers read everything.
   */
  readonly exited: Promise<{ code: number; signal: string | null }>;
}

/**
 * Large reads of a process's output (of at least DIRECT_MIN bytes) arrive each alone in an
 * ArrayBuffer of their own, after OUTPUT_HEADROOM spare bytes: room for a channel byte and a
 * WebSocket frame header, so a whole frame can be built in place and written with no copy; the
 * bytes after the chunk, to the end of its ArrayBuffer, are free too (room to append to it). Once
 * nothing refers to such a chunk any more, recycle() lets later reads use its buffer again.
 */
export interface OutputBuffers {
  /** Whether `chunk` is such a read: the OUTPUT_HEADROOM bytes before it, and all after it, in its ArrayBuffer are free. */
  direct(chunk: Buffer): boolean;
  /** Gives a direct chunk's buffer back for later reads; the caller must hold no other reference to it. */
  recycle(chunk: Buffer): void;
}

/** A timer for races: it does not keep the process alive. */
export function timeout(ms: number): Promise<void> {
  return delay(ms, undefined, { ref: false });
}

export function signalNumber(name: string): number {
  return (osConstants.signals as Record<string, number>)[name] ?? 0;
}

export function signalName(n: number): string {
  for (const [name, v] of Object.entries(osConstants.signals)) if (v === n) return name;
  return `SIG${n}`;
}


export interface RawExit {
  readonly code: number | null;
  readonly signal: string | null;
}

export interface LaunchSpec {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly cols: number;
  readonly rows: number;
  /**
   * `file` enters a container's namespaces and runs the command in a child, in a session of its
   * own: signals go to that child's session, not to `file`.
   */
  readonly enters?: boolean;
}

export interface Launched extends ExecProcess {
  /** The process itself is gone (its output may still be flowing). */
  readonly processExit: Promise<RawExit>;
  /** The process is gone and its output streams have ended. */
  readonly done: Promise<RawExit>;
}

export const OUTPUT_HWM = 64 * 1024;

export function statusOf(e: RawExit): { code: number; signal: string | null } {
  return { code: e.code ?? 128 + signalNumber(e.signal ?? ''), signal: e.signal };
}

function streamDone(s: Readable): Promise<void> {
  return new Promise((res) => {
    finished(s, () => res());
  });
}

/**
 * A Readable that takes over a child's output pipe. Node "flushes" the output pipes nobody has
 * read yet when a child exits (resumes them, discarding the data); reading through a
 * 'readable' listener from the start prevents that, while keeping backpressure: the pipe is
 * read only as fast as the returned stream's consumer reads.
 */
function ownReader(src: Readable): Readable {
  let discard = false;
  let wanted = false; // the consumer asked for more than it has
  const pump = (): void => {
    while (wanted || discard) {
      const chunk = src.read() as Buffer | null;
      if (chunk === null) return;
      if (!discard) wanted = out.push(chunk);
    }
  };
  const out = new Readable({
    highWaterMark: OUTPUT_HWM,
    read() {
      wanted = true;
      pump();
    },
  });
  src.on('readable', pump);
  src.once('end', () => out.push(null));
  src.once('error', () => out.push(null));
  out.once('close', () => {
    // The consumer is gone: keep draining, so the process never blocks on a full pipe.
    discard = true;
    pump();
  });
  return out;
}

/** The most one read of a process's output pipe takes (node reads 64 KiB at a time by itself). */
export const READ_BYTES = 256 * 1024;
/** Reads smaller than this are copied out, and their buffer read into again: a buffer in flight holds at least a quarter its size. */
export const DIRECT_MIN = READ_BYTES / 4;

/** Where every pipe's first reads land, until one fills it: they are copied out at once. */
const firstReads = Buffer.allocUnsafeSlow(16 * 1024);

/** Read buffers kept for reuse per process: enough for the frames a socket typically has in flight. */
const FREE_BUFFERS = 4;

/** Spare bytes in front of a direct chunk: a channel byte and the longest WebSocket header (10 bytes), rounded up. */
export const OUTPUT_HEADROOM = 16;

/** The read buffers of one process's output pipes: each OUTPUT_HEADROOM + READ_BYTES long, the data after the spare bytes. */
class ReadBuffers implements OutputBuffers {
  /** Buffers handed back, for the next reads (at most FREE_BUFFERS are kept). */
  private readonly _free: Buffer[] = [];
  private readonly _direct = new WeakSet<Buffer>();

  take(): Buffer {
    return this._free.pop() ?? Buffer.allocUnsafeSlow(OUTPUT_HEADROOM + READ_BYTES);
  }

  /** The chunk a read of `n` bytes into `buffer` becomes; true when it keeps `buffer`. */
  chunk(buffer: Buffer, n: number): [Buffer, boolean] {
    if (n < DIRECT_MIN) return [Buffer.from(buffer.subarray(OUTPUT_HEADROOM, OUTPUT_HEADROOM + n)), false];
    const chunk = buffer.subarray(OUTPUT_HEADROOM, OUTPUT_HEADROOM + n);
    this._direct.add(chunk);
    return [chunk, true];
  }

  direct(chunk: Buffer): boolean {
    return this._direct.has(chunk);
  }

  recycle(chunk: Buffer): void {
    if (!this._direct.delete(chunk) || this._free.length >= FREE_BUFFERS) return;
    this._free.push(Buffer.from(chunk.buffer, chunk.byteOffset - OUTPUT_HEADROOM, OUTPUT_HEADROOM + READ_BYTES));
  }
}

/**
 * Like ownReader, but the pipe is read straight into ReadBuffers' buffers, up to READ_BYTES at a
 * time: no buffer allocated per read for the collector to reclaim, and none at all once the
 * consumer recycles them. It takes the pipe's handle over from the socket child_process made
 * (node offers user-supplied read buffers only to a socket it constructs); null, and the socket
 * left as it was, when that socket has no handle to give.
 */
function directReader(pipe: Socket, buffers: ReadBuffers): Readable | null {
  const owner = pipe as unknown as { _handle: object | null };
  const handle = owner._handle;
  if (!handle) return null;
  // The old socket lets go of the handle without closing it, and closes (child_process counts on that).
  owner._handle = null;
  pipe.destroy();
  // Until a read fills firstReads (shared: each read is copied out before the next can happen),
  // the pipe has no buffer of its own: most processes write little.
  let buffer: Buffer | null = null;
  let discard = false;
  let ended = false;
  const out = new Readable({
    highWaterMark: OUTPUT_HWM,
    read() {
      socket.resume();
    },
  });
  const socket = new Socket({
    handle,
    writable: false,
    onread: {
      buffer: () => (buffer ? buffer.subarray(OUTPUT_HEADROOM) : firstReads),
      callback: (n: number): boolean => {
        if (discard) {
          if (!buffer && n === firstReads.length) buffer = buffers.take();
          return true;
        }
        let chunk: Buffer;
        if (!buffer) {
          chunk = Buffer.from(firstReads.subarray(0, n));
          if (n === firstReads.length) buffer = buffers.take();
        } else {
          let kept: boolean;
          [chunk, kept] = buffers.chunk(buffer, n);
          if (kept) buffer = buffers.take();
        }
        if (out.push(chunk)) return true;
        socket.pause();
        return false;
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  const end = (): void => {
    if (ended) return;
    ended = true;
    out.push(null);
  };
  socket.once('end', end);
  socket.once('error', end);
  socket.once('close', end);
  out.once('close', () => {
    // The consumer is gone: keep draining, so the process never blocks on a full pipe.
    discard = true;
    socket.resume();
  });
  socket.resume();
  return out;
}

function launchPipes(spec: LaunchSpec): Launched {
  const child = spawnChild(spec.file, [...spec.args], {
    env: spec.env,
    cwd: spec.cwd,
    stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let spawnError: Error | undefined;
  const processExit = new Promise<RawExit>((res) => {
    child.once('exit', (code, sig) => res({ code, signal: sig }));
    child.once('error', (err) => {
      spawnError = err;
      res({ code: 127, signal: null });
    });
  });
  if (child.pid === undefined) {
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.stdin?.destroy();
    throw new SandboxError('ERR_SANDBOX_CONTAINER_START', `cannot start ${spec.file}: ${spawnError?.message ?? 'spawn failed'}`);
  }
  const pid = child.pid;
  const output = new ReadBuffers();
  const stdout = (child.stdout instanceof Socket && directReader(child.stdout, output)) || ownReader(child.stdout!);
  const stderr = (child.stderr instanceof Socket && directReader(child.stderr, output)) || ownReader(child.stderr!);
  const stdin = child.stdin ?? null;
  stdin?.on('error', () => {});
  const done = Promise.all([processExit, streamDone(stdout), streamDone(stderr)]).then(([e]) => e);
  return {
    pid,
    stdin,
    stdout,
    stderr,
    output,
    processExit,
    done,
    exited: done.then(statusOf),
    resize() {},
    closeStdin() {
      if (stdin && !stdin.writableEnded) stdin.end();
    },
    kill(sig: NodeJS.Signals = 'SIGKILL') {
      (spec.enters ? signalEntered : signalSession)(pid, sig);
    },
  };
}

type PtyWithEvents = pty.IPty & { on(event: 'error', listener: (err: Error) => void): void; readonly ptsName?: string; readonly fd?: number };

/**
 * The terminal (master) descriptors of ptys in use. node-pty opens them without close-on-exec,
 * so every process started meanwhile — on a pty or on pipes — inherits them: a container's
 * process would hold other sessions' terminals. Each is kept here until a while after its
 * process has exited (node-pty closes it 200 ms after); closing one too many in a child is
 * harmless.
 */
const openMasters = new Map<number, number>(); // descriptor → how many ptys hold that number
const MASTER_CLOSE_MARGIN_MS = 1000;

/** Descriptors of this process that node-pty left open to children: terminals of other sessions. */
export function terminalDescriptors(): readonly number[] {
  return [...openMasters.keys()];
}

// Reaping, seen from outside. node-pty's own thread waitpid()s each pty process at once; all we
// can observe is the pid disappearing, so a single timer checks the pids of live pty sessions.
const REAP_POLL_MS = 10;
const awaitingReap = new Map<number, () => void>();
let reapTimer: NodeJS.Timeout | undefined;

/** Calls `then` once `pid` has been reaped; the returned function stops watching. */
function whenReaped(pid: number, then: () => void): () => void {
  awaitingReap.set(pid, then);
  reapTimer ??= setInterval(() => {
    for (const [p, cb] of awaitingReap) {
      try {
        process.kill(p, 0);
      } catch {
        awaitingReap.delete(p);
        cb();
      }
    }
    if (awaitingReap.size === 0) {
      clearInterval(reapTimer);
      reapTimer = undefined;
    }
  }, REAP_POLL_MS);
  return () => {
    if (awaitingReap.get(pid) === then) awaitingReap.delete(pid);
  };
}

/**
 * Opens the pty's terminal side for the runtime itself, so the terminal stays up until the process
 * has been reaped. Without it a process that finishes normally can still die of SIGHUP: once it
 * has closed its last terminal descriptor, node-pty's read of the other side fails with EIO and
 * node-pty closes it, and the kernel hangs up the terminal, signalling the session leader — which
 * may not have reached exit() yet. A cluster's runtime keeps its side open until the process is
 * gone; this does the same.
 */
function holdTerminal(p: PtyWithEvents): number | undefined {
  if (!p.ptsName) return undefined;
  try {
    return openSync(p.ptsName, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
  } catch {
    return undefined;
  }
}

function launchPty(spec: LaunchSpec): Launched {
  const p = pty.spawn(spec.file, [...spec.args], {
    name: spec.env.TERM ?? 'xterm',
    cols: spec.cols,
    rows: spec.rows,
    cwd: spec.cwd,
    env: spec.env,
    encoding: null,
  }) as PtyWithEvents;
  // node-pty throws read errors other than EIO unless someone else listens.
  p.on('error', () => {});
  const pid = p.pid;
  const master = typeof p.fd === 'number' && p.fd > 2 ? p.fd : undefined;
  if (master !== undefined) openMasters.set(master, (openMasters.get(master) ?? 0) + 1);
  let held = holdTerminal(p);
  let gone = false; // the process has been reaped: never pause again, drain what is left
  let paused = false;
  let discard = false;
  const unpause = (): void => {
    if (paused) {
      paused = false;
      p.resume();
    }
  };
  const release = (): void => {
    if (held !== undefined) closeSync(held);
    held = undefined;
  };
  const reaped = (): void => {
    // node-pty closes the pty 200 ms after the process exits, whatever is still unread: drain
    // the remainder now (at most the kernel's pty buffer), then let the terminal side go, so
    // the read ends with EIO once every other holder (background processes) is gone too.
    gone = true;
    unpause();
    release();
  };
  const unwatch = whenReaped(pid, reaped);
  const stdout = new Readable({
    highWaterMark: OUTPUT_HWM,
    read() {
      unpause();
    },
  });
  stdout.on('close', () => {
    discard = true;
    unpause();
  });
  p.onData((data) => {
    if (discard) return;
    const chunk = data as unknown as Buffer;
    if (!stdout.push(chunk) && !gone && !paused) {
      // Backpressure: stop reading the pty, so the process blocks on its writes.
      paused = true;
      p.pause();
    }
  });
  let resolveExit!: (e: RawExit) => void;
  const processExit = new Promise<RawExit>((res) => (resolveExit = res));
  p.onExit(({ exitCode, signal: sig }) => {
    if (master !== undefined) {
      // The number may belong to a newer pty by then: count, rather than delete.
      setTimeout(() => {
        const n = (openMasters.get(master) ?? 1) - 1;
        if (n > 0) openMasters.set(master, n);
        else openMasters.delete(master);
      }, MASTER_CLOSE_MARGIN_MS).unref();
    }
    // node-pty reports exit after the pty has closed: every byte has been through onData.
    unwatch();
    reaped();
    stdout.push(null);
    resolveExit(sig ? { code: null, signal: signalName(sig) } : { code: exitCode, signal: null });
  });
  let eofSent = false;
  const stdin = spec.stdin
    ? new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (!gone) p.write(chunk);
          cb();
        },
      })
    : null;
  stdin?.on('error', () => {});
  const done = Promise.all([processExit, streamDone(stdout)]).then(([e]) => e);
  return {
    pid,
    stdin,
    stdout,
    stderr: null,
    output: null,
    processExit,
    done,
    exited: done.then(statusOf),
    resize(cols: number, rows: number) {
      if (gone || !(cols > 0 && rows > 0 && Number.isFinite(cols) && Number.isFinite(rows))) return;
      try {
        p.resize(Math.floor(cols), Math.floor(rows));
      } catch {
        /* the pty is closing */
      }
    },
    closeStdin() {
      if (eofSent || gone) return;
      eofSent = true;
      p.write('\x04');
    },
    kill(sig: NodeJS.Signals = 'SIGKILL') {
      (spec.enters ? signalEntered : signalSession)(pid, sig);
    },
  };
}

export function launch(spec: LaunchSpec): Launched {
  return spec.tty ? launchPty(spec) : launchPipes(spec);
}
