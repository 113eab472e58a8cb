// Scaling: the `scale` subresource of Deployments, ReplicaSets and StatefulSets (GET an
// autoscaling/v1 Scale; PATCH it with any of the three patch types, or PUT one), and the
// controllers' answer to a new replica count, as on a cluster: a Deployment passes it to its
// ReplicaSet; a ReplicaSet or StatefulSet adds pods (created ContainerCreating, then Running once
// the kubelet has started them) or deletes some (Terminating: a deletionTimestamp, the kubelet
// stops their containers, then the pod is gone). The workloads' status counts follow.
// A sandbox's pods are host processes, so a workload may have at most MAX_REPLICAS.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { sendJson } from './api.ts';
import { counts, WorldBuilder } from './controllers.ts';
import { requestedObject, type Json } from './patch.ts';
import { ApiError, badRequest, conflict, notFound } from './errors.ts';
import type { Kubelet } from './kubelet.ts';
import type { Store } from './store.ts';
import type { KubeObject, LabelSelector, Pod, Workload } from './types.ts';

/** The most replicas a workload of the sandbox may have: each is a set of host processes. */
export const MAX_REPLICAS = 50;

/** The kinds with a scale subresource, by resource name. */
export const SCALABLE: Readonly<Record<string, string>> = { deployments: 'Deployment', replicasets: 'ReplicaSet', statefulsets: 'StatefulSet' };

