// `podshell exec`: kubectl exec's flags, forms, messages and exit codes, plus running one command
// in many pods at once (-l SELECTOR, --all-pods).

import { collectWhileStreaming } from '../exec/collect.ts';
import { Command, InvalidArgumentError } from 'commander';
import { commandName } from './name.ts';
import type { ReadStream, WriteStream } from 'node:tty';
import { pipeline } from 'node:stream/promises';
import type { Cluster, ExecSession, Target } from '../lib/index.ts';
import { PodshellError } from '../protocol/index.ts';
import { debugHint, missingShell } from './debug.ts';
import { CliUsageError, RemoteExit, reportError } from './errors.ts';
import { addKubeFlags, clusterFrom, withGlobalFlags, type KubeFlags } from './kubeflags.ts';
import { LinePrefixer, prefixLabel } from './prefix.ts';
import { sanitize } from './sanitize.ts';
import { enterRawMode, terminalSize, watchResize } from './terminal.ts';

/**
 * Bytes an exec's streams move between two young-generation collections (see
 * collectWhileStreaming): its chunks die as soon as they are written on, so collecting more often
 * frees them sooner (1 GiB through stdout or stdin: peak RSS 3–5 MiB lower than every 2 MiB).
 */
const execCollectEvery = 1024 * 1024; // 1 MiB

export interface ExecFlags extends KubeFlags {
  container?: string;
  stdin?: boolean;
  tty?: boolean;
  quiet?: boolean;
  selector?: string;
  allPods?: boolean;
  maxParallel: number;
  prefix: boolean;
}

export interface Stdio {
  stdin: NodeJS.ReadableStream & Partial<ReadStream>;
  stdout: NodeJS.WritableStream & Partial<WriteStream>;
  stderr: NodeJS.WritableStream & Partial<WriteStream>;
}

/** What to run where, once the command line has been understood (kubectl's Complete/Validate). */
export interface ExecPlan {
  target: Target;
  command: string[];
  many: boolean;
  tty: boolean;
  stdin: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}

/**
 * kubectl's TTY rule for exec and attach: -t without -i is dropped silently; -i -t with stdin that
 * is not a terminal warns (unless -q) and goes on without one.
 */
export function useTty(flags: { tty?: boolean; stdin?: boolean; quiet?: boolean }, stdio: Stdio): boolean {
  if (!flags.tty || !flags.stdin) return false;
  if (stdio.stdin.isTTY) return true;
  if (!flags.quiet) stdio.stderr.write('Unable to use a TTY - input is not a terminal or the right kind of file\n');
  return false;
}

/**
 * kubectl's rules: `exec POD -- CMD`; the old `exec POD CMD` form is refused; -t without -i is
 * silently dropped; -i -t without a terminal warns and continues without one.
 */
export function planExec(positionals: string[], command: string[] | null, flags: ExecFlags, stdio: Stdio): ExecPlan {
  if (positionals.length > 1) {
    throw new CliUsageError('exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead');
  }
  const [name] = positionals;
  if (flags.selector && name && !flags.allPods) throw new CliUsageError('name cannot be provided when a selector is specified');
  if (flags.allPods && !name) throw new CliUsageError('--all-pods needs TYPE/NAME, e.g. deploy/web');
  if (!name && !flags.selector) throw new CliUsageError('pod, type/name or -l/--selector must be specified');
  if (!command || command.length === 0) throw new CliUsageError('you must specify at least one command for the container');
  const many = Boolean(flags.selector || flags.allPods);
  const target: Target = flags.selector ? { selector: flags.selector, allPods: true } : flags.allPods ? { workload: name!, allPods: true } : name!;
  if (many && flags.stdin) throw new CliUsageError('-i/--stdin cannot be used when running in several pods');
  return { target, command, many, tty: useTty(flags, stdio), stdin: Boolean(flags.stdin) };
}

async function runOne(cluster: Cluster, plan: ExecPlan, flags: ExecFlags, stdio: Stdio): Promise<number> {
  const session = cluster.exec({
    target: plan.target,
    command: plan.command,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    ...(flags.container ? { container: flags.container } : {}),
    stdin: plan.stdin,
    tty: plan.tty,
    ...(plan.tty ? { size: terminalSize(stdio.stdout as WriteStream) } : {}),
    ...(flags.requestTimeout ? { handshakeTimeoutMs: flags.requestTimeout } : {}),
  });
  try {
    return await interact(session, { tty: plan.tty, stdin: plan.stdin, quiet: Boolean(flags.quiet) }, stdio);
  } catch (err) {
    // A container without a shell (a distroless image): say how to get one beside it.
    const missing = err instanceof PodshellError && err.code === 'ERR_REMOTE' ? missingShell(err.message) : undefined;
    const opened = missing !== undefined ? await session.opened.catch(() => undefined) : undefined;
    if (!opened) throw err;
    const code = reportError(err, stdio.stderr);
    const target = { ...(flags.namespace ? { namespace: opened.namespace } : {}), pod: opened.pod, container: opened.container };
    stdio.stderr.write(`podshell: the container has no shell ("${sanitize(missing!)}"); to get one beside it, with a debug container that sees its processes and files, run:\n  ${sanitize(debugHint(target, plan.command))}\n`);
    throw new RemoteExit(code, true);
  }
}

/**
 * Connect a session to the local terminal or pipes until it ends: raw mode and resizes with a
 * TTY, stdin forwarded (its end half-closes the remote stdin), output copied with backpressure.
 * Resolves with the remote exit code.
 */
