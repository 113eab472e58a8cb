// Which pod and container a command runs in, decided as kubectl's exec and attach decide it
// (docs/protocol.md, "What kubectl does around the protocol"). The choosing, defaulting and validating is here;
// the REST calls are KubeClient's, reached through the small TargetSource interface.

import { PodshellError } from '../protocol/errors.ts';
import { TargetError } from './errors.ts';
import type { LabelSelector, Pod } from './types.ts';

/** What to run in. */
export type Target =
  /** `POD`, or `TYPE/NAME`: kubectl's "most active" pod of a workload or service. */
  | string
  | { pod: string }
  /** Every pod matching the label selector, sorted by name. */
  | { selector: string; allPods?: true }
  /** Every pod of `TYPE/NAME`, sorted by name. */
  | { workload: string; allPods: true };

export interface ResolvedTarget {
  namespace: string;
  pod: string;
  container: string;
  /**
   * kubectl's notice `Defaulted container "a" out of: a, b, x (ephem), y (init)`, set when no
   * container was named, no default-container annotation chose one, and the pod has several
   * containers (or any init or ephemeral container).
   */
  defaultedNotice?: string;
}

/** A kind of object `TYPE/NAME` may name. */
export interface ResourceKind {
  /** Plural resource name, e.g. `deployments`. */
  resource: string;
  /** API group; '' for the core group. */
  group: string;
  version: string;
  kind: string;
  /** Every way to write TYPE (lower case): singular, plural, short names. */
  names: readonly string[];
  /** Where the object keeps its pod selector. */
  selector: 'pod' | 'labelSelector' | 'map';
}

export const resourceKinds: readonly ResourceKind[] = [
  { resource: 'pods', group: '', version: 'v1', kind: 'Pod', names: ['pod', 'pods', 'po'], selector: 'pod' },
  { resource: 'deployments', group: 'apps', version: 'v1', kind: 'Deployment', names: ['deployment', 'deployments', 'deploy'], selector: 'labelSelector' },
  { resource: 'replicasets', group: 'apps', version: 'v1', kind: 'ReplicaSet', names: ['replicaset', 'replicasets', 'rs'], selector: 'labelSelector' },
  { resource: 'statefulsets', group: 'apps', version: 'v1', kind: 'StatefulSet', names: ['statefulset', 'statefulsets', 'sts'], selector: 'labelSelector' },
  { resource: 'daemonsets', group: 'apps', version: 'v1', kind: 'DaemonSet', names: ['daemonset', 'daemonsets', 'ds'], selector: 'labelSelector' },
  { resource: 'jobs', group: 'batch', version: 'v1', kind: 'Job', names: ['job', 'jobs'], selector: 'labelSelector' },
  { resource: 'services', group: '', version: 'v1', kind: 'Service', names: ['service', 'services', 'svc'], selector: 'map' },
  { resource: 'replicationcontrollers', group: '', version: 'v1', kind: 'ReplicationController', names: ['replicationcontroller', 'replicationcontrollers', 'rc'], selector: 'map' },
];

/** `deployments.apps/web` and the like: the kind and the name. */
export interface TypeName {
  kind: ResourceKind;
  name: string;
}

/** How kubectl writes an object in messages: `deployments.apps/web`, `pods/demo`. */
export function describeObject(kind: ResourceKind, name: string): string {
  return `${kind.resource}${kind.group ? `.${kind.group}` : ''}/${name}`;
}

/**
 * Parse `POD` or `TYPE/NAME`. TYPE is case-insensitive and may carry its group (`deployments.apps`)
 * or version and group (`deployments.v1.apps`). A bare name is a pod.
 */
export function parseTarget(text: string): TypeName {
  const parts = text.split('/');
  if (parts.length === 1) {
    if (!text) throw new TargetError('pod, type/name or --filename must be specified');
    return { kind: resourceKinds[0]!, name: text };
  }
  const [type, name] = parts;
  // kubectl's resource builder wording.
  if (parts.length !== 2 || !type || !name) throw new TargetError(`arguments in resource/name form must have a single resource and name: "${text}"`);
  const lower = type.toLowerCase();
  const dot = lower.indexOf('.');
  const base = dot === -1 ? lower : lower.slice(0, dot);
  const qualifier = dot === -1 ? undefined : lower.slice(dot + 1);
  const kind = resourceKinds.find(
    (k) => k.names.includes(base) && (qualifier === undefined || (k.group !== '' && (qualifier === k.group || qualifier === `${k.version}.${k.group}`))),
  );
  if (!kind) {
    const shortNames = resourceKinds.flatMap((k) => k.names.filter((n) => n !== k.resource && n !== k.kind.toLowerCase())).join(', ');
    throw new TargetError(
      `unsupported resource type "${type}" in "${text}": expected one of ${resourceKinds.map((k) => k.resource).join(', ')} (or a short name: ${shortNames})`,
    );
  }
  return { kind, name };
}

