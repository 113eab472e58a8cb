// What a kubelet does with the pods of the sandbox's node once they run: it starts their
// containers, and when a container's main process ends it reports that in the pod's status and,
// as the pod's restartPolicy says, starts the container again (after a back-off when it keeps
// failing: CrashLoopBackOff) or leaves it terminated, the pod then Succeeded or Failed. Every
// change goes through the store, so lists and watches see it.

import { randomBytes } from 'node:crypto';
import { SandboxError } from './errors.ts';
import { statusOf } from './launch.ts';
import type { Container, Runtime } from './runtime.ts';
import type { Store } from './store.ts';
import type { ContainerSpec, Pod } from './types.ts';

export interface BackoffOptions {
  /** The first back-off before a failing container is started again, in ms (10 s by default); it doubles on each quick failure. */
  baseMs?: number;
  /** The longest back-off, in ms (300 s by default). A container that ran for twice this long starts over from the first back-off. */
  maxMs?: number;
}

type Obj = Record<string, unknown>;

/** One container of one pod, and what the kubelet remembers of it. */
interface Slot {
  readonly pod: Pod;
  readonly spec: ContainerSpec;
  readonly index: number;
  /** An ephemeral container: never restarted, its status in ephemeralContainerStatuses. */
  readonly ephemeral?: boolean;
  container: Container | undefined;
  containerID: string;
  startedAt: string;
  startedMs: number;
  /** Failures in a row since the container last ran long enough: the next back-off is base × 2^(failures − 1). */
  failures: number;
  timer: NodeJS.Timeout | undefined;
  /** The pod is being deleted: its containers are stopped for good, never restarted. */
  stopping?: boolean;
}

/** RFC 3339 with seconds, as the kubelet writes times. */
const timestamp = (ms = Date.now()): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

const newContainerID = (): string => `podshell://${randomBytes(32).toString('hex')}`;

export class Kubelet {
  readonly #runtime: Runtime;
  readonly #store: Store;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #slots = new Map<string, Slot>();
  #closed = false;

  constructor(runtime: Runtime, store: Store, backoff: BackoffOptions = {}) {
    this.#runtime = runtime;
    this.#store = store;
    this.#baseMs = backoff.baseMs ?? 10_000;
    this.#maxMs = Math.max(backoff.maxMs ?? 300_000, this.#baseMs);
  }

