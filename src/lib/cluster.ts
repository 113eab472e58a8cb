// The library's front door: one object per cluster connection, with exec, run and attach.

import { KubeClient, type InClusterOptions, type KubeconfigOptions } from '../kube/index.ts';
import { attach, exec, run, type ExecOptions, type ExecSession, type RunOptions, type RunResult, type SessionOptions } from '../exec/index.ts';

export class Cluster {
  /** Credentials, TLS, proxy and REST calls for this cluster. */
  readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  /**
   * From a kubeconfig: `KUBECONFIG` (several files merged) or `~/.kube/config`, its current
   * context and namespace, unless `path`, `context` or `namespace` say otherwise.
   * @example
   * const cluster = Cluster.fromKubeconfig({ context: 'prod' });
   */
  static fromKubeconfig(options?: KubeconfigOptions): Cluster {
    return new Cluster(KubeClient.fromKubeconfig(options));
  }

  /** Inside a pod: the service account's token (re-read when rotated) and CA. */
  static inCluster(options?: InClusterOptions): Cluster {
    return new Cluster(KubeClient.inCluster(options));
  }

  /** The namespace used when an operation names none. */
  get namespace(): string {
    return this.client.namespace;
  }

  /**
   * Start a command in a pod and stream it.
   * @example
   * const session = cluster.exec({ target: 'deploy/web', command: ['tail', '-f', '/var/log/app.log'] });
   * session.stdout.pipe(process.stdout);
   * const { code } = await session.exit;
   */
  exec(options: ExecOptions): ExecSession {
    return exec(this.client, options);
  }

  /**
   * Run a command to completion and collect its output.
   * @example
   * const { stdout, exitCode } = await cluster.run({ target: 'demo', command: ['uname', '-a'] });
   */
  run(options: RunOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
  run(options: RunOptions & { encoding?: 'utf8' }): Promise<RunResult<string>>;
  run(options: RunOptions): Promise<RunResult<string | Buffer>> {
    return run(this.client, options as RunOptions & { encoding?: 'utf8' });
  }

  /** Connect to a container's main process (its output from now on, and its stdin). */
  attach(options: SessionOptions): ExecSession {
    return attach(this.client, options);
  }
}
