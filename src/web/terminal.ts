// One terminal tab: an xterm.js terminal joined to a gateway session over the stream
// (docs/web.md, "The stream"). Output is written to xterm as it arrives and acknowledged from
// xterm's write callbacks, so the gateway never sends more than the page has rendered plus its
// high-water mark; a dropped socket is rejoined with `resume` from the last offset written, with a
// "reconnecting… (Ns)" banner meanwhile. The xterm.js terminal itself (theme, addons, keys, drops)
// is set up by terminal-widget.ts.

import type { FitAddon } from '@xterm/addon-fit';
import type { SearchAddon } from '@xterm/addon-search';
import type { Terminal } from '@xterm/xterm';
import { decodeServerMessage, encodeAck, encodeInput, encodeResize, encodeResume, maxWebshellMessage, type ServerMessage, type SessionDescription } from '../protocol/webshell.ts';
import { api, ApiError, describeError, type Target } from './api.ts';
import { createTerminalWidget, type TerminalWidget } from './terminal-widget.ts';

/** Acknowledge at least every this many rendered bytes, and whenever output stops. */
const ACK_EVERY = 32 * 1024; // 32 KiB
/** Largest input payload per message (the gateway takes messages up to 64 KiB, type byte included). */
const INPUT_CHUNK = maxWebshellMessage - 1024;
/** Input kept while the tab rejoins its session. */
const PENDING_INPUT = 64 * 1024; // 64 KiB
/** Waits between reconnection attempts, in seconds; the last repeats. */
const RETRY_SECONDS = [1, 2, 3, 5, 8, 10];

export type TabState = 'starting' | 'connected' | 'reconnecting' | 'ended' | 'failed';

/** What a tab keeps in sessionStorage to rejoin its session after a reload. */
export interface SavedTab {
  target: Target;
  sessionId: string;
}

export interface TerminalHost {
  /** Input typed in this tab: the host sends it here, or to every tab of a broadcast. */
  input(from: TerminalTab, data: Uint8Array): void;
  /** The tab's state or session changed (labels, saved tabs). */
  changed(tab: TerminalTab): void;
  /** Files dropped on the terminal. */
  dropped(tab: TerminalTab, files: File[]): void;
  fontSize: number;
  setFontSize(size: number): void;
  screenReaderMode: boolean;
}

/** The protocol's encoders make plain ArrayBuffer-backed arrays. */
const sendBytes = (socket: WebSocket, bytes: Uint8Array) => socket.send(bytes as Uint8Array<ArrayBuffer>);

export class TerminalTab {
  readonly target: Target;
  readonly term: Terminal;
  readonly panel: HTMLElement;
  readonly search: SearchAddon;
  sessionId: string | undefined;
  session: SessionDescription | undefined;
  state: TabState = 'starting';
  exitCode: number | null = null;
  /** Whether this tab's session runs in a debug (ephemeral) container. */
  debug = false;
  private readonly _host: TerminalHost;
  private readonly _widget: TerminalWidget;
  private readonly _fit: FitAddon;
  private readonly _banner: HTMLElement;
  private readonly _screen: HTMLElement;
  private _socket: WebSocket | undefined;
  /** End offset of the output handed to xterm. */
  private _written = 0;
  /** Output bytes the gateway skipped after interrupts (the notices on screen add up to it). */
  private _skippedBytes = 0;
  /** End offset of the output xterm has rendered (its write callbacks). */
  private _rendered = 0;
  private _ackSent = 0;
  private _ackTimer: number | undefined;
  private _retry = 0;
  private _retryTimer: number | undefined;
  private _resumeFrom: number;
  private _disposed = false;
  private _observer: ResizeObserver;
  private _fitFrame: number | undefined;
  /** Input typed while not joined, sent once joined. */
  private _pending: Uint8Array[] = [];
  private _pendingBytes = 0;

