// The web shell gateway's rows: keystroke echo latency, output throughput and sessions held,
// each through the gateway (`startGateway()` in its own process, a fresh one per run, measured
// from /proc) side by side with a direct library exec against the same sandbox pod. The client
// of either is bench/contenders/shells.ts, in its own process.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sessionCommand } from '../src/gateway/shell.ts';
import type { EchoResult, HoldResult, ShellTask, StreamResult } from './contenders/shells.ts';
import type { GatewayMeasure, GatewayResult } from './model.ts';
import { ProcError, runProc } from './proc.ts';
import type { Ctx } from './rows.ts';
import { fmt, fmtBytes, median, mibPerSecond, pairRatio, percentile } from './stats.ts';

/** The issue's goals. */
export const goals = {
  addedEchoP99Ms: 5,
  echoAtSessions: 200,
  throughputRatio: 0.8,
  sessions: 1000,
  rssMiB: 500,
} as const;

const TYPE_EVERY_MS = 1000;
const OPEN_CONCURRENCY = 8;

// ---- the gateway process and what /proc says about it ------------------------------------------

interface GatewayProcess {
  loginUrl: string;
  pid: number;
  /** Stop it; resolves with how late its event loop ran while it served (ms), when it said. */
  stop: () => Promise<LoopDelay | null>;
}

export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