// ---------------------------------------------------------------------------------------------
// Selectors.

/** A label selector object as a selector string (apimachinery LabelSelectorAsSelector().String()). */
export function labelSelectorString(selector: LabelSelector): string {
  const terms: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) terms.push({ key, text: `${key}=${value}` });
  for (const req of selector.matchExpressions ?? []) {
    const values = [...(req.values ?? [])].sort();
    switch (req.operator) {
      case 'In':
        terms.push({ key: req.key, text: `${req.key} in (${values.join(',')})` });
        break;
      case 'NotIn':
        terms.push({ key: req.key, text: `${req.key} notin (${values.join(',')})` });
        break;
      case 'Exists':
        terms.push({ key: req.key, text: req.key });
        break;
      case 'DoesNotExist':
        terms.push({ key: req.key, text: `!${req.key}` });
        break;
      default:
        throw new TargetError(`"${req.operator}" is not a valid label selector operator`);
    }
  }
  // Requirements are sorted by key, as labels.Selector.String() writes them.
  return terms
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((t) => t.text)
    .join(',');
}

/** A service's (or replication controller's) `spec.selector` map as a selector string. */
export function mapSelectorString(selector: Record<string, string>): string {
  return labelSelectorString({ matchLabels: selector });
}

// ---------------------------------------------------------------------------------------------
// Choosing among pods.

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function readySince(pod: Pod): number {
  const condition = pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
  return timestamp(condition?.lastTransitionTime);
}

