// Listing and watching for clients that show a cluster (the web gateway): namespace names, a pod
// list with the resourceVersion it was read at, and the pods of a namespace as a stream of watch
// events. The watch protocol: `GET …/pods?watch=true&resourceVersion=RV` answers 200 and then one
// JSON object per line, `{"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR","object":…}`,
// until the server ends the response (its watch timeout: the caller resumes from the last
// resourceVersion it saw) or the caller aborts.

import type http from 'node:http';
import https from 'node:https';
import { PodshellError } from '../protocol/errors.ts';
import type { KubeClient } from './client.ts';
import { MAX_ERROR_BODY, apiStatusError, connectError } from './errors.ts';
import { http as httpModule } from './node-http.ts';
import { asPod, asPodList } from './shapes.ts';
import { tlsOptions } from './transport.ts';
import type { Pod } from './types.ts';

const enc = encodeURIComponent;

/** The longest line of a watch stream podshell reads: 16 MiB (one pod is a few KiB). */
export const MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024;

/** How long a watch may take to answer with its status line and headers, unless the client says otherwise: 30 000 ms. */
const DEFAULT_WATCH_CONNECT_TIMEOUT_MS = 30_000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The names of every namespace (every page), sorted as the server sorts them.
 * @throws ApiStatusError (ERR_FORBIDDEN when the user may not list namespaces); as KubeClient.request
 */
export async function listNamespaceNames(client: KubeClient, signal?: AbortSignal): Promise<string[]> {
  const path = '/api/v1/namespaces';
  const names: string[] = [];
  let next: string | undefined;
  do {
    const page: unknown = await client.request({ path, query: { limit: '500', continue: next }, ...(signal ? { signal } : {}) });
    const items = isObject(page) ? page['items'] : undefined;
    if (!Array.isArray(items)) throw new PodshellError('ERR_BAD_RESPONSE', `expected a NamespaceList in the answer to GET ${path}, got ${JSON.stringify(page)?.slice(0, 200)}`);
    for (const item of items) {
      const name = isObject(item) && isObject(item['metadata']) ? item['metadata']['name'] : undefined;
      if (typeof name !== 'string') throw new PodshellError('ERR_BAD_RESPONSE', `expected a NamespaceList in the answer to GET ${path}, got an item without metadata.name: ${JSON.stringify(item)?.slice(0, 200)}`);
      names.push(name);
    }
    const metadata = isObject(page) ? page['metadata'] : undefined;
    const cont = isObject(metadata) ? metadata['continue'] : undefined;
    next = typeof cont === 'string' && cont ? cont : undefined;
  } while (next);
  return names;
}

/** A namespace's pods and the resourceVersion a watch continues from. */
export interface PodListing {
  pods: Pod[];
  /** '' when the server sent none (a watch then starts from "now"). */
  resourceVersion: string;
}

/**
 * Every pod of a namespace (every page), with the list's resourceVersion.
 * @throws as KubeClient.request; ERR_BAD_RESPONSE when an answer is not a PodList
 */
export async function listPodsAt(client: KubeClient, namespace: string, signal?: AbortSignal, opts: { fieldSelector?: string } = {}): Promise<PodListing> {
  const path = `/api/v1/namespaces/${enc(namespace)}/pods`;
  const pods: Pod[] = [];
  let resourceVersion = '';
  let next: string | undefined;
  do {
    const page = asPodList(await client.request({ path, query: { fieldSelector: opts.fieldSelector || undefined, limit: '500', continue: next }, ...(signal ? { signal } : {}) }), `GET ${path}`);
    pods.push(...page.items);
    // The resourceVersion of a paged list is the first page's: every page is read at it.
    if (!next && typeof page.metadata?.resourceVersion === 'string') resourceVersion = page.metadata.resourceVersion;
    next = page.metadata?.continue || undefined;
  } while (next);
  return { pods, resourceVersion };
}

/** One event of a pod watch. ERROR events are thrown, not yielded. */
export type PodWatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; pod: Pod; resourceVersion: string }
  | { type: 'BOOKMARK'; resourceVersion: string };

export interface WatchPodsOptions {
  /** Where the watch starts; '' (the default) means "now". */
  resourceVersion?: string;
  /** Only pods that match, e.g. `metadata.name=demo`. */
  fieldSelector?: string;
  /** Only the pods this label selector matches. */
  labelSelector?: string;
  /** Ends the watch: the request to the API server is destroyed and the iteration throws `signal.reason`. */
  signal?: AbortSignal;
  /** The longest line accepted. [default MAX_WATCH_LINE_BYTES, 16 MiB] */
  maxLineBytes?: number;
  /** How long the server may take to answer with a status line. [default: the client's requestTimeoutMs, else 30 000 ms] */
  connectTimeoutMs?: number;
}

/**
 * Watch the pods of a namespace. The iteration ends normally when the server ends the watch;
 * resume with the resourceVersion of the last event. Lines are read only as fast as the caller
 * takes events, so a slow caller slows the connection, not memory.
 * @throws ApiStatusError for a non-2xx answer, and for an ERROR event (its Status: a 410 means
 * the resourceVersion is too old, list again); ConnectError; PodshellError ERR_TIMEOUT when the
 * server does not answer in time, ERR_BAD_RESPONSE for a line that is not a watch event or is
 * longer than `maxLineBytes`; the signal's reason when it aborts.
 */
