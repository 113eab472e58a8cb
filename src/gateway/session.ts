// One session of the web shell (docs/web.md, "Sessions" and "The stream"): an exec in a pod that
// the gateway owns, joined by at most one WebSocket client at a time. Output goes into a ring
// buffer for replay and to the client as fast as the client acknowledges it; past the high-water
// mark the session stops reading the exec's stdout, so the library's backpressure reaches the API
// server and the process. With no client joined it keeps reading (the ring overwrites its oldest
// bytes), so the process never blocks; the grace period then ends it. An interrupt typed while
// the client is a full window behind skips what was already on its way (docs/web.md,
// "Interrupting a flood"), as a terminal flushes its output queue on ^C.

import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import type { ExecSession } from '../lib/index.ts';
import {
  decodeClientMessage,
  encodeError,
  encodeExit,
  encodeJoined,
  encodeNotice,
  encodeOutput,
  maxWebshellMessage,
  WebshellMessageError,
  type EndingReason,
  type ErrorInfo,
  type ExitInfo,
  type Notice,
  type SessionDescription,
} from '../protocol/webshell.ts';
import type { GatewayConfig } from './context.ts';
import { errorAnswer } from './errors.ts';
import { OutputRing } from './ring.ts';

/** The timings and sizes one session runs with (from GatewayConfig, plus the stream's own). */
export interface SessionLimits
  extends Pick<GatewayConfig, 'graceMs' | 'replayBufferBytes' | 'highWaterBytes' | 'lowWaterBytes' | 'idleTimeoutMs' | 'maxDurationMs' | 'pingIntervalMs'> {
  /** A new socket must send `resume` within this. [default 10_000 ms] */
  resumeTimeoutMs: number;
  /** The idle warning comes this long before the idle timeout. [default 60_000 ms] */
  idleWarningMs: number;
  /** Put before each session id: the replica's id and `_` with team sign-in. [default ''] */
  idPrefix?: string;
}

/** What a session runs, and where. */
export type SessionSpec = Pick<SessionDescription, 'cluster' | 'namespace' | 'pod' | 'container' | 'command' | 'tty' | 'cols' | 'rows'>;

/** The session's own counters, for metrics and tests. */
export interface SessionStats {
  /** Output bytes read from the exec so far (the next output offset). */
  produced: number;
  /** Output bytes sent to the joined client (its next offset); 0 with no client. */
  sent: number;
  /** Offset the joined client has acknowledged. */
  acked: number;
  /** Whether reading the exec's stdout is paused for the client's acknowledgements. */
  paused: boolean;
  /** How many times reading was paused. */
  pauses: number;
  /** Most output produced while joined and not yet acknowledged (produced − acked), seen after each read. */
  maxUnacked: number;
  /** Largest single read from the exec's stdout. */
  maxChunk: number;
  /** Oldest offset the ring still holds. */
  oldest: number;
  /** Output read from the cluster that waits in the exec's stream buffer (while paused, the backlog). */
  buffered: number;
  /** How many times an interrupt skipped output on its way to the client. */
  skips: number;
  /** Output bytes those skips left out of the client's stream (they are still recorded). */
  skipped: number;
}

/** Largest `output` payload sent in one message. */
const maxOutputPayload = 64 * 1024; // 64 KiB: an exec's reads fit whole, one message each
/** Input queued toward the cluster above which the client's socket stops being read. */
const inputHighWater = 1024 * 1024; // 1 MiB
/** Bytes a signal stands for on a terminal. */
export const signalBytes = { INT: '\x03', QUIT: '\x1c', TSTP: '\x1a', EOF: '\x04' } as const;
export type SignalName = keyof typeof signalBytes;
/** The bytes that make a terminal signal its foreground job by default (INTR, QUIT, SUSP). */
const interruptBytes = [0x03, 0x1c, 0x1a];
/** While skipping, output stops being skipped after this long without any… */
const skipQuietMs = 60;
/** …and after this long in any case (a process that ignores the signal floods on). */
const skipMaxMs = 750;

interface ClientLink {
  readonly socket: WebSocket;
  sent: number;
  acked: number;
  /** Output ranges skipped after an interrupt that the client has not acknowledged past yet. */
  gaps: { from: number; to: number }[];
  /** Whether the client answered the last ping. */
  alive: boolean;
  pingTimer: NodeJS.Timeout;
}

interface Hooks {
  /** Called once when the session is over (ended, or exited and its grace period passed). */
  onGone(session: GatewaySession): void;
  join(): void;
  bytes(direction: 'in' | 'out', count: number): void;
  // -- audit and recordings (audit.ts, recording.ts): what the process printed, what the client
  // typed, each resize, as they happen --
  output?(chunk: Uint8Array): void;
  input?(data: Uint8Array): void;
  resize?(cols: number, rows: number): void;
}

