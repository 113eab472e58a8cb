// Running one contender process and measuring it: wall time, exit status, stdout (captured or
// only counted by `wc -c`), and its own peak RSS — from `/usr/bin/time -f %M` when the machine
// has it, else by polling VmHWM in /proc/PID/status.

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
  const argv = haveGnuTime ? [GNU_TIME, '-f', '%M', '-o', rssFile, ...spec.argv] : spec.argv;
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
      if (haveGnuTime) {
        try {
          const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
          rssKiB = Number(lines[lines.length - 1]) || null;
        } catch {
          rssKiB = null;
        }
      }
      rmSync(dir, { recursive: true, force: true });
      const exit = /^exit (\d+)$/m.exec(control);
      const result: ProcResult = {
        ms,
        code: exit ? Number(exit[1]) : -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        rssKiB,
      };
      if (result.code !== 0) {
        reject(new ProcError(`${spec.argv.join(' ')} exited ${result.code}: ${result.stderr.trim().slice(-2000)}`, result));
      } else resolve(result);
    });
  });
}
