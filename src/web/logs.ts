// One logs tab: a container's log read from the gateway (docs/web.md, "Logs"), with follow and
// timestamps toggles, find (every match highlighted, Enter / Shift+Enter move between them) and
// download. It never floods the page: the answer is read only while fewer than MAX_QUEUED lines
// wait to be drawn (so a fast log slows the gateway's read from the cluster rather than filling
// memory), lines are drawn in batches of at most BATCH_LINES per animation frame, and at most
// MAX_LINES are kept: older ones leave the page (the download has the whole log).

import { errorOf, podsPath, UNREACHABLE, ApiError, describeError, type Target } from './api.ts';

/** Lines kept in the page; older ones are dropped (and counted). */
export const MAX_LINES = 10_000;
/** Lines drawn per animation frame. */
const BATCH_LINES = 500;
/** Lines read but not drawn yet above which reading pauses. */
const MAX_QUEUED = 2_000;
/** A line longer than this is cut where it is drawn (the download keeps it whole). */
const MAX_LINE_CHARS = 10_000;

export type LogState = 'starting' | 'connected' | 'ended' | 'failed';

/** The path of a container's log with these options. */
export function logsUrl(target: Target, options: { follow?: boolean; timestamps?: boolean; tailLines?: number; download?: boolean }): string {
  const query = new URLSearchParams();
  if (target.container) query.set('container', target.container);
  if (options.follow) query.set('follow', 'true');
  if (options.timestamps) query.set('timestamps', 'true');
  if (options.tailLines !== undefined) query.set('tailLines', String(options.tailLines));
  if (options.download) query.set('download', '1');
  return `${podsPath(target.cluster, target.namespace, target.pod)}/logs?${query}`;
}

export interface LogHost {
  /** The tab's state changed (its label in the strip). */
  changed(tab: LogTab): void;
}

export class LogTab {
  readonly kind = 'logs';
  readonly target: Target;
  readonly panel: HTMLElement;
  state: LogState = 'starting';
  follow = true;
  timestamps = false;
  /** Lines dropped from the top of the page since the last (re)load. */
  dropped = 0;
  private readonly _host: LogHost;
  private readonly _view: HTMLElement;
  private readonly _status: HTMLElement;
  private readonly _find: HTMLInputElement;
  private readonly _count: HTMLElement;
  private readonly _followBox: HTMLInputElement;
  private readonly _stampBox: HTMLInputElement;
  private readonly _download: HTMLAnchorElement;
  /** Lines read, not drawn yet. */
  private _queue: string[] = [];
  private _frame: number | undefined;
  private _drained: (() => void) | undefined;
  private _control: AbortController | undefined;
  private _matches: HTMLElement[] = [];
  private _current = -1;
  private _disposed = false;