export async function interact(session: ExecSession, opts: { tty: boolean; stdin: boolean; quiet: boolean; onOpen?: () => void }, stdio: Stdio): Promise<number> {
  const cleanups: (() => void)[] = [];
  try {
    const opened = await session.opened;
    if (opened.defaultedNotice && !opts.quiet) stdio.stderr.write(`${sanitize(opened.defaultedNotice)}\n`);
    opts.onOpen?.();
    if (opts.tty) {
      cleanups.push(enterRawMode(stdio.stdin as ReadStream));
      cleanups.push(watchResize(stdio.stdout as WriteStream, (size) => session.resize(size.cols, size.rows)));
    }
    if (opts.stdin && session.stdin) {
      const input = session.stdin;
      input.on('error', () => {});
      stdio.stdin.pipe(input);
      cleanups.push(() => stdio.stdin.unpipe(input));
    }
    const copies = [
      session.stdout ? pipeline(session.stdout, stdio.stdout, { end: false }) : undefined,
      session.stderr ? pipeline(session.stderr, stdio.stderr, { end: false }) : undefined,
    ];
    const [status] = await Promise.all([session.exit, ...copies.map((c) => c?.catch(() => {}))]);
    return status.code;
  } finally {
    for (const fn of cleanups.reverse()) fn();
    stdio.stdin.pause?.();
  }
}

interface PodResult {
  label: string;
  code?: number;
  error?: Error;
}

async function runMany(cluster: Cluster, plan: ExecPlan, flags: ExecFlags, stdio: Stdio): Promise<number> {
  const targets = await cluster.client.resolveTargets(plan.target, {
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    ...(flags.container ? { container: flags.container } : {}),
  });
  const colour = Boolean(stdio.stdout.isTTY) && !process.env.NO_COLOR;
  const results: PodResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const index = next++;
      const t = targets[index]!;
      // Names come from the server: shown inert in prefixes and the summary.
      const label = sanitize(`${t.pod}/${t.container}`);
      const session: ExecSession = cluster.exec({ target: { pod: t.pod }, namespace: t.namespace, container: t.container, command: plan.command });
      const copy = (from: NodeJS.ReadableStream | null, to: NodeJS.WritableStream, colourOn: boolean) => {
        if (!from) return Promise.resolve();
        const transform = flags.prefix ? new LinePrefixer(prefixLabel(label, index, colourOn)) : null;
        return (transform ? pipeline(from, transform, to, { end: false }) : pipeline(from, to, { end: false })).catch(() => {});
      };
      const copies = Promise.all([copy(session.stdout, stdio.stdout, colour), copy(session.stderr, stdio.stderr, Boolean(stdio.stderr.isTTY) && !process.env.NO_COLOR)]);
      try {
        const status = await session.exit;
        await copies;
        results[index] = { label, code: status.code };
      } catch (err) {
        await copies;
        results[index] = { label, error: err as Error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(flags.maxParallel, targets.length) }, worker));
  const failed = results.filter((r) => r.error || r.code !== 0);
  if (failed.length) {
    stdio.stderr.write(`podshell: ${failed.length} of ${results.length} pods failed:\n`);
    for (const r of failed) stdio.stderr.write(`  ${r.label}: ${r.error ? sanitize(r.error.message) : `exit code ${r.code}`}\n`);
  }
  return failed.reduce((max, r) => Math.max(max, r.error ? 1 : r.code!), 0);
}

export function execCommand(getCommand: () => string[] | null, stdio: Stdio = process as unknown as Stdio): Command {
  const command = new Command('exec')
    .description('Run a command in a container, or in every pod matching a selector.')
    .usage('[options] (POD | TYPE/NAME | -l SELECTOR) -- COMMAND [args...]')
    .argument('[target...]', 'POD or TYPE/NAME (deploy/web, sts/db, svc/api, …: kubectl\'s most active pod)')
    .option('-c, --container <name>', 'container name (default: the kubectl.kubernetes.io/default-container annotation, else the first)')
    .option('-i, --stdin', 'pass stdin to the container')
    .option('-t, --tty', 'stdin is a TTY (with -i: raw mode, window size follows resizes)')
    .option('-q, --quiet', 'only print output from the remote session')
    .option('-l, --selector <selector>', 'run in EVERY pod matching this label selector, concurrently')
    .option('--all-pods', 'with TYPE/NAME: run in every pod of it, concurrently')
    .option('--max-parallel <n>', 'pods to run in at once with -l/--all-pods', positiveInt, 10)
    .option('--prefix <bool>', 'with -l/--all-pods: prefix each line with [pod/container]', (v) => v !== 'false', true);
  addKubeFlags(command)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        `  ${commandName()} exec demo -- date\n` +
        `  ${commandName()} exec -it demo -- sh\n` +
        `  ${commandName()} exec deploy/web -c sidecar -- cat /etc/hostname\n` +
        `  ${commandName()} exec -l app=web -- hostname                # every web pod, lines prefixed [pod/container]\n` +
        `  ${commandName()} exec deploy/web --all-pods --prefix=false -- uptime\n` +
        '\nExit status: the remote command\'s (with "command terminated with exit code N" on stderr, as\n' +
        'kubectl); with several pods, 0 when all succeeded, else the highest exit code, after a summary.\n' +
        '1 when podshell itself fails, 2 for a wrong command line.',
    )
    .action(async (positionals: string[], _flags: ExecFlags, self: Command) => {
      const flags = withGlobalFlags<ExecFlags>(self);
      collectWhileStreaming(execCollectEvery);
      const plan = planExec(positionals, getCommand(), flags, stdio);
      const cluster = clusterFrom(flags);
      const code = plan.many ? await runMany(cluster, plan, flags, stdio) : await runOne(cluster, plan, flags, stdio);
      if (code !== 0) throw new RemoteExit(code, plan.many);
    });
  return command;
}
