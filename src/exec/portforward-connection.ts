// One forwarded TCP connection: a local socket relayed over its own port-forward WebSocket
// (docs/protocol.md, "Port-forward"). Bytes flow both ways with backpressure; the server's
// error-channel text ends the connection with a PortForwardError.

import type { Socket } from 'node:net';
import WebSocket from 'ws';
import {
  capabilitiesOf,
  dataChannel,
  decodeFrame,
  decodePortHeader,
  encodeFrame,
  errorChannel,
  PodshellError,
  PORT_HEADER_BYTES,
  portForwardProtocols,
} from '../protocol/index.ts';
import { dialStreamSocket, keepAlive, type DialConnectOptions } from './dial.ts';

/** Local bytes queued on the WebSocket before the local socket is paused. */
const sendHighWater = 1024 * 1024; // 1 MiB
/** Largest frame sent: well under the 32 MiB servers accept. */
const maxFrame = 256 * 1024;
/** Most bytes kept from the error channel: the kubelet's message is one line. */
const maxErrorBytes = 64 * 1024;
/** How long an ended connection waits for the other side's close before cutting it, by default. */
export const CLOSE_GRACE_MS = 2000;

/** A forwarded connection failed: the server's error-channel text, or the dial's error. */
export class PortForwardError extends PodshellError {
  readonly localPort: number;
  readonly remotePort: number;
  constructor(localPort: number, remotePort: number, detail: string, options?: { cause?: unknown }) {
    // kubectl's words for a connection the server could not forward.
    super('ERR_PORT_FORWARD', `an error occurred forwarding ${localPort} -> ${remotePort}: ${detail}`, options);
    this.name = 'PortForwardError';
    this.localPort = localPort;
    this.remotePort = remotePort;
  }
}

export interface ConnectionPlan {
  url: URL;
  connect: DialConnectOptions;
  handshakeTimeoutMs: number;
  /** Ping every `intervalMs`; no pong for `timeoutMs` (while reading) means the connection is lost. */
  keepalive: { intervalMs: number; timeoutMs: number };
  /** How long an ended connection waits for the other side's close before cutting it. */
  closeGraceMs: number;
  localPort: number;
  remotePort: number;
}

/**
 * Relay `socket` over a new WebSocket. Resolves when both ends are closed, with the connection's
 * failure if it had one (never rejects). `stop()` ends it cleanly from this side.
 */
export class ForwardedConnection {
  readonly done: Promise<PortForwardError | null>;
  private readonly _socket: Socket;
  private readonly _plan: ConnectionPlan;
  private _ws: WebSocket | null = null;
  private _base64 = false;
  /** Header bytes still to strip, per channel (data, error). */
  private readonly _header = [PORT_HEADER_BYTES, PORT_HEADER_BYTES];
  private readonly _headerBytes: number[][] = [[], []];
  private readonly _errorText: Buffer[] = [];
  private _errorSize = 0;
  private _failure: PortForwardError | null = null;
  private _queued = 0;
  private _localPaused = false;
  private _wsPaused = false;
  /** Ended from this side (stop(), or the local socket closed): what follows is no failure. */
  private _stopping = false;
  private _opened = false;
  private _finished = false;
  private _resolve!: (failure: PortForwardError | null) => void;
  private _graceTimer: NodeJS.Timeout | null = null;
  private _stopKeepalive: (() => void) | null = null;

  constructor(socket: Socket, plan: ConnectionPlan) {
    this._socket = socket;
    this._plan = plan;
    this.done = new Promise((resolve) => (this._resolve = resolve));
    socket.pause();
    socket.on('error', () => {}); // 'close' follows; a reset local peer is not this connection's failure
    socket.on('close', () => this._onLocalClose());
    void this._open();
  }

  /**
   * End the connection from this side: the local socket gets its FIN, the WebSocket a normal close.
   * When the local reader is behind (the WebSocket paused for it), the server's close could not
   * be read and waiting would last until a close timeout: both are cut at once.
   */
  stop(): void {
    if (this._finished) return;
    this._stopping = true;
    if (this._wsPaused) {
      this._socket.destroy();
      this._ws?.terminate();
      return;
    }
    this._socket.end();
    this._closeWs();
    this._armGrace();
  }

  private async _open(): Promise<void> {
    const { url, connect, handshakeTimeoutMs } = this._plan;
    try {
      await dialStreamSocket(url, portForwardProtocols, connect, handshakeTimeoutMs, {
        created: (ws) => {
          this._ws = ws;
          ws.on('message', (data: Buffer, isBinary: boolean) => this._onMessage(data, isBinary));
          ws.on('close', (code: number) => this._onWsClose(code));
        },
        opened: (protocol) => {
          this._opened = true;
          this._base64 = capabilitiesOf(protocol).base64;
          if (this._socket.destroyed) return this._closeWs();
          this._socket.on('data', (chunk: Buffer) => this._onLocalData(chunk));
          // The local peer's FIN cannot travel: the protocol has no half-close. The reply can,
          // so the WebSocket stays until the server ends it (or the local socket closes).
          this._socket.on('end', () => {});
          this._socket.resume();
          this._startKeepalive();
        },
        lost: () => {}, // 'close' follows
      });
    } catch (err) {
      if (!this._stopping) this._fail(err instanceof PodshellError ? err.message : String(err), err);
      this._socket.destroy();
      this._settle();
    }
  }

