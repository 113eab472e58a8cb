// A container's log: everything its main process wrote, in order, each line with the time it was
// written, bounded to the most recent bytes (and to a number of lines, so that a flood of empty
// lines cannot grow it either).

/** One line as written, with its newline; or a part of a line the process has not ended yet. */
export interface LogRecord {
  /** When it was written: nanoseconds since the Unix epoch. */
  readonly time: bigint;
  readonly data: Buffer;
}

export interface LogBuffer {
  /** Everything still held (the most recent `limit` bytes at most), in order. */
  snapshot(): Buffer;
  /** Every line still held, with its time, in order. */
  records(): LogRecord[];
  /**
   * Records are numbered in the order written: `firstSeq` is the oldest still held, `nextSeq`
   * the one the next line will get. A reader keeps its place by number and reads at its pace.
   */
  readonly firstSeq: number;
  readonly nextSeq: number;
  /** The record numbered `seq`, if it is still held. */
  at(seq: number): LogRecord | undefined;
  /** Live chunks written after the call; returns the unsubscribe function. */
  follow(onData: (chunk: Buffer) => void): () => void;
  /** Live lines written after the call, with their time; returns the unsubscribe function. */
  followRecords(onRecord: (record: LogRecord) => void): () => void;
  /** True once the main process is gone and no more data will come. */
  readonly ended: boolean;
  /** Called once when the log ends (soon after the call when it already has); returns the unsubscribe function. */
  onEnd(cb: () => void): () => void;
}

export const DEFAULT_LOG_LIMIT = 10 * 1024 * 1024;
/** An unfinished line becomes a record of its own at this length (a container runtime's line buffer). */
export const PARTIAL_LINE_BYTES = 16 * 1024;

// Wall-clock nanoseconds: the epoch in milliseconds once, then the monotonic clock's nanoseconds.
const EPOCH_BASE = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
export function nowNanos(): bigint {
  return EPOCH_BASE + process.hrtime.bigint();
}

export class BoundedLogBuffer implements LogBuffer {
  readonly limit: number;
  /** The most records held: one per 64 bytes of the limit, at least 1024. */
  readonly maxRecords: number;
  #records: LogRecord[] = [];
  #head = 0; // index of the first live record in #records
  #size = 0;
  #dropped = 0; // records dropped from the head so far
  #pending: Buffer[] = []; // the line being written, not yet a record
  #pendingSize = 0;
  #followers = new Set<(record: LogRecord) => void>();
  #chunkFollowers = new Set<(chunk: Buffer) => void>();
  #endWaiters = new Set<() => void>();
  #ended = false;

  constructor(limit: number = DEFAULT_LOG_LIMIT) {
    if (!(limit > 0)) throw new RangeError('log limit must be positive');
    this.limit = limit;
    this.maxRecords = Math.max(1024, Math.floor(limit / 64));
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Total bytes currently held. */
  get size(): number {
    return this.#size;
  }

  /** Records currently held. */
  get count(): number {
    return this.#records.length - this.#head;
  }

  append(chunk: Buffer, time: bigint = nowNanos()): void {
    if (this.#ended || chunk.length === 0) return;
    let kept = chunk;
    if (kept.length > this.limit) kept = kept.subarray(kept.length - this.limit);
    // As a container runtime does: a line becomes a record when its newline comes (a line split
    // across writes is one record), or, unfinished, once it is PARTIAL_LINE_BYTES long.
    const added: LogRecord[] = [];
    const threshold = Math.min(PARTIAL_LINE_BYTES, this.limit);
    for (let start = 0; start < kept.length; ) {
      const nl = kept.indexOf(0x0a, start);
      const end = nl < 0 ? kept.length : nl + 1;
      this.#pending.push(kept.subarray(start, end));
      this.#pendingSize += end - start;
      start = end;
      if (nl >= 0 || this.#pendingSize >= threshold) added.push(this.#takePending(time));
    }
    for (const record of added) {
      this.#records.push(record);
      this.#size += record.data.length;
    }
    this.#trim();
    for (const f of [...this.#chunkFollowers]) f(chunk);
    for (const record of added) for (const f of [...this.#followers]) f(record);
  }

  #takePending(time: bigint): LogRecord {
    const data = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingSize);
    this.#pending = [];
    this.#pendingSize = 0;
    return { time, data };
  }

  #trim(): void {
    while (this.#size > this.limit || this.#records.length - this.#head > this.maxRecords) {
      const first = this.#records[this.#head]!;
      const excess = this.#size - this.limit;
      if (first.data.length <= excess || excess <= 0) {
        this.#records[this.#head] = DROPPED;
        this.#head++;
        this.#dropped++;
        this.#size -= first.data.length;
      } else {
        this.#records[this.#head] = { time: first.time, data: first.data.subarray(excess) };
        this.#size -= excess;
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }

  get firstSeq(): number {
    return this.#dropped;
  }

  get nextSeq(): number {
    return this.#dropped + this.#records.length - this.#head;
  }

  at(seq: number): LogRecord | undefined {
    if (seq < this.#dropped || seq >= this.nextSeq) return undefined;
    return this.#records[this.#head + seq - this.#dropped];
  }

  /** The bytes held, the line still being written included. */
  snapshot(): Buffer {
    return Buffer.concat([...this.records().map((r) => r.data), ...this.#pending], this.#size + this.#pendingSize);
  }

  records(): LogRecord[] {
    return this.#records.slice(this.#head);
  }

  follow(onData: (chunk: Buffer) => void): () => void {
    // Wrap so that the same function can follow twice and unsubscribe independently.
    const entry = (chunk: Buffer): void => onData(chunk);
    if (!this.#ended) this.#chunkFollowers.add(entry);
    return () => {
      this.#chunkFollowers.delete(entry);
    };
  }

  followRecords(onRecord: (record: LogRecord) => void): () => void {
    const entry = (record: LogRecord): void => onRecord(record);
    if (!this.#ended) this.#followers.add(entry);
    return () => {
      this.#followers.delete(entry);
    };
  }

  onEnd(cb: () => void): () => void {
    const entry = (): void => cb();
    if (this.#ended) queueMicrotask(entry);
    else this.#endWaiters.add(entry);
    return () => {
      this.#endWaiters.delete(entry);
    };
  }

  /** How many `onEnd` callbacks are waiting: each follower's goes when it stops (for tests). */
  get endWaiterCount(): number {
    return this.#endWaiters.size;
  }

  end(): void {
    if (this.#ended) return;
    if (this.#pendingSize > 0) {
      // The process ended in the middle of a line: that part is the log's last record.
      const record = this.#takePending(nowNanos());
      this.#records.push(record);
      this.#size += record.data.length;
      this.#trim();
      for (const f of [...this.#followers]) f(record);
    }
    this.#ended = true;
    this.#followers.clear();
    this.#chunkFollowers.clear();
    const waiters = [...this.#endWaiters];
    this.#endWaiters.clear();
    for (const cb of waiters) cb();
  }
}

const DROPPED: LogRecord = { time: 0n, data: Buffer.alloc(0) };
