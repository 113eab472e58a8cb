// Port-forward: local TCP listeners whose every accepted connection is relayed to a port of one
// pod over its own port-forward WebSocket (docs/protocol.md, "Port-forward"; docs/api.md).
// The pod is chosen once, as kubectl chooses it; each connection fails or succeeds on its own.

import { EventEmitter } from 'node:events';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildPortForwardUrl, PodshellError, type PortMapping } from '../protocol/index.ts';
import { parseTarget, TargetError, type KubeClient, type Pod, type Target } from '../kube/index.ts';
import { AbortError, UsageError } from './errors.ts';
import { CLOSE_GRACE_MS, ForwardedConnection, PortForwardError, type ConnectionPlan } from './portforward-connection.ts';
import { asServicePorts, resolvePortSpecs, validatePortSpec, type ServicePorts } from './portforward-ports.ts';

export { PortForwardError } from './portforward-connection.ts';
export { resolvePortSpecs, validatePortSpec, type ServicePorts } from './portforward-ports.ts';

export interface PortForwardOptions {
  /** A pod name, `TYPE/NAME` (deploy/web: kubectl's most active pod, chosen once), or `{ pod }`. */
  target: Target;
  /** Default: the kubeconfig context's namespace. */
  namespace?: string;
  /**
   * kubectl's specs: `'8080:80'` (local 8080 to the pod's 80), `'80'` or `80` (the same port both
   * sides), `':80'` or `'0:80'` (a random free local port; `ready` tells which). The remote port
   * may be a container port's name (`'8080:http'`); for `svc/NAME` it is the service's port (or
   * its name), translated to the pod port behind it, as kubectl does.
   */
  ports: readonly (string | number)[];
  /**
   * Where to listen: IP addresses, or `localhost` (127.0.0.1 and ::1, whichever can be bound).
   * [default '127.0.0.1']
   */
  address?: string | readonly string[];
  /** How long to wait for the pod to be Running before giving up. [default 60000 ms, as kubectl] */
  podRunningTimeoutMs?: number;
  /** Give up on a connection whose upgrade has not completed after this long; 0: no limit. [default: the cluster's requestTimeoutMs, else 30000 ms] */
  handshakeTimeoutMs?: number;
  /**
   * Each connection pings the server every `intervalMs` and counts as lost (its local socket is
   * reset) when no pong came for `timeoutMs`. [default 5000 ms and 61000 ms, as client-go's exec;
   * intervalMs 0: no pings]
   */
  keepalive?: { intervalMs?: number; timeoutMs?: number };
  /**
   * How long a connection ended from one side waits for the other side's close before it is cut.
   * A connection whose local reader is behind when `close()` comes is cut at once. [default 2000 ms]
   */
  closeGraceMs?: number;
  /** Aborting is `close()`. */
  signal?: AbortSignal;
}

/** One local listener. */
export interface ForwardedPort {
  /** The local address listened on, e.g. `127.0.0.1` or `::1`. */
  readonly address: string;
  readonly localPort: number;
  readonly remotePort: number;
}

export interface PortForwardReady {
  readonly namespace: string;
  readonly pod: string;
  /** Every listener, in the order of the port specs, then of the addresses. */
  readonly ports: readonly ForwardedPort[];
}

/** A local connection accepted on a listener. */
export interface ForwardedConnectionInfo extends ForwardedPort {
  /** The local peer, e.g. `127.0.0.1:51234`. */
  readonly peer: string;
}

/** No listener could be opened for a port (busy, not permitted, no such address). */
export class ListenError extends PodshellError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LISTEN', message, options);
    this.name = 'ListenError';
  }
}

interface ListenAddress {
  host: string;
  /** A `localhost` address: it may fail as long as another one of localhost's binds. */
  optional: boolean;
}

/** kubectl's --address values: IPs, and `localhost` as 127.0.0.1 plus ::1. Sorted as kubectl sorts them. */
export function parseListenAddresses(address: string | readonly string[] | undefined): ListenAddress[] {
  const given = address === undefined ? ['127.0.0.1'] : typeof address === 'string' ? [address] : [...address];
  if (given.length === 0) throw new UsageError('address needs at least one IP address or localhost');
  const parsed = new Map<string, ListenAddress>();
  for (const raw of given) {
    if (typeof raw !== 'string') throw new UsageError(`address must be a string or an array of strings, not ${typeof raw}`);
    const a = raw.trim();
    if (a === 'localhost') {
      if (!parsed.has('127.0.0.1')) parsed.set('127.0.0.1', { host: '127.0.0.1', optional: true });
      if (!parsed.has('::1')) parsed.set('::1', { host: '::1', optional: true });
    } else if (isIP(a)) parsed.set(a, { host: a, optional: false });
    else throw new UsageError(`${a} is not a valid IP`);
  }
  return [...parsed.values()].sort((x, y) => (x.host < y.host ? -1 : x.host > y.host ? 1 : 0));
}

