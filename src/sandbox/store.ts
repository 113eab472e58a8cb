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

/** One change to an object, as a watch reports it: the object after the change and before it. */
export interface StoreEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly kind: string;
  /** The store's resourceVersion once the change was made. */
  readonly resourceVersion: number;
  /** A copy of the object after the change (for DELETED: as it was last). */
  readonly object: KubeObject;
  /** A copy of the object before the change; undefined for ADDED. */
  readonly previous: KubeObject | undefined;
}

/** How many changes the store remembers for watches that start from an older resourceVersion. */
const HISTORY_LIMIT = 1000;

export class Store {
  private readonly _byKind = new Map<string, KubeObject[]>();
  private readonly _world: World;
  private _resourceVersion: number;
  private readonly _history: StoreEvent[] = [];
  private readonly _listeners = new Set<(event: StoreEvent) => void>();

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
    this._resourceVersion = all.reduce((max, o) => Math.max(max, Number(o.metadata.resourceVersion) || 0), 1);
  }

  /** The resourceVersion of the latest change, as lists report it. */
  get resourceVersion(): string {
    return String(this._resourceVersion);
  }

  /**
   * Changes an object of the store: `mutate` edits it in place, then the object gets the store's
   * next resourceVersion and every watch hears of it.
   */
  update(object: KubeObject, mutate: (object: KubeObject) => void): void {
    const previous = structuredClone(object);
    mutate(object);
    object.metadata.resourceVersion = String(++this._resourceVersion);
    this._emit({ type: 'MODIFIED', kind: object.kind, resourceVersion: this._resourceVersion, object: structuredClone(object), previous });
  }

  /** Adds an object a controller made (a pod, when a workload scales up): it gets the next resourceVersion, watches hear ADDED. */
  add(object: KubeObject): void {
    const list = this._byKind.get(object.kind) ?? [];
    list.push(object);
    this._byKind.set(object.kind, list);
    if (object.kind === 'Pod') this._world.pods.push(object as Pod);
    object.metadata.resourceVersion = String(++this._resourceVersion);
    this._emit({ type: 'ADDED', kind: object.kind, resourceVersion: this._resourceVersion, object: structuredClone(object), previous: undefined });
  }

  /** Removes an object for good (a pod once its containers have stopped): watches hear DELETED. */
  remove(object: KubeObject): void {
    const list = this._byKind.get(object.kind) ?? [];
    const at = list.indexOf(object);
    if (at < 0) return;
    list.splice(at, 1);
    if (object.kind === 'Pod') {
      const podAt = this._world.pods.indexOf(object as Pod);
      if (podAt >= 0) this._world.pods.splice(podAt, 1);
    }
    const previous = structuredClone(object);
    object.metadata.resourceVersion = String(++this._resourceVersion);
    this._emit({ type: 'DELETED', kind: object.kind, resourceVersion: this._resourceVersion, object: structuredClone(object), previous });
  }

  private _emit(event: StoreEvent): void {
    this._history.push(event);
    if (this._history.length > HISTORY_LIMIT) this._history.shift();
    for (const listener of [...this._listeners]) listener(event);
  }

  /** Calls `listener` on every change from now on; returns the function that stops it. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /** The changes made after `resourceVersion`, in order; undefined when they are no longer all remembered. */
  changesSince(resourceVersion: number): StoreEvent[] | undefined {
    const first = this._history[0];
    const oldestKnown = first ? first.resourceVersion - 1 : this._resourceVersion;
    if (resourceVersion < oldestKnown) return undefined;
    return this._history.filter((e) => e.resourceVersion > resourceVersion);
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
