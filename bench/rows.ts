// The rows of the benchmark. Every row runs its contenders interleaved (A B C A B C …) against
// the one sandbox, a fresh process per contender per round, and checks what each one moved.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { SandboxInfo, Task, TaskResult } from './contenders/common.ts';
import type { CeilingResult, ContenderId, ContenderResult, RowResult, Sample } from './model.ts';
import type { Plan } from './options.ts';
import { runProc, type ProcResult } from './proc.ts';
import { fmt, fmtBytes, fmtMiB, median, mibPerSecond } from './stats.ts';
import { execRaw, feedStream } from './thin-client.ts';

export interface Ctx {
  plan: Plan;
  /** The repository root. */
  root: string;
  sandbox: SandboxInfo;
  /** The sandbox's own process, whose CPU time the raw client's stream rows record; null when unknown. */
  sandboxPid: number | null;
  /** How to start the podshell CLI as the published package runs it: `node bin/podshell.js` (dist/bundle). */
  podshell: string[];
  /** The checkout's launcher, `bin/podshell`: a bundle of the current sources, made again when one changes. */
  podshellSrc: string[];
  /** Another podshell CLI to compare with (e.g. the previous commit), or null. */
  baseline: string[] | null;
  /** The kubectl to compare with, or null when the machine has none. */
  kubectl: string | null;
  /** How the report names the kubectl, e.g. "kubectl 1.33". */
  kubectlLabel: string;
  /** Whether this podshell has a `cp` command yet. */
  podshellCp: boolean;
  /** Whether ws's native masking addon `bufferutil` is installed and loads (its rows then run once more without it). */
  bufferutil: boolean;
  /** A scratch folder (kubectl's cache, cp files). */
  tmp: string;
  /** Where the web shell gateway processes write their CPU profiles (`--profile`), or null. */
  profileDir: string | null;
  log: (message: string) => void;
}

interface Contender {
  id: ContenderId;
  ref: ContenderId | null;
  /** Why it cannot run here (it is reported, not run). */
  unavailable?: string;
  run: (round: number) => Promise<Sample & { extra?: Record<string, number> }>;
}

/** ws's switch that keeps it from loading `bufferutil` (its JavaScript masking runs instead). */
const noBufferUtilEnv = (): NodeJS.ProcessEnv => ({ ...process.env, WS_NO_BUFFER_UTIL: '1' });

/** The checkout's launcher, when it is not what `ctx.podshell` already runs (the build failed). */
const distinctSrc = (ctx: Ctx): boolean => ctx.podshellSrc.join(' ') !== ctx.podshell.join(' ');

export const labels: Record<ContenderId, string> = {
  'podshell-cli': 'podshell CLI',
  'podshell-src': 'podshell CLI from a checkout',
  'podshell-cli-nobu': 'podshell CLI, `WS_NO_BUFFER_UTIL=1`',
  'podshell-baseline': 'podshell CLI (baseline)',
  'podshell-lib': 'podshell library',
  kubectl: 'kubectl',
  'client-node': '@kubernetes/client-node',
  thin: 'ceiling: raw ws client',
};

const POD_DIR = '/tmp/podshell-bench';

// ---- how each kind of contender is started ---------------------------------------------------

function podshellArgv(ctx: Ctx, cli: string[], sub: 'exec' | 'cp', ...rest: string[]): string[] {
  return [...cli, sub, '--kubeconfig', ctx.sandbox.kubeconfig, ...rest];
}

function kubectlArgv(ctx: Ctx, ...rest: string[]): string[] {
  return [ctx.kubectl!, '--kubeconfig', ctx.sandbox.kubeconfig, '--cache-dir', join(ctx.tmp, 'kubectl-cache'), ...rest];
}

/** An in-process contender: its own node process, one task, one JSON line back. */
async function inProcess(ctx: Ctx, file: string, task: Task): Promise<{ result: TaskResult; proc: ProcResult }> {
  const proc = await runProc({
    argv: [process.execPath, '--disable-warning=ExperimentalWarning', join(ctx.root, 'bench', 'contenders', file), JSON.stringify(task), JSON.stringify(ctx.sandbox)],
  });
  const last = proc.stdout.trim().split('\n').pop() ?? '';
  return { result: JSON.parse(last) as TaskResult, proc };
}

