// One sandbox container: its main process, its execs and attaches, and stopping it. Every process
// of a namespaced container joins the namespaces its holder process made; a plain-process
// container's processes carry a marker in their environment.

import type { ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { SandboxError } from './errors.ts';
import { BoundedLogBuffer, type LogBuffer } from './logbuffer.ts';
import { launch, OUTPUT_HWM, timeout, type ExecProcess, type Launched, type RawExit } from './launch.ts';
import { DROP_PRIVILEGES, type HostTools } from './hosttools.ts';
import { childOf, killUntilGone, listProcs, mntNs, type Selector } from './procfs.ts';
import { CONTAINER_PATH, lookupExecutable, SETPRIV_IN_ROOT, SETSID_IN_ROOT, type Flavor } from './rootfs.ts';
import type { ContainerSpec } from './types.ts';

export interface ExecOptions {
  argv: string[];
  tty: boolean;
  stdin: boolean;
  cols?: number;
  rows?: number;
  env?: Record<string, string>;
}

export interface AttachHandle {
  /** The main process's output from now on (pty, or stdout and stderr merged), live. */
  readonly output: Readable;
  /** The main process's stdin when its spec has stdin, else null. Ending it closes the main process's stdin only with stdinOnce. */
  readonly stdin: Writable | null;
  /** Resizes the main process's terminal (when it runs on one). */
  resize(cols: number, rows: number): void;
  /** Stops receiving; does not stop the main process. */
  detach(): void;
}

export interface Container {
  readonly name: string;
  readonly flavor: Flavor;
  readonly tty: boolean;
  readonly stdin: boolean;
  /** Everything the main process wrote (stdout and stderr, or its terminal), in order. */
  readonly logs: LogBuffer;
  readonly running: boolean;
  /** The main process's (host) pid. */
  readonly pid: number;
  /** The (host) pid of the first process of the container's namespaces; 0 without namespaces. */
  readonly namespacePid: number;
  /** The main process: exit code, or null and the signal's name when a signal ended it. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Throws ExecNotFoundError synchronously when argv[0] cannot be found or executed in the container. */
  exec(opts: ExecOptions): ExecProcess;
  attach(): AttachHandle;
  /** SIGTERM to the main process, SIGKILL after `graceMs` (2 s by default), then every other process of the container. */
  stop(graceMs?: number): Promise<void>;
}

/** argv[0] cannot be found or executed in the container; the message is runc's. */
export class ExecNotFoundError extends SandboxError {
  readonly executable: string;
  readonly reason: 'not-found' | 'no-such-file' | 'permission-denied';

  constructor(executable: string, message: string, reason: ExecNotFoundError['reason'] = 'not-found') {
    super('ERR_SANDBOX_EXEC_NOT_FOUND', message);
    this.name = 'ExecNotFoundError';
    this.executable = executable;
    this.reason = reason;
  }
}

/** exec or attach into a container whose main process is gone (or that is being stopped). */
export class ContainerNotRunningError extends SandboxError {
  readonly container: string;

  constructor(container: string) {
    super('ERR_SANDBOX_CONTAINER_NOT_RUNNING', `container "${container}" is not running`);
    this.name = 'ContainerNotRunningError';
    this.container = container;
  }
}

const ATTACH_BUFFER_LIMIT = 16 * 1024 * 1024;
export const KILL_TIMEOUT_MS = 5000;

/** What containers share with the runtime that started them. */
export interface Host {
  readonly tools: HostTools | null;
  isClosed(): boolean;
  /** Descriptors a process entering a container must not take with it. */
  strayDescriptors(): readonly number[];
}

/**
 * The command line that runs `argv` in a pod's network namespace: the one its network holder
 * (pid `netPid`, see Runtime) keeps. A container's holder starts this way, and every process of
 * the container then joins that namespace with the rest of pid 1's.
 */
export function joinPodNetwork(tools: HostTools, netPid: number, argv: readonly string[]): string[] {
  return [tools.nsenter, `--net=/proc/${netPid}/ns/net`, '--', ...argv];
}

export function containerEnv(spec: ContainerSpec, base: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...base };
  for (const e of spec.env ?? []) env[e.name] = e.value ?? '';
  return env;
}

