// A container's log: everything its main process wrote, in order, bounded to the most recent bytes.

export interface LogBuffer {
  /** Everything still held (the most recent `limit` bytes at most), in order. */
  snapshot(): Buffer;
  /** Live chunks written after the call; returns the unsubscribe function. */
  follow(onData: (chunk: Buffer) => void): () => void;
  /** True once the main process is gone and no more data will come. */
  readonly ended: boolean;
  /** Called once when the log ends (soon after the call when it already has). */
  onEnd(cb: () => void): void;
}

export const DEFAULT_LOG_LIMIT = 10 * 1024 * 1024;

export class BoundedLogBuffer implements LogBuffer {
  readonly limit: number;
  #chunks: Buffer[] = [];
  #head = 0; // index of the first live chunk in #chunks
  #size = 0;
  #followers = new Set<(chunk: Buffer) => void>();
  #endWaiters: (() => void)[] = [];
  #ended = false;

  constructor(limit: number = DEFAULT_LOG_LIMIT) {
    if (!(limit > 0)) throw new RangeError('log limit must be positive');
    this.limit = limit;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Total bytes currently held. */
  get size(): number {
    return this.#size;
  }

  append(chunk: Buffer): void {
    if (this.#ended || chunk.length === 0) return;
    let kept = chunk;
    if (kept.length > this.limit) kept = kept.subarray(kept.length - this.limit);
    this.#chunks.push(kept);
    this.#size += kept.length;
    while (this.#size > this.limit) {
      const first = this.#chunks[this.#head]!;
      const excess = this.#size - this.limit;
      if (first.length <= excess) {
        this.#chunks[this.#head] = EMPTY;
        this.#head++;
        this.#size -= first.length;
      } else {
        this.#chunks[this.#head] = first.subarray(excess);
        this.#size -= excess;
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
    for (const f of [...this.#followers]) f(chunk);
  }

  snapshot(): Buffer {
    return Buffer.concat(this.#chunks.slice(this.#head), this.#size);
  }

  follow(onData: (chunk: Buffer) => void): () => void {
    // Wrap so that the same function can follow twice and unsubscribe independently.
    const entry = (chunk: Buffer): void => onData(chunk);
    if (!this.#ended) this.#followers.add(entry);
    return () => {
      this.#followers.delete(entry);
    };
  }

  onEnd(cb: () => void): void {
    if (this.#ended) queueMicrotask(cb);
    else this.#endWaiters.push(cb);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#followers.clear();
    const waiters = this.#endWaiters;
    this.#endWaiters = [];
    for (const cb of waiters) cb();
  }
}

const EMPTY = Buffer.alloc(0);
