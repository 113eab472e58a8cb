// Debug (ephemeral) containers, as `kubectl debug POD --image …` adds them: a strategic merge
// PATCH of the pod's `ephemeralcontainers` subresource names the new container; a watch of the
// pod waits until its status in `status.ephemeralContainerStatuses` says running; then an
// attach to it gives the session. With `targetContainer` the container shares that container's
// process namespace, so its processes, and their files under /proc/<pid>/root, are visible.

import { randomInt } from 'node:crypto';
import { ApiStatusError, listPodsAt, TargetError, watchPods, type KubeClient, type Pod } from '../kube/index.ts';
import { PodshellError } from '../protocol/index.ts';
import { AbortError, UsageError } from './errors.ts';
import { attach } from './run.ts';
import type { ExecSession, KeepaliveOptions } from './session.ts';

export interface DebugOptions {
  /** The pod's name (`pod/NAME` is accepted too). */
  target: string;
  /** Default: the kubeconfig context's namespace. */
  namespace?: string;
  /** The debug container's image, e.g. `busybox`. */
  image: string;
  /** Share this container's process namespace (kubectl's `--target`). */
  targetContainer?: string;
  /** The command to run; default: the image's entrypoint. */
  command?: readonly string[];
  /** Keep stdin open and connect it. [default false] */
  stdin?: boolean;
  /**
   * With `stdin`: the container's stdin closes when the first attach to it ends, so a shell
   * there ends with the session instead of running on. `kubectl debug -i` leaves it unset.
   * [default false]
   */
  stdinOnce?: boolean;
  /** Run on a terminal. [default false] */
  tty?: boolean;
  /** The container's name. [default `debugger-` and 5 random lowercase letters and digits] */
  name?: string;
  /** Initial terminal size (tty only). */
  size?: { cols: number; rows: number };
  /** How long to wait for the container to run. [default 60000 ms; 0: no limit] */
  timeoutMs?: number;
  keepalive?: KeepaliveOptions;
  /** Aborting stops the wait (the container stays: ephemeral containers cannot be removed) or ends the session. */
  signal?: AbortSignal;
}

export interface DebugContainer {
  readonly namespace: string;
  readonly pod: string;
  /** The ephemeral container's name. */
  readonly container: string;
}

export interface DebugSession extends DebugContainer {
  /** Attached to the debug container's main process. */
  readonly session: ExecSession;
}

/** The cluster does not serve `pods/ephemeralcontainers` (Kubernetes < 1.23, or the feature off). Code `ERR_EPHEMERAL_DISABLED`. */
export class EphemeralContainersDisabledError extends PodshellError {
  constructor(serverMessage: string, options?: { cause?: unknown }) {
    super('ERR_EPHEMERAL_DISABLED', `ephemeral containers are disabled for this cluster (error from server: ${JSON.stringify(serverMessage)})`, options);
    this.name = 'EphemeralContainersDisabledError';
  }
}

/** The debug container did not start in time. `reason` and `detail` are its waiting state's, when it had one. Code `ERR_DEBUG_NOT_STARTED`. */
export class DebugContainerNotStartedError extends PodshellError {
  readonly container: string;
  readonly reason: string | undefined;
  readonly detail: string | undefined;
  constructor(message: string, container: string, reason?: string, detail?: string) {
    super('ERR_DEBUG_NOT_STARTED', message);
    this.name = 'DebugContainerNotStartedError';
    this.container = container;
    this.reason = reason;
    this.detail = detail;
  }
}

/** The debug container ended before podshell could attach to it. Code `ERR_DEBUG_EXITED`. */
export class DebugContainerExitedError extends PodshellError {
  readonly container: string;
  readonly exitCode: number;
  readonly reason: string | undefined;
  constructor(message: string, container: string, exitCode: number, reason?: string) {
    super('ERR_DEBUG_EXITED', message);
    this.name = 'DebugContainerExitedError';
    this.container = container;
    this.exitCode = exitCode;
    this.reason = reason;
  }
}

/** Waiting reasons that will not go away by waiting (kubectl stops on the image ones too). */
const HOPELESS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError', 'CreateContainerError']);

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** `debugger-` and 5 random characters, as kubectl names them. */
export function debugContainerName(): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += NAME_ALPHABET[randomInt(NAME_ALPHABET.length)];
  return `debugger-${suffix}`;
}

const enc = encodeURIComponent;