function expectCount(proc: ProcResult, want: number, what: string): void {
  const got = proc.stdout.trim();
  if (got !== String(want)) throw new Error(`${what}: got ${JSON.stringify(got.slice(0, 200))}, expected ${want}`);
}

// ---- the row loop ------------------------------------------------------------------------------

async function runRow(ctx: Ctx, meta: Omit<RowResult, 'contenders' | 'rounds'>, rounds: number, contenders: Contender[]): Promise<RowResult> {
  const results: ContenderResult[] = contenders.map((c) => ({
    id: c.id,
    label: c.id === 'kubectl' ? ctx.kubectlLabel : labels[c.id],
    ref: c.ref,
    samples: [],
    extra: {},
    errors: c.unavailable ? [c.unavailable] : [],
  }));
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of contenders.entries()) {
      const result = results[i]!;
      if (c.unavailable) continue;
      try {
        const { extra, ...sample } = await c.run(round);
        result.samples.push(sample);
        for (const [key, value] of Object.entries(extra ?? {})) (result.extra[key] ??= []).push(value);
        ctx.log(`${meta.id} ${round + 1}/${rounds} ${result.label}: ${fmt(sample.value)} ${meta.unit}, ${fmtMiB(sample.rssKiB)}`);
      } catch (err) {
        result.samples.push(null);
        const message = (err as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 300);
        result.errors.push(message);
        ctx.log(`${meta.id} ${round + 1}/${rounds} ${result.label}: FAILED ${message}`);
      }
    }
  }
  return { ...meta, rounds, contenders: results };
}

// ---- one-shot exec -------------------------------------------------------------------------------

export async function oneShot(ctx: Ctx): Promise<RowResult> {
  const cli = (prefix: string[]) => async () => {
    const proc = await runProc({ argv: podshellArgv(ctx, prefix, 'exec', 'demo', '--', 'true') });
    return { value: proc.ms, rssKiB: proc.rssKiB, cpuSeconds: proc.cpuSeconds };
  };
  const kubectl = async () => {
    const proc = await runProc({ argv: kubectlArgv(ctx, 'exec', 'demo', '--', 'true') });
    return { value: proc.ms, rssKiB: proc.rssKiB, cpuSeconds: proc.cpuSeconds };
  };
  const contenders: Contender[] = [
    { id: 'podshell-cli', ref: null, run: cli(ctx.podshell) },
    ...(ctx.baseline ? [{ id: 'podshell-baseline' as const, ref: 'podshell-cli' as const, run: cli(ctx.baseline) }] : []),
    ...(distinctSrc(ctx) ? [{ id: 'podshell-src' as const, ref: 'podshell-cli' as const, run: cli(ctx.podshellSrc) }] : []),
    { id: 'kubectl', ref: 'podshell-cli', ...unavailableKubectl(ctx), run: kubectl },
  ];
  // One untimed run of each first: page cache, kubectl's cache folder.
  for (const c of contenders) if (!c.unavailable) await c.run(-1).catch(() => {});
  return runRow(
    ctx,
    {
      id: 'oneshot',
      title: 'one-shot exec (whole process)',
      workload: '`exec demo -- true`, wall time of the process',
      unit: 'ms',
      better: 'lower',
      notes: [],
    },
    ctx.plan.oneShotPairs,
    contenders,
  );
}

function unavailableKubectl(ctx: Ctx): { unavailable?: string } {
  return ctx.kubectl ? {} : { unavailable: 'no kubectl on this machine' };
}

// ---- in-process exec rate ------------------------------------------------------------------------

export async function rate(ctx: Ctx): Promise<RowResult> {
  const count = ctx.plan.ratePerRound;
  const run = (file: string) => async () => {
    const { result, proc } = await inProcess(ctx, file, { kind: 'rate', count });
    if (result.latenciesMs?.length !== count) throw new Error(`expected ${count} latencies`);
    return { value: count / result.seconds, rssKiB: proc.rssKiB, extra: { p50ms: median(result.latenciesMs) } };
  };
  return runRow(
    ctx,
    {
      id: 'rate',
      title: 'in-process exec rate',
      workload: `${count} sequential execs of \`true\` per round, each awaited to its exit status`,
      unit: 'exec/s',
      better: 'higher',
      notes: [],
    },
    ctx.plan.rateRounds,
    [
      { id: 'podshell-lib', ref: null, run: run('podshell.ts') },
      { id: 'client-node', ref: 'podshell-lib', run: run('client-node.ts') },
      { id: 'thin', ref: 'podshell-lib', run: run('thin.ts') },
    ],
  );
}