  constructor(host: LogHost, target: Target, panel: HTMLElement, options: { follow?: boolean; timestamps?: boolean } = {}) {
    this._host = host;
    this.target = target;
    this.panel = panel;
    this.follow = options.follow ?? true;
    this.timestamps = options.timestamps ?? false;
    panel.classList.add('logs');
    const bar = document.createElement('div');
    bar.className = 'log-bar';
    const toggle = (label: string, checked: boolean) => {
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = checked;
      const el = document.createElement('label');
      el.className = 'toggle';
      el.append(box, ` ${label}`);
      bar.append(el);
      return box;
    };
    this._followBox = toggle('Follow', this.follow);
    this._followBox.addEventListener('change', () => this.setFollow(this._followBox.checked));
    this._stampBox = toggle('Timestamps', this.timestamps);
    this._stampBox.addEventListener('change', () => this.setTimestamps(this._stampBox.checked));
    this._find = document.createElement('input');
    this._find.type = 'search';
    this._find.className = 'log-find';
    this._find.placeholder = 'Find in log (Enter, Shift+Enter)';
    this._find.setAttribute('aria-label', 'Find in log');
    this._find.addEventListener('input', () => this.find(this._find.value));
    this._find.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      this.findNext(e.shiftKey ? -1 : 1);
    });
    this._count = document.createElement('span');
    this._count.className = 'log-count';
    this._count.setAttribute('aria-live', 'polite');
    this._download = document.createElement('a');
    this._download.className = 'log-download';
    this._download.textContent = 'Download';
    this._download.setAttribute('download', '');
    this._status = document.createElement('span');
    this._status.className = 'log-status';
    this._status.setAttribute('role', 'status');
    bar.append(this._find, this._count, this._download, this._status);
    this._view = document.createElement('div');
    this._view.className = 'log-lines';
    this._view.setAttribute('role', 'log');
    this._view.setAttribute('aria-label', `Log of ${this.label}`);
    this._view.tabIndex = 0;
    panel.append(bar, this._view);
    this._renderDownload();
  }

  /** `pod/container log`, the tab's label. */
  get label(): string {
    return `${this.target.pod}/${this.target.container ?? '…'} log`;
  }

  /** Reads the log (again) from its last MAX_LINES lines, following it when `follow` is on. */
  async start(): Promise<void> {
    this._control?.abort();
    const control = new AbortController();
    this._control = control;
    // A read of the previous load waiting for the page to draw gives up (its control is aborted).
    this._drained?.();
    this._drained = undefined;
    this._queue = [];
    this.dropped = 0;
    this._view.replaceChildren();
    this._clearMatches();
    this._setState('starting', 'loading…');
    let res: Response;
    try {
      res = await fetch(logsUrl(this.target, { follow: this.follow, timestamps: this.timestamps, tailLines: MAX_LINES }), { credentials: 'same-origin', signal: control.signal });
      if (!res.ok) throw await errorOf(res);
    } catch (err) {
      if (control.signal.aborted) return;
      const why = err instanceof ApiError ? err : new ApiError(UNREACHABLE, `the gateway at ${location.host} cannot be reached (${(err as Error).message})`, 0);
      this._setState('failed', describeError(why));
      return;
    }
    this._setState('connected', this.follow ? 'following' : 'loading…');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let partial = '';
    try {
      for (;;) {
        // Backpressure: no more reading while the page has many lines left to draw.
        while (this._queue.length >= MAX_QUEUED && !control.signal.aborted) await new Promise<void>((resolve) => (this._drained = resolve));
        if (control.signal.aborted) return;
        const { value, done } = await reader.read();
        if (done) break;
        const text = partial + decoder.decode(value, { stream: true });
        const lines = text.split('\n');
        partial = lines.pop()!;
        this._enqueue(lines);
      }
      partial += decoder.decode();
      if (partial) this._enqueue([partial]);
      if (this._control === control) this._setState('ended', this.follow ? 'the log ended (the container stopped, or the gateway ended the stream)' : 'end of log');
    } catch (err) {
      if (control.signal.aborted) return;
      this._setState('failed', `the log stream broke: ${(err as Error).message}`);
    } finally {
      reader.releaseLock();
    }
  }

  setFollow(on: boolean): void {
    this.follow = on;
    this._followBox.checked = on;
    if (on) void this.start();
    else if (this.state === 'connected' || this.state === 'starting') {
      // Stop where it is: what is on the page stays.
      this._control?.abort();
      this._control = undefined;
      this._setState('ended', 'not following');
    }
  }

  setTimestamps(on: boolean): void {
    this.timestamps = on;
    this._stampBox.checked = on;
    this._renderDownload();
    void this.start();
  }

  /** Highlights every line holding `text` (case-insensitive) and goes to the first. */
  find(text: string): void {
    this._find.value = text;
    this._clearMatches();
    const needle = text.toLowerCase();
    if (needle) for (const line of this._view.children) if ((line.textContent ?? '').toLowerCase().includes(needle)) this._mark(line as HTMLElement, needle);
    this._current = -1;
    if (this._matches.length) this.findNext(1);
    else this._renderCount();
  }

  /** Moves to the next (1) or previous (-1) match, wrapping around. */
  findNext(direction: 1 | -1): void {
    if (this._matches.length === 0) return this.find(this._find.value);
    this._matches[this._current]?.classList.remove('current');
    this._current = (this._current + direction + this._matches.length) % this._matches.length;
    const line = this._matches[this._current]!;
    line.classList.add('current');
    line.scrollIntoView({ block: 'center' });
    this._renderCount();
  }

  /** The lines on the page, for tests. */
  text(): string {
    return [...this._view.children].map((l) => l.textContent).join('\n');
  }

  /** The current match's line, for tests. */
  currentMatch(): string {
    return this._matches[this._current]?.textContent ?? '';
  }

  statusText(): string {
    return this._status.textContent ?? '';
  }

  fit(): void {}
  fitSoon(): void {}

  focus(): void {
    this._view.focus();
  }

  async close(): Promise<void> {
    this.dispose();
  }

  dispose(): void {
    this._disposed = true;
    this._control?.abort();
    if (this._frame !== undefined) cancelAnimationFrame(this._frame);
    this._drained?.();
    this.panel.remove();
  }

  private _setState(state: LogState, status: string): void {
    this.state = state;
    this._status.textContent = status;
    this._status.dataset.tone = state === 'failed' ? 'error' : 'info';
    this._host.changed(this);
  }

  private _renderDownload(): void {
    this._download.href = logsUrl(this.target, { timestamps: this.timestamps, download: true });
  }

  private _enqueue(lines: string[]): void {
    for (const line of lines) this._queue.push(line);
    this._frame ??= requestAnimationFrame(() => this._draw());
  }

  /** Draws up to BATCH_LINES queued lines, keeps at most MAX_LINES, and schedules the rest. */
  private _draw(): void {
    this._frame = undefined;
    if (this._disposed) return;
    const batch = this._queue.splice(0, BATCH_LINES);
    const atBottom = this._view.scrollHeight - this._view.scrollTop - this._view.clientHeight < 40;
    const needle = this._find.value.toLowerCase();
    const fragment = document.createDocumentFragment();
    for (const text of batch) {
      const line = document.createElement('div');
      line.className = 'log-line';
      line.textContent = text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}… [${text.length - MAX_LINE_CHARS} more characters: download the log for them]` : text;
      if (needle && text.toLowerCase().includes(needle)) this._mark(line, needle);
      fragment.append(line);
    }
    this._view.append(fragment);
    const excess = this._view.childElementCount - MAX_LINES;
    if (excess > 0) {
      for (let i = 0; i < excess; i++) {
        const first = this._view.firstElementChild as HTMLElement;
        const at = this._matches.indexOf(first);
        if (at >= 0) {
          this._matches.splice(at, 1);
          if (this._current >= at) this._current--;
        }
        first.remove();
      }
      this.dropped += excess;
      this._view.dataset.dropped = String(this.dropped);
      this._view.title = `${this.dropped} older lines left the page (it keeps ${MAX_LINES}); Download has the whole log`;
    }
    if (needle) this._renderCount();
    if (this.follow && atBottom) this._view.scrollTop = this._view.scrollHeight;
    if (this._queue.length) this._frame = requestAnimationFrame(() => this._draw());
    if (this._queue.length < MAX_QUEUED / 2 && this._drained) {
      const resume = this._drained;
      this._drained = undefined;
      resume();
    }
  }

  /** Marks the line as a match and highlights each occurrence of `needle` in it. */
  private _mark(line: HTMLElement, needle: string): void {
    const text = line.textContent ?? '';
    const lower = text.toLowerCase();
    const parts: Node[] = [];
    let at = 0;
    for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, i + needle.length)) {
      if (i > at) parts.push(document.createTextNode(text.slice(at, i)));
      const mark = document.createElement('mark');
      mark.textContent = text.slice(i, i + needle.length);
      parts.push(mark);
      at = i + needle.length;
    }
    if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
    line.replaceChildren(...parts);
    line.classList.add('match');
    this._matches.push(line);
  }

  private _clearMatches(): void {
    for (const line of this._matches) {
      line.classList.remove('match', 'current');
      line.textContent = line.textContent ?? '';
    }
    this._matches = [];
    this._current = -1;
    this._renderCount();
  }

  private _renderCount(): void {
    const n = this._matches.length;
    this._count.textContent = this._find.value ? (n ? `${this._current + 1} of ${n}` : 'no match') : '';
  }
}
