import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from './errors.ts';
import { RbacAuthorizer, bootstrapPolicy, forbidden, forbiddenMessage, goQuote } from './rbac.ts';
import type { Attributes, RbacSource } from './rbac.ts';
import type { PolicyRule, Role, RoleBinding, Subject, UserInfo } from './types.ts';

function clusterRole(name: string, rules: PolicyRule[]): Role {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules };
}

function role(namespace: string, name: string, rules: PolicyRule[]): Role {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace }, rules };
}

function binding(
  kind: 'RoleBinding' | 'ClusterRoleBinding',
  name: string,
  roleRef: { kind: string; name: string },
  subjects: Subject[],
  namespace?: string,
): RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef } as RoleBinding['roleRef'],
    subjects,
  };
}

const user = (name: string, ...groups: string[]): UserInfo => ({ name, groups });
const authed = (name: string, ...groups: string[]): UserInfo => ({ name, groups: [...groups, 'system:authenticated'] });

const bootstrap = bootstrapPolicy();
const fixture = {
  clusterRoles: [
    ...bootstrap.clusterRoles,
    clusterRole('pod-reader', [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }]),
    clusterRole('named-config', [{ verbs: ['get', 'update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['app-config'] }]),
    clusterRole('any-scale', [{ verbs: ['update'], apiGroups: ['*'], resources: ['*/scale'] }]),
    clusterRole('pods-star', [{ verbs: ['get', 'create'], apiGroups: [''], resources: ['pods/*'] }]),
    clusterRole('urls', [{ verbs: ['get'], nonResourceURLs: ['/metrics', '/logs/*'] }, { verbs: ['*'], nonResourceURLs: ['/debug*'] }]),
    clusterRole('everything-in-apps', [{ verbs: ['*'], apiGroups: ['apps'], resources: ['*'] }]),
    clusterRole('resources-only', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]),
  ],
  roles: [
    role('team', 'secret-reader', [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }]),
    role('other', 'secret-reader', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]),
  ],
  clusterRoleBindings: [
    ...bootstrap.clusterRoleBindings,
    binding('ClusterRoleBinding', 'viewers', { kind: 'ClusterRole', name: 'view' }, [{ kind: 'User', name: 'viewer' }]),
    binding('ClusterRoleBinding', 'named', { kind: 'ClusterRole', name: 'named-config' }, [{ kind: 'User', name: 'configurer' }]),
    binding('ClusterRoleBinding', 'scalers', { kind: 'ClusterRole', name: 'any-scale' }, [{ kind: 'Group', name: 'scalers' }]),
    binding('ClusterRoleBinding', 'starry', { kind: 'ClusterRole', name: 'pods-star' }, [{ kind: 'User', name: 'starry' }]),
    binding('ClusterRoleBinding', 'urls', { kind: 'ClusterRole', name: 'urls' }, [{ kind: 'User', name: 'scraper' }]),
    binding('ClusterRoleBinding', 'apps', { kind: 'ClusterRole', name: 'everything-in-apps' }, [{ kind: 'User', name: 'apper' }]),
    binding('ClusterRoleBinding', 'res', { kind: 'ClusterRole', name: 'resources-only' }, [{ kind: 'User', name: 'resourcer' }]),
    // A ClusterRoleBinding's ServiceAccount subject without a namespace never matches.
    binding('ClusterRoleBinding', 'sa-no-ns', { kind: 'ClusterRole', name: 'cluster-admin' }, [{ kind: 'ServiceAccount', name: 'builder' }]),
    binding('ClusterRoleBinding', 'sa-ci', { kind: 'ClusterRole', name: 'pod-reader' }, [
      { kind: 'User', name: 'nobody' },
      { kind: 'ServiceAccount', name: 'reader', namespace: 'ci' },
    ]),
    binding('ClusterRoleBinding', 'broken', { kind: 'ClusterRole', name: 'missing' }, [{ kind: 'User', name: 'broken' }]),
    binding('ClusterRoleBinding', 'broken-too', { kind: 'ClusterRole', name: 'missing' }, [{ kind: 'Group', name: 'breakers' }]),
    binding('ClusterRoleBinding', 'weird', { kind: 'Widget', name: 'x' }, [{ kind: 'User', name: 'weird' }]),
    binding('ClusterRoleBinding', 'cr-to-role', { kind: 'Role', name: 'secret-reader' }, [{ kind: 'User', name: 'cr-to-role' }]),
    binding('ClusterRoleBinding', 'partly-broken', { kind: 'ClusterRole', name: 'gone' }, [{ kind: 'User', name: 'viewer' }]),
  ],
  roleBindings: [
    binding('RoleBinding', 'edit-default', { kind: 'ClusterRole', name: 'edit' }, [{ kind: 'User', name: 'editor' }], 'default'),
    binding('RoleBinding', 'admin-team', { kind: 'ClusterRole', name: 'admin' }, [{ kind: 'User', name: 'team-admin' }], 'team'),
    binding('RoleBinding', 'readers', { kind: 'Role', name: 'secret-reader' }, [{ kind: 'Group', name: 'team-members' }], 'team'),
    binding('RoleBinding', 'local-sa', { kind: 'Role', name: 'secret-reader' }, [{ kind: 'ServiceAccount', name: 'builder' }], 'team'),
    binding('RoleBinding', 'foreign-sa', { kind: 'Role', name: 'secret-reader' }, [{ kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' }], 'team'),
    binding('RoleBinding', 'no-subjects', { kind: 'ClusterRole', name: 'cluster-admin' }, [], 'team'),
    binding('RoleBinding', 'dangling', { kind: 'Role', name: 'nope' }, [{ kind: 'Group', name: 'breakers' }], 'team'),
    binding('RoleBinding', 'dangling-cr', { kind: 'ClusterRole', name: 'missing' }, [{ kind: 'Group', name: 'breakers' }], 'team'),
  ],
};

const source: RbacSource = {
  roles: () => fixture.roles,
  clusterRoles: () => fixture.clusterRoles,
  roleBindings: () => fixture.roleBindings,
  clusterRoleBindings: () => fixture.clusterRoleBindings,
};
const authorizer = new RbacAuthorizer(source);

interface Case {
  name: string;
  user: UserInfo;
  attrs: Attributes;
  allowed: boolean;
  reason?: string;
}

const pods = (verb: string, namespace?: string, extra: { subresource?: string; name?: string } = {}): Attributes => ({
  verb,
  group: '',
  resource: 'pods',
  ...(namespace ? { namespace } : {}),
  ...extra,
});

describe('RbacAuthorizer.authorize', () => {
  const cases: Case[] = [
    // ClusterRoleBinding to the bootstrap view role
    {
      name: 'view: get pods',
      user: authed('viewer'),
      attrs: pods('get', 'default', { name: 'web' }),
      allowed: true,
      reason: 'RBAC: allowed by ClusterRoleBinding "viewers" of ClusterRole "view" to User "viewer"',
    },
    { name: 'view: list pods cluster-wide', user: authed('viewer'), attrs: pods('list'), allowed: true },
    { name: 'view: no get pods/exec', user: authed('viewer'), attrs: pods('get', 'default', { subresource: 'exec', name: 'web' }), allowed: false, reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found' },
    { name: 'view: no create pods/attach', user: authed('viewer', 'x'), attrs: pods('create', 'default', { subresource: 'attach', name: 'web' }), allowed: false },
    { name: 'view: no delete pods', user: authed('viewer'), attrs: pods('delete', 'default', { name: 'web' }), allowed: false },
    { name: 'view: no secrets', user: authed('viewer'), attrs: { verb: 'get', group: '', resource: 'secrets', namespace: 'default', name: 's' }, allowed: false },
    { name: 'view: deployments in apps', user: authed('viewer'), attrs: { verb: 'watch', group: 'apps', resource: 'deployments', namespace: 'default' }, allowed: true },
    { name: 'view: not deployments in another group', user: authed('viewer'), attrs: { verb: 'get', group: 'example.com', resource: 'deployments', namespace: 'default' }, allowed: false },

    // RoleBinding to a ClusterRole grants only in its namespace
    {
      name: 'edit via RoleBinding: create pods/exec',
      user: authed('editor'),
      attrs: pods('create', 'default', { subresource: 'exec', name: 'web' }),
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "edit-default/default" of ClusterRole "edit" to User "editor"',
    },
    { name: 'edit: get pods/exec (WebSocket)', user: authed('editor'), attrs: pods('get', 'default', { subresource: 'exec', name: 'web' }), allowed: true },
    { name: 'edit: create pods/portforward', user: authed('editor'), attrs: pods('create', 'default', { subresource: 'portforward', name: 'web' }), allowed: true },
    { name: 'edit: get pods/attach', user: authed('editor'), attrs: pods('get', 'default', { subresource: 'attach', name: 'web' }), allowed: true },
    { name: 'edit: not in another namespace', user: authed('editor'), attrs: pods('create', 'kube-system', { subresource: 'exec', name: 'web' }), allowed: false },
    { name: 'edit: not at cluster scope', user: authed('editor'), attrs: pods('list'), allowed: false },
    { name: 'edit: no roles', user: authed('editor'), attrs: { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: 'default' }, allowed: false },
    { name: 'admin: roles', user: authed('team-admin'), attrs: { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: 'team' }, allowed: true },
    { name: 'admin: exec', user: authed('team-admin'), attrs: pods('create', 'team', { subresource: 'exec', name: 'w' }), allowed: true },

    // Role references resolve in the binding's namespace
    {
      name: 'Role via Group subject',
      user: authed('carol', 'team-members'),
      attrs: { verb: 'get', group: '', resource: 'secrets', namespace: 'team', name: 's' },
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "readers/team" of Role "secret-reader" to Group "team-members"',
    },
    { name: 'Role: only its verbs', user: authed('carol', 'team-members'), attrs: { verb: 'list', group: '', resource: 'secrets', namespace: 'team' }, allowed: false },
    { name: 'Role: not elsewhere', user: authed('carol', 'team-members'), attrs: { verb: 'get', group: '', resource: 'secrets', namespace: 'other', name: 's' }, allowed: false },
    {
      name: 'ClusterRoleBinding to a Role finds none at cluster scope',
      user: authed('cr-to-role'),
      attrs: { verb: 'get', group: '', resource: 'secrets', namespace: 'other', name: 's' },
      allowed: false,
      reason: 'RBAC: role.rbac.authorization.k8s.io "secret-reader" not found',
    },

    // ServiceAccount subjects
    {
      name: 'SA subject defaults to the binding namespace',
      user: authed('system:serviceaccount:team:builder', 'system:serviceaccounts', 'system:serviceaccounts:team'),
      attrs: { verb: 'get', group: '', resource: 'secrets', namespace: 'team', name: 's' },
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "local-sa/team" of Role "secret-reader" to ServiceAccount "builder/team"',
    },
    { name: 'SA of the same name elsewhere', user: authed('system:serviceaccount:ci:builder'), attrs: { verb: 'get', group: '', resource: 'secrets', namespace: 'team', name: 's' }, allowed: false },
    {
      name: 'SA subject with an explicit namespace',
      user: authed('system:serviceaccount:ci:deployer'),
      attrs: { verb: 'get', group: '', resource: 'secrets', namespace: 'team', name: 's' },
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "foreign-sa/team" of Role "secret-reader" to ServiceAccount "deployer/ci"',
    },
    { name: 'SA explicit namespace is not the binding namespace', user: authed('system:serviceaccount:team:deployer'), attrs: { verb: 'get', group: '', resource: 'secrets', namespace: 'team', name: 's' }, allowed: false },
    { name: 'ClusterRoleBinding SA without namespace never matches', user: authed('system:serviceaccount:default:builder'), attrs: pods('delete', 'default', { name: 'x' }), allowed: false },
    {
      name: 'ClusterRoleBinding SA: second subject matches',
      user: authed('system:serviceaccount:ci:reader'),
      attrs: pods('list'),
      allowed: true,
      reason: 'RBAC: allowed by ClusterRoleBinding "sa-ci" of ClusterRole "pod-reader" to ServiceAccount "reader/ci"',
    },
    { name: 'SA user name must match exactly', user: authed('system:serviceaccount:ci:reader2'), attrs: pods('list'), allowed: false },

    // resourceNames
    { name: 'resourceNames: named get', user: authed('configurer'), attrs: { verb: 'get', group: '', resource: 'configmaps', namespace: 'a', name: 'app-config' }, allowed: true },
    { name: 'resourceNames: other name', user: authed('configurer'), attrs: { verb: 'get', group: '', resource: 'configmaps', namespace: 'a', name: 'other' }, allowed: false },
    { name: 'resourceNames: list carries no name', user: authed('configurer'), attrs: { verb: 'list', group: '', resource: 'configmaps', namespace: 'a' }, allowed: false },
    { name: 'resourceNames: create carries no name', user: authed('configurer'), attrs: { verb: 'update', group: '', resource: 'configmaps', namespace: 'a' }, allowed: false },

    // Resource wildcards
    { name: '*/scale: deployments/scale', user: authed('s', 'scalers'), attrs: { verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale', namespace: 'd', name: 'w' }, allowed: true },
    { name: '*/scale: not the resource itself', user: authed('s', 'scalers'), attrs: { verb: 'update', group: 'apps', resource: 'deployments', namespace: 'd', name: 'w' }, allowed: false },
    { name: '*/scale: not another subresource', user: authed('s', 'scalers'), attrs: { verb: 'update', group: 'apps', resource: 'deployments', subresource: 'status', namespace: 'd', name: 'w' }, allowed: false },
    { name: 'pods/* is not a wildcard in Kubernetes', user: authed('starry'), attrs: pods('create', 'default', { subresource: 'exec', name: 'w' }), allowed: false },
    { name: 'pods/* matches a subresource literally named *', user: authed('starry'), attrs: pods('get', 'default', { subresource: '*', name: 'w' }), allowed: true },
    { name: 'pods/* does not match pods', user: authed('starry'), attrs: pods('get', 'default', { name: 'w' }), allowed: false },
    { name: 'resources * covers subresources', user: authed('apper'), attrs: { verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale', namespace: 'd', name: 'w' }, allowed: true },
    { name: 'apiGroups restrict *', user: authed('apper'), attrs: { verb: 'get', group: '', resource: 'pods', namespace: 'd' }, allowed: false },
    { name: 'resource rules do not grant paths', user: authed('resourcer'), attrs: { verb: 'get', path: '/metrics' }, allowed: false },

    // Non-resource URLs
    { name: 'URL exact', user: authed('scraper'), attrs: { verb: 'get', path: '/metrics' }, allowed: true },
    { name: 'URL verb', user: authed('scraper'), attrs: { verb: 'post', path: '/metrics' }, allowed: false },
    { name: 'URL prefix/*', user: authed('scraper'), attrs: { verb: 'get', path: '/logs/kube-apiserver.log' }, allowed: true },
    { name: 'URL prefix/* needs the slash', user: authed('scraper'), attrs: { verb: 'get', path: '/logs' }, allowed: false },
    { name: 'URL prefix* without slash', user: authed('scraper'), attrs: { verb: 'delete', path: '/debugging/x' }, allowed: true },
    { name: 'URL rules do not grant resources', user: authed('scraper'), attrs: pods('get', 'default', { name: 'metrics' }), allowed: false },

    // Bootstrap bindings for everyone
    {
      name: 'discovery for authenticated users',
      user: authed('anyone'),
      attrs: { verb: 'get', path: '/apis/apps/v1' },
      allowed: true,
      reason: 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"',
    },
    { name: 'discovery: /api', user: authed('anyone'), attrs: { verb: 'get', path: '/api' }, allowed: true },
    { name: 'discovery: not other paths', user: authed('anyone'), attrs: { verb: 'get', path: '/foo' }, allowed: false },
    { name: 'public info for anonymous', user: user('system:anonymous', 'system:unauthenticated'), attrs: { verb: 'get', path: '/version' }, allowed: true },
    { name: 'no discovery for anonymous', user: user('system:anonymous', 'system:unauthenticated'), attrs: { verb: 'get', path: '/api' }, allowed: false },
    { name: 'basic-user: selfsubjectaccessreviews', user: authed('anyone'), attrs: { verb: 'create', group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews' }, allowed: true },
    { name: 'basic-user: selfsubjectrulesreviews', user: authed('anyone'), attrs: { verb: 'create', group: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews' }, allowed: true },
    { name: 'basic-user: selfsubjectreviews', user: authed('anyone'), attrs: { verb: 'create', group: 'authentication.k8s.io', resource: 'selfsubjectreviews' }, allowed: true },
    { name: 'nothing else for authenticated users', user: authed('anyone'), attrs: pods('list', 'default'), allowed: false, reason: '' },

    // system:masters short-circuits RBAC
    { name: 'system:masters: anything', user: user('root', 'system:masters'), attrs: pods('create', 'x', { subresource: 'exec', name: 'p' }), allowed: true, reason: '' },
    { name: 'system:masters: any path', user: user('root', 'system:masters'), attrs: { verb: 'get', path: '/anything' }, allowed: true, reason: '' },

    // Resolution errors become the denial reason
    { name: 'missing ClusterRole', user: authed('broken'), attrs: pods('get', 'default', { name: 'p' }), allowed: false, reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found' },
    { name: 'unsupported roleRef kind', user: authed('weird'), attrs: pods('list'), allowed: false, reason: 'RBAC: unsupported role reference kind: "Widget"' },
    {
      name: 'several errors aggregate, duplicates once',
      user: authed('b', 'breakers'),
      attrs: pods('get', 'team', { name: 'p' }),
      allowed: false,
      reason: 'RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "nope" not found]',
    },
    { name: 'errors do not matter once allowed', user: authed('viewer'), attrs: pods('get', 'default', { name: 'p' }), allowed: true },
    { name: 'unknown user', user: authed('stranger'), attrs: pods('get', 'default', { name: 'p' }), allowed: false, reason: '' },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const decision = authorizer.authorize(c.user, c.attrs);
      assert.equal(decision.allowed, c.allowed, decision.reason);
      if (c.reason !== undefined) assert.equal(decision.reason, c.reason);
    });
  }

  test('reads the source on every call', () => {
    const roles: Role[] = [];
    const bindings: RoleBinding[] = [];
    const live = new RbacAuthorizer({ roles: () => [], clusterRoles: () => roles, roleBindings: () => [], clusterRoleBindings: () => bindings });
    const attrs = pods('get', 'default', { name: 'p' });
    assert.equal(live.authorize(authed('late'), attrs).allowed, false);
    roles.push(clusterRole('r', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]));
    bindings.push(binding('ClusterRoleBinding', 'b', { kind: 'ClusterRole', name: 'r' }, [{ kind: 'User', name: 'late' }]));
    assert.equal(live.authorize(authed('late'), attrs).allowed, true);
  });
});

describe('RbacAuthorizer.rulesFor', () => {
  test('cluster-wide rules and the namespace rules, with resolution errors', () => {
    const { rules, errors } = authorizer.rulesFor(authed('b', 'breakers', 'team-members'), 'team');
    assert.deepEqual(errors, [
      'clusterrole.rbac.authorization.k8s.io "missing" not found',
      'role.rbac.authorization.k8s.io "nope" not found',
      'clusterrole.rbac.authorization.k8s.io "missing" not found',
    ]);
    assert.ok(rules.some((r) => r.resources?.includes('secrets')));
    assert.ok(rules.some((r) => r.nonResourceURLs?.includes('/api')));
  });

  test('no namespace: cluster-wide rules only', () => {
    const { rules } = authorizer.rulesFor(authed('carol', 'team-members'));
    assert.ok(!rules.some((r) => r.resources?.includes('secrets')));
  });
});

describe('forbiddenMessage', () => {
  const cases: { attrs: Attributes; user?: UserInfo; reason?: string; want: string }[] = [
    {
      user: authed('viewer'),
      attrs: pods('get', 'default', { subresource: 'exec', name: 'demo' }),
      want: 'pods "demo" is forbidden: User "viewer" cannot get resource "pods/exec" in API group "" in the namespace "default"',
    },
    {
      attrs: pods('list'),
      want: 'pods is forbidden: User "x" cannot list resource "pods" in API group "" at the cluster scope',
    },
    {
      attrs: { verb: 'list', group: '', resource: 'pods', namespace: '' },
      want: 'pods is forbidden: User "x" cannot list resource "pods" in API group "" at the cluster scope',
    },
    { attrs: { verb: 'get', path: '/foo' }, want: 'forbidden: User "x" cannot get path "/foo"' },
    {
      attrs: { verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale', namespace: 'prod', name: 'web' },
      want: 'deployments.apps "web" is forbidden: User "x" cannot update resource "deployments/scale" in API group "apps" in the namespace "prod"',
    },
    {
      attrs: { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', subresource: 'scopes', name: 'view' },
      want: 'userextras.authentication.k8s.io "view" is forbidden: User "x" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope',
    },
    {
      attrs: pods('get', 'default', { name: 'p' }),
      reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found',
      want: 'pods "p" is forbidden: User "x" cannot get resource "pods" in API group "" in the namespace "default": RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found',
    },
    {
      // The authorizer-facing text is HTML-escaped; the name and the reason are not.
      user: authed('a&b'),
      attrs: { verb: 'get', path: '/<script>' },
      reason: '<reason>',
      want: 'forbidden: User "a&amp;b" cannot get path "/&lt;script&gt;": <reason>',
    },
    {
      attrs: pods('get', 'default', { name: 'a<b' }),
      want: 'pods "a<b" is forbidden: User "x" cannot get resource "pods" in API group "" in the namespace "default"',
    },
    {
      attrs: { verb: 'get', path: '/a"b\n\tc\x01' },
      want: 'forbidden: User "x" cannot get path "/a\\"b\\n\\tc\\x01"',
    },
  ];
  for (const c of cases) {
    test(c.want, () => {
      assert.equal(forbiddenMessage(c.user ?? authed('x'), c.attrs, c.reason), c.want);
    });
  }
});

describe('forbidden', () => {
  test('a resource: Status JSON exactly as kube-apiserver writes it', () => {
    const err = forbidden(authed('bob'), pods('get', 'default', { subresource: 'exec', name: 'web-1' }));
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 403);
    assert.equal(
      JSON.stringify(err.body),
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"web-1\\" is forbidden: User \\"bob\\" cannot get resource \\"pods/exec\\" in API group \\"\\" in the namespace \\"default\\"","reason":"Forbidden","details":{"name":"web-1","kind":"pods"},"code":403}',
    );
  });

  test('a grouped collection: details group and kind, no name', () => {
    const err = forbidden(authed('bob'), { verb: 'list', group: 'apps', resource: 'deployments', namespace: 'ns' });
    assert.deepEqual(err.body.details, { group: 'apps', kind: 'deployments' });
    assert.deepEqual(Object.keys(err.body.details!), ['group', 'kind']);
  });

  test('a path: empty details', () => {
    const err = forbidden(user('system:anonymous', 'system:unauthenticated'), { verb: 'get', path: '/foo' });
    assert.equal(
      JSON.stringify(err.body),
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden: User \\"system:anonymous\\" cannot get path \\"/foo\\"","reason":"Forbidden","details":{},"code":403}',
    );
  });
});

describe('goQuote', () => {
  const cases: [string, string][] = [
    ['plain', '"plain"'],
    ['', '""'],
    ['quote"back\\slash', '"quote\\"back\\\\slash"'],
    ['\x07\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\x00\x1b\x7f', '"\\x00\\x1b\\x7f"'],
    ['héllo 世界 🙂', '"héllo 世界 🙂"'],
    ['\u00a0\u200b\u0085', '"\\u00a0\\u200b\\u0085"'],
    ['\u{e0001}', '"\\U000e0001"'],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => assert.equal(goQuote(input), want));
  }
});

describe('bootstrapPolicy', () => {
  const { clusterRoles, clusterRoleBindings } = bootstrapPolicy();
  const only = (name: string) => {
    const r = clusterRoles.find((c) => c.metadata.name === name);
    assert.ok(r, name);
    return new RbacAuthorizer({
      roles: () => [],
      clusterRoles: () => [r],
      roleBindings: () => [],
      clusterRoleBindings: () => [binding('ClusterRoleBinding', 'b', { kind: 'ClusterRole', name }, [{ kind: 'User', name: 'u' }])],
    });
  };
  const can = (roleName: string, attrs: Attributes) => only(roleName).authorize(user('u'), attrs).allowed;

  test('names are unique and objects are well-formed', () => {
    const names = clusterRoles.map((r) => r.metadata.name);
    assert.equal(new Set(names).size, names.length);
    for (const r of clusterRoles) {
      assert.equal(r.apiVersion, 'rbac.authorization.k8s.io/v1');
      assert.equal(r.kind, 'ClusterRole');
      assert.equal(r.metadata.labels?.['kubernetes.io/bootstrapping'], 'rbac-defaults');
    }
    for (const b of clusterRoleBindings) {
      assert.equal(b.kind, 'ClusterRoleBinding');
      assert.ok(names.includes(b.roleRef.name), b.roleRef.name);
    }
  });

  test('includes the expected roles', () => {
    for (const name of ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:public-info-viewer', 'system:basic-user']) {
      assert.ok(clusterRoles.some((r) => r.metadata.name === name), name);
    }
  });

  for (const sub of ['exec', 'attach', 'portforward']) {
    for (const verb of ['get', 'create']) {
      test(`view cannot ${verb} pods/${sub}; edit and admin can`, () => {
        const attrs = pods(verb, 'default', { subresource: sub, name: 'p' });
        assert.equal(can('view', attrs), false);
        assert.equal(can('edit', attrs), true);
        assert.equal(can('admin', attrs), true);
        assert.equal(can('cluster-admin', attrs), true);
      });
    }
  }

  test('view reads common resources, but not secrets', () => {
    for (const [group, resource] of [['', 'pods'], ['', 'services'], ['', 'configmaps'], ['apps', 'deployments'], ['batch', 'jobs'], ['', 'namespaces']]) {
      for (const verb of ['get', 'list', 'watch']) {
        assert.ok(can('view', { verb, group: group!, resource: resource!, namespace: 'd' }), `${verb} ${resource}`);
      }
    }
    assert.equal(can('view', pods('get', 'd', { subresource: 'log', name: 'p' })), true);
    assert.equal(can('view', { verb: 'get', group: '', resource: 'secrets', namespace: 'd' }), false);
    assert.equal(can('view', pods('delete', 'd', { name: 'p' })), false);
  });

  test('edit writes workloads but not RBAC; admin also RBAC', () => {
    assert.equal(can('edit', { verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'd', name: 'x' }), true);
    assert.equal(can('edit', { verb: 'get', group: '', resource: 'secrets', namespace: 'd', name: 'x' }), true);
    assert.equal(can('edit', { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'd' }), false);
    assert.equal(can('admin', { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'd' }), true);
  });

  test('bindings: cluster-admin to system:masters; discovery and basic-user to system:authenticated', () => {
    const subjects = (name: string) => clusterRoleBindings.find((b) => b.metadata.name === name)?.subjects?.map((s) => `${s.kind}:${s.name}`);
    assert.deepEqual(subjects('cluster-admin'), ['Group:system:masters']);
    assert.deepEqual(subjects('system:discovery'), ['Group:system:authenticated']);
    assert.deepEqual(subjects('system:basic-user'), ['Group:system:authenticated']);
    assert.deepEqual(subjects('system:public-info-viewer'), ['Group:system:authenticated', 'Group:system:unauthenticated']);
  });
});
