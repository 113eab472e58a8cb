// Reading manifests: multi-document YAML → Kubernetes objects, checked one by one with the
// apiserver's wording (field paths, `Required value`, `Invalid value: "x": …`). Cross-object
// checks (namespaces, duplicates) and the apiserver's defaulting happen in world.ts.

import { LineCounter, parseAllDocuments } from 'yaml';
import { SandboxError } from './errors.ts';
import type { LabelSelector } from './types.ts';
import type { KubeObject } from './types.ts';
import { goQuote, goValue } from './goformat.ts';
import { fromLabelSelector } from './labels.ts';
import { isDNS1123Label, isDNS1123Subdomain, isLabelKey, isLabelValue, isPathSegmentName } from './names.ts';

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

export interface KindInfo {
  kind: string;
  apiVersion: string;
  /** API group ('' for the core group). */
  group: string;
  /** Plural resource name, as in URLs and RBAC rules. */
  resource: string;
  namespaced: boolean;
}

/** The kinds the sandbox serves, in the order error messages list them. */
export const supportedKinds: readonly KindInfo[] = [
  { kind: 'Namespace', apiVersion: 'v1', group: '', resource: 'namespaces', namespaced: false },
  { kind: 'Pod', apiVersion: 'v1', group: '', resource: 'pods', namespaced: true },
  { kind: 'Deployment', apiVersion: 'apps/v1', group: 'apps', resource: 'deployments', namespaced: true },
  { kind: 'ReplicaSet', apiVersion: 'apps/v1', group: 'apps', resource: 'replicasets', namespaced: true },
  { kind: 'StatefulSet', apiVersion: 'apps/v1', group: 'apps', resource: 'statefulsets', namespaced: true },
  { kind: 'DaemonSet', apiVersion: 'apps/v1', group: 'apps', resource: 'daemonsets', namespaced: true },
  { kind: 'Job', apiVersion: 'batch/v1', group: 'batch', resource: 'jobs', namespaced: true },
  { kind: 'Role', apiVersion: 'rbac.authorization.k8s.io/v1', group: 'rbac.authorization.k8s.io', resource: 'roles', namespaced: true },
  { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespaced: false },
  { kind: 'RoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespaced: true },
  { kind: 'ClusterRoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', namespaced: false },
  { kind: 'SandboxUser', apiVersion: 'sandbox.podshell.dev/v1', group: 'sandbox.podshell.dev', resource: 'sandboxusers', namespaced: false },
];

export function kindInfo(kind: string): KindInfo | undefined {
  return supportedKinds.find((k) => k.kind === kind);
}

const WORKLOAD_KINDS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']);
const RBAC_GROUP = 'rbac.authorization.k8s.io';

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
  const v = new Errs();
  validateMeta(v, value['metadata'], info);
  if (WORKLOAD_KINDS.has(kind)) validateWorkload(v, value, kind);
  else if (kind === 'Pod') validatePodSpec(v, value['spec'], 'spec', {});
  else if (kind === 'Role' || kind === 'ClusterRole') validateRules(v, value['rules'], kind === 'Role');
  else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') validateBinding(v, value, kind === 'RoleBinding');
  else if (kind === 'SandboxUser') validateSandboxUser(v, value['spec']);
  if (v.list.length) fail(v.list);
  return info;
}

// ---------------------------------------------------------------------------------------------
// Field errors, worded like k8s.io/apimachinery/pkg/util/validation/field.

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function goTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

