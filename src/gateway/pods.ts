// What the gateway tells a client about a pod (docs/web.md, "Clusters, namespaces and pods"):
// a summary as `kubectl get pods` shows it, and the checks that keep names from the URL of a
// request from becoming anything but one name in a path to the API server.

import { DEFAULT_CONTAINER_ANNOTATION, type Pod } from '../lib/index.ts';
import type { ContainerSummary, PodSummary } from '../protocol/webapi.ts';
import { GatewayError } from './errors.ts';

export type { ContainerSummary, PodSummary } from '../protocol/webapi.ts';

interface ContainerState {
  waiting?: { reason?: string };
  running?: unknown;
  terminated?: { reason?: string; exitCode?: number; signal?: number };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stateOf(value: unknown): ContainerState {
  if (!isObject(value)) return {};
  const out: ContainerState = {};
  const w = value['waiting'];
  if (isObject(w)) out.waiting = typeof w['reason'] === 'string' ? { reason: w['reason'] } : {};
  if (isObject(value['running'])) out.running = value['running'];
  const t = value['terminated'];
  if (isObject(t)) {
    out.terminated = {
      ...(typeof t['reason'] === 'string' ? { reason: t['reason'] } : {}),
      ...(typeof t['exitCode'] === 'number' ? { exitCode: t['exitCode'] } : {}),
      ...(typeof t['signal'] === 'number' ? { signal: t['signal'] } : {}),
    };
  }
  return out;
}

/** "Signal:9" / "ExitCode:1" for a terminated container without a reason, as kubectl writes it. */
function terminatedWithoutReason(t: { exitCode?: number; signal?: number }): string {
  return t.signal ? `Signal:${t.signal}` : `ExitCode:${t.exitCode ?? 0}`;
}

/**
 * kubectl's STATUS column (printPod), without the parts that need more than the pod: init
 * containers first, then the last container with something to say, then Terminating.
 */
export function podPhase(pod: Pod): string {
  const status = pod.status ?? {};
  let reason = (typeof status['reason'] === 'string' && status['reason']) || status.phase || 'Unknown';

  const initSpecs = pod.spec.initContainers ?? [];
  const initStatuses = status.initContainerStatuses ?? [];
  let initializing = false;
  for (const [i, cs] of initStatuses.entries()) {
    const spec = initSpecs.find((c) => c.name === cs.name);
    const sidecar = spec?.['restartPolicy'] === 'Always';
    const state = stateOf(cs['state']);
    if (state.terminated && state.terminated.exitCode === 0) continue;
    if (sidecar && cs['started'] === true) continue;
    if (state.terminated) {
      reason = state.terminated.reason ? `Init:${state.terminated.reason}` : `Init:${terminatedWithoutReason(state.terminated)}`;
    } else if (state.waiting?.reason && state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${state.waiting.reason}`;
    } else {
      reason = `Init:${i}/${initSpecs.length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing) {
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i]!;
      const state = stateOf(cs['state']);
      if (state.waiting?.reason) reason = state.waiting.reason;
      else if (state.terminated?.reason) reason = state.terminated.reason;
      else if (state.terminated) reason = terminatedWithoutReason(state.terminated);
      else if (state.running && cs.ready === true) hasRunning = true;
    }
    // A pod whose containers partly completed and partly still run.
    if (reason === 'Completed' && hasRunning) {
      const ready = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      reason = ready ? 'Running' : 'NotReady';
    }
  }

  if (pod.metadata.deletionTimestamp) reason = status['reason'] === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

function stateName(value: unknown): ContainerSummary['state'] {
  const state = stateOf(value);
  return state.running ? 'running' : state.terminated ? 'terminated' : state.waiting ? 'waiting' : 'unknown';
}

/** The summary of a pod a client lists (docs/web.md). */
export function podSummary(pod: Pod): PodSummary {
  const statuses = pod.status?.containerStatuses ?? [];
  const byName = new Map(statuses.map((cs) => [cs.name, cs]));
  const containers: ContainerSummary[] = pod.spec.containers.map((c) => {
    const cs = byName.get(c.name);
    return { name: c.name, ready: cs?.ready === true, state: stateName(cs?.['state']), image: typeof c.image === 'string' ? c.image : '' };
  });
  // Ephemeral (debug) containers: listed after the others, never counted as ready, never the default.
  const ephemeralStatuses = pod.status?.['ephemeralContainerStatuses'];
  const ephemeralByName = new Map<string, unknown>();
  if (Array.isArray(ephemeralStatuses)) {
    for (const cs of ephemeralStatuses) if (isObject(cs) && typeof cs['name'] === 'string') ephemeralByName.set(cs['name'], cs['state']);
  }
  const ephemeral: ContainerSummary[] = (Array.isArray(pod.spec.ephemeralContainers) ? pod.spec.ephemeralContainers : [])
    .filter((c) => isObject(c) && typeof c.name === 'string')
    .map((c) => {
      const target = c['targetContainerName'];
      return {
        name: c.name,
        ready: false,
        state: stateName(ephemeralByName.get(c.name)),
        image: typeof c.image === 'string' ? c.image : '',
        ephemeral: true as const,
        ...(typeof target === 'string' && target !== '' ? { target } : {}),
      };
    });
  let restarts = 0;
  for (const cs of [...statuses, ...(pod.status?.initContainerStatuses ?? [])]) {
    if (typeof cs.restartCount === 'number' && Number.isFinite(cs.restartCount)) restarts += cs.restartCount;
  }
  const annotated = pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  const defaultContainer = containers.find((c) => c.name === annotated)?.name ?? containers[0]?.name ?? '';
  return {
    name: pod.metadata.name,
    phase: podPhase(pod),
    ready: `${containers.filter((c) => c.ready).length}/${containers.length}`,
    restarts,
    created: typeof pod.metadata.creationTimestamp === 'string' ? pod.metadata.creationTimestamp : '',
    containers: [...containers, ...ephemeral],
    defaultContainer,
  };
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A name shown in a message: quoted as JSON, cut to 100 characters. */
function shown(name: string): string {
  return JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name);
}

/**
 * A namespace name is a DNS-1123 label (at most 63 characters of a-z, 0-9 and '-', alphanumeric
 * at both ends), as the API server requires.
 * @throws GatewayError ERR_GATEWAY_BAD_NAME (400)
 */
export function checkNamespaceName(name: string): string {
  if (name.length <= 63 && DNS1123_LABEL.test(name)) return name;
  throw new GatewayError('ERR_GATEWAY_BAD_NAME', 400, `invalid namespace name ${shown(name)}: a namespace is a DNS-1123 label (at most 63 characters: lower-case letters, digits and '-', starting and ending with a letter or digit)`);
}

/**
 * A pod name is a DNS-1123 subdomain (at most 253 characters; labels of a-z, 0-9 and '-' joined
 * by '.'), as the API server requires. `..`, '/' and '%' never pass.
 * @throws GatewayError ERR_GATEWAY_BAD_NAME (400)
 */
export function checkPodName(name: string): string {
  if (name.length <= 253 && DNS1123_SUBDOMAIN.test(name)) return name;
  throw new GatewayError('ERR_GATEWAY_BAD_NAME', 400, `invalid pod name ${shown(name)}: a pod name is a DNS-1123 subdomain (at most 253 characters: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)`);
}

/**
 * A container name is a DNS-1123 label, as the API server requires.
 * @throws GatewayError ERR_GATEWAY_BAD_NAME (400)
 */
export function checkContainerName(name: string): string {
  if (name.length <= 63 && DNS1123_LABEL.test(name)) return name;
  throw new GatewayError('ERR_GATEWAY_BAD_NAME', 400, `invalid container name ${shown(name)}: a container name is a DNS-1123 label (at most 63 characters: lower-case letters, digits and '-', starting and ending with a letter or digit)`);
}
