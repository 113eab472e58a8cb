// Go-style formatting, for messages that must read like the Go originals (%q, %v, sort.Strings).

/** Go's `%q` for a string (close enough: printable non-ASCII is kept as is). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

/**
 * A bad value as field.Error prints it: strings quoted, numbers and booleans plain, null as
 * `null`, string slices and string maps as Go's `%#v` does; anything else as JSON.
 */
export function goValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
    return `[]string{${v.map(goQuote).join(', ')}}`;
  }
  if (typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) {
    const entries = Object.entries(v as Record<string, string>).sort(([a], [b]) => compareStrings(a, b));
    return `map[string]string{${entries.map(([k, x]) => `${goQuote(k)}:${goQuote(x)}`).join(', ')}}`;
  }
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Byte-wise string order, as Go's sort.Strings (for ASCII, the same as UTF-16 order). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
