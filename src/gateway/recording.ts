// Session recordings (docs/web.md, "Recordings"): each session as an asciicast v2 file, written as
// it happens: a header line, then `[seconds, "o", text]` for output, `[seconds, "r", "COLSxROWS"]`
// for a resize and, only when input recording is on, `[seconds, "i", text]`. Text is decoded as
// UTF-8 with one streaming decoder per direction, so a character split across two reads of the
// exec is written whole. Files are named after the session id, mode 0600; files older than the
// retention are removed at start and every hour.

import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from './errors.ts';

/** How often old recordings are looked for. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000; // 1 h

export interface RecordingHeader {
  cols: number;
  rows: number;
  title: string;
  /** Environment recorded in the header: TERM always, SHELL when known. */
  env: { TERM: string; SHELL?: string };
}

/** One session's asciicast v2 file. */
export class Recording {
  readonly path: string;
  private _fd: number | null;
  private readonly _start = performance.now();
  private readonly _out = new TextDecoder('utf-8', { fatal: false });
  private readonly _in = new TextDecoder('utf-8', { fatal: false });
  private readonly _withInput: boolean;

  constructor(path: string, header: RecordingHeader, withInput: boolean) {
    this.path = path;
    this._withInput = withInput;
    this._fd = openSync(path, 'wx', 0o600);
    const line = { version: 2, width: header.cols, height: header.rows, timestamp: Math.floor(Date.now() / 1000), env: header.env, title: header.title };
    writeSync(this._fd, `${JSON.stringify(line)}\n`);
  }

  output(chunk: Uint8Array): void {
    this._event('o', this._out.decode(chunk, { stream: true }));
  }

  input(data: Uint8Array): void {
    if (this._withInput) this._event('i', this._in.decode(data, { stream: true }));
  }

  resize(cols: number, rows: number): void {
    this._event('r', `${cols}x${rows}`);
  }

  /** Flush what the decoders hold (an incomplete character becomes U+FFFD) and close the file. */
  close(): void {
    if (this._fd === null) return;
    this._event('o', this._out.decode());
    if (this._withInput) this._event('i', this._in.decode());
    closeSync(this._fd);
    this._fd = null;
  }

  /** Close and delete (a session that never started). */
  discard(): void {
    this.close();
    rmSync(this.path, { force: true });
  }

  private _event(kind: 'o' | 'i' | 'r', text: string): void {
    if (this._fd === null || text === '') return;
    const seconds = Math.round(performance.now() - this._start) / 1000;
    try {
      writeSync(this._fd, `${JSON.stringify([seconds, kind, text])}\n`);
    } catch (err) {
      // A full disk must not take the session (or the gateway) down: the recording stops here.
      process.stderr.write(`podshell web: recording ${this.path} stopped: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      closeSync(this._fd);
      this._fd = null;
    }
  }
}

export interface RecordingsOptions {
  dir: string;
  /** Record the client's input as `i` events too. [default false] */
  recordInput?: boolean;
  /** Remove recordings older than this, at start and hourly; undefined keeps them. */
  maxAgeMs?: number;
}

/** The recordings folder: new recordings, who owns them (for this gateway's life), retention. */
export class Recordings {
  readonly dir: string;
  readonly recordInput: boolean;
  private readonly _maxAgeMs: number | undefined;
  private readonly _owners = new Map<string, string>();
  private readonly _timer: NodeJS.Timeout | undefined;

  constructor(options: RecordingsOptions) {
    this.dir = options.dir;
    this.recordInput = options.recordInput ?? false;
    this._maxAgeMs = options.maxAgeMs;
    if (!existsSync(this.dir) || !statSync(this.dir).isDirectory()) throw new Error(`${this.dir} is not a directory`);
    if (this._maxAgeMs !== undefined) {
      this.prune();
      this._timer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
      this._timer.unref();
    }
  }

  /**
   * Start recording session `id` of `owner`.
   * @throws GatewayError ERR_GATEWAY_RECORDING (500) when the file cannot be created: the session is refused, never run unrecorded
   */
  open(id: string, owner: string, header: RecordingHeader): Recording {
    let recording: Recording;
    try {
      recording = new Recording(this.file(id), header, this.recordInput);
    } catch (err) {
      throw new GatewayError('ERR_GATEWAY_RECORDING', 500, `cannot record the session in ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    this._owners.set(id, owner);
    return recording;
  }

  forget(id: string): void {
    this._owners.delete(id);
  }

  /** The file of `owner`'s recording `id`, or undefined for another's, an unknown or a removed one. */
  find(owner: string, id: string): string | undefined {
    if (this._owners.get(id) !== owner) return undefined;
    return this.findAny(id);
  }

  /** The recording of session `id`, whoever owned it (for auditors), also from an earlier run. */
  findAny(id: string): string | undefined {
    const file = this.file(id);
    return existsSync(file) ? file : undefined;
  }

  file(id: string): string {
    return join(this.dir, `${id}.cast`);
  }

  /** Remove the `.cast` files last written longer than the retention ago; returns their names. */
  prune(now = Date.now()): string[] {
    if (this._maxAgeMs === undefined) return [];
    const removed: string[] = [];
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return removed; // the folder is gone or unreadable: nothing to remove
    }
    for (const name of names) {
      if (!name.endsWith('.cast')) continue;
      const file = join(this.dir, name);
      try {
        if (now - statSync(file).mtimeMs > this._maxAgeMs) {
          rmSync(file, { force: true });
          this._owners.delete(name.slice(0, -'.cast'.length));
          removed.push(name);
        }
      } catch {
        // gone meanwhile
      }
    }
    return removed;
  }

  close(): void {
    clearInterval(this._timer);
  }
}
