// Logs of one pod or of every pod a selector matches (pods/log, a streaming GET), as one object
// stream of lines. Following a selector also watches the namespace's pods, so that pods that
// appear (or become Running) are picked up. A slow reader (64 records or 1 MiB of lines not read)
// pauses every HTTP response: lines wait in the server and the kernel, not in this process (docs/api.md, "cluster.logs").

import type http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { PodshellError } from '../protocol/errors.ts';
import type { KubeClient } from './client.ts';
import { MAX_ERROR_BODY, apiStatusError, connectError, TargetError } from './errors.ts';
import { watchPods } from './listing.ts';
import { http as httpModule } from './node-http.ts';
import { chooseContainer, mostActivePod, parseTarget, podsOf } from './targets.ts';
import { logQuery, type LogsOptions } from './logoptions.ts';
import { tlsOptions } from './transport.ts';
import type { ContainerStatus, Pod } from './types.ts';

export { logQuery, parseDuration, type LogsOptions } from './logoptions.ts';

/** Where a line comes from. */
export interface LogSource {
  namespace: string;
  pod: string;
  container: string;
}

/** One line of a log (without its newline). */
export interface LogLine extends LogSource {
  line: string;
  /**
   * Set when no newline follows this text: the log ended in the middle of a line, or a line
   * longer than MAX_LOG_LINE_BYTES was cut into pieces (all but the last are partial).
   */
  partial?: true;
}

/** A line longer than this comes in pieces. */
export const MAX_LOG_LINE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_LOG_REQUESTS = 5;
/** Above this many bytes of lines waiting to be read, every HTTP response is paused. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const enc = encodeURIComponent;

function containersOf(pod: Pod): string[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers, ...(pod.spec.ephemeralContainers ?? [])].map((c) => c.name);
}

const key = (s: LogSource) => `${s.namespace}/${s.pod}/${s.container}`;

/** A container's restartCount, and whether it runs now, from the pod's status. */
function containerState(pod: Pod, container: string): { restarts: number; running: boolean } {
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? []), ...((pod.status?.['ephemeralContainerStatuses'] as ContainerStatus[] | undefined) ?? [])];
  const status = statuses.find((s) => s.name === container);
  const state = status?.['state'] as { running?: unknown } | undefined;
  return { restarts: status?.restartCount ?? 0, running: state ? state.running !== undefined : pod.status?.phase === 'Running' };
}

interface Running {
  source: LogSource;
  request?: http.ClientRequest;
  response?: http.IncomingMessage;
}

/**
 * The lines of the logs, as objects ({@link LogLine}). Events besides the stream's own:
 * `notice` (a string, e.g. kubectl's "Defaulted container …"), `podStart` and `podEnd` (a
 * {@link LogSource}), `podError` ({ source, error }) for a log of a selector's pod that could not
 * be read (the stream goes on with the others; with one target, the stream fails instead).
 */
export class LogStream extends Readable {
  /** Bytes of log received from the server so far. */
  bytesReceived = 0;
  readonly #client: KubeClient;
  readonly #opts: LogsOptions;
  readonly #control = new AbortController();
  readonly #running = new Map<string, Running>();
  /** Logs asked for: the container's restartCount when they were. */
  readonly #seen = new Map<string, number>();
  readonly #noticed = new Set<string>();
  /** Logs a watch found while maxLogRequests were being followed: told once each. */
  readonly #overLimit = new Set<string>();
  #paused = false;
  /** Bytes of the lines pushed and not read yet (each record's size is in #sizes). */
  #bufferedBytes = 0;
  readonly #sizes = new WeakMap<LogLine, number>();
  #starting = 0;
  #watching = false;
  #ended = false;
  /** True once every log known at the start has been asked for. */
  #planned = false;

  constructor(client: KubeClient, opts: LogsOptions) {
    super({ objectMode: true, highWaterMark: 64 });
    if (!opts.target === !opts.selector) throw new PodshellError('ERR_USAGE', 'logs need a target (POD or TYPE/NAME) or a selector, not both');
    logQuery(opts, ''); // refuse bad options before anything is sent
    this.#client = client;
    this.#opts = opts;
    if (opts.signal) {
      const signal = opts.signal;
      if (signal.aborted) queueMicrotask(() => this.destroy(signal.reason as Error));
      else signal.addEventListener('abort', () => this.destroy(signal.reason as Error), { once: true });
    }
    void this.#begin().catch((err: unknown) => this.destroy(err as Error));
  }