  /** Starts every container of every pod (their statuses already say running, as built). */
  async startAll(pods: readonly Pod[]): Promise<void> {
    await Promise.all(pods.map((pod) => this.#startContainers(pod)));
  }

  /**
   * Starts the containers of a pod a controller has just added (scale.ts), its status saying
   * ContainerCreating; once they run, the pod's status becomes `running` — one MODIFIED event.
   * Resolves false when the pod was deleted, or the sandbox closed, meanwhile.
   */
  async startPod(pod: Pod, running: Obj): Promise<boolean> {
    try {
      await this.#startContainers(pod);
    } catch (err) {
      if (this.#closed || (err instanceof SandboxError && err.code === 'ERR_SANDBOX_CLOSED')) return false;
      if (pod.metadata['deletionTimestamp'] !== undefined) return false;
      this.#store.update(pod, () => {
        for (const s of this.#statuses(pod)) s['state'] = { waiting: { message: (err as Error).message, reason: 'RunContainerError' } };
      });
      return false;
    }
    if (this.#closed || pod.metadata['deletionTimestamp'] !== undefined) return false;
    this.#store.update(pod, () => {
      const statuses = (running['containerStatuses'] as Obj[] | undefined) ?? [];
      for (const s of statuses) {
        const slot = this.#slots.get(this.#key(pod.metadata.namespace!, pod.metadata.name, String(s['name'])));
        if (!slot) continue;
        s['containerID'] = slot.containerID;
        s['state'] = { running: { startedAt: slot.startedAt } };
      }
      pod.status = running;
    });
    return true;
  }

  /**
   * Stops every container of a pod being deleted, as the kubelet does once it sees a
   * deletionTimestamp: SIGTERM, then SIGKILL after the grace period. No container of it is
   * restarted; its statuses end terminated with the exit codes (one MODIFIED event). Resolves
   * false when the sandbox closed meanwhile (the runtime stops everything then).
   */
  async stopPod(pod: Pod, graceMs: number): Promise<boolean> {
    const prefix = this.#key(pod.metadata.namespace!, pod.metadata.name, '');
    const slots = [...this.#slots.entries()].filter(([key, slot]) => key.startsWith(prefix) && slot.pod === pod);
    for (const [, slot] of slots) {
      slot.stopping = true;
      clearTimeout(slot.timer);
    }
    const codes = await Promise.all(
      slots.map(async ([, slot]) => {
        const container = slot.container;
        if (!container) return undefined;
        await container.stop(graceMs);
        const exit = await Promise.race([container.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000).unref())]);
        return exit ? statusOf(exit).code : undefined;
      }),
    );
    if (this.#closed) return false;
    const finishedAt = timestamp();
    this.#store.update(pod, () => {
      slots.forEach(([, slot], i) => {
        if (slot.ephemeral) return;
        const own = this.#statuses(pod)[slot.index];
        const state = own?.['state'] as Obj | undefined;
        if (!own || state?.['terminated']) return;
        const exitCode = codes[i] ?? 137;
        own['ready'] = false;
        own['started'] = false;
        own['state'] = { terminated: { containerID: slot.containerID, exitCode, finishedAt, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: slot.startedAt } };
      });
    });
    for (const [key, slot] of slots) if (this.#slots.get(key) === slot) this.#slots.delete(key);
    this.#runtime.releasePod(pod.metadata.uid!);
    return true;
  }

