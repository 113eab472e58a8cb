// The sandbox's container runtime: containers are real local processes. With "namespaces"
// isolation each container gets its own mount, UTS and PID namespace and a root directory
// assembled from read-only bind mounts of the host's /usr, /etc… (see rootfs.ts); a small
// "holder" process (like Kubernetes' pause container, pid 1 of the namespace) keeps the
// namespaces and the chroot, and every process of the container — the main process and each
// exec — joins them with nsenter, on a pty (node-pty) or on pipes, in a session of its own and
// without any capability (setpriv). The runtime sees them by their host pids.
//
// Each pod gets a network namespace of its own, shared by its containers (netrelay.ts).
//
// With "none" isolation containers are plain host processes in a per-container directory.
//
// This file holds the Runtime (start-up, containers' roots, close and the watchdog); container.ts
// one container, launch.ts one process, procfs.ts finding and killing processes, hosttools.ts the
// host tools and scripts.

import { randomBytes } from 'node:crypto';
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { mkdir, realpath, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join, posix, resolve } from 'node:path';
import { containerEnv, joinPodNetwork, KILL_TIMEOUT_MS, SandboxContainer, type Container, type Host } from './container.ts';
import { dialHostLoopback, PodNetwork } from './netrelay.ts';
import { SandboxError } from './errors.ts';
import { EPHEMERAL_UNSHARE_OPTIONS, findHostTool, HOLDER_SCRIPT, HOST_PATH, probeNamespaces, sanitizeHostname, UNSHARE_OPTIONS, WATCHDOG_SCRIPT, type HostTools } from './hosttools.ts';
import { terminalDescriptors, timeout } from './launch.ts';
import { inheritableDescriptors, MARKER_VAR, mergeSelectors, killUntilGone, mntNs, mountsUnder } from './procfs.ts';
import { CONTAINER_PATH, flavorOf, planRoot, prepareSlimBin, SETPRIV_IN_ROOT, SH_IN_ROOT, type Flavor } from './rootfs.ts';
import type { ContainerSpec } from './types.ts';

export { flavorOf };
export type { Flavor };
export type { LogBuffer } from './logbuffer.ts';
export { ContainerNotRunningError, ExecNotFoundError, type AttachHandle, type Container, type ExecOptions } from './container.ts';
export type { ExecProcess } from './launch.ts';

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
  /**
   * An ephemeral container's target: the new container joins its PID (and UTS and network)
   * namespaces instead of making its own, and still gets a mount namespace and root of its own.
   */
  shareProcessesWith?: Container;
}

