// The sandbox's container runtime: containers are real local processes. With "namespaces"
// isolation each container gets its own mount and UTS namespace and a root directory assembled
// from read-only bind mounts of the host's /usr, /etc… (see rootfs.ts); a small "holder" process
// (like Kubernetes' pause container) keeps the namespace and the chroot, and every process of
// the container — the main process and each exec — joins it with nsenter, on a pty (node-pty)
// or on pipes. Pids stay host pids (no PID namespace), so signals are plain kill(2).
//
// With "none" isolation containers are plain host processes in a per-container directory.

import { randomBytes } from 'node:crypto';
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, realpath, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import type { Socket } from 'node:net';
import { join, posix, resolve } from 'node:path';
import { finished, Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import * as pty from 'node-pty';
import { BoundedLogBuffer, type LogBuffer } from './logbuffer.ts';
import { CONTAINER_PATH, flavorOf, lookupExecutable, planRoot, prepareSlimBin, type Flavor } from './rootfs.ts';
import type { ContainerSpec } from './types.ts';

export { flavorOf };
export type { Flavor, LogBuffer };

export interface RuntimeOptions {
  /** A directory the runtime owns: created if missing, removed by close(). */
  stateDir: string;
  /** auto = namespaces when they work here, else none. */
  isolation?: 'auto' | 'namespaces' | 'none';
  /** Called once when auto falls back to plain processes, with a sentence saying why and what that means. */
  warn?: (message: string) => void;
}

export interface StartOptions {
  namespace: string;
  pod: string;
  podUid: string;
  hostname: string;
  spec: ContainerSpec;
}

export interface ExecOptions {
  argv: string[];
  tty: boolean;
  stdin: boolean;
  cols?: number;
  rows?: number;
  env?: Record<string, string>;
}

export interface ExecProcess {
  readonly pid: number;
  /** Null when the exec has no stdin. */
  readonly stdin: Writable | null;
  /** With a tty: the terminal's output (stderr merged, as a real terminal does). Honours backpressure. */
  readonly stdout: Readable;
  /** Null with a tty. */
  readonly stderr: Readable | null;
  /** Resizes the terminal (tty only; a no-op otherwise). */
  resize(cols: number, rows: number): void;
  /** Pipes: end stdin (EOF). Tty: write the terminal's EOF character (^D) once. */
  closeStdin(): void;
  /** Signals the process and its whole session (every process it started); SIGKILL by default. */
  kill(signal?: NodeJS.Signals): void;
  /**
   * Exit status (128 + signal number when killed by a signal, as container runtimes report it).
   * Resolves only after stdout and stderr have ended, i.e. after their consumers read everything.
   */
  readonly exited: Promise<{ code: number; signal: string | null }>;
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
  /** The main process: exit code, or null and the signal's name when a signal ended it. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Throws ExecNotFoundError synchronously when argv[0] cannot be found or executed in the container. */
  exec(opts: ExecOptions): ExecProcess;
  attach(): AttachHandle;
  /** SIGTERM to the main process, SIGKILL after `graceMs` (2 s by default), then every other process of the container. */
  stop(graceMs?: number): Promise<void>;
}

/** argv[0] cannot be found or executed in the container; the message is runc's. */
export class ExecNotFoundError extends Error {
  readonly executable: string;
  readonly reason: 'not-found' | 'no-such-file' | 'permission-denied';

  constructor(executable: string, message: string, reason: ExecNotFoundError['reason'] = 'not-found') {
    super(message);
    this.name = 'ExecNotFoundError';
    this.executable = executable;
    this.reason = reason;
  }
}

/** exec or attach into a container whose main process is gone (or that is being stopped). */
export class ContainerNotRunningError extends Error {
  readonly container: string;

  constructor(container: string) {
    super(`container "${container}" is not running`);
    this.name = 'ContainerNotRunningError';
    this.container = container;
  }
}

// ---------------------------------------------------------------------------------------------
// Host processes: /proc scanning and signalling.

interface ProcInfo {
  readonly pid: number;
  readonly sid: number;
  readonly pgid: number;
  /** Zombie or dead: nothing left to kill. */
  readonly dead: boolean;
}

function readProc(pid: number): ProcInfo | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { pid, pgid: Number(f[2]), sid: Number(f[3]), dead: f[0] === 'Z' || f[0] === 'X' };
}

function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

