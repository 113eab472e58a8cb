// The three patch types an apiserver accepts, applied to a plain JSON document: JSON merge patch
// (RFC 7386), JSON patch (RFC 6902) and the strategic merge patch kubectl sends, where the lists
// of containers merge by name. Each throws PatchError with the apiserver's wording. And reading a
// request's JSON body (a patch, or an object), bounded as an apiserver bounds it.

import type { IncomingMessage } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { ApiError, badRequest } from './errors.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export class PatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'] as const;
export type PatchType = (typeof PATCH_TYPES)[number];

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386: objects merge, null removes a key, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key] ?? null, value);
  }
  return out;
}

/** Lists whose items merge by their `name` (the pod fields a debug container touches). */
const MERGE_BY_NAME = new Set(['containers', 'initContainers', 'ephemeralContainers', 'env', 'ephemeralContainerStatuses', 'containerStatuses']);

/**
 * A strategic merge patch: as a merge patch, except that the lists named in MERGE_BY_NAME merge
 * their items by name (an item `{"name": x, "$patch": "delete"}` removes one), `$patch: replace`
 * replaces an object, and `$setElementOrder/…` and `$retainKeys` directives are accepted.
 */
export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch['$patch'] === 'replace') {
    const { $patch: _, ...rest } = patch;
    return structuredClone(rest);
  }
  if (patch['$patch'] === 'delete') return {};
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$setElementOrder/') || key === '$retainKeys' || key === '$patch') continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) continue;
    if (value === null) {
      delete out[key];
    } else if (MERGE_BY_NAME.has(key) && Array.isArray(value)) {
      out[key] = mergeByName(Array.isArray(out[key]) ? (out[key] as Json[]) : [], value);
    } else if (isObject(value)) {
      out[key] = strategicMergePatch(out[key] ?? null, value);
    } else {
      out[key] = structuredClone(value);
    }
  }
  return out;
}

function mergeByName(current: Json[], patch: Json[]): Json[] {
  const out = [...current];
  for (const item of patch) {
    if (!isObject(item) || typeof item['name'] !== 'string') {
      throw new PatchError(`map: ${JSON.stringify(item)} does not contain declared merge key: name`);
    }
    const at = out.findIndex((x) => isObject(x) && x['name'] === item['name']);
    if (item['$patch'] === 'delete') {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = strategicMergePatch(out[at]!, item);
    else out.push(strategicMergePatch(null, item));
  }
  return out;
}

/** RFC 6901: the reference tokens of a JSON pointer. */
function pointer(path: unknown): string[] {
  if (typeof path !== 'string') throw new PatchError('invalid JSON Patch: "path" must be a string');
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON Patch: path "${path}" does not start with /`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, tokens: string[], op: string, path: string): { parent: JsonObject | Json[]; key: string } {
  let node: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(node) ? node[Number(t)] : isObject(node) ? node[t] : undefined;
    if (next === undefined) throw new PatchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    node = next;
  }
  if (!isObject(node) && !Array.isArray(node)) throw new PatchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  return { parent: node, key: tokens[tokens.length - 1]! };
}

function arrayIndex(list: Json[], key: string, op: string, path: string, forInsert: boolean): number {
  if (forInsert && key === '-') return list.length;
  const n = /^(0|[1-9]\d*)$/.test(key) ? Number(key) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > list.length - (forInsert ? 0 : 1)) {
    throw new PatchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return n;
}

function getAt(doc: Json, path: unknown, op: string): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return doc;
  const { parent, key } = parentOf(doc, tokens, op, String(path));
  const value = Array.isArray(parent) ? parent[arrayIndex(parent, key, op, String(path), false)] : parent[key];
  if (value === undefined) throw new PatchError(`${op} operation does not apply: doc is missing path: "${String(path)}": missing value`);
  return value;
}

function removeAt(doc: Json, path: unknown, op: string): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) throw new PatchError(`${op} operation does not apply: cannot remove the whole document`);
  const { parent, key } = parentOf(doc, tokens, op, String(path));
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, op, String(path), false), 1)[0]!;
  if (!(key in parent)) throw new PatchError(`${op} operation does not apply: doc is missing path: "${String(path)}": missing value`);
  const value = parent[key]!;
  delete parent[key];
  return value;
}

function addAt(doc: Json, path: unknown, value: Json, op: string, replace: boolean): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, op, String(path));
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, key, op, String(path), !replace);
    parent.splice(i, replace ? 1 : 0, value);
  } else {
    if (replace && !(key in parent)) throw new PatchError(`${op} operation does not apply: doc is missing key: ${String(path)}: missing value`);
    parent[key] = value;
  }
  return doc;
}

/** RFC 6902, every operation; the document is not changed when one fails. */
export function jsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = structuredClone(target);
  for (const raw of patch) {
    if (!isObject(raw)) throw new PatchError('json: cannot unmarshal into Go value of type jsonpatch.Operation');
    const op = raw['op'];
    const has = (k: string) => Object.prototype.hasOwnProperty.call(raw, k);
    switch (op) {
      case 'add':
      case 'replace':
        if (!has('value')) throw new PatchError(`${op} operation does not apply: missing value`);
        doc = addAt(doc, raw['path'], structuredClone(raw['value']!), op, op === 'replace');
        break;
      case 'remove':
        removeAt(doc, raw['path'], op);
        break;
      case 'test':
        if (!isDeepStrictEqual(getAt(doc, raw['path'], op), raw['value'])) throw new PatchError(`testing value ${String(raw['path'])} failed: test failed`);
        break;
      case 'move': {
        const value = removeAt(doc, raw['from'], op);
        doc = addAt(doc, raw['path'], value, op, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, raw['path'], structuredClone(getAt(doc, raw['from'], op)), op, false);
        break;
      default:
        throw new PatchError(`Unexpected kind: ${String(op)}`);
    }
  }
  return doc;
}

export function applyPatch(type: PatchType, target: Json, patch: Json): Json {
  if (type === 'application/json-patch+json') return jsonPatch(target, patch);
  if (type === 'application/merge-patch+json') return mergePatch(target, patch);
  return strategicMergePatch(target, patch);
}

/**
 * The object a write asks for: for PATCH, `current` with the body applied as its media type says
 * (one of PATCH_TYPES); for PUT, the body itself (JSON). Another media type is a 415; a patch that
 * does not apply is a 422 (JSON patch) or a 400, as an apiserver answers.
 */
export async function requestedObject(req: IncomingMessage, method: 'PATCH' | 'PUT', current: Json): Promise<Json> {
  const type = mediaType(req);
  if (method === 'PUT') {
    if (type !== '' && type !== 'application/json') throw new ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json');
    return readJsonBody(req);
  }
  if (!(PATCH_TYPES as readonly string[]).includes(type)) {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
  }
  const patch = await readJsonBody(req);
  try {
    return applyPatch(type as PatchType, structuredClone(current), patch);
  } catch (err) {
    if (err instanceof PatchError) throw type === 'application/json-patch+json' ? new ApiError(422, 'Invalid', err.message) : badRequest(err.message);
    throw err;
  }
}

/** The request's media type, lower case, without parameters. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * The request's body as JSON: at most 3 MiB (413 beyond, as an apiserver answers); a body that
 * does not parse is a 400 whose message `badFormat` words (by default a patch's).
 */
export async function readJsonBody(req: IncomingMessage, badFormat = (detail: string) => `error decoding patch: ${detail}`): Promise<Json> {
  const limit = 3 * 1024 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
  } catch (err) {
    throw badRequest(badFormat((err as Error).message));
  }
}
