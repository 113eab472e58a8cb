// The sandbox's world of objects: manifests checked against each other (names, namespaces,
// tokens) and expanded into what a real cluster would hold after its apiserver, controllers,
// scheduler and kubelet have done their work (controllers.ts). The built-in world is world.yaml.

import { readFileSync } from 'node:fs';
import type { KubeObject, ObjectMeta, Pod, Role, RoleBinding, SandboxUser, Workload } from './types.ts';
import { generateName, resourceName, WorldBuilder } from './controllers.ts';
import { goQuote } from './goformat.ts';
import { kindInfo } from './kinds.ts';
import { ManifestError, describeObject, inheritOrigin, parseManifests, validateObject } from './manifest.ts';

export interface World {
  namespaces: KubeObject[];
  pods: Pod[];
  /** Deployments, ReplicaSets (given or made for Deployments), StatefulSets, DaemonSets, Jobs. */
  workloads: Workload[];
  roles: Role[];
  clusterRoles: Role[];
  roleBindings: RoleBinding[];
  clusterRoleBindings: RoleBinding[];
  users: SandboxUser[];
}

/** Namespaces every cluster has, whether or not a manifest declares them. */
export const systemNamespaces = ['default', 'kube-node-lease', 'kube-public', 'kube-system'] as const;

export const builtinUsers = ['admin', 'dev', 'viewer'] as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Check objects against each other and expand them into what a real cluster would hold:
 * namespaces (the four system ones always), defaults and apiserver metadata (uid,
 * resourceVersion, creationTimestamp, generation), a ReplicaSet per Deployment and pods per
 * ReplicaSet, StatefulSet, DaemonSet and Job, every pod Running with an IP of its own in
 * 10.244.0.0/16, on node `sandbox` unless its spec names another. The input objects are not
 * changed. Throws ManifestError naming the object (its file and document when it came from
 * parseManifests).
 */
export function buildWorld(objects: KubeObject[]): World {
  const b = new WorldBuilder();
  const items: KubeObject[] = objects.map((o) => {
    validateObject(o);
    const c = structuredClone(o);
    inheritOrigin(c, o);
    return c;
  });

  // Names and namespaces as the apiserver settles them.
  for (const o of items) {
    o.metadata ??= {} as ObjectMeta;
    if (kindInfo(o.kind)!.namespaced) o.metadata.namespace ||= 'default';
    else delete o.metadata.namespace;
  }
  for (const o of items) {
    if (!o.metadata.name) {
      let name: string;
      do name = generateName(o.metadata.generateName!);
      while (b.taken(o.kind, o.metadata.namespace, name));
      o.metadata.name = name;
    }
    const clash = b.register(o);
    if (clash) {
      throw new ManifestError(
        `${describeObject(o)}: ${resourceName(o.kind)} ${goQuote(o.metadata.name)} already exists (also defined by ${describeObject(clash)})`,
      );
    }
  }

  // Namespaces: the system ones first, declared or not, then the others in manifest order.
  const declared = items.filter((o) => o.kind === 'Namespace');
  const namespaces: KubeObject[] = systemNamespaces.map(
    (name) => declared.find((n) => n.metadata.name === name) ?? { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
  );
  for (const n of declared) if (!namespaces.includes(n)) namespaces.push(n);
  const nsNames = new Set(namespaces.map((n) => n.metadata.name));
  for (const o of items) {
    const ns = o.metadata.namespace;
    if (ns !== undefined && !nsNames.has(ns)) throw new ManifestError(`${describeObject(o)}: namespaces ${goQuote(ns)} not found`);
  }
  for (const n of namespaces) {
    n.metadata.labels = { ...(n.metadata.labels ?? {}), 'kubernetes.io/metadata.name': n.metadata.name };
    n['spec'] = { ...(isObj(n['spec']) ? n['spec'] : {}), finalizers: ['kubernetes'] };
    n['status'] = { phase: 'Active' };
    b.stamp(n);
    b.world.namespaces.push(n);
  }

  // Tokens name one user each.
  const tokenOwner = new Map<string, KubeObject>();
  for (const o of items) {
    if (o.kind !== 'SandboxUser') continue;
    const tokens = ((o as SandboxUser).spec?.tokens ?? []) as string[];
    tokens.forEach((t, i) => {
      const other = tokenOwner.get(t);
      if (other) {
        throw new ManifestError(
          `${describeObject(o)}: spec.tokens[${i}]: Duplicate value: ${goQuote(t)}: already a token of SandboxUser ${goQuote(other.metadata.name)}`,
        );
      }
      tokenOwner.set(t, o);
    });
  }

  for (const o of items) {
    switch (o.kind) {
      case 'Namespace':
        break;
      case 'Pod': {
        const pod = o as Pod;
        b.finishPod(pod);
        b.world.pods.push(pod);
        break;
      }
      case 'Deployment':
        b.deployment(o as Workload);
        break;
      case 'ReplicaSet':
        b.replicaSet(o as Workload);
        break;
      case 'StatefulSet':
        b.statefulSet(o as Workload);
        break;
      case 'DaemonSet':
        b.daemonSet(o as Workload);
        break;
      case 'Job':
        b.job(o as Workload);
        break;
      case 'Role':
      case 'ClusterRole':
        b.stamp(o);
        (o.kind === 'Role' ? b.world.roles : b.world.clusterRoles).push(o as Role);
        break;
      case 'RoleBinding':
      case 'ClusterRoleBinding': {
        const rb = o as RoleBinding;
        for (const s of rb.subjects ?? []) {
          if ((s.kind === 'User' || s.kind === 'Group') && !s.apiGroup) s.apiGroup = 'rbac.authorization.k8s.io';
        }
        b.stamp(rb);
        (rb.kind === 'RoleBinding' ? b.world.roleBindings : b.world.clusterRoleBindings).push(rb);
        break;
      }
      case 'SandboxUser': {
        const u = o as SandboxUser;
        u.spec ??= {};
        b.stamp(u);
        b.world.users.push(u);
        break;
      }
    }
  }
  return b.world;
}

/**
 * The built-in world's manifest (world.yaml next to this module), served when no --manifest is
 * given. It doubles as the example for people writing their own manifests.
 */
export const builtinManifest: string = readFileSync(new URL('./world.yaml', import.meta.url), 'utf8');

/** The built-in world, parsed and built (fresh uids, names and times on every call). */
export function builtinWorld(): World {
  return buildWorld(parseManifests(builtinManifest, 'built-in world'));
}
