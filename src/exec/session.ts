// An exec or attach session over a WebSocket: negotiation, Node streams with backpressure both
// ways, resize, stdin half-close, keepalive, the exit status, and one typed error for every way a
// session can fail. Output is never silently truncated: `exit` rejects unless the server's
// status arrived after all output.

import { Readable, Writable } from 'node:stream';
import WebSocket from 'ws';
import {
  buildStreamUrl,
  capabilitiesOf,
  Channel,
  decodeFrame,
  decodeStatus,
  encodeCloseMessage,
  encodeFrame,
  encodeResize,
  isSubprotocol,
  statusOutcome,
  v1StatusOutcome,
  V4,
  V5,
  type Capabilities,
  type Status,
  type Subprotocol,
} from '../protocol/index.ts';
import { resolveSessionTarget, type KubeClient, type Target } from '../kube/index.ts';
import { countMoved } from './collect.ts';
import { dialStreamSocket, keepAlive, type DialConnectOptions } from './dial.ts';
import { AbortError, ConnectionLostError, ProtocolError, RemoteError, StdinCloseUnsupportedError, UsageError } from './errors.ts';

export interface KeepaliveOptions {
  /** How often to ping the server. [default 5000 ms, as client-go] */
  intervalMs?: number;
  /** Declare the connection lost when no pong arrived for this long. [default 61000 ms, as client-go] */
  timeoutMs?: number;
}

export interface SessionOptions {
  /**
   * A pod name, `TYPE/NAME` (deploy/web: kubectl's most active pod), or `{ pod }`. A name or
   * TYPE/NAME is looked up first, as kubectl does (defaulting the container, refusing completed
   * pods); `{ pod }` with `container` goes straight to the upgrade.
   */
  target: Target;
  /** Default: the kubeconfig context's namespace. */
  namespace?: string;
  /** Default: the `kubectl.kubernetes.io/default-container` annotation, else the first container. */
  container?: string;
  /** Open a stdin stream. [default false] */
  stdin?: boolean;
  /** Deliver stdout. [default true] */
  stdout?: boolean;
  /** Deliver stderr. [default true unless tty: a terminal merges it into stdout] */
  stderr?: boolean;
  /** Run on a terminal in the pod. [default false] */
  tty?: boolean;
  /** Initial terminal size, sent as soon as the session opens (tty only). */
  size?: { cols: number; rows: number };
  /** Subprotocols to offer, in order. [default v5.channel.k8s.io, v4.channel.k8s.io] */
  protocols?: readonly Subprotocol[];
  keepalive?: KeepaliveOptions;
  /** Give up when the upgrade has not completed after this long; 0: no limit. [default: the cluster's requestTimeoutMs, else 30000 ms] */
  handshakeTimeoutMs?: number;
  /**
   * After the exit status arrived, wait this long for the server to close the connection, then
   * finish with that status anyway (and close it from this side). [default 2000 ms]
   */
  statusGraceMs?: number;
  /** Aborting ends the session: the socket closes, which ends the remote process, and `exit` rejects with AbortError. */
  signal?: AbortSignal;
}

export interface ExecOptions extends SessionOptions {
  /** argv; never passed through a shell. */
  command: readonly string[];
}

export interface ExitStatus {
  /** The command's exit code: 0 on success. Always 0 for attach. */
  readonly code: number;
  /** The Status the server sent; for v1 protocols, which send only text, the one a v4 server would have sent. */
  readonly status: Status;
}

export interface Opened {
  readonly protocol: Subprotocol;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  /** kubectl's `Defaulted container …` notice, when the container was defaulted among several. */
  readonly defaultedNotice?: string;
}

export const defaultProtocols: readonly Subprotocol[] = [V5, V4];
/**
 * Output bytes a stream holds unread before the socket is paused: one of the largest frames a
 * server sends (the sandbox's are up to 256 KiB). More would not read the socket faster, and a
 * chunk that waits in a long buffer lives through young-generation collections (see collect.ts)
 * and is promoted, to wait dead for a full collection: with 1 MiB, `exec -- head -c 1G
 * /dev/zero | wc -c` peaked at 120–144 MiB of RSS; with 256 KiB, 81–83 MiB.
 */
