// Label selectors: the string form's parser (a lexer and a recursive-descent parser, accepting what
// the apiserver's parser accepts), metav1.LabelSelector conversion, matching and the
// canonical string form, with Kubernetes' error wording.

import { SelectorError } from './errors.ts';
import { compareStrings, goQuote, goValue } from './goformat.ts';
import { isLabelKey, isLabelValue } from './names.ts';
import type { LabelSelector } from './types.ts';

export interface LabelMatcher {
  matches(labels: Record<string, string> | undefined): boolean;
  /** The canonical string form (requirements sorted by key, set values sorted), as kube prints it. */
  toString(): string;
}

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
// The string-form parser: a lexer and a recursive-descent parser shaped like the apiserver's,
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
