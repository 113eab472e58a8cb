// Label selectors, field selectors and the name/label validation rules they rest on, with the
// behaviour and the error wording of k8s.io/apimachinery (labels/selector.go, fields/selector.go,
// api/validate/content) and of the pod field-label conversion in pkg/apis/core/v1.

import { SandboxError } from './errors.ts';
import type { LabelSelector, Pod } from './types.ts';

/** A selector that could not be parsed or built. The message is the one Kubernetes gives. */
export class SelectorError extends SandboxError {
  constructor(message: string) {
    super('ERR_SANDBOX_SELECTOR', message);
    this.name = 'SelectorError';
  }
}

export interface LabelMatcher {
  matches(labels: Record<string, string> | undefined): boolean;
  /** The canonical string form (requirements sorted by key, set values sorted), as kube prints it. */
  toString(): string;
}

// ---------------------------------------------------------------------------------------------
// Go-style formatting, for messages that must read like the Go originals.

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

// ---------------------------------------------------------------------------------------------
// Name and label validation (k8s.io/apimachinery/pkg/api/validate/content). Each returns the list
// of problems; empty means valid.

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`);
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);
const labelKeyFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const labelKeyRe = new RegExp(`^${labelKeyFmt}$`);
const labelValueFmt = `(${labelKeyFmt})?`;
const labelValueRe = new RegExp(`^${labelValueFmt}$`);

function regexError(msg: string, re: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${re}')`;
  let out = `${msg} (e.g. `;
  examples.forEach((e, i) => {
    if (i > 0) out += ' or ';
    out += `'${e}', `;
  });
  return `${out}regex used for validation is '${re}')`;
}

function maxLenError(n: number): string {
  return `must be no more than ${n} bytes`;
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!dns1123LabelRe.test(value)) {
    if (dns1123SubdomainRe.test(value)) errs.push('must not contain dots');
    else
      errs.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          dns1123LabelFmt,
          'my-name',
          '123-abc',
        ),
      );
  }
  return errs;
}

export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 253) errs.push(maxLenError(253));
  if (!dns1123SubdomainRe.test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        dns1123SubdomainFmt,
        'example.com',
      ),
    );
  }
  return errs;
}

const labelKeyErrMsg =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** A label key (also an annotation key, a "qualified name"): `[prefix/]name`. */
export function isLabelKey(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...isDNS1123Subdomain(prefix).map((m) => `prefix part ${m}`));
  } else {
    return [
      'a valid label key ' +
        regexError(labelKeyErrMsg, labelKeyFmt, 'MyName', 'my.name', '123-abc') +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (byteLength(name) > 63) errs.push(`name part ${maxLenError(63)}`);
  if (!labelKeyRe.test(name)) {
    errs.push(`name part ${regexError(labelKeyErrMsg, labelKeyFmt, 'MyName', 'my.name', '123-abc')}`);
  }
  return errs;
}

export function isLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!labelValueRe.test(value)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        labelValueFmt,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  }
  return errs;
}

/** Names that only have to be a safe URL path segment (RBAC objects). */
export function isPathSegmentName(value: string): string[] {
  if (value === '.' || value === '..') return [`may not be '${value}'`];
  const errs: string[] = [];
  if (value.includes('/')) errs.push("may not contain '/'");
  if (value.includes('%')) errs.push("may not contain '%'");
  return errs;
}

// ---------------------------------------------------------------------------------------------
// Requirements and selectors.

type Operator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

const binaryOperators = ['in', 'notin', '=', '==', '!=', 'gt', 'lt'];
const validRequirementOperators = [...binaryOperators, 'exists', '!'];

/** field.Error text: `<path>: Invalid value: <value>: <detail>`; Go prints a nil path as `<nil>`. */
function invalid(path: string | null, value: unknown, detail: string): string {
  return `${path ?? '<nil>'}: Invalid value: ${goValue(value)}${detail ? `: ${detail}` : ''}`;
}

/** utilerrors.Aggregate: one message alone, several in brackets; duplicates dropped. */
function aggregate(msgs: string[]): string {
  const unique = [...new Set(msgs)];
  return unique.length === 1 ? unique[0]! : `[${unique.join(', ')}]`;
}

