// Dialing a pod subresource's WebSocket (exec, attach, portforward): the cluster's headers, TLS
// and proxy options, subprotocol offer and check, handshake timeout, and one typed error for
// every way an upgrade can fail. Shared by sessions and port-forward.

import { randomFillSync } from 'node:crypto';
import WebSocket from 'ws';
import { isSubprotocol, type Subprotocol } from '../protocol/index.ts';
import { apiStatusError, tlsOptions, type KubeClient } from '../kube/index.ts';
import { ConnectionLostError, ProtocolError, TimeoutError } from './errors.ts';

export type DialConnectOptions = Awaited<ReturnType<KubeClient['connectOptions']>>;

/** Random bytes for masking keys, drawn 4 at a time. */
const maskPool = Buffer.alloc(8192);
let maskAt = maskPool.length;

/**
 * A masking key for ws that is never all zeros. ws masks a message into a frame of its own,
 * synchronously in `send` (a copy, and the reason a stdin frame's buffer can be reused at once),
 * except under a zero key, which leaves the message unmasked and queued as it is: a random key
 * is all zeros once in 2^32 frames, and then that reuse would change bytes still queued.
 */
export function nonZeroMask(mask: Buffer): void {
  do {
    if (maskAt === maskPool.length) {
      randomFillSync(maskPool);
      maskAt = 0;
    }
    maskPool.copy(mask, 0, maskAt, maskAt + 4);
    maskAt += 4;
  } while ((mask[0]! | mask[1]! | mask[2]! | mask[3]!) === 0);
}

/** ws's handshake errors that mean the server broke the upgrade protocol (not the network). */
const handshakeProtocolErrors = new Map<string, 'subprotocol' | 'other'>([
  ['Server sent an invalid subprotocol', 'subprotocol'],
  ['Server sent a subprotocol but none was requested', 'subprotocol'],
  ['Server sent no subprotocol', 'subprotocol'],
  ['Invalid Sec-WebSocket-Accept header', 'other'],
  ['Missing Sec-WebSocket-Accept header', 'other'],
  ['Invalid Upgrade header', 'other'],
  ['Server sent a Sec-WebSocket-Extensions header but no extension was requested', 'other'],
]);

/** What the dialer tells its owner, each synchronously from ws's own event. */
export interface DialEvents<P extends Subprotocol> {
  /** The socket exists: attach message and close listeners here (before any message can arrive). */
  created?(ws: WebSocket): void;
  /** The upgrade failed with `err` (called before the promise rejects and the socket is ended). */
  failed?(err: Error): void;
  /** The upgrade completed with `protocol`; messages may follow at once. */
  opened?(protocol: P): void;
  /** A socket error after the upgrade (a 'close' event follows). */
  lost?(err: Error): void;
}

/**
 * Open a WebSocket to `url` offering `protocols` in order. Resolves once open with the chosen
 * subprotocol; rejects with ApiStatusError (a non-101 answer, with the server's Status),
 * ProtocolError (an upgrade answer that breaks the protocol, or a subprotocol not offered),
 * TimeoutError (no answer within `handshakeTimeoutMs`; 0: no limit) or ConnectionLostError.
 */
export function dialStreamSocket<P extends Subprotocol>(
  url: URL,
  protocols: readonly P[],
  connect: DialConnectOptions,
  handshakeTimeoutMs: number,
  events: DialEvents<P> = {},
): Promise<{ ws: WebSocket; protocol: P }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let ws: WebSocket | undefined;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      events.failed?.(err);
      if (ws && ws.readyState !== WebSocket.CLOSED) ws.terminate();
      reject(err);
    };
    try {
      ws = new WebSocket(url, [...protocols], {
        headers: connect.headers,
        ...tlsOptions(connect),
        perMessageDeflate: false,
        generateMask: nonZeroMask,
        followRedirects: false,
        ALPNProtocols: ['http/1.1'],
        // ws: 0 means no limit, as kubectl's --request-timeout=0.
        handshakeTimeout: handshakeTimeoutMs,
      } as WebSocket.ClientOptions);
    } catch (err) {
      fail(new ConnectionLostError(`cannot open the session at ${url.host}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    const socket = ws;
    events.created?.(socket);
    let opened = false;
    let chosen: string | undefined;
    socket.on('upgrade', (res) => {
      const header = res.headers['sec-websocket-protocol'];
      chosen = Array.isArray(header) ? header.join(', ') : header;
    });
    socket.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 65536) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => fail(apiStatusError(res.statusCode ?? 0, Buffer.concat(chunks).subarray(0, 65536).toString('utf8'))));
      res.on('error', (e) => fail(new ConnectionLostError(`the connection broke while reading the server's ${res.statusCode} answer: ${e.message}`, { cause: e })));
    });
    socket.on('open', () => {
      opened = true;
      const protocol = socket.protocol;
      if (!isSubprotocol(protocol) || !(protocols as readonly string[]).includes(protocol)) {
        fail(new ProtocolError(`the server chose subprotocol "${protocol}", which was not offered (offered: ${protocols.join(', ')})`));
        return;
      }
      settled = true;
      events.opened?.(protocol as P);
      resolve({ ws: socket, protocol: protocol as P });
    });
    socket.on('error', (err: Error) => {
      if (opened) {
        if (settled) events.lost?.(err);
        return;
      }
      if (settled) return;
      fail(
        handshakeProtocolErrors.has(err.message)
          ? new ProtocolError(
              handshakeProtocolErrors.get(err.message) !== 'subprotocol'
                ? `the server's answer to the upgrade is invalid: ${err.message}`
                : chosen === undefined
                  ? `the server answered the upgrade without choosing a subprotocol (offered: ${protocols.join(', ')})`
                  : `the server chose subprotocol "${chosen}", which was not offered (offered: ${protocols.join(', ')})`,
              { cause: err },
            )
          : /timed out/i.test(err.message)
            ? new TimeoutError(`no answer to the upgrade request within ${handshakeTimeoutMs} ms`)
            : new ConnectionLostError(`cannot open the session at ${url.host}: ${err.message}`, { cause: err }),
      );
    });
  });
}

/**
 * Keepalive pings on `ws` every `intervalMs`; `lost()` once no pong came for `timeoutMs` while
 * `held()` was false. While flow control holds the connection (`held()`: reading paused, so pongs
 * wait unread too, or the server not reading what was sent) the deadline restarts: a paused
 * connection is not a dead server. Returns the stop (also called before `lost()`).
 */
export function keepAlive(ws: WebSocket, intervalMs: number, timeoutMs: number, held: () => boolean, lost: () => void): () => void {
  let lastPong = Date.now();
  const onPong = () => (lastPong = Date.now());
  ws.on('pong', onPong);
  const timer = setInterval(() => {
    if (held()) lastPong = Date.now();
    else if (Date.now() - lastPong > timeoutMs) {
      stop();
      lost();
      return;
    }
    try {
      ws.ping();
    } catch {
      // the close handler reports it
    }
  }, Math.min(intervalMs, timeoutMs));
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    ws.off('pong', onPong);
  };
  return stop;
}