function mntNs(pid: number | 'self'): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/** The value of the plain-process marker variable in a process's environment. */
function markerOf(pid: number): string | null {
  let env: string;
  try {
    env = '\0' + readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return null;
  }
  const at = env.indexOf(`\0${MARKER_VAR}=`);
  if (at < 0) return null;
  const start = at + MARKER_VAR.length + 2;
  const end = env.indexOf('\0', start);
  return env.slice(start, end < 0 ? undefined : end);
}

/** Which processes belong to one or more containers. */
interface Selector {
  readonly pids: Set<number>;
  readonly sessions: Set<number>;
  /**
   * Mount namespaces (readlink of /proc/<pid>/ns/mnt). The kernel reuses a namespace's number as
   * soon as it is freed, so a match counts only for a process chrooted under one of `roots`.
   */
  readonly ns: Set<string>;
  /** Container root directories, for the namespace check. */
  readonly roots: Set<string>;
  /** Values of the plain-process marker variable. */
  readonly markers: Set<string>;
}

function mergeSelectors(list: readonly Selector[]): Selector {
  return {
    pids: new Set(list.flatMap((s) => [...s.pids])),
    sessions: new Set(list.flatMap((s) => [...s.sessions])),
    ns: new Set(list.flatMap((s) => [...s.ns])),
    roots: new Set(list.flatMap((s) => [...s.roots])),
    markers: new Set(list.flatMap((s) => [...s.markers])),
  };
}

function selects(sel: Selector, p: ProcInfo): boolean {
  if (sel.pids.has(p.pid) || sel.sessions.has(p.sid)) return true;
  if (sel.ns.size > 0) {
    const ns = mntNs(p.pid);
    if (ns !== null && sel.ns.has(ns) && chrootedUnder(p.pid, sel.roots)) return true;
  }
  if (sel.markers.size > 0) {
    const m = markerOf(p.pid);
    if (m !== null && sel.markers.has(m)) return true;
  }
  return false;
}

function chrootedUnder(pid: number, roots: Set<string>): boolean {
  let root: string;
  try {
    root = readlinkSync(`/proc/${pid}/root`);
  } catch {
    return false;
  }
  for (const r of roots) if (root === r || root.startsWith(`${r}/`)) return true;
  return false;
}

function killable(pid: number): boolean {
  return pid > 1 && pid !== process.pid && pid !== process.ppid;
}

function signal(pid: number, sig: NodeJS.Signals | number): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Signals a session leader's process group and every live process of its session. */
function signalSession(leader: number, sig: NodeJS.Signals | number): void {
  if (!killable(leader)) return;
  signal(-leader, sig);
  for (const p of listProcs()) if (p.sid === leader && !p.dead && killable(p.pid)) signal(p.pid, sig);
}

/** SIGKILLs every live process `match` selects, again and again, until there are none (or time is up). */
async function killUntilGone(sel: Selector, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let live = 0;
    for (const p of listProcs()) {
      if (p.dead || !killable(p.pid) || !selects(sel, p)) continue;
      live++;
      signal(p.pid, 'SIGKILL');
    }
    if (live === 0 || Date.now() > deadline) return live;
    await delay(10);
  }
}

/** A timer for races: it does not keep the process alive. */
function timeout(ms: number): Promise<void> {
  return delay(ms, undefined, { ref: false });
}

function signalNumber(name: string): number {
  return (osConstants.signals as Record<string, number>)[name] ?? 0;
}

function signalName(n: number): string {
  for (const [name, v] of Object.entries(osConstants.signals)) if (v === n) return name;
  return `SIG${n}`;
}

// ---------------------------------------------------------------------------------------------
// Launching one process, on pipes or on a pty.

interface RawExit {
  readonly code: number | null;
  readonly signal: string | null;
}

interface LaunchSpec {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly cols: number;
  readonly rows: number;
}

interface Launched extends ExecProcess {
  /** The process itself is gone (its output may still be flowing). */
  readonly processExit: Promise<RawExit>;
  /** The process is gone and its output streams have ended. */
  readonly done: Promise<RawExit>;
}

const OUTPUT_HWM = 64 * 1024;

function statusOf(e: RawExit): { code: number; signal: string | null } {
  return { code: e.code ?? 128 + signalNumber(e.signal ?? ''), signal: e.signal };
}

