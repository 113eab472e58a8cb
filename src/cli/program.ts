// The `podshell` command line. Each command: parse → validate → run; every failure ends here as a
// `podshell: …` line on stderr and a documented exit code (docs/errors.md).

import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { reportError } from './errors.ts';
import { attachCommand } from './attach.ts';
import { cpCommand } from './cp.ts';
import { execCommand } from './exec.ts';
import { addKubeFlags, kubeFlagsWithValue } from './kubeflags.ts';
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
 */
export function buildProgram(command: string[] | null): Command {
  const program = conventions(new Command(commandName()))
    .description('Run commands, interactive shells and file copies in Kubernetes pods.')
    .usage('[kube flags] COMMAND [options]')
    .version(packageVersion(), '--version')
    .enablePositionalOptions();
  addKubeFlags(program);
  program.addCommand(conventions(execCommand(() => command)));
  program.addCommand(conventions(attachCommand()));
  program.addCommand(conventions(cpCommand()));
  program.addCommand(conventions(sandboxCommand()));
  program.addCommand(conventions(webCommand()));
  return program;
}

/**
 * Split exec's remote command off the command line: for `exec`, everything after its first `--`;
 * any other subcommand gets its `--` (e.g. `cp -- SRC DEST`) as usual.
 */
export function splitCommand(argv: string[]): { head: string[]; command: string[] | null } {
  let i = 0;
  // Skip the global flags to find the subcommand.
  while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '--') i += kubeFlagsWithValue.has(argv[i]!) ? 2 : 1;
  if (argv[i] !== 'exec') return { head: argv, command: null };
  const dash = argv.indexOf('--', i);
  return dash >= 0 ? { head: argv.slice(0, dash), command: argv.slice(dash + 1) } : { head: argv, command: null };
}

export async function main(argv: string[]): Promise<number> {
  const { head, command } = splitCommand(argv);
  try {
    await buildProgram(command).parseAsync(head, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err, process.stderr);
  }
}