function goStringSlice(values: string[] | null): string {
  return values === null ? '[]string(nil)' : goValue(values);
}

/** labels.NewRequirement: validates and builds one requirement (path-less, as the parser uses it). */
function newRequirement(key: string, op: Operator, values: string[]): Requirement {
  const errs: string[] = [];
  const keyErrs = isLabelKey(key);
  if (keyErrs.length) errs.push(invalid('key', key, keyErrs.join('; ')));
  switch (op) {
    case 'in':
    case 'notin':
      if (values.length === 0) {
        errs.push(
          `values: Invalid value: ${goStringSlice(null)}: for 'in', 'notin' operators, values set can't be empty`,
        );
      }
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) {
        errs.push(`values: Invalid value: ${goStringSlice(values)}: exact-match compatibility requires one single value`);
      }
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) {
        errs.push(`values: Invalid value: ${goStringSlice(values)}: values set must be empty for exists and does not exist`);
      }
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) {
        errs.push(`values: Invalid value: ${goStringSlice(values)}: for 'Gt', 'Lt' operators, exactly one value is required`);
      }
      values.forEach((v, i) => {
        if (parseGoInt(v) === undefined) {
          errs.push(invalid(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      });
      break;
    default:
      errs.push(
        `operator: Unsupported value: ${goQuote(op)}: supported values: ${validRequirementOperators.map(goQuote).join(', ')}`,
      );
  }
  values.forEach((v, i) => {
    const valueErrs = isLabelValue(v);
    if (valueErrs.length) errs.push(invalid(`values[${i}][${key}]`, v, valueErrs.join('; ')));
  });
  if (errs.length) throw new SelectorError(aggregate(errs));
  return { key, op, values };
}

/** strconv.ParseInt(s, 10, 64). */
function parseGoInt(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  if (n > 9223372036854775807n || n < -9223372036854775808n) return undefined;
  return n;
}

function requirementMatches(r: Requirement, labels: Record<string, string> | undefined): boolean {
  const has = labels !== undefined && Object.hasOwn(labels, r.key);
  const val = has ? labels[r.key] : undefined;
  switch (r.op) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(val!);
    case 'notin':
    case '!=':
      return !has || !r.values.includes(val!);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || r.values.length !== 1) return false;
      const lv = parseGoInt(val!);
      const rv = parseGoInt(r.values[0]!);
      if (lv === undefined || rv === undefined) return false;
      return r.op === 'gt' ? lv > rv : lv < rv;
    }
  }
}

function requirementString(r: Requirement): string {
  let s = r.op === '!' ? '!' : '';
  s += r.key;
  switch (r.op) {
    case 'exists':
    case '!':
      return s;
    case '=':
    case '==':
    case '!=':
      s += r.op;
      break;
    case 'in':
    case 'notin':
      s += ` ${r.op} (`;
      break;
    case 'gt':
      s += '>';
      break;
    case 'lt':
      s += '<';
      break;
  }
  s += r.values.length === 1 ? r.values[0] : [...r.values].sort(compareStrings).join(',');
  if (r.op === 'in' || r.op === 'notin') s += ')';
  return s;
}

class RequirementsMatcher implements LabelMatcher {
  readonly #reqs: Requirement[];
  constructor(reqs: Requirement[]) {
    // Kubernetes sorts requirements by key (stable here; Go's sort.Sort is not, but equal keys
    // only change the order of the printed form, never the result).
    this.#reqs = [...reqs].sort((a, b) => compareStrings(a.key, b.key));
  }
  matches(labels: Record<string, string> | undefined): boolean {
    return this.#reqs.every((r) => requirementMatches(r, labels));
  }
  toString(): string {
    return this.#reqs.map(requirementString).join(',');
  }
}

const nothing: LabelMatcher = {
  matches: () => false,
  toString: () => '',
};

// ---------------------------------------------------------------------------------------------
// The string-form parser: a lexer and a recursive-descent parser shaped like labels/selector.go,
// so that what it accepts and the errors it gives are the same.