export interface ContainerInit {
  readonly name: string;
  readonly flavor: Flavor;
  readonly spec: ContainerSpec;
  readonly env: Record<string, string>;
  /** The working directory: in-container with namespaces, a host path without. */
  readonly cwd: string;
  /** '' with namespaces (/proc/<holder>/root), '/' for plain host processes. */
  readonly lookupRoot: string;
  readonly holder: ChildProcess | null;
  readonly ns: string | null;
  /** The value of MARKER_VAR in the environment of every process of a plain-process container. */
  readonly marker: string | null;
}

interface AttachEntry {
  push(chunk: Buffer): void;
  end(): void;
}

export class SandboxContainer implements Container {
  readonly name: string;
  readonly flavor: Flavor;
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly logs: BoundedLogBuffer = new BoundedLogBuffer();
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #host: Host;
  #spec: ContainerSpec;
  #env: Record<string, string>;
  #cwd: string;
  #lookupRoot: string;
  #holder: ChildProcess | null;
  #holderPid = 0;
  /** The first process of the container's PID namespace (the holder's child), once it is in the root. */
  #initPid = 0;
  #ns: string | null;
  /** The container's root directory once its holder is inside it (namespace isolation). */
  #root: string | null = null;
  #marker: string | null;
  #main: Launched | null = null;
  #mainGone = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #resolveExited!: (e: RawExit) => void;
  /** Launched processes not yet done, and whether the process itself has exited. */
  #live = new Map<Launched, boolean>();
  #holderAlive = false;
  /** Sessions of finished processes that still had members (plain-process isolation only). */
  #lingering = new Set<number>();
  #attaches = new Set<AttachEntry>();
  #stdinClosedOnce = false;

