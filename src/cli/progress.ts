// A one-line progress bar on stderr for copies: bytes, rate and time left, redrawn in place.

import type { WriteStream } from 'node:tty';
import { sanitize } from './sanitize.ts';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const total = Math.round(s);
  const m = Math.floor(total / 60);
  return `${String(m).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

export interface ProgressEvent {
  phase: string;
  bytes: number;
  totalBytes?: number;
}

/** The text of one progress line (pure, for tests). */
export function progressLine(event: ProgressEvent, elapsedMs: number, width: number): string {
  // The phase may name a file from the pod: shown inert.
  event = { ...event, phase: sanitize(event.phase) };
  const rate = elapsedMs > 0 ? (event.bytes * 1000) / elapsedMs : 0;
  const head = `${event.phase} ${formatBytes(event.bytes)}`;
  const tail = `${formatBytes(rate)}/s`;
  if (!event.totalBytes) return `${head}  ${tail}`.slice(0, width);
  const fraction = Math.min(1, event.bytes / event.totalBytes);
  const eta = rate > 0 ? (event.totalBytes - event.bytes) / rate : Infinity;
  const info = ` ${formatBytes(event.bytes)}/${formatBytes(event.totalBytes)} ${String(Math.floor(fraction * 100)).padStart(3)}%  ${tail}  ETA ${formatSeconds(eta)}`;
  const barWidth = Math.max(10, Math.min(40, width - event.phase.length - info.length - 4));
  const filled = Math.round(fraction * barWidth);
  return `${event.phase} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${info}`.slice(0, width);
}

export class ProgressBar {
  private readonly _out: WriteStream;
  private _start = new Map<string, number>();
  private _drawn = false;
  private _phase: string | undefined;

  constructor(out: WriteStream) {
    this._out = out;
  }

  update(event: ProgressEvent): void {
    if (this._drawn && this._phase !== event.phase) this._out.write('\n');
    this._phase = event.phase;
    const start = this._start.get(event.phase) ?? Date.now();
    this._start.set(event.phase, start);
    this._out.write(`\r\x1b[2K${progressLine(event, Date.now() - start, (this._out.columns || 80) - 1)}`);
    this._drawn = true;
  }

  /** End the line so later output starts on a fresh one. */
  done(): void {
    if (this._drawn) this._out.write('\n');
    this._drawn = false;
  }
}
