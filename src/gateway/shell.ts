// What a session runs: the command the client asked for, or the best shell the container has,
// started in one exec (no probing round trip). A container without any shell gets an error that
// says what is missing and what would work instead.

import { PodshellError, type Cluster, type ExecSession } from '../lib/index.ts';
import { GatewayError } from './errors.ts';

/**
 * `sh -c` with this script runs bash when the image has it, else stays on sh. `exec` replaces the
 * probing sh, so the session's process is the shell itself.
 */
export const bestShellScript = 'if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh';

/** The argv a session runs: `command` as given, else the best shell. */
export function sessionCommand(command: readonly string[] | undefined): string[] {
  return command && command.length > 0 ? [...command] : ['sh', '-c', bestShellScript];
}

/** The container runtime's words for a program that is not in the image. */
const notFound = /executable file not found|no such file or directory/i;

/**
 * When the default shell could not start because the image has none (a distroless image): the
 * error the client sees instead of the runtime's ERR_REMOTE. Anything else: null.
 */
export function noShellError(err: unknown, where: { namespace: string; pod: string; container: string }): GatewayError | null {
  if (!(err instanceof PodshellError) || err.code !== 'ERR_REMOTE' || !notFound.test(err.message)) return null;
  const ns = where.namespace === 'default' ? '' : ` -n ${where.namespace}`;
  return new GatewayError(
    'ERR_GATEWAY_NO_SHELL',
    422,
    `container "${where.container}" of pod "${where.pod}" has no shell (neither bash nor sh is in its image): ` +
      `run a command the image has, or debug it from a container that has one: kubectl debug -it ${where.pod} --image=busybox --target=${where.container}${ns}`,
    { cause: err },
  );
}

/** What a debug session needs: where, the image, the container whose processes it shares, and what it runs. */
export interface DebugSessionOptions {
  pod: string;
  namespace: string;
  image: string;
  targetContainer: string;
  command: string[];
  tty: boolean;
  size?: { cols: number; rows: number };
}

/**
 * Adds an ephemeral container to the pod with the library (`cluster.debug`: the subresource's
 * patch, then a watch until it runs) and returns the session attached to it, with its name.
 */
export async function startDebugSession(cluster: Cluster, options: DebugSessionOptions): Promise<{ exec: ExecSession; container: string }> {
  const { session, container } = await cluster.debug({
    target: options.pod,
    namespace: options.namespace,
    image: options.image,
    targetContainer: options.targetContainer,
    command: options.command,
    tty: options.tty,
    stdin: true,
    // The container's shell ends when this session's attach does (idle, max duration, a closed tab).
    stdinOnce: true,
    ...(options.size ? { size: options.size } : {}),
  });
  return { exec: session, container };
}