function streamDone(s: Readable): Promise<void> {
  return new Promise((res) => {
    finished(s, () => res());
  });
}

/**
 * A Readable that takes over a child's output pipe. Node "flushes" the output pipes nobody has
 * read yet when a child exits (resumes them, discarding the data); reading through a
 * 'readable' listener from the start prevents that, while keeping backpressure: the pipe is
 * read only as fast as the returned stream's consumer reads.
 */
function ownReader(src: Readable): Readable {
  let discard = false;
  let wanted = false; // the consumer asked for more than it has
  const pump = (): void => {
    while (wanted || discard) {
      const chunk = src.read() as Buffer | null;
      if (chunk === null) return;
      if (!discard) wanted = out.push(chunk);
    }
  };
  const out = new Readable({
    highWaterMark: OUTPUT_HWM,
    read() {
      wanted = true;
      pump();
    },
  });
  src.on('readable', pump);
  src.once('end', () => out.push(null));
  src.once('error', () => out.push(null));
  out.once('close', () => {
    // The consumer is gone: keep draining, so the process never blocks on a full pipe.
    discard = true;
    pump();
  });
  return out;
}

function launchPipes(spec: LaunchSpec): Launched {
  const child = spawnChild(spec.file, [...spec.args], {
    env: spec.env,
    cwd: spec.cwd,
    stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let spawnError: Error | undefined;
  const processExit = new Promise<RawExit>((res) => {
    child.once('exit', (code, sig) => res({ code, signal: sig }));
    child.once('error', (err) => {
      spawnError = err;
      res({ code: 127, signal: null });
    });
  });
  if (child.pid === undefined) {
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.stdin?.destroy();
    throw new Error(`cannot start ${spec.file}: ${spawnError?.message ?? 'spawn failed'}`);
  }
  const pid = child.pid;
  const stdout = ownReader(child.stdout!);
  const stderr = ownReader(child.stderr!);
  const stdin = child.stdin ?? null;
  stdin?.on('error', () => {});
  const done = Promise.all([processExit, streamDone(stdout), streamDone(stderr)]).then(([e]) => e);
  return {
    pid,
    stdin,
    stdout,
    stderr,
    processExit,
    done,
    exited: done.then(statusOf),
    resize() {},
    closeStdin() {
      if (stdin && !stdin.writableEnded) stdin.end();
    },
    kill(sig: NodeJS.Signals = 'SIGKILL') {
      signalSession(pid, sig);
    },
  };
}

type PtyWithEvents = pty.IPty & { on(event: 'error', listener: (err: Error) => void): void; readonly ptsName?: string };

// Reaping, seen from outside. node-pty's own thread waitpid()s each pty process at once; all we
// can observe is the pid disappearing, so a single timer checks the pids of live pty sessions.
const REAP_POLL_MS = 10;
const awaitingReap = new Map<number, () => void>();
let reapTimer: NodeJS.Timeout | undefined;

/** Calls `then` once `pid` has been reaped; the returned function stops watching. */
function whenReaped(pid: number, then: () => void): () => void {
  awaitingReap.set(pid, then);
  reapTimer ??= setInterval(() => {
    for (const [p, cb] of awaitingReap) {
      try {
        process.kill(p, 0);
      } catch {
        awaitingReap.delete(p);
        cb();
      }
    }
    if (awaitingReap.size === 0) {
      clearInterval(reapTimer);
      reapTimer = undefined;
    }
  }, REAP_POLL_MS);
  return () => {
    if (awaitingReap.get(pid) === then) awaitingReap.delete(pid);
  };
}

/**
 * Opens the pty's terminal side for the runtime itself, so the terminal stays up until the process
 * has been reaped. Without it a process that finishes normally can still die of SIGHUP: once it
 * has closed its last terminal descriptor, node-pty's read of the other side fails with EIO and
 * node-pty closes it, and the kernel hangs up the terminal, signalling the session leader — which
 * may not have reached exit() yet. A cluster's runtime keeps its side open until the process is
 * gone; this does the same.
 */
function holdTerminal(p: PtyWithEvents): number | undefined {
  if (!p.ptsName) return undefined;
  try {
    return openSync(p.ptsName, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
  } catch {
    return undefined;
  }
}

function launchPty(spec: LaunchSpec): Launched {
  const p = pty.spawn(spec.file, [...spec.args], {
    name: spec.env.TERM ?? 'xterm',
    cols: spec.cols,
    rows: spec.rows,
    cwd: spec.cwd,
    env: spec.env,
    encoding: null,
  }) as PtyWithEvents;
  // node-pty throws read errors other than EIO unless someone else listens.
  p.on('error', () => {});
  const pid = p.pid;
  let held = holdTerminal(p);
  let gone = false; // the process has been reaped: never pause again, drain what is left
  let paused = false;
  let discard = false;
  const unpause = (): void => {
    if (paused) {
      paused = false;
      p.resume();
    }
  };
  const release = (): void => {
    if (held !== undefined) closeSync(held);
    held = undefined;
  };
  const reaped = (): void => {
    // node-pty closes the pty 200 ms after the process exits, whatever is still unread: drain
    // the remainder now (at most the kernel's pty buffer), then let the terminal side go, so
    // the read ends with EIO once every other holder (background processes) is gone too.
    gone = true;
    unpause();
    release();
  };
  const unwatch = whenReaped(pid, reaped);
  const stdout = new Readable({
    highWaterMark: OUTPUT_HWM,
    read() {
      unpause();
    },
  });
  stdout.on('close', () => {
    discard = true;
    unpause();
  });
  p.onData((data) => {
    if (discard) return;
    const chunk = data as unknown as Buffer;
    if (!stdout.push(chunk) && !gone && !paused) {
      // Backpressure: stop reading the pty, so the process blocks on its writes.
      paused = true;
      p.pause();
    }
  });
  let resolveExit!: (e: RawExit) => void;
  const processExit = new Promise<RawExit>((res) => (resolveExit = res));
  p.onExit(({ exitCode, signal: sig }) => {
    // node-pty reports exit after the pty has closed: every byte has been through onData.
    unwatch();
    reaped();
    stdout.push(null);
    resolveExit(sig ? { code: null, signal: signalName(sig) } : { code: exitCode, signal: null });
  });
  let eofSent = false;
  const stdin = spec.stdin
    ? new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (!gone) p.write(chunk);
          cb();
        },
      })
    : null;
  stdin?.on('error', () => {});
  const done = Promise.all([processExit, streamDone(stdout)]).then(([e]) => e);
  return {
    pid,
    stdin,
    stdout,
    stderr: null,
    processExit,
    done,
    exited: done.then(statusOf),
    resize(cols: number, rows: number) {
      if (gone || !(cols > 0 && rows > 0 && Number.isFinite(cols) && Number.isFinite(rows))) return;
      try {
        p.resize(Math.floor(cols), Math.floor(rows));
      } catch {
        /* the pty is closing */
      }
    },
    closeStdin() {
      if (eofSent || gone) return;
      eofSent = true;
      p.write('\x04');
    },
    kill(sig: NodeJS.Signals = 'SIGKILL') {
      signalSession(pid, sig);
    },
  };
}

