// Reading manifests: multi-document YAML → Kubernetes objects, each checked as the apiserver
// checks it on create (validate.ts) and named in errors by its file and document. Cross-object
// checks (namespaces, duplicates) and the apiserver's defaulting happen while the world is built
// (world.ts, defaults.ts).

import { LineCounter, parseAllDocuments } from 'yaml';
import { SandboxError } from './errors.ts';
import { goTypeName, isObj } from './fielderrors.ts';
import { goQuote, goValue } from './goformat.ts';
import { kindInfo, supportedKinds, type KindInfo } from './kinds.ts';
import type { KubeObject } from './types.ts';
import { validateFields } from './validate.ts';

/**
 * A manifest that cannot be served. The message names the source, the document (1-based, with
 * kind and name when known) and the field path, e.g.
 * `world.yaml: document 3 (Pod "web"): spec.containers[0].name: Required value`.
 */
export class ManifestError extends SandboxError {
  /** The field-level problems, each `<path>: <what>` (empty for syntax and type errors). */
  readonly errors: readonly string[];
  constructor(message: string, errors: readonly string[] = []) {
    super('ERR_SANDBOX_MANIFEST', message);
    this.name = 'ManifestError';
    this.errors = errors;
  }
}

// ---------------------------------------------------------------------------------------------
// Where objects came from, so that errors found later (in buildWorld) can still name the file
// and document. Kept outside the objects, so they serialize exactly as written.

const origins = new WeakMap<object, string>();

/** Record that `copy` describes itself like `original` (for copies made while building). */
export function inheritOrigin(copy: object, original: object): void {
  const o = origins.get(original);
  if (o !== undefined) origins.set(copy, o);
}

/**
 * How errors name an object: `world.yaml: document 3 (Pod "web")` for objects read by
 * parseManifests, `Pod "web" (namespace "x")` for objects made in code.
 */
export function describeObject(obj: KubeObject): string {
  const known = origins.get(obj);
  if (known !== undefined) return known;
  const name = typeof obj.metadata?.name === 'string' ? ` ${goQuote(obj.metadata.name)}` : '';
  const ns = typeof obj.metadata?.namespace === 'string' && kindInfo(obj.kind)?.namespaced !== false
    ? ` (namespace ${goQuote(obj.metadata.namespace)})`
    : '';
  return `${String(obj.kind)}${name}${ns}`;
}

function docLabel(source: string, doc: number, item: number | undefined): string {
  return `${source}: document ${doc}${item === undefined ? '' : `, items[${item}]`}`;
}

function withKindName(where: string, obj: Record<string, unknown>): string {
  const kind = obj['kind'];
  if (typeof kind !== 'string' || !kindInfo(kind)) return where;
  const meta = obj['metadata'];
  const name = isObj(meta) && typeof meta['name'] === 'string' && meta['name'] !== '' ? ` ${goQuote(meta['name'])}` : '';
  return `${where} (${kind}${name})`;
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/**
 * Parse multi-document YAML into objects. Empty documents are skipped; `kind: List` is expanded
 * into its items. Every object is checked (see validateObject); the first bad one throws a
 * ManifestError. YAML is read as Kubernetes reads it (YAML 1.1 scalars: `yes`/`on` are booleans,
 * `0777` is octal), so a manifest that loads here loads in a cluster too.
 */
export function parseManifests(text: string, source: string): KubeObject[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter,
    prettyErrors: false,
    version: '1.1',
    // Kubernetes' YAML decoder keeps timestamps as strings.
    customTags: (tags) =>
      tags.filter((t) => (typeof t === 'string' ? t !== 'timestamp' : t.tag !== 'tag:yaml.org,2002:timestamp')),
  });
  const out: KubeObject[] = [];
  docs.forEach((doc, i) => {
    const n = i + 1;
    const where = docLabel(source, n, undefined);
    const err = doc.errors[0];
    if (err) {
      const { line, col } = lineCounter.linePos(err.pos[0]);
      throw new ManifestError(`${where}: line ${line}, column ${col}: ${err.message}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new ManifestError(`${where}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (value === null || value === undefined) return;
    if (isObj(value) && value['kind'] === 'List' && (value['apiVersion'] === 'v1' || value['apiVersion'] === undefined)) {
      const items = value['items'] ?? [];
      if (!Array.isArray(items)) {
        throw new ManifestError(`${where}: items: Invalid value: ${goValue(items)}: must be an array`);
      }
      items.forEach((item: unknown, j) => {
        out.push(accept(item, docLabel(source, n, j)));
      });
      return;
    }
    out.push(accept(value, where));
  });
  return out;
}

function accept(value: unknown, where: string): KubeObject {
  validateObject(value, where);
  const obj = value as KubeObject;
  origins.set(obj, withKindName(where, obj));
  return obj;
}

/**
 * Check one object as the apiserver would on create: apiVersion and kind are a supported pair,
 * metadata is valid, and the kind's own rules hold. Throws ManifestError prefixed with `where`
 * (default: describeObject). Returns the kind's KindInfo.
 */
export function validateObject(value: unknown, where?: string): KindInfo {
  if (!isObj(value)) {
    throw new ManifestError(
      `${where ?? 'object'}: expected a Kubernetes object (a mapping with apiVersion and kind), got ${goTypeName(value)}`,
    );
  }
  const prefix = where === undefined ? describeObject(value as KubeObject) : withKindName(where, value);
  const fail = (errs: string[]): never => {
    throw new ManifestError(`${prefix}: ${errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`}`, errs);
  };
  const kind = value['kind'];
  const apiVersion = value['apiVersion'];
  if (kind === undefined || kind === '') fail(['kind: Required value']);
  if (typeof kind !== 'string') return fail([`kind: Invalid value: ${goValue(kind)}: must be a string`]);
  const info = kindInfo(kind);
  if (!info) {
    throw new ManifestError(
      `${prefix}: kind ${goQuote(kind)} is not supported (supported: ${supportedKinds.map((k) => k.kind).join(', ')})`,
    );
  }
  if (apiVersion === undefined || apiVersion === '') fail(['apiVersion: Required value']);
  if (apiVersion !== info.apiVersion) {
    throw new ManifestError(
      `${prefix}: no matches for kind ${goQuote(kind)} in version ${goQuote(String(apiVersion))} (${kind} is ${info.apiVersion})`,
    );
  }
  const errs = validateFields(value, info);
  if (errs.length) fail(errs);
  return info;
}
