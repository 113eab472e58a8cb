// The kinds the sandbox serves: each kind's apiVersion, API group, resource name and scope.

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
