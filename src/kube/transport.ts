// The REST transport: one JSON request over https (or http) with the connection options a
// KubeClient computed, a cap on the answer's size, and the mapping from those options to the TLS
// options of `https.request` and of a `ws` WebSocket, written once.

import type http from 'node:http';
import https from 'node:https';
import { PodshellError } from '../protocol/errors.ts';
import { http as httpModule } from './node-http.ts';
import { apiStatusError, connectError } from './errors.ts';

/** Everything needed to open an https request or a `ws` WebSocket to the server. */
export interface ConnectOptions {
  /**
   * Authorization (token or basic auth), Impersonate-User, Impersonate-Group (an array: one
   * header line per group), Impersonate-Uid, Impersonate-Extra-*. Never log these.
   */
  headers: Record<string, string | string[]>;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The cluster's tls-server-name. */
  servername?: string;
  /** false only with insecure-skip-tls-verify. */
  rejectUnauthorized: boolean;
  /** A CONNECT-tunnelling agent when a proxy applies (proxy-url, or HTTPS_PROXY without NO_PROXY). */
  agent?: http.Agent;
  /** Otherwise the client's keep-alive agent, so that requests and session upgrades reuse idle connections. */
  pool?: http.Agent;
  /**
   * The client's `requestTimeoutMs` (kubectl --request-timeout), when one was given: sessions
   * use it as their handshake timeout unless they set their own. 0 means no limit.
   */
  requestTimeoutMs?: number;
}

/** The TLS and agent part of ConnectOptions, as both `https.request` and `new WebSocket` take it. */
export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  agent?: http.Agent;
  rejectUnauthorized: boolean;
}

/** The TLS options (and agent) for a connection: the one mapping from ConnectOptions. */
export function tlsOptions(connect: ConnectOptions): TlsOptions {
  return {
    ...(connect.ca ? { ca: connect.ca } : {}),
    ...(connect.cert ? { cert: connect.cert } : {}),
    ...(connect.key ? { key: connect.key } : {}),
    ...(connect.servername ? { servername: connect.servername } : {}),
    ...(connect.agent || connect.pool ? { agent: connect.agent ?? connect.pool } : {}),
    rejectUnauthorized: connect.rejectUnauthorized,
  };
}

/**
 * The largest REST answer podshell reads: 64 MiB. A list of 5000 pods is about 50 MiB; a larger
 * answer is refused (ERR_BAD_RESPONSE) and its connection closed, rather than held in memory.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

const USER_AGENT = `podshell (${process.platform}/${process.arch}) node/${process.version}`;

export interface SendOptions {
  url: URL;
  method: string;
  /** `GET /api/v1/…`, for messages. */
  what: string;
  /** The server, for messages (`https://host:port`). */
  server: string;
  body?: unknown;
  /** Default: application/json. */
  contentType?: string;
  connect: ConnectOptions;
  signal: AbortSignal;
  /** Default: MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
}

/**
 * Send one request and parse its JSON answer (undefined for an empty one).
 * @throws ApiStatusError for a non-2xx answer; ConnectError; PodshellError ERR_BAD_RESPONSE for
 * an answer that is not JSON or is larger than the limit; the signal's reason when it aborts.
 */
export function sendJson<T>(opts: SendOptions): Promise<T> {
  const { url, method, what, server, connect, signal } = opts;
  const limit = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  signal.throwIfAborted();
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  return new Promise<T>((resolve, reject) => {
    let req: http.ClientRequest | undefined;
    let settled = false;
    const onAbort = () => {
      req?.destroy();
      settle(signal.reason);
    };
    const settle = (err: unknown, value?: T) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(value as T);
      else reject(err);
    };
    const headers: Record<string, string | string[] | number> = {
      ...connect.headers,
      Accept: 'application/json',
      'User-Agent': USER_AGENT,
      ...(payload ? { 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': payload.length } : {}),
    };
    try {
      req = (url.protocol === 'https:' ? https : httpModule).request(url, { method, headers, ...tlsOptions(connect) });
    } catch (err) {
      settle(err);
      return;
    }
    const request = req;
    signal.addEventListener('abort', onAbort, { once: true });
    request.on('error', (err) => settle(connectError(server, err)));
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > limit) {
          request.destroy();
          settle(new PodshellError('ERR_BAD_RESPONSE', `the answer to ${what} from ${server} is larger than ${limit / (1024 * 1024)} MiB, the most podshell reads; narrow the request (e.g. a label selector)`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => settle(connectError(server, err)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) return settle(apiStatusError(status, text));
        if (!text.trim()) return settle(undefined, undefined as T);
        try {
          settle(undefined, JSON.parse(text) as T);
        } catch {
          settle(new PodshellError('ERR_BAD_RESPONSE', `expected JSON in the answer to ${what} from ${server}, found: ${text.slice(0, 200)}`));
        }
      });
    });
    request.end(payload);
  });
}

/** Rejects with `signal.reason` as soon as `signal` aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