// ---- stdout and stdin throughput -------------------------------------------------------------------

/**
 * The CLI contenders of a transfer row: the published build, the checkout's launcher, the
 * published build without `bufferutil` (when it is installed), and kubectl.
 */
function cliContenders(ctx: Ctx, podshell: (cli: string[]) => string[], kubectl: () => string[], run: (argv: string[], env?: NodeJS.ProcessEnv) => Contender['run']): Contender[] {
  return [
    { id: 'podshell-cli', ref: null, run: run(podshell(ctx.podshell)) },
    ...(distinctSrc(ctx) ? [{ id: 'podshell-src' as const, ref: 'podshell-cli' as const, run: run(podshell(ctx.podshellSrc)) }] : []),
    ...(ctx.bufferutil ? [{ id: 'podshell-cli-nobu' as const, ref: 'podshell-cli' as const, run: run(podshell(ctx.podshell), noBufferUtilEnv()) }] : []),
    { id: 'kubectl', ref: 'podshell-cli', ...unavailableKubectl(ctx), run: run(ctx.kubectl ? kubectl() : []) },
  ];
}

export async function stdout(ctx: Ctx): Promise<RowResult> {
  const bytes = ctx.plan.streamBytes;
  const head = ['head', '-c', String(bytes), '/dev/zero'];
  const cli = (argv: string[], env?: NodeJS.ProcessEnv) => async () => {
    const proc = await runProc({ argv, stdout: 'count', ...(env ? { env } : {}) });
    expectCount(proc, bytes, 'bytes on stdout');
    return { value: mibPerSecond(bytes, proc.ms / 1000), rssKiB: proc.rssKiB, cpuSeconds: proc.cpuSeconds };
  };
  const lib = (file: string) => async () => {
    const { result, proc } = await inProcess(ctx, file, { kind: 'stdout', bytes });
    return { value: mibPerSecond(bytes, result.seconds), rssKiB: proc.rssKiB, cpuSeconds: proc.cpuSeconds };
  };
  const thin = withSandboxCpu(ctx, bytes, lib('thin.ts'));
  return runRow(
    ctx,
    {
      id: 'stdout',
      title: 'stdout throughput',
      workload: `${fmtBytes(bytes)} from \`head -c\` in the pod to a local sink`,
      unit: 'MiB/s',
      better: 'higher',
      notes: [],
      bytes,
      kind: 'stdout',
      oneShotRow: 'oneshot',
    },
    ctx.plan.streamRounds,
    [
      ...cliContenders(ctx, (p) => podshellArgv(ctx, p, 'exec', 'demo', '--', ...head), () => kubectlArgv(ctx, 'exec', 'demo', '--', ...head), cli),
      { id: 'podshell-lib', ref: null, run: lib('podshell.ts') },
      { id: 'client-node', ref: 'podshell-lib', run: lib('client-node.ts') },
      { id: 'thin', ref: 'podshell-lib', run: thin },
    ],
  );
}

export async function stdin(ctx: Ctx): Promise<RowResult> {
  const bytes = ctx.plan.streamBytes;
  const cli = (argv: string[], env?: NodeJS.ProcessEnv) => async () => {
    const proc = await runProc({ argv, stdinZeros: bytes, ...(env ? { env } : {}) });
    expectCount(proc, bytes, 'wc -c in the pod');
    return { value: mibPerSecond(bytes, proc.ms / 1000), rssKiB: proc.rssKiB, cpuSeconds: proc.cpuSeconds };
  };
  const lib = (file: string) => async () => {
    const { result, proc } = await inProcess(ctx, file, { kind: 'stdin', bytes });
    return { value: mibPerSecond(bytes, result.seconds), rssKiB: proc.rssKiB, cpuSeconds: proc.cpuSeconds };
  };
  const thin = withSandboxCpu(ctx, bytes, lib('thin.ts'));
  return runRow(
    ctx,
    {
      id: 'stdin',
      title: 'stdin throughput',
      workload: `${fmtBytes(bytes)} of zeros into \`wc -c\` in the pod (its count checked)`,
      unit: 'MiB/s',
      better: 'higher',
      notes: [],
      bytes,
      kind: 'stdin',
      oneShotRow: 'oneshot',
    },
    ctx.plan.streamRounds,
    [
      ...cliContenders(ctx, (p) => podshellArgv(ctx, p, 'exec', '-i', 'demo', '--', 'wc', '-c'), () => kubectlArgv(ctx, 'exec', '-i', 'demo', '--', 'wc', '-c'), cli),
      { id: 'podshell-lib', ref: null, run: lib('podshell.ts') },
      { id: 'client-node', ref: 'podshell-lib', run: lib('client-node.ts') },
      { id: 'thin', ref: 'podshell-lib', run: thin },
    ],
  );
}

