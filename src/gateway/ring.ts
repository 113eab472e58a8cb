// A session's output for replay after a rejoin (docs/web.md, "The life of a session"): a byte
// ring addressed by absolute output offsets. The newest bytes win; the memory is allocated on the
// first write, so a session that never prints costs nothing.

export class OutputRing {
  /** Bytes kept at most. */
  readonly capacity: number;
  private _buf: Uint8Array | null = null;
  /** Offset of the next byte to be appended: the total appended so far. */
  private _end = 0;
  /** Oldest offset still held. */
  private _start = 0;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`a ring needs a capacity of at least 1 byte, not ${capacity}`);
    this.capacity = capacity;
  }

  /** Offset one past the newest byte: how many bytes were ever appended. */
  get end(): number {
    return this._end;
  }

  /** Offset of the oldest byte still held (equals `end` when empty). */
  get oldest(): number {
    return this._start;
  }

  /** Bytes held now. */
  get size(): number {
    return this._end - this._start;
  }

  /** Whether the buffer has been allocated (on the first non-empty append). */
  get allocated(): boolean {
    return this._buf !== null;
  }

  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this._buf ??= new Uint8Array(this.capacity);
    const buf = this._buf;
    // Only the last `capacity` bytes of a chunk can survive.
    const keep = chunk.length > this.capacity ? chunk.subarray(chunk.length - this.capacity) : chunk;
    const skippedOfChunk = chunk.length - keep.length;
    const at = (this._end + skippedOfChunk) % this.capacity;
    const first = Math.min(keep.length, this.capacity - at);
    buf.set(keep.subarray(0, first), at);
    if (first < keep.length) buf.set(keep.subarray(first), 0);
    this._end += chunk.length;
    this._start = Math.max(this._start, this._end - this.capacity);
  }

  /**
   * Up to `max` bytes from offset `from`, as a copy. When `from` is older than the oldest byte
   * held, the bytes start at `oldest` instead: `offset` says where they really start. A `from`
   * past `end` reads nothing at `end`.
   */
  read(from: number, max: number): { offset: number; bytes: Uint8Array } {
    const offset = Math.min(Math.max(from, this._start), this._end);
    const length = Math.max(0, Math.min(max, this._end - offset));
    const bytes = new Uint8Array(length);
    if (length === 0 || !this._buf) return { offset, bytes };
    const at = offset % this.capacity;
    const first = Math.min(length, this.capacity - at);
    bytes.set(this._buf.subarray(at, at + first), 0);
    if (first < length) bytes.set(this._buf.subarray(0, length - first), first);
    return { offset, bytes };
  }

  /**
   * Like read(), but without copying: the longest run from `from` that lies in one piece in the
   * buffer (at most `max` bytes), as a view. The view is valid only until the next append(); the
   * caller copies it out first (encodeOutput does).
   */
  view(from: number, max: number): { offset: number; bytes: Uint8Array } {
    const offset = Math.min(Math.max(from, this._start), this._end);
    const length = Math.max(0, Math.min(max, this._end - offset));
    if (length === 0 || !this._buf) return { offset, bytes: new Uint8Array(0) };
    const at = offset % this.capacity;
    return { offset, bytes: this._buf.subarray(at, at + Math.min(length, this.capacity - at)) };
  }
}