export async function* watchPods(client: KubeClient, namespace: string, opts: WatchPodsOptions = {}): AsyncGenerator<PodWatchEvent, void, undefined> {
  const path = `/api/v1/namespaces/${enc(namespace)}/pods`;
  const url = client.url(path, { watch: 'true', allowWatchBookmarks: 'true', resourceVersion: opts.resourceVersion || undefined, fieldSelector: opts.fieldSelector || undefined, labelSelector: opts.labelSelector || undefined });
  const what = `GET ${url.pathname}${url.search}`;
  const maxLine = opts.maxLineBytes ?? MAX_WATCH_LINE_BYTES;
  const control = new AbortController();
  const onAbort = () => control.abort(opts.signal!.reason);
  opts.signal?.throwIfAborted();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const connectTimeoutMs = opts.connectTimeoutMs ?? client.requestTimeoutMs ?? DEFAULT_WATCH_CONNECT_TIMEOUT_MS;
  const timer =
    connectTimeoutMs > 0 ? setTimeout(() => control.abort(new PodshellError('ERR_TIMEOUT', `${what} at ${client.server} did not answer in ${connectTimeoutMs} ms`)), connectTimeoutMs) : undefined;
  let request: http.ClientRequest | undefined;
  const destroy = () => request?.destroy();
  control.signal.addEventListener('abort', destroy, { once: true });
  try {
    const connect = await client.connectOptions(control.signal);
    control.signal.throwIfAborted();
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const headers = { ...connect.headers, Accept: 'application/json' };
      const req = (url.protocol === 'https:' ? https : httpModule).request(url, { method: 'GET', headers, ...tlsOptions(connect) });
      request = req;
      const onAbortWait = () => reject(control.signal.reason);
      control.signal.addEventListener('abort', onAbortWait, { once: true });
      req.on('error', (err) => reject(control.signal.aborted ? control.signal.reason : connectError(client.server, err)));
      req.on('response', (res) => {
        control.signal.removeEventListener('abort', onAbortWait);
        resolve(res);
      });
      req.end();
    });
    clearTimeout(timer);
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) throw apiStatusError(status, await readBounded(response, MAX_ERROR_BODY, control.signal));

    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        let start = 0;
        for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
          if (pendingBytes + nl - start > maxLine) throw tooLong(what, client.server, maxLine);
          pending.push(chunk.subarray(start, nl));
          const line = Buffer.concat(pending).toString('utf8');
          pending = [];
          pendingBytes = 0;
          start = nl + 1;
          if (line.trim()) yield parseEvent(line, what, client.server);
        }
        if (start < chunk.length) {
          pendingBytes += chunk.length - start;
          if (pendingBytes > maxLine) throw tooLong(what, client.server, maxLine);
          pending.push(chunk.subarray(start));
        }
      }
    } catch (err) {
      if (control.signal.aborted) throw control.signal.reason;
      if (err instanceof PodshellError) throw err;
      throw connectError(client.server, err);
    }
    // A last line without a newline still counts.
    if (pendingBytes > 0) {
      const line = Buffer.concat(pending).toString('utf8');
      if (line.trim()) yield parseEvent(line, what, client.server);
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    control.signal.removeEventListener('abort', destroy);
    request?.destroy();
  }
}

function tooLong(what: string, server: string, maxLine: number): PodshellError {
  return new PodshellError('ERR_BAD_RESPONSE', `a line of the answer to ${what} from ${server} is longer than ${maxLine} bytes, the most podshell reads`);
}

function parseEvent(line: string, what: string, server: string): PodWatchEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new PodshellError('ERR_BAD_RESPONSE', `expected a watch event in the answer to ${what} from ${server}, found: ${line.slice(0, 200)}`);
  }
  const type = isObject(value) ? value['type'] : undefined;
  const object = isObject(value) ? value['object'] : undefined;
  if (!isObject(object) || typeof type !== 'string') {
    throw new PodshellError('ERR_BAD_RESPONSE', `expected a watch event in the answer to ${what} from ${server}, found: ${line.slice(0, 200)}`);
  }
  const metadata = object['metadata'];
  const rv = isObject(metadata) && typeof metadata['resourceVersion'] === 'string' ? metadata['resourceVersion'] : '';
  switch (type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      return { type, pod: asPod(object, what), resourceVersion: rv };
    case 'BOOKMARK':
      return { type, resourceVersion: rv };
    case 'ERROR': {
      // The object is a Status: 410 Gone ("too old resource version") asks for a new list.
      const code = typeof object['code'] === 'number' ? object['code'] : 500;
      throw apiStatusError(code, JSON.stringify(object));
    }
    default:
      throw new PodshellError('ERR_BAD_RESPONSE', `unknown watch event type "${type.slice(0, 50)}" in the answer to ${what} from ${server}`);
  }
}

/** The body of an error answer, its first `limit` bytes. */
function readBounded(res: http.IncomingMessage, limit: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      signal.removeEventListener('abort', onAbort);
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    res.on('data', (chunk: Buffer) => {
      if (size >= limit) return;
      chunks.push(chunk.subarray(0, limit - size));
      size += chunk.length;
      if (size >= limit) {
        res.destroy();
        done();
      }
    });
    res.on('end', done);
    res.on('error', done);
  });
}