async function startGatewayProcess(ctx: Ctx, maxSessions: number): Promise<GatewayProcess> {
  const profile = ctx.profileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.profileDir] : [];
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...profile, join(ctx.root, 'bench', 'contenders', 'gateway-host.ts'), ctx.sandbox.kubeconfig, String(maxSessions)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  let delay: LoopDelay | null = null;
  const line = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code}) before it was ready`)));
  });
  lines.on('line', (l) => (delay = (JSON.parse(l) as { loopDelayMs: LoopDelay }).loopDelayMs));
  const info = JSON.parse(line) as { loginUrl: string; pid: number };
  return {
    ...info,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      return delay;
    },
  };
}

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface ProcStats {
  at: number;
  rssKiB: number;
  hwmKiB: number;
  /** User + system CPU time so far. */
  cpuSeconds: number;
}

function procStats(pid: number): ProcStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { at: performance.now(), rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / clockTicks };
}

/** CPU used between two readings, as % of one core. */
const cpuPercent = (a: ProcStats, b: ProcStats) => (100 * (b.cpuSeconds - a.cpuSeconds)) / ((b.at - a.at) / 1000);

// ---- the client process ------------------------------------------------------------------------

async function runShells<T>(ctx: Ctx, mode: 'gateway' | 'direct', task: ShellTask, target: object): Promise<T> {
  let proc;
  try {
    proc = await runProc({
      argv: [process.execPath, '--disable-warning=ExperimentalWarning', join(ctx.root, 'bench', 'contenders', 'shells.ts'), mode, JSON.stringify(task), JSON.stringify(target)],
      timeoutMs: 600_000,
    });
  } catch (err) {
    // The client's own last words, not its command line (which holds the login URL).
    if (err instanceof ProcError) throw new Error(`the ${mode} client exited ${err.result.code}: ${lastError(err.result.stderr)}`);
    throw err;
  }
  return JSON.parse(proc.stdout.trim().split('\n').pop() ?? '') as T;
}

/**
 * Run `task` through a fresh gateway (and stop it after), or directly. `measured` gets what /proc
 * said of the gateway process just before the client started and just after it finished.
 */
async function throughOrDirect<T>(
  ctx: Ctx,
  mode: 'gateway' | 'direct',
  task: ShellTask,
  maxSessions: number,
  measured?: (before: ProcStats, after: ProcStats) => void,
  loopDelay?: (delay: LoopDelay) => void,
): Promise<T> {
  if (mode === 'direct') return runShells<T>(ctx, 'direct', task, { kubeconfig: ctx.sandbox.kubeconfig });
  const gateway = await startGatewayProcess(ctx, maxSessions);
  let ok = false;
  try {
    const before = procStats(gateway.pid);
    const result = await runShells<T>(ctx, 'gateway', task, { loginUrl: gateway.loginUrl, pid: gateway.pid });
    measured?.(before, procStats(gateway.pid));
    ok = true;
    return result;
  } finally {
    const delay = await gateway.stop();
    if (ok && delay) loopDelay?.(delay);
  }
}

/** The line of a Node stack trace that says what went wrong. */
function lastError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return (lines.find((l) => /^\w*Error\b|^Error:/.test(l.trim())) ?? lines.at(-1) ?? '').trim().slice(0, 300);
}

const firstLine = (err: unknown) => (err as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 300);

// ---- keystroke echo latency ----------------------------------------------------------------------

export async function echo(ctx: Ctx): Promise<GatewayResult> {
  const { echoSessions, echoSamples: samples, echoRounds: rounds } = ctx.plan;
  const command = sessionCommand(undefined);
  const series: Record<string, number[]> = {};
  const loopDelays: Record<number, LoopDelay[]> = {};
  const errors: string[] = [];
  for (const sessions of echoSessions) {
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['gateway', 'direct'] as const) {
        const key = `${mode} ${sessions}`;
        try {
          const result = await throughOrDirect<EchoResult>(ctx, mode, { kind: 'echo', sessions, samples, command, typeEveryMs: TYPE_EVERY_MS }, sessions + 10, undefined, (d) => (loopDelays[sessions] ??= []).push(d));
          (series[key] ??= []).push(...result.latenciesMs);
          ctx.log(
            `echo ${round + 1}/${rounds} ${key} sessions: p50 ${fmt(percentile(result.latenciesMs, 50))} ms, p99 ${fmt(percentile(result.latenciesMs, 99))} ms ` +
              `(opened in ${fmt(result.openSeconds)} s; ${result.backgroundKeys} keys typed by the others meanwhile)`,
          );
        } catch (err) {
          errors.push(`${key} sessions: ${firstLine(err)}`);
          ctx.log(`echo ${round + 1}/${rounds} ${key} sessions: FAILED ${firstLine(err)}`);
        }
      }
    }
  }
  const measures: GatewayMeasure[] = [];
  const largest = Math.max(...echoSessions);
  for (const sessions of echoSessions) {
    for (const p of [50, 99]) {
      const gateway = series[`gateway ${sessions}`] ? percentile(series[`gateway ${sessions}`]!, p) : null;
      const direct = series[`direct ${sessions}`] ? percentile(series[`direct ${sessions}`]!, p) : null;
      const measure: GatewayMeasure = { name: `echo p${p}, ${sessions} active session${sessions === 1 ? '' : 's'}`, unit: 'ms', gateway, direct };
      if (gateway !== null && direct !== null) measure.compare = { kind: 'added', value: gateway - direct };
      if (p === 99 && sessions === largest) {
        const atGoal = sessions >= goals.echoAtSessions;
        measure.goal = {
          text: `added p99 ≤ ${goals.addedEchoP99Ms} ms at ${goals.echoAtSessions} active sessions`,
          met: atGoal && measure.compare ? measure.compare.value <= goals.addedEchoP99Ms : null,
        };
      }
      measures.push(measure);
    }
    const delays = loopDelays[sessions] ?? [];
    if (delays.length) {
      measures.push({
        name: `gateway event-loop delay p99 / worst while timed, ${sessions} active session${sessions === 1 ? '' : 's'}`,
        unit: 'ms',
        gateway: Math.max(...delays.map((d) => d.p99)),
        direct: null,
        extra: `worst ${fmt(Math.max(...delays.map((d) => d.max)))} ms`,
      });
    }
  }
  return {
    id: 'echo',
    title: 'keystroke echo latency',
    workload:
      `N shells open at once (the gateway's shell, bash else sh, on a terminal; the direct client runs the same command), each of the others typing a key every ${TYPE_EVERY_MS / 1000} s; ` +
      `${samples} keystrokes on one of them${rounds > 1 ? ` per run, ${rounds} runs pooled` : ''}, each timed from sending one byte to its echo`,
    measures,
    notes: [
      'Echo: the gateway client acks every output message (a terminal that renders at once); the direct client is `Cluster.exec({ tty: true, stdin: true })`, the same shell command. Both clients run in their own process; the gateway in a third, started afresh for each run.',
    ],
    errors,
    samples: series,
  };
}

