// `podshell sandbox`: a local API server backed by real local processes, for as long as whatever
// started it (a terminal, npm, a shell, a test) wants it. It stops, taking every process it
// started with it, on SIGINT, SIGTERM or SIGHUP and when its parent process goes away.

import { Command, InvalidArgumentError, Option } from 'commander';
import { stopRequested } from './lifetime.ts';
import { commandName } from './name.ts';
import { homedir } from 'node:os';
import { join } from 'node:path';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('expected a TCP port number from 0 to 65535.');
  return port;
}

export function defaultSandboxKubeconfig(): string {
  return join(homedir(), '.kube', 'podshell-sandbox.yaml');
}

interface SandboxFlags {
  kubeconfig: string;
  port: number;
  manifest?: string[];
  protocols?: string;
  isolation: 'auto' | 'namespaces' | 'none';
}

export function sandboxCommand(): Command {
  return new Command('sandbox')
    .description(
      'Start a local Kubernetes API server for pods, exec, attach, logs, debug containers and port-forward, backed by real local processes.\n' +
        'kubectl, client libraries and podshell itself use it like a cluster through the kubeconfig it writes.',
    )
    .option('--kubeconfig <file>', 'where to write the kubeconfig (contexts podshell-sandbox, podshell-sandbox-dev, podshell-sandbox-viewer)', defaultSandboxKubeconfig())
    .option('--port <n>', 'TCP port on 127.0.0.1 (0 picks a free one)', parsePort, 0)
    .option('--manifest <file>', 'multi-document YAML of Namespaces, Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, RBAC objects and SandboxUsers (repeatable; default: the built-in world)', collect)
    .option('--protocols <list>', 'comma-separated exec/attach subprotocols to accept, e.g. v4.channel.k8s.io to act like Kubernetes < 1.30 (default: all)')
    .addOption(new Option('--isolation <mode>', 'container isolation: namespaces (own root filesystem and hostname, a network per pod), none (plain processes), auto').choices(['auto', 'namespaces', 'none']).default('auto'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        `  ${commandName()} sandbox\n` +
        `  ${commandName()} sandbox --kubeconfig /tmp/sandbox.yaml --port 6443\n` +
        `  ${commandName()} sandbox --manifest my-world.yaml --protocols v4.channel.k8s.io\n` +
        '\nWhen it prints "sandbox ready <url> kubeconfig=<file>" it accepts requests; stop it with Ctrl-C.\n' +
        'It also stops on SIGTERM or SIGHUP and when the process that started it goes away. Every\n' +
        'process it started is killed when it stops.',
    )
    .action(async (opts: SandboxFlags, command: Command) => {
      // `podshell --kubeconfig X sandbox`: the global flag, unless one was given after `sandbox`.
      const global = command.parent?.opts<{ kubeconfig?: string }>().kubeconfig;
      const kubeconfigPath = command.getOptionValueSource('kubeconfig') === 'default' && global ? global : opts.kubeconfig;
      const stop = stopRequested('sandbox');
      // Loaded here, not at start-up: the sandbox (node-pty, the API server) is no cost to other commands.
      const { startSandbox } = await import('../sandbox/server.ts');
      const sandbox = await startSandbox({
        kubeconfigPath,
        port: opts.port,
        ...(opts.manifest ? { manifests: opts.manifest } : {}),
        ...(opts.protocols ? { protocols: opts.protocols.split(',').map((p) => p.trim()) } : {}),
        isolation: opts.isolation,
      });
      process.stdout.write(`sandbox ready ${sandbox.url} kubeconfig=${sandbox.kubeconfigPath}\n`);
      if (process.stderr.isTTY) {
        process.stderr.write(
          `\nTry it:\n  export KUBECONFIG=${sandbox.kubeconfigPath}\n  kubectl get pods\n  kubectl exec -it demo -- sh\n\nPress Ctrl-C to stop.\n`,
        );
      }
      await stop;
      await sandbox.close();
    });
}