/** The PID namespace of a process (`pid:[4026531836]`), or null when it is gone. */
function pidNs(pid: number | 'self'): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
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
  /** Descriptors this process was started with that its children inherit: not for containers. */
  #inherited: readonly number[] = inheritableDescriptors();
  #token = randomBytes(6).toString('hex');
  #watchdog: ChildProcess | null = null;
  /** Each pod's network namespace, by the pod's uid. */
  #networks = new Map<string, Promise<PodNetwork>>();
  /** Networks ever set up: each gets a folder of its own, never reused (pods come and go, scale.ts). */
  #networkCount = 0;

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
      throw new SandboxError('ERR_SANDBOX_ISOLATION', `namespaces isolation is not available: ${probe.problem}`);
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
    await Promise.all(['c', 'net', 'slim-bin', 'empty', 'probe'].map((d) => rm(join(stateDir, d), { recursive: true, force: true })));
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

  /** The pod's network namespace, set up with its first container. */
  #podNetwork(podUid: string): Promise<PodNetwork> {
    let net = this.#networks.get(podUid);
    if (!net) {
      const n = ++this.#networkCount;
      net = PodNetwork.start(this.#tools!, join(this.stateDir, 'net', String(n)));
      this.#networks.set(podUid, net);
      net.catch(() => {
        if (this.#networks.get(podUid) === net) this.#networks.delete(podUid);
      });
    }
    return net;
  }

  /** A deleted pod's network goes with it (its containers are already stopped). */
  releasePod(podUid: string): void {
    const net = this.#networks.get(podUid);
    if (!net) return;
    this.#networks.delete(podUid);
    void net.then((n) => n.close(), () => {});
  }

  /**
   * A TCP connection to `port` on the pod's own loopback (127.0.0.1, else ::1), made inside the
   * pod's network namespace; with "none" isolation, the host's loopback, which is the pod's
   * processes' own. Rejects with DialError (netrelay.ts) when nothing accepts it.
   */
  async dialPod(podUid: string, port: number): Promise<Socket> {
    if (this.#closed) throw new SandboxError('ERR_SANDBOX_CLOSED', 'runtime is closed');
    if (this.isolation === 'none') return dialHostLoopback(port);
    const net = this.#networks.get(podUid);
    if (!net) throw new SandboxError('ERR_SANDBOX_NETWORK', 'the pod has no network namespace');
    return (await net).dial(port);
  }

  async startContainer(opts: StartOptions): Promise<Container> {
    if (this.#closed) throw new SandboxError('ERR_SANDBOX_CLOSED', 'runtime is closed');
    const { spec } = opts;
    const id = ++this.#counter;
    const dir = join(this.stateDir, 'c', String(id));
    const flavor = flavorOf(spec.image);
    const hostname = sanitizeHostname(opts.hostname);
    const workingDir = spec.workingDir ? posix.resolve('/', spec.workingDir) : '/';
    const argv = [...(spec.command ?? []), ...(spec.args ?? [])];
    const host: Host = {
      tools: this.#tools,
      isClosed: () => this.#closed,
      strayDescriptors: () => [...this.#inherited, ...terminalDescriptors()],
    };

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
      setsidBinary: tools.setsid,
      setprivBinary: tools.setpriv,
      shBinary: tools.sh,
      hostnameFile: join(dir, 'hostname'),
    });
    await writeFile(join(dir, 'hostname'), `${hostname}\n`);
    const fstab = join(dir, 'fstab');
    await writeFile(fstab, plan.fstab);
    const network = await this.#podNetwork(opts.podUid);
    if (this.#closed) throw new SandboxError('ERR_SANDBOX_CLOSED', 'runtime is closed');

    const holderArgs = [tools.sh, '-c', HOLDER_SCRIPT, 'podshell-holder',
      fstab, plan.root, workingDir, hostname, tools.hostname, plan.pause, tools.mount, tools.unshare, SETPRIV_IN_ROOT, SH_IN_ROOT];
    const target = opts.shareProcessesWith;
    const targetPidNs = target?.running && target.namespacePid > 0 ? pidNs(target.namespacePid) : null;
    if (target && (targetPidNs === null || targetPidNs === pidNs('self'))) {
      throw new SandboxError('ERR_SANDBOX_CONTAINER_START', `cannot start container "${spec.name}": its target container is not running`);
    }
    // With a target, nsenter joins its namespaces and forks (a PID namespace takes children
    // only); the child makes the mount namespace and runs the holder, one more process of the
    // target's PID namespace rather than its first. The target's network namespace is the pod's.
    const [file, ...args] = target
      ? [tools.nsenter, '-t', String(target.namespacePid), '-p', '-u', '-n', '--', tools.unshare, ...EPHEMERAL_UNSHARE_OPTIONS, '--', ...holderArgs]
      : joinPodNetwork(tools, network.pid, [tools.unshare, ...UNSHARE_OPTIONS, '--', ...holderArgs]);
    const holder = spawnChild(file!, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { PATH: CONTAINER_PATH } });
    holder.on('error', () => {});
    const env = containerEnv(spec, { PATH: CONTAINER_PATH, HOSTNAME: hostname, HOME: '/root' });
    const c = new SandboxContainer(host, { name: spec.name, flavor, spec, env, cwd: workingDir, lookupRoot: '', holder, ns: null, marker: null });
    this.#containers.add(c);
    try {
      await c.waitHolder(plan.root, this.#hostNs);
      // The target's pid named its namespaces when nsenter read it: had the target ended and the
      // pid gone to another process meanwhile, the container would be in that one's.
      if (target && pidNs(c.namespacePid) !== targetPidNs) {
        throw new SandboxError('ERR_SANDBOX_CONTAINER_START', `cannot start container "${spec.name}": its target container ended while it started`);
      }
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
    await killUntilGone(mergeSelectors(containers.map((c) => c.wrappers())), KILL_TIMEOUT_MS);
    await Promise.race([Promise.allSettled(containers.map((c) => c.settled())), timeout(KILL_TIMEOUT_MS)]);
    for (const net of this.#networks.values()) void net.then((n) => n.close(), () => {});
    // Every mount lives in a container's namespace, gone with its last process. Should one be
    // visible here after all, detach it rather than remove files through it.
    try {
      const stuck = mountsUnder(this.stateDir);
      for (const m of stuck.reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore', env: { PATH: HOST_PATH } });
      if (mountsUnder(this.stateDir).length > 0) {
        throw new SandboxError('ERR_SANDBOX_CLEANUP', `cannot remove ${this.stateDir}: mounts remain under it`);
      }
      await rm(this.stateDir, { recursive: true, force: true, maxRetries: 3 });
    } finally {
      this.#watchdog?.stdin?.end('closed\n');
    }
  }
}