  /** The logs being read now. */
  get sources(): LogSource[] {
    return [...this.#running.values()].map((r) => r.source);
  }

  get #namespace(): string {
    return this.#opts.namespace || this.#client.namespace;
  }

  #sourcesOf(pod: Pod): LogSource[] {
    const namespace = pod.metadata.namespace ?? this.#namespace;
    if (this.#opts.allContainers) return containersOf(pod).map((container) => ({ namespace, pod: pod.metadata.name, container }));
    const { container, defaultedNotice } = chooseContainer(pod, this.#opts.container);
    if (defaultedNotice && !this.#noticed.has(`${namespace}/${pod.metadata.name}`)) {
      this.#noticed.add(`${namespace}/${pod.metadata.name}`);
      this.emit('notice', defaultedNotice);
    }
    return [{ namespace, pod: pod.metadata.name, container }];
  }

  async #begin(): Promise<void> {
    const signal = this.#control.signal;
    const namespace = this.#namespace;
    if (this.#opts.target) {
      const parsed = parseTarget(this.#opts.target);
      let pod: Pod | undefined;
      if (parsed.kind.selector === 'pod') pod = await this.#client.getPod(namespace, parsed.name, signal);
      else {
        const { pods, describe } = await podsOf(this.#client, parsed.kind, parsed.name, namespace, signal);
        pod = mostActivePod(pods);
        if (!pod) throw new TargetError(`no pods found for ${describe}`);
      }
      const sources = this.#sourcesOf(pod);
      this.#checkConcurrency(sources.length);
      this.#planned = true;
      await this.#all(sources, true);
      return this.#maybeEnd();
    }
    const { items, resourceVersion } = await this.#list(signal);
    const sources = items.filter((p) => p.status?.phase !== 'Pending' || !this.#opts.follow).flatMap((p) => this.#sourcesOf(p).map((s) => ({ ...s, restarts: containerState(p, s.container).restarts })));
    this.#checkConcurrency(sources.length);
    if (this.#opts.follow) {
      this.#watching = true;
      void this.#watch(resourceVersion).catch((err: unknown) => this.destroy(err as Error));
    }
    const all = this.#all(sources, false);
    this.#planned = !!this.#opts.follow;
    await all;
    this.#planned = true;
    this.#maybeEnd();
  }

  #checkConcurrency(count: number): void {
    const max = this.#opts.maxLogRequests ?? DEFAULT_MAX_LOG_REQUESTS;
    if (this.#opts.follow && count > max) {
      throw new PodshellError('ERR_USAGE', `you are attempting to follow ${count} log streams, but maximum allowed concurrency is ${max}, use --max-log-requests to increase the limit`);
    }
  }

  /** Following: all at once; otherwise one after another, in order (as kubectl reads them). */
  async #all(sources: (LogSource & { restarts?: number })[], fatal: boolean): Promise<void> {
    const read = ({ restarts, ...source }: LogSource & { restarts?: number }) => this.#read(source, fatal, restarts ?? 0);
    if (this.#opts.follow) {
      await Promise.all(sources.map(read));
      return;
    }
    for (const s of sources) {
      if (this.destroyed) return;
      await read(s);
    }
  }

  async #list(signal: AbortSignal): Promise<{ items: Pod[]; resourceVersion: string }> {
    const list = await this.#client.request<{ items?: Pod[]; metadata?: { resourceVersion?: string } }>({
      path: `/api/v1/namespaces/${enc(this.#namespace)}/pods`,
      query: { labelSelector: this.#opts.selector },
      signal,
    });
    // By name (kubectl's order is a Go map's, which is to say none).
    const items = (list?.items ?? []).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
    if (items.length === 0 && !this.#opts.follow) this.emit('notice', `No resources found in ${this.#namespace} namespace.`);
    return { items, resourceVersion: list?.metadata?.resourceVersion ?? '' };
  }

