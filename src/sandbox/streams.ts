// exec and attach: the HTTP upgrade, subprotocol negotiation and the channel protocol, served
// byte for byte as a Kubernetes control plane serves them. v5 requests get the
// apiserver stream translator's behaviour; older protocols get the container runtime's.

import { randomBytes } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  capabilitiesOf,
  Channel,
  chooseSubprotocol,
  decodeFrame,
  encodeFrame,
  encodeStatus,
  exitCodeStatus,
  internalErrorStatus,
  NONE,
  parseOffer,
  parseStreamQuery,
  ResizeDecoder,
  successStatus,
  V5,
  type Capabilities,
  type Status,
  type StreamRequest,
  type Subprotocol,
} from '../protocol/index.ts';
import { authorize, identify, parseResourcePath, requestUrl, resolveContainer, type ApiContext } from './api.ts';
import { splitProtocolToken } from './authn.ts';
import { ApiError, badRequest, notFound } from './errors.ts';
import { forbidden } from './rbac.ts';
import { OUTPUT_HEADROOM, type OutputBuffers } from './launch.ts';
import { ExecNotFoundError, type Container } from './runtime.ts';
import { writeBinaryHeader } from './wsframe.ts';

/** Frames a client may send: 32 MiB, x/net's DefaultMaxPayloadBytes. Larger closes the connection. */
export const maxClientFrame = 32 * 1024 * 1024;
/** Output bytes queued on a socket before the sandbox stops reading the process. */
const highWater = 4 * 1024 * 1024;
const lowWater = 1024 * 1024;
/**
 * Stdin bytes waiting for the process before the sandbox stops reading the client; it reads on
 * once they are down to the low mark, so the next message is decoded while the process still has
 * input (the bytes are taken from the client's messages, one message beyond the mark at most).
 */
const stdinHighWater = 1024 * 1024;
const stdinLowWater = 256 * 1024;

export interface StreamServerOptions {
  /** Subprotocols this server accepts; all of them unless narrowed (e.g. [v4] acts like Kubernetes < 1.30). */
  readonly accepted: readonly Subprotocol[];
}

export interface StreamServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

