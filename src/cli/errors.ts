// Every failure of a command ends here: one line on stderr, one exit code (docs/errors.md).

import { CommanderError } from 'commander';
import { PodshellError } from '../protocol/index.ts';
import { sanitize } from './sanitize.ts';

export const ExitCode = {
  /** Something failed: the cluster refused, the pod was not found, the command could not run. Matches kubectl. */
  Failure: 1,
  /** The command line was wrong. */
  Usage: 2,
} as const;

/** A wrong command line, reported with a pointer to --help. */
export class CliUsageError extends PodshellError {
  constructor(message: string) {
    super('ERR_CLI_USAGE', message);
    this.name = 'CliUsageError';
  }
}

/** The remote command's own exit status, which becomes podshell's. */
export class RemoteExit extends Error {
  readonly exitCode: number;
  /** Already reported (e.g. the summary of a run in many pods): print nothing more. */
  readonly reported: boolean;
  constructor(exitCode: number, reported = false) {
    super(`command terminated with exit code ${exitCode}`);
    this.exitCode = exitCode;
    this.reported = reported;
  }
}

export function reportError(err: unknown, stderr: NodeJS.WritableStream): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : ExitCode.Usage;
  if (err instanceof RemoteExit) {
    if (!err.reported) stderr.write(`${sanitize(err.message)}\n`);
    return err.exitCode;
  }
  if (err instanceof CliUsageError) {
    stderr.write(`podshell: ${sanitize(err.message)}\n(run with --help for usage)\n`);
    return ExitCode.Usage;
  }
  let message = err instanceof Error ? err.message : String(err);
  // The API server wraps a runtime's error in "Internal error occurred: " once per hop; the
  // runtime's own words are what a reader needs.
  if (err instanceof PodshellError && err.code === 'ERR_REMOTE') message = message.replace(/^(Internal error occurred: )+/, '');
  // The message may carry the server's words: printed inert, whatever they contain.
  stderr.write(`podshell: ${sanitize(message)}\n`);
  // No cluster configured at all: say how to try podshell without one.
  if (err instanceof PodshellError && err.code === 'ERR_KUBECONFIG' && /no such file/.test(message) && !process.env.KUBECONFIG) {
    stderr.write('(no cluster configured: `podshell sandbox` starts a local one and writes a kubeconfig for it)\n');
  }
  return ExitCode.Failure;
}
