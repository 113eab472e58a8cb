// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for with
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, with the columns kube-apiserver prints.

import type { KubeObject, Pod, Workload } from './types.ts';

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

const col = (name: string, description: string, priority = 0, format = ''): Column => ({ name, type: 'string', format, description, priority });

/** Kubernetes' duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (days < 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

const age = (o: KubeObject, now: number) => (o.metadata.creationTimestamp ? humanDuration(now - Date.parse(o.metadata.creationTimestamp)) : '<unknown>');

interface Printer {
  columns: Column[];
  cells(o: KubeObject, now: number): unknown[];
}

const nameCol = col('Name', 'Name must be unique within a namespace.', 0, 'name');
const ageCol = col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.');

function containersAndImages(w: Workload): [string, string] {
  const containers = w.spec.template?.spec.containers ?? [];
  return [containers.map((c) => c.name).join(','), containers.map((c) => c.image ?? '').join(',')];
}

function selectorString(w: Workload): string {
  const sel = w.spec.selector;
  if (!sel) return '<none>';
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator.toLowerCase();
    if (op === 'exists') parts.push(e.key);
    else if (op === 'doesnotexist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${op} (${(e.values ?? []).join(',')})`);
  }
  return parts.join(',') || '<none>';
}

const num = (v: unknown) => (typeof v === 'number' ? v : 0);

const printers: Record<string, Printer> = {
  Pod: {
    columns: [
      nameCol,
      col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'The aggregate status of the containers in this pod.'),
      col('Restarts', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
      ageCol,
      col('IP', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
      col('Node', 'NodeName is a request to schedule this pod onto a specific node.', 1),
      col('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node.', 1),
      col('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
    ],
    cells(o, now) {
      const pod = o as Pod;
      type State = Record<string, { reason?: string; finishedAt?: string }>;
      const statuses = (pod.status?.containerStatuses as { ready?: boolean; restartCount?: number; state?: State; lastState?: State }[] | undefined) ?? [];
      const ready = statuses.filter((s) => s.ready).length;
      const count = statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0);
      // "2 (15s ago)": when the last container of the pod restarted, as the pod printer says it.
      const lastRestart = Math.max(0, ...statuses.map((s) => (s.restartCount && s.lastState?.terminated?.finishedAt ? Date.parse(s.lastState.terminated.finishedAt) || 0 : 0)));
      const restarts = lastRestart ? `${count} (${humanDuration(now - lastRestart)} ago)` : count;
      let status = pod.status?.phase ?? 'Unknown';
      for (const s of statuses) {
        const waiting = s.state?.waiting ?? s.state?.terminated;
        if (waiting?.reason) status = waiting.reason;
      }
      // A pod being deleted (scale.ts) says so until it is gone, unless its phase is already final.
      if (pod.metadata['deletionTimestamp'] !== undefined && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') status = 'Terminating';
      return [pod.metadata.name, `${ready}/${pod.spec.containers.length}`, status, restarts, age(pod, now), (pod.status?.podIP as string) ?? '<none>', pod.spec.nodeName ?? '<none>', '<none>', '<none>'];
    },
  },
  Namespace: {
    columns: [nameCol, col('Status', 'The status of the namespace'), ageCol],
    cells: (o, now) => [o.metadata.name, ((o.status as { phase?: string } | undefined)?.phase) ?? 'Active', age(o, now)],
  },
  Deployment: {
    columns: [
      nameCol,
      col('Ready', 'Number of the pod with ready state'),
      col('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
      col('Available', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
      ageCol,
      col('Containers', 'Names of each container in the template.', 1),
      col('Images', 'Images referenced by each container in the template.', 1),
      col('Selector', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', 1),
    ],
    cells(o, now) {
      const w = o as Workload;
      const s = w.status ?? {};
      return [w.metadata.name, `${num(s.readyReplicas)}/${w.spec.replicas ?? 1}`, num(s.updatedReplicas), num(s.availableReplicas), age(w, now), ...containersAndImages(w), selectorString(w)];
    },
  },
  ReplicaSet: {
    columns: [
      nameCol,
      col('Desired', 'Number of desired pods.'),
      col('Current', 'Number of actual replicas.'),
      col('Ready', 'The number of ready replicas for this replica set.'),
      ageCol,
      col('Containers', 'Names of each container in the template.', 1),
      col('Images', 'Images referenced by each container in the template.', 1),
      col('Selector', 'Label selector for pods.', 1),
    ],
    cells(o, now) {
      const w = o as Workload;
      const s = w.status ?? {};
      return [w.metadata.name, w.spec.replicas ?? 1, num(s.replicas), num(s.readyReplicas), age(w, now), ...containersAndImages(w), selectorString(w)];
    },
  },
  StatefulSet: {
    columns: [nameCol, col('Ready', 'Number of the pod with ready state'), ageCol, col('Containers', 'Names of each container in the template.', 1), col('Images', 'Images referenced by each container in the template.', 1)],
    cells(o, now) {
      const w = o as Workload;
      return [w.metadata.name, `${num(w.status?.readyReplicas)}/${w.spec.replicas ?? 1}`, age(w, now), ...containersAndImages(w)];
    },
  },
};

const generic: Printer = {
  columns: [nameCol, col('Created At', 'CreationTimestamp is a timestamp representing the server time when this object was created.', 0, 'date')],
  cells: (o) => [o.metadata.name, o.metadata.creationTimestamp ?? ''],
};

/** Does this Accept header ask for a Table? */
export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /(^|,)\s*application\/json;[^,]*as=Table[^,]*g=meta\.k8s\.io/.test(accept.replace(/ /g, ''));
}

export function toTable(kind: string, objects: KubeObject[], resourceVersion: string, includeObject: string | null): Record<string, unknown> {
  const printer = printers[kind] ?? generic;
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: printer.columns,
    rows: objects.map((o) => ({
      cells: printer.cells(o, now),
      ...(includeObject === 'None'
        ? {}
        : { object: includeObject === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } }),
    })),
  };
}