function launch(spec: LaunchSpec): Launched {
  return spec.tty ? launchPty(spec) : launchPipes(spec);
}

// ---------------------------------------------------------------------------------------------
// The runtime.

const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ATTACH_BUFFER_LIMIT = 16 * 1024 * 1024;
const KILL_TIMEOUT_MS = 5000;
const MARKER_VAR = 'PODSHELL_SANDBOX_CONTAINER';

/** Runs inside the new mount+UTS namespace: hostname, mounts, then chroot+chdir into a sleeper. */
const HOLDER_SCRIPT = `set -e
if [ -n "$5" ]; then "$5" "$4"; else printf '%s\\n' "$4" > /proc/sys/kernel/hostname; fi
"$7" -a -T "$1"
exec "$8" --root="$2" --wd="$3" -- "$6" infinity`;

const PROBE_SCRIPT = `set -e
"$2" -t tmpfs podshell-probe "$1"
if [ -n "$3" ]; then "$3" podshell-probe; else printf 'podshell-probe\\n' > /proc/sys/kernel/hostname; fi
exec "$4" --root=/ --wd=/ -- "$5" 0`;

/**
 * Runs beside the runtime for its whole life. A line on stdin means a clean close(); end of file
 * means the runtime's process died without close(): then it kills every process of the
 * runtime's containers (chrooted under <stateDir>/c/, or carrying the plain-process marker in
 * their environment) and removes the state directory.
 */
