// Kubernetes RBAC, evaluated the way kube-apiserver's authorizer chain does it: the
// system:masters short-circuit first, then the RBAC authorizer (bindings → roles → rules, each
// rule matched on verb, API group, resource/subresource, name or non-resource URL). Denials render
// as kube-apiserver's 403 Status, in its words.

import { ApiError } from './errors.ts';
import type { PolicyRule, Role, RoleBinding, Subject, UserInfo } from './types.ts';

export interface RbacSource {
  /** Namespaced Roles, every namespace. */
  roles(): Role[];
  clusterRoles(): Role[];
  /** RoleBindings, every namespace. */
  roleBindings(): RoleBinding[];
  clusterRoleBindings(): RoleBinding[];
}

export interface ResourceAttributes {
  verb: string;
  /** API group, `''` for the core group. */
  group: string;
  /** Plural resource, e.g. `pods`. */
  resource: string;
  subresource?: string;
  /** The object's name; absent for list, watch and create requests. */
  name?: string;
  /** `undefined` or `''` = cluster scope. */
  namespace?: string;
}

export interface NonResourceAttributes {
  verb: string;
  /** The request path, e.g. `/version`. */
  path: string;
}

export type Attributes = ResourceAttributes | NonResourceAttributes;

export interface Decision {
  allowed: boolean;
  /**
   * As the authorizer reports it. Allowed: `RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to User "u"`
   * (empty for system:masters). Denied: empty, or `RBAC: <errors resolving roles>` — the text kube
   * appends to the 403 message, so pass it on to {@link forbidden}.
   */
  reason: string;
}

/** kube's `user.SystemPrivilegedGroup`: allowed everything, before any authorizer runs. */
export const SYSTEM_MASTERS = 'system:masters';
export const SYSTEM_AUTHENTICATED = 'system:authenticated';
export const SYSTEM_UNAUTHENTICATED = 'system:unauthenticated';
const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';

export function isResourceAttributes(attrs: Attributes): attrs is ResourceAttributes {
  return !('path' in attrs);
}

/** Where a rule came from, for the "allowed by" reason. */
type RuleSource = () => string;
/** Return false to stop visiting. */
type RuleVisitor = (source: RuleSource | undefined, rule: PolicyRule | undefined, err: string | undefined) => boolean;

export class RbacAuthorizer {
  readonly #source: RbacSource;

  constructor(source: RbacSource) {
    this.#source = source;
  }

  authorize(user: UserInfo, attrs: Attributes): Decision {
    if (user.groups.includes(SYSTEM_MASTERS)) return { allowed: true, reason: '' };

    let allowedBy: string | undefined;
    const errors: string[] = [];
    this.#visitRulesFor(user, namespaceOf(attrs), (source, rule, err) => {
      if (rule && source && ruleAllows(attrs, rule)) {
        allowedBy = `RBAC: allowed by ${source()}`;
        return false;
      }
      if (err !== undefined) errors.push(err);
      return true;
    });
    if (allowedBy !== undefined) return { allowed: true, reason: allowedBy };
    return { allowed: false, reason: errors.length > 0 ? `RBAC: ${aggregate(errors)}` : '' };
  }

  /**
   * Every rule that applies to `user` in `namespace` (cluster-wide rules included), plus the errors
   * met resolving role references — what a SelfSubjectRulesReview reports. system:masters gets no
   * special treatment here, as in kube (its power comes from the cluster-admin binding).
   */
  rulesFor(user: UserInfo, namespace?: string): { rules: PolicyRule[]; errors: string[] } {
    const rules: PolicyRule[] = [];
    const errors: string[] = [];
    this.#visitRulesFor(user, namespace ?? '', (_source, rule, err) => {
      if (rule) rules.push(rule);
      if (err !== undefined) errors.push(err);
      return true;
    });
    return { rules, errors };
  }

  /** ClusterRoleBindings first, then (for a namespaced request) that namespace's RoleBindings. */
  #visitRulesFor(user: UserInfo, namespace: string, visit: RuleVisitor): void {
    for (const binding of this.#source.clusterRoleBindings()) {
      const subject = appliesTo(user, binding.subjects, '');
      if (!subject) continue;
      const resolved = this.#roleReferenceRules(binding, '');
      if (typeof resolved === 'string') {
        if (!visit(undefined, undefined, resolved)) return;
        continue;
      }
      const source = () =>
        `ClusterRoleBinding ${goQuote(binding.metadata.name)} of ${binding.roleRef.kind} ${goQuote(binding.roleRef.name)} to ${describeSubject(subject, '')}`;
      for (const rule of resolved) if (!visit(source, rule, undefined)) return;
    }

    if (!namespace) return;
    for (const binding of this.#source.roleBindings()) {
      if (binding.metadata.namespace !== namespace) continue;
      const subject = appliesTo(user, binding.subjects, namespace);
      if (!subject) continue;
      const resolved = this.#roleReferenceRules(binding, namespace);
      if (typeof resolved === 'string') {
        if (!visit(undefined, undefined, resolved)) return;
        continue;
      }
      const source = () =>
        `RoleBinding ${goQuote(`${binding.metadata.name}/${namespace}`)} of ${binding.roleRef.kind} ${goQuote(binding.roleRef.name)} to ${describeSubject(subject, namespace)}`;
      for (const rule of resolved) if (!visit(source, rule, undefined)) return;
    }
  }

  /** The referenced role's rules, or the error kube's listers would report. */
  #roleReferenceRules(binding: RoleBinding, bindingNamespace: string): PolicyRule[] | string {
    const { kind, name } = binding.roleRef;
    switch (kind) {
      case 'Role': {
        const role = this.#source.roles().find((r) => r.metadata.name === name && (r.metadata.namespace ?? '') === bindingNamespace);
        return role ? (role.rules ?? []) : `role.rbac.authorization.k8s.io ${goQuote(name)} not found`;
      }
      case 'ClusterRole': {
        const role = this.#source.clusterRoles().find((r) => r.metadata.name === name);
        return role ? (role.rules ?? []) : `clusterrole.rbac.authorization.k8s.io ${goQuote(name)} not found`;
      }
      default:
        return `unsupported role reference kind: ${goQuote(String(kind))}`;
    }
  }
}

