// Per-kind validation of one object as the apiserver validates it on create: metadata, pod specs
// and templates, workloads, RBAC objects and SandboxUsers, with the apiserver's field paths and
// wording. Cross-object checks (namespaces, duplicates) happen in world.ts.

import { FieldErrors, isObj, type Obj } from './fielderrors.ts';
import { goQuote, goValue } from './goformat.ts';
import type { KindInfo } from './kinds.ts';
import { fromLabelSelector } from './labels.ts';
import { isDNS1123Label, isDNS1123Subdomain, isLabelKey, isLabelValue, isPathSegmentName } from './names.ts';
import type { LabelSelector } from './types.ts';

const WORKLOAD_KINDS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']);
const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** The field problems of `obj`, an object of the supported kind `info` (empty when it is valid). */
export function validateFields(obj: Obj, info: KindInfo): string[] {
  const v = new FieldErrors();
  const kind = info.kind;
  validateMeta(v, obj['metadata'], info);
  if (WORKLOAD_KINDS.has(kind)) validateWorkload(v, obj, kind);
  else if (kind === 'Pod') validatePodSpec(v, obj['spec'], 'spec', {});
  else if (kind === 'Role' || kind === 'ClusterRole') validateRules(v, obj['rules'], kind === 'Role');
  else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') validateBinding(v, obj, kind === 'RoleBinding');
  else if (kind === 'SandboxUser') validateSandboxUser(v, obj['spec']);
  return v.list;
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
function validateLabels(v: FieldErrors, path: string, value: unknown): Record<string, string> {
  const labels = v.stringMap(path, value);
  for (const [k, x] of Object.entries(labels)) {
    for (const msg of isLabelKey(k)) v.invalid(path, k, msg);
    for (const msg of isLabelValue(x)) v.invalid(path, x, msg);
  }
  return labels;
}

function validateAnnotations(v: FieldErrors, path: string, value: unknown): void {
  const annotations = v.stringMap(path, value);
  let size = 0;
  for (const [k, x] of Object.entries(annotations)) {
    for (const msg of isLabelKey(k.toLowerCase())) v.invalid(path, k, msg);
    size += Buffer.byteLength(k) + Buffer.byteLength(x);
  }
  if (size > 256 * 1024) v.tooLong(path, 256 * 1024);
}

function validateMeta(v: FieldErrors, meta: unknown, info: KindInfo): void {
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

function validatePodSpec(v: FieldErrors, spec: unknown, path: string, rules: PodSpecRules): void {
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

export function validateContainer(v: FieldErrors, c: unknown, path: string, names: Set<string>): void {
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
function validateLabelSelector(v: FieldErrors, sel: unknown, path: string): LabelSelector | undefined {
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

function validateWorkload(v: FieldErrors, obj: Obj, kind: string): void {
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

function validateRules(v: FieldErrors, rules: unknown, namespaced: boolean): void {
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

function validateBinding(v: FieldErrors, obj: Obj, namespaced: boolean): void {
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

function validateSandboxUser(v: FieldErrors, spec: unknown): void {
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