const WATCHDOG_SCRIPT = `read _ && exit 0
n=0
while [ $n -lt 10 ]; do
  found=
  for d in /proc/[0-9]*; do
    p=\${d#/proc/}
    [ "$p" = "$$" ] && continue
    r=$(readlink "$d/root" 2>/dev/null) || continue
    case "$r" in "$1"/c/*) kill -9 "$p" 2>/dev/null && found=1; continue;; esac
    if [ -n "$2" ] && grep -qsaF -- "$2" "$d/environ"; then kill -9 "$p" 2>/dev/null && found=1; fi
  done
  [ -z "$found" ] && break
  n=$((n+1))
  sleep 0.2
done
grep -qF -- "$1" /proc/self/mountinfo || rm -rf -- "$1"`;

function findHostTool(name: string): string | null {
  const dirs = [...HOST_PATH.split(':'), ...(process.env.PATH ?? '').split(':')];
  for (const d of dirs) {
    if (!d.startsWith('/')) continue;
    const p = join(d, name);
    try {
      const st = statSync(p);
      if (st.isFile() && (st.mode & 0o111) !== 0) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

interface HostTools {
  readonly sh: string;
  readonly unshare: string;
  readonly nsenter: string;
  readonly mount: string;
  readonly sleep: string;
  /** Empty when there is no hostname binary: the holder writes /proc/sys/kernel/hostname. */
  readonly hostname: string;
}

function runQuiet(file: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const child = spawnChild(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: HOST_PATH } });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      res({ code: null, stderr: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stderr: stderr.trim() });
    });
  });
}

async function probeNamespaces(stateDir: string): Promise<{ tools: HostTools } | { problem: string }> {
  if (process.platform !== 'linux') return { problem: 'namespaces need Linux' };
  if (process.getuid?.() !== 0) return { problem: 'the sandbox is not running as root' };
  const found: Record<string, string | null> = {};
  for (const name of ['sh', 'unshare', 'nsenter', 'mount', 'sleep', 'hostname']) found[name] = findHostTool(name);
  const missing = ['sh', 'unshare', 'nsenter', 'mount', 'sleep'].filter((n) => !found[n]);
  if (missing.length) return { problem: `${missing.join(', ')} not found` };
  const tools: HostTools = {
    sh: found.sh!,
    unshare: found.unshare!,
    nsenter: found.nsenter!,
    mount: found.mount!,
    sleep: await realpath(found.sleep!),
    hostname: found.hostname ?? '',
  };
  const dir = join(stateDir, 'probe');
  await mkdir(dir, { recursive: true });
  const r = await runQuiet(
    tools.unshare,
    ['--mount', '--uts', '--propagation', 'private', '--', tools.sh, '-c', PROBE_SCRIPT, 'probe', dir, tools.mount, tools.hostname, tools.unshare, tools.sleep],
    10_000,
  );
  await rm(dir, { recursive: true, force: true });
  if (r.code !== 0) return { problem: `unshare --mount --uts failed (${r.stderr || `exit ${r.code}`})` };
  return { tools };
}

/** A DNS label kubelet would accept as a hostname. */
function sanitizeHostname(h: string): string {
  const s = h
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 63)
    .replace(/^[-.]+|[-.]+$/g, '');
  return s || 'localhost';
}

/** What containers share with the runtime that started them. */
interface Host {
  readonly tools: HostTools | null;
  isClosed(): boolean;
}

export class Runtime {
  readonly isolation: 'namespaces' | 'none';
  readonly stateDir: string;
  #tools: HostTools | null;
  #containers = new Set<SandboxContainer>();
  #counter = 0;
  #slim: Promise<string> | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;
  #hostNs: string | null;
  #token = randomBytes(6).toString('hex');
  #watchdog: ChildProcess | null = null;

  private constructor(stateDir: string, isolation: 'namespaces' | 'none', tools: HostTools | null) {
    this.stateDir = stateDir;
    this.isolation = isolation;
    this.#tools = tools;
    this.#hostNs = mntNs('self');
    this.#startWatchdog();
  }

