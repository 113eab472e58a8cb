// `podshell attach`: kubectl attach's flags and messages, on the library's attach.

import { Command } from 'commander';
import type { WriteStream } from 'node:tty';
import { CliUsageError } from './errors.ts';
import { interact, useTty, type Stdio } from './exec.ts';
import { addKubeFlags, clusterFrom, type KubeFlags } from './kubeflags.ts';
import { terminalSize } from './terminal.ts';

interface AttachFlags extends KubeFlags {
  container?: string;
  stdin?: boolean;
  tty?: boolean;
  quiet?: boolean;
}

export function attachCommand(stdio: Stdio = process as unknown as Stdio): Command {
  const command = new Command('attach')
    .description("Attach to a container's main process: its output from now on, and with -i its stdin.")
    .usage('[options] (POD | TYPE/NAME)')
    .argument('[target...]', 'POD or TYPE/NAME')
    .option('-c, --container <name>', 'container name (default: the kubectl.kubernetes.io/default-container annotation, else the first)')
    .option('-i, --stdin', "pass stdin to the container's main process")
    .option('-t, --tty', 'stdin is a TTY')
    .option('-q, --quiet', 'only print output from the remote session');
  addKubeFlags(command)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  podshell attach demo\n' +
        '  podshell attach -it demo\n' +
        '  podshell attach deploy/web -c sidecar\n' +
        '\nThe session lasts until the main process ends or you interrupt it (Ctrl-C); ending stdin does\n' +
        "not end the container's main process.",
    )
    .action(async (positionals: string[], flags: AttachFlags) => {
      if (positionals.length === 0) throw new CliUsageError('expected POD or TYPE/NAME to be specified for attach');
      if (positionals.length > 1) throw new CliUsageError(`expected a single argument: POD or TYPE/NAME, saw ${positionals.length}: [${positionals.join(' ')}]`);
      const tty = useTty(flags, stdio);
      const session = clusterFrom(flags).attach({
        target: positionals[0]!,
        ...(flags.namespace ? { namespace: flags.namespace } : {}),
        ...(flags.container ? { container: flags.container } : {}),
        stdin: Boolean(flags.stdin),
        tty,
        ...(tty ? { size: terminalSize(stdio.stdout as WriteStream) } : {}),
        ...(flags.requestTimeout ? { handshakeTimeoutMs: flags.requestTimeout } : {}),
      });
      await interact(session, {
        tty,
        stdin: Boolean(flags.stdin),
        quiet: Boolean(flags.quiet),
        onOpen: () => {
          if (!flags.quiet) stdio.stderr.write("If you don't see a command prompt, try pressing enter.\n");
        },
      }, stdio);
    });
  return command;
}