/** User + system CPU seconds a process has used so far, from /proc/PID/stat; null where unreadable. */
function processCpuSeconds(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    // The fields after the command name (which may hold spaces, inside parentheses).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return null;
  }
}

let ticks: number | undefined;
function clockTicks(): number {
  ticks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return ticks;
}

/**
 * The raw client's run, with the sandbox's own CPU time during it as `sandboxMiBPerCpuSecond`:
 * how much the sandbox could carry with a core to itself. On a machine with fewer cores than the
 * busy processes in the path (client, sandbox, the pod's process), wall time shows the shared
 * CPU, not the sandbox's ceiling.
 */
function withSandboxCpu(ctx: Ctx, bytes: number, run: () => Promise<Sample>): () => Promise<Sample & { extra?: Record<string, number> }> {
  return async () => {
    const before = processCpuSeconds(ctx.sandboxPid);
    const sample = await run();
    const after = processCpuSeconds(ctx.sandboxPid);
    if (before === null || after === null || after <= before) return sample;
    return { ...sample, extra: { sandboxMiBPerCpuSecond: bytes / 1048576 / (after - before) } };
  };
}

// ---- cp ------------------------------------------------------------------------------------------

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Run a command in the pod with the raw ws client (set-up and checks, never timed). */
async function inPod(ctx: Ctx, command: string[], stdinFile?: string): Promise<string> {
  const outcome = await execRaw(ctx.sandbox, command, { collect: true, ...(stdinFile ? { feed: feedStream(createReadStream(stdinFile)) } : {}) });
  return outcome.stdoutText;
}

async function remoteSha(ctx: Ctx, path: string): Promise<string> {
  return (await inPod(ctx, ['sha256sum', path])).split(/\s+/)[0] ?? '';
}

/**
 * Two rows per size of `plan.cpSizes` (upload and download, interleaved in the same rounds: up A,
 * up B, …, down A, down B, …). Each size's random file is made once, sent to the pod once (by the
 * raw client, untimed), and deleted when its rows are done. The first size is the one-shot copy,
 * timed in ms; its peak RSS is the baseline of the larger copies' memory flatness.
 */