const outputHighWater = 256 * 1024;
/** Stdin bytes queued on the socket before writes wait (the Writable buffers the rest). */
const stdinHighWater = 256 * 1024;
/** Largest stdin frame sent: well under the 32 MiB servers accept. */
const maxStdinFrame = 1024 * 1024;
/**
 * Most bytes accepted on the error/status channel (3): a Status is a few hundred bytes, and
 * without a cap a hostile server could grow it until memory runs out.
 */
const maxStatusBytes = 64 * 1024; // 64 KiB
/** How long to wait for the close after the status arrived. */
const defaultStatusGraceMs = 2000;

type Kind = 'exec' | 'attach';

/**
 * The options as a plain-JavaScript caller may pass them: anything. What TypeScript would have
 * refused becomes a UsageError naming the option, never a TypeError from deep inside.
 */
function validateOptions(kind: Kind, options: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new UsageError(`${kind} needs an options object with a target${kind === 'exec' ? ' and a command' : ''}`);
  }
  const o = options as Record<string, unknown>;
  const target = o['target'];
  if (target === undefined || target === null || target === '') throw new UsageError(`${kind} needs a target: a pod name, TYPE/NAME, or { pod }`);
  const targetShape = 'a pod name, TYPE/NAME, { pod }, { selector } or { workload, allPods: true }';
  if (typeof target !== 'string' && typeof target !== 'object') throw new UsageError(`target must be ${targetShape}, not ${typeof target}`);
  if (typeof target === 'object') {
    const t = target as Record<string, unknown>;
    const key = ['pod', 'selector', 'workload'].find((k) => k in t);
    if (!key || typeof t[key] !== 'string' || t[key] === '') throw new UsageError(`target must be ${targetShape}, with a non-empty string`);
  }
  if (kind === 'exec') {
    const command = o['command'];
    if (command === undefined || command === null) throw new UsageError('exec needs a command: at least one argv element');
    if (!Array.isArray(command) || !command.every((a) => typeof a === 'string')) throw new UsageError('command must be an array of strings (argv; never passed through a shell)');
    if (command.length === 0) throw new UsageError('exec needs a command: at least one argv element');
  }
  for (const key of ['namespace', 'container'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'string') throw new UsageError(`${key} must be a string, not ${typeof o[key]}`);
  }
}

/**
 * One exec or attach. Constructed by `exec()`/`attach()`; it resolves the target, connects, and
 * then streams until the server's status arrives.
 */
export class ExecSession {
  /** Present when `stdin: true`. Ending it half-closes stdin (v5), or sends ^D on a terminal. */
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Resolves once the WebSocket is open; rejects with the handshake's error. */
  readonly opened: Promise<Opened>;
  /**
   * Settles after the status arrived and every byte of output was read (a stream that stayed empty
   * needs no reading). Rejects on any failure.
   */
  readonly exit: Promise<ExitStatus>;

  private readonly _tty: boolean;
  private _ws: WebSocket | null = null;
  private _caps: Capabilities | null = null;
  private _protocol: Subprotocol | null = null;
  private readonly _statusBytes: Buffer[] = [];
  private _statusSize = 0;
  private _statusGraceMs: number;
  private _graceTimer: NodeJS.Timeout | null = null;
  private _settled = false;
  private _resolveExit!: (status: ExitStatus) => void;
  private _rejectExit!: (err: Error) => void;
  private _pendingSize: { cols: number; rows: number } | null = null;
  private _stdinWaiter: (() => void) | null = null;
  private _stdinQueued = 0;
  /** Where stdin frames are assembled, one at a time; grows up to maxStdinFrame + 1 bytes. */
  private _frameBuffer = Buffer.alloc(0);
  /** Reading the socket is paused because a stream's buffer is full. */
  private _paused = false;
  private _stopKeepalive: (() => void) | null = null;
  private readonly _cleanup: (() => void)[] = [];
  private _failure: Error | null = null;

