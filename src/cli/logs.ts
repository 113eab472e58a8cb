// `podshell logs`: kubectl logs' flags, defaults and messages, plus -l across every matching pod
// (pods that start while following are picked up), each line prefixed [pod/NAME/CONTAINER] and
// coloured per pod when several logs are shown (or with --prefix).

import { once } from 'node:events';
import { Command, InvalidArgumentError } from 'commander';
import { parseDuration, PodshellError, type LogLine, type LogsOptions, type LogSource } from '../lib/index.ts';
import { CliUsageError, RemoteExit } from './errors.ts';
import { addKubeFlags, clusterFrom, withGlobalFlags, type KubeFlags } from './kubeflags.ts';
import { commandName } from './name.ts';
import { prefixLabel } from './prefix.ts';
import { sanitize } from './sanitize.ts';
import type { Stdio } from './exec.ts';

export interface LogsFlags extends KubeFlags {
  container?: string;
  allContainers?: boolean;
  follow?: boolean;
  since?: number;
  sinceTime?: string;
  tail: number;
  timestamps?: boolean;
  previous?: boolean;
  prefix?: boolean;
  limitBytes?: number;
  maxLogRequests: number;
  selector?: string;
}

/** kubectl's --tail with a selector and no --tail of its own. */
export const SELECTOR_TAIL = 10;

const USAGE = "expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]': POD or TYPE/NAME is a required argument for the logs command";

function integer(what: string): (value: string) => number {
  return (value) => {
    if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`expected a whole number for ${what}.`);
    return Number(value);
  };
}

