// The parts of Kubernetes objects the kube layer reads, as the API server sends them (JSON, not
// @kubernetes/client-node's model classes: those turn timestamps into Date objects only after its
// own deserialiser ran). Everything else a server sends is kept and typed as unknown.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  /** RFC 3339, e.g. 2024-05-01T10:00:00Z. */
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  [key: string]: unknown;
}

export interface PodCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
  [key: string]: unknown;
}

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: {
    containers: Container[];
    initContainers?: Container[];
    ephemeralContainers?: Container[];
    nodeName?: string;
    [key: string]: unknown;
  };
  status?: {
    /** Pending, Running, Succeeded, Failed or Unknown. */
    phase?: string;
    conditions?: PodCondition[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface LabelSelectorRequirement {
  key: string;
  /** In, NotIn, Exists or DoesNotExist. */
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  [key: string]: unknown;
}