class Errs {
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

// ---------------------------------------------------------------------------------------------
// Metadata.

type NameRule = (name: string) => string[];

function nameRule(kind: string): NameRule {
  switch (kind) {
    case 'Namespace':
    case 'StatefulSet': // its pods' hostnames are the name plus an ordinal
      return isDNS1123Label;
    case 'Role':
    case 'ClusterRole':
    case 'RoleBinding':
    case 'ClusterRoleBinding':
    case 'SandboxUser':
      return isPathSegmentName;
    default:
      return isDNS1123Subdomain;
  }
}

/** ValidateObjectMeta's checks on labels (keys and values). */
function validateLabels(v: Errs, path: string, value: unknown): Record<string, string> {
  const labels = v.stringMap(path, value);
  for (const [k, x] of Object.entries(labels)) {
    for (const msg of isLabelKey(k)) v.invalid(path, k, msg);
    for (const msg of isLabelValue(x)) v.invalid(path, x, msg);
  }
  return labels;
}

function validateAnnotations(v: Errs, path: string, value: unknown): void {
  const annotations = v.stringMap(path, value);
  let size = 0;
  for (const [k, x] of Object.entries(annotations)) {
    for (const msg of isLabelKey(k.toLowerCase())) v.invalid(path, k, msg);
    size += Buffer.byteLength(k) + Buffer.byteLength(x);
  }
  if (size > 256 * 1024) v.tooLong(path, 256 * 1024);
}

function validateMeta(v: Errs, meta: unknown, info: KindInfo): void {
  if (meta !== undefined && meta !== null && !isObj(meta)) {
    v.invalid('metadata', meta, 'must be an object');
    return;
  }
  const m = meta ?? {};
  const rule = nameRule(info.kind);
  const name = v.string('metadata.name', m['name']);
  const generateName = v.string('metadata.generateName', m['generateName']);
  if (generateName) {
    // A prefix may end in '-': check it as if the dash were a letter.
    const masked = generateName.endsWith('-') ? `${generateName.slice(0, -1)}a` : generateName;
    for (const msg of rule(masked)) v.invalid('metadata.generateName', generateName, msg);
  }
  if (!name) {
    if (!generateName && (m['name'] === undefined || m['name'] === null || m['name'] === '')) {
      v.required('metadata.name', 'name or generateName is required');
    }
  } else {
    for (const msg of rule(name)) v.invalid('metadata.name', name, msg);
  }
  if (info.namespaced) {
    const ns = v.string('metadata.namespace', m['namespace']);
    if (ns) for (const msg of isDNS1123Label(ns)) v.invalid('metadata.namespace', ns, msg);
  }
  validateLabels(v, 'metadata.labels', m['labels']);
  validateAnnotations(v, 'metadata.annotations', m['annotations']);
}

// ---------------------------------------------------------------------------------------------
// Pods and pod templates.

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];

interface PodSpecRules {
  /** Restart policies allowed (default: all three). */
  restartPolicies?: string[];
  /** Whether the restart policy must be given (Jobs: the default, Always, is not allowed). */
  restartPolicyRequired?: boolean;
}

function validatePodSpec(v: Errs, spec: unknown, path: string, rules: PodSpecRules): void {
  if (spec !== undefined && spec !== null && !isObj(spec)) {
    v.invalid(path, spec, 'must be an object');
    return;
  }
  const s = spec ?? {};
  const names = new Set<string>();
  if (s['initContainers'] !== undefined && s['initContainers'] !== null) {
    v.array(`${path}.initContainers`, s['initContainers']).forEach((c, i) =>
      validateContainer(v, c, `${path}.initContainers[${i}]`, names),
    );
  }
  const containers = s['containers'];
  if (containers === undefined || containers === null || (Array.isArray(containers) && containers.length === 0)) {
    v.required(`${path}.containers`);
  } else {
    v.array(`${path}.containers`, containers).forEach((c, i) => validateContainer(v, c, `${path}.containers[${i}]`, names));
  }
  const restartPolicy = v.string(`${path}.restartPolicy`, s['restartPolicy']);
  const allowed = rules.restartPolicies ?? RESTART_POLICIES;
  if (restartPolicy === undefined || restartPolicy === '') {
    if (rules.restartPolicyRequired) v.required(`${path}.restartPolicy`, `valid values: ${allowed.map(goQuote).join(', ')}`);
  } else if (!allowed.includes(restartPolicy)) {
    v.notSupported(`${path}.restartPolicy`, restartPolicy, allowed);
  }
  v.string(`${path}.nodeName`, s['nodeName']);
  v.string(`${path}.serviceAccountName`, s['serviceAccountName']);
  v.string(`${path}.hostname`, s['hostname']);
  v.boolean(`${path}.hostNetwork`, s['hostNetwork']);
}