/** Discovery entries of the scale subresources (group autoscaling, version v1, as a cluster lists them). */
export const SCALE_SUBRESOURCES = Object.keys(SCALABLE).map((resource) => ({
  name: `${resource}/scale`,
  singularName: '',
  namespaced: true,
  group: 'autoscaling',
  version: 'v1',
  kind: 'Scale',
  verbs: ['get', 'patch', 'update'],
}));

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const timestamp = (ms = Date.now()): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** A label selector as a string, the way status.selector of a Scale spells it. */
export function selectorString(selector: LabelSelector | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {}).sort(([a], [b]) => a.localeCompare(b))) parts.push(`${k}=${v}`);
  for (const e of (selector?.matchExpressions ?? []) as { key: string; operator: string; values?: string[] }[]) {
    const values = [...(e.values ?? [])].sort().join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/** The status of a pod just created and scheduled, its containers being created. */
function pendingStatus(running: Obj): Obj {
  const statuses = ((running['containerStatuses'] as Obj[] | undefined) ?? []).map((s) => ({
    image: s['image'],
    imageID: '',
    lastState: {},
    name: s['name'],
    ready: false,
    restartCount: 0,
    started: false,
    state: { waiting: { reason: 'ContainerCreating' } },
  }));
  const names = statuses.map((s) => String(s.name)).join(' ');
  const now = timestamp();
  const condition = (type: string, status: string, extra: Obj = {}) => ({ type, status, lastProbeTime: null, lastTransitionTime: now, ...extra });
  const unready = { reason: 'ContainersNotReady', message: `containers with unready status: [${names}]` };
  return {
    phase: 'Pending',
    conditions: [
      condition('PodReadyToStartContainers', 'False'),
      condition('Initialized', 'True'),
      condition('Ready', 'False', unready),
      condition('ContainersReady', 'False', unready),
      condition('PodScheduled', 'True'),
    ],
    hostIP: running['hostIP'],
    hostIPs: running['hostIPs'],
    startTime: now,
    containerStatuses: statuses,
    qosClass: running['qosClass'],
  };
}

const isReady = (pod: Pod): boolean =>
  pod.status?.phase === 'Running' && ((pod.status['conditions'] as Obj[] | undefined) ?? []).some((c) => c['type'] === 'Ready' && c['status'] === 'True');

const restarts = (pod: Pod): number => ((pod.status?.['containerStatuses'] as Obj[] | undefined) ?? []).reduce((n, s) => n + (Number(s['restartCount']) || 0), 0);

export class ScaleController {
  readonly #store: Store;
  readonly #kubelet: Kubelet;
  #ips: number;
  /** The order pods were created in by this controller (a timestamp has whole seconds only); the world's pods come first. */
  readonly #born = new WeakMap<Pod, number>();
  #births = 0;

  constructor(store: Store, kubelet: Kubelet) {
    this.#store = store;
    this.#kubelet = kubelet;
    // Every pod of the world got one IP as it was built; new ones continue from there.
    this.#ips = store.pods().length;
  }

  /** The workload's Scale, as GET of its scale subresource answers. */
  scaleOf(w: Workload): Obj {
    const m = w.metadata;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
      spec: { replicas: w.spec.replicas ?? 0 },
      status: { replicas: Number(w.status?.['replicas'] ?? 0), selector: selectorString(w.spec.selector) },
    };
  }

  /** Sets the workload's replicas and lets its controllers act on it. */
  setReplicas(w: Workload, replicas: number): void {
    if ((w.spec.replicas ?? 0) === replicas) return;
    this.#store.update(w, () => {
      w.spec.replicas = replicas;
      w.metadata['generation'] = (Number(w.metadata['generation']) || 1) + 1;
    });
    if (w.kind === 'Deployment') {
      for (const rs of this.#owned(w, 'ReplicaSet') as Workload[]) this.#setReplicaSet(rs, replicas, w);
    } else if (w.kind === 'ReplicaSet') {
      // A ReplicaSet a Deployment controls is set back to the Deployment's count, as its controller would.
      const owner = this.#owner(w);
      if (owner?.kind === 'Deployment') this.#setReplicaSet(w, (owner as Workload).spec.replicas ?? 0, owner as Workload);
    }
    this.#reconcile(w);
  }

  #setReplicaSet(rs: Workload, replicas: number, d: Workload): void {
    if ((rs.spec.replicas ?? 0) !== replicas) {
      this.#store.update(rs, () => {
        rs.spec.replicas = replicas;
        rs.metadata['generation'] = (Number(rs.metadata['generation']) || 1) + 1;
        const annotations = (rs.metadata.annotations ??= {});
        if (annotations['deployment.kubernetes.io/desired-replicas'] !== undefined) {
          const surge = Number(annotations['deployment.kubernetes.io/max-replicas']) - Number(annotations['deployment.kubernetes.io/desired-replicas']);
          annotations['deployment.kubernetes.io/desired-replicas'] = String(replicas);
          annotations['deployment.kubernetes.io/max-replicas'] = String(replicas + (Number.isFinite(surge) ? surge : 0));
        }
      });
    }
    this.#reconcile(rs);
    this.#refresh(d);
  }

  #owner(o: KubeObject): KubeObject | undefined {
    const ref = o.metadata.ownerReferences?.find((r) => r.controller);
    if (!ref) return undefined;
    return this.#store.list(ref.kind, o.metadata.namespace).find((x) => x.metadata.uid === ref.uid);
  }

  #owned(w: KubeObject, kind: string): KubeObject[] {
    return this.#store.list(kind, w.metadata.namespace).filter((o) => o.metadata.ownerReferences?.some((r) => r.controller && r.uid === w.metadata.uid));
  }

  #active(w: Workload): Pod[] {
    return (this.#owned(w, 'Pod') as Pod[]).filter((p) => p.metadata['deletionTimestamp'] === undefined);
  }

  /** A ReplicaSet's or StatefulSet's controller: as many pods as spec.replicas says. */
  #reconcile(w: Workload): void {
    if (w.kind !== 'ReplicaSet' && w.kind !== 'StatefulSet') return;
    const want = w.spec.replicas ?? 0;
    const active = this.#active(w);
    const ns = w.metadata.namespace;
    const builder = new WorldBuilder({ firstIP: this.#ips, taken: (kind, namespace, name) => this.#store.get(kind, namespace, name) !== undefined });
    const created: Pod[] = [];
    const victims: Pod[] = [];
    if (w.kind === 'ReplicaSet') {
      // Pods still terminating count against the bound too, so scaling down and up over and over
      // cannot pile up processes that are slow to stop; the rest come as those go.
      const terminating = this.#owned(w, 'Pod').length - active.length;
      const room = Math.max(0, 2 * MAX_REPLICAS - terminating - active.length);
      for (let i = active.length; i < Math.min(want, active.length + room); i++) created.push(builder.addControlledPod(w, w.spec.template!, { generate: `${w.metadata.name}-` }, {}));
      // The ReplicaSet's choice: pods not ready first, then those restarted most, then the newest.
      const ranked = [...active].sort(
        (a, b) =>
          Number(isReady(a)) - Number(isReady(b)) ||
          restarts(b) - restarts(a) ||
          (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') ||
          (this.#born.get(b) ?? 0) - (this.#born.get(a) ?? 0) ||
          b.metadata.name.localeCompare(a.metadata.name),
      );
      victims.push(...ranked.slice(0, Math.max(0, active.length - want)));
    } else {
      // Ordinals 0 … replicas−1; a name still held by a terminating pod waits for it to go.
      for (let i = 0; i < want; i++) if (this.#store.get('Pod', ns, `${w.metadata.name}-${i}`) === undefined) created.push(builder.statefulSetPod(w, i));
      const ordinal = (p: Pod) => Number(p.metadata.labels?.['apps.kubernetes.io/pod-index'] ?? p.metadata.name.slice(w.metadata.name.length + 1));
      victims.push(...active.filter((p) => ordinal(p) >= want).sort((a, b) => ordinal(b) - ordinal(a)));
    }
    this.#ips = builder.ipsUsed;
    for (const pod of created) this.#create(w, pod);
    for (const pod of victims) this.#delete(w, pod);
    this.#refresh(w);
  }

  #create(owner: Workload, pod: Pod): void {
    const running = pod.status as Obj;
    pod.status = pendingStatus(running) as Pod['status'];
    this.#born.set(pod, ++this.#births);
    this.#store.add(pod);
    void this.#kubelet
      .startPod(pod, running)
      .then((started) => {
        if (started) this.#refreshChain(owner);
      })
      .catch(() => {});
  }

  #delete(owner: Workload, pod: Pod): void {
    const grace = Number(pod.spec['terminationGracePeriodSeconds'] ?? 30);
    this.#store.update(pod, () => {
      pod.metadata['deletionTimestamp'] = timestamp(Date.now() + grace * 1000);
      pod.metadata['deletionGracePeriodSeconds'] = grace;
    });
    void this.#kubelet
      .stopPod(pod, grace * 1000)
      .then((stopped) => {
        if (!stopped || this.#store.pod(pod.metadata.namespace!, pod.metadata.name) !== pod) return;
        this.#store.remove(pod);
        this.#reconcile(owner);
        this.#refreshChain(owner);
      })
      .catch(() => {});
  }

  /** The workload's status and that of the Deployment above it. */
  #refreshChain(w: Workload): void {
    this.#refresh(w);
    const owner = this.#owner(w);
    if (owner?.kind === 'Deployment') this.#refresh(owner as Workload);
  }

  /** Status counts from the pods, as the controllers report them (zero counts left out). */
  #refresh(w: Workload): void {
    let pods: Pod[];
    if (w.kind === 'Deployment') pods = (this.#owned(w, 'ReplicaSet') as Workload[]).flatMap((rs) => this.#active(rs));
    else if (w.kind === 'ReplicaSet' || w.kind === 'StatefulSet') pods = this.#active(w);
    else return;
    const replicas = pods.length;
    const ready = pods.filter(isReady).length;
    const fields: Record<string, Record<string, number>> = {
      Deployment: { replicas, updatedReplicas: replicas, readyReplicas: ready, availableReplicas: ready, unavailableReplicas: Math.max(0, (w.spec.replicas ?? 0) - ready) },
      ReplicaSet: { replicas, fullyLabeledReplicas: replicas, readyReplicas: ready, availableReplicas: ready },
      StatefulSet: { replicas, readyReplicas: ready, availableReplicas: ready, currentReplicas: replicas, updatedReplicas: replicas },
    };
    const next: Obj = { ...(w.status ?? {}) };
    for (const key of Object.keys(fields[w.kind]!)) delete next[key];
    Object.assign(next, counts(fields[w.kind]!), { observedGeneration: Number(w.metadata['generation']) || 1 });
    if (isDeepStrictEqual(next, w.status)) return;
    this.#store.update(w, () => {
      w.status = next;
    });
  }
}

