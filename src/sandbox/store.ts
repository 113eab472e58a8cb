// The sandbox's objects, indexed for the API: what the world holds, served as a cluster would.

import type { RbacSource } from './rbac.ts';
import type { KubeObject, Pod, Role, RoleBinding, SandboxUser, Workload } from './types.ts';
import type { World } from './world.ts';

/** A resource the API serves from the store. */
export interface ResourceInfo {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames?: readonly string[];
  readonly verbs: readonly string[];
  readonly categories?: readonly string[];
}

const readVerbs = ['get', 'list'] as const;

/** Resources served from the store, in discovery order. */
export const servedResources: readonly ResourceInfo[] = [
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], verbs: readVerbs },
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'], verbs: readVerbs, categories: ['all'] },
  { group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet', namespaced: true, shortNames: ['ds'], verbs: readVerbs, categories: ['all'] },
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true, shortNames: ['deploy'], verbs: readVerbs, categories: ['all'] },
  { group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', namespaced: true, shortNames: ['rs'], verbs: readVerbs, categories: ['all'] },
  { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet', namespaced: true, shortNames: ['sts'], verbs: readVerbs, categories: ['all'] },
  { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job', namespaced: true, verbs: readVerbs, categories: ['all'] },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false, verbs: readVerbs },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false, verbs: readVerbs },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true, verbs: readVerbs },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true, verbs: readVerbs },
];

export function findResource(group: string, version: string, resource: string): ResourceInfo | undefined {
  return servedResources.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export class Store {
  private readonly _byKind = new Map<string, KubeObject[]>();
  private readonly _world: World;
  readonly resourceVersion: string;

  constructor(world: World, rbacExtra: { clusterRoles: Role[]; clusterRoleBindings: RoleBinding[] }) {
    this._world = world;
    const all: KubeObject[] = [
      ...world.namespaces,
      ...world.pods,
      ...world.workloads,
      ...world.roles,
      ...rbacExtra.clusterRoles.filter((r) => !world.clusterRoles.some((w) => w.metadata.name === r.metadata.name)),
      ...world.clusterRoles,
      ...world.roleBindings,
      ...rbacExtra.clusterRoleBindings.filter((r) => !world.clusterRoleBindings.some((w) => w.metadata.name === r.metadata.name)),
      ...world.clusterRoleBindings,
    ];
    for (const object of all) {
      const list = this._byKind.get(object.kind) ?? [];
      list.push(object);
      this._byKind.set(object.kind, list);
    }
    this.resourceVersion = String(all.reduce((max, o) => Math.max(max, Number(o.metadata.resourceVersion) || 0), 1));
  }

  /** Objects of a kind, in one namespace or (undefined) in all. */
  list(kind: string, namespace?: string): KubeObject[] {
    const objects = this._byKind.get(kind) ?? [];
    const filtered = namespace === undefined ? objects : objects.filter((o) => (o.metadata.namespace ?? '') === namespace);
    return [...filtered].sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return (this._byKind.get(kind) ?? []).find((o) => o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  }

  pods(): Pod[] {
    return this._world.pods;
  }

  pod(namespace: string, name: string): Pod | undefined {
    return this._world.pods.find((p) => p.metadata.namespace === namespace && p.metadata.name === name);
  }

  workloads(): Workload[] {
    return this._world.workloads;
  }

  users(): SandboxUser[] {
    return this._world.users;
  }

  rbac(): RbacSource {
    const of = <T extends KubeObject>(kind: string) => () => (this._byKind.get(kind) ?? []) as T[];
    return {
      roles: of<Role>('Role'),
      clusterRoles: of<Role>('ClusterRole'),
      roleBindings: of<RoleBinding>('RoleBinding'),
      clusterRoleBindings: of<RoleBinding>('ClusterRoleBinding'),
    };
  }
}