function duration(value: string): number {
  try {
    return parseDuration(value.trim());
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
}

/** The library's options for the command line (kubectl's Complete and Validate). @throws CliUsageError */
export function planLogs(positionals: string[], flags: LogsFlags): LogsOptions {
  if (positionals.length > 2) throw new CliUsageError(USAGE);
  const [target, container] = positionals;
  if (flags.selector && target) throw new CliUsageError('only a selector (-l) or a POD name is allowed');
  if (!flags.selector && !target) throw new CliUsageError(USAGE);
  if (container && flags.container) throw new CliUsageError(`only one of -c or an inline [CONTAINER] arg is allowed`);
  const containerName = flags.container ?? container;
  if (flags.allContainers && containerName) throw new CliUsageError(`--all-containers=true should not be specified with container name ${containerName}`);
  if (flags.since !== undefined && flags.sinceTime !== undefined) throw new CliUsageError('at most one of `sinceTime` or `sinceSeconds` may be specified');
  if (flags.since !== undefined && flags.since < 0) throw new CliUsageError('--since must be greater than 0');
  if (flags.tail < -1) throw new CliUsageError('--tail must be greater than or equal to -1');
  if (flags.limitBytes !== undefined && flags.limitBytes < 0) throw new CliUsageError('--limit-bytes must be greater than 0');
  if (flags.maxLogRequests < 1) throw new CliUsageError('--max-log-requests must be greater than 0');
  const tail = flags.selector && flags.tail === -1 ? SELECTOR_TAIL : flags.tail;
  const opts: LogsOptions = {
    ...(target ? { target } : { selector: flags.selector! }),
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    ...(containerName ? { container: containerName } : {}),
    ...(flags.allContainers ? { allContainers: true } : {}),
    ...(flags.follow ? { follow: true } : {}),
    ...(flags.since ? { since: flags.since } : {}),
    ...(flags.sinceTime !== undefined ? { sinceTime: flags.sinceTime } : {}),
    ...(tail >= 0 ? { tailLines: tail } : {}),
    ...(flags.timestamps ? { timestamps: true } : {}),
    ...(flags.previous ? { previous: true } : {}),
    ...(flags.limitBytes ? { limitBytes: flags.limitBytes } : {}),
    maxLogRequests: flags.maxLogRequests,
  };
  return opts;
}

/** On a terminal, a log line's control characters (but tabs) are shown inert, as podshell shows any server text. */
function inert(line: string): string {
  return line.replace(/[^\t]+/g, (part) => sanitize(part));
}

export async function runLogs(opts: LogsOptions, flags: LogsFlags, stdio: Stdio): Promise<number> {
  const cluster = clusterFrom(flags);
  const tty = Boolean(stdio.stdout.isTTY);
  const colour = tty && !process.env.NO_COLOR;
  const prefixed = flags.prefix ?? Boolean(opts.selector || opts.allContainers);
  const pods = new Map<string, number>();
  const labels = new Map<string, string>();
  const labelOf = (s: LogSource): string => {
    const key = `${s.namespace}/${s.pod}/${s.container}`;
    let label = labels.get(key);
    if (label === undefined) {
      let index = pods.get(`${s.namespace}/${s.pod}`);
      if (index === undefined) pods.set(`${s.namespace}/${s.pod}`, (index = pods.size));
      // Names come from the server: shown inert.
      label = prefixLabel(sanitize(`pod/${s.pod}/${s.container}`), index, colour);
      labels.set(key, label);
    }
    return label;
  };
  let failures = 0;
  let stream: ReturnType<typeof cluster.logs>;
  try {
    stream = cluster.logs(opts);
  } catch (err) {
    // Options the library refuses (e.g. a --since-time that is not RFC 3339): a wrong command line.
    if (err instanceof PodshellError && err.code === 'ERR_USAGE') throw new CliUsageError(err.message);
    throw err;
  }
  stream.on('notice', (text: string) => stdio.stderr.write(`${sanitize(text)}\n`));
  stream.on('podError', ({ source, error }: { source: LogSource; error: Error }) => {
    failures++;
    stdio.stderr.write(`podshell: pod/${sanitize(source.pod)}/${sanitize(source.container)}: ${sanitize(error.message)}\n`);
  });
  let stopped = false;
  const stop = () => {
    stopped = true;
    stream.destroy();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for await (const record of stream as AsyncIterable<LogLine>) {
      const text = `${prefixed ? labelOf(record) : ''}${tty ? inert(record.line) : record.line}${record.partial ? '' : '\n'}`;
      if (!stdio.stdout.write(text)) await once(stdio.stdout, 'drain');
    }
  } catch (err) {
    // Stopped by a signal while following: the end the user asked for.
    if (!stopped) throw err;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return failures ? 1 : 0;
}

export function logsCommand(stdio: Stdio = process as unknown as Stdio): Command {
  const command = new Command('logs')
    .description("Print a container's logs, or the logs of every pod matching a selector.")
    .usage('[options] (POD | TYPE/NAME | -l SELECTOR) [CONTAINER]')
    .argument('[target...]', "POD or TYPE/NAME (deploy/web, job/x, …: kubectl's most active pod), optionally followed by CONTAINER")
    .option('-c, --container <name>', 'container name (default: the kubectl.kubernetes.io/default-container annotation, else the first)')
    .option('--all-containers', 'the logs of every container of the pod(s): init, regular and ephemeral')
    .option('-l, --selector <selector>', 'the logs of EVERY pod matching this label selector (with -f, pods that start later too)')
    .option('-f, --follow', 'keep printing new lines as they are written')
    .option('--since <duration>', 'only lines newer than this, e.g. 30s, 5m, 1h30m', duration)
    .option('--since-time <time>', 'only lines written at or after this RFC 3339 time, e.g. 2026-01-02T15:04:05Z')
    .option('--tail <n>', 'the last N lines of each log; -1 for all (default: all, or 10 with -l)', integer('--tail'), -1)
    .option('--timestamps', 'begin each line with the time it was written (RFC 3339, nanoseconds)')
    .option('-p, --previous', "the previous instance of the container (after a restart)")
    .option('--prefix', 'begin each line with [pod/NAME/CONTAINER] (the default with -l or --all-containers)')
    .option('--no-prefix', 'never prefix lines')
    .option('--limit-bytes <n>', 'at most N bytes of each log', integer('--limit-bytes'))
    .option('--max-log-requests <n>', 'with -f, the most logs followed at once', integer('--max-log-requests'), 5);
  addKubeFlags(command)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        `  ${commandName()} logs demo                         # the log of pod demo\n` +
        `  ${commandName()} logs deploy/web -c sidecar --tail=20\n` +
        `  ${commandName()} logs -l app=web -f                # every web pod, prefixed, new pods picked up\n` +
        `  ${commandName()} logs demo --since=1h --timestamps\n` +
        '\nSeveral logs are printed one after another, or interleaved line by line with -f; each line\n' +
        'begins with [pod/NAME/CONTAINER], coloured per pod on a terminal. On a terminal, control\n' +
        'characters in a line are shown inert (\\x1b); piped, lines are passed on as written.\n' +
        'Exit status: 0; 1 when a log could not be read (after the others); 2 for a wrong command line.',
    )
    .action(async (positionals: string[], _flags: LogsFlags, self: Command) => {
      const flags = withGlobalFlags<LogsFlags>(self);
      const opts = planLogs(positionals, flags);
      const code = await runLogs(opts, flags, stdio);
      if (code !== 0) throw new RemoteExit(code, true);
    });
  return command;
}
