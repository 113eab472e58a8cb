// The kubectl flags that say which cluster, as whom and where: shared by every cluster command.

import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration as parseGatewayDuration } from '../gateway/config.ts';
import { Cluster, type KubeconfigOptions } from '../lib/index.ts';
import { sanitize } from './sanitize.ts';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  as?: string;
  asGroup?: string[];
  requestTimeout?: number;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * kubectl's --request-timeout: `0` (none), a bare number of seconds, one number with a unit
 * (`1.5s`, `30s`, `1m`), or a duration as every other podshell flag takes it (`1h30m`: the
 * gateway's parser).
 */
export function parseDuration(value: string): number {
  const text = value.trim();
  const single = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (single) return Number(single[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[single[2] ?? 's']!;
  try {
    return parseGatewayDuration('--request-timeout', text);
  } catch {
    throw new InvalidArgumentError('expected a duration such as 0, 30, 30s, 1m or 1h30m.');
  }
}

/** The kube flags that take a value as the next word (the rest of the command line is not theirs). */
export const kubeFlagsWithValue: ReadonlySet<string> = new Set(['--kubeconfig', '--context', '-n', '--namespace', '--as', '--as-group', '--request-timeout']);

/**
 * A subcommand's options with the kube flags given before it (`podshell --context X exec …`),
 * as kubectl takes its global flags: a value given after the subcommand wins.
 */
export function withGlobalFlags<T extends object>(command: Command): T {
  const local = Object.fromEntries(Object.entries(command.opts()).filter(([, v]) => v !== undefined));
  const global: Record<string, unknown> = {};
  for (const key of ['kubeconfig', 'context', 'namespace', 'as', 'asGroup', 'requestTimeout']) {
    const value = command.parent?.opts()[key];
    if (value !== undefined) global[key] = value;
  }
  return { ...global, ...local } as T;
}

export function addKubeFlags(command: Command): Command {
  return command
    .option('--kubeconfig <file>', 'path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'the kubeconfig context to use')
    .option('-n, --namespace <ns>', 'the namespace (default: the context\'s)')
    .option('--as <user>', 'user to impersonate')
    .option('--as-group <group>', 'group to impersonate (repeatable)', collect)
    .option('--request-timeout <duration>', 'give up on a request after this long (0 = never), e.g. 30s', parseDuration);
}

export function clusterFrom(flags: KubeFlags): Cluster {
  const impersonate = flags.as || flags.asGroup ? { ...(flags.as ? { user: flags.as } : {}), ...(flags.asGroup ? { groups: flags.asGroup } : {}) } : undefined;
  // --request-timeout governs every API request of the command (0: none), as in kubectl.
  const options: KubeconfigOptions = {
    ...(flags.kubeconfig ? { path: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    ...(impersonate ? { impersonate } : {}),
    ...(flags.requestTimeout !== undefined ? { requestTimeoutMs: flags.requestTimeout } : {}),
    warn: (message) => process.stderr.write(`podshell: warning: ${sanitize(message)}\n`),
  };
  return Cluster.fromKubeconfig(options);
}