  static async create(opts: RuntimeOptions): Promise<Runtime> {
    await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
    const stateDir = await realpath(resolve(opts.stateDir));
    const want = opts.isolation ?? 'auto';
    if (want === 'none') return Runtime.#finish(stateDir, 'none', null);
    const probe = await probeNamespaces(stateDir);
    if ('tools' in probe) return Runtime.#finish(stateDir, 'namespaces', probe.tools);
    if (want === 'namespaces') {
      await rm(stateDir, { recursive: true, force: true });
      throw new Error(`namespaces isolation is not available: ${probe.problem}`);
    }
    opts.warn?.(
      `Sandbox containers will run as plain processes on this host, without isolation: ${probe.problem}. ` +
        `Each container gets its own working directory, but not its own hostname or filesystem, so image flavours ` +
        `(slim, distroless) are not emulated and commands in pods can see and change the host's files.`,
    );
    return Runtime.#finish(stateDir, 'none', null);
  }

  static async #finish(stateDir: string, isolation: 'namespaces' | 'none', tools: HostTools | null): Promise<Runtime> {
    // Leftovers of an earlier runtime that did not close.
    await Promise.all(['c', 'slim-bin', 'empty', 'probe'].map((d) => rm(join(stateDir, d), { recursive: true, force: true })));
    await mkdir(join(stateDir, 'c'), { recursive: true, mode: 0o700 });
    if (isolation === 'namespaces') await mkdir(join(stateDir, 'empty'), { recursive: true, mode: 0o755 });
    return new Runtime(stateDir, isolation, tools);
  }

  #startWatchdog(): void {
    const sh = findHostTool('sh');
    if (!sh) return;
    const marker = this.isolation === 'none' ? `${MARKER_VAR}=${this.#token}-` : '';
    const dog = spawnChild(sh, ['-c', WATCHDOG_SCRIPT, 'podshell-watchdog', this.stateDir, marker], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
      env: { PATH: HOST_PATH },
    });
    dog.on('error', () => {});
    dog.stdin!.on('error', () => {});
    dog.unref();
    (dog.stdin as Socket).unref();
    this.#watchdog = dog;
  }

  #slimBin(): Promise<string> {
    return (this.#slim ??= (async () => {
      const dir = join(this.stateDir, 'slim-bin');
      await prepareSlimBin(dir);
      return dir;
    })());
  }

  async startContainer(opts: StartOptions): Promise<Container> {
    if (this.#closed) throw new Error('runtime is closed');
    const { spec } = opts;
    const id = ++this.#counter;
    const dir = join(this.stateDir, 'c', String(id));
    const flavor = flavorOf(spec.image);
    const hostname = sanitizeHostname(opts.hostname);
    const workingDir = spec.workingDir ? posix.resolve('/', spec.workingDir) : '/';
    const argv = [...(spec.command ?? []), ...(spec.args ?? [])];
    const host: Host = { tools: this.#tools, isClosed: () => this.#closed };

    if (this.isolation === 'none') {
      const root = join(dir, 'root');
      const cwd = join(root, workingDir);
      await mkdir(cwd, { recursive: true });
      // Plain processes can leave their session; this variable still tells them apart.
      const marker = `${this.#token}-${id}`;
      const env = containerEnv(spec, { PATH: CONTAINER_PATH, HOSTNAME: hostname, HOME: root, [MARKER_VAR]: marker });
      const c = new SandboxContainer(host, { name: spec.name, flavor, spec, env, cwd, lookupRoot: '/', holder: null, ns: null, marker });
      c.startMain(argv.length ? argv : ['sleep', 'infinity']);
      this.#containers.add(c);
      return c;
    }

    const tools = this.#tools!;
    const slimBin = flavor === 'slim' ? await this.#slimBin() : undefined;
    const plan = await planRoot({
      root: join(dir, 'root'),
      flavor,
      slimBin,
      emptyDir: join(this.stateDir, 'empty'),
      workingDir,
      sleepBinary: tools.sleep,
    });
    const fstab = join(dir, 'fstab');
    await writeFile(fstab, plan.fstab);
    if (this.#closed) throw new Error('runtime is closed');

    const holder = spawnChild(
      tools.unshare,
      ['--mount', '--uts', '--propagation', 'private', '--', tools.sh, '-c', HOLDER_SCRIPT, 'podshell-holder',
        fstab, plan.root, workingDir, hostname, tools.hostname, plan.pause, tools.mount, tools.unshare],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { PATH: CONTAINER_PATH } },
    );
    holder.on('error', () => {});
    const env = containerEnv(spec, { PATH: CONTAINER_PATH, HOSTNAME: hostname, HOME: '/root' });
    const c = new SandboxContainer(host, { name: spec.name, flavor, spec, env, cwd: workingDir, lookupRoot: '', holder, ns: null, marker: null });
    this.#containers.add(c);
    try {
      await c.waitHolder(plan.root, this.#hostNs);
      c.startMain(argv.length ? argv : [plan.pause, 'infinity']);
    } catch (err) {
      await c.stop(0);
      this.#containers.delete(c);
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
    return c;
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const containers = [...this.#containers];
    for (const c of containers) c.markStopping();
    await killUntilGone(mergeSelectors(containers.map((c) => c.selector())), KILL_TIMEOUT_MS);
    await Promise.race([Promise.allSettled(containers.map((c) => c.settled())), timeout(KILL_TIMEOUT_MS)]);
    // Every mount lives in a container's namespace, gone with its last process. Should one be
    // visible here after all, detach it rather than remove files through it.
    try {
      const stuck = mountsUnder(this.stateDir);
      for (const m of stuck.reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore', env: { PATH: HOST_PATH } });
      if (mountsUnder(this.stateDir).length > 0) {
        throw new Error(`cannot remove ${this.stateDir}: mounts remain under it`);
      }
      await rm(this.stateDir, { recursive: true, force: true, maxRetries: 3 });
    } finally {
      this.#watchdog?.stdin?.end('closed\n');
    }
  }
}

function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = f[4]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(dir + '/')) out.push(mp);
  }
  return out;
}

function containerEnv(spec: ContainerSpec, base: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...base };
  for (const e of spec.env ?? []) env[e.name] = e.value ?? '';
  return env;
}

interface ContainerInit {
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

class SandboxContainer implements Container {
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

  get running(): boolean {
    return this.#main !== null && !this.#mainGone && !this.#stopping;
  }

  /** Waits until the holder has made the mounts and entered the root. */
  async waitHolder(root: string, hostNs: string | null): Promise<void> {
    const holder = this.#holder!;
    let stderr = '';
    let exit: string | undefined;
    holder.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    holder.once('exit', (code, sig) => (exit = sig ?? `exit ${code}`));
    if (!this.#holderPid) throw new Error(`cannot start container "${this.name}": unshare did not start`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      let r: string | undefined;
      try {
        r = readlinkSync(`/proc/${this.#holderPid}/root`);
      } catch {
        /* not yet, or gone */
      }
      if (r === root && exit === undefined) break;
      if (exit !== undefined || Date.now() > deadline) {
        await delay(20); // let stderr arrive
        throw new Error(`cannot start container "${this.name}": ${stderr.trim() || exit || 'timed out setting up its root'}`);
      }
      await delay(2);
    }
    const ns = mntNs(this.#holderPid);
    if (!ns || ns === hostNs) throw new Error(`cannot start container "${this.name}": no mount namespace of its own`);
    this.#ns = ns;
    this.#root = root;
    this.#lookupRoot = `/proc/${this.#holderPid}/root`;
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
    const base = this.#holder
      ? { file: this.#host.tools!.nsenter, args: ['-t', String(this.#holderPid), '-m', '-u', '-r', '-w', '--', ...argv], cwd: '/' }
      : { file: argv[0]!, args: argv.slice(1), cwd: this.#cwd };
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

  /** Selects every live process of this container. */
  selector(): Selector {
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
      ns: new Set(this.#ns === null ? [] : [this.#ns]),
      roots: new Set(this.#root === null ? [] : [this.#root]),
      markers: new Set(this.#marker === null ? [] : [this.#marker]),
    };
  }

  /** Resolves when the main process's bookkeeping is over (or it never started). */
  settled(): Promise<unknown> {
    return this.#main ? this.#main.done : Promise.resolve();
  }

  async #stopAll(): Promise<void> {
    await killUntilGone(this.selector(), KILL_TIMEOUT_MS);
  }

  stop(graceMs = 2000): Promise<void> {
    return (this.#stopped ??= (async () => {
      const main = this.#main;
      if (main && !this.#mainGone && graceMs > 0) {
        this.#stopping = true;
        signalSession(main.pid, 'SIGTERM');
        await Promise.race([main.processExit, timeout(graceMs)]);
      }
      this.#stopping = true;
      await this.#stopAll();
      if (main) await Promise.race([main.done, timeout(KILL_TIMEOUT_MS)]);
    })());
  }
}
