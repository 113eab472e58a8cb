// The library's front door: one object per cluster connection, with exec, run, attach, copies, logs, debug containers and port-forward.

import { KubeClient, streamLogs, type InClusterOptions, type KubeconfigOptions, type LogStream, type LogsOptions } from '../kube/index.ts';
import { attach, debug, exec, portForward, run, type DebugOptions, type DebugSession, type ExecOptions, type ExecSession, type PortForward, type PortForwardOptions, type RunOptions, type RunResult, type SessionOptions } from '../exec/index.ts';
import { copyFromPod, copyToPod, type CopyOptions, type CopyResult, type RemoteSpec } from '../transfer/index.ts';

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

  /**
   * Forward local ports to a pod: each connection accepted on a listener (127.0.0.1 by default)
   * is relayed to the pod's port over its own WebSocket. A failed connection emits
   * `connectionError`; the others keep working.
   * @example
   * const forward = cluster.portForward({ target: 'deploy/web', ports: ['8080:80', ':9090'] });
   * const { ports } = await forward.ready;
   * // … later
   * await forward.close();
   */
  portForward(options: PortForwardOptions): PortForward {
    return portForward(this.client, options);
  }

  /**
   * Add an ephemeral debug container to a pod (as `kubectl debug`), wait until it runs, and attach
   * to it. With `targetContainer` it sees that container's processes, and their files under
   * /proc/<pid>/root.
   * @example
   * const { session, container } = await cluster.debug({ target: 'distroless', image: 'busybox', targetContainer: 'app', command: ['sh'], stdin: true, tty: true });
   */
  debug(options: DebugOptions): Promise<DebugSession> {
    return debug(this.client, options);
  }

  /**
   * Logs of a pod (`target`) or of every pod a label selector matches, as an object stream of
   * `{ namespace, pod, container, line }` (docs/api.md, "cluster.logs"). A slow reader pauses
   * the HTTP responses; following a selector picks up pods that appear.
   * @example
   * for await (const l of cluster.logs({ selector: 'app=web', follow: true, since: '5m' })) console.log(l.pod, l.line);
   */
  logs(options: LogsOptions): LogStream {
    return streamLogs(this.client, options);
  }

  /**
   * Copy a local file or directory into a container. Verified with sha256 (sizes when the
   * container lacks sha256sum); a single file lands atomically.
   * @example
   * await cluster.copyTo('./config.json', { pod: 'demo', path: '/tmp/config.json' });
   */
  copyTo(localPath: string, remote: RemoteSpec, options?: CopyOptions): Promise<CopyResult> {
    return copyToPod(this.client, localPath, remote, options);
  }

  /**
   * Copy a file or directory out of a container. Pod output is untrusted: nothing is written
   * outside `localPath`; links and special files are skipped. `retries` resumes broken downloads.
   * @example
   * await cluster.copyFrom({ pod: 'demo', path: '/etc/hostname' }, './hostname');
   */
  copyFrom(remote: RemoteSpec, localPath: string, options?: CopyOptions): Promise<CopyResult> {
    return copyFromPod(this.client, remote, localPath, options);
  }
}
