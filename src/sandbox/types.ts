// Kubernetes-shaped objects as the sandbox stores and serves them. Only the fields the sandbox
// reads are typed; everything else a manifest carries is kept and served back untouched.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
}

export interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  workingDir?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  /** Ephemeral containers only: the container whose process namespace this one joins. */
  targetContainerName?: string;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  ephemeralContainers?: ContainerSpec[];
  nodeName?: string;
  [key: string]: unknown;
}

export interface Pod extends KubeObject {
  kind: 'Pod';
  spec: PodSpec;
  status?: Record<string, unknown> & { phase?: string };
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Deployment, ReplicaSet, StatefulSet, DaemonSet, Job: anything with a selector and a pod template. */
export interface Workload extends KubeObject {
  spec: {
    replicas?: number;
    selector?: LabelSelector;
    template?: { metadata?: Partial<ObjectMeta>; spec: PodSpec };
    [key: string]: unknown;
  };
  status?: Record<string, unknown>;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Role extends KubeObject {
  kind: 'Role' | 'ClusterRole';
  rules?: PolicyRule[];
}

export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface RoleBinding extends KubeObject {
  kind: 'RoleBinding' | 'ClusterRoleBinding';
  roleRef: { apiGroup: string; kind: 'Role' | 'ClusterRole'; name: string };
  subjects?: Subject[];
}

/**
 * The one sandbox-specific kind: a user who can log in.
 * apiVersion `sandbox.podshell.dev/v1`, kind `SandboxUser`.
 */
export interface SandboxUser extends KubeObject {
  kind: 'SandboxUser';
  spec: {
    /** Bearer tokens accepted for this user. */
    tokens?: string[];
    groups?: string[];
    uid?: string;
  };
}

/** Who is making a request, after authentication (and impersonation, when asked for). */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}