  constructor(host: TerminalHost, target: Target, panel: HTMLElement, saved?: SavedTab) {
    this._host = host;
    this.target = target;
    this.panel = panel;
    this.sessionId = saved?.sessionId;
    // After a reload the screen is empty: replay what the gateway still holds for this session.
    this._resumeFrom = 0;
    this._banner = document.createElement('div');
    this._banner.className = 'banner';
    this._banner.hidden = true;
    this._banner.setAttribute('role', 'status');
    this._screen = document.createElement('div');
    this._screen.className = 'screen';
    panel.append(this._banner, this._screen);

    this._widget = createTerminalWidget(this._screen, host, {
      input: (data) => this._host.input(this, data),
      resized: (cols, rows) => this._sendResize(cols, rows),
      dropped: (files) => this._host.dropped(this, files),
      fontSize: () => this._host.fontSize,
      fontSizeWanted: (size) => this._host.setFontSize(size),
      warn: (text) => this._showBanner(text, 'warn'),
    });
    this.term = this._widget.term;
    this.search = this._widget.search;
    this._fit = this._widget.fitAddon;
    this._observer = new ResizeObserver(() => this.fitSoon());
    this._observer.observe(this._screen);
  }

  /** `webgl` or `dom`: which renderer draws this terminal. */
  get renderer(): 'webgl' | 'dom' {
    return this._widget.renderer;
  }

  /** The shell's working directory when it reports one (OSC 7). */
  get cwd(): string | undefined {
    return this._widget.cwd;
  }

  /** `pod/container`, the tab's label. */
  get label(): string {
    return `${this.target.pod}/${this.session?.container ?? this.target.container ?? '…'}`;
  }

  /** Sizes the terminal to its panel, creates the session if it has none, and joins it. */
  async start(): Promise<void> {
    this.fit();
    if (this.sessionId === undefined) {
      try {
        const body: Record<string, unknown> = { ...this.target, cols: this.term.cols, rows: this.term.rows };
        if (body['container'] === undefined) delete body['container'];
        if (body['command'] === undefined) delete body['command'];
        // A debug container targeting the container: its image is the gateway's (debugImage).
        if (this.debug) body['debug'] = {};
        this.session = await api<SessionDescription>('POST', '/api/sessions', body);
        this.sessionId = this.session.id;
      } catch (err) {
        // No shell in the image (distroless): offer a shell in a debug container that sees its processes and files.
        if (err instanceof ApiError && err.code === 'ERR_GATEWAY_NO_SHELL' && !this.debug && !this.target.command) {
          this._fail(describeError(err), 'Start a debug container', () => void this.startDebug());
        } else {
          this._fail(describeError(err));
        }
        return;
      }
      this._host.changed(this);
    }
    this._connect();
  }

  /**
   * Opens the shell in a new ephemeral container of the pod targeting this tab's container (its
   * processes, and their files under /proc/PID/root), made from the gateway's debug image.
   */
  async startDebug(): Promise<void> {
    // Once: a second click while the first is starting would add a second container.
    if (this.sessionId !== undefined || this._disposed || this.debug) return;
    this.debug = true;
    this.state = 'starting';
    this._showBanner('Starting a debug container… (the image may take a while to pull)', 'info');
    this._host.changed(this);
    await this.start();
  }

  focus(): void {
    this.term.focus();
  }

  /** Fits the terminal to its panel now (xterm's onResize then tells the gateway). */
  fit(): void {
    if (this._disposed || !this.panel.isConnected || this.panel.hidden) return;
    try {
      this._fit.fit();
    } catch {
      // not laid out yet: the ResizeObserver fits once it is
    }
  }

  fitSoon(): void {
    if (this._fitFrame !== undefined) return;
    this._fitFrame = requestAnimationFrame(() => {
      this._fitFrame = undefined;
      this.fit();
    });
  }

  /**
   * Sends input to the session (in messages of at most 63 KiB). While the tab rejoins, input waits
   * (up to 64 KiB) and goes out once joined; after the end of the session it goes nowhere.
   */
  send(data: Uint8Array): void {
    if (this._socket?.readyState === WebSocket.OPEN && this.state === 'connected') {
      for (let at = 0; at < data.length; at += INPUT_CHUNK) sendBytes(this._socket, encodeInput(data.subarray(at, at + INPUT_CHUNK)));
    } else if ((this.state === 'reconnecting' || this.state === 'starting') && this._pendingBytes + data.length <= PENDING_INPUT) {
      this._pending.push(data.slice());
      this._pendingBytes += data.length;
    }
  }

  /** Ends the session (DELETE) and the tab. */
  async close(): Promise<void> {
    const id = this.sessionId;
    const live = this.state !== 'ended' && this.state !== 'failed';
    this.dispose();
    if (id !== undefined && live) await api('DELETE', `/api/sessions/${encodeURIComponent(id)}`).catch(() => undefined);
  }

