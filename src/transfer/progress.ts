// Progress events for copies: at most one every `intervalMs` while bytes flow, plus one when a
// phase ends, so a progress bar can always show the final count.

export interface CopyProgress {
  phase: 'upload' | 'download' | 'verify';
  /** Bytes of file content so far (not archive bytes). */
  bytes: number;
  /** Known for uploads; for downloads of a single file when the container has `stat`. */
  totalBytes?: number;
  /** The file being copied, as named in the archive (below the copied path), when there is one. */
  file?: string;
}

export class ProgressReporter {
  private readonly _emit: ((p: CopyProgress) => void) | undefined;
  private readonly _intervalMs: number;
  private _phase: CopyProgress['phase'];
  private _bytes = 0;
  private _total: number | undefined;
  private _file: string | undefined;
  private _last = 0;

  constructor(emit: ((p: CopyProgress) => void) | undefined, phase: CopyProgress['phase'], intervalMs = 100) {
    this._emit = emit;
    this._phase = phase;
    this._intervalMs = intervalMs;
  }

  get bytes(): number {
    return this._bytes;
  }

  set totalBytes(total: number | undefined) {
    this._total = total;
  }

  /** Count bytes; emits when the last event is older than the interval. */
  add(bytes: number, file?: string): void {
    this._bytes += bytes;
    if (file !== undefined) this._file = file;
    const now = Date.now();
    if (this._emit && now - this._last >= this._intervalMs) {
      this._last = now;
      this._send();
    }
  }

  /** Start a new phase from zero (after an event closing the previous one). */
  phase(phase: CopyProgress['phase'], totalBytes?: number): void {
    this._phase = phase;
    this._bytes = 0;
    this._total = totalBytes;
    this._file = undefined;
    this._last = 0;
  }

  /** The closing event of the current phase, always sent. */
  flush(): void {
    this._send();
  }

  private _send(): void {
    if (!this._emit) return;
    const event: CopyProgress = { phase: this._phase, bytes: this._bytes };
    if (this._total !== undefined) event.totalBytes = this._total;
    if (this._file !== undefined) event.file = this._file;
    try {
      this._emit(event);
    } catch {
      // A failing listener must not break the copy.
    }
  }
}