  /** Pods that appear (or start running) while following a selector. */
  async #watch(resourceVersion: string): Promise<void> {
    const signal = this.#control.signal;
    let rv = resourceVersion;
    while (!signal.aborted) {
      try {
        for await (const event of watchPods(this.#client, this.#namespace, { resourceVersion: rv, labelSelector: this.#opts.selector!, signal })) {
          rv = event.resourceVersion || rv;
          if (event.type === 'BOOKMARK' || event.type === 'DELETED') continue;
          this.#consider(event.pod);
        }
      } catch (err) {
        if (signal.aborted) return;
        if ((err as { statusCode?: number }).statusCode !== 410 && !/too old/i.test((err as Error).message)) throw err;
        // Too far behind: list again, and take up any pod the missed changes started.
        const list = await this.#list(signal);
        rv = list.resourceVersion;
        for (const pod of list.items) this.#consider(pod);
      }
    }
  }

  /** A pod of the selector, seen by the watch: follow what is new and running, up to maxLogRequests logs. */
  #consider(pod: Pod): void {
    if (pod.status?.phase !== 'Running') return;
    const max = this.#opts.maxLogRequests ?? DEFAULT_MAX_LOG_REQUESTS;
    // A pod that is new, or a container that started again (a fresh log), is followed.
    for (const s of this.#sourcesOfQuiet(pod)) {
      const { restarts, running } = containerState(pod, s.container);
      const k = key(s);
      const seen = this.#seen.get(k);
      if (!running || (seen !== undefined && restarts <= seen)) continue;
      // A container that started again takes its old log's place; any other log needs a free one.
      const followed = new Set([...this.#running.values()].map((r) => key(r.source)));
      if (!followed.has(k) && followed.size >= max) {
        if (!this.#overLimit.has(k)) {
          this.#overLimit.add(k);
          this.emit('notice', `not following pod/${s.pod}/${s.container}: already following ${followed.size} log streams, the maximum allowed concurrency (use --max-log-requests to increase the limit)`);
        }
        continue;
      }
      void this.#read(s, false, restarts);
    }
  }

  #sourcesOfQuiet(pod: Pod): LogSource[] {
    try {
      return this.#sourcesOf(pod);
    } catch (err) {
      this.emit('podError', { source: { namespace: pod.metadata.namespace ?? this.#namespace, pod: pod.metadata.name, container: this.#opts.container ?? '' }, error: err });
      return [];
    }
  }

  /** Read one log to its end; errors go to `podError` (or fail the stream when `fatal`). */
  async #read(source: LogSource, fatal: boolean, restarts: number): Promise<void> {
    const k = key(source);
    const seen = this.#seen.get(k);
    if (seen !== undefined && seen >= restarts) return;
    this.#seen.set(k, restarts);
    // By instance: the log of a container that started again may open before the old one's ends.
    const rk = `${k}#${restarts}`;
    this.#starting++;
    const running: Running = { source };
    this.#running.set(rk, running);
    try {
      const response = await this.#open(running);
      this.emit('podStart', source);
      await this.#consume(running, response);
      this.emit('podEnd', source);
    } catch (err) {
      if (this.#control.signal.aborted) return;
      // A pod of the watch that is not running yet may be read once it is.
      if (!fatal && /is waiting to start/.test((err as Error).message) && this.#seen.get(k) === restarts) this.#seen.set(k, restarts - 1);
      if (fatal) this.destroy(err as Error);
      else this.emit('podError', { source, error: err });
    } finally {
      this.#starting--;
      this.#running.delete(rk);
      this.#maybeEnd();
    }
  }

  async #open(running: Running): Promise<http.IncomingMessage> {
    const { namespace, pod, container } = running.source;
    const client = this.#client;
    const url = client.url(`/api/v1/namespaces/${enc(namespace)}/pods/${enc(pod)}/log`, logQuery(this.#opts, container));
    const what = `GET ${url.pathname}${url.search}`;
    const signal = this.#control.signal;
    const connect = await client.connectOptions(signal);
    signal.throwIfAborted();
    const timeoutMs = client.requestTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = (url.protocol === 'https:' ? https : httpModule).request(url, { method: 'GET', headers: { ...connect.headers, Accept: '*/*' }, ...tlsOptions(connect) });
      running.request = req;
      const timer = timeoutMs > 0 ? setTimeout(() => req.destroy(new PodshellError('ERR_TIMEOUT', `${what} at ${client.server} did not answer in ${timeoutMs} ms`)), timeoutMs) : undefined;
      const onAbort = () => req.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? signal.reason : err instanceof PodshellError ? err : connectError(client.server, err));
      });
      req.on('response', (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      req.on('close', () => signal.removeEventListener('abort', onAbort));
      req.end();
    });
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) throw apiStatusError(status, await readError(response));
    return response;
  }

  #consume(running: Running, response: http.IncomingMessage): Promise<void> {
    running.response = response;
    if (this.#paused) response.pause();
    const base = running.source;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const emitLine = (data: Buffer, partial: boolean) => {
      const line: LogLine = { ...base, line: data.toString('utf8'), ...(partial ? { partial: true as const } : {}) };
      this.#sizes.set(line, data.length);
      this.#bufferedBytes += data.length;
      // Bounded by records and by bytes: lines may be up to MAX_LOG_LINE_BYTES each.
      if (!this.push(line) || this.#bufferedBytes > MAX_BUFFERED_BYTES) this.#pauseAll();
    };
    return new Promise<void>((resolve, reject) => {
      response.on('data', (chunk: Buffer) => {
        this.bytesReceived += chunk.length;
        let start = 0;
        for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
          pending.push(chunk.subarray(start, nl));
          emitLine(pending.length === 1 ? pending[0]! : Buffer.concat(pending), false);
          pending = [];
          pendingBytes = 0;
          start = nl + 1;
        }
        if (start < chunk.length) {
          pending.push(chunk.subarray(start));
          pendingBytes += chunk.length - start;
          if (pendingBytes >= MAX_LOG_LINE_BYTES) {
            // Cut where a character starts, so that the piece decodes as it would in the whole line.
            const text = Buffer.concat(pending);
            const cut = utf8Boundary(text);
            emitLine(text.subarray(0, cut), true);
            pending = cut < text.length ? [text.subarray(cut)] : [];
            pendingBytes = text.length - cut;
          }
        }
      });
      response.on('end', () => {
        if (pendingBytes > 0) emitLine(Buffer.concat(pending), true);
        resolve();
      });
      response.on('error', (err) => reject(this.#control.signal.aborted ? this.#control.signal.reason : connectError(this.#client.server, err)));
      response.on('aborted', () => reject(connectError(this.#client.server, new Error('the connection closed before the log ended'))));
    });
  }

  #pauseAll(): void {
    this.#paused = true;
    for (const r of this.#running.values()) r.response?.pause();
  }

  override _read(): void {
    this.#resumeIfRoom();
  }

  // Every record handed to a reader is a 'data' event: from read() (async iteration, 'readable'),
  // from flowing mode, and from push() itself when a flowing stream has nothing buffered.
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'data') {
      const size = this.#sizes.get(args[0] as LogLine);
      if (size !== undefined) {
        this.#sizes.delete(args[0] as LogLine);
        this.#bufferedBytes -= size;
        queueMicrotask(() => this.#resumeIfRoom());
      }
    }
    return super.emit(event, ...args);
  }

  #resumeIfRoom(): void {
    if (!this.#paused || this.#bufferedBytes > MAX_BUFFERED_BYTES || this.readableLength >= this.readableHighWaterMark) return;
    this.#paused = false;
    for (const r of this.#running.values()) r.response?.resume();
  }

  #maybeEnd(): void {
    if (this.#ended || this.destroyed || !this.#planned || this.#watching || this.#starting > 0) return;
    this.#ended = true;
    this.push(null);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#control.abort(err ?? new PodshellError('ERR_ABORTED', 'the log stream was closed'));
    for (const r of this.#running.values()) r.request?.destroy();
    callback(err);
  }
}

/** Where `text` can be cut so that no UTF-8 character is split: before an unfinished last one, else its end. */
function utf8Boundary(text: Buffer): number {
  const end = text.length;
  let start = end - 1;
  while (start > 0 && start > end - 4 && (text[start]! & 0xc0) === 0x80) start--;
  if (start <= 0) return end;
  const lead = text[start]!;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return start + length > end ? start : end;
}

function readError(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_ERROR_BODY) chunks.push(chunk);
      size += chunk.length;
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY)));
    res.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Read logs. @throws PodshellError ERR_USAGE for bad options (synchronously); other failures fail the stream. */
export function streamLogs(client: KubeClient, opts: LogsOptions): LogStream {
  return new LogStream(client, opts);
}
