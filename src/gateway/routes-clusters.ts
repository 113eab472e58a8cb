// The clusters a gateway serves, their namespaces and pods (docs/web.md, "Clusters, namespaces and
// pods"): plain JSON lists, and a namespace's pods as a server-sent event stream fed by the
// cluster's watch. Every name from the URL is checked before any request reaches a cluster.

import { once } from 'node:events';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiStatusError, listNamespaceNames, listPodsAt, watchPods, type KubeClient, type Pod } from '../lib/index.ts';
import type { GatewayContext } from './context.ts';
import { errorAnswer } from './errors.ts';
import { configuredPrefix, identitiesOf } from './identity.ts';
import { checkNamespaceName, checkPodName, podSummary, type PodSummary } from './pods.ts';

export interface ClusterRoutesOptions {
  /** How often a pod watch stream sends the comment line `: ping`. [default 20_000 ms] */
  pingIntervalMs?: number;
  /** The longest line of the cluster's watch answer the gateway reads. [default 16 MiB] */
  maxWatchLineBytes?: number;
  /** The least time between the starts of two watches of one stream (after the API server ended one, or answered 410), so a server that ends every watch at once is not asked in a loop. [default 1_000 ms] */
  minWatchMs?: number;
}

interface ClusterParams {
  cluster: string;
}
interface NamespaceParams extends ClusterParams {
  namespace: string;
}
interface PodParams extends NamespaceParams {
  pod: string;
}

/** Aborts when the response closes: finished, or the client went away. */
function responseSignal(reply: FastifyReply): AbortSignal {
  const control = new AbortController();
  reply.raw.once('close', () => control.abort(new Error('the client went away')));
  return control.signal;
}

/**
 * GET /api/clusters, …/namespaces, …/pods (with `?watch=1`: an event stream) and …/pods/:pod.
 * Open event streams end when the gateway closes.
 * @example
 * registerClusterRoutes(app, ctx);
 * // tests: pings every 200 ms
 * registerClusterRoutes(app, ctx, { pingIntervalMs: 200 });
 */
export function registerClusterRoutes(app: FastifyInstance, ctx: GatewayContext, options: ClusterRoutesOptions = {}): void {
  const pingIntervalMs = options.pingIntervalMs ?? 20_000;
  const minWatchMs = options.minWatchMs ?? 1_000;
  /** Open watch streams, each with the promise of its response having ended; ended when the gateway closes. */
  const streams = new Map<AbortController, Promise<void>>();
  // Every request to a cluster is made as the signed-in user (identity.ts); built now, so a bad prefix stops the start.
  const identities = identitiesOf(ctx.clusters, configuredPrefix(ctx.config));

  void app.register(async (scope) => {
    scope.addHook('preClose', async () => {
      // End each stream cleanly (its last chunk written) before the server cuts the connections.
      const ended = [...streams.values()];
      for (const stream of streams.keys()) stream.abort(new Error('the gateway is closing'));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(ended), new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
      clearTimeout(timer);
    });

    scope.get('/api/clusters', async (request) => ({
      clusters: identities.list(request.principal).map((entry) => ({ name: entry.name, server: entry.server, namespace: entry.namespace, current: entry.current })),
    }));

    scope.get<{ Params: ClusterParams }>('/api/clusters/:cluster/namespaces', async (request, reply) => {
      const entry = identities.entry(request.params.cluster, request.principal);
      const client = identities.cluster(entry, request.principal).client;
      try {
        return { namespaces: await listNamespaceNames(client, responseSignal(reply)) };
      } catch (err) {
        // A user who may not list namespaces still has the context's own.
        if (err instanceof ApiStatusError && err.statusCode === 403) return { namespaces: [entry.namespace] };
        throw err;
      }
    });

    scope.get<{ Params: NamespaceParams; Querystring: { watch?: string } }>('/api/clusters/:cluster/namespaces/:namespace/pods', async (request, reply) => {
      const entry = identities.entry(request.params.cluster, request.principal);
      const namespace = checkNamespaceName(request.params.namespace);
      const client = identities.cluster(entry, request.principal).client;
      const watch = request.query.watch === '1' || request.query.watch === 'true';
      const listing = await listPodsAt(client, namespace, responseSignal(reply));
      if (!watch) return { pods: listing.pods.map(podSummary) };
      streamPods(request, reply, client, namespace, listing, { pingIntervalMs, minWatchMs, streams, ...(options.maxWatchLineBytes ? { maxLineBytes: options.maxWatchLineBytes } : {}) });
      return reply;
    });

    scope.get<{ Params: PodParams }>('/api/clusters/:cluster/namespaces/:namespace/pods/:pod', async (request, reply) => {
      const entry = identities.entry(request.params.cluster, request.principal);
      const namespace = checkNamespaceName(request.params.namespace);
      const pod = checkPodName(request.params.pod);
      return podSummary(await identities.cluster(entry, request.principal).client.getPod(namespace, pod, responseSignal(reply)));
    });
  });
}