export async function cp(ctx: Ctx): Promise<RowResult[]> {
  type Tool = { id: 'podshell-cli' | 'podshell-src' | 'podshell-cli-nobu' | 'kubectl'; argv: (...args: string[]) => string[]; env?: NodeJS.ProcessEnv; unavailable?: string };
  const noCp = ctx.podshellCp ? {} : { unavailable: 'podshell has no cp command yet (`bin/podshell cp --help`)' };
  const tools: Tool[] = [
    { id: 'podshell-cli', argv: (...args) => podshellArgv(ctx, ctx.podshell, 'cp', ...args), ...noCp },
    ...(distinctSrc(ctx) ? [{ id: 'podshell-src' as const, argv: (...args: string[]) => podshellArgv(ctx, ctx.podshellSrc, 'cp', ...args), ...noCp }] : []),
    ...(ctx.bufferutil ? [{ id: 'podshell-cli-nobu' as const, argv: (...args: string[]) => podshellArgv(ctx, ctx.podshell, 'cp', ...args), env: noBufferUtilEnv(), ...noCp }] : []),
    { id: 'kubectl', argv: (...args) => kubectlArgv(ctx, 'cp', ...args), ...unavailableKubectl(ctx) },
  ];
  const local = join(ctx.tmp, 'cp-source');
  const rows: RowResult[] = [];
  try {
    for (const [index, { bytes, rounds }] of ctx.plan.cpSizes.entries()) {
      const oneShot = index === 0;
      const size = oneShot ? 'small' : index === ctx.plan.cpSizes.length - 1 ? 'large' : 'medium';
      ctx.log(`cp: writing ${fmtBytes(bytes)} of random bytes`);
      await runProc({ argv: ['sh', '-c', `head -c ${bytes} /dev/urandom > "$0"`, local] });
      const sum = await sha256File(local);
      await inPod(ctx, ['sh', '-c', `mkdir -p ${POD_DIR} && cat > ${POD_DIR}/source`], local);
      if ((await remoteSha(ctx, `${POD_DIR}/source`)) !== sum) throw new Error('cp: the source file did not reach the pod intact');
      const sample = (proc: ProcResult) => ({ value: oneShot ? proc.ms : mibPerSecond(bytes, proc.ms / 1000), rssKiB: proc.rssKiB, cpuSeconds: proc.cpuSeconds });
      const up = async (tool: Tool) => {
        const dest = `${POD_DIR}/up-${tool.id}`;
        const proc = await runProc({ argv: tool.argv(local, `demo:${dest}`, '-c', 'main'), ...(tool.env ? { env: tool.env } : {}) });
        const got = await remoteSha(ctx, dest);
        await inPod(ctx, ['rm', '-f', dest]);
        if (got !== sum) throw new Error(`upload arrived with sha256 ${got.slice(0, 12)}…, expected ${sum.slice(0, 12)}…`);
        return sample(proc);
      };
      const down = async (tool: Tool) => {
        const dest = join(ctx.tmp, `down-${tool.id}`);
        await rm(dest, { force: true });
        const proc = await runProc({ argv: tool.argv(`demo:${POD_DIR}/source`, dest, '-c', 'main'), ...(tool.env ? { env: tool.env } : {}) });
        const got = await sha256File(dest);
        await rm(dest, { force: true });
        if (got !== sum) throw new Error(`download arrived with sha256 ${got.slice(0, 12)}…, expected ${sum.slice(0, 12)}…`);
        return sample(proc);
      };
      const make = (direction: 'up' | 'down'): RowResult => ({
        id: `cp-${direction}-${size}`,
        title: `cp ${direction === 'up' ? 'upload' : 'download'} ${oneShot ? 'one-shot' : fmtBytes(bytes)}`,
        workload: `a ${fmtBytes(bytes)} random file ${direction === 'up' ? 'to' : 'from'} the pod, ${oneShot ? 'wall time of the process' : 'whole process'} (sha256 compared after)`,
        unit: oneShot ? 'ms' : 'MiB/s',
        better: oneShot ? 'lower' : 'higher',
        rounds,
        notes: [],
        bytes,
        kind: direction === 'up' ? 'cp-up' : 'cp-down',
        oneShotRow: `cp-${direction}-small`,
        contenders: tools.map((t) => ({ id: t.id, label: t.id === 'kubectl' ? ctx.kubectlLabel : labels[t.id], ref: t.id === 'podshell-cli' ? null : 'podshell-cli', samples: [], extra: {}, errors: t.unavailable ? [t.unavailable] : [] })),
      });
      const upRow = make('up');
      const downRow = make('down');
      rows.push(upRow, downRow);
      for (let round = 0; round < rounds; round++) {
        for (const [row, fn] of [
          [upRow, up],
          [downRow, down],
        ] as const) {
          for (const [i, tool] of tools.entries()) {
            if (tool.unavailable) continue;
            const result = row.contenders[i]!;
            try {
              const s = await fn(tool);
              result.samples.push(s);
              ctx.log(`${row.id} ${round + 1}/${rounds} ${result.label}: ${fmt(s.value)} ${row.unit}, ${fmtMiB(s.rssKiB)}`);
            } catch (err) {
              result.samples.push(null);
              result.errors.push((err as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 300));
              ctx.log(`${row.id} ${round + 1}/${rounds} ${result.label}: FAILED ${(err as Error).message}`);
            }
          }
        }
      }
      await inPod(ctx, ['rm', '-f', `${POD_DIR}/source`]);
    }
  } finally {
    await inPod(ctx, ['rm', '-rf', POD_DIR]).catch(() => {});
    await rm(local, { force: true });
  }
  return rows;
}

// ---- fan-in --------------------------------------------------------------------------------------