  constructor(client: KubeClient, kind: Kind, options: ExecOptions | SessionOptions) {
    // Called from plain JavaScript, options may be anything: _open reports it as a UsageError.
    const given = options;
    if (typeof options !== 'object' || options === null) options = {} as SessionOptions;
    this._tty = options.tty ?? false;
    this._statusGraceMs = options.statusGraceMs ?? defaultStatusGraceMs;
    const wantStdout = options.stdout ?? true;
    const wantStderr = options.stderr ?? !this._tty;
    this.stdout = wantStdout ? this._readable() : null;
    this.stderr = wantStderr && !this._tty ? this._readable() : null;
    this.stdin = options.stdin ? this._writable() : null;
    if (options.size) this._pendingSize = options.size;
    this.exit = new Promise<ExitStatus>((resolve, reject) => {
      this._resolveExit = resolve;
      this._rejectExit = reject;
    });
    this.opened = this._open(client, kind, options, wantStdout, wantStderr, given);
    // Callers may await only one of the two; neither should crash the process as unhandled.
    this.opened.catch(() => {});
    this.exit.catch(() => {});
  }

  /** The negotiated subprotocol, once open. */
  get protocol(): Subprotocol | null {
    return this._protocol;
  }

  /** Change the terminal size (tty sessions only). Before the session opens, the last size wins. */
  resize(cols: number, rows: number): void {
    if (!this._tty) throw new UsageError('resize() needs a session opened with tty: true');
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > 65535 || rows > 65535) {
      throw new UsageError(`invalid terminal size ${cols}x${rows}: columns and rows must be integers from 1 to 65535`);
    }
    if (!this._caps) {
      this._pendingSize = { cols, rows };
      return;
    }
    this._sendFrame(Channel.Resize, encodeResize({ width: cols, height: rows }));
  }

  /** End stdin: the same as `stdin.end()`. */
  closeStdin(): void {
    if (!this.stdin) throw new UsageError('closeStdin() needs a session opened with stdin: true');
    this.stdin.end();
  }

  /** End the session now; `exit` rejects with AbortError. */
  abort(reason?: unknown): void {
    this._fail(new AbortError(reason));
  }

  private async _open(client: KubeClient, kind: Kind, options: ExecOptions | SessionOptions, wantStdout: boolean, wantStderr: boolean, given: unknown): Promise<Opened> {
    const signal = options.signal;
    try {
      validateOptions(kind, given);
      if (signal?.aborted) throw new AbortError(signal.reason);
      if (signal) {
        const onAbort = () => this.abort(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        this._cleanup.push(() => signal.removeEventListener('abort', onAbort));
      }
      if (!wantStdout && !wantStderr && !options.stdin) throw new UsageError('at least one of stdin, stdout and stderr must be requested');
      const protocols = options.protocols ?? defaultProtocols;
      for (const p of protocols) if (!isSubprotocol(p) || p === '') throw new UsageError(`unknown subprotocol "${p}"`);
      const target = await resolveSessionTarget(client, options.target, {
        ...(options.namespace ? { namespace: options.namespace } : {}),
        ...(options.container ? { container: options.container } : {}),
        ...(kind === 'attach' ? { verb: 'attach' as const } : {}),
        ...(signal ? { signal } : {}),
      });
      this._throwIfFailed();
      const url = buildStreamUrl(client.server, {
        kind,
        namespace: target.namespace,
        pod: target.pod,
        ...(kind === 'exec' ? { command: (options as ExecOptions).command } : {}),
        container: target.container,
        stdin: options.stdin ?? false,
        stdout: wantStdout,
        stderr: wantStderr && !this._tty,
        tty: this._tty,
      });
      const connect = await client.connectOptions();
      this._throwIfFailed();
      const protocol = await this._connect(url, protocols, connect, options);
      return {
        protocol,
        namespace: target.namespace,
        pod: target.pod,
        container: target.container,
        ...(target.defaultedNotice ? { defaultedNotice: target.defaultedNotice } : {}),
      };
    } catch (err) {
      this._fail(err as Error);
      throw this._failure ?? err;
    }
  }

  private _throwIfFailed(): void {
    if (this._failure) throw this._failure;
  }

  private async _connect(url: URL, protocols: readonly Subprotocol[], connect: DialConnectOptions, options: SessionOptions): Promise<Subprotocol> {
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? connect.requestTimeoutMs ?? 30_000;
    const { protocol } = await dialStreamSocket(url, protocols, connect, handshakeTimeoutMs, {
      created: (ws) => {
        this._ws = ws;
        ws.on('message', (data: Buffer, isBinary: boolean) => this._onMessage(data, isBinary));
        ws.on('close', (code, reason) => this._onClose(code, reason.toString()));
      },
      failed: (err) => this._fail(err),
      opened: (protocol) => {
        this._protocol = protocol;
        this._caps = capabilitiesOf(protocol);
        this._startKeepalive(options.keepalive);
        if (this._pendingSize && this._tty) {
          const size = this._pendingSize;
          this._pendingSize = null;
          this.resize(size.cols, size.rows);
        }
        if (this._stdinWaiter) this._stdinWaiter();
      },
      lost: (err) => {
        if (this._failure || this._settled) return;
        this._fail(new ConnectionLostError(`the connection to the pod broke: ${err.message}`, { cause: err }));
      },
    });
    return protocol;
  }

  private _startKeepalive(options: KeepaliveOptions | undefined): void {
    const timeout = options?.timeoutMs ?? 61_000;
    // The deadline runs only while podshell reads (a slow consumer pauses reading, pongs too).
    this._stopKeepalive = keepAlive(this._ws!, options?.intervalMs ?? 5000, timeout, () => this._paused, () =>
      this._fail(new ConnectionLostError(`the connection was lost: no answer to keepalive pings for ${timeout} ms`)),
    );
  }

  private _readable(): Readable {
    const stream: Readable = new Readable({
      highWaterMark: outputHighWater,
      read: () => {
        // This stream's consumer asks for more. One socket feeds both streams: resume only when
        // the other one is not full too, or a reader of stdout alone would let unread stderr grow
        // without bound. (Node calls this before handing out what is buffered, so this stream's
        // own buffer is not the measure.)
        const otherFull = [this.stdout, this.stderr].some((s) => s && s !== stream && s.readableLength >= s.readableHighWaterMark);
        if (this._paused && !otherFull) {
          this._paused = false;
          this._ws?.resume();
        }
      },
    });
    return stream;
  }

  private _writable(): Writable {
    return new Writable({
      highWaterMark: 256 * 1024,
      write: (chunk: Buffer, _encoding, callback) => {
        this._whenOpen(() => this._writeStdin([chunk], callback), callback);
      },
      // What queued while the socket was behind goes out together: a frame per 1 MiB rather
      // than one per chunk written (a pipe reads 64 KiB at a time).
      writev: (chunks, callback) => {
        this._whenOpen(() => this._writeStdin(chunks.map((c) => c.chunk as Buffer), callback), callback);
      },
      final: (callback) => {
        this._whenOpen(() => this._endStdin(callback), callback);
      },
      destroy: (err, callback) => callback(err),
    });
  }

  private _whenOpen(action: () => void, callback: (err?: Error | null) => void): void {
    if (this._failure) return callback(this._failure);
    if (this._caps) return action();
    this._stdinWaiter = () => {
      this._stdinWaiter = null;
      action();
    };
    this.opened.catch((err: Error) => {
      if (this._stdinWaiter) {
        this._stdinWaiter = null;
        callback(err);
      }
    });
  }

  private _writeStdin(chunks: Buffer[], callback: (err?: Error | null) => void): void {
    if (this._failure) return callback(this._failure);
    if (this._settled) return callback();
    let pending: ((err?: Error | null) => void) | null = null;
    const sent = (size: number) => () => {
      this._stdinQueued -= size;
      if (this._stdinQueued < stdinHighWater && pending) {
        const cb = pending;
        pending = null;
        cb();
      }
    };
    // Frames of up to maxStdinFrame bytes, each made of whole chunks where they fit.
    let group: Buffer[] = [];
    let size = 0;
    const flush = () => {
      if (size === 0) return;
      countMoved(size);
      this._stdinQueued += size;
      this._sendFrame(Channel.Stdin, group, size, sent(size));
      group = [];
      size = 0;
    };
    for (const chunk of chunks) {
      for (let offset = 0; offset < chunk.length; ) {
        const part = chunk.subarray(offset, offset + maxStdinFrame - size);
        group.push(part);
        size += part.length;
        offset += part.length;
        if (size === maxStdinFrame) flush();
      }
    }
    flush();
    if (this._stdinQueued < stdinHighWater) callback();
    else pending = callback;
  }

  private _endStdin(callback: (err?: Error | null) => void): void {
    if (this._failure) return callback(this._failure);
    if (this._settled) return callback();
    if (this._caps!.canHalfClose) {
      this._ws!.send(encodeCloseMessage(Channel.Stdin), () => callback());
    } else if (this._tty) {
      // A terminal's line discipline turns ^D into end of input.
      this._sendFrame(Channel.Stdin, Buffer.from([4]), 0, () => callback());
    } else {
      const err = new StdinCloseUnsupportedError(this._protocol!);
      this._fail(err);
      callback(err);
    }
  }

  /** Send `payload` (given whole, or as parts of `size` bytes in all) as one frame on `channel`. */
  private _sendFrame(channel: number, payload: Uint8Array | readonly Uint8Array[], size = 0, done?: () => void): void {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      done?.();
      return;
    }
    let frame: Uint8Array | string;
    if (!Array.isArray(payload)) frame = encodeFrame(this._caps!.base64, channel, payload as Uint8Array);
    else if (this._caps!.base64) frame = encodeFrame(true, channel, Buffer.concat(payload, size));
    else {
      // [channel][parts…], written once into the session's own buffer: ws masks it into a
      // frame of its own before `send` returns (see nonZeroMask), so the next frame reuses it.
      if (this._frameBuffer.length < size + 1) this._frameBuffer = Buffer.allocUnsafe(Math.max(size + 1, 64 * 1024 + 1));
      const bytes = this._frameBuffer.subarray(0, size + 1);
      bytes[0] = channel;
      let at = 1;
      for (const part of payload) {
        bytes.set(part, at);
        at += part.length;
      }
      frame = bytes;
    }
    ws.send(frame, { binary: !this._caps!.base64 }, () => done?.());
  }

  private _onMessage(data: Buffer, isBinary: boolean): void {
    if (this._settled || !this._caps) return;
    if (isBinary === this._caps.base64) {
      return this._fail(new ProtocolError(`expected ${this._caps.base64 ? 'text' : 'binary'} messages for ${this._protocol}, got a ${isBinary ? 'binary' : 'text'} one`));
    }
    let frame;
    try {
      frame = decodeFrame(data, this._caps.base64);
    } catch (err) {
      return this._fail(new ProtocolError(`unreadable frame: ${(err as Error).message}`, { cause: err }));
    }
    if (!frame || frame.payload.length === 0) return;
    countMoved(data.length);
    const payload = Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.length);
    switch (frame.channel) {
      case Channel.Stdout:
      case Channel.Stderr: {
        const stream = frame.channel === Channel.Stdout ? this.stdout : this.stderr;
        if (!stream) return this._fail(new ProtocolError(`the server sent data on channel ${frame.channel}, which was not requested`));
        if (!stream.push(payload)) {
          this._paused = true;
          this._ws?.pause();
        }
        return;
      }
      case Channel.Error:
        this._statusSize += payload.length;
        if (this._statusSize > maxStatusBytes) {
          return this._fail(new ProtocolError(`the server sent more than ${maxStatusBytes} bytes (64 KiB) on the status channel; a Status is never that large`));
        }
        this._statusBytes.push(payload);
        // The status is the last thing a server sends: should the close never come, finish anyway.
        if (!this._graceTimer) this._graceTimer = setTimeout(() => this._onClose(1000, ''), this._statusGraceMs);
        return;
      default:
        return this._fail(new ProtocolError(`the server sent a frame on unknown channel ${frame.channel}`));
    }
  }

  private _onClose(code: number, reason: string): void {
    if (this._settled) return;
    // Reached from the grace timer when the server kept the connection open: close it here.
    if (this._ws && this._ws.readyState !== WebSocket.CLOSED) this._ws.terminate();
    if (code !== 1000) {
      const lost = code === 1006 ? 'the connection to the pod was lost' : `the server closed the session with code ${code}${reason ? ` (${reason})` : ''}`;
      this._fail(new ConnectionLostError(`${lost} before the command's exit status arrived; output may be incomplete`));
      return;
    }
    let result: ExitStatus;
    try {
      result = this._exitStatus();
    } catch (err) {
      this._fail(err as Error);
      return;
    }
    this._finish(result);
  }

  private _exitStatus(): ExitStatus {
    const bytes = Buffer.concat(this._statusBytes);
    if (this._caps!.statusJson) {
      if (bytes.length === 0) throw new ProtocolError(`the server closed the session without an exit status (${this._protocol})`);
      let status: Status;
      let outcome;
      try {
        status = decodeStatus(bytes);
        outcome = statusOutcome(status);
      } catch (err) {
        throw new ProtocolError((err as Error).message, { cause: err });
      }
      if (outcome.kind === 'error') throw new RemoteError(outcome.message, status);
      return { code: outcome.kind === 'exit' ? outcome.code : 0, status };
    }
    const outcome = v1StatusOutcome(bytes);
    if (outcome.kind === 'error') throw new RemoteError(outcome.message);
    return { code: outcome.kind === 'exit' ? outcome.code : 0, status: outcome.status };
  }

  private _finish(result: ExitStatus): void {
    this._settled = true;
    this._stop();
    const streams = [this.stdout, this.stderr].filter((s): s is Readable => s !== null);
    // Settle only once the consumer has read every byte of every stream. A stream counts once,
    // at its first 'end' or 'close' (it emits both), or one stream's two events would count for
    // the other one too.
    let pending = streams.length;
    if (pending === 0) this._resolveExit(result);
    for (const stream of streams) {
      let counted = false;
      const done = () => {
        if (counted) return;
        counted = true;
        if (--pending === 0) this._resolveExit(result);
      };
      stream.once('end', done);
      stream.once('close', done);
      stream.push(null);
      // A stream that carried nothing has nothing to read: end it now, or a stream nobody reads
      // because it stayed empty (stderr of most commands) would hold `exit` forever.
      if (stream.readableLength === 0 && stream.readableFlowing !== true) stream.read(0);
    }
    this.stdin?.destroy();
  }

  private _fail(err: Error): void {
    if (this._settled) return;
    this._settled = true;
    this._failure = err;
    this._stop();
    const ws = this._ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.terminate();
    for (const stream of [this.stdout, this.stderr, this.stdin]) {
      if (!stream || stream.destroyed) continue;
      // Never an unhandled 'error' event: consumers that listen see the cause; the others see a
      // stream that closed without ending, and `exit` rejecting.
      if (stream.listenerCount('error') > 0) stream.destroy(err);
      else stream.destroy();
    }
    this._rejectExit(err);
  }

  private _stop(): void {
    this._stopKeepalive?.();
    this._stopKeepalive = null;
    if (this._graceTimer) clearTimeout(this._graceTimer);
    this._graceTimer = null;
    for (const fn of this._cleanup.splice(0)) fn();
  }
}