function invalidReplicas(kind: string, name: string, value: unknown, problem: string): ApiError {
  const message = `Invalid value: ${JSON.stringify(value)}: ${problem}`;
  const group = kind === 'Scale' ? 'autoscaling' : 'apps';
  return new ApiError(422, 'Invalid', `${kind}.${group} "${name}" is invalid: spec.replicas: ${message}`, {
    name,
    group,
    kind,
    causes: [{ reason: 'FieldValueInvalid', message, field: 'spec.replicas' }],
  });
}

/** The replica count of a Scale or workload (after a patch): an int32 from 0 to MAX_REPLICAS, else the cluster's 400 or 422. */
function checkReplicas(kind: string, name: string, replicas: unknown): number {
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || Math.abs(replicas) > 2 ** 31 - 1) {
    const spec = kind === 'Scale' ? 'ScaleSpec' : `${kind}Spec`;
    throw badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: json: cannot unmarshal ${typeof replicas === 'number' ? 'number' : Array.isArray(replicas) ? 'array' : typeof replicas} into Go struct field ${spec}.spec.replicas of type int32`);
  }
  if (replicas < 0) throw invalidReplicas(kind, name, replicas, 'must be greater than or equal to 0');
  if (replicas > MAX_REPLICAS) throw invalidReplicas(kind, name, replicas, `must be less than or equal to ${MAX_REPLICAS} (the podshell sandbox's limit: each replica runs as processes on this machine)`);
  return replicas;
}

/** The parts of a workload a patch may not change here: all but spec.replicas (status and the apiserver's metadata are not the client's). */
function fixedParts(o: Obj): Obj {
  const copy = structuredClone(o);
  delete copy['status'];
  if (isObj(copy['metadata'])) {
    delete copy['metadata']['resourceVersion'];
    delete copy['metadata']['managedFields'];
  }
  if (isObj(copy['spec'])) delete copy['spec']['replicas'];
  return copy;
}

/**
 * PATCH of a Deployment, ReplicaSet or StatefulSet itself (`kubectl patch deploy web -p
 * '{"spec":{"replicas":3}}'`): served when the patch changes spec.replicas only, which is then
 * as a scale; any other change is the read-only 405.
 */
export async function patchWorkload(scaler: ScaleController, store: Store, req: IncomingMessage, res: ServerResponse, resource: string, group: string, namespace: string, name: string): Promise<void> {
  const w = store.get(SCALABLE[resource]!, namespace, name) as Workload | undefined;
  if (!w) throw notFound(resource, name, group);
  const updated = await requestedObject(req, 'PATCH', w as unknown as Json);
  if (!isObj(updated)) throw badRequest('the body of the request must be an object');
  if (!isDeepStrictEqual(fixedParts(updated), fixedParts(w as unknown as Obj))) {
    throw new ApiError(405, 'MethodNotAllowed', `the podshell sandbox serves ${resource} read-only: patch is supported for spec.replicas only (or use the scale subresource)`, { group, kind: resource });
  }
  const version = (updated['metadata'] as Obj)['resourceVersion'];
  if (typeof version === 'string' && version !== '' && version !== w.metadata.resourceVersion) {
    throw conflict(`${resource}.${group}`, name, { name, group, kind: resource });
  }
  scaler.setReplicas(w, checkReplicas(w.kind, name, (updated['spec'] as Obj)['replicas'] ?? 1));
  sendJson(res, 200, w);
}

/** GET, PATCH or PUT of `namespaces/<ns>/<deployments|replicasets|statefulsets>/<name>/scale`. */
export async function serveScale(scaler: ScaleController, store: Store, req: IncomingMessage, res: ServerResponse, resource: string, group: string, namespace: string, name: string, method: string): Promise<void> {
  if (method !== 'GET' && method !== 'PATCH' && method !== 'PUT') {
    throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
  }
  const w = store.get(SCALABLE[resource]!, namespace, name) as Workload | undefined;
  if (!w) throw notFound(resource, name, group);
  const current = scaler.scaleOf(w);
  if (method === 'GET') return sendJson(res, 200, current);
  const updated = await requestedObject(req, method as 'PATCH' | 'PUT', current as Json);
  if (!isObj(updated)) throw badRequest('the body of the request must be a Scale object');
  const meta = isObj(updated['metadata']) ? updated['metadata'] : {};
  if (meta['name'] !== undefined && meta['name'] !== name) throw badRequest(`the name of the object (${String(meta['name'])}) does not match the name on the URL (${name})`);
  const version = meta['resourceVersion'];
  if (typeof version === 'string' && version !== '' && version !== w.metadata.resourceVersion) {
    throw conflict(`${resource}.${group}`, name, { name, group, kind: resource });
  }
  const spec = isObj(updated['spec']) ? updated['spec'] : {};
  const replicas = checkReplicas('Scale', name, spec['replicas'] ?? 0);
  scaler.setReplicas(w, replicas);
  sendJson(res, 200, scaler.scaleOf(w));
}