export async function fanIn(ctx: Ctx): Promise<RowResult> {
  const { fanInStreams: streams, fanInBytes: bytes } = ctx.plan;
  const total = streams * bytes;
  const lib = (file: string) => async () => {
    const { result, proc } = await inProcess(ctx, file, { kind: 'fanin', streams, bytes });
    if (result.bytes !== total) throw new Error(`moved ${result.bytes} bytes, expected ${total}`);
    return { value: mibPerSecond(total, result.seconds), rssKiB: proc.rssKiB, cpuSeconds: proc.cpuSeconds };
  };
  const kubectl = async () => {
    const start = performance.now();
    const procs = await Promise.all(
      Array.from({ length: streams }, () => runProc({ argv: kubectlArgv(ctx, 'exec', 'demo', '--', 'head', '-c', String(bytes), '/dev/zero'), stdout: 'count' })),
    );
    const seconds = (performance.now() - start) / 1000;
    for (const p of procs) expectCount(p, bytes, 'bytes on stdout');
    const rss = procs.every((p) => p.rssKiB !== null) ? procs.reduce((sum, p) => sum + p.rssKiB!, 0) : null;
    const cpu = procs.every((p) => p.cpuSeconds !== null) ? procs.reduce((sum, p) => sum + p.cpuSeconds!, 0) : null;
    return { value: mibPerSecond(total, seconds), rssKiB: rss, cpuSeconds: cpu };
  };
  return runRow(
    ctx,
    {
      id: 'fanin',
      title: 'fan-in',
      workload: `${streams} concurrent execs, each ${fmtBytes(bytes)} from \`head -c\`; aggregate`,
      unit: 'MiB/s',
      better: 'higher',
      notes: [`kubectl runs as ${streams} processes (its RSS and CPU time are their sums) and is compared with the podshell library.`],
      bytes: total,
    },
    ctx.plan.fanInRounds,
    [
      { id: 'podshell-lib', ref: null, run: lib('podshell.ts') },
      { id: 'kubectl', ref: 'podshell-lib', ...unavailableKubectl(ctx), run: kubectl },
      { id: 'client-node', ref: 'podshell-lib', run: lib('client-node.ts') },
      { id: 'thin', ref: 'podshell-lib', run: lib('thin.ts') },
    ],
  );
}

// ---- ceilings that do not involve the sandbox -------------------------------------------------------

/** Start the loopback ws server process; resolves with its port and a way to stop it. */
async function wsServer(ctx: Ctx, bytes: number): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, [join(ctx.root, 'bench', 'contenders', 'ws-loopback.ts'), 'server', String(bytes), String(64 * 1024)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the ws server exited ${code}`)));
  });
  return { port: Number(line), stop: () => child.stdin!.end() };
}

export async function ceilings(ctx: Ctx): Promise<CeilingResult[]> {
  const bytes = ctx.plan.ceilingBytes;
  const rounds = ctx.plan.streamRounds;
  const pipe: CeilingResult = { name: 'local pipe', workload: `\`head -c ${fmtBytes(bytes)} /dev/zero | cat >/dev/null\``, mibPerSecond: [], rssKiB: null };
  const ws: CeilingResult = { name: 'bare ws, loopback', workload: `${fmtBytes(bytes)} in 64 KiB binary messages, ws server and client in two processes, no TLS`, mibPerSecond: [], rssKiB: null };
  for (let round = 0; round < rounds; round++) {
    try {
      const proc = await runProc({ argv: ['sh', '-c', `head -c ${bytes} /dev/zero | cat >/dev/null`] });
      pipe.mibPerSecond.push(mibPerSecond(bytes, proc.ms / 1000));
      ctx.log(`ceiling local pipe ${round + 1}/${rounds}: ${fmt(pipe.mibPerSecond.at(-1)!)} MiB/s`);
    } catch (err) {
      pipe.error = (err as Error).message;
    }
    let server: { port: number; stop: () => void } | undefined;
    try {
      server = await wsServer(ctx, bytes);
      const proc = await runProc({ argv: [process.execPath, join(ctx.root, 'bench', 'contenders', 'ws-loopback.ts'), 'client', String(server.port), String(bytes)] });
      const result = JSON.parse(proc.stdout.trim()) as TaskResult;
      ws.mibPerSecond.push(mibPerSecond(bytes, result.seconds));
      ws.rssKiB = Math.max(ws.rssKiB ?? 0, proc.rssKiB ?? 0) || null;
      ctx.log(`ceiling bare ws ${round + 1}/${rounds}: ${fmt(ws.mibPerSecond.at(-1)!)} MiB/s`);
    } catch (err) {
      ws.error = (err as Error).message;
    } finally {
      server?.stop();
    }
  }
  return [pipe, ws];
}