interface StreamOptions {
  pingIntervalMs: number;
  minWatchMs: number;
  maxLineBytes?: number;
  streams: Map<AbortController, Promise<void>>;
}

/**
 * The event stream of a namespace's pods: ADDED for each listed pod, then each change the watch
 * reports, resumed when the API server ends it and listed again when its resourceVersion is too
 * old (410). A change that leaves the summary as it was is not sent. The watch is read only as
 * fast as the client takes the stream.
 */
function streamPods(request: FastifyRequest, reply: FastifyReply, client: KubeClient, namespace: string, first: { pods: Pod[]; resourceVersion: string }, opts: StreamOptions): void {
  reply.hijack();
  const res: ServerResponse = reply.raw;
  const control = new AbortController();
  const signal = control.signal;
  opts.streams.set(control, new Promise<void>((resolve) => {
    res.once('finish', resolve);
    res.once('close', resolve);
  }));
  res.once('close', () => control.abort(new Error('the client went away')));
  res.on('error', () => control.abort(new Error('the connection to the client failed')));
  // Gone between the list and now: 'close' has already been emitted.
  if (res.destroyed || request.raw.socket.destroyed) control.abort(new Error('the client went away'));
  res.writeHead(200, {
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-store',
    'x-accel-buffering': 'no',
    // Not reused afterwards: a stream ended by the gateway's close leaves no idle connection
    // that would hold the close up until it times out.
    connection: 'close',
  });
  res.flushHeaders();
  request.log.debug({ namespace }, 'pod watch stream opened');

  const ping = setInterval(() => {
    // A client that does not read gets no more pings piled up behind what it has not read.
    if (!res.writableNeedDrain) res.write(': ping\n\n');
  }, opts.pingIntervalMs);

  const write = async (text: string) => {
    signal.throwIfAborted();
    if (!res.write(text)) await once(res, 'drain', { signal });
  };
  const known = new Map<string, { json: string; summary: PodSummary }>();
  const send = (type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: PodSummary) => write(`data: ${JSON.stringify({ type, pod })}\n\n`);
  const apply = async (type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod) => {
    const name = pod.metadata.name;
    const summary = podSummary(pod);
    if (type === 'DELETED') {
      if (!known.delete(name)) return;
      await send('DELETED', summary);
      return;
    }
    const json = JSON.stringify(summary);
    const before = known.get(name);
    if (before?.json === json) return;
    known.set(name, { json, summary });
    await send(before ? 'MODIFIED' : 'ADDED', summary);
  };
  const reconcile = async (pods: Pod[]) => {
    const present = new Set(pods.map((p) => p.metadata.name));
    for (const pod of pods) await apply('ADDED', pod);
    for (const [name, { summary }] of [...known]) {
      if (present.has(name)) continue;
      known.delete(name);
      await send('DELETED', summary);
    }
  };

  void (async () => {
    try {
      await reconcile(first.pods);
      let resourceVersion = first.resourceVersion;
      let began = 0;
      for (;;) {
        // A server that ends every watch at once (or answers 410 every time) is not asked in a loop.
        const early = opts.minWatchMs - (Date.now() - began);
        if (early > 0) await sleep(early, undefined, { signal });
        began = Date.now();
        try {
          for await (const event of watchPods(client, namespace, { resourceVersion, signal, ...(opts.maxLineBytes ? { maxLineBytes: opts.maxLineBytes } : {}) })) {
            if (event.resourceVersion) resourceVersion = event.resourceVersion;
            if (event.type !== 'BOOKMARK') await apply(event.type, event.pod);
          }
        } catch (err) {
          if (!(err instanceof ApiStatusError && err.statusCode === 410) || signal.aborted) throw err;
          // Too old a resourceVersion: list again, and tell the client what changed meanwhile.
          const listing = await listPodsAt(client, namespace, signal);
          await reconcile(listing.pods);
          resourceVersion = listing.resourceVersion;
        }
      }
    } catch (err) {
      if (!signal.aborted) {
        request.log.warn({ err, namespace }, 'pod watch stream ended by an error');
        res.write(`event: error\ndata: ${JSON.stringify(errorAnswer(err).body)}\n\n`);
      }
    } finally {
      clearInterval(ping);
      opts.streams.delete(control);
      res.end();
    }
  })();
}
