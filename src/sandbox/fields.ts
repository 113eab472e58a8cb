// Field selectors for pods: the field labels pods accept and the field selector syntax, as the
// apiserver parses them, with Kubernetes' error wording.

import { SelectorError } from './errors.ts';
import { compareStrings } from './goformat.ts';
import type { Pod } from './types.ts';

/** The field labels pods accept; `spec.host` is an old alias. */
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

/** The values a pod offers to field selectors. */
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
