// A small Node client of the web shell's stream (docs/web.md, "The stream"), speaking the framing
// through src/protocol/webshell.ts: for the gateway's tests and the bench. It records every message,
// checks that output offsets follow each other without a gap, and acks as told.

import WebSocket from 'ws';
import {
  decodeServerMessage,
  encodeAck,
  encodeCloseStdin,
  encodeInput,
  encodeResize,
  encodeResume,
  type ErrorInfo,
  type ExitInfo,
  type JoinedInfo,
  type Notice,
} from '../src/protocol/webshell.ts';

export interface StreamClientOptions {
  /** Offset sent in `resume`. [default 0] */
  resumeFrom?: number;
  /** Ack every output message as it arrives. [default true] */
  autoAck?: boolean;
}

export class StreamClient {
  readonly socket: WebSocket;
  /** Every output byte received since joining, in order. */
  private _chunks: Buffer[] = [];
  private _received = 0;
  /** Offset of the first output byte received (the `joined` offset). */
  start = -1;
  /** Offset just past the last output byte received. */
  next = -1;
  acked = -1;
  autoAck: boolean;
  joinedInfo: JoinedInfo | null = null;
  exitInfo: ExitInfo | null = null;
  errorInfo: ErrorInfo | null = null;
  readonly notices: Notice[] = [];
  /** Output ranges the gateway skipped (an interrupt during a flood); each is in `problems` too. */
  readonly gaps: { from: number; to: number }[] = [];
  /** Protocol violations seen from the gateway (gaps in offsets, undecodable messages). */
  readonly problems: string[] = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly joined: Promise<JoinedInfo>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(socket: WebSocket, options: StreamClientOptions = {}) {
    this.socket = socket;
    this.autoAck = options.autoAck ?? true;
    socket.binaryType = 'nodebuffer';
    let onJoined!: (j: JoinedInfo) => void;
    let onJoinFail!: (e: Error) => void;
    this.joined = new Promise((resolve, reject) => ((onJoined = resolve), (onJoinFail = reject)));
    this.joined.catch(() => {});
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        onJoinFail(new Error(`closed ${code} ${this.closeReason} before joined`));
        resolve({ code, reason: this.closeReason });
      });
    });
    socket.on('error', () => {});
    socket.on('open', () => socket.send(encodeResume(options.resumeFrom ?? 0)));
    socket.on('message', (data: Buffer) => {
      let message;
      try {
        message = decodeServerMessage(data);
      } catch (err) {
        this.problems.push(String(err));
        return;
      }
      switch (message.type) {
        case 'joined':
          this.joinedInfo = message.joined;
          this.start = this.next = this.acked = message.joined.offset;
          onJoined(message.joined);
          break;
        case 'output':
          if (message.offset > this.next) this.gaps.push({ from: this.next, to: message.offset });
          if (message.offset !== this.next) this.problems.push(`output at ${message.offset}, expected ${this.next}`);
          this._chunks.push(Buffer.from(message.data));
          this._received += message.data.length;
          this.next = message.offset + message.data.length;
          if (this.autoAck) this.ack();
          break;
        case 'exit':
          this.exitInfo = message.exit;
          break;
        case 'error':
          this.errorInfo = message.error;
          break;
        case 'notice':
          this.notices.push(message.notice);
          break;
      }
    });
  }

  /** All output received, as one buffer (starting at `start`). */
  bytes(): Buffer {
    if (this._chunks.length > 1) this._chunks = [Buffer.concat(this._chunks)];
    return this._chunks[0] ?? Buffer.alloc(0);
  }

  text(): string {
    return this.bytes().toString('latin1');
  }

  /** The last `n` bytes received, as text. */
  tail(n: number): string {
    let out = '';
    for (let i = this._chunks.length - 1; i >= 0 && out.length < n; i--) out = this._chunks[i]!.toString('latin1') + out;
    return out.slice(-n);
  }

  /** Output received so far, in bytes. */
  get received(): number {
    return this._received;
  }

  /** Acknowledge everything received (or up to `offset`). */
  ack(offset = this.next): void {
    if (offset > this.acked && this.socket.readyState === WebSocket.OPEN) {
      this.acked = offset;
      this.socket.send(encodeAck(offset));
    }
  }

  type(text: string | Uint8Array): void {
    this.socket.send(encodeInput(typeof text === 'string' ? Buffer.from(text) : text));
  }

  resize(cols: number, rows: number): void {
    this.socket.send(encodeResize(cols, rows));
  }

  closeStdin(): void {
    this.socket.send(encodeCloseStdin());
  }

  /** Drop the connection from this side (a reload, a lost network). */
  async drop(): Promise<void> {
    this.socket.terminate();
    await this.closed;
  }
}

/** Poll until `condition` holds; fail after a generous deadline. */
export async function until(what: string, condition: () => boolean, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
