// Running one contender process and measuring it: wall time, exit status, stdout (captured or
// only counted by `wc -c`), its own peak RSS and CPU time — from `/usr/bin/time -f '%M %U %S'`
// when the machine has it, else by polling VmHWM in /proc/PID/status and the times in /proc/PID/stat.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';

export interface ProcSpec {
  /** The program and its arguments. */
  argv: string[];
  /** Feed this many zero bytes (from `head -c`) on stdin; default: no stdin. */
  stdinZeros?: number;
  /** Feed this file on stdin. */
  stdinFile?: string;
  /** 'count': stdout goes to `wc -c` and only its byte count comes back; 'capture' (default): kept. */
  stdout?: 'count' | 'capture';
  env?: NodeJS.ProcessEnv;
  /** Kill the whole process group after this long. [default 300000 ms] */
  timeoutMs?: number;
}

export interface ProcResult {
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
  /** The contender's exit code. */
  code: number;
  /** Captured stdout, or the `wc -c` count as text when stdout was counted. */
  stdout: string;
  stderr: string;
  /** Peak resident set size of the contender process, KiB (null when it could not be measured). */
  rssKiB: number | null;
  /** User + system CPU time of the contender process and the children it waited for, seconds (null: not measured). */
  cpuSeconds: number | null;
}

export class ProcError extends Error {
  readonly result: ProcResult;
  constructor(message: string, result: ProcResult) {
    super(message);
    this.name = 'ProcError';
    this.result = result;
  }
}

const haveGnuTime = existsSync(GNU_TIME);

/** How peak RSS is measured on this machine, for the report. */
export const rssMethod = haveGnuTime ? '`/usr/bin/time -f %M`' : 'polling VmHWM in /proc/PID/status every 20 ms';
/** How CPU time is measured on this machine, for the report. */
export const cpuMethod = haveGnuTime ? '`/usr/bin/time -f %U+%S` (user + system)' : 'user + system times (with waited-for children) in /proc/PID/stat, polled every 20 ms';

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ: 100 on every Linux build in use). */
const USER_HZ = 100;

/** utime + stime + cutime + cstime of a live process, seconds. */
function readCpu(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name (which may hold spaces) start at state, field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) / USER_HZ;
  } catch {
    return null;
  }
}

function readVmHWM(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Run one contender. A small sh script wires the pipes so the harness never touches the data:
 * `head -c N /dev/zero | { CONTENDER & } | wc -c`; it reports the contender's pid and exit code on
 * fd 3. (A background job's stdin is /dev/null unless redirected, hence fd 4.)
 */
export function runProc(spec: ProcSpec): Promise<ProcResult> {
  const dir = mkdtempSync(join(tmpdir(), 'podshell-bench-proc-'));
  const rssFile = join(dir, 'rss');
  const argv = haveGnuTime ? [GNU_TIME, '-f', '%M %U %S', '-o', rssFile, ...spec.argv] : spec.argv;
  const feed = spec.stdinZeros !== undefined ? `head -c ${Math.floor(spec.stdinZeros)} /dev/zero | ` : '';
  const count = spec.stdout === 'count' ? ' | wc -c' : '';
  // The file name travels in the environment, never inside the script.
  const fromFile = spec.stdinFile !== undefined ? ' < "$BENCH_STDIN_FILE"' : '';
  const script = `${feed}{ exec 4<&0; "$@" <&4 4<&- & echo "pid $!" >&3; wait $!; echo "exit $?" >&3; }${fromFile}${count}`;
  const start = performance.now();
  const child = spawn('sh', ['-c', script, 'sh', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...(spec.env ?? process.env), ...(spec.stdinFile !== undefined ? { BENCH_STDIN_FILE: spec.stdinFile } : {}) },
    detached: true,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let control = '';
  let pid = 0;
  let peak: number | null = null;
  let cpu: number | null = null;
  let poll: NodeJS.Timeout | undefined;
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => {
    control += c.toString();
    const m = /^pid (\d+)$/m.exec(control);
    if (m && !pid) {
      pid = Number(m[1]);
      if (!haveGnuTime) {
        const sample = () => {
          const v = readVmHWM(pid);
          if (v !== null) peak = Math.max(peak ?? 0, v);
          cpu = readCpu(pid) ?? cpu;
        };
        sample();
        poll = setInterval(sample, 20);
      }
    }
  });
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {}
  }, spec.timeoutMs ?? 300_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      const ms = performance.now() - start;
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      let rssKiB = peak;
      let cpuSeconds = cpu;
      if (haveGnuTime) {
        rssKiB = cpuSeconds = null;
        try {
          // The last line (a killed contender's file starts with "Command terminated by signal").
          const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
          const [rss, user, sys] = lines[lines.length - 1]!.split(' ').map(Number);
          rssKiB = rss || null;
          if (Number.isFinite(user) && Number.isFinite(sys)) cpuSeconds = user! + sys!;
        } catch {}
      }
      rmSync(dir, { recursive: true, force: true });
      const exit = /^exit (\d+)$/m.exec(control);
      const result: ProcResult = {
        ms,
        code: exit ? Number(exit[1]) : -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        rssKiB,
        cpuSeconds,
      };
      if (result.code !== 0) {
        reject(new ProcError(`${spec.argv.join(' ')} exited ${result.code}: ${result.stderr.trim().slice(-2000)}`, result));
      } else resolve(result);
    });
  });
}
