// `podshell port-forward`: kubectl port-forward's syntax and messages, on the library's
// portForward. Runs until SIGINT/SIGTERM/SIGHUP (or its parent goes away), then closes every
// listener and connection and exits 0.

import { Command, Option } from 'commander';
import { parseListenAddresses, PodshellError, validatePortSpec, type PortForwardError } from '../lib/index.ts';
import { CliUsageError } from './errors.ts';
import { addKubeFlags, clusterFrom, parseDuration, withGlobalFlags, type KubeFlags } from './kubeflags.ts';
import { stopRequested } from './lifetime.ts';
import { commandName } from './name.ts';
import { sanitize } from './sanitize.ts';

interface PortForwardFlags extends KubeFlags {
  address: string[];
  podRunningTimeout: number;
}

const collectAddresses = (value: string, previous: string[] | undefined) => [...(previous ?? []), ...value.split(',').map((a) => a.trim())];

/** `[::1]:8080` for IPv6, `127.0.0.1:8080` otherwise, as kubectl prints them. */
function shown(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function portForwardCommand(): Command {
  const command = new Command('port-forward')
    .description('Forward one or more local ports to a pod, each connection over its own WebSocket.')
    .usage('TYPE/NAME [options] [LOCAL_PORT:]REMOTE_PORT [...[LOCAL_PORT_N:]REMOTE_PORT_N]')
    .argument('[target-and-ports...]', "POD or TYPE/NAME, then port specs: 8080:80 (local 8080 to the pod's 80), 80 (the same port), :80 (a random local port); the remote port may be a container port's name, and for svc/NAME it is the service's port")
    .option(
      '--address <addresses>',
      'addresses to listen on, comma separated (repeatable): IP addresses or localhost; localhost means 127.0.0.1 and ::1, and fails only if neither can be bound (default: localhost)',
      collectAddresses,
    )
    .addOption(
      new Option('--pod-running-timeout <duration>', 'how long to wait until the pod is running, e.g. 5s, 2m (higher than zero)').argParser(parseDuration).default(60_000, '1m'),
    );
  return addKubeFlags(command)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        `  ${commandName()} port-forward demo 8080:80\n` +
        `  ${commandName()} port-forward deploy/web :80 9090\n` +
        `  ${commandName()} port-forward --address 0.0.0.0 pod/demo 8888:5000\n` +
        '\nTYPE/NAME such as deploy/web forwards to one pod of it, chosen at start as kubectl chooses.\n' +
        'It prints "Forwarding from ADDRESS:PORT -> REMOTE" per listener once it listens, and\n' +
        '"Handling connection for PORT" per accepted connection. A connection the pod refuses is\n' +
        'reported on stderr and closed; the others keep working. Stop it with Ctrl-C (exit code 0).\n' +
        'The protocol cannot pass on a half-close: after the local side ends its sending, the\n' +
        'connection stays until the pod closes it.',
    )
    .action(async (positionals: string[], _flags: PortForwardFlags, self: Command) => {
      const flags = withGlobalFlags<PortForwardFlags>(self);
      if (positionals.length < 2) throw new CliUsageError('TYPE/NAME and list of ports are required for port-forward');
      const [target, ...specs] = positionals as [string, ...string[]];
      const addresses = flags.address ?? ['localhost'];
      try {
        for (const spec of specs) validatePortSpec(spec);
        parseListenAddresses(addresses);
      } catch (err) {
        if (err instanceof PodshellError) throw new CliUsageError(err.message);
        throw err;
      }
      if (!(flags.podRunningTimeout > 0)) throw new CliUsageError('--pod-running-timeout must be higher than zero');
      const stop = stopRequested('port-forward');
      const cluster = clusterFrom(flags);
      const forward = cluster.portForward({
        target,
        ...(flags.namespace ? { namespace: flags.namespace } : {}),
        ports: specs,
        address: addresses,
        podRunningTimeoutMs: flags.podRunningTimeout,
      });
      forward.on('connection', (c) => process.stdout.write(`Handling connection for ${c.localPort}\n`));
      forward.on('connectionError', (err: PortForwardError) => process.stderr.write(`podshell: ${sanitize(err.message)}\n`));
      const started = await Promise.race([forward.ready.then((ready) => ({ ready })), stop.then(() => null)]);
      if (!started) {
        await forward.close();
        return;
      }
      for (const port of started.ready.ports) process.stdout.write(`Forwarding from ${shown(port.address, port.localPort)} -> ${port.remotePort}\n`);
      await stop;
      await forward.close();
    });
}
