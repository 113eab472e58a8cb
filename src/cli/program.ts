// The `podshell` command line. Each command: parse → validate → run; every failure ends here as a
// `podshell: …` line on stderr and a documented exit code (docs/errors.md).

import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { reportError } from './errors.ts';
import { attachCommand } from './attach.ts';
import { cpCommand } from './cp.ts';
import { debugCommand } from './debug.ts';
import { execCommand } from './exec.ts';
import { portForwardCommand } from './portforward.ts';
import { addKubeFlags, kubeFlagsWithValue } from './kubeflags.ts';
import { logsCommand } from './logs.ts';
import { commandName } from './name.ts';
import { sanitizeLines } from './sanitize.ts';
import { sandboxCommand } from './sandbox.ts';
import { webCommand } from './web.ts';

/** The version in package.json (two folders up from src/cli and dist/cli alike). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Every command reports usage errors the same way: `podshell: …` and a hint, exit code 2. */
function conventions(command: Command): Command {
  return command
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`podshell: ${sanitizeLines(text.replace(/^error: /, ''))}`) });
}

/**
 * The program. `command` is exec's remote command, what followed its first `--` (null when there
 * was none): exec needs to know, as kubectl does, which words came before it. The kube flags
 * (--kubeconfig, --context, -n, --as, --as-group, --request-timeout) are taken before the
 * subcommand too, as kubectl's global flags; given in both places, the one after it wins.
 * With `only` (the subcommand named on the command line), the program has that command alone.
 */
export function buildProgram(command: string[] | null, only?: string): Command {
  const program = conventions(new Command(commandName()))
    .description('Run commands, interactive shells, file copies, logs, debug containers and port-forwards in Kubernetes pods.')
    .usage('[kube flags] COMMAND [options]')
    .version(packageVersion(), '--version')
    .enablePositionalOptions();
  addKubeFlags(program);
  const commands: Record<string, () => Command> = {
    exec: () => execCommand(() => command),
    attach: attachCommand,
    cp: cpCommand,
    logs: logsCommand,
    debug: () => debugCommand(() => command),
    'port-forward': portForwardCommand,
    sandbox: sandboxCommand,
    web: webCommand,
  };
  const make = only !== undefined && Object.hasOwn(commands, only) ? commands[only] : undefined;
  // The command being run is all a one-shot command line needs: making the others (their
  // options and help) is start-up time for nothing. The full set serves help and mistakes.
  for (const build of make ? [make] : Object.values(commands)) program.addCommand(conventions(build()));
  return program;
}

/** Where the subcommand is on the command line: after the global (kube) flags. */
function subcommandIndex(argv: string[]): number {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '--') i += kubeFlagsWithValue.has(argv[i]!) ? 2 : 1;
  return i;
}

/**
 * Split exec's remote command off the command line: for `exec` (and `debug`), everything after its first `--`;
 * any other subcommand gets its `--` (e.g. `cp -- SRC DEST`) as usual.
 */
export function splitCommand(argv: string[]): { head: string[]; command: string[] | null } {
  const i = subcommandIndex(argv);
  if (argv[i] !== 'exec' && argv[i] !== 'debug') return { head: argv, command: null };
  const dash = argv.indexOf('--', i);
  return dash >= 0 ? { head: argv.slice(0, dash), command: argv.slice(dash + 1) } : { head: argv, command: null };
}

/**
 * Run the command line and set the exit code: what the executable does (src/cli/main.ts, and the
 * bundle scripts/bundle-cli.ts makes).
 */
export async function run(argv: string[]): Promise<void> {
  // A reader that goes away early (`podshell … | head`) is not a failure to report with a stack
  // trace: end as a Go program such as kubectl does on a broken pipe, with 128 + SIGPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(141);
      throw err;
    });
  }
  process.exitCode = await main(argv);
}

export async function main(argv: string[]): Promise<number> {
  const { head, command } = splitCommand(argv);
  try {
    // Help asked for before the subcommand is the program's, which lists every command.
    const i = subcommandIndex(head);
    const help = head.slice(0, i).some((arg) => arg === '-h' || arg === '--help');
    await buildProgram(command, help ? undefined : head[i]).parseAsync(head, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err, process.stderr);
  }
}