function namespaceOf(attrs: Attributes): string {
  return isResourceAttributes(attrs) ? (attrs.namespace ?? '') : '';
}

function appliesTo(user: UserInfo, subjects: Subject[] | undefined, namespace: string): Subject | undefined {
  return subjects?.find((subject) => appliesToUser(user, subject, namespace));
}

function appliesToUser(user: UserInfo, subject: Subject, namespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.name === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      // A RoleBinding's ServiceAccount subject defaults to the binding's namespace; a
      // ClusterRoleBinding's must name one.
      const saNamespace = subject.namespace || namespace;
      if (!saNamespace) return false;
      return user.name === `${SERVICE_ACCOUNT_USER_PREFIX}${saNamespace}:${subject.name}`;
    }
    default:
      return false;
  }
}

function describeSubject(subject: Subject, bindingNamespace: string): string {
  if (subject.kind === 'ServiceAccount') {
    return `${subject.kind} ${goQuote(`${subject.name}/${subject.namespace || bindingNamespace}`)}`;
  }
  return `${subject.kind} ${goQuote(subject.name)}`;
}

/** Whether one rule grants the request. */
export function ruleAllows(attrs: Attributes, rule: PolicyRule): boolean {
  if (!verbMatches(rule, attrs.verb)) return false;
  if (!isResourceAttributes(attrs)) return nonResourceURLMatches(rule, attrs.path);
  const subresource = attrs.subresource ?? '';
  const combined = subresource ? `${attrs.resource}/${subresource}` : attrs.resource;
  return (
    apiGroupMatches(rule, attrs.group) && resourceMatches(rule, combined, subresource) && resourceNameMatches(rule, attrs.name ?? '')
  );
}

function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb);
}

function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === '*' || g === group);
}

/**
 * `*`, an exact `resource` or `resource/subresource`, or `*\/subresource`. Kubernetes has no
 * `resource/*` form: `pods/*` matches only a subresource literally named `*`.
 */
function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  return (rule.resources ?? []).some(
    (r) => r === '*' || r === combined || (subresource !== '' && r === `*/${subresource}`),
  );
}

/** A rule with resourceNames grants only requests naming one of them (so never list or create). */
function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(name);
}

/** Exact, `*`, or a prefix ending in `*` (`/apis/*` matches `/apis/apps/v1`, and `/apis/`). */
function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some(
    (url) => url === '*' || url === path || (url.endsWith('*') && path.startsWith(url.replace(/\*+$/, ''))),
  );
}

/** utilerrors.NewAggregate(errs).Error(): one message as is, several deduplicated in brackets. */
function aggregate(messages: string[]): string {
  if (messages.length === 1) return messages[0]!;
  const unique = [...new Set(messages)];
  return unique.length === 1 ? unique[0]! : `[${unique.join(', ')}]`;
}

// --- 403 -----------------------------------------------------------------------------------------

