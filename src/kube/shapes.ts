// The minimal shape checks at the REST boundary: every answer podshell reads fields of (a pod, a
// page of a pod list, a workload or service) is checked for those fields before anything reads
// them, so a broken server or a proxy in the way gives ERR_BAD_RESPONSE, not a TypeError.

import { PodshellError } from '../protocol/errors.ts';
import type { ListMeta, Pod } from './types.ts';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{}`, `[]`, `null`, `"x"`, … as a short piece of text for messages. */
function sample(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? 'an empty answer' : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function bad(expected: string, what: string, value: unknown, problem?: string): PodshellError {
  return new PodshellError('ERR_BAD_RESPONSE', `expected ${expected} in the answer to ${what}, got ${problem ?? sample(value)}`);
}

function podProblem(value: unknown): string | undefined {
  if (!isObject(value)) return sample(value);
  const metadata = value['metadata'];
  if (!isObject(metadata) || typeof metadata['name'] !== 'string') return `an object without metadata.name: ${sample(value)}`;
  const spec = value['spec'];
  if (!isObject(spec) || !Array.isArray(spec['containers'])) return `an object without spec.containers: ${sample(value)}`;
  if (!spec['containers'].every((c) => isObject(c) && typeof c['name'] === 'string')) return `a pod whose spec.containers are not all named: ${sample(value)}`;
  for (const key of ['initContainers', 'ephemeralContainers']) {
    if (spec[key] !== undefined && spec[key] !== null && !Array.isArray(spec[key])) return `a pod whose spec.${key} is not a list: ${sample(value)}`;
  }
  if (value['status'] !== undefined && value['status'] !== null && !isObject(value['status'])) return `a pod whose status is not an object: ${sample(value)}`;
  if (metadata['annotations'] !== undefined && metadata['annotations'] !== null && !isObject(metadata['annotations'])) return `a pod whose metadata.annotations is not an object: ${sample(value)}`;
  return undefined;
}

/** @throws PodshellError ERR_BAD_RESPONSE "expected a Pod in the answer to GET …, got {}" */
export function asPod(value: unknown, what: string): Pod {
  const problem = podProblem(value);
  if (problem) throw bad('a Pod', what, value, problem);
  return value as Pod;
}

/** One page of a pod list. */
export function asPodList(value: unknown, what: string): { items: Pod[]; metadata?: ListMeta } {
  if (!isObject(value)) throw bad('a PodList', what, value);
  const items = value['items'] ?? [];
  if (!Array.isArray(items)) throw bad('a PodList', what, value, `items that are not a list: ${sample(value['items'])}`);
  for (const item of items) {
    const problem = podProblem(item);
    if (problem) throw bad('a PodList', what, value, `an item that is not a Pod: ${problem}`);
  }
  const metadata = value['metadata'];
  if (metadata !== undefined && metadata !== null && !isObject(metadata)) throw bad('a PodList', what, value, `metadata that is not an object: ${sample(metadata)}`);
  if (isObject(metadata) && metadata['continue'] !== undefined && typeof metadata['continue'] !== 'string') {
    throw bad('a PodList', what, value, `a metadata.continue that is not a string: ${sample(metadata['continue'])}`);
  }
  return { items: items as Pod[], ...(isObject(metadata) ? { metadata: metadata as ListMeta } : {}) };
}

/** A workload or service: an object whose `spec`, when present, is an object. */
export function asWorkload(value: unknown, kind: string, what: string): { spec?: { selector?: unknown } } {
  if (!isObject(value)) throw bad(`a ${kind}`, what, value);
  const spec = value['spec'];
  if (spec !== undefined && spec !== null && !isObject(spec)) throw bad(`a ${kind}`, what, value, `a spec that is not an object: ${sample(spec)}`);
  const selector = isObject(spec) ? spec['selector'] : undefined;
  if (selector !== undefined && selector !== null && !isObject(selector)) throw bad(`a ${kind}`, what, value, `a spec.selector that is not an object: ${sample(selector)}`);
  return value as { spec?: { selector?: unknown } };
}