function validateContainer(v: Errs, c: unknown, path: string, names: Set<string>): void {
  if (!isObj(c)) {
    v.invalid(path, c, 'must be an object');
    return;
  }
  const name = v.string(`${path}.name`, c['name']);
  if (c['name'] === undefined || c['name'] === null || c['name'] === '') {
    v.required(`${path}.name`);
  } else if (name !== undefined) {
    const msgs = isDNS1123Label(name);
    for (const msg of msgs) v.invalid(`${path}.name`, name, msg);
    if (msgs.length === 0) {
      if (names.has(name)) v.duplicate(`${path}.name`, name);
      names.add(name);
    }
  }
  const image = v.string(`${path}.image`, c['image']);
  if (c['image'] === undefined || c['image'] === null || c['image'] === '') v.required(`${path}.image`);
  else if (image !== undefined && image !== image.trim()) {
    v.invalid(`${path}.image`, image, 'must not have leading or trailing whitespace');
  }
  v.stringArray(`${path}.command`, c['command']);
  v.stringArray(`${path}.args`, c['args']);
  v.string(`${path}.workingDir`, c['workingDir']);
  const pull = v.string(`${path}.imagePullPolicy`, c['imagePullPolicy']);
  if (pull !== undefined && !PULL_POLICIES.includes(pull)) v.notSupported(`${path}.imagePullPolicy`, pull, PULL_POLICIES);
  for (const key of ['stdin', 'stdinOnce', 'tty']) v.boolean(`${path}.${key}`, c[key]);
  v.array(`${path}.env`, c['env']).forEach((e, i) => {
    const p = `${path}.env[${i}]`;
    if (!isObj(e)) {
      v.invalid(p, e, 'must be an object');
      return;
    }
    if (e['name'] === undefined || e['name'] === null || e['name'] === '') v.required(`${p}.name`);
    else v.string(`${p}.name`, e['name']);
    v.string(`${p}.value`, e['value']);
  });
}

// ---------------------------------------------------------------------------------------------
// Workloads.

/** metav1.LabelSelector as the apiserver prints it in errors (its protobuf String()). */
function printLabelSelector(sel: Obj): string {
  const ml = isObj(sel['matchLabels']) ? (sel['matchLabels'] as Record<string, unknown>) : {};
  const labels = Object.keys(ml)
    .sort()
    .map((k) => `${k}: ${String(ml[k])},`)
    .join('');
  const exprs = (Array.isArray(sel['matchExpressions']) ? sel['matchExpressions'] : [])
    .map((e: unknown) => {
      const x = isObj(e) ? e : {};
      const values = Array.isArray(x['values']) ? x['values'].map(String).join(' ') : '';
      return `LabelSelectorRequirement{Key:${String(x['key'] ?? '')},Operator:${String(x['operator'] ?? '')},Values:[${values}],},`;
    })
    .join('');
  return `&LabelSelector{MatchLabels:map[string]string{${labels}},MatchExpressions:[]LabelSelectorRequirement{${exprs}},}`;
}

/** ValidateLabelSelector. Returns the selector when it is usable for matching. */
function validateLabelSelector(v: Errs, sel: unknown, path: string): LabelSelector | undefined {
  if (!isObj(sel)) {
    v.invalid(path, sel, 'must be an object');
    return undefined;
  }
  const before = v.list.length;
  validateLabels(v, `${path}.matchLabels`, sel['matchLabels']);
  v.array(`${path}.matchExpressions`, sel['matchExpressions']).forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (!isObj(e)) {
      v.invalid(p, e, 'must be an object');
      return;
    }
    const op = v.string(`${p}.operator`, e['operator']);
    const values = v.stringArray(`${p}.values`, e['values']);
    switch (op) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) v.required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) v.forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        break;
      default:
        v.invalid(`${p}.operator`, e['operator'] ?? '', 'not a valid selector operator');
    }
    const key = v.string(`${p}.key`, e['key']) ?? '';
    for (const msg of isLabelKey(key)) v.invalid(`${p}.key`, key, msg);
    values.forEach((x, j) => {
      for (const msg of isLabelValue(x)) v.invalid(`${p}.values[${j}]`, x, msg);
    });
  });
  return v.list.length === before ? (sel as LabelSelector) : undefined;
}

