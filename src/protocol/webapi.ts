// The JSON shapes of the web shell's HTTP API that both sides read (docs/web.md, "Clusters,
// namespaces and pods"): the gateway writes them, the browser UI reads them. Types only.

export interface ContainerSummary {
  name: string;
  ready: boolean;
  /** 'running', 'waiting', 'terminated', or 'unknown' when the kubelet has not reported it. */
  state: 'running' | 'waiting' | 'terminated' | 'unknown';
  /** '' when the spec names none. */
  image: string;
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
  containers: ContainerSummary[];
  /** The container a shell opens in: the default-container annotation when it names a container, else the first. */
  defaultContainer: string;
}
