// The host tools the namespace runtime drives (unshare, nsenter, mount…), the shell scripts it
// runs with them, and the probe that decides whether namespaces work on this machine.

import { spawn as spawnChild } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * unshare's options for a container's holder: its own mount, UTS and PID namespaces (the holder's
 * shell is the namespace's first process; it dies with unshare). The network namespace is the
 * pod's, shared by its containers: the holder is started inside it (see joinPodNetwork()).
 */
export const UNSHARE_OPTIONS: readonly string[] = ['--mount', '--uts', '--pid', '--kill-child', '--propagation', 'private'];

/** unshare's options for the holder of an ephemeral container that shares its target's other namespaces. */
export const EPHEMERAL_UNSHARE_OPTIONS: readonly string[] = ['--mount', '--propagation', 'private'];

/** setpriv's options for every process of a container: no capabilities, ever, and no_new_privs. */
export const DROP_PRIVILEGES: readonly string[] = ['--bounding-set', '-all', '--inh-caps', '-all', '--no-new-privs'];

/**
 * pid 1 of a container, as the pause process of a pod: it sleeps (its child sleeps, the shell
 * waits) and so reaps every process orphaned in the container, which would otherwise stay a
 * zombie. $0 is the pause binary.
 *
 * `kill 1` in the container (SIGTERM to pid 1) ends the main process, as it does in a cluster's
 * container where the main process is pid 1: pid 1 passes SIGTERM on to the main process — the
 * first process that entered the container, so the lowest pid other than 1 that leads a session
 * (every process enters in a session of its own; the main process's children and the pause's
 * child lead none). Shell builtins only: a distroless root has no tools.
 */
const PAUSE_SCRIPT =
  'main() { m=; for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = 1 ] && continue; ' +
  'read -r s 2>/dev/null < "$d/stat" || continue; set -- ${s##*) }; [ "$4" = "$p" ] || continue; ' +
  '{ [ -z "$m" ] || [ "$p" -lt "$m" ]; } && m=$p; done; [ -n "$m" ] && kill -TERM "$m" 2>/dev/null; }; ' +
  'trap main TERM; while :; do "$0" infinity & wait; done';

/**
 * Runs as pid 1 of the new namespaces: hostname, mounts (among them the container's own /proc),
 * then chroot+chdir, drop every privilege, and pause. $10 is the sh in the container's root.
 */
export const HOLDER_SCRIPT = `set -e
if [ -n "$5" ]; then "$5" "$4"; else printf '%s\\n' "$4" > /proc/sys/kernel/hostname; fi
"$7" -a -T "$1"
exec "$8" --root="$2" --wd="$3" -- "$9" ${DROP_PRIVILEGES.join(' ')} -- "\${10}" -c '${PAUSE_SCRIPT}' "$6"`;

/**
 * Runs as the only process of a pod's new network namespace (unshare --net, without a fork):
 * brings its loopback up with `ip` ($1), says so, and keeps the namespace until its stdin, a
 * pipe from the runtime, ends — also when the runtime's process dies. The pod's containers join
 * the namespace by this process's /proc/<pid>/ns/net.
 */
export const NETNS_SCRIPT = `"$1" link set lo up || exit 1
echo ready
read -r _ || :`;

const PROBE_SCRIPT = `set -e
"$2" -t tmpfs podshell-probe "$1"
if [ -n "$3" ]; then "$3" podshell-probe; else printf 'podshell-probe\\n' > /proc/sys/kernel/hostname; fi
exec "$4" --root=/ --wd=/ -- "$6" ${DROP_PRIVILEGES.join(' ')} -- "$5" 0`;

/**
 * Runs beside the runtime for its whole life. A line on stdin means a clean close(); end of file
 * means the runtime's process died without close(): then it kills every process of the
 * runtime's containers (those whose root is a container's root under <stateDir>/c/, pid 1 of
 * each PID namespace among them, or that carry the plain-process marker in their environment)
 * and removes the state directory. A pass over /proc forks nothing per process (test and read
 * are shell builtins): on a loaded machine with hundreds of processes, a fork for each would
 * make every pass take seconds. Zombies are skipped: they are dead already, and whoever reaps
 * them may take its time.
 */
export const WATCHDOG_SCRIPT = `read _ && exit 0
n=0
while [ $n -lt 20 ]; do
  found=
  for d in /proc/[0-9]*; do
    p=\${d#/proc/}
    [ "$p" = "$$" ] && continue
    read -r s 2>/dev/null < "$d/stat" || continue
    case "\${s##*) }" in Z*|X*) continue;; esac
    for r in "$1"/c/*/root; do
      if [ "$d/root" -ef "$r" ]; then kill -9 "$p" 2>/dev/null && found=1; continue 2; fi
    done
    if [ -n "$2" ] && grep -qsaF -- "$2" "$d/environ"; then kill -9 "$p" 2>/dev/null && found=1; fi
  done
  [ -z "$found" ] && break
  n=$((n+1))
  sleep 0.1
done
grep -qF -- "$1" /proc/self/mountinfo || rm -rf -- "$1"`;

export function findHostTool(name: string): string | null {
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

export interface HostTools {
  readonly sh: string;
  readonly unshare: string;
  readonly nsenter: string;
  readonly mount: string;
  readonly sleep: string;
  readonly setsid: string;
  readonly setpriv: string;
  /** Empty when there is none: then descriptors node-pty leaves open cannot be closed for containers. */
  readonly bash: string;
  /** Empty when there is no hostname binary: the holder writes /proc/sys/kernel/hostname. */
  readonly hostname: string;
  /** iproute2's ip: brings the loopback of each pod's network namespace up. */
  readonly ip: string;
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

export async function probeNamespaces(stateDir: string): Promise<{ tools: HostTools } | { problem: string }> {
  if (process.platform !== 'linux') return { problem: 'namespaces need Linux' };
  if (process.getuid?.() !== 0) return { problem: 'the sandbox is not running as root' };
  const found: Record<string, string | null> = {};
  const needed = ['sh', 'unshare', 'nsenter', 'mount', 'sleep', 'setsid', 'setpriv', 'ip'];
  for (const name of [...needed, 'hostname', 'bash']) found[name] = findHostTool(name);
  const missing = needed.filter((n) => !found[n]);
  if (missing.length) return { problem: `${missing.join(', ')} not found${missing.includes('ip') ? ' (ip, from iproute2, gives each pod a network of its own)' : ''}` };
  const tools: HostTools = {
    sh: await realpath(found.sh!),
    unshare: found.unshare!,
    nsenter: found.nsenter!,
    mount: found.mount!,
    sleep: await realpath(found.sleep!),
    setsid: await realpath(found.setsid!),
    setpriv: await realpath(found.setpriv!),
    hostname: found.hostname ?? '',
    bash: found.bash ?? '',
    ip: found.ip!,
  };
  const dir = join(stateDir, 'probe');
  await mkdir(dir, { recursive: true });
  const r = await runQuiet(
    tools.unshare,
    [...UNSHARE_OPTIONS, '--', tools.sh, '-c', PROBE_SCRIPT, 'probe', dir, tools.mount, tools.hostname, tools.unshare, tools.sleep, tools.setpriv],
    10_000,
  );
  await rm(dir, { recursive: true, force: true });
  if (r.code !== 0) return { problem: `unshare --mount --uts --pid failed (${r.stderr || `exit ${r.code}`})` };
  const net = await runQuiet(tools.unshare, ['--net', '--', tools.ip, 'link', 'set', 'lo', 'up'], 10_000);
  if (net.code !== 0) return { problem: `unshare --net failed (${net.stderr || `exit ${net.code}`})` };
  return { tools };
}

/** A DNS label kubelet would accept as a hostname. */
export function sanitizeHostname(h: string): string {
  const s = h
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 63)
    .replace(/^[-.]+|[-.]+$/g, '');
  return s || 'localhost';
}

