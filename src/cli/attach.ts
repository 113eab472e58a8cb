// `podshell attach`: kubectl attach's flags and messages, on the library's attach.

import { collectWhileStreaming } from '../exec/collect.ts';
import { Command } from 'commander';
import { commandName } from './name.ts';
import type { WriteStream } from 'node:tty';
import { CliUsageError } from './errors.ts';
import { interact, useTty, type Stdio } from './exec.ts';
import { addKubeFlags, clusterFrom, withGlobalFlags, type KubeFlags } from './kubeflags.ts';
import { sanitize } from './sanitize.ts';
import { terminalSize } from './terminal.ts';

interface AttachFlags extends KubeFlags {
  container?: string;
  stdin?: boolean;
  tty?: boolean;
  quiet?: boolean;
}

/**
 * What an attach can use of what was asked, given how the container was started (kubectl's
 * attach): -t only with a container that has a terminal (else a warning and none), and a
 * container that has one always gets one (its output is a terminal's); -i only when the
 * container keeps stdin open. The TTY warning is kubectl's, word for word.
 */
export function attachModes(flags: { tty?: boolean; stdin?: boolean; quiet?: boolean }, container: { tty: boolean; stdin: boolean }, name: string, stdio: Stdio): { tty: boolean; stdin: boolean } {
  let tty = Boolean(flags.tty);
  if (tty && !container.tty) {
    tty = false;
    if (!flags.quiet) stdio.stderr.write(`error: Unable to use a TTY - container ${sanitize(name)} did not allocate one\n`);
  } else if (!tty && container.tty) tty = true;
  // A container without stdin has nothing to read it: kubectl attaches output only, silently.
  return { tty, stdin: Boolean(flags.stdin) && container.stdin };
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
        `  ${commandName()} attach demo\n` +
        `  ${commandName()} attach -it demo\n` +
        `  ${commandName()} attach deploy/web -c sidecar\n` +
        '\nThe session lasts until the main process ends or you interrupt it (Ctrl-C); ending stdin does\n' +
        "not end the container's main process.",
    )
    .action(async (positionals: string[], _flags: AttachFlags, self: Command) => {
      const flags = withGlobalFlags<AttachFlags>(self);
      collectWhileStreaming();
      if (positionals.length === 0) throw new CliUsageError('expected POD or TYPE/NAME to be specified for attach');
      if (positionals.length > 1) throw new CliUsageError(`expected a single argument: POD or TYPE/NAME, saw ${positionals.length}: [${positionals.join(' ')}]`);
      const cluster = clusterFrom(flags);
      // kubectl's rule: a terminal only when the container was started with one (tty: true),
      // stdin only when it keeps stdin open (stdin: true). Otherwise the local terminal would go
      // raw with nothing on the other side to read Ctrl-C: the user could not get out.
      const [resolved] = await cluster.client.resolveTargets(positionals[0]!, {
        verb: 'attach',
        ...(flags.namespace ? { namespace: flags.namespace } : {}),
        ...(flags.container ? { container: flags.container } : {}),
      });
      const target = resolved!;
      if (target.defaultedNotice && !flags.quiet) stdio.stderr.write(`${sanitize(target.defaultedNotice)}\n`);
      const pod = await cluster.client.getPod(target.namespace, target.pod);
      const spec = [...pod.spec.containers, ...(pod.spec.ephemeralContainers ?? [])].find((c) => c.name === target.container);
      const { tty: wantTty, stdin } = attachModes(flags, { tty: spec?.tty === true, stdin: spec?.stdin === true }, target.container, stdio);
      const tty = useTty({ tty: wantTty, stdin, ...(flags.quiet ? { quiet: true } : {}) }, stdio);
      const session = cluster.attach({
        target: { pod: target.pod },
        namespace: target.namespace,
        container: target.container,
        stdin,
        tty,
        ...(tty ? { size: terminalSize(stdio.stdout as WriteStream) } : {}),
        ...(flags.requestTimeout ? { handshakeTimeoutMs: flags.requestTimeout } : {}),
      });
      await interact(session, {
        tty,
        stdin,
        quiet: Boolean(flags.quiet),
        onOpen: () => {
          if (!flags.quiet) stdio.stderr.write("If you don't see a command prompt, try pressing enter.\n");
        },
      }, stdio);
    });
  return command;
}