// ---- output throughput ---------------------------------------------------------------------------

export async function webStream(ctx: Ctx): Promise<GatewayResult> {
  const { gwStreamBytes: bytes, gwStreamRounds: rounds } = ctx.plan;
  const values: Record<'gateway' | 'direct', (number | null)[]> = { gateway: [], direct: [] };
  const gatewayPeak: number[] = [];
  const gatewayCpuMsPerMiB: number[] = [];
  const chunkKiB: Record<'gateway' | 'direct', number[]> = { gateway: [], direct: [] };
  const errors: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const mode of ['gateway', 'direct'] as const) {
      try {
        const result = await throughOrDirect<StreamResult>(ctx, mode, { kind: 'stream', bytes }, 10, (before, after) => {
          gatewayPeak.push(after.hwmKiB);
          gatewayCpuMsPerMiB.push((1000 * (after.cpuSeconds - before.cpuSeconds)) / (bytes / (1024 * 1024)));
        });
        values[mode].push(mibPerSecond(result.bytes, result.seconds));
        chunkKiB[mode].push(result.bytes / result.messages / 1024);
        ctx.log(`webstream ${round + 1}/${rounds} ${mode}: ${fmt(values[mode].at(-1)!)} MiB/s${mode === 'gateway' ? `, gateway CPU ${fmt(gatewayCpuMsPerMiB.at(-1)!)} ms/MiB` : ''}`);
      } catch (err) {
        values[mode].push(null);
        errors.push(`${mode}: ${firstLine(err)}`);
        ctx.log(`webstream ${round + 1}/${rounds} ${mode}: FAILED ${firstLine(err)}`);
      }
    }
  }
  const ok = (v: (number | null)[]) => v.filter((x): x is number => x !== null);
  const gateway = ok(values.gateway).length ? median(ok(values.gateway)) : null;
  const direct = ok(values.direct).length ? median(ok(values.direct)) : null;
  const ratio = pairRatio(values.gateway, values.direct);
  const throughput: GatewayMeasure = { name: 'output throughput', unit: 'MiB/s', gateway, direct };
  if (Number.isFinite(ratio)) throughput.compare = { kind: 'ratio', value: ratio };
  throughput.goal = { text: `≥ ${goals.throughputRatio * 100}% of direct`, met: Number.isFinite(ratio) ? ratio >= goals.throughputRatio : false };
  return {
    id: 'webstream',
    title: 'output throughput',
    workload: `\`head -c ${fmtBytes(bytes)} /dev/zero\` off a terminal to a counting client that acks every 32 KiB, timed from the line of input that starts it (once the client is joined, or the exec open) to its exit status; ${rounds} round${rounds === 1 ? '' : 's'}, interleaved`,
    measures: [
      throughput,
      { name: 'gateway CPU time per MiB moved (sign-in and session set-up included)', unit: 'ms', gateway: gatewayCpuMsPerMiB.length ? median(gatewayCpuMsPerMiB) : null, direct: null },
      {
        name: 'mean payload of an output message (gateway) / of a stdout chunk (direct)',
        unit: 'KiB',
        gateway: chunkKiB.gateway.length ? median(chunkKiB.gateway) : null,
        direct: chunkKiB.direct.length ? median(chunkKiB.direct) : null,
      },
      { name: 'gateway peak RSS during the transfer', unit: 'MiB', gateway: gatewayPeak.length ? Math.max(...gatewayPeak) / 1024 : null, direct: null },
    ],
    notes: [],
    errors,
    samples: { gateway: ok(values.gateway), direct: ok(values.direct), gatewayCpuMsPerMiB },
  };
}

// ---- sessions held -------------------------------------------------------------------------------