/**
 * The message kube-apiserver puts in a 403 Status, e.g.
 * `pods "demo" is forbidden: User "viewer" cannot get resource "pods/exec" in API group "" in the namespace "default"`,
 * `pods is forbidden: User "x" cannot list resource "pods" in API group "" at the cluster scope`,
 * `forbidden: User "x" cannot get path "/foo"`; then `: <reason>` when the authorizer gave one.
 */
export function forbiddenMessage(user: UserInfo, attrs: Attributes, reason?: string): string {
  // responsewriters.ForbiddenStatusError: the authorizer-facing part is HTML-escaped, the reason is not.
  const msg = sanitize(describeDenial(user.name, attrs));
  const err = reason ? `${msg}: ${reason}` : msg;
  if (!isResourceAttributes(attrs)) return `forbidden: ${err}`;
  const qualified = attrs.group ? `${attrs.resource}.${attrs.group}` : attrs.resource;
  if (!qualified) return `forbidden: ${err}`;
  return attrs.name ? `${qualified} ${goQuote(attrs.name)} is forbidden: ${err}` : `${qualified} is forbidden: ${err}`;
}

/** The 403 kube-apiserver answers with: reason Forbidden, details `{name?, group?, kind: resource}` (`{}` for paths). */
export function forbidden(user: UserInfo, attrs: Attributes, reason?: string): ApiError {
  const details = isResourceAttributes(attrs)
    ? {
        ...(attrs.name ? { name: attrs.name } : {}),
        ...(attrs.group ? { group: attrs.group } : {}),
        ...(attrs.resource ? { kind: attrs.resource } : {}),
      }
    : {};
  return new ApiError(403, 'Forbidden', forbiddenMessage(user, attrs, reason), details);
}

function describeDenial(username: string, attrs: Attributes): string {
  if (!isResourceAttributes(attrs)) {
    return `User ${goQuote(username)} cannot ${attrs.verb} path ${goQuote(attrs.path)}`;
  }
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const scope = attrs.namespace ? `in the namespace ${goQuote(attrs.namespace)}` : 'at the cluster scope';
  return `User ${goQuote(username)} cannot ${attrs.verb} resource ${goQuote(resource)} in API group ${goQuote(attrs.group)} ${scope}`;
}