function checkOptions(options: DebugOptions): { pod: string; namespace?: string } {
  if (typeof options !== 'object' || options === null) throw new UsageError('debug() needs options: { target, image }');
  if (typeof options.target !== 'string' || options.target === '') throw new UsageError('debug() needs target: the pod\'s name');
  const pod = options.target.replace(/^(pods?|po)\//, '');
  if (pod.includes('/')) throw new UsageError(`debug() targets a pod, not ${JSON.stringify(options.target)}: name the pod`);
  if (typeof options.image !== 'string' || options.image.trim() === '') throw new UsageError('debug() needs image: the debug container\'s image, e.g. "busybox"');
  if (options.command !== undefined && (!Array.isArray(options.command) || !options.command.every((c) => typeof c === 'string'))) {
    throw new UsageError('debug() command must be an array of strings');
  }
  return { pod, ...(options.namespace ? { namespace: options.namespace } : {}) };
}

/**
 * Adds the ephemeral container to the pod (kubectl's strategic merge patch) and returns at once.
 * @throws EphemeralContainersDisabledError; TargetError when the name is taken; ApiStatusError (ERR_NOT_FOUND for the pod,
 * ERR_FORBIDDEN without `patch` on pods/ephemeralcontainers, 422 for an invalid container, e.g. a
 * name already used or an unknown target); UsageError
 */
export async function addDebugContainer(client: KubeClient, options: DebugOptions): Promise<DebugContainer> {
  const { pod } = checkOptions(options);
  const namespace = options.namespace || client.namespace;
  const name = options.name || debugContainerName();
  const container: Record<string, unknown> = {
    name,
    image: options.image,
    ...(options.command?.length ? { command: [...options.command] } : {}),
    resources: {},
    terminationMessagePolicy: 'File',
    ...(options.stdin ? { stdin: true } : {}),
    ...(options.stdin && options.stdinOnce ? { stdinOnce: true } : {}),
    ...(options.tty ? { tty: true } : {}),
    ...(options.targetContainer ? { targetContainerName: options.targetContainer } : {}),
  };
  // As kubectl reads the pod first: a name in use would otherwise merge into that container.
  const current = await client.getPod(namespace, pod, options.signal);
  const spec = current.spec;
  if ([...spec.containers, ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])].some((c) => c.name === name)) {
    throw new TargetError(`a container named "${name}" already exists in pod "${pod}"; choose another name`);
  }
  const path = `/api/v1/namespaces/${enc(namespace)}/pods/${enc(pod)}/ephemeralcontainers`;
  try {
    await client.request({
      method: 'PATCH',
      path,
      body: { spec: { ephemeralContainers: [container] } },
      contentType: 'application/strategic-merge-patch+json',
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    // A pod that does not exist is a NotFound naming it; a subresource the server does not
    // know is a NotFound naming nothing.
    if (err instanceof ApiStatusError && err.statusCode === 404 && !(err.status?.details as { name?: string } | undefined)?.name) {
      throw new EphemeralContainersDisabledError(err.message, { cause: err });
    }
    throw err;
  }
  return { namespace, pod, container: name };
}

type State = { running?: unknown; terminated?: { exitCode?: number; reason?: string; message?: string }; waiting?: { reason?: string; message?: string } };

function stateOf(pod: Pod, name: string): State | undefined {
  const statuses = pod.status?.['ephemeralContainerStatuses'];
  if (!Array.isArray(statuses)) return undefined;
  const status = statuses.find((s: unknown) => typeof s === 'object' && s !== null && (s as { name?: unknown }).name === name) as { state?: State } | undefined;
  return status?.state;
}

/**
 * Lists the pod, then watches it from the list's resourceVersion (listed again when the server
 * ends the watch or answers 410), until `judge` returns a value for the container's state.
 */
async function watchState<T>(client: KubeClient, target: DebugContainer, judge: (state: State | undefined) => T | undefined, signal: AbortSignal): Promise<T> {
  const { namespace, pod, container } = target;
  const fieldSelector = `metadata.name=${pod}`;
  for (;;) {
    // A list, not a GET: its resourceVersion is the newest, which a watch can always start from.
    const listing = await listPodsAt(client, namespace, signal, { fieldSelector });
    const found = listing.pods.find((p) => p.metadata.name === pod);
    if (!found) throw new TargetError(`pods "${pod}" not found`);
    const first = judge(stateOf(found, container));
    if (first !== undefined) return first;
    try {
      for await (const event of watchPods(client, namespace, { resourceVersion: listing.resourceVersion, fieldSelector, signal })) {
        if (event.type === 'DELETED') throw new TargetError(`pod "${pod}" was deleted while podshell waited for its debug container "${container}"`);
        if (event.type === 'BOOKMARK') continue;
        const value = judge(stateOf(event.pod, container));
        if (value !== undefined) return value;
      }
    } catch (err) {
      if (!(err instanceof ApiStatusError && err.statusCode === 410)) throw err;
    }
  }
}

/** Runs `body` with a signal that aborts on `signal` or after `timeoutMs`; `onTimeout` makes the error then. */
async function withTimeout<T>(timeoutMs: number, signal: AbortSignal | undefined, onTimeout: () => Error, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const control = new AbortController();
  const timedOut = new Error('timed out');
  const timer = timeoutMs > 0 ? setTimeout(() => control.abort(timedOut), timeoutMs) : undefined;
  const onAbort = () => control.abort(signal!.reason);
  signal?.throwIfAborted();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await body(control.signal);
  } catch (err) {
    if (control.signal.aborted && control.signal.reason === timedOut) throw onTimeout();
    if (control.signal.aborted) throw new AbortError(control.signal.reason);
    throw err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Waits until the pod's ephemeral container runs, with a watch of the pod.
 * @throws DebugContainerNotStartedError (with the waiting state's reason and message) after
 * `timeoutMs` (default 60000; 0: no limit) or at once for a reason that waiting will not cure
 * (ErrImagePull, ImagePullBackOff…); DebugContainerExitedError when it ended first; AbortError
 */
export function waitForDebugContainer(client: KubeClient, target: DebugContainer, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const { pod, container, namespace } = target;
  const timeoutMs = options.timeoutMs ?? 60_000;
  let last: State | undefined;
  const judge = (state: State | undefined): true | undefined => {
    last = state ?? last;
    if (!state) return undefined;
    if (state.running) return true;
    if (state.terminated) {
      const t = state.terminated;
      const code = typeof t.exitCode === 'number' ? t.exitCode : 0;
      throw new DebugContainerExitedError(
        `debug container "${container}" in pod "${pod}" exited with code ${code}${t.reason ? ` (${t.reason})` : ''} before it could be attached to; see its output with: kubectl logs -n ${namespace} ${pod} -c ${container}`,
        container,
        code,
        t.reason,
      );
    }
    if (state.waiting?.reason && HOPELESS.has(state.waiting.reason)) throw notStarted(`debug container "${container}" in pod "${pod}" cannot start`, container, state);
    return undefined;
  };
  return withTimeout(
    timeoutMs,
    options.signal,
    () => notStarted(`debug container "${container}" in pod "${pod}" did not start within ${timeoutMs} ms`, container, last),
    async (signal) => {
      await watchState(client, target, judge, signal);
    },
  );
}

/**
 * Waits until the pod's ephemeral container has terminated; its exit code. After an attach
 * ends, the status may take a moment to say so.
 * @throws PodshellError ERR_TIMEOUT after `timeoutMs` (default 30000; 0: no limit); AbortError
 */
export function waitForDebugExit(client: KubeClient, target: DebugContainer, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return withTimeout(
    timeoutMs,
    options.signal,
    () => new PodshellError('ERR_TIMEOUT', `debug container "${target.container}" in pod "${target.pod}" had not terminated after ${timeoutMs} ms`),
    (signal) => watchState(client, target, (state) => (state?.terminated ? (typeof state.terminated.exitCode === 'number' ? state.terminated.exitCode : 0) : undefined), signal),
  );
}

function notStarted(prefix: string, container: string, state: State | undefined): DebugContainerNotStartedError {
  const reason = state?.waiting?.reason;
  const detail = state?.waiting?.message;
  const why = reason ? `: ${reason}${detail ? `: ${detail}` : ''}` : '';
  return new DebugContainerNotStartedError(`${prefix}${why}`, container, reason, detail);
}

/**
 * Adds a debug container to a pod, waits until it runs, and attaches to it.
 * @example
 * const { session, container } = await debug(client, { target: 'distroless', image: 'busybox', targetContainer: 'app', command: ['sh'], stdin: true, tty: true });
 */
export async function debug(client: KubeClient, options: DebugOptions): Promise<DebugSession> {
  const added = await addDebugContainer(client, options);
  await waitForDebugContainer(client, added, { ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const session = attach(client, {
    target: { pod: added.pod },
    namespace: added.namespace,
    container: added.container,
    stdin: !!options.stdin,
    tty: !!options.tty,
    ...(options.size ? { size: options.size } : {}),
    ...(options.keepalive ? { keepalive: options.keepalive } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { ...added, session };
}
