// Host processes seen through procfs: listing them, telling which belong to a container (by pid,
// session, mount namespace and root, or the plain-process marker in their environment), and
// signalling them until they are gone.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/** The environment variable that marks every process of a plain-process container. */
export const MARKER_VAR = 'PODSHELL_SANDBOX_CONTAINER';

export interface ProcInfo {
  readonly pid: number;
  readonly sid: number;
  readonly pgid: number;
  /** Zombie or dead: nothing left to kill. */
  readonly dead: boolean;
}

export function readProc(pid: number): ProcInfo | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { pid, pgid: Number(f[2]), sid: Number(f[3]), dead: f[0] === 'Z' || f[0] === 'X' };
}

export function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

export function mntNs(pid: number | 'self'): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/** The value of the plain-process marker variable in a process's environment. */
export function markerOf(pid: number): string | null {
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
export interface Selector {
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

export function mergeSelectors(list: readonly Selector[]): Selector {
  return {
    pids: new Set(list.flatMap((s) => [...s.pids])),
    sessions: new Set(list.flatMap((s) => [...s.sessions])),
    ns: new Set(list.flatMap((s) => [...s.ns])),
    roots: new Set(list.flatMap((s) => [...s.roots])),
    markers: new Set(list.flatMap((s) => [...s.markers])),
  };
}

export function selects(sel: Selector, p: ProcInfo): boolean {
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

export function chrootedUnder(pid: number, roots: Set<string>): boolean {
  let root: string;
  try {
    root = readlinkSync(`/proc/${pid}/root`);
  } catch {
    return false;
  }
  for (const r of roots) if (root === r || root.startsWith(`${r}/`)) return true;
  return false;
}

export function killable(pid: number): boolean {
  return pid > 1 && pid !== process.pid && pid !== process.ppid;
}

export function signal(pid: number, sig: NodeJS.Signals | number): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Signals a session leader's process group and every live process of its session. */
export function signalSession(leader: number, sig: NodeJS.Signals | number): void {
  if (!killable(leader)) return;
  signal(-leader, sig);
  for (const p of listProcs()) if (p.sid === leader && !p.dead && killable(p.pid)) signal(p.pid, sig);
}

const O_CLOEXEC = 0o2000000;

/** This process's descriptors above 2 that children inherit (no close-on-exec flag). */
export function inheritableDescriptors(): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc/self/fdinfo');
  } catch {
    return out;
  }
  for (const name of names) {
    const fd = Number(name);
    if (!(fd > 2)) continue;
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${name}`, 'latin1');
    } catch {
      continue; // closed meanwhile (the directory's own descriptor among them)
    }
    const flags = /^flags:\s*([0-7]+)$/m.exec(info);
    if (flags && (parseInt(flags[1]!, 8) & O_CLOEXEC) === 0) out.push(fd);
  }
  return out;
}

/** A process's first child, or null when it has none (yet). */
export function childOf(pid: number): number | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim();
  } catch {
    return null;
  }
  return s === '' ? null : Number(s.split(' ')[0]);
}

/**
 * Signals what an entering process (nsenter joining a PID namespace) runs: its child, which
 * starts a session of its own, and everything in that session and still in the entering
 * process's, but not the entering process itself, which waits for its child and then exits as
 * the child did. Before the child exists, the entering process and its process group.
 */
export function signalEntered(enterer: number, sig: NodeJS.Signals | number): void {
  if (!killable(enterer)) return;
  const child = childOf(enterer);
  if (child === null) {
    // A child forked meanwhile is still in the process group: a group signal reaches it too.
    signalSession(enterer, sig);
    return;
  }
  for (const p of listProcs()) {
    if (p.pid !== enterer && (p.sid === child || p.sid === enterer) && !p.dead && killable(p.pid)) signal(p.pid, sig);
  }
}

/** SIGKILLs every live process `match` selects, again and again, until there are none (or time is up). */
export async function killUntilGone(sel: Selector, timeoutMs: number): Promise<number> {
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


export function mountsUnder(dir: string): string[] {
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