function checkPorts(ports: unknown): string[] {
  if (!Array.isArray(ports) || ports.length === 0) throw new UsageError('ports needs at least one port spec, e.g. ["8080:80"]');
  return ports.map((p: unknown) => {
    if (typeof p !== 'number' && typeof p !== 'string') throw new UsageError(`a port spec must be a string such as "8080:80" or a number, not ${typeof p}`);
    const spec = String(p);
    validatePortSpec(spec);
    return spec;
  });
}

/** Where a listener reports itself: `[::1]:8080` style for IPv6. */
export function hostPort(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/**
 * A running port-forward. Events: `connection` (ForwardedConnectionInfo) for each accepted local
 * connection; `connectionError` (PortForwardError: the server's error-channel text or the
 * upgrade's failure, with the ports) when one fails, while the others keep working.
 */
export class PortForward extends EventEmitter<{ connection: [ForwardedConnectionInfo]; connectionError: [PortForwardError] }> {
  /** Resolves once every listener is open; rejects with the reason none could be (target, listen, usage). */
  readonly ready: Promise<PortForwardReady>;
  /** Resolves once closed: listeners shut, every connection ended. */
  readonly closed: Promise<void>;

  private readonly _servers: Server[] = [];
  private readonly _connections = new Set<ForwardedConnection>();
  private _closing = false;
  private _resolveClosed!: () => void;
  private _abortCleanup: (() => void) | null = null;

  constructor(client: KubeClient, options: PortForwardOptions) {
    super();
    this.closed = new Promise((resolve) => (this._resolveClosed = resolve));
    this.ready = this._start(client, options);
    this.ready.catch(() => {});
  }

  /** Stop listening and end every open connection; resolves when all of it is closed. */
  close(): Promise<void> {
    if (!this._closing) {
      this._closing = true;
      this._abortCleanup?.();
      void this._shutdown();
    }
    return this.closed;
  }

  private async _shutdown(): Promise<void> {
    const listeners = this._servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const connection of this._connections) connection.stop();
    await Promise.all([...listeners, ...[...this._connections].map((c) => c.done)]);
    this._resolveClosed();
  }

  private async _start(client: KubeClient, options: PortForwardOptions): Promise<PortForwardReady> {
    try {
      if (typeof options !== 'object' || options === null) throw new UsageError('portForward needs an options object with a target and ports');
      const signal = options.signal;
      if (signal?.aborted) throw new AbortError(signal.reason);
      if (signal) {
        const onAbort = () => void this.close();
        signal.addEventListener('abort', onAbort, { once: true });
        this._abortCleanup = () => signal.removeEventListener('abort', onAbort);
      }
      if (options.target === undefined || options.target === null || options.target === '') throw new UsageError('portForward needs a target: a pod name, TYPE/NAME, or { pod }');
      const specs = checkPorts(options.ports);
      const addresses = parseListenAddresses(options.address);
      const timeoutMs = options.podRunningTimeoutMs ?? 60_000;
      if (!(timeoutMs > 0)) throw new UsageError('podRunningTimeoutMs must be greater than zero');
      const { pod: found, service } = await runningPod(client, options.target, options.namespace || client.namespace, timeoutMs, () => this._closing, signal);
      if (this._closing) throw new AbortError(signal?.reason ?? 'closed');
      const mappings = resolvePortSpecs(specs, found, service);
      const pod = { namespace: found.metadata.namespace ?? (options.namespace || client.namespace), name: found.metadata.name };
      const connect = await client.connectOptions();
      const handshakeTimeoutMs = options.handshakeTimeoutMs ?? connect.requestTimeoutMs ?? 30_000;
      const ports: ForwardedPort[] = [];
      for (const mapping of mappings) {
        const plan = (localPort: number): ConnectionPlan => ({
          url: buildPortForwardUrl(client.server, { namespace: pod.namespace, pod: pod.name, ports: [mapping.remote] }),
          connect,
          handshakeTimeoutMs,
          keepalive: { intervalMs: options.keepalive?.intervalMs ?? 5000, timeoutMs: options.keepalive?.timeoutMs ?? 61_000 },
          closeGraceMs: options.closeGraceMs ?? CLOSE_GRACE_MS,
          localPort,
          remotePort: mapping.remote,
        });
        ports.push(...(await this._listen(mapping, addresses, plan)));
        if (this._closing) throw new AbortError(signal?.reason ?? 'closed');
      }
      return { namespace: pod.namespace, pod: pod.name, ports };
    } catch (err) {
      void this.close();
      // A REST call cut by the signal rejects with the signal's reason: report it as the abort it is.
      const signal = (options as PortForwardOptions | null)?.signal;
      if (signal?.aborted && !(err instanceof PodshellError)) throw new AbortError(signal.reason);
      throw err;
    }
  }

  /** Listeners for one mapping on every address; a random local port is chosen once, by the first. */
  private async _listen(mapping: PortMapping, addresses: ListenAddress[], plan: (localPort: number) => ConnectionPlan): Promise<ForwardedPort[]> {
    let localPort = mapping.local;
    const opened: ForwardedPort[] = [];
    const failures: string[] = [];
    for (const address of addresses) {
      try {
        const server = await listenOn(address.host, localPort, (socket, bound) => this._accept(socket, { address: address.host, localPort: bound, remotePort: mapping.remote }, plan));
        if (this._closing) {
          // close() came while this listener was being opened: it is not left behind.
          server.close();
          throw new AbortError('closed');
        }
        this._servers.push(server);
        localPort = (server.address() as { port: number }).port;
        opened.push({ address: address.host, localPort, remotePort: mapping.remote });
      } catch (err) {
        if (err instanceof AbortError) throw err;
        const message = `listen ${hostPort(address.host, localPort)}: ${describeListenError(err as NodeJS.ErrnoException)}`;
        if (!address.optional) throw new ListenError(`unable to listen on port ${mapping.local}: ${message}`, { cause: err });
        failures.push(message);
      }
    }
    if (opened.length === 0) throw new ListenError(`unable to listen on port ${mapping.local}: ${failures.join('; ')}`);
    return opened;
  }

  private _accept(socket: Socket, port: ForwardedPort, plan: (localPort: number) => ConnectionPlan): void {
    if (this._closing) {
      socket.destroy();
      return;
    }
    const connection = new ForwardedConnection(socket, plan(port.localPort));
    this._connections.add(connection);
    this.emit('connection', { ...port, peer: hostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0) });
    void connection.done.then((failure) => {
      this._connections.delete(connection);
      if (failure) this.emit('connectionError', failure);
    });
  }
}

