// One container's log (docs/web.md, "Logs"): GET streams the cluster's pods/log for the signed-in
// user through the library's `cluster.logs()`, with backpressure end to end (the gateway reads
// from the cluster only as fast as the client takes the answer), a time limit on a followed log,
// and the same name checks as the other pod routes. Each read is audited.

import { create as contentDisposition } from 'content-disposition';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import type { Cluster, LogLine } from '../lib/index.ts';
import { auditRecord, type AuditActor, type AuditLog } from './audit.ts';
import type { GatewayContext } from './context.ts';
import { GatewayError, errorAnswer } from './errors.ts';
import { configuredPrefix, identitiesOf } from './identity.ts';
import { checkContainerName, checkNamespaceName, checkPodName } from './pods.ts';

export interface LogRoutesOptions {
  /** The longest a followed log stays open; then its answer ends cleanly. [default: the config's maxDurationMs] */
  maxFollowMs?: number;
  /** Where log reads are written (audit.ts); none when undefined. [default: the context's audit log] */
  audit?: AuditLog;
  /**
   * How long the answer's headers wait for the log's first bytes. A refusal of the cluster comes
   * before that and is an error answer; a followed log with nothing new yet starts its answer then. [default 1_000 ms]
   */
  headersWaitMs?: number;
}

/** A log request, checked. */
export interface LogRequest {
  cluster: string;
  namespace: string;
  pod: string;
  /** Absent: the pod's default container (the library picks it as kubectl does). */
  container?: string;
  follow: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  download: boolean;
}

const KNOWN = ['container', 'follow', 'timestamps', 'tailLines', 'sinceSeconds', 'download'] as const;
/** The largest tailLines and sinceSeconds accepted (both well past any log a kubelet keeps). */
const MAX_TAIL_LINES = 100_000_000;
const MAX_SINCE_SECONDS = 10 * 365 * 24 * 3600;

function badQuery(message: string): GatewayError {
  return new GatewayError('ERR_GATEWAY_BAD_QUERY', 400, message);
}

function boolean(key: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0' || value === '') return false;
  throw badQuery(`the query parameter "${key}" must be true or false (or 1 or 0), not ${JSON.stringify(value.slice(0, 40))}`);
}

function whole(key: string, value: string, min: number, max: number): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw badQuery(`the query parameter "${key}" must be a whole number from ${min} to ${max}, not ${JSON.stringify(value.slice(0, 40))}`);
  return n;
}

/**
 * The request a URL asks for: names checked as Kubernetes names (400 ERR_GATEWAY_BAD_NAME), every
 * parameter known, given at most once and of its type (400 ERR_GATEWAY_BAD_QUERY).
 * @example parseLogRequest({ cluster: 'c', namespace: 'default', pod: 'demo' }, { follow: '1' })
 */
export function parseLogRequest(params: { cluster: string; namespace: string; pod: string }, query: unknown): LogRequest {
  const namespace = checkNamespaceName(params.namespace);
  const pod = checkPodName(params.pod);
  const given = (query ?? {}) as Record<string, unknown>;
  const values: Partial<Record<(typeof KNOWN)[number], string>> = {};
  for (const [key, value] of Object.entries(given)) {
    if (!(KNOWN as readonly string[]).includes(key)) throw badQuery(`unknown query parameter ${JSON.stringify(key.slice(0, 40))}: the known ones are ${KNOWN.join(', ')}`);
    if (typeof value !== 'string') throw badQuery(`the query parameter "${key}" must be given once`);
    values[key as (typeof KNOWN)[number]] = value;
  }
  const request: LogRequest = {
    cluster: params.cluster,
    namespace,
    pod,
    follow: values.follow !== undefined && boolean('follow', values.follow),
    timestamps: values.timestamps !== undefined && boolean('timestamps', values.timestamps),
    download: values.download !== undefined && boolean('download', values.download),
  };
  if (values.container) request.container = checkContainerName(values.container);
  if (values.tailLines !== undefined) request.tailLines = whole('tailLines', values.tailLines, 0, MAX_TAIL_LINES);
  if (values.sinceSeconds !== undefined) request.sinceSeconds = whole('sinceSeconds', values.sinceSeconds, 1, MAX_SINCE_SECONDS);
  return request;
}

/** `POD_CONTAINER.log` (or `POD.log`): the name a download is saved under. */
export function logFileName(request: Pick<LogRequest, 'pod' | 'container'>): string {
  return `${request.pod}${request.container ? `_${request.container}` : ''}.log`;
}

/** A line of the library's log stream as bytes: with its newline, unless none followed (`partial`: the log ended in the middle of a line, or a long line came in pieces). */
function bytesOf(record: LogLine): Buffer {
  return Buffer.from(record.partial ? record.line : `${record.line}\n`);
}

/** Resolves once the stream has records to read or has ended; rejects with its error. */
function readable(stream: Readable): Promise<void> {
  if (stream.errored) return Promise.reject(stream.errored);
  if (stream.readableEnded || stream.readableLength > 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const settle = (err?: unknown) => {
      stream.off('readable', onReady).off('end', onReady).off('error', settle).off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => settle();
    const onClose = () => settle(stream.errored ?? new Error('the log stream closed'));
    stream.on('readable', onReady).on('end', onReady).on('error', settle).on('close', onClose);
  });
}

/** Bytes the answer takes from the log per chunk at most: the lines already read, joined. */
const CHUNK_BYTES = 64 * 1024;

/**
 * The log's bytes, read from the library's stream only when the answer wants more (Readable.from
 * asks for the next chunk once the previous one was taken): the lines it already holds, joined into
 * chunks of at most CHUNK_BYTES. `stop` aborted (the time limit) ends the answer cleanly; any other
 * failure after the first byte cuts the connection, so a client never takes a broken log for a
 * complete one.
 */
