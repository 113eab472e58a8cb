// `podshell debug`: kubectl debug's ephemeral-container form (POD --image IMAGE [--target C]),
// its flags and messages, on the library's debug(); and the hint `podshell exec` prints when a
// container has no such program (no shell): the exact debug command that gets one.

import { Command } from 'commander';
import type { WriteStream } from 'node:tty';
import { addDebugContainer, debugContainerName, waitForDebugContainer, waitForDebugExit, type DebugContainer } from '../exec/debug.ts';
import { attach } from '../exec/run.ts';
import { CliUsageError, RemoteExit } from './errors.ts';
import { interact, useTty, type Stdio } from './exec.ts';
import { addKubeFlags, clusterFrom, withGlobalFlags, type KubeFlags } from './kubeflags.ts';
import { commandName } from './name.ts';
import { sanitize } from './sanitize.ts';
import { terminalSize } from './terminal.ts';

interface DebugFlags extends KubeFlags {
  image?: string;
  target?: string;
  container?: string;
  stdin?: boolean;
  tty?: boolean;
  quiet?: boolean;
}

/** A word as a POSIX shell would take it back: bare when safe, else single-quoted. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const SHELLS = new Set(['sh', 'bash', 'ash', 'dash', 'zsh', 'ksh', 'fish']);

/**
 * The shell an exec could not start because the container has none, from the runtime's error
 * (containerd/runc and the sandbox word it alike): `exec: "sh": executable file not found in
 * $PATH`, or `exec: "/bin/sh": stat /bin/sh: no such file or directory`. Undefined for any other
 * error, and for a missing program that is not a shell (most likely a typo: no hint for that).
 */
export function missingShell(message: string): string | undefined {
  const m = /exec: "([^"]*)": (?:executable file not found in \$PATH|stat [^:]*: no such file or directory)/.exec(message);
  const program = m?.[1];
  return program !== undefined && SHELLS.has(program.slice(program.lastIndexOf('/') + 1)) ? program : undefined;
}

/** The `podshell debug` command line that gives a shell beside `container` of `pod`, seeing its processes and files. */
export function debugHint(target: { namespace?: string; pod: string; container: string }, command: readonly string[]): string {
  const ns = target.namespace ? ` -n ${shellWord(target.namespace)}` : '';
  const argv = command.length ? command : ['sh'];
  return `${commandName()} debug${ns} ${shellWord(target.pod)} -it --image=busybox --target=${shellWord(target.container)} -- ${argv.map(shellWord).join(' ')}`;
}

export function debugCommand(getCommand: () => string[] | null, stdio: Stdio = process as unknown as Stdio): Command {
  const command = new Command('debug')
    .description('Add an ephemeral debug container to a running pod and attach to it: a shell and tools for a container that has none.')
    .usage('POD [-i] [-t] --image IMAGE [--target CONTAINER] [-c NAME] [-- COMMAND [args...]]')
    .argument('[pod...]', 'the pod to debug')
    .option('--image <image>', 'the debug container\'s image (required), e.g. busybox')
    .option('--target <container>', 'share the process namespace of this container of the pod')
    .option('-c, --container <name>', 'the debug container\'s name (default: debugger-xxxxx)')
    .option('-i, --stdin', 'keep stdin open on the container and attach to it')
    .option('-t, --tty', 'allocate a TTY for the container (needs -i)')
    .option('-q, --quiet', 'print nothing but the container\'s output');
  addKubeFlags(command)
    .addHelpText(
      'after',
      '\nWith --target the debug container shares that container\'s processes: `ps` lists them, and\n' +
        'their files are under /proc/<pid>/root. Ephemeral containers cannot be removed; they go with\n' +
        'the pod.\n' +
        '\nExamples:\n' +
        `  ${commandName()} debug demo -it --image=busybox --target=main -- sh\n` +
        `  ${commandName()} debug distroless -it --image=busybox --target=app     # the image's own command\n` +
        `  ${commandName()} debug demo --image=busybox -c probe -- sh -c 'ps; ls /proc/1/root'   # no attach\n` +
        '\nWith -i the debug container is attached to once it runs (as `attach`); without -i it is only\n' +
        'added, and its output is read with `kubectl logs POD -c NAME`. The wait for it to run gives\n' +
        'up after --request-timeout, else 60 s, with the reason it is waiting.\n' +
        '\nExit status: with -i, the debug container\'s exit code; 1 when podshell itself fails (among\n' +
        'others: the cluster has no ephemeral containers, or the container did not start), 2 for a\n' +
        'wrong command line.',
    )
    .action(async (positionals: string[], _flags: DebugFlags, self: Command) => {
      const flags = withGlobalFlags<DebugFlags>(self);
      const argv = getCommand() ?? [];
      if (positionals.length === 0) throw new CliUsageError('NAME is required for debug');
      if (positionals.length > 1) throw new CliUsageError(`debug POD [COMMAND] is not supported: use debug POD -- COMMAND [args...] (saw ${positionals.slice(1).join(' ')} before --)`);
      if (!flags.image) throw new CliUsageError('--image is required');
      if (flags.tty && !flags.stdin) throw new CliUsageError('-i/--stdin is required for containers with -t/--tty=true');
      const cluster = clusterFrom(flags);
      // kubectl's notices come first, whatever happens next.
      const name = flags.container || debugContainerName();
      if (!flags.quiet) {
        if (flags.target) stdio.stderr.write(`Targeting container "${sanitize(flags.target)}". If you don't see processes from this container it may be because the container runtime doesn't support this feature.\n`);
        if (!flags.container) stdio.stderr.write(`Defaulting debug container name to ${name}.\n`);
      }
      const added: DebugContainer = await addDebugContainer(cluster.client, {
        target: positionals[0]!,
        image: flags.image,
        ...(flags.namespace ? { namespace: flags.namespace } : {}),
        ...(flags.target ? { targetContainer: flags.target } : {}),
        name,
        ...(argv.length ? { command: argv } : {}),
        stdin: Boolean(flags.stdin),
        tty: Boolean(flags.tty),
      });
      if (!flags.stdin) return;
      await waitForDebugContainer(cluster.client, added, { timeoutMs: flags.requestTimeout ?? 60_000 });
      const tty = useTty({ tty: flags.tty, stdin: true, ...(flags.quiet ? { quiet: true } : {}) }, stdio);
      const session = attach(cluster.client, {
        target: { pod: added.pod },
        namespace: added.namespace,
        container: added.container,
        stdin: true,
        tty,
        ...(tty ? { size: terminalSize(stdio.stdout as WriteStream) } : {}),
        ...(flags.requestTimeout ? { handshakeTimeoutMs: flags.requestTimeout } : {}),
      });
      await interact(session, {
        tty,
        stdin: true,
        quiet: Boolean(flags.quiet),
        onOpen: () => {
          if (!flags.quiet) stdio.stderr.write("If you don't see a command prompt, try pressing enter.\n");
        },
      }, stdio);
      const code = await waitForDebugExit(cluster.client, added);
      if (code !== 0) throw new RemoteExit(code, true);
    });
  return command;
}