type Tok =
  | 'error'
  | 'eos'
  | ')'
  | ','
  | '!'
  | '=='
  | '='
  | '>'
  | 'id'
  | 'in'
  | '<'
  | '!='
  | 'notin'
  | '(';

interface Item {
  tok: Tok;
  lit: string;
}

const string2token: Record<string, Tok> = {
  ')': ')',
  ',': ',',
  '!': '!',
  '==': '==',
  '=': '=',
  '>': '>',
  in: 'in',
  '<': '<',
  '!=': '!=',
  notin: 'notin',
  '(': '(',
};

const isWhitespace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const isSpecial = (ch: string): boolean =>
  ch === '=' || ch === '!' || ch === '(' || ch === ')' || ch === ',' || ch === '>' || ch === '<';

function lex(s: string): Item[] {
  let pos = 0;
  // Go reads bytes and treats a 0 byte as the end; an index past the end reads as 0 too.
  const read = (): string => {
    const ch = pos < s.length ? s[pos]! : '\0';
    if (pos < s.length) pos++;
    return ch;
  };
  const unread = (): void => {
    pos--;
  };
  const items: Item[] = [];
  for (;;) {
    let ch = read();
    while (isWhitespace(ch)) ch = read();
    let item: Item;
    if (ch === '\0') {
      item = { tok: 'eos', lit: '' };
    } else if (isSpecial(ch)) {
      unread();
      let buffer = '';
      let last: Item | undefined;
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (isSpecial(c)) {
          buffer += c;
          const t = string2token[buffer];
          if (t !== undefined) last = { tok: t, lit: buffer };
          else if (last) {
            unread();
            break;
          }
        } else {
          unread();
          break;
        }
      }
      item = last ?? { tok: 'error', lit: `error expected: keyword found '${buffer}'` };
    } else {
      unread();
      let buffer = '';
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (isSpecial(c) || isWhitespace(c)) {
          unread();
          break;
        }
        buffer += c;
      }
      const t = Object.hasOwn(string2token, buffer) ? string2token[buffer]! : 'id';
      item = { tok: t, lit: buffer };
    }
    items.push(item);
    if (item.tok === 'eos') return items;
  }
}

class Parser {
  readonly #items: Item[];
  #pos = 0;
  constructor(s: string) {
    this.#items = lex(s);
  }

