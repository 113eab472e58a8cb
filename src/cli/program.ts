// The `podshell` command line. Each command: parse → validate → run; every failure ends here as a
// `podshell: …` line on stderr and a documented exit code (docs/errors.md).

import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { reportError } from './errors.ts';
import { attachCommand } from './attach.ts';
import { cpCommand } from './cp.ts';
import { execCommand } from './exec.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('expected a TCP port number from 0 to 65535.');
  return port;
}

export function defaultSandboxKubeconfig(): string {
  return join(homedir(), '.kube', 'podshell-sandbox.yaml');
}

function sandboxCommand(): Command {
  return new Command('sandbox')
    .description(
      'Start a local Kubernetes API server for pods, exec and attach, backed by real local processes.\n' +
        'kubectl, client libraries and podshell itself use it like a cluster through the kubeconfig it writes.',
    )
    .option('--kubeconfig <file>', 'where to write the kubeconfig (contexts podshell-sandbox, podshell-sandbox-dev, podshell-sandbox-viewer)', defaultSandboxKubeconfig())
    .option('--port <n>', 'TCP port on 127.0.0.1 (0 picks a free one)', parsePort, 0)
    .option('--manifest <file>', 'multi-document YAML of Namespaces, Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, RBAC objects and SandboxUsers (repeatable; default: the built-in world)', collect)
    .option('--protocols <list>', 'comma-separated exec/attach subprotocols to accept, e.g. v4.channel.k8s.io to act like Kubernetes < 1.30 (default: all)')
    .addOption(new Option('--isolation <mode>', 'container isolation: namespaces (own root filesystem and hostname), none (plain processes), auto').choices(['auto', 'namespaces', 'none']).default('auto'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  podshell sandbox\n' +
        '  podshell sandbox --kubeconfig /tmp/sandbox.yaml --port 6443\n' +
        '  podshell sandbox --manifest my-world.yaml --protocols v4.channel.k8s.io\n' +
        '\nWhen it prints "sandbox ready <url> kubeconfig=<file>" it accepts requests; stop it with Ctrl-C.\n' +
        'Every process it started is killed when it stops.',
    )
    .action(async (opts: { kubeconfig: string; port: number; manifest?: string[]; protocols?: string; isolation: 'auto' | 'namespaces' | 'none' }) => {
      // Loaded here, not at start-up: the sandbox (node-pty, the API server) is no cost to other commands.
      const { startSandbox } = await import('../sandbox/server.ts');
      const sandbox = await startSandbox({
        kubeconfigPath: opts.kubeconfig,
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
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        process.once('SIGHUP', stop);
      });
      await sandbox.close();
    });
}

/** The version in package.json (two folders up from src/cli and dist/cli alike). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Every command reports usage errors the same way: `podshell: …` and a hint, exit code 2. */
function conventions(command: Command): Command {
  return command
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`podshell: ${text.replace(/^error: /, '')}`) });
}

/**
 * The program. `command` is what followed the first `--` on the command line (null when there
 * was none): exec needs to know, as kubectl does, which words came before it.
 */
export function buildProgram(command: string[] | null): Command {
  const program = conventions(new Command('podshell'))
    .description('Run commands, interactive shells and file copies in Kubernetes pods.')
    .version(packageVersion(), '--version');
  program.addCommand(conventions(execCommand(() => command)));
  program.addCommand(conventions(attachCommand()));
  program.addCommand(conventions(cpCommand()));
  program.addCommand(conventions(sandboxCommand()));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const [head, command] = dash >= 0 ? [argv.slice(0, dash), argv.slice(dash + 1)] : [argv, null];
  try {
    await buildProgram(command).parseAsync(head, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err, process.stderr);
  }
}