/** A session id: 128 random bits, URL-safe. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

function unref<T extends NodeJS.Timeout>(timer: T): T {
  timer.unref();
  return timer;
}

export class GatewaySession {
  readonly id: string;
  /** The principal that owns it: only it may see or join the session. */
  readonly owner: string;
  readonly created = new Date();
  readonly spec: SessionSpec;
  state: 'running' | 'exited' = 'running';
  exitCode: number | null = null;
  /** Input bytes written toward the process (for the audit log). */
  bytesIn = 0;
  /** Why the gateway ended the session, when it did (for the audit log); null until then. */
  endReason: EndingReason | null = null;
  /** Notices every client gets right after `joined` (that its input is recorded). */
  joinNotices: Notice[] = [];

  private readonly _exec: ExecSession;
  private readonly _limits: SessionLimits;
  private readonly _hooks: Hooks;
  private readonly _ring: OutputRing;
  private _client: ClientLink | null = null;
  /** The exec's end, told to the client once everything before it was sent. */
  private _final: { kind: 'exit'; exit: ExitInfo } | { kind: 'error'; error: ErrorInfo } | null = null;
  private _gone = false;
  /** Why the exec failed, when it did. */
  private _error: unknown = null;
  private _paused = false;
  /** Whether the client's socket is paused because stdin toward the cluster is full. */
  private _inputPaused = false;
  private _pauses = 0;
  private _maxUnacked = 0;
  private _maxChunk = 0;
  /** While an interrupt skips output: its two timers (quiet, and the limit). */
  private _skip: { quiet: NodeJS.Timeout; limit: NodeJS.Timeout } | null = null;
  private _skips = 0;
  private _skipped = 0;
  private _graceTimer: NodeJS.Timeout | undefined;
  private _idleWarnTimer: NodeJS.Timeout | undefined;
  private _idleTimer: NodeJS.Timeout | undefined;
  private _maxTimer: NodeJS.Timeout | undefined;
  private _firstOutput: () => void = () => {};
  private readonly _firstOutputSeen: Promise<void>;
  private readonly _settled: Promise<void>;

  /** `id`: chosen before the exec starts when the exec's requests carry it (identity.ts); default: a new random one. */
  constructor(owner: string, spec: SessionSpec, exec: ExecSession, limits: SessionLimits, hooks: Hooks, id: string = newSessionId()) {
    this.id = id;
    this.owner = owner;
    this.spec = spec;
    this._exec = exec;
    this._limits = limits;
    this._hooks = hooks;
    this._ring = new OutputRing(limits.replayBufferBytes);
    this._firstOutputSeen = new Promise((resolve) => (this._firstOutput = resolve));
    exec.opened.catch(() => {}); // its failure is exit's failure too
    exec.stdout!.on('data', (chunk: Buffer) => this._onOutput(chunk));
    this._settled = exec.exit.then(
      (status) => this._onEnd({ kind: 'exit', exit: { code: status.code } }, status.code),
      (err: unknown) => {
        this._error = err;
        const { body } = errorAnswer(err);
        this._onEnd({ kind: 'error', error: body.error }, null);
      },
    );
  }

  /**
   * Resolves once the exec is open and, with `waitOutputMs`, has printed something or ended (a
   * shell prints its prompt; a missing one fails at once) or that long has passed. Rejects with
   * the exec's error when it failed before that.
   */
  async ready(waitOutputMs: number): Promise<void> {
    const opened = await this._exec.opened;
    this.spec.container = opened.container;
    if (waitOutputMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => (timer = unref(setTimeout(resolve, waitOutputMs))));
      try {
        await Promise.race([this._firstOutputSeen, this._exec.exit.then(() => {}), waited]);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Start the clocks: grace (nobody joined yet), idle, max duration. */
  start(): void {
    if (this.state === 'running') {
      this._maxTimer = unref(setTimeout(() => void this.end('max-duration'), this._limits.maxDurationMs));
      this._touchIdle();
    }
    if (!this._client) this._startGrace();
  }

  /** Resolves once the exec has ended (exited, failed or aborted). */
  get settled(): Promise<void> {
    return this._settled;
  }

  /** The exec's error when it failed (the cluster refused, the connection was lost), else null. */
  get failure(): unknown {
    return this._error;
  }

  get joined(): boolean {
    return this._client !== null;
  }

  describe(): SessionDescription {
    const { cluster, namespace, pod, container, command, tty, cols, rows } = this.spec;
    return {
      id: this.id,
      cluster,
      namespace,
      pod,
      container,
      command: [...command],
      tty,
      cols,
      rows,
      state: this.state,
      exitCode: this.exitCode,
      created: this.created.toISOString(),
      produced: this._ring.end,
      joined: this.joined,
    };
  }

  stats(): SessionStats {
    return {
      produced: this._ring.end,
      sent: this._client?.sent ?? 0,
      acked: this._client?.acked ?? 0,
      paused: this._paused,
      pauses: this._pauses,
      maxUnacked: this._maxUnacked,
      maxChunk: this._maxChunk,
      oldest: this._ring.oldest,
      buffered: this._exec.stdout!.readableLength,
      skips: this._skips,
      skipped: this._skipped,
    };
  }

  // ---- control from the HTTP API ----

  resize(cols: number, rows: number): void {
    this.spec.cols = cols;
    this.spec.rows = rows;
    if (this.spec.tty && this.state === 'running') {
      this._exec.resize(cols, rows);
      this._hooks.resize?.(cols, rows);
    }
  }

  /** Type a signal's byte on the terminal; EOF off a terminal closes stdin. */
  signal(name: SignalName): void {
    if (this.state !== 'running') return;
    this._touchIdle(); // a signal is the user's input too
    if (name === 'EOF' && !this.spec.tty) this._exec.closeStdin();
    else this._input(Buffer.from(signalBytes[name], 'latin1'));
  }

  /**
   * End the session now: the client gets an `ending` notice and the socket closes; the exec is
   * aborted, which closes its connection to the cluster (on a terminal the shell is hung up and
   * everything it started ends). Resolves once that connection is closed.
   */
  async end(reason: EndingReason): Promise<void> {
    if (!this._gone) {
      this._gone = true;
      this.endReason = reason;
      this._clearTimers();
      const client = this._client;
      if (client) {
        this._detach(client);
        this._send(client, encodeNotice({ kind: 'ending', reason }));
        client.socket.close(1000, `session ended: ${reason}`);
      }
      if (this.state === 'running') this._exec.abort(new Error(`session ended: ${reason}`));
      this._hooks.onGone(this);
    }
    await this._settled;
  }

  // ---- the stream ----

  /**
   * A WebSocket that wants to join. Nothing is sent before its `resume` (which must come within
   * resumeTimeoutMs); then it takes over the session from any client joined before.
   */
  accept(socket: WebSocket): void {
    let link: ClientLink | null = null;
    const resumeTimer = unref(setTimeout(() => socket.close(4000, 'no resume message within the time allowed'), this._limits.resumeTimeoutMs));
    const fail = (code: number, reason: string) => {
      clearTimeout(resumeTimer);
      socket.close(code, reason.slice(0, 120));
    };
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return fail(1003, 'text messages are not part of the protocol');
      // The server's WebSocket plugin refuses larger messages already; this holds whatever it allows.
      if (data.length > maxWebshellMessage) return fail(1009, `messages are at most ${maxWebshellMessage} bytes`);
      let message;
      try {
        message = decodeClientMessage(data);
      } catch (err) {
        return fail(1008, err instanceof WebshellMessageError ? err.message : 'malformed message');
      }
      if (!link) {
        if (message.type !== 'resume') return fail(1008, `the first message must be resume, not ${message.type}`);
        clearTimeout(resumeTimer);
        if (this._gone) return fail(4004, 'no such session');
        link = this._join(socket, message.offset);
        return;
      }
      if (this._client !== link) return; // taken over or ended: this socket is closing
      switch (message.type) {
        case 'resume':
          return fail(1008, 'resume may only be the first message');
        case 'ack':
          if (message.offset > link.sent) return fail(1008, `ack of offset ${message.offset} beyond the ${link.sent} bytes sent`);
          if (message.offset > link.acked) {
            link.acked = message.offset;
            if (link.gaps.length > 0) link.gaps = link.gaps.filter((gap) => gap.to > link!.acked);
            this._pump();
            this._flow();
          }
          return;
        case 'input':
          this._touchIdle();
          this._input(message.data);
          return;
        case 'resize':
          this.resize(message.cols, message.rows);
          return;
        case 'close-stdin':
          if (this.state === 'running') this._exec.closeStdin();
          return;
      }
    });
    socket.on('close', () => {
      clearTimeout(resumeTimer);
      if (link && this._client === link) this._leave(link);
      else if (link) clearInterval(link.pingTimer);
    });
    socket.on('error', () => {}); // 'close' follows
  }

  private _join(socket: WebSocket, resumeFrom: number): ClientLink {
    const previous = this._client;
    if (previous) {
      this._detach(previous);
      previous.socket.close(4001, 'another client joined this session');
    }
    const end = this._ring.end;
    const offset = Math.min(Math.max(resumeFrom, this._ring.oldest), end);
    const skipped = resumeFrom < offset ? offset - resumeFrom : 0;
    const link: ClientLink = {
      socket,
      sent: offset,
      acked: offset,
      gaps: [],
      alive: true,
      pingTimer: unref(
        setInterval(() => {
          if (!link.alive) {
            // No answer to the previous ping: the client is gone (a sleeping laptop, a dead network).
            socket.terminate();
            return;
          }
          link.alive = false;
          socket.ping();
        }, this._limits.pingIntervalMs),
      ),
    };
    socket.on('pong', () => (link.alive = true));
    this._client = link;
    clearTimeout(this._graceTimer);
    this._graceTimer = undefined;
    this._hooks.join();
    this._send(link, encodeJoined({ session: this.describe(), offset, skipped }));
    for (const notice of this.joinNotices) this._send(link, encodeNotice(notice));
    this._pump();
    this._flow();
    return link;
  }

  private _leave(link: ClientLink): void {
    this._detach(link);
    this._flow(); // nobody joined: read on into the ring, the process must never block
    if (!this._gone) this._startGrace();
  }

  private _detach(link: ClientLink): void {
    clearInterval(link.pingTimer);
    if (this._client === link) {
      this._client = null;
      this._stopSkipping();
    }
  }

  /** Output sent to (or, with `upTo` past `sent`, meant for) the client and not acknowledged; skipped ranges do not count. */
  private _unacked(link: ClientLink, upTo: number): number {
    let n = upTo - link.acked;
    for (const gap of link.gaps) n -= Math.max(0, gap.to - Math.max(gap.from, link.acked));
    return n;
  }

  private _send(link: ClientLink, bytes: Uint8Array): void {
    if (link.socket.readyState === link.socket.OPEN) link.socket.send(bytes);
  }

  private _onOutput(chunk: Buffer): void {
    const start = this._ring.end;
    this._ring.append(chunk);
    this._hooks.output?.(chunk);
    if (chunk.length > this._maxChunk) this._maxChunk = chunk.length;
    const link = this._client;
    if (this._skip) {
      this._skip.quiet.refresh();
    } else if (link) {
      // The live path: everything before this chunk went out already, send it as it is.
      if (link.sent === start && this._unacked(link, link.sent) < this._limits.highWaterBytes && chunk.length <= maxOutputPayload) {
        this._send(link, encodeOutput(start, chunk));
        link.sent += chunk.length;
        this._hooks.bytes('out', chunk.length);
      }
      this._pump();
      const unacked = this._unacked(link, this._ring.end);
      if (unacked > this._maxUnacked) this._maxUnacked = unacked;
    }
    this._flow();
    this._firstOutput();
  }

  /** Send what the window allows, from the ring; after the last byte, the exec's end. */
  private _pump(): void {
    const link = this._client;
    if (!link || this._skip) return;
    while (link.sent < this._ring.end && this._unacked(link, link.sent) < this._limits.highWaterBytes) {
      // A view into the ring, copied once into the message (a run that wraps goes in two).
      const { offset, bytes } = this._ring.view(link.sent, maxOutputPayload);
      this._send(link, encodeOutput(offset, bytes));
      link.sent = offset + bytes.length;
      this._hooks.bytes('out', bytes.length);
    }
    if (this._final && link.sent === this._ring.end) {
      this._send(link, this._final.kind === 'exit' ? encodeExit(this._final.exit) : encodeError(this._final.error));
      this._detach(link);
      link.socket.close(1000, this._final.kind === 'exit' ? 'the command exited' : 'the session failed');
      if (!this._gone) this._startGrace();
    }
  }

  /** Pause reading the exec at the high-water mark, resume below the low-water mark. */
  private _flow(): void {
    const link = this._client;
    const stdout = this._exec.stdout!;
    const unacked = link ? this._unacked(link, this._ring.end) : 0;
    if (link && !this._skip && unacked >= this._limits.highWaterBytes) {
      if (!this._paused) {
        this._paused = true;
        this._pauses++;
        stdout.pause();
      }
    } else if (this._paused && (!link || this._skip || unacked < this._limits.lowWaterBytes)) {
      this._paused = false;
      stdout.resume();
    }
  }

  private _input(data: Uint8Array): void {
    if (this.state !== 'running' || data.length === 0) return;
    const stdin = this._exec.stdin!;
    this._hooks.bytes('in', data.length);
    this.bytesIn += data.length;
    this._hooks.input?.(data);
    stdin.write(data);
    const link = this._client;
    // The client is a full window behind (reading is paused for its acks) and the user interrupts:
    // what is already on its way would take as long to draw as it took to make. Skip it.
    if (link && this._paused && !this._skip && this.spec.tty && interruptBytes.some((b) => data.includes(b))) this._startSkipping();
    // A client that pastes faster than the cluster takes it: stop reading its socket meanwhile.
    if (link && !this._inputPaused && stdin.writableLength > inputHighWater) {
      this._inputPaused = true;
      link.socket.pause();
      stdin.once('drain', () => {
        this._inputPaused = false;
        link.socket.resume();
      });
    }
  }

  /**
   * Read on at full speed without sending, into the ring (and the recording), until the output
   * stops for skipQuietMs or skipMaxMs have passed; then the client goes on from _skipTo().
   */
  private _startSkipping(): void {
    this._skips++;
    this._skip = {
      quiet: unref(setTimeout(() => this._endSkipping(), skipQuietMs)),
      limit: unref(setTimeout(() => this._endSkipping(), skipMaxMs)),
    };
    this._flow();
  }

  private _stopSkipping(): void {
    if (!this._skip) return;
    clearTimeout(this._skip.quiet);
    clearTimeout(this._skip.limit);
    this._skip = null;
  }

  private _endSkipping(): void {
    if (!this._skip) return;
    this._stopSkipping();
    const link = this._client;
    if (link) {
      const to = this._skipTo();
      if (to > link.sent) {
        link.gaps.push({ from: link.sent, to });
        this._skipped += to - link.sent;
        link.sent = to;
      }
    }
    this._pump();
    this._flow();
  }

  /**
   * Where the client's stream goes on after a skip: the start of the last few lines of output, so
   * the screen shows the skip's notice above how the output ended (at most rows − 3 lines, and
   * at most 64 KiB), not inside a line or an escape.
   */
  private _skipTo(): number {
    const { cols, rows } = this.spec;
    const max = Math.min(64 * 1024, cols * rows * 4);
    const { offset, bytes } = this._ring.read(this._ring.end - max, max);
    let lines = Math.max(1, rows - 3);
    // Newlines from the end; a last line without one counts as a line too.
    let at = bytes.length - 1;
    if (bytes[at] === 0x0a) at--;
    for (; at >= 0; at--) if (bytes[at] === 0x0a && --lines === 0) break;
    if (at >= 0) return offset + at + 1;
    // Fewer lines than that in the window: from its first line start (or its start, when whole).
    const first = bytes.indexOf(0x0a);
    return offset === this._ring.oldest || first < 0 ? offset : offset + first + 1;
  }

  private _onEnd(final: NonNullable<GatewaySession['_final']>, code: number | null): void {
    this.state = 'exited';
    this.exitCode = code;
    if (this._gone) return; // ended by the gateway: the client was told already
    this._final = final;
    // Input no longer matters; the max duration still bounds a client that stays joined.
    clearTimeout(this._idleWarnTimer);
    clearTimeout(this._idleTimer);
    if (this._skip) this._endSkipping();
    this._flow();
    this._pump();
    // Listed as exited for a grace period, so a client that rejoins still sees the end.
    if (!this._client) this._startGrace();
  }

  private _startGrace(): void {
    clearTimeout(this._graceTimer);
    this._graceTimer = unref(setTimeout(() => void this.end('grace'), this._limits.graceMs));
  }

  private _touchIdle(): void {
    if (this.state !== 'running' || this._gone) return;
    // Every keystroke lands here: restart the two timers rather than make new ones (refresh()
    // also re-arms the warning when it has already fired).
    if (this._idleWarnTimer && this._idleTimer) {
      this._idleWarnTimer.refresh();
      this._idleTimer.refresh();
      return;
    }
    const { idleTimeoutMs, idleWarningMs } = this._limits;
    const lead = Math.min(idleWarningMs, idleTimeoutMs);
    this._idleWarnTimer = unref(
      setTimeout(() => {
        if (this._client) this._send(this._client, encodeNotice({ kind: 'idle-warning', secondsLeft: Math.round(lead / 1000) }));
      }, idleTimeoutMs - lead),
    );
    this._idleTimer = unref(setTimeout(() => void this.end('idle'), idleTimeoutMs));
  }

  private _clearTimers(): void {
    this._stopSkipping();
    for (const t of [this._graceTimer, this._idleWarnTimer, this._idleTimer, this._maxTimer]) clearTimeout(t);
  }
}
