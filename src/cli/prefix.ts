// Output of many pods at once: every line prefixed with its source, lines never interleaved.

import { Transform, type TransformCallback } from 'node:stream';

const colours = [36, 33, 35, 32, 34, 31, 96, 93, 95, 92, 94, 91];

export function prefixLabel(label: string, index: number, colour: boolean): string {
  const text = `[${label}] `;
  return colour ? `\x1b[${colours[index % colours.length]}m${text}\x1b[0m` : text;
}

/** Prefix each line; a last line without a newline is completed with one at the end. */
export class LinePrefixer extends Transform {
  private readonly _prefix: Buffer;
  private _partial: Buffer = Buffer.alloc(0);

  constructor(prefix: string) {
    super();
    this._prefix = Buffer.from(prefix);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let data = this._partial.length ? Buffer.concat([this._partial, chunk]) : chunk;
    const lines: Buffer[] = [];
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
      lines.push(this._prefix, data.subarray(0, nl + 1));
      data = data.subarray(nl + 1);
    }
    this._partial = Buffer.from(data);
    if (lines.length) this.push(Buffer.concat(lines));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this._partial.length) this.push(Buffer.concat([this._prefix, this._partial, Buffer.from('\n')]));
    callback();
  }
}