/** Milliseconds since the epoch; 0 for none ("zero time"). */
function timestamp(text: string | undefined): number {
  const ms = text ? Date.parse(text) : NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

function maxRestarts(pod: Pod): number {
  return Math.max(0, ...(pod.status?.containerStatuses ?? []).map((s) => s.restartCount ?? 0));
}

const phaseRank: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** Go's afterOrZero(t1, t2) turned around: is `a` "more active" by time? Zero times count as least. */
function earlierOrSet(a: number, b: number): boolean {
  if (a === 0 || b === 0) return b === 0;
  return a < b;
}

/**
 * Sort comparator: negative when `a` is more active than `b` (kubectl sorts by
 * sort.Reverse(podutils.ActivePods)): assigned to a node, then Running > Unknown > Pending, then
 * ready, then not being deleted, then ready for longer, then fewer restarts, then older. Ties
 * go by name, so the choice is stable.
 */
export function compareActivity(a: Pod, b: Pod): number {
  const nodeA = a.spec.nodeName ?? '';
  const nodeB = b.spec.nodeName ?? '';
  if (nodeA !== nodeB && (nodeA === '' || nodeB === '')) return nodeA === '' ? 1 : -1;
  const rankA = phaseRank[a.status?.phase ?? ''] ?? 0;
  const rankB = phaseRank[b.status?.phase ?? ''] ?? 0;
  if (rankA !== rankB) return rankB - rankA;
  const readyA = isReady(a);
  const readyB = isReady(b);
  if (readyA !== readyB) return readyA ? -1 : 1;
  const deletingA = Boolean(a.metadata.deletionTimestamp);
  const deletingB = Boolean(b.metadata.deletionTimestamp);
  if (deletingA !== deletingB) return deletingA ? 1 : -1;
  if (readyA && readyB) {
    const sinceA = readySince(a);
    const sinceB = readySince(b);
    if (sinceA !== sinceB) return earlierOrSet(sinceA, sinceB) ? -1 : 1;
  }
  const restartsA = maxRestarts(a);
  const restartsB = maxRestarts(b);
  if (restartsA !== restartsB) return restartsA - restartsB;
  const createdA = timestamp(a.metadata.creationTimestamp);
  const createdB = timestamp(b.metadata.creationTimestamp);
  if (createdA !== createdB) return earlierOrSet(createdA, createdB) ? -1 : 1;
  return compareNames(a, b);
}

export function compareNames(a: Pod, b: Pod): number {
  const na = a.metadata.name;
  const nb = b.metadata.name;
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/** The pod kubectl would pick among `pods`: the most active one. */
export function mostActivePod(pods: readonly Pod[]): Pod | undefined {
  return [...pods].sort(compareActivity)[0];
}

// ---------------------------------------------------------------------------------------------
// Containers.

export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** podcmd.AllContainerNames: `a, b, x (ephem), y (init)`. */
export function allContainerNames(pod: Pod): string {
  return [
    ...pod.spec.containers.map((c) => c.name),
    ...(pod.spec.ephemeralContainers ?? []).map((c) => `${c.name} (ephem)`),
    ...(pod.spec.initContainers ?? []).map((c) => `${c.name} (init)`),
  ].join(', ');
}

function hasContainer(pod: Pod, name: string): boolean {
  return [pod.spec.containers, pod.spec.initContainers ?? [], pod.spec.ephemeralContainers ?? []].some((list) => list.some((c) => c.name === name));
}

/**
 * The container to use in `pod`: the named one (regular, init or ephemeral), else the one the
 * `kubectl.kubernetes.io/default-container` annotation names, else the first, with kubectl's
 * "Defaulted container" notice when that was a choice among several.
 */
export function chooseContainer(pod: Pod, requested?: string): { container: string; defaultedNotice?: string } {
  const invalid = (name: string) => new TargetError(`container ${name} is not valid for pod ${pod.metadata.name} out of: ${allContainerNames(pod)}`);
  if (requested) {
    if (!hasContainer(pod, requested)) throw invalid(requested);
    return { container: requested };
  }
  const annotated = pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated) {
    if (!hasContainer(pod, annotated)) throw invalid(annotated);
    return { container: annotated };
  }
  const first = pod.spec.containers[0];
  if (!first) throw new TargetError(`pod ${pod.metadata.namespace ?? ''}/${pod.metadata.name} does not have any containers`);
  const several = pod.spec.containers.length > 1 || (pod.spec.initContainers?.length ?? 0) > 0 || (pod.spec.ephemeralContainers?.length ?? 0) > 0;
  return several ? { container: first.name, defaultedNotice: `Defaulted container "${first.name}" out of: ${allContainerNames(pod)}` } : { container: first.name };
}

/** kubectl's exec and attach refuse completed pods before they dial. */
export function checkNotCompleted(pod: Pod, verb: 'exec' | 'attach' = 'exec'): void {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw new TargetError(
      verb === 'exec'
        ? `cannot exec into a container in a completed pod; current phase is ${phase}`
        : `cannot attach a container in a completed pod; current phase is ${phase}`,
    );
  }
}

