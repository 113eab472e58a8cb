// The sandbox's world of objects: manifests checked against each other and expanded into what a
// real cluster would hold after its apiserver, controllers, scheduler and kubelet have done their
// work (defaults, ReplicaSets and pods for workloads, running pod status).

import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import type {
  ContainerSpec,
  KubeObject,
  LabelSelector,
  ObjectMeta,
  OwnerReference,
  Pod,
  PodSpec,
  Role,
  RoleBinding,
  SandboxUser,
  Workload,
} from './types.ts';
import { goQuote } from './labels.ts';
import { ManifestError, describeObject, inheritOrigin, kindInfo, parseManifests, validateObject } from './manifest.ts';

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

/** The one node the sandbox pretends to have. */
export const nodeName = 'sandbox';

export const builtinUsers = ['admin', 'dev', 'viewer'] as const;

/** Kubernetes' alphabet for generated names and hashes (k8s.io/apimachinery/pkg/util/rand). */
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
function generateName(base: string): string {
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
// Defaults (pkg/apis/core/v1/defaults.go and the admission plugins a default cluster runs).

function imagePullPolicy(image: string | undefined): string {
  if (!image) return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const tag = colon > lastSlash ? image.slice(colon + 1) : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: ContainerSpec): void {
  c.imagePullPolicy ??= imagePullPolicy(c.image);
  c.resources ??= {};
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
}

/** Defaults every pod spec gets, in pods and in pod templates alike. */
function defaultPodSpec(spec: PodSpec): void {
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  for (const c of spec.containers) defaultContainer(c);
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.restartPolicy ??= 'Always';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
}

/** What a pod (not a template) gets besides: service account, scheduling, tolerations. */
function defaultPodOnly(spec: PodSpec): void {
  defaultPodSpec(spec);
  spec.enableServiceLinks ??= true;
  spec.nodeName ||= nodeName;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  spec.serviceAccountName ??= (spec['serviceAccount'] as string | undefined) ?? 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.tolerations ??= [
    { effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300 },
    { effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300 },
  ];
}

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

function resourceName(kind: string): string {
  const info = kindInfo(kind);
  if (!info) return kind.toLowerCase();
  return info.group ? `${info.resource}.${info.group}` : info.resource;
}

/** Omit zero counts, as Go's `omitempty` does on status fields. */
function counts(fields: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== 0));
}

/** Resolve an int-or-percent (rolling update maxSurge), rounding up. */
function intOrPercent(v: unknown, total: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+%$/.test(v)) return Math.ceil((Number(v.slice(0, -1)) * total) / 100);
  return 0;
}

class Builder {
  readonly now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  #rv = 1;
  #ip = 0;
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

  /** Register an object under kind/namespace/name; false when the slot is taken. */
  register(obj: KubeObject): KubeObject | undefined {
    const key = this.#key(obj.kind, obj.metadata.namespace, obj.metadata.name);
    const existing = this.#registry.get(key);
    if (existing) return existing;
    this.#registry.set(key, obj);
    return undefined;
  }