  #at(i: number, values: boolean): Item {
    const it = this.#items[Math.min(i, this.#items.length - 1)]!;
    if (values && (it.tok === 'in' || it.tok === 'notin')) return { tok: 'id', lit: it.lit };
    return it;
  }
  #lookahead(values: boolean): Item {
    return this.#at(this.#pos, values);
  }
  #consume(values: boolean): Item {
    return this.#at(this.#pos++, values);
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.#lookahead(true);
      switch (tok) {
        case 'id':
        case '!': {
          let r: Requirement;
          try {
            r = this.#parseRequirement();
          } catch (e) {
            if (e instanceof SelectorError) throw new SelectorError(`unable to parse requirement: ${e.message}`);
            throw e;
          }
          reqs.push(r);
          const t = this.#consume(true);
          if (t.tok === 'eos') return reqs;
          if (t.tok === ',') {
            const t2 = this.#lookahead(true);
            if (t2.tok !== 'id' && t2.tok !== '!') {
              throw new SelectorError(`found '${t2.lit}', expected: identifier after ','`);
            }
            break;
          }
          throw new SelectorError(`found '${t.lit}', expected: ',' or 'end of string'`);
        }
        case 'eos':
          return reqs;
        default:
          throw new SelectorError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  #parseRequirement(): Requirement {
    const [key, inferred] = this.#parseKeyAndInferOperator();
    if (inferred === 'exists' || inferred === '!') return newRequirement(key, inferred, []);
    const op = this.#parseOperator();
    const values = op === 'in' || op === 'notin' ? this.#parseValues() : this.#parseExactValue();
    // sets.String.List(): sorted and deduplicated.
    return newRequirement(key, op, [...values].sort(compareStrings));
  }

  #parseKeyAndInferOperator(): [string, Operator | undefined] {
    let op: Operator | undefined;
    let it = this.#consume(true);
    if (it.tok === '!') {
      op = '!';
      it = this.#consume(true);
    }
    if (it.tok !== 'id') throw new SelectorError(`found '${it.lit}', expected: identifier`);
    const errs = isLabelKey(it.lit);
    if (errs.length) throw new SelectorError(invalid(null, it.lit, errs.join('; ')));
    const next = this.#lookahead(true).tok;
    if ((next === 'eos' || next === ',') && op !== '!') op = 'exists';
    return [it.lit, op];
  }

  #parseOperator(): Operator {
    const { tok, lit } = this.#consume(false);
    switch (tok) {
      case 'in':
        return 'in';
      case '=':
        return '=';
      case '==':
        return '==';
      case '>':
        return 'gt';
      case '<':
        return 'lt';
      case 'notin':
        return 'notin';
      case '!=':
        return '!=';
      default:
        throw new SelectorError(`found '${lit}', expected: ${binaryOperators.join(', ')}`);
    }
  }

  #parseValues(): Set<string> {
    let { tok, lit } = this.#consume(true);
    if (tok !== '(') throw new SelectorError(`found '${lit}' expected: '('`);
    ({ tok, lit } = this.#lookahead(true));
    switch (tok) {
      case 'id':
      case ',': {
        const s = this.#parseIdentifiersList();
        if (this.#consume(true).tok !== ')') throw new SelectorError(`found '${lit}', expected: ')'`);
        return s;
      }
      case ')':
        this.#consume(true);
        return new Set(['']);
      default:
        throw new SelectorError(`found '${lit}', expected: ',', ')' or identifier`);
    }
  }

  #parseIdentifiersList(): Set<string> {
    const s = new Set<string>();
    for (;;) {
      const { tok, lit } = this.#consume(true);
      if (tok === 'id') {
        s.add(lit);
        const t2 = this.#lookahead(true);
        if (t2.tok === ',') continue;
        if (t2.tok === ')') return s;
        throw new SelectorError(`found '${t2.lit}', expected: ',' or ')'`);
      } else if (tok === ',') {
        if (s.size === 0) s.add('');
        const t2 = this.#lookahead(true).tok;
        if (t2 === ')') {
          s.add('');
          return s;
        }
        if (t2 === ',') s.add('');
      } else {
        throw new SelectorError(`found '${lit}', expected: ',', or identifier`);
      }
    }
  }

  #parseExactValue(): Set<string> {
    const next = this.#lookahead(true).tok;
    if (next === 'eos' || next === ',') return new Set(['']);
    const { tok, lit } = this.#consume(true);
    if (tok === 'id') return new Set([lit]);
    throw new SelectorError(`found '${lit}', expected: identifier`);
  }
}

/**
 * Parse a label selector string as Kubernetes does: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
 * `a notin (x)`, `a`, `!a`, `a>1`, `a<1`; comma means AND; the empty string matches everything.
 * Throws SelectorError with kube's message when it is invalid.
 */
export function parseLabelSelector(s: string): LabelMatcher {
  return new RequirementsMatcher(new Parser(s).parse());
}

/**
 * metav1.LabelSelectorAsSelector: matchLabels and matchExpressions (In, NotIn, Exists,
 * DoesNotExist) ANDed. A missing selector matches nothing; an empty one matches everything.
 */
export function fromLabelSelector(sel: LabelSelector | null | undefined): LabelMatcher {
  if (sel === null || sel === undefined) return nothing;
  const matchLabels = sel.matchLabels ?? {};
  const exprs = sel.matchExpressions ?? [];
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(matchLabels)) reqs.push(newRequirement(k, '=', [v]));
  for (const e of exprs) {
    let op: Operator;
    switch (e.operator) {
      case 'In':
        op = 'in';
        break;
      case 'NotIn':
        op = 'notin';
        break;
      case 'Exists':
        op = 'exists';
        break;
      case 'DoesNotExist':
        op = '!';
        break;
      default:
        throw new SelectorError(`${goQuote(String(e.operator))} is not a valid label selector operator`);
    }
    reqs.push(newRequirement(e.key, op, [...(e.values ?? [])]));
  }
  return new RequirementsMatcher(reqs);
}

