// Terminal size messages on channel 4.

import { PodshellError } from './errors.ts';
export interface TerminalSize {
  readonly width: number;
  readonly height: number;
}

const encoder = new TextEncoder();

/** client-go's exact bytes: `{"Width":80,"Height":24}` and a newline (json.Encoder). */
export function encodeResize(size: TerminalSize): Uint8Array {
  return encoder.encode(`{"Width":${size.width},"Height":${size.height}}\n`);
}

export class ResizeError extends PodshellError {
  constructor(message: string) {
    super('ERR_RESIZE_JSON', message);
    this.name = 'ResizeError';
  }
}

const isUint16 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;

/**
 * A streaming decoder for the resize channel, as the server runs one: JSON values may be split
 * across messages or several packed into one. Keys match case-insensitively, as Go's decoder does.
 */
export class ResizeDecoder {
  private _pending = '';
  private readonly _decoder = new TextDecoder();

  /** Feed received bytes; returns every size completed by them. Throws ResizeError on bad JSON. */
  push(bytes: Uint8Array): TerminalSize[] {
    this._pending += this._decoder.decode(bytes, { stream: true });
    const sizes: TerminalSize[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this._pending.length; i++) {
      const ch = this._pending[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === '\\') escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (depth === 0) {
        if (ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t') {
          consumed = i + 1;
          continue;
        }
        if (ch !== '{') throw new ResizeError(`invalid character '${ch}' looking for beginning of a terminal size object`);
        start = i;
      }
      if (ch === '"') inString = true;
      else if (ch === '{') depth++;
      else if (ch === '}') {
        depth--;
        if (depth === 0) {
          sizes.push(parseSize(this._pending.slice(start, i + 1)));
          consumed = i + 1;
        }
      }
    }
    this._pending = this._pending.slice(consumed);
    return sizes;
  }
}

function parseSize(text: string): TerminalSize {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ResizeError(`invalid terminal size ${JSON.stringify(text)}: ${(err as Error).message}`);
  }
  let width: unknown = 0;
  let height: unknown = 0;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const k = key.toLowerCase();
    if (k === 'width') width = v;
    else if (k === 'height') height = v;
  }
  if (!isUint16(width) || !isUint16(height)) throw new ResizeError(`invalid terminal size ${JSON.stringify(text)}: Width and Height must be integers from 0 to 65535`);
  return { width, height };
}
