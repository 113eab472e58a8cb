// The JSON shapes of the web shell's HTTP API that both sides read (docs/web.md, "Clusters,
// namespaces and pods"): the gateway writes them, the browser UI reads them. Types only.

export interface ContainerSummary {
  name: string;
  ready: boolean;
  /** 'running', 'waiting', 'terminated', or 'unknown' when the kubelet has not reported it. */
  state: 'running' | 'waiting' | 'terminated' | 'unknown';
  /** '' when the spec names none. */
  image: string;
  /** Present (true) for an ephemeral (debug) container of `spec.ephemeralContainers`; its state comes from `status.ephemeralContainerStatuses`. */
  ephemeral?: true;
  /** The container whose processes an ephemeral container shares (`targetContainerName`), when it names one. */
  target?: string;
}

export interface PodSummary {
  name: string;
  /** kubectl's STATUS column: Running, Pending, Terminating, CrashLoopBackOff, Init:0/1, Completed, … */
  phase: string;
  /** Ready containers / containers, e.g. "1/2". */
  ready: string;
  /** Restarts of every container, init containers included. */
  restarts: number;
  /** metadata.creationTimestamp (RFC 3339); '' when the server sent none. */
  created: string;
  /** The pod's containers, then its ephemeral containers (marked `ephemeral`) in the order they were added. */
  containers: ContainerSummary[];
  /** The container a shell opens in: the default-container annotation when it names a container, else the first. */
  defaultContainer: string;
}

/** The query of `GET …/pods/:pod/logs` (docs/web.md, "Logs"), as the UI builds it. */
export interface LogQuery {
  container?: string;
  follow?: boolean;
  timestamps?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  download?: boolean;
}