  dispose(): void {
    this._disposed = true;
    clearTimeout(this._retryTimer);
    clearTimeout(this._ackTimer);
    this._observer.disconnect();
    this._socket?.close(1000);
    this._widget.dispose();
    this.panel.remove();
  }

  /** The text on screen (the visible rows), for tests and screen readers. */
  screenText(): string {
    const buffer = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < this.term.rows; y++) lines.push(buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  /** Every line of the buffer, scrollback included. */
  bufferText(): string {
    const buffer = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < buffer.length; y++) lines.push(buffer.getLine(y)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  private _connect(): void {
    if (this._disposed || this.sessionId === undefined) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/sessions/${encodeURIComponent(this.sessionId)}/stream`;
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    this._socket = socket;
    socket.onopen = () => sendBytes(socket, encodeResume(this._resumeFrom));
    socket.onmessage = (e) => {
      if (socket !== this._socket || !(e.data instanceof ArrayBuffer)) return;
      let message: ServerMessage;
      try {
        message = decodeServerMessage(new Uint8Array(e.data));
      } catch (err) {
        this._showBanner(`The gateway sent a message this page cannot read: ${(err as Error).message}`, 'error');
        return;
      }
      this._receive(message);
    };
    socket.onclose = (e) => {
      if (socket !== this._socket) return;
      this._socket = undefined;
      this._closed(e.code, e.reason);
    };
  }

  private _receive(message: ServerMessage): void {
    switch (message.type) {
      case 'joined': {
        const { session, offset, skipped } = message.joined;
        this.session = session;
        this._retry = 0;
        this.state = session.state === 'exited' ? 'ended' : 'connected';
        if (skipped > 0) this.term.write(`\r\n\x1b[2m[podshell: ${skipped} bytes of output were no longer held by the gateway]\x1b[0m\r\n`);
        this._written = offset;
        this._rendered = Math.max(this._rendered, 0);
        this._ackSent = Math.min(this._ackSent, offset);
        this._hideBanner();
        // The window may have changed while away: the session follows the terminal's size.
        if (session.cols !== this.term.cols || session.rows !== this.term.rows) this._sendResize(this.term.cols, this.term.rows);
        const pending = this._pending;
        this._pending = [];
        this._pendingBytes = 0;
        if (this.state === 'connected') for (const data of pending) this.send(data);
        this._host.changed(this);
        break;
      }
      case 'output': {
        const { offset, data } = message;
        const end = offset + data.length;
        if (end <= this._written) break; // already shown (a replay overlapping what this page has)
        const fresh = offset < this._written ? data.subarray(this._written - offset) : data;
        // The gateway skipped what was on its way when an interrupt came during a flood: say so.
        if (offset > this._written) {
          this._skippedBytes += offset - this._written;
          this.term.write(`\r\n\x1b[0;2m[podshell: ${(offset - this._written).toLocaleString('en')} bytes of output skipped after the interrupt]\x1b[0m\r\n`);
        }
        this._written = end;
        // The socket's buffer is reused by nothing, but copy: xterm keeps the array until it parses it.
        this.term.write(fresh.slice(), () => this._renderedTo(end));
        break;
      }
      case 'exit':
        this.exitCode = message.exit.code;
        this._ended(`session ended (exit ${message.exit.code})${message.exit.message ? `: ${message.exit.message}` : ''}`);
        break;
      case 'error':
        this._ended(describeError(new ApiError(message.error.code, message.error.message, message.error.status ?? 0)), 'error');
        break;
      case 'notice':
        if (message.notice.kind === 'idle-warning') this._showBanner(`No input for a while: the session ends in ${message.notice.secondsLeft} s unless you type.`, 'warn');
        else if (message.notice.kind === 'recording-input') this._showBanner('This session is recorded, including what you type.', 'warn');
        else this._ended(endingSentence(message.notice.reason));
        break;
    }
  }

  private _renderedTo(end: number): void {
    if (end <= this._rendered) return;
    this._rendered = end;
    if (this._rendered - this._ackSent >= ACK_EVERY) this._ack();
    else if (this._ackTimer === undefined) this._ackTimer = setTimeout(() => this._ack(), 20) as unknown as number;
  }

  private _ack(): void {
    clearTimeout(this._ackTimer);
    this._ackTimer = undefined;
    if (this._socket?.readyState !== WebSocket.OPEN || this._rendered <= this._ackSent) return;
    this._ackSent = this._rendered;
    sendBytes(this._socket, encodeAck(this._rendered));
  }

  private _sendResize(cols: number, rows: number): void {
    if (this._socket?.readyState === WebSocket.OPEN && this.state === 'connected') sendBytes(this._socket, encodeResize(cols, rows));
  }

  private _closed(code: number, reason: string): void {
    if (this._disposed || this.state === 'ended' || this.state === 'failed') return;
    if (code === 4004) return this._ended('session ended: the gateway no longer has it (it ended while this page was away)');
    if (code === 4001) {
      this.state = 'reconnecting';
      this._showBanner('This session was opened in another window.', 'warn', 'Take it back', () => this._reconnectNow());
      this._host.changed(this);
      return;
    }
    this.state = 'reconnecting';
    this._host.changed(this);
    this._scheduleReconnect(reason);
  }

  private _scheduleReconnect(reason: string): void {
    let left = RETRY_SECONDS[Math.min(this._retry, RETRY_SECONDS.length - 1)]!;
    this._retry++;
    const tick = () => {
      if (this._disposed || this.state !== 'reconnecting') return;
      if (left <= 0) return this._reconnectNow();
      this._showBanner(`reconnecting… (${left}s)${reason ? ` — ${reason}` : ''}`, 'warn', 'Now', () => this._reconnectNow());
      left--;
      this._retryTimer = setTimeout(tick, 1000) as unknown as number;
    };
    tick();
  }

  private _reconnectNow(): void {
    clearTimeout(this._retryTimer);
    if (this._disposed) return;
    this.state = 'reconnecting';
    this._showBanner('reconnecting…', 'warn');
    // Everything handed to xterm is on screen (or about to be): continue right after it.
    this._resumeFrom = this._written;
    void this._probe().then((gone) => {
      if (gone) this._ended('session ended: the gateway no longer has it');
      else if (gone === undefined) this._scheduleReconnect('the gateway cannot be reached');
      else this._connect();
    });
  }

  /** Whether the session is gone (true), there (false), or the gateway out of reach (undefined). */
  private async _probe(): Promise<boolean | undefined> {
    try {
      const s = await api<SessionDescription>('GET', `/api/sessions/${encodeURIComponent(this.sessionId!)}`);
      this.session = s;
      return false;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'ERR_GATEWAY_UNKNOWN_SESSION') return true;
      if (err instanceof ApiError && err.status !== 0) {
        this._showBanner(describeError(err), 'error');
        return undefined;
      }
      return undefined;
    }
  }

  private _ended(sentence: string, tone: 'info' | 'error' = 'info'): void {
    this.state = 'ended';
    this._ack();
    this._showBanner(sentence, tone);
    this._host.changed(this);
  }

  private _fail(sentence: string, action?: string, onAction?: () => void): void {
    this.state = 'failed';
    this._showBanner(sentence, 'error', action, onAction);
    this._host.changed(this);
  }

  private _showBanner(text: string, tone: 'info' | 'warn' | 'error', action?: string, onAction?: () => void): void {
    this._banner.hidden = false;
    this._banner.dataset.tone = tone;
    this._banner.setAttribute('role', tone === 'error' ? 'alert' : 'status');
    const span = document.createElement('span');
    span.textContent = text;
    const children: Node[] = [span];
    if (action && onAction) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = action;
      button.addEventListener('click', onAction);
      children.push(button);
    }
    this._banner.replaceChildren(...children);
    this.fitSoon();
  }

  private _hideBanner(): void {
    if (this._banner.hidden) return;
    this._banner.hidden = true;
    this._banner.replaceChildren();
    this.fitSoon();
  }

  /** The banner's text ('' when hidden), for tests. */
  bannerText(): string {
    return this._banner.hidden ? '' : (this._banner.textContent ?? '');
  }
}

function endingSentence(reason: string): string {
  switch (reason) {
    case 'idle':
      return 'session ended: no input for too long';
    case 'max-duration':
      return 'session ended: it reached the longest time a session may last';
    case 'grace':
      return 'session ended: no window was joined to it for the grace period';
    case 'gateway-stopping':
      return 'session ended: the gateway is stopping';
    default:
      return 'session ended';
  }
}