function sanitize(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

const GO_ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

/** Go's `%q` (strconv.Quote): printable runes kept, the rest escaped with lower-case hex. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const named = GO_ESCAPES[ch];
    if (named) out += named;
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) out += ch;
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd'; // a lone surrogate is invalid UTF-8 in Go
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

// --- bootstrap policy ----------------------------------------------------------------------------

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const READ_WRITE = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const BOOTSTRAP_LABELS = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
const AUTOUPDATE = { 'rbac.authorization.kubernetes.io/autoupdate': 'true' };
const AGGREGATE_TO_ADMIN = 'rbac.authorization.k8s.io/aggregate-to-admin';
const AGGREGATE_TO_EDIT = 'rbac.authorization.k8s.io/aggregate-to-edit';
const AGGREGATE_TO_VIEW = 'rbac.authorization.k8s.io/aggregate-to-view';

function rule(verbs: string[], apiGroups: string[], resources: string[]): PolicyRule {
  return { verbs, apiGroups, resources };
}

function urlRule(verbs: string[], nonResourceURLs: string[]): PolicyRule {
  return { verbs, nonResourceURLs };
}

function clusterRole(name: string, rules: PolicyRule[], extra: { labels?: Record<string, string>; aggregateFrom?: string } = {}): Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, labels: { ...BOOTSTRAP_LABELS, ...extra.labels }, annotations: { ...AUTOUPDATE } },
    ...(extra.aggregateFrom ? { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [extra.aggregateFrom]: 'true' } }] } } : {}),
    rules,
  };
}

function clusterRoleBinding(name: string, groups: string[]): RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: { ...BOOTSTRAP_LABELS }, annotations: { ...AUTOUPDATE } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: groups.map((group) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: group })),
  };
}

/**
 * The part of kube-apiserver's bootstrap RBAC policy a user meets (as a new cluster
 * creates it): cluster-admin, admin, edit, view, the system:aggregate-to-* roles
 * they aggregate, system:discovery, system:public-info-viewer and system:basic-user, with their
 * bindings. admin/edit/view carry their aggregationRule and, already filled in, the rules the
 * aggregation controller would compute (selected roles in name order, duplicates dropped).
 */
export function bootstrapPolicy(): { clusterRoles: Role[]; clusterRoleBindings: RoleBinding[] } {
  const aggregateToView = [
    rule(READ, [''], ['configmaps', 'endpoints', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'pods',
      'replicationcontrollers', 'replicationcontrollers/scale', 'serviceaccounts', 'services', 'services/status']),
    rule(READ, [''], ['bindings', 'events', 'limitranges', 'namespaces/status', 'pods/log', 'pods/status',
      'replicationcontrollers/status', 'resourcequotas', 'resourcequotas/status']),
    rule(READ, [''], ['namespaces']),
    rule(READ, ['discovery.k8s.io'], ['endpointslices']),
    rule(READ, ['apps'], ['controllerrevisions', 'daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale',
      'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status', 'statefulsets', 'statefulsets/scale',
      'statefulsets/status']),
    rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
    rule(READ, ['batch'], ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status']),
    rule(READ, ['extensions'], ['daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale', 'deployments/status',
      'ingresses', 'ingresses/status', 'networkpolicies', 'replicasets', 'replicasets/scale', 'replicasets/status',
      'replicationcontrollers/scale']),
    rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
    rule(READ, ['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies']),
  ];
  const aggregateToEdit = [
    rule(READ, [''], ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy']),
    rule(['impersonate'], [''], ['serviceaccounts']),
    rule(WRITE, [''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy']),
    rule(['create'], [''], ['pods/eviction']),
    rule(WRITE, [''], ['configmaps', 'events', 'persistentvolumeclaims', 'replicationcontrollers', 'replicationcontrollers/scale',
      'secrets', 'serviceaccounts', 'services', 'services/proxy']),
    rule(['create'], [''], ['serviceaccounts/token']),
    rule(WRITE, ['apps'], ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'replicasets',
      'replicasets/scale', 'statefulsets', 'statefulsets/scale']),
    rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
    rule(WRITE, ['batch'], ['cronjobs', 'jobs']),
    rule(WRITE, ['extensions'], ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'ingresses',
      'networkpolicies', 'replicasets', 'replicasets/scale', 'replicationcontrollers/scale']),
    rule(WRITE, ['policy'], ['poddisruptionbudgets']),
    rule(WRITE, ['networking.k8s.io'], ['ingresses', 'networkpolicies']),
    rule(READ_WRITE, ['coordination.k8s.io'], ['leases']),
  ];
  const aggregateToAdmin = [
    rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']),
    rule(READ_WRITE, ['rbac.authorization.k8s.io'], ['rolebindings', 'roles']),
  ];
  // Aggregation: edit selects system:aggregate-to-edit and view; admin selects edit and
  // system:aggregate-to-admin (sorted by name). No rule repeats across these sets.
  const view = aggregateToView;
  const edit = [...aggregateToEdit, ...view];
  const admin = [...edit, ...aggregateToAdmin];

  const clusterRoles = [
    clusterRole('admin', admin, { aggregateFrom: AGGREGATE_TO_ADMIN }),
    clusterRole('cluster-admin', [rule(['*'], ['*'], ['*']), urlRule(['*'], ['*'])]),
    clusterRole('edit', edit, { aggregateFrom: AGGREGATE_TO_EDIT, labels: { [AGGREGATE_TO_ADMIN]: 'true' } }),
    clusterRole('system:aggregate-to-admin', aggregateToAdmin, { labels: { [AGGREGATE_TO_ADMIN]: 'true' } }),
    clusterRole('system:aggregate-to-edit', aggregateToEdit, { labels: { [AGGREGATE_TO_EDIT]: 'true' } }),
    clusterRole('system:aggregate-to-view', aggregateToView, { labels: { [AGGREGATE_TO_VIEW]: 'true' } }),
    clusterRole('system:basic-user', [
      rule(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']),
      rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews']),
    ]),
    clusterRole('system:discovery', [
      urlRule(['get'], ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/']),
    ]),
    clusterRole('system:public-info-viewer', [urlRule(['get'], ['/healthz', '/livez', '/readyz', '/version', '/version/'])]),
    clusterRole('view', view, { aggregateFrom: AGGREGATE_TO_VIEW, labels: { [AGGREGATE_TO_EDIT]: 'true' } }),
  ];
  const clusterRoleBindings = [
    clusterRoleBinding('cluster-admin', [SYSTEM_MASTERS]),
    clusterRoleBinding('system:basic-user', [SYSTEM_AUTHENTICATED]),
    clusterRoleBinding('system:discovery', [SYSTEM_AUTHENTICATED]),
    clusterRoleBinding('system:public-info-viewer', [SYSTEM_AUTHENTICATED, SYSTEM_UNAUTHENTICATED]),
  ];
  return { clusterRoles, clusterRoleBindings };
}