export async function webSessions(ctx: Ctx): Promise<GatewayResult> {
  const { gwSessions: target, gwHoldSeconds: holdSeconds } = ctx.plan;
  const errors: string[] = [];
  const measures: GatewayMeasure[] = [];
  const atGoal = target >= goals.sessions;
  const gateway = await startGatewayProcess(ctx, target + 10);
  let client: ReturnType<typeof spawn> | undefined;
  try {
    const before = procStats(gateway.pid);
    const task: ShellTask = { kind: 'hold', sessions: target, concurrency: OPEN_CONCURRENCY };
    client = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(ctx.root, 'bench', 'contenders', 'shells.ts'), 'gateway', JSON.stringify(task), JSON.stringify({ loginUrl: gateway.loginUrl })], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    client.stdin!.on('error', () => {}); // a client that died first: its exit says why
    let stderr = '';
    client.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    const held = await new Promise<HoldResult>((resolve, reject) => {
      createInterface({ input: client!.stdout! }).on('line', (line) => {
        const message = JSON.parse(line) as { opened?: number } & Partial<HoldResult>;
        if (message.held !== undefined) resolve(message as HoldResult);
        else if (message.opened) ctx.log(`websessions: ${message.opened} open`);
      });
      client!.once('exit', (code) => reject(new Error(`the client exited ${code}: ${stderr.trim()}`)));
    });
    const opened = procStats(gateway.pid);
    ctx.log(`websessions: holding ${held.held} sessions (opened in ${fmt(held.openSeconds)} s)${held.error ? `; stopped: ${held.error}` : ''}`);
    if (held.error) errors.push(held.error);
    await new Promise((resolve) => setTimeout(resolve, holdSeconds * 1000));
    const idle = procStats(gateway.pid);
    measures.push(
      {
        name: 'sessions held (idle shells, each joined by a client)',
        unit: 'sessions',
        gateway: held.held,
        direct: null,
        goal: { text: `≥ ${goals.sessions} in one process`, met: atGoal ? held.held >= goals.sessions : null },
      },
      {
        name: `gateway RSS holding them (VmRSS, after ${holdSeconds} s idle)`,
        unit: 'MiB',
        gateway: idle.rssKiB / 1024,
        direct: null,
        goal: { text: `≤ ${goals.rssMiB} MiB at ${goals.sessions} sessions`, met: atGoal ? held.held >= goals.sessions && idle.rssKiB / 1024 <= goals.rssMiB : null },
      },
      { name: 'gateway peak RSS (VmHWM)', unit: 'MiB', gateway: idle.hwmKiB / 1024, direct: null },
      { name: 'gateway RSS before any session', unit: 'MiB', gateway: before.rssKiB / 1024, direct: null },
      { name: 'gateway RSS per session held', unit: 'KiB', gateway: held.held ? (idle.rssKiB - before.rssKiB) / held.held : null, direct: null },
      { name: `gateway CPU while opening them (${fmt(held.openSeconds)} s)`, unit: '% of a core', gateway: cpuPercent(before, opened), direct: null },
      { name: `gateway CPU holding them idle (${holdSeconds} s)`, unit: '% of a core', gateway: cpuPercent(opened, idle), direct: null },
    );
    return {
      id: 'websessions',
      title: 'concurrent sessions held',
      workload: `up to ${target} idle shells (POST /api/sessions, then joined over the stream by one client process), ${OPEN_CONCURRENCY} opened at a time, held ${holdSeconds} s; the gateway's own process read from /proc`,
      measures,
      notes: [
        `Sessions held: the gateway runs with --max-sessions ${target + 10}; each shell is also a process on a terminal in the sandbox (another process), which is as much a limit as the gateway.`,
      ],
      errors,
      samples: { rssKiB: [before.rssKiB, opened.rssKiB, idle.rssKiB] },
    };
  } finally {
    client?.stdin!.end();
    if (client && client.exitCode === null) await new Promise((resolve) => client!.once('exit', resolve));
    await gateway.stop();
  }
}