/** The string form of a metav1.LabelSelector, as kube prints it (`app=web,tier in (a,b)`). */
export function selectorToString(sel: LabelSelector | null | undefined): string {
  return fromLabelSelector(sel).toString();
}

// ---------------------------------------------------------------------------------------------
// Field selectors for pods.

/** The field labels pods accept (pkg/apis/core/v1 conversion); `spec.host` is an old alias. */
export const podFieldSelectorFields = [
  'metadata.name',
  'metadata.namespace',
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.schedulerName',
  'spec.serviceAccountName',
  'spec.hostNetwork',
  'status.phase',
  'status.podIP',
  'status.podIPs',
  'status.nominatedNodeName',
] as const;

/** The values a pod offers to field selectors (pkg/registry/core/pod ToSelectableFields). */
function podFields(pod: Pod): Record<string, string> {
  const spec = (pod.spec ?? {}) as Record<string, unknown>;
  const status = (pod.status ?? {}) as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const podIPs = Array.isArray(status['podIPs']) ? (status['podIPs'] as { ip?: unknown }[]) : [];
  // status.podIPs is accepted by the conversion but absent from the field set, so it reads as "".
  return {
    'metadata.name': str(pod.metadata?.name),
    'metadata.namespace': str(pod.metadata?.namespace),
    'spec.nodeName': str(spec['nodeName']),
    'spec.restartPolicy': str(spec['restartPolicy']),
    'spec.schedulerName': str(spec['schedulerName']),
    'spec.serviceAccountName': str(spec['serviceAccountName']),
    'spec.hostNetwork': spec['hostNetwork'] === true ? 'true' : 'false',
    'status.phase': str(status['phase']),
    'status.podIP': podIPs.length > 0 ? str(podIPs[0]?.ip) : '',
    'status.nominatedNodeName': str(status['nominatedNodeName']),
  };
}

/** fields.UnescapeValue: `\\`, `\,` and `\=` are escapes; a bare `,` or `=` is an error. */
function unescapeFieldValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c === '\\' || c === ',' || c === '=') out += c;
      else throw new SelectorError(`invalid field selector: invalid escape sequence: \\${c}`);
      inSlash = false;
      continue;
    }
    if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') {
      // Go prints the rune with %v: its number.
      throw new SelectorError(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    } else out += c;
  }
  if (inSlash) throw new SelectorError('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** Split on commas not escaped with a backslash (the backslash stays in the term). */
function splitFieldTerms(s: string): string[] {
  if (s.length === 0) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

/**
 * Parse a pod field selector: `field=value`, `field==value`, `field!=value`, comma means AND;
 * fields as a real apiserver accepts for pods. Throws SelectorError with kube's message
 * (`field label not supported: spec.foo` for a field pods do not have).
 */
export function parsePodFieldSelector(s: string): (pod: Pod) => boolean {
  const terms = splitFieldTerms(s).sort(compareStrings);
  const reqs: { field: string; value: string; negate: boolean }[] = [];
  for (const term of terms) {
    if (term === '') continue;
    let found: { lhs: string; op: string; rhs: string } | undefined;
    outer: for (let i = 0; i < term.length; i++) {
      for (const op of ['!=', '==', '=']) {
        if (term.startsWith(op, i)) {
          found = { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
          break outer;
        }
      }
    }
    if (!found) throw new SelectorError(`invalid selector: '${s}'; can't understand '${term}'`);
    reqs.push({ field: found.lhs, value: unescapeFieldValue(found.rhs), negate: found.op === '!=' });
  }
  for (const r of reqs) {
    if (r.field === 'spec.host') r.field = 'spec.nodeName';
    else if (!(podFieldSelectorFields as readonly string[]).includes(r.field)) {
      throw new SelectorError(`field label not supported: ${r.field}`);
    }
  }
  return (pod: Pod) => {
    const fields = podFields(pod);
    return reqs.every((r) => ((fields[r.field] ?? '') === r.value) !== r.negate);
  };
}