/** Refuse an upgrade with a plain HTTP answer, then close the connection. */
function rejectUpgrade(socket: Duplex, code: number, body: string, contentType: string): void {
  const bytes = Buffer.from(body);
  socket.write(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\n` +
      (bytes.length ? `Content-Type: ${contentType}\r\n` : '') +
      `Cache-Control: no-cache, private\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`,
  );
  socket.end(bytes);
}

/** What an upgrade's checks give: the upgrade's plan, or the HTTP answer refusing it (status, body, content type). */
export type UpgradePlan<T> = T | { reject: [number, string, string] };

/**
 * Run an upgrade's checks: the plan, or undefined once the upgrade was refused — with the checks'
 * answer, or the ApiError they threw as its Status (any other error as a 500 InternalError).
 */
export function planUpgrade<T extends object>(socket: Duplex, checks: () => UpgradePlan<T>): T | undefined {
  socket.on('error', () => socket.destroy());
  let planned: UpgradePlan<T>;
  try {
    planned = checks();
  } catch (err) {
    const apiError = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
    rejectUpgrade(socket, apiError.code, JSON.stringify(apiError.body), 'application/json');
    return undefined;
  }
  if ('reject' in planned) {
    rejectUpgrade(socket, ...planned.reject);
    return undefined;
  }
  return planned;
}

/** The first Sec-WebSocket-Protocol header line only: Kubernetes servers ignore the others. */
export function firstProtocolLine(req: IncomingMessage): string | undefined {
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === 'sec-websocket-protocol') return req.rawHeaders[i + 1];
  }
  return undefined;
}

interface Prepared {
  readonly request: StreamRequest;
  readonly protocol: Subprotocol;
  readonly container: Container | undefined;
  readonly containerName: string;
  /** An error the v5 translator reports in-band, after the upgrade. */
  readonly inBandError?: string;
}

export function createStreamServer(ctx: ApiContext, options: StreamServerOptions): StreamServer {
  const emptyProtocolHeader = new WeakSet<IncomingMessage>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxClientFrame,
    perMessageDeflate: false,
    handleProtocols: (protocols) => [...protocols][0] ?? false,
  });
  // x/net answers a request that offered nothing with an empty Sec-WebSocket-Protocol header.
  wss.on('headers', (headers, req) => {
    if (emptyProtocolHeader.has(req)) headers.push('Sec-WebSocket-Protocol: ');
  });

  function prepare(req: IncomingMessage): UpgradePlan<Prepared> {
    const url = requestUrl(req);
    const user = identify(ctx, req);
    const p = parseResourcePath(url.pathname);
    if (!p || p.group !== '' || p.version !== 'v1' || p.resource !== 'pods' || !p.name || p.namespace === undefined || (p.subresource !== 'exec' && p.subresource !== 'attach')) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    const kind = p.subresource;
    const attrs = { group: '', resource: 'pods', subresource: kind, name: p.name, namespace: p.namespace };
    const method = req.method ?? 'GET';
    authorize(ctx, user, { ...attrs, verb: method === 'GET' ? 'get' : 'create' });
    // Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission): a WebSocket upgrade, a GET,
    // must also be allowed to `create` the subresource.
    if (method === 'GET') {
      const decision = ctx.authz.authorize(user, { ...attrs, verb: 'create' });
      if (!decision.allowed) throw forbidden(user, { ...attrs, verb: 'create' }, decision.reason);
    }
    if (url.searchParams.has('dryRun')) throw badRequest('dryRun is not supported');
    const query = parseStreamQuery(url.searchParams, kind);
    const pod = ctx.store.pod(p.namespace, p.name);
    if (!pod) throw notFound('pods', p.name);
    const containerName = resolveContainer(pod, query.container);
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      throw badRequest('the podshell sandbox serves exec and attach over WebSocket only (Kubernetes 1.30+ clients); SPDY/3.1 is not supported');
    }
    const { rest } = splitProtocolToken(firstProtocolLine(req) ?? '');
    const protocol = chooseSubprotocol(parseOffer(firstProtocolLine(req) === undefined ? undefined : rest), options.accepted);
    if (protocol === undefined) return { reject: [403, '', 'text/plain'] };
    const container = ctx.container(p.namespace, p.name, containerName);
    const request: StreamRequest = { ...query, namespace: p.namespace, pod: p.name };
    const translator = protocol === V5;
    let problem: [number, string] | undefined;
    if (!query.stdin && !query.stdout && !query.stderr) problem = [400, 'you must specify at least 1 of stdin, stdout, stderr'];
    else if (kind === 'exec' && (query.command ?? []).length === 0) problem = [400, 'you must specify at least one command for the container'];
    else if (!container?.running) problem = [500, `container not found ("${containerName}")`];
    if (problem) {
      // Legacy path: the kubelet's plain-text answer is relayed as is. v5: the translator has
      // already upgraded, so the failure arrives on channel 3.
      if (!translator) return { reject: [problem[0], problem[1], 'text/plain; charset=utf-8'] };
      return { request, protocol, container, containerName, inBandError: `unable to upgrade connection: ${problem[1]}` };
    }
    return { request, protocol, container, containerName };
  }

  return {
    handleUpgrade(req, socket, head) {
      const ready = planUpgrade(socket, () => prepare(req));
      if (!ready) return;
      if (ready.protocol === NONE) {
        delete req.headers['sec-websocket-protocol'];
        emptyProtocolHeader.add(req);
      } else {
        req.headers['sec-websocket-protocol'] = ready.protocol;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        new StreamSession(ws, socket, ready).start();
      });
    },
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

/** The largest output message: what one turn of the event loop read from a process, up to this. */
export const maxOutputMessage = 256 * 1024;

/**
 * Puts the channel byte and the WebSocket header in the OUTPUT_HEADROOM bytes before `payload`,
 * which sits at `offset` in `buffer`; returns the whole frame.
 */
function frameInPlace(buffer: Buffer, offset: number, length: number, channel: number): Buffer {
  buffer[offset - 1] = channel;
  const start = writeBinaryHeader(buffer, offset - 1, length + 1);
  return buffer.subarray(start, offset + length);
}

/**
 * Output read in small pieces, gathered into one binary WebSocket frame per turn of the event
 * loop (up to maxOutputMessage bytes), in buffers that are used again once the socket has taken
 * them: one copy per byte, as a frame of one read would need anyway, but far fewer frames and TLS
 * writes, and no new buffer per frame for the collector to reclaim.
 */
class OutputFramer {
  private readonly _channel: number;
  private _buffer: Buffer | null = null;
  /** Payload bytes gathered, from OUTPUT_HEADROOM on. */
  private _length = 0;
  /** Payload room of the next buffer: small at first, larger each time a frame fills up. */
  private _size = 16 * 1024;
  /** Buffers the socket is done with, for the next frames (at most two are kept). */
  private readonly _free: Buffer[] = [];

  constructor(channel: number) {
    this._channel = channel;
  }

  /** Whether `bytes` more fit in the frame being built (always true for an empty one); when not, the next buffers are larger. */
  fits(bytes: number): boolean {
    if (this._length === 0 || this._length + bytes <= this._size) return true;
    this._size = Math.min(this._size * 4, maxOutputMessage);
    return false;
  }

  full(): boolean {
    return this._length >= this._size;
  }

  add(chunk: Buffer): void {
    if (!this._buffer) this._buffer = this._free.pop() ?? Buffer.allocUnsafe(OUTPUT_HEADROOM + this._size);
    if (OUTPUT_HEADROOM + this._length + chunk.length > this._buffer.length) {
      // A read larger than a frame: it goes out in a buffer of its own size.
      const big = Buffer.allocUnsafe(OUTPUT_HEADROOM + this._length + chunk.length);
      this._buffer.copy(big, OUTPUT_HEADROOM, OUTPUT_HEADROOM, OUTPUT_HEADROOM + this._length);
      this._buffer = big;
    }
    chunk.copy(this._buffer, OUTPUT_HEADROOM + this._length);
    this._length += chunk.length;
  }

  /** The frame built so far, its payload's length (the channel byte excluded) and the buffer to give back once it is written; or null. */
  take(): { frame: Buffer; length: number; buffer: Buffer } | null {
    const buffer = this._buffer;
    const length = this._length;
    if (!buffer || length === 0) return null;
    this._buffer = null;
    this._length = 0;
    return { frame: frameInPlace(buffer, OUTPUT_HEADROOM, length, this._channel), length, buffer };
  }

  recycle(buffer: Buffer): void {
    if (buffer.length === OUTPUT_HEADROOM + this._size && this._free.length < 2) this._free.push(buffer);
  }
}

class StreamSession {
  private readonly _ws: WebSocket;
  /** The connection under `_ws`: output frames are written to it directly. */
  private readonly _socket: Duplex;
  private readonly _p: Prepared;
  private readonly _caps: Capabilities;
  private readonly _translator: boolean;
  private _inflight = 0;
  private readonly _paused = new Set<Readable>();
  private _stdin: import('node:stream').Writable | null = null;
  /** Reading from the client stopped until the process has taken more of its stdin. */
  private _stdinPaused = false;
  private _resize: ((cols: number, rows: number) => void) | null = null;
  private _closeStdin: (() => void) | null = null;
  private _resizeDecoder: ResizeDecoder | null = new ResizeDecoder();
  private _finished = false;
  private _onClientGone: () => void = () => {};

  constructor(ws: WebSocket, socket: Duplex, prepared: Prepared) {
    this._ws = ws;
    this._socket = socket;
    this._p = prepared;
    this._caps = capabilitiesOf(prepared.protocol);
    this._translator = prepared.protocol === V5;
  }

  private _send(channel: number, payload: Uint8Array, done?: () => void): void {
    if (this._ws.readyState !== this._ws.OPEN) return;
    this._ws.send(encodeFrame(this._caps.base64, channel, payload), { binary: !this._caps.base64 }, done);
  }

  start(): void {
    const { request } = this._p;
    const stderrOpen = request.stderr && (!request.tty || this._translator);
    // Exactly one empty message first, on the lowest channel the server writes.
    this._send(request.stdout ? Channel.Stdout : stderrOpen ? Channel.Stderr : Channel.Error, new Uint8Array(0));
    this._ws.on('message', (data: Buffer) => this._onMessage(data));
    this._ws.on('close', () => {
      if (!this._finished) this._onClientGone();
    });
    this._ws.on('error', () => this._ws.terminate());
    if (this._p.inBandError) return this._finish(internalErrorStatus(this._inBand(this._p.inBandError)));
    if (request.kind === 'exec') this._exec(stderrOpen);
    else this._attach();
  }

  /** The v5 translator wraps the upstream error once more (`Internal error occurred: ` twice). */
  private _inBand(message: string): string {
    return this._translator ? `Internal error occurred: ${message}` : message;
  }

  /**
   * Writes one whole binary frame straight to the socket, in order with what ws writes (ws writes
   * each of its frames at once: this server has no compression to queue them behind).
   */
  private _write(frame: Buffer, done: () => void): void {
    this._socket.write(frame, () => done());
  }

  private _pump(stream: Readable, channel: number, buffers: OutputBuffers | null = null): Promise<void> {
    // Pipes only: a terminal's output (exec with a tty, attach) goes out read by read, as it did,
    // small and interactive, and clients pace their windows by those reads.
    const framer = this._caps.base64 || !buffers ? null : new OutputFramer(channel);
    const sent = (bytes: number): void => {
      this._inflight -= bytes;
      if (this._inflight <= lowWater) {
        for (const s of this._paused) s.resume();
        this._paused.clear();
      }
    };
    // A large read waits for the end of this turn of the event loop in its own buffer, where the
    // small reads that follow it are appended (node reads a pipe until it is empty: a large read
    // is often followed by a few bytes written meanwhile), so that they go out in one frame.
    let held: { chunk: Buffer; length: number } | null = null;
    const flushHeld = (): void => {
      const h = held;
      if (!h) return;
      held = null;
      if (this._ws.readyState !== this._ws.OPEN) return;
      const room = Buffer.from(h.chunk.buffer, h.chunk.byteOffset - OUTPUT_HEADROOM, OUTPUT_HEADROOM + h.length);
      this._write(frameInPlace(room, OUTPUT_HEADROOM, h.length, channel), () => {
        buffers!.recycle(h.chunk);
        sent(h.length);
      });
    };
    let flushing: NodeJS.Immediate | undefined;
    const flush = (): void => {
      clearImmediate(flushing);
      flushing = undefined;
      flushHeld();
      const out = framer!.take();
      if (!out || this._ws.readyState !== this._ws.OPEN) return;
      this._write(out.frame, () => {
        framer!.recycle(out.buffer);
        sent(out.length);
      });
    };
    return new Promise((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        this._inflight += chunk.length;
        if (framer && buffers?.direct(chunk)) {
          // A large read, with room around it: it becomes a frame where it is.
          flush();
          held = { chunk, length: chunk.length };
          flushing = setImmediate(flush);
        } else if (framer && held && chunk.length <= held.chunk.buffer.byteLength - held.chunk.byteOffset - held.length) {
          chunk.copy(Buffer.from(held.chunk.buffer), held.chunk.byteOffset + held.length);
          held.length += chunk.length;
        } else if (framer) {
          flushHeld();
          if (!framer.fits(chunk.length)) flush();
          framer.add(chunk);
          if (framer.full()) flush();
          else flushing ??= setImmediate(flush);
        } else {
          this._send(channel, chunk, () => sent(chunk.length));
        }
        if (this._inflight > highWater) {
          stream.pause();
          this._paused.add(stream);
        }
      });
      const end = (): void => {
        if (framer) flush();
        resolve();
      };
      stream.on('end', end);
      stream.on('close', end);
      stream.on('error', end);
    });
  }

  private _exec(stderrOpen: boolean): void {
    const { request, container } = this._p;
    const argv = [...(request.command ?? [])];
    let proc;
    try {
      proc = container!.exec({ argv, tty: request.tty, stdin: request.stdin });
    } catch (err) {
      if (err instanceof ExecNotFoundError) {
        const id = randomBytes(32).toString('hex');
        return this._finish(
          internalErrorStatus(
            this._inBand(`error executing command in container: failed to exec in container: failed to start exec "${id}": OCI runtime exec failed: exec failed: unable to start container process: ${err.message}: unknown`),
          ),
        );
      }
      return this._finish(internalErrorStatus(this._inBand(`error executing command in container: ${(err as Error).message}`)));
    }
    this._stdin = proc.stdin;
    this._stdin?.on('error', () => {});
    this._resize = request.tty ? (cols, rows) => proc.resize(cols, rows) : null;
    this._closeStdin = () => proc.closeStdin();
    this._onClientGone = () => proc.kill('SIGKILL');
    const outputs: Promise<void>[] = [];
    if (request.stdout) outputs.push(this._pump(proc.stdout, Channel.Stdout, proc.output));
    else proc.stdout.resume();
    if (proc.stderr) {
      if (stderrOpen) outputs.push(this._pump(proc.stderr, Channel.Stderr, proc.output));
      else proc.stderr.resume();
    }
    void Promise.all([proc.exited, ...outputs]).then(([exit]) => {
      if (exit.code === 0) return this._finish(successStatus());
      const message = this._translator
        ? `command terminated with non-zero exit code: command terminated with exit code ${exit.code}`
        : `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exit.code}`;
      this._finish(exitCodeStatus(exit.code, message));
    });
  }

  private _attach(): void {
    const { request, container } = this._p;
    const handle = container!.attach();
    this._stdin = request.stdin ? handle.stdin : null;
    this._stdin?.on('error', () => {});
    this._resize = request.tty ? (cols, rows) => handle.resize(cols, rows) : null;
    // The container's stdin outlives an attach session (stdinOnce is not modelled): a client's
    // half-close ends only its own input.
    this._closeStdin = () => {};
    this._onClientGone = () => handle.detach();
    if (request.stdout || request.stderr) void this._pump(handle.output, request.stdout ? Channel.Stdout : Channel.Stderr);
    else handle.output.resume();
    void container!.exited.then(() => {
      handle.detach();
      this._finish(successStatus());
    });
  }

  private _onMessage(data: Buffer): void {
    if (this._finished) return;
    let frame;
    try {
      frame = decodeFrame(data, this._caps.base64);
    } catch {
      return; // a base64 body that does not decode is dropped, as the server logs and drops it
    }
    if (!frame) return;
    switch (frame.channel) {
      case Channel.Stdin:
        if (this._stdin && frame.payload.length > 0 && this._stdin.writable) {
          // A view, not a copy: nothing changes a message's bytes once ws has delivered it.
          const payload = Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.length);
          const stdin = this._stdin;
          stdin.write(payload, () => {
            if (this._stdinPaused && stdin.writableLength <= stdinLowWater) {
              this._stdinPaused = false;
              this._ws.resume();
            }
          });
          if (!this._stdinPaused && stdin.writableLength > stdinHighWater) {
            this._stdinPaused = true;
            this._ws.pause();
          }
        }
        return;
      case Channel.Resize: {
        if (!this._resizeDecoder) return;
        try {
          for (const size of this._resizeDecoder.push(frame.payload)) this._resize?.(size.width, size.height);
        } catch {
          this._resizeDecoder = null; // the server's decoder stops at the first bad value
        }
        return;
      }
      case Channel.Close:
        if (!this._caps.canHalfClose) return;
        if (data.length !== 2 || frame.payload[0]! >= 5) {
          this._ws.terminate();
          return;
        }
        if (frame.payload[0] === Channel.Stdin) {
          this._closeStdin?.();
          this._stdin = null;
        } else if (frame.payload[0] === Channel.Resize) this._resizeDecoder = null;
        return;
      default:
        return;
    }
  }

  private _finish(status: Status): void {
    if (this._finished) return;
    this._finished = true;
    if (this._caps.statusJson) this._send(Channel.Error, encodeStatus(status));
    else if (status.status !== 'Success') this._send(Channel.Error, Buffer.from(status.message ?? ''));
    // Reading may be paused for a stdin that will never drain now: the client's answer to the
    // close frame must still be read.
    this._ws.resume();
    this._ws.close(1000);
    // A client that never completes the closing handshake must not hold the process's resources.
    setTimeout(() => this._ws.terminate(), 10_000).unref();
  }
}
