// Field errors, worded as the apiserver words them.

import { goQuote, goValue } from './goformat.ts';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function goTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

/**
 * A field.ErrorList: the problems found in one object, each `<path>: <what>` in the apiserver's
 * wording, plus readers that check a value's type and
 * record a problem when it is wrong.
 */
export class FieldErrors {
  readonly list: string[] = [];
  required(path: string, detail = ''): void {
    this.list.push(`${path}: Required value${detail ? `: ${detail}` : ''}`);
  }
  invalid(path: string, value: unknown, detail: string): void {
    this.list.push(`${path}: Invalid value: ${goValue(value)}: ${detail}`);
  }
  invalidRaw(path: string, printed: string, detail: string): void {
    this.list.push(`${path}: Invalid value: ${printed}: ${detail}`);
  }
  duplicate(path: string, value: unknown): void {
    this.list.push(`${path}: Duplicate value: ${goValue(value)}`);
  }
  notSupported(path: string, value: unknown, supported: string[]): void {
    this.list.push(`${path}: Unsupported value: ${goValue(value)}: supported values: ${supported.map(goQuote).join(', ')}`);
  }
  forbidden(path: string, detail: string): void {
    this.list.push(`${path}: Forbidden: ${detail}`);
  }
  tooLong(path: string, max: number): void {
    this.list.push(`${path}: Too long: must have at most ${max} bytes`);
  }

  /** A string, or absent. Returns the string when it is one. */
  string(path: string, v: unknown): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      this.invalid(path, v, 'must be a string');
      return undefined;
    }
    return v;
  }
  boolean(path: string, v: unknown): void {
    if (v !== undefined && v !== null && typeof v !== 'boolean') this.invalid(path, v, 'must be a boolean');
  }
  /** An array of strings, or absent. Returns the strings that are strings. */
  stringArray(path: string, v: unknown): string[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.invalid(path, v, 'must be an array of strings');
      return [];
    }
    const out: string[] = [];
    v.forEach((x, i) => {
      if (typeof x === 'string') out.push(x);
      else this.invalid(`${path}[${i}]`, x, 'must be a string');
    });
    return out;
  }
  /** A map of strings to strings, or absent. */
  stringMap(path: string, v: unknown): Record<string, string> {
    if (v === undefined || v === null) return {};
    if (!isObj(v)) {
      this.invalid(path, v, 'must be a map of strings');
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === 'string') out[k] = x;
      else this.invalid(`${path}[${k}]`, x, 'must be a string');
    }
    return out;
  }
  array(path: string, v: unknown): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.invalid(path, v, 'must be an array');
      return [];
    }
    return v;
  }
}