  constructor(host: Host, init: ContainerInit) {
    this.#host = host;
    this.name = init.name;
    this.flavor = init.flavor;
    this.#spec = init.spec;
    this.tty = !!init.spec.tty;
    this.stdin = !!init.spec.stdin;
    this.#env = init.env;
    this.#cwd = init.cwd;
    this.#lookupRoot = init.lookupRoot;
    this.#holder = init.holder;
    this.#holderPid = init.holder?.pid ?? 0;
    this.#holderAlive = this.#holderPid > 0;
    init.holder?.once('exit', () => (this.#holderAlive = false));
    this.#ns = init.ns;
    this.#marker = init.marker;
    this.exited = new Promise((res) => (this.#resolveExited = res));
  }

  get pid(): number {
    return this.#main?.pid ?? 0;
  }

  get namespacePid(): number {
    return this.#initPid;
  }

  get running(): boolean {
    return this.#main !== null && !this.#mainGone && !this.#stopping;
  }

  /** Waits until the holder's child, pid 1 of the container, has made the mounts and entered the root. */
  async waitHolder(root: string, hostNs: string | null): Promise<void> {
    const holder = this.#holder!;
    let stderr = '';
    let exit: string | undefined;
    holder.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    holder.once('exit', (code, sig) => (exit = sig ?? `exit ${code}`));
    if (!this.#holderPid) throw new SandboxError('ERR_SANDBOX_CONTAINER_START', `cannot start container "${this.name}": unshare did not start`);
    const deadline = Date.now() + 20_000;
    let init: number | null = null;
    for (;;) {
      let r: string | undefined;
      init ??= childOf(this.#holderPid);
      try {
        if (init !== null) r = readlinkSync(`/proc/${init}/root`);
      } catch {
        /* not yet, or gone */
      }
      if (r === root && exit === undefined) break;
      if (exit !== undefined || Date.now() > deadline) {
        await delay(20); // let stderr arrive
        throw new SandboxError('ERR_SANDBOX_CONTAINER_START', `cannot start container "${this.name}": ${stderr.trim() || exit || 'timed out setting up its root'}`);
      }
      await delay(2);
    }
    const ns = mntNs(init!);
    if (!ns || ns === hostNs) throw new SandboxError('ERR_SANDBOX_CONTAINER_START', `cannot start container "${this.name}": no mount namespace of its own`);
    this.#initPid = init!;
    this.#ns = ns;
    this.#root = root;
    this.#lookupRoot = `/proc/${init}/root`;
    holder.stderr!.destroy();
    holder.once('exit', () => {
      if (!this.#mainGone && !this.#stopping) void this.#stopAll();
    });
  }

  #lookup(argv0: string, env: Record<string, string>): void {
    const r = lookupExecutable(this.#lookupRoot, argv0, env.PATH ?? CONTAINER_PATH, this.#cwd);
    if (!r.ok) throw new ExecNotFoundError(argv0, r.message, r.reason);
  }

  #launch(argv: string[], opts: { tty: boolean; stdin: boolean; cols: number; rows: number; env: Record<string, string> }): Launched {
    const base = this.#holder ? this.#entering(argv, opts.tty) : { file: argv[0]!, args: argv.slice(1), cwd: this.#cwd };
    const proc = launch({ ...base, ...opts });
    this.#live.set(proc, false);
    void proc.processExit.then(() => {
      if (this.#live.has(proc)) this.#live.set(proc, true);
    });
    void proc.done.then(() => {
      this.#live.delete(proc);
      if (!this.#ns && listProcs().some((p) => p.sid === proc.pid && !p.dead)) this.#lingering.add(proc.pid);
    });
    return proc;
  }

  /**
   * How a process enters the container. nsenter joins pid 1's namespaces (the pod's network
   * namespace among them), root and working directory, and forks (a PID namespace takes children only); the child starts a session of its
   * own (with a tty, it takes the terminal over), so signals and terminal keys reach it and not
   * nsenter, which waits and exits as the child does; setpriv then drops every capability for
   * good. Descriptors the runtime's process leaves open to children (other sessions' terminals)
   * are closed before, by bash (of the host's shells, only it closes descriptors above 9), which
   * then becomes nsenter.
   */
  #entering(argv: string[], tty: boolean): { file: string; args: string[]; cwd: string; enters: true } {
    const tools = this.#host.tools!;
    const nsenter = [tools.nsenter, '-t', String(this.#initPid), '-m', '-u', '-n', '-p', '-r', '-w', '--',
      SETSID_IN_ROOT, ...(tty ? ['--ctty'] : []), SETPRIV_IN_ROOT, ...DROP_PRIVILEGES, '--', ...argv];
    const stray = this.#host.strayDescriptors();
    if (stray.length === 0 || !tools.bash) return { file: nsenter[0]!, args: nsenter.slice(1), cwd: '/', enters: true };
    const close = `exec ${stray.map((fd) => `${fd}>&-`).join(' ')}; exec "$@"`;
    // No start-up files, and -p: no BASH_ENV, no functions or shell options from the environment
    // (the container's, passed on untouched).
    return { file: tools.bash, args: ['--norc', '--noprofile', '-p', '-c', close, 'podshell-enter', ...nsenter], cwd: '/', enters: true };
  }

  #environment(extra: Record<string, string> | undefined, tty: boolean): Record<string, string> {
    const env = { ...this.#env, ...extra };
    if (tty && env.TERM === undefined) env.TERM = 'xterm';
    return env;
  }

  startMain(argv: string[]): void {
    const env = this.#environment(undefined, this.tty);
    this.#lookup(argv[0]!, env);
    const main = this.#launch(argv, { tty: this.tty, stdin: this.stdin, cols: 80, rows: 24, env });
    this.#main = main;
    const onData = (chunk: Buffer): void => {
      this.logs.append(chunk);
      for (const a of this.#attaches) a.push(chunk);
    };
    main.stdout.on('data', onData);
    main.stderr?.on('data', onData);
    void main.processExit.then(() => {
      this.#mainGone = true;
      // As when a container's init process exits: nothing else of the container survives it.
      // (When stopping, whoever stops the container does that.)
      if (!this.#stopping) void this.#stopAll();
    });
    void main.done.then((e) => {
      this.#mainGone = true;
      this.logs.end();
      for (const a of [...this.#attaches]) a.end();
      this.#attaches.clear();
      this.#resolveExited(e);
    });
  }

  exec(opts: ExecOptions): ExecProcess {
    if (!this.running || this.#host.isClosed()) throw new ContainerNotRunningError(this.name);
    const argv = opts.argv;
    if (argv.length === 0) throw new ExecNotFoundError('', 'exec: "": executable file not found in $PATH');
    const env = this.#environment(opts.env, opts.tty);
    this.#lookup(argv[0]!, env);
    return this.#launch(argv, { tty: opts.tty, stdin: opts.stdin, cols: opts.cols ?? 80, rows: opts.rows ?? 24, env });
  }

  attach(): AttachHandle {
    const main = this.#main;
    if (!main) throw new ContainerNotRunningError(this.name);
    const output = new Readable({ highWaterMark: OUTPUT_HWM, read() {} });
    let ended = false;
    const entry: AttachEntry = {
      push(chunk) {
        if (!ended && output.readableLength < ATTACH_BUFFER_LIMIT) output.push(chunk);
      },
      end() {
        if (ended) return;
        ended = true;
        output.push(null);
      },
    };
    if (this.#mainGone) entry.end();
    else this.#attaches.add(entry);
    output.on('close', () => this.#attaches.delete(entry));
    const closeOnce = (): void => {
      if (this.#spec.stdinOnce && !this.#stdinClosedOnce) {
        this.#stdinClosedOnce = true;
        main.closeStdin();
      }
    };
    const target = main.stdin;
    const stdin = target
      ? new Writable({
          write: (chunk: Buffer, _enc, cb) => {
            if (this.#mainGone || target.writableEnded || target.destroyed) return cb();
            target.write(chunk, () => cb());
          },
          final: (cb) => {
            closeOnce();
            cb();
          },
        })
      : null;
    stdin?.on('error', () => {});
    return {
      output,
      stdin,
      resize: (cols, rows) => main.resize(cols, rows),
      detach: () => {
        this.#attaches.delete(entry);
        entry.end();
        closeOnce();
      },
    };
  }

  /** close() is about to kill everything: refuse new execs from now on. */
  markStopping(): void {
    this.#stopping = true;
  }

  /**
   * Selects every live process of this container. With namespaces: whatever is chrooted in its
   * root in its mount namespace, pid 1 of its PID namespace among them (killing that one kills
   * every process inside). The processes outside that started them (unshare, nsenter: see
   * wrappers()) are left to reap their child and exit as it did: killed first, they would hand
   * their children to the host's init to reap, and the namespace's end would wait for that.
   */
  selector(): Selector {
    if (this.#root !== null) {
      return { pids: new Set(), sessions: new Set(), ns: new Set([this.#ns!]), roots: new Set([this.#root]), markers: new Set() };
    }
    // Only pids that cannot have been reused: processes not yet reaped, sessions that still
    // have members (a pid stays allocated while it names a live session).
    const sessions = new Set<number>(this.#lingering);
    const pids = new Set<number>();
    for (const [l, exited] of this.#live) {
      sessions.add(l.pid);
      if (!exited) pids.add(l.pid);
    }
    if (this.#holderAlive) pids.add(this.#holderPid);
    return {
      pids,
      sessions,
      ns: new Set(),
      roots: new Set(),
      markers: new Set(this.#marker === null ? [] : [this.#marker]),
    };
  }

  /** With namespaces, the processes outside the container that started its processes and wait for them. */
  wrappers(): Selector {
    const pids = new Set<number>();
    if (this.#root !== null) {
      for (const [l, exited] of this.#live) if (!exited) pids.add(l.pid);
      if (this.#holderAlive) pids.add(this.#holderPid);
    }
    return { pids, sessions: new Set(), ns: new Set(), roots: new Set(), markers: new Set() };
  }

  /** Resolves when the main process's bookkeeping is over (or it never started). */
  settled(): Promise<unknown> {
    return this.#main ? this.#main.done : Promise.resolve();
  }

  async #stopAll(): Promise<void> {
    await killUntilGone(this.selector(), KILL_TIMEOUT_MS);
    await killUntilGone(this.wrappers(), KILL_TIMEOUT_MS);
  }

  stop(graceMs = 2000): Promise<void> {
    return (this.#stopped ??= (async () => {
      const main = this.#main;
      if (main && !this.#mainGone && graceMs > 0) {
        this.#stopping = true;
        main.kill('SIGTERM');
        await Promise.race([main.processExit, timeout(graceMs)]);
      }
      this.#stopping = true;
      await this.#stopAll();
      if (main) await Promise.race([main.done, timeout(KILL_TIMEOUT_MS)]);
    })());
  }
}