/** One resolved target for `pod`. */
export function resolvePod(pod: Pod, namespace: string, opts: { container?: string; verb?: 'exec' | 'attach' }): ResolvedTarget {
  checkNotCompleted(pod, opts.verb);
  const { container, defaultedNotice } = chooseContainer(pod, opts.container);
  return { namespace: pod.metadata.namespace ?? namespace, pod: pod.metadata.name, container, ...(defaultedNotice ? { defaultedNotice } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Resolution: the policy, over the REST calls of a TargetSource (a KubeClient).

/** The REST calls target resolution needs (KubeClient implements them). */
export interface TargetSource {
  /** The namespace used when none is given. */
  readonly namespace: string;
  getPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod>;
  listPods(namespace: string, opts: { labelSelector?: string; signal?: AbortSignal }): Promise<Pod[]>;
  /** The `spec.selector` of a workload or service (unknown shape; absent when it has none). */
  getSelector(kind: ResourceKind, name: string, namespace: string, signal?: AbortSignal): Promise<unknown>;
}

export interface ResolveOptions {
  /** Default: the client's namespace. */
  namespace?: string;
  /** kubectl -c. */
  container?: string;
  /** Which kubectl wording to use for completed pods. Default: 'exec'. */
  verb?: 'exec' | 'attach';
  signal?: AbortSignal;
}

type PodOptions = { container?: string; verb: 'exec' | 'attach' };

/**
 * Which pods and container a command should run in, as kubectl picks them. `POD` and
 * `TYPE/NAME` give one target; `{ selector }` and `{ workload, allPods }` give every matching pod
 * that has not completed, sorted by name.
 * @throws TargetError; ApiStatusError (e.g. ERR_NOT_FOUND for an unknown pod or workload)
 */
export async function resolveTargets(source: TargetSource, target: Target, opts: ResolveOptions = {}): Promise<ResolvedTarget[]> {
  const namespace = opts.namespace || source.namespace;
  const podOpts: PodOptions = { ...(opts.container ? { container: opts.container } : {}), verb: opts.verb ?? 'exec' };
  const signal = opts.signal;
  if (typeof target !== 'string' && 'pod' in target) return [resolvePod(await source.getPod(namespace, target.pod, signal), namespace, podOpts)];
  if (typeof target === 'string') {
    const parsed = parseTarget(target);
    if (parsed.kind.selector === 'pod') return [resolvePod(await source.getPod(namespace, parsed.name, signal), namespace, podOpts)];
    const { pods, describe } = await podsOf(source, parsed.kind, parsed.name, namespace, signal);
    const pod = mostActivePod(pods);
    if (!pod) throw new TargetError(`no pods found for ${describe}`);
    return [resolvePod(pod, namespace, podOpts)];
  }
  if ('selector' in target) {
    const pods = await source.listPods(namespace, { labelSelector: target.selector, ...(signal ? { signal } : {}) });
    return resolveAll(pods, namespace, podOpts, `selector "${target.selector}" in namespace "${namespace}"`);
  }
  const parsed = parseTarget(target.workload);
  if (parsed.kind.selector === 'pod') return [resolvePod(await source.getPod(namespace, parsed.name, signal), namespace, podOpts)];
  const { pods, describe } = await podsOf(source, parsed.kind, parsed.name, namespace, signal);
  return resolveAll(pods, namespace, podOpts, describe);
}

/**
 * The one pod and container of a session (exec, attach, a copy's commands). `{ pod }` with a
 * container named is used as it is, with no lookup (the server itself refuses an unknown
 * container or a pod that is not running); anything else is resolved as kubectl resolves it.
 * @throws PodshellError ERR_USAGE when the target matches several pods; TargetError; ApiStatusError
 */
export async function resolveSessionTarget(source: TargetSource, target: Target, opts: ResolveOptions = {}): Promise<ResolvedTarget> {
  if (typeof target === 'object' && 'pod' in target && opts.container) {
    return { namespace: opts.namespace || source.namespace, pod: target.pod, container: opts.container };
  }
  const targets = await resolveTargets(source, target, opts);
  const [first] = targets;
  if (!first) throw new TargetError('the target matched no pod');
  if (targets.length > 1) {
    throw new PodshellError(
      'ERR_USAGE',
      `a session runs in one pod, and the target matched ${targets.length} (${targets.map((t) => t.pod).join(', ')}): resolve them with cluster.client.resolveTargets() and start one session per pod`,
    );
  }
  return first;
}

function resolveAll(pods: Pod[], namespace: string, podOpts: PodOptions, describe: string): ResolvedTarget[] {
  if (pods.length === 0) throw new TargetError(`no pods found for ${describe}`);
  const running = pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  if (running.length === 0) {
    throw new TargetError(`no pods to ${podOpts.verb === 'exec' ? 'exec into' : 'attach to'} for ${describe}: all ${pods.length} matching pods have completed`);
  }
  return running.sort(compareNames).map((pod) => resolvePod(pod, namespace, podOpts));
}

/** The pods of a workload or service, by its selector. */
export async function podsOf(source: TargetSource, kind: ResourceKind, name: string, namespace: string, signal: AbortSignal | undefined): Promise<{ pods: Pod[]; describe: string }> {
  const raw = await source.getSelector(kind, name, namespace, signal);
  let selector: string;
  if (kind.selector === 'map') {
    const map = (raw ?? {}) as Record<string, string>;
    if (Object.keys(map).length === 0) {
      throw new TargetError(kind.kind === 'Service' ? `invalid service '${name}': Service is defined without a selector` : `${describeObject(kind, name)} has no pod selector`);
    }
    selector = mapSelectorString(map);
  } else {
    const ls = (raw ?? {}) as LabelSelector;
    selector = labelSelectorString(ls);
    if (!selector) throw new TargetError(`${describeObject(kind, name)} has no pod selector`);
  }
  const pods = await source.listPods(namespace, { labelSelector: selector, ...(signal ? { signal } : {}) });
  return { pods, describe: `${describeObject(kind, name)} in namespace "${namespace}" (selector "${selector}")` };
}
