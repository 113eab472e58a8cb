// What a cluster's control plane and kubelet do to the objects a manifest declares: apiserver
// metadata (uid, resourceVersion, creationTimestamp, generation), the workload controllers
// (a ReplicaSet per Deployment, pods per ReplicaSet, StatefulSet, DaemonSet and Job, with the
// names and hashes they give them), and the status of a pod scheduled on the sandbox's node and
// running. world.ts decides what is built; this file builds it.

import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { ContainerSpec, KubeObject, LabelSelector, ObjectMeta, OwnerReference, Pod, PodSpec, Workload } from './types.ts';
import { defaultDaemonSet, defaultDeployment, defaultJob, defaultPodOnly, defaultReplicaSet, defaultStatefulSet } from './defaults.ts';
import { goQuote } from './goformat.ts';
import { kindInfo } from './kinds.ts';
import { ManifestError, describeObject, inheritOrigin } from './manifest.ts';
import type { World } from './world.ts';

/** Kubernetes' alphabet for generated names and hashes (consonants and digits that spell no words). */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Names and hashes.

/** `rand.String(n)`: n characters from the safe alphabet. */
function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += SAFE_ALPHABET[randomInt(SAFE_ALPHABET.length)];
  return s;
}

/** names.SimpleNameGenerator: the base cut to 58 characters, then 5 random ones. */
export function generateName(base: string): string {
  return base.slice(0, 63 - 5) + randomSuffix();
}

function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** rand.SafeEncodeString: each byte to a letter of the safe alphabet. */
function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

function canonicalJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(',')}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJSON(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * A pod template's hash, the way controllers compute one: FNV-32a of the template, its decimal
 * form spelled in the safe alphabet (so up to 10 characters of "456789bcdf").
 */
export function templateHash(template: unknown, salt = ''): string {
  return safeEncode(String(fnv32a(salt + canonicalJSON(template))));
}

// ---------------------------------------------------------------------------------------------
// Pod status, as the kubelet reports a running pod.

/** The pod's QoS class, from its containers' requests and limits. */
function qosClass(spec: PodSpec): string {
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  let any = false;
  let guaranteed = true;
  for (const c of all) {
    const res = isObj(c['resources']) ? c['resources'] : {};
    const limits = isObj(res['limits']) ? res['limits'] : {};
    const requests = isObj(res['requests']) ? res['requests'] : {};
    if (Object.keys(limits).length || Object.keys(requests).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (limits[r] === undefined) guaranteed = false;
      else if (requests[r] !== undefined && String(requests[r]) !== String(limits[r])) guaranteed = false;
    }
    for (const r of Object.keys(requests)) if (limits[r] === undefined) guaranteed = false;
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function imageID(image: string | undefined): string {
  const img = image ?? '';
  const at = img.indexOf('@');
  if (at >= 0) return img;
  const lastSlash = img.lastIndexOf('/');
  const colon = img.lastIndexOf(':');
  const repo = colon > lastSlash ? img.slice(0, colon) : img;
  return `${repo}@sha256:${createHash('sha256').update(img).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Building.

const METADATA_ORDER = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
];

/** Metadata in the order the apiserver writes it; absent fields left out. */
function orderMeta(meta: ObjectMeta): ObjectMeta {
  const out: Obj = {};
  for (const k of METADATA_ORDER) if (meta[k] !== undefined) out[k] = meta[k];
  for (const [k, v] of Object.entries(meta)) if (!(k in out) && v !== undefined) out[k] = v;
  return out as ObjectMeta;
}

export function resourceName(kind: string): string {
  const info = kindInfo(kind);
  if (!info) return kind.toLowerCase();
  return info.group ? `${info.resource}.${info.group}` : info.resource;
}

/** Omit zero counts, as Go's `omitempty` does on status fields. */
export function counts(fields: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== 0));
}

/** Resolve an int-or-percent (rolling update maxSurge), rounding up. */
function intOrPercent(v: unknown, total: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+%$/.test(v)) return Math.ceil((Number(v.slice(0, -1)) * total) / 100);
  return 0;
}

/** Where a builder that adds to a running sandbox (scale.ts) starts: the pod IPs handed out so far, and the names already taken there. */
export interface BuilderStart {
  readonly firstIP: number;
  taken(kind: string, ns: string | undefined, name: string): boolean;
}

/** A StatefulSet's revision name, `<set>-<hash of its template>`. */
export function statefulSetRevision(ss: Workload): string {
  return `${ss.metadata.name}-${templateHash(ss.spec.template!, 'StatefulSet')}`;
}

export class WorldBuilder {
  readonly now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  #rv = 1;
  #ip = 0;
  readonly #external: BuilderStart['taken'] | undefined;

  constructor(start?: BuilderStart) {
    this.#ip = start?.firstIP ?? 0;
    this.#external = start?.taken;
  }

  /** How many pod IPs this builder and the ones before it have handed out. */
  get ipsUsed(): number {
    return this.#ip;
  }
  readonly #registry = new Map<string, KubeObject>();
  readonly world: World = {
    namespaces: [],
    pods: [],
    workloads: [],
    roles: [],
    clusterRoles: [],
    roleBindings: [],
    clusterRoleBindings: [],
    users: [],
  };

  #key(kind: string, ns: string | undefined, name: string): string {
    return `${kind}\u0000${ns ?? ''}\u0000${name}`;
  }

  /** Register an object under kind/namespace/name; the object already there when the slot is taken, else undefined. */
  register(obj: KubeObject): KubeObject | undefined {
    const key = this.#key(obj.kind, obj.metadata.namespace, obj.metadata.name);
    const existing = this.#registry.get(key);
    if (existing) return existing;
    this.#registry.set(key, obj);
    return undefined;
  }

  taken(kind: string, ns: string | undefined, name: string): boolean {
    return this.#registry.has(this.#key(kind, ns, name)) || (this.#external?.(kind, ns, name) ?? false);
  }

  stamp(obj: KubeObject, generation = false): void {
    const m = obj.metadata;
    m.uid = randomUUID();
    m.resourceVersion = String(this.#rv++);
    m.creationTimestamp = this.now;
    if (generation) m['generation'] = 1;
    else delete m['generation'];
    obj.metadata = orderMeta(m);
  }

  /** Pod IPs in 10.244.0.0/16, one per pod: 10.244.0.2 to 10.244.0.254, then 10.244.1.2 and on. */
  nextPodIP(): string {
    const n = this.#ip++;
    return `10.244.${Math.floor(n / 253)}.${2 + (n % 253)}`;
  }

  ownerRef(owner: KubeObject): OwnerReference {
    return {
      apiVersion: owner.apiVersion,
      kind: owner.kind,
      name: owner.metadata.name,
      uid: owner.metadata.uid!,
      controller: true,
      blockOwnerDeletion: true,
    };
  }

  /** Add a pod made by a controller, under a fixed name or a generated one. */
  addControlledPod(owner: Workload, template: NonNullable<Workload['spec']['template']>, name: string | { generate: string }, extraLabels: Record<string, string>, extraSpec: Obj = {}): Pod {
    const tmeta = template.metadata ?? {};
    let podName: string;
    let generated: string | undefined;
    if (typeof name === 'string') {
      podName = name;
    } else {
      generated = name.generate;
      do podName = generateName(generated);
      while (this.taken('Pod', owner.metadata.namespace, podName));
    }
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        ...(generated !== undefined ? { generateName: generated } : {}),
        namespace: owner.metadata.namespace,
        labels: { ...(tmeta.labels ?? {}), ...extraLabels },
        ...(tmeta.annotations ? { annotations: { ...tmeta.annotations } } : {}),
        ownerReferences: [this.ownerRef(owner)],
      },
      spec: { ...structuredClone(template.spec), ...extraSpec } as PodSpec,
    };
    const clash = this.register(pod);
    if (clash) {
      throw new ManifestError(
        `${describeObject(owner)}: cannot create its pod: pods ${goQuote(podName)} already exists (${describeObject(clash)})`,
      );
    }
    this.finishPod(pod);
    this.world.pods.push(pod);
    return pod;
  }

  /** Defaults, metadata and a running status, as after scheduling and a kubelet start. */
  finishPod(pod: Pod): void {
    defaultPodOnly(pod.spec);
    this.stamp(pod);
    const now = this.now;
    const podIP = this.nextPodIP();
    const running = (c: ContainerSpec) => ({
      containerID: `podshell://${randomBytes(32).toString('hex')}`,
      image: c.image,
      imageID: imageID(c.image),
      lastState: {},
      name: c.name,
      ready: true,
      restartCount: 0,
      started: true,
      state: { running: { startedAt: now } },
    });
    const initStatuses = (pod.spec.initContainers ?? []).map((c) => {
      const containerID = `podshell://${randomBytes(32).toString('hex')}`;
      return {
        containerID,
        image: c.image,
        imageID: imageID(c.image),
        lastState: {},
        name: c.name,
        ready: true,
        restartCount: 0,
        started: false,
        state: { terminated: { containerID, exitCode: 0, finishedAt: now, reason: 'Completed', startedAt: now } },
      };
    });
    pod.status = {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
        type,
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: now,
      })),
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: now,
      ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
      containerStatuses: pod.spec.containers.map(running),
      qosClass: qosClass(pod.spec),
    };
  }

  /** A ReplicaSet's pods and status (the ReplicaSet itself is already stamped). */
  expandReplicaSet(rs: Workload): void {
    const replicas = rs.spec.replicas ?? 1;
    const template = rs.spec.template!;
    for (let i = 0; i < replicas; i++) this.addControlledPod(rs, template, { generate: `${rs.metadata.name}-` }, {});
    rs.status = {
      ...counts({ replicas, fullyLabeledReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas }),
      observedGeneration: 1,
    };
  }

  deployment(d: Workload): void {
    const spec = d.spec;
    defaultDeployment(spec);
    const template = spec.template!;
    d.metadata.annotations = { ...(d.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': '1' };
    this.stamp(d, true);
    this.world.workloads.push(d);

    const hash = templateHash(template);
    const replicas = spec.replicas!;
    const strategy = spec['strategy'] as Obj;
    const maxSurge =
      strategy['type'] === 'Recreate'
        ? 0
        : intOrPercent(isObj(strategy['rollingUpdate']) ? (strategy['rollingUpdate']['maxSurge'] ?? '25%') : '25%', replicas);
    const labels = { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash };
    const selector: LabelSelector = {
      ...structuredClone(spec.selector!),
      matchLabels: { ...(spec.selector?.matchLabels ?? {}), 'pod-template-hash': hash },
    };
    const rsName = `${d.metadata.name}-${hash}`;
    const rs: Workload = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: rsName,
        namespace: d.metadata.namespace,
        labels,
        annotations: {
          'deployment.kubernetes.io/desired-replicas': String(replicas),
          'deployment.kubernetes.io/max-replicas': String(replicas + maxSurge),
          'deployment.kubernetes.io/revision': '1',
        },
        ownerReferences: [this.ownerRef(d)],
      },
      spec: {
        replicas,
        selector,
        template: { metadata: { ...structuredClone(template.metadata ?? {}), labels: { ...labels } }, spec: structuredClone(template.spec) },
      },
    };
    const clash = this.register(rs);
    if (clash) {
      throw new ManifestError(
        `${describeObject(d)}: cannot create its ReplicaSet: replicasets.apps ${goQuote(rsName)} already exists (${describeObject(clash)})`,
      );
    }
    inheritOrigin(rs, d);
    this.stamp(rs, true);
    this.world.workloads.push(rs);
    this.expandReplicaSet(rs);

    const cond = (type: string, reason: string, message: string) => ({
      type,
      status: 'True',
      lastUpdateTime: this.now,
      lastTransitionTime: this.now,
      reason,
      message,
    });
    d.status = {
      observedGeneration: 1,
      ...counts({ replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas }),
      conditions: [
        cond('Available', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'),
        cond('Progressing', 'NewReplicaSetAvailable', `ReplicaSet ${goQuote(rsName)} has successfully progressed.`),
      ],
    };
  }

  replicaSet(rs: Workload): void {
    defaultReplicaSet(rs.spec);
    this.stamp(rs, true);
    this.world.workloads.push(rs);
    this.expandReplicaSet(rs);
  }

  statefulSet(ss: Workload): void {
    const spec = ss.spec;
    defaultStatefulSet(spec);
    this.stamp(ss, true);
    this.world.workloads.push(ss);
    const revision = statefulSetRevision(ss);
    const replicas = spec.replicas!;
    for (let i = 0; i < replicas; i++) this.statefulSetPod(ss, i);
    ss.status = {
      ...counts({ availableReplicas: replicas }),
      collisionCount: 0,
      ...counts({ currentReplicas: replicas }),
      currentRevision: revision,
      observedGeneration: 1,
      ...counts({ readyReplicas: replicas, replicas }),
      updateRevision: revision,
      ...counts({ updatedReplicas: replicas }),
    };
  }

  /** The StatefulSet's pod of ordinal `i`, named `<set>-<i>`. */
  statefulSetPod(ss: Workload, i: number): Pod {
    const podName = `${ss.metadata.name}-${i}`;
    const serviceName = typeof ss.spec['serviceName'] === 'string' && ss.spec['serviceName'] ? ss.spec['serviceName'] : undefined;
    return this.addControlledPod(
      ss,
      ss.spec.template!,
      podName,
      {
        'apps.kubernetes.io/pod-index': String(i),
        'controller-revision-hash': statefulSetRevision(ss),
        'statefulset.kubernetes.io/pod-name': podName,
      },
      { hostname: podName, ...(serviceName ? { subdomain: serviceName } : {}) },
    );
  }

  daemonSet(ds: Workload): void {
    const spec = ds.spec;
    defaultDaemonSet(spec);
    const template = spec.template!;
    this.stamp(ds, true);
    this.world.workloads.push(ds);
    const hash = templateHash(template, 'DaemonSet');
    this.addControlledPod(ds, template, { generate: `${ds.metadata.name}-` }, {
      'controller-revision-hash': hash,
      'pod-template-generation': '1',
    });
    ds.status = {
      currentNumberScheduled: 1,
      desiredNumberScheduled: 1,
      numberAvailable: 1,
      numberMisscheduled: 0,
      numberReady: 1,
      observedGeneration: 1,
      updatedNumberScheduled: 1,
    };
  }

  job(job: Workload): void {
    const spec = job.spec;
    this.stamp(job, true);
    const template = spec.template!;
    if (spec['manualSelector'] !== true) {
      const uid = job.metadata.uid!;
      const name = job.metadata.name;
      template.metadata = {
        ...(template.metadata ?? {}),
        labels: {
          ...(template.metadata?.labels ?? {}),
          'batch.kubernetes.io/controller-uid': uid,
          'batch.kubernetes.io/job-name': name,
          'controller-uid': uid,
          'job-name': name,
        },
      };
      spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    }
    defaultJob(spec);
    this.world.workloads.push(job);
    const parallelism = Math.min(Number(spec['parallelism']), Number(spec['completions']));
    for (let i = 0; i < parallelism; i++) this.addControlledPod(job, template, { generate: `${job.metadata.name}-` }, {});
    job.status = {
      ...counts({ active: parallelism, ready: parallelism }),
      startTime: this.now,
      terminating: 0,
      uncountedTerminatedPods: {},
    };
  }
}