function listenOn(host: string, port: number, onSocket: (socket: Socket, localPort: number) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: the local peer's FIN must not end the reply still coming from the pod.
    const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => onSocket(socket, (server.address() as { port: number }).port));
    server.once('error', reject);
    server.listen({ host, port, exclusive: true, ...(isIP(host) === 6 ? { ipv6Only: true } : {}) }, () => {
      server.off('error', reject);
      server.on('error', () => {}); // after listening, accept errors are per connection
      resolve(server);
    });
  });
}

function describeListenError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'bind: address already in use';
    case 'EACCES':
      return 'bind: permission denied';
    case 'EADDRNOTAVAIL':
      return 'bind: cannot assign requested address';
    default:
      return err.message;
  }
}

/**
 * The pod to forward to, once it is Running (kubectl's --pod-running-timeout), and for `svc/NAME`
 * the service, whose ports the specs name. A workload or service is resolved to its most active
 * pod, as kubectl does.
 */
async function runningPod(
  client: KubeClient,
  target: Target,
  namespace: string,
  timeoutMs: number,
  stopped: () => boolean,
  signal: AbortSignal | undefined,
): Promise<{ pod: Pod; service?: ServicePorts }> {
  const deadline = Date.now() + timeoutMs;
  const parsed = typeof target === 'string' ? parseTarget(target) : undefined;
  let service: ServicePorts | undefined;
  if (parsed?.kind.kind === 'Service') {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(parsed.name)}`;
    service = asServicePorts(parsed.name, await client.request({ path, ...(signal ? { signal } : {}) }));
  }
  for (;;) {
    let name: string;
    let ns = namespace;
    if (typeof target === 'object' && target !== null && 'pod' in target) name = target.pod;
    else if (parsed?.kind.selector === 'pod') name = parsed.name;
    else if (parsed) {
      const [resolved] = await client.resolveTargets(target, { namespace, ...(signal ? { signal } : {}) });
      name = resolved!.pod;
      ns = resolved!.namespace;
    } else throw new UsageError('portForward forwards to one pod: target must be a pod name, TYPE/NAME or { pod }');
    const pod = await client.getPod(ns, name, signal);
    const phase = pod.status?.phase ?? 'Unknown';
    if (phase === 'Running') return { pod, ...(service ? { service } : {}) };
    const left = deadline - Date.now();
    if (stopped()) throw new AbortError(signal?.reason ?? 'closed');
    if (phase === 'Succeeded' || phase === 'Failed' || left <= 0) {
      throw new TargetError(`unable to forward port because pod is not running. Current status=${phase}`);
    }
    await sleep(Math.min(1000, left), undefined, signal ? { signal } : {}).catch(() => {
      throw new AbortError(signal?.reason);
    });
  }
}

/**
 * Forward local ports to a pod.
 * @example
 * const forward = portForward(client, { target: 'deploy/web', ports: ['8080:80'] });
 * const { ports } = await forward.ready; // [{ address: '127.0.0.1', localPort: 8080, remotePort: 80 }]
 * forward.on('connectionError', (err) => console.error(err.message));
 * await forward.close();
 */
export function portForward(client: KubeClient, options: PortForwardOptions): PortForward {
  return new PortForward(client, options);
}