function validateWorkload(v: Errs, obj: Obj, kind: string): void {
  const spec = obj['spec'];
  if (spec === undefined || spec === null) {
    v.required('spec');
    return;
  }
  if (!isObj(spec)) {
    v.invalid('spec', spec, 'must be an object');
    return;
  }
  const nonNegativeInt = (field: string): void => {
    const x = spec[field];
    if (x === undefined || x === null) return;
    if (typeof x !== 'number' || !Number.isInteger(x)) v.invalid(`spec.${field}`, x, 'must be an integer');
    else if (x < 0) v.invalid(`spec.${field}`, x, 'must be greater than or equal to 0');
  };
  if (kind === 'Job') {
    nonNegativeInt('parallelism');
    nonNegativeInt('completions');
    nonNegativeInt('backoffLimit');
  } else if (kind !== 'DaemonSet') {
    nonNegativeInt('replicas');
  }

  const template = spec['template'] ?? {};
  if (!isObj(template)) {
    v.invalid('spec.template', template, 'must be an object');
    return;
  }
  const tmeta = template['metadata'] ?? {};
  let templateLabels: Record<string, string> | undefined;
  if (!isObj(tmeta)) {
    v.invalid('spec.template.metadata', tmeta, 'must be an object');
  } else {
    if (tmeta['labels'] !== undefined && tmeta['labels'] !== null) {
      templateLabels = validateLabels(v, 'spec.template.metadata.labels', tmeta['labels']);
    }
    validateAnnotations(v, 'spec.template.metadata.annotations', tmeta['annotations']);
  }
  if (kind === 'Job') {
    validatePodSpec(v, template['spec'], 'spec.template.spec', {
      restartPolicies: ['OnFailure', 'Never'],
      restartPolicyRequired: true,
    });
  } else {
    validatePodSpec(v, template['spec'], 'spec.template.spec', { restartPolicies: ['Always'] });
  }

  const selector = spec['selector'];
  if (kind === 'Job') {
    v.boolean('spec.manualSelector', spec['manualSelector']);
    if (selector === undefined || selector === null) {
      if (spec['manualSelector'] === true) v.required('spec.selector');
      return;
    }
    if (spec['manualSelector'] !== true) {
      // The apiserver generates a Job's selector; one given without manualSelector cannot match it.
      if (isObj(selector)) v.invalidRaw('spec.selector', printLabelSelector(selector), '`selector` not auto-generated');
      else v.invalid('spec.selector', selector, 'must be an object');
      return;
    }
  } else if (selector === undefined || selector === null) {
    v.required('spec.selector');
    return;
  }
  const sel = validateLabelSelector(v, selector, 'spec.selector');
  if (!sel) return;
  const empty = Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions ?? []).length === 0;
  if (empty && kind !== 'Job') {
    const what = kind === 'StatefulSet' ? 'statefulset' : kind === 'DaemonSet' ? 'daemonset' : 'deployment';
    v.invalidRaw('spec.selector', printLabelSelector(sel as Obj), `empty selector is invalid for ${what}`);
    return;
  }
  if (!fromLabelSelector(sel).matches(templateLabels)) {
    v.invalidRaw(
      'spec.template.metadata.labels',
      templateLabels === undefined ? 'map[string]string(nil)' : goValue(templateLabels),
      '`selector` does not match template `labels`',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// RBAC.

function validateRules(v: Errs, rules: unknown, namespaced: boolean): void {
  v.array('rules', rules).forEach((r, i) => {
    const p = `rules[${i}]`;
    if (!isObj(r)) {
      v.invalid(p, r, 'must be an object');
      return;
    }
    const verbs = v.stringArray(`${p}.verbs`, r['verbs']);
    const apiGroups = v.stringArray(`${p}.apiGroups`, r['apiGroups']);
    const resources = v.stringArray(`${p}.resources`, r['resources']);
    const resourceNames = v.stringArray(`${p}.resourceNames`, r['resourceNames']);
    const urls = v.stringArray(`${p}.nonResourceURLs`, r['nonResourceURLs']);
    if (verbs.length === 0) v.required(`${p}.verbs`, 'verbs must contain at least one value');
    if (urls.length > 0) {
      if (namespaced) v.invalid(`${p}.nonResourceURLs`, urls, 'namespaced rules cannot apply to non-resource URLs');
      if (apiGroups.length > 0 || resources.length > 0 || resourceNames.length > 0) {
        v.invalid(`${p}.nonResourceURLs`, urls, 'rules cannot apply to both regular resources and non-resource URLs');
      }
      return;
    }
    if (apiGroups.length === 0) v.required(`${p}.apiGroups`, 'resource rules must supply at least one api group');
    if (resources.length === 0) v.required(`${p}.resources`, 'resource rules must supply at least one resource');
  });
}

function validateBinding(v: Errs, obj: Obj, namespaced: boolean): void {
  const ref = obj['roleRef'];
  if (ref === undefined || ref === null) {
    v.required('roleRef');
  } else if (!isObj(ref)) {
    v.invalid('roleRef', ref, 'must be an object');
  } else {
    const group = ref['apiGroup'] ?? '';
    if (group !== RBAC_GROUP) v.notSupported('roleRef.apiGroup', group, [RBAC_GROUP]);
    const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
    const kind = ref['kind'] ?? '';
    if (typeof kind !== 'string' || !kinds.includes(kind)) v.notSupported('roleRef.kind', kind, kinds);
    const name = ref['name'];
    if (name === undefined || name === null || name === '') v.required('roleRef.name');
    else if (typeof name !== 'string') v.invalid('roleRef.name', name, 'must be a string');
    else for (const msg of isPathSegmentName(name)) v.invalid('roleRef.name', name, msg);
  }
  v.array('subjects', obj['subjects']).forEach((s, i) => {
    const p = `subjects[${i}]`;
    if (!isObj(s)) {
      v.invalid(p, s, 'must be an object');
      return;
    }
    const name = v.string(`${p}.name`, s['name']);
    if (!name) v.required(`${p}.name`);
    const group = v.string(`${p}.apiGroup`, s['apiGroup']);
    const kind = s['kind'];
    switch (kind) {
      case 'ServiceAccount':
        if (group) v.notSupported(`${p}.apiGroup`, group, ['']);
        if (name) for (const msg of isDNS1123Subdomain(name)) v.invalid(`${p}.name`, name, msg);
        if (!namespaced && !s['namespace']) v.required(`${p}.namespace`);
        break;
      case 'User':
      case 'Group':
        // v1 defaulting fills in the RBAC group for users and groups.
        if (group && group !== RBAC_GROUP) v.notSupported(`${p}.apiGroup`, group, [RBAC_GROUP]);
        break;
      default:
        v.notSupported(`${p}.kind`, kind ?? '', ['ServiceAccount', 'User', 'Group']);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// SandboxUser.

function validateSandboxUser(v: Errs, spec: unknown): void {
  if (spec === undefined || spec === null) return;
  if (!isObj(spec)) {
    v.invalid('spec', spec, 'must be an object');
    return;
  }
  const seen = new Set<string>();
  const tokens = spec['tokens'];
  if (Array.isArray(tokens)) {
    tokens.forEach((t, i) => {
      if (t === '' || t === null || t === undefined) v.required(`spec.tokens[${i}]`);
      else if (typeof t !== 'string') v.invalid(`spec.tokens[${i}]`, t, 'must be a string');
      else if (seen.has(t)) v.duplicate(`spec.tokens[${i}]`, t);
      else seen.add(t);
    });
  } else {
    v.stringArray('spec.tokens', tokens);
  }
  v.stringArray('spec.groups', spec['groups']);
  v.string('spec.uid', spec['uid']);
}