  private _startKeepalive(): void {
    const { intervalMs, timeoutMs } = this._plan.keepalive;
    if (!(intervalMs > 0) || !this._ws) return;
    // Paused reading for a slow local reader (pongs wait unread too), or what was sent waiting for
    // a pod that does not read (the server reads nothing, pings included): flow control, not a
    // dead connection.
    this._stopKeepalive = keepAlive(this._ws, intervalMs, timeoutMs, () => this._wsPaused || this._localPaused || this._queued > 0, () => {
      this._fail(`the connection to the pod was lost: no answer to keepalive pings for ${timeoutMs} ms`);
      this._socket.resetAndDestroy();
      this._ws?.terminate();
    });
  }

  private _onLocalData(chunk: Buffer): void {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    for (let at = 0; at < chunk.length; at += maxFrame) {
      const part = chunk.subarray(at, at + maxFrame);
      const size = part.length;
      this._queued += size;
      ws.send(encodeFrame(this._base64, dataChannel(0), part), { binary: !this._base64 }, () => {
        this._queued -= size;
        if (this._localPaused && this._queued < sendHighWater / 2) {
          this._localPaused = false;
          this._socket.resume();
        }
      });
    }
    if (this._queued >= sendHighWater && !this._localPaused) {
      this._localPaused = true;
      this._socket.pause();
    }
  }

  private _onMessage(data: Buffer, isBinary: boolean): void {
    if (this._finished || this._failure) return;
    if (isBinary === this._base64) return this._protocolError(`expected ${this._base64 ? 'text' : 'binary'} messages, got a ${isBinary ? 'binary' : 'text'} one`);
    let frame;
    try {
      frame = decodeFrame(data, this._base64);
    } catch (err) {
      return this._protocolError(`unreadable frame: ${(err as Error).message}`);
    }
    if (!frame) return;
    if (frame.channel !== dataChannel(0) && frame.channel !== errorChannel(0)) return this._protocolError(`a frame on channel ${frame.channel}, which no port of this connection uses`);
    const which = frame.channel === dataChannel(0) ? 0 : 1;
    let payload = Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.length);
    // Each channel starts with the port, 2 bytes little-endian; it may come split.
    if (this._header[which]! > 0) {
      const take = Math.min(this._header[which]!, payload.length);
      this._headerBytes[which]!.push(...payload.subarray(0, take));
      this._header[which]! -= take;
      payload = payload.subarray(take);
      if (this._header[which] === 0) {
        const port = decodePortHeader(Uint8Array.from(this._headerBytes[which]!));
        if (port !== this._plan.remotePort) return this._protocolError(`the server named port ${port} on channel ${frame.channel}, expected ${this._plan.remotePort}`);
      }
    }
    if (payload.length === 0) return;
    if (which === 1) {
      this._errorSize += payload.length;
      if (this._errorSize <= maxErrorBytes) this._errorText.push(payload);
      return;
    }
    if (!this._socket.write(payload) && !this._wsPaused) {
      // A slow local reader: stop reading the WebSocket until the socket drains.
      this._wsPaused = true;
      this._ws?.pause();
      this._socket.once('drain', () => {
        this._wsPaused = false;
        this._ws?.resume();
      });
    }
  }

  private _protocolError(detail: string): void {
    this._fail(`protocol error: ${detail}`);
    this._socket.destroy();
    this._ws?.terminate();
  }

  private _fail(detail: string, cause?: unknown): void {
    if (this._failure) return;
    this._failure = new PortForwardError(this._plan.localPort, this._plan.remotePort, detail, cause === undefined ? undefined : { cause });
  }

  /**
   * The WebSocket closed. After error text: the server's failure. A normal close: the pod side
   * ended (1000, or 1005: a close frame without a code), so the local peer gets what was
   * received, then its FIN. Any other close (the
   * connection broke) resets the local socket, so a transfer cut short never looks complete.
   */
  private _onWsClose(code: number): void {
    if (this._errorText.length > 0) {
      this._fail(Buffer.concat(this._errorText).toString('utf8').trim());
      this._socket.destroy();
    } else if (code !== 1000 && code !== 1005 && !this._stopping && this._opened) {
      this._fail(code === 1006 ? 'the connection to the pod was lost' : `the server closed the connection with code ${code}`);
      this._socket.resetAndDestroy();
    } else if (!this._socket.destroyed) {
      // Whatever was written still reaches the local peer, then its FIN.
      this._socket.end();
      this._armGrace();
    }
    this._settle();
  }

  private _onLocalClose(): void {
    this._stopping = true;
    this._closeWs();
    this._armGrace();
    this._settle();
  }

  private _closeWs(): void {
    const ws = this._ws;
    if (!ws) return;
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  }

  /** Cut whatever is still open after the grace period. */
  private _armGrace(): void {
    if (this._graceTimer || this._finished) return;
    this._graceTimer = setTimeout(() => {
      this._socket.destroy();
      this._ws?.terminate();
    }, this._plan.closeGraceMs);
    this._graceTimer.unref();
  }

  /** Resolves `done` once both the local socket and the WebSocket are closed. */
  private _settle(): void {
    if (this._finished) return;
    const wsClosed = !this._ws || this._ws.readyState === WebSocket.CLOSED;
    if (!this._socket.closed || !wsClosed) return;
    this._finished = true;
    if (this._graceTimer) clearTimeout(this._graceTimer);
    this._stopKeepalive?.();
    this._resolve(this._failure);
  }
}