async function* answerBytes(stream: Readable, first: Promise<void>, stop: AbortSignal, counted: (n: number) => void): AsyncGenerator<Buffer> {
  try {
    await first;
    for (;;) {
      const parts: Buffer[] = [];
      let size = 0;
      for (let record: LogLine | null; size < CHUNK_BYTES && (record = stream.read() as LogLine | null) !== null; ) {
        const bytes = bytesOf(record);
        parts.push(bytes);
        size += bytes.length;
      }
      if (size > 0) {
        counted(size);
        yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
        if (stop.aborted) return;
      } else if (stream.readableEnded) {
        return;
      } else {
        await readable(stream);
      }
    }
  } catch (err) {
    if (stop.aborted) return;
    throw err;
  } finally {
    stream.destroy();
  }
}

/** The library's log stream of one container (`cluster.logs`, src/kube/logs.ts): an object stream of lines. */
function openLog(cluster: Cluster, request: LogRequest, signal: AbortSignal): Readable {
  return cluster.logs({
    target: request.pod,
    namespace: request.namespace,
    ...(request.container ? { container: request.container } : {}),
    follow: request.follow,
    timestamps: request.timestamps,
    ...(request.tailLines !== undefined ? { tailLines: request.tailLines } : {}),
    ...(request.sinceSeconds !== undefined ? { since: request.sinceSeconds } : {}),
    signal,
  });
}

/**
 * GET /api/clusters/:cluster/namespaces/:namespace/pods/:pod/logs?container=&follow=&timestamps=&tailLines=&sinceSeconds=&download=
 * @example
 * registerLogRoutes(app, ctx);
 */
export function registerLogRoutes(app: FastifyInstance, ctx: GatewayContext, options: LogRoutesOptions = {}): void {
  const identities = identitiesOf(ctx.clusters, configuredPrefix(ctx.config));
  const maxFollowMs = options.maxFollowMs ?? ctx.config.maxDurationMs;
  const audit = options.audit ?? ctx.audit;
  const headersWaitMs = options.headersWaitMs ?? 1_000;
  /** Open answers: ended (cleanly) when the gateway closes. */
  const open = new Set<AbortController>();

  void app.register(async (scope) => {
    scope.addHook('preClose', async () => {
      for (const stop of open) stop.abort(new Error('the gateway is closing'));
    });

    scope.get('/api/clusters/:cluster/namespaces/:namespace/pods/:pod/logs', { exposeHeadRoute: false }, async (request: FastifyRequest, reply: FastifyReply) => {
      const asked = parseLogRequest(request.params as { cluster: string; namespace: string; pod: string }, request.query);
      const principal = request.principal;
      const actor: AuditActor = { user: principal.user ?? principal.id, groups: [...(principal.groups ?? [])], clientAddress: request.ip };
      const where = { cluster: asked.cluster, namespace: asked.namespace, pod: asked.pod, container: asked.container ?? '', command: [], tty: false };
      const logs = { follow: asked.follow, timestamps: asked.timestamps, download: asked.download, ...(asked.tailLines !== undefined ? { tailLines: asked.tailLines } : {}), ...(asked.sinceSeconds !== undefined ? { sinceSeconds: asked.sinceSeconds } : {}) };
      const started = new Date().toISOString();
      // Ends the cluster's request: the client went away, the time limit passed, the gateway closes.
      const stop = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        open.delete(stop);
      };
      reply.raw.once('close', () => {
        stop.abort(new Error('the client went away'));
        done();
      });
      open.add(stop);
      let first: Promise<void>;
      let stream: Readable | undefined;
      try {
        const entry = identities.entry(asked.cluster, principal);
        const cluster = identities.cluster(entry, principal);
        stream = openLog(cluster, asked, stop.signal);
        // Its failure is read from `stream.errored` where it matters (readable()); never an unhandled 'error'.
        stream.on('error', () => undefined);
        // Headers once the log's first lines came, or it ended, or (a followed log with nothing
        // new) after headersWaitMs: a refusal of the cluster comes first and is an error answer.
        first = readable(stream);
        first.catch(() => undefined); // handled where awaited
        let waited: NodeJS.Timeout | undefined;
        await Promise.race([first, new Promise((resolve) => (waited = setTimeout(resolve, headersWaitMs)))]).finally(() => clearTimeout(waited));
      } catch (err) {
        done();
        stream?.destroy();
        audit?.write(auditRecord('logs.denied', actor, where, { sessionId: null, started, reason: errorAnswer(err).body.error, logs }));
        throw err;
      }
      if (asked.follow) timer = setTimeout(() => stop.abort(new Error(`a followed log ends after ${maxFollowMs} ms`)), maxFollowMs);
      audit?.write(auditRecord('logs.start', actor, where, { sessionId: null, started, logs }));
      let bytesOut = 0;
      const body = Readable.from(answerBytes(stream!, first, stop.signal, (n) => (bytesOut += n)), { objectMode: false, highWaterMark: 64 * 1024 });
      const ended = () => {
        done();
        audit?.write(auditRecord('logs.end', actor, where, { sessionId: null, started, ended: new Date().toISOString(), bytesOut, logs }));
      };
      body.once('close', ended);
      reply
        .header('content-type', 'text/plain; charset=utf-8')
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-store')
        // A followed log is sent as it comes: no proxy buffering.
        .header('x-accel-buffering', 'no');
      if (asked.download) reply.header('content-disposition', contentDisposition(logFileName(asked), { type: 'attachment' }));
      return reply.send(body);
    });
  });
}