  taken(kind: string, ns: string | undefined, name: string): boolean {
    return this.#registry.has(this.#key(kind, ns, name));
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
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    spec['strategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
    const template = spec.template!;
    defaultPodSpec(template.spec);
    d.metadata.annotations = { ...(d.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': '1' };
    this.stamp(d, true);
    this.world.workloads.push(d);

    const hash = templateHash(template);
    const replicas = spec.replicas;
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
    rs.spec.replicas ??= 1;
    defaultPodSpec(rs.spec.template!.spec);
    this.stamp(rs, true);
    this.world.workloads.push(rs);
    this.expandReplicaSet(rs);
  }

  statefulSet(ss: Workload): void {
    const spec = ss.spec;
    spec.replicas ??= 1;
    spec['podManagementPolicy'] ??= 'OrderedReady';
    spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
    spec.revisionHistoryLimit ??= 10;
    spec['persistentVolumeClaimRetentionPolicy'] ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
    const template = spec.template!;
    defaultPodSpec(template.spec);
    this.stamp(ss, true);
    this.world.workloads.push(ss);
    const revision = `${ss.metadata.name}-${templateHash(template, 'StatefulSet')}`;
    const replicas = spec.replicas;
    const serviceName = typeof spec['serviceName'] === 'string' && spec['serviceName'] ? spec['serviceName'] : undefined;
    for (let i = 0; i < replicas; i++) {
      const podName = `${ss.metadata.name}-${i}`;
      this.addControlledPod(
        ss,
        template,
        podName,
        {
          'apps.kubernetes.io/pod-index': String(i),
          'controller-revision-hash': revision,
          'statefulset.kubernetes.io/pod-name': podName,
        },
        { hostname: podName, ...(serviceName ? { subdomain: serviceName } : {}) },
      );
    }
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

  daemonSet(ds: Workload): void {
    const spec = ds.spec;
    spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } };
    spec.revisionHistoryLimit ??= 10;
    const template = spec.template!;
    defaultPodSpec(template.spec);
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
    spec['backoffLimit'] ??= 6;
    spec['completionMode'] ??= 'NonIndexed';
    spec['completions'] ??= 1;
    spec['parallelism'] ??= 1;
    spec['podReplacementPolicy'] ??= 'TerminatingOrFailed';
    spec['suspend'] ??= false;
    defaultPodSpec(template.spec);
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

/**
 * Check objects against each other and expand them into what a real cluster would hold:
 * namespaces (the four system ones always), defaults and apiserver metadata (uid,
 * resourceVersion, creationTimestamp, generation), a ReplicaSet per Deployment and pods per
 * ReplicaSet, StatefulSet, DaemonSet and Job, every pod scheduled on node `sandbox` and Running
 * with a unique 10.244.0.x IP. The input objects are not changed. Throws ManifestError naming
 * the object (its file and document when it came from parseManifests).
 */
export function buildWorld(objects: KubeObject[]): World {
  const b = new Builder();
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

/** The built-in world, parsed and built (fresh uids, names and times on every call). */
export function builtinWorld(): World {
  return buildWorld(parseManifests(builtinManifest, 'built-in world'));
}

/**
 * The built-in world (DESIGN.md, "Built-in sandbox world"), served when no --manifest is given.
 * It doubles as the example for people writing their own manifests.
 */
export const builtinManifest = `# The sandbox's built-in world: what \`podshell sandbox\` serves when no --manifest is given.
# A manifest of your own looks the same. Supported kinds:
#   v1                            Namespace, Pod
#   apps/v1                       Deployment, ReplicaSet, StatefulSet, DaemonSet
#   batch/v1                      Job
#   rbac.authorization.k8s.io/v1  Role, ClusterRole, RoleBinding, ClusterRoleBinding
#   sandbox.podshell.dev/v1       SandboxUser (the sandbox's own kind, see below)
# Namespaces default, kube-system, kube-public and kube-node-lease always exist; objects
# without a namespace go to default. Workloads get their ReplicaSets and pods as in a cluster.
#
# Pods are local processes. The image names the environment they see, nothing is pulled:
#   podshell.dev/full:latest        a shell, coreutils and tar
#   podshell.dev/slim:latest        a shell and coreutils, no tar
#   podshell.dev/distroless:latest  no shell, no coreutils, no tar

apiVersion: v1
kind: Namespace
metadata:
  name: restricted
---
apiVersion: v1
kind: Pod
metadata:
  name: demo
  namespace: default
  labels:
    app: demo
spec:
  containers:
    # Its main process says hello (see "kubectl logs demo") and then echoes whatever an attached
    # client types ("kubectl attach -i demo").
    - name: main
      image: podshell.dev/full:latest
      command: [sh, -c, 'echo "podshell sandbox: pod demo is running"; exec cat']
      stdin: true
---
# Three pods web-<hash>-<random>, each with containers app and sidecar; the annotation makes
# app the container kubectl (and podshell) pick when none is named.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels:
    app: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        kubectl.kubernetes.io/default-container: app
    spec:
      containers:
        - name: app
          image: podshell.dev/full:latest
        - name: sidecar
          image: podshell.dev/full:latest
---
apiVersion: v1
kind: Pod
metadata:
  name: slim
  namespace: default
spec:
  containers:
    - name: main
      image: podshell.dev/slim:latest
---
apiVersion: v1
kind: Pod
metadata:
  name: distroless
  namespace: default
spec:
  containers:
    - name: app
      image: podshell.dev/distroless:latest
---
apiVersion: v1
kind: Pod
metadata:
  name: vault
  namespace: restricted
spec:
  containers:
    - name: main
      image: podshell.dev/full:latest

# ---------------------------------------------------------------------------------------------
# Users. SandboxUser (apiVersion sandbox.podshell.dev/v1, cluster-scoped) is a user who can log in:
#   spec.tokens  bearer tokens that authenticate as this user ("Authorization: Bearer <token>")
#   spec.groups  the user's groups; members of system:masters may do anything
#   spec.uid     optional, reported as the user's uid
# Everyone authenticated is also in the group system:authenticated. What a user may do beyond
# that is up to the RBAC objects below, as in a cluster.
---
apiVersion: sandbox.podshell.dev/v1
kind: SandboxUser
metadata:
  name: admin
spec:
  groups: [system:masters]
  tokens: [admin-token]
---
apiVersion: sandbox.podshell.dev/v1
kind: SandboxUser
metadata:
  name: dev
spec:
  tokens: [dev-token]
---
apiVersion: sandbox.podshell.dev/v1
kind: SandboxUser
metadata:
  name: viewer
spec:
  tokens: [viewer-token]

# ---------------------------------------------------------------------------------------------
# RBAC. cluster-admin is bound to system:masters, as in every cluster.
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster-admin
rules:
  - apiGroups: ["*"]
    resources: ["*"]
    verbs: ["*"]
  - nonResourceURLs: ["*"]
    verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: cluster-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: system:masters
---
# dev: read pods and workloads, and exec/attach into pods, in namespace default only.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: dev
  namespace: default
rules:
  - apiGroups: [""]
    resources: [pods, pods/log]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [pods/exec, pods/attach]
    verbs: [get, create]
  - apiGroups: [apps]
    resources: [deployments, replicasets, statefulsets]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: dev
  namespace: default
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: dev
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: dev
---
# Namespaces are cluster-scoped, so seeing them takes a ClusterRole.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: namespace-reader
rules:
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: namespace-readers
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: namespace-reader
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: dev
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: viewer
---
# viewer: read pods, their logs and workloads in every namespace; no exec, no attach.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: viewer
rules:
  - apiGroups: [""]
    resources: [pods, pods/log]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [deployments, replicasets, statefulsets, daemonsets]
    verbs: [get, list, watch]
  - apiGroups: [batch]
    resources: [jobs]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: viewer
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: viewer
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: viewer
`;