  async #startContainers(pod: Pod): Promise<void> {
    await Promise.all(
      pod.spec.containers.map(async (spec, index) => {
        const status = this.#statuses(pod)[index];
        const slot: Slot = {
          pod,
          spec,
          index,
          container: undefined,
          containerID: typeof status?.['containerID'] === 'string' ? status['containerID'] : newContainerID(),
          startedAt: timestamp(),
          startedMs: Date.now(),
          failures: 0,
          timer: undefined,
        };
        this.#slots.set(this.#key(pod.metadata.namespace!, pod.metadata.name, spec.name), slot);
        const container = await this.#start(slot);
        if (slot.stopping || this.#closed) {
          // Deleted (or closed) while it started: stopPod did not see this container.
          await container.stop(0);
          return;
        }
        this.#follow(slot, container);
      }),
    );
  }

  /**
   * Starts an ephemeral container just added to the pod's spec: its status says waiting
   * (ContainerCreating), then running, then terminated when its process ends; it is never restarted.
   * With a targetContainerName it shares that container's process namespace.
   */
  startEphemeral(pod: Pod, name: string): void {
    const spec = pod.spec.ephemeralContainers?.find((c) => c.name === name);
    // A pod being deleted starts nothing more: its network is about to be released.
    if (!spec || this.#closed || pod.metadata['deletionTimestamp'] !== undefined) return;
    const key = this.#key(pod.metadata.namespace!, pod.metadata.name, name);
    if (this.#slots.has(key)) return;
    const statuses = ((pod.status ??= {})['ephemeralContainerStatuses'] as Obj[] | undefined) ?? [];
    const slot: Slot = { pod, spec, index: statuses.length, ephemeral: true, container: undefined, containerID: newContainerID(), startedAt: '', startedMs: 0, failures: 0, timer: undefined };
    this.#slots.set(key, slot);
    this.#store.update(pod, () => {
      const list = ((pod.status ??= {})['ephemeralContainerStatuses'] as Obj[] | undefined) ?? [];
      list.push({ image: spec.image ?? '', imageID: '', lastState: {}, name, ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } });
      pod.status['ephemeralContainerStatuses'] = list;
    });
    void (async () => {
      let container: Container;
      try {
        const target = spec.targetContainerName ? this.container(pod.metadata.namespace!, pod.metadata.name, spec.targetContainerName) : undefined;
        container = await this.#start(slot, target);
      } catch (err) {
        if (this.#closed || (err instanceof SandboxError && err.code === 'ERR_SANDBOX_CLOSED')) return;
        this.#setStatus(slot, (s) => Object.assign(s, { state: { waiting: { message: (err as Error).message, reason: 'RunContainerError' } } }));
        return;
      }
      if (this.#closed || slot.stopping || this.#slots.get(key) !== slot) {
        // Closed, or the pod deleted while it started: stopPod did not see this container.
        await container.stop(0);
        return;
      }
      slot.startedMs = Date.now();
      slot.startedAt = timestamp(slot.startedMs);
      this.#follow(slot, container);
      this.#setStatus(slot, (s) => Object.assign(s, { containerID: slot.containerID, state: { running: { startedAt: slot.startedAt } } }));
    })();
  }

  /** The running (or last) container behind `namespace/pod/container`. */
  container(namespace: string, pod: string, name: string): Container | undefined {
    return this.#slots.get(this.#key(namespace, pod, name))?.container;
  }

  /** No more restarts or status changes: the runtime is about to stop every container. */
  close(): void {
    this.#closed = true;
    for (const slot of this.#slots.values()) clearTimeout(slot.timer);
  }

  #key(namespace: string, pod: string, name: string): string {
    return `${namespace}/${pod}/${name}`;
  }

  #start(slot: Slot, shareProcessesWith?: Container): Promise<Container> {
    const pod = slot.pod;
    return this.#runtime.startContainer({
      namespace: pod.metadata.namespace!,
      pod: pod.metadata.name,
      podUid: pod.metadata.uid!,
      hostname: pod.metadata.name,
      spec: slot.spec,
      ...(shareProcessesWith ? { shareProcessesWith } : {}),
    });
  }

  #follow(slot: Slot, container: Container): void {
    slot.container = container;
    void container.exited.then((exit) => {
      if (!this.#closed && !slot.stopping && slot.container === container) this.#exited(slot, statusOf(exit).code);
    });
  }

  #statuses(pod: Pod): Obj[] {
    return (pod.status?.['containerStatuses'] as Obj[] | undefined) ?? [];
  }

  #restartPolicy(pod: Pod): string {
    return typeof pod.spec['restartPolicy'] === 'string' ? pod.spec['restartPolicy'] : 'Always';
  }

  /** The main process of a container ended with `exitCode`. */
  #exited(slot: Slot, exitCode: number): void {
    const finishedMs = Date.now();
    const terminated = { containerID: slot.containerID, exitCode, finishedAt: timestamp(finishedMs), reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: slot.startedAt };
    if (slot.ephemeral) {
      this.#setStatus(slot, (s) => Object.assign(s, { state: { terminated } }));
      return;
    }
    const policy = this.#restartPolicy(slot.pod);
    const restart = policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (!restart) {
      this.#setStatus(slot, (s) => Object.assign(s, { ready: false, started: false, state: { terminated } }));
      return;
    }
    if (finishedMs - slot.startedMs >= 2 * this.#maxMs) slot.failures = 0;
    const delay = slot.failures === 0 ? 0 : Math.min(this.#baseMs * 2 ** (slot.failures - 1), this.#maxMs);
    slot.failures++;
    if (delay === 0) {
      this.#setStatus(slot, (s) => Object.assign(s, { ready: false, started: false, state: { terminated } }));
      void this.#restart(slot, terminated);
      return;
    }
    const pod = slot.pod;
    const message = `back-off ${formatDuration(delay)} restarting failed container=${slot.spec.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
    this.#setStatus(slot, (s) => Object.assign(s, { lastState: { terminated }, ready: false, started: false, state: { waiting: { message, reason: 'CrashLoopBackOff' } } }));
    slot.timer = setTimeout(() => void this.#restart(slot, terminated), delay);
  }

  async #restart(slot: Slot, terminated: Obj): Promise<void> {
    slot.timer = undefined;
    if (this.#closed || slot.stopping) return;
    let container: Container;
    try {
      container = await this.#start(slot);
    } catch (err) {
      if (this.#closed || (err instanceof SandboxError && err.code === 'ERR_SANDBOX_CLOSED')) return;
      const delay = Math.min(this.#baseMs * 2 ** Math.max(0, slot.failures - 1), this.#maxMs);
      slot.failures++;
      this.#setStatus(slot, (s) => Object.assign(s, { lastState: { terminated }, ready: false, started: false, state: { waiting: { message: (err as Error).message, reason: 'RunContainerError' } } }));
      slot.timer = setTimeout(() => void this.#restart(slot, terminated), delay);
      return;
    }
    if (this.#closed || slot.stopping) {
      await container.stop(0);
      return;
    }
    slot.containerID = newContainerID();
    slot.startedMs = Date.now();
    slot.startedAt = timestamp(slot.startedMs);
    this.#follow(slot, container);
    this.#setStatus(slot, (s) =>
      Object.assign(s, {
        containerID: slot.containerID,
        lastState: { terminated },
        ready: true,
        restartCount: (Number(s['restartCount']) || 0) + 1,
        started: true,
        state: { running: { startedAt: slot.startedAt } },
      }),
    );
  }

  /** Changes one container's status, then the pod's phase and conditions follow, as one change of the pod. */
  #setStatus(slot: Slot, change: (status: Obj) => void): void {
    this.#store.update(slot.pod, () => {
      const pod = slot.pod;
      const status = (pod.status ??= {});
      if (slot.ephemeral) {
        const own = ((status['ephemeralContainerStatuses'] as Obj[] | undefined) ?? [])[slot.index];
        if (own) change(own);
        return;
      }
      const statuses = this.#statuses(pod);
      const own = statuses[slot.index];
      if (own) change(own);
      const now = timestamp();
      const phase = podPhase(this.#restartPolicy(pod), statuses);
      status.phase = phase;
      const terminal = phase === 'Succeeded' || phase === 'Failed';
      const unready = statuses.filter((s) => s['ready'] !== true).map((s) => String(s['name']));
      for (const condition of (status['conditions'] as Obj[] | undefined) ?? []) {
        if (condition['type'] !== 'Ready' && condition['type'] !== 'ContainersReady') continue;
        const value = unready.length === 0 ? 'True' : 'False';
        if (condition['status'] !== value) condition['lastTransitionTime'] = now;
        condition['status'] = value;
        delete condition['reason'];
        delete condition['message'];
        if (value === 'False') {
          condition['reason'] = terminal ? 'PodCompleted' : 'ContainersNotReady';
          if (!terminal) condition['message'] = `containers with unready status: [${unready.join(' ')}]`;
        }
      }
    });
  }
}

/**
 * The pod's phase from its containers, as the kubelet computes it: Running while any container
 * runs or will be started again; once all are terminated for good, Failed if the restart policy
 * is Never and one failed, else Succeeded.
 */
export function podPhase(restartPolicy: string, statuses: readonly Obj[]): string {
  const terminated = statuses.map((s) => (s['state'] as Obj | undefined)?.['terminated'] as Obj | undefined);
  if (terminated.some((t) => t === undefined)) return 'Running';
  const failed = terminated.some((t) => Number(t!['exitCode']) !== 0);
  if (restartPolicy === 'Always') return 'Running';
  if (restartPolicy === 'OnFailure') return failed ? 'Running' : 'Succeeded';
  return failed ? 'Failed' : 'Succeeded';
}

/** A back-off as Go prints a time.Duration of whole seconds or milliseconds: 10s, 5m0s, 500ms. */
function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${+(seconds - m * 60).toFixed(3)}s`;
}
