// Files, out of band (docs/web.md, "Files"): PUT streams a request body into a container path —
// temp name, verified, renamed, nothing left behind when it breaks — and GET streams a file out
// with its size and sha256 as headers and `Range: bytes=N-` for resuming; a directory comes out as
// a tar. Bodies are never buffered: both directions run with backpressure end to end.

import { create as contentDisposition } from 'content-disposition';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { prepareDownload, uploadStream, type KubeClient } from '../lib/index.ts';
import type { GatewayContext } from './context.ts';
import { GatewayError, errorAnswer } from './errors.ts';
import { configuredPrefix, identitiesOf, type Identities } from './identity.ts';
import { checkContainerName, checkNamespaceName, checkPodName } from './pods.ts';

/** Longest path accepted (PATH_MAX on Linux). */
const maxPathBytes = 4096;

interface FileParams {
  cluster: string;
  namespace: string;
  pod: string;
}

/** Where a file request points, checked before any request reaches a cluster. */
interface FileTarget {
  cluster: string;
  namespace: string;
  pod: string;
  container?: string;
  path: string;
}

function queryValue(query: unknown, key: string): string | undefined {
  const value = (query as Record<string, unknown> | null)?.[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new GatewayError('ERR_GATEWAY_BAD_PATH', 400, `the query parameter "${key}" must be given once`);
  return value;
}

function target(request: FastifyRequest, forUpload: boolean): FileTarget {
  const { cluster, namespace, pod } = request.params as FileParams;
  checkNamespaceName(namespace);
  checkPodName(pod);
  const container = queryValue(request.query, 'container');
  if (container !== undefined && container !== '') checkContainerName(container);
  const path = queryValue(request.query, 'path');
  if (path === undefined || path === '') throw new GatewayError('ERR_GATEWAY_BAD_PATH', 400, 'the query parameter "path" is required: an absolute path in the container');
  if (!path.startsWith('/')) throw new GatewayError('ERR_GATEWAY_BAD_PATH', 400, `the path must be absolute (start with "/"), not ${JSON.stringify(path)}`);
  if (path.includes('\0')) throw new GatewayError('ERR_GATEWAY_BAD_PATH', 400, 'the path must not contain a NUL byte');
  if (Buffer.byteLength(path) > maxPathBytes) throw new GatewayError('ERR_GATEWAY_BAD_PATH', 400, `the path is longer than ${maxPathBytes} bytes`);
  if (forUpload && (path.endsWith('/') || /\/\.{0,2}$/.test(path))) {
    throw new GatewayError('ERR_GATEWAY_BAD_PATH', 400, `an upload needs the path of a file, not of a directory: ${JSON.stringify(path)}`);
  }
  return { cluster, namespace, pod, path, ...(container ? { container } : {}) };
}

/**
 * The library's client for a cluster, as the signed-in user (identity.ts), once the cluster said
 * that user may exec into the pod (a file moves through an exec of tar). 404
 * ERR_GATEWAY_UNKNOWN_CLUSTER for a name that is not one, or one the principal may not see.
 */
async function clientOf(identities: Identities, request: FastifyRequest, where: FileTarget, signal: AbortSignal): Promise<KubeClient> {
  const entry = identities.entry(where.cluster, request.principal);
  const client = identities.cluster(entry, request.principal).client;
  await identities.checkExec(client, request.principal, { namespace: where.namespace, pod: where.pod, subresource: 'exec' }, signal);
  return client;
}

/** Aborted when the client goes away before its answer was sent. */
function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the client went away'));
  });
  return controller.signal;
}

/**
 * The start of a `Range: bytes=N-` header; null for no header and for any other form (a closed
 * range, a suffix, several ranges, another unit): not ones this API serves, so they are ignored
 * and the whole file is sent (RFC 9110, section 14.2).
 */
export function rangeStart(header: string | undefined): number | null {
  const m = header === undefined ? null : /^bytes=(\d{1,15})-$/i.exec(header.trim());
  return m ? Number(m[1]) : null;
}

/**
 * PUT and GET /api/clusters/:cluster/namespaces/:namespace/pods/:pod/file?container=&path=
 * @example
 * registerFileRoutes(app, ctx);
 */
export function registerFileRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const identities = identitiesOf(ctx.clusters, configuredPrefix(ctx.config));
  void app.register(async (scope) => {
    // Every body reaches the handler as the raw request stream, whatever its type: an upload is
    // streamed into the container, never parsed nor held in memory (so fastify's bodyLimit does
    // not apply; the upload counts its bytes against maxUploadBytes itself).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    const url = '/api/clusters/:cluster/namespaces/:namespace/pods/:pod/file';

    scope.put(url, async (request, reply) => {
      const where = target(request, true);
      const limit = ctx.config.maxUploadBytes;
      const length = request.headers['content-length'];
      const tooLarge = () => new GatewayError('ERR_GATEWAY_TOO_LARGE', 413, `the upload is larger than the gateway's limit of ${limit} bytes (--max-upload)`);
      const body = request.body instanceof Readable ? request.body : Readable.from([]);
      try {
        // Announced too large: refused before the cluster is even looked up.
        if (length !== undefined && Number(length) > limit) throw tooLarge();
        const signal = clientGone(reply);
        const result = await uploadStream(
          await clientOf(identities, request, where, signal),
          body,
          { namespace: where.namespace, pod: where.pod, path: where.path },
          { maxBytes: limit, signal, ...(where.container ? { container: where.container } : {}) },
        );
        return reply.code(201).send({ path: result.path, size: result.size, sha256: result.sha256 });
      } catch (err) {
        // A body left unread would hold the connection: answer, then close it.
        if (!request.raw.complete) reply.header('connection', 'close');
        if ((err as { code?: string }).code === 'ERR_TRANSFER_LIMIT') throw tooLarge();
        throw err;
      }
    });

    scope.get(url, { exposeHeadRoute: false }, async (request, reply) => {
      const where = target(request, false);
      const signal = clientGone(reply);
      const prepared = await prepareDownload(
        await clientOf(identities, request, where, signal),
        { namespace: where.namespace, pod: where.pod, path: where.path },
        { signal, ...(where.container ? { container: where.container } : {}) },
      );
      if (prepared.type === 'directory') {
        const stream = await prepared.open(0);
        reply
          .header('content-type', 'application/x-tar')
          .header('content-disposition', contentDisposition(`${prepared.name}.tar`, { type: 'attachment' }))
          .header('x-content-type-options', 'nosniff');
        return reply.send(stream);
      }
      const size = prepared.size!;
      const start = rangeStart(request.headers.range);
      if (start !== null && start >= size) {
        const { statusCode, body } = errorAnswer(new GatewayError('ERR_GATEWAY_RANGE', 416, `cannot start at byte ${start}: ${prepared.path} has ${size} bytes`));
        return reply.code(statusCode).header('content-range', `bytes */${size}`).header('accept-ranges', 'bytes').send(body);
      }
      const from = start ?? 0;
      // Headers only once the bytes have started: a command that cannot run is an error answer.
      const stream = await prepared.open(from);
      reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', contentDisposition(prepared.name, { type: 'attachment' }))
        .header('x-content-type-options', 'nosniff')
        .header('content-length', String(size - from))
        .header('accept-ranges', 'bytes');
      if (prepared.sha256) reply.header('x-checksum-sha256', prepared.sha256);
      if (start !== null) reply.code(206).header('content-range', `bytes ${from}-${size - 1}/${size}`);
      return reply.send(stream);
    });
  });
}
