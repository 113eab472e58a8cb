// pods/portforward over WebSocket, as the API server relays it from a kubelet and its container
// runtime: the `ports` query, subprotocols v4.channel.k8s.io, v4.base64.channel.k8s.io (or none:
// binary), per port i a data channel 2i and an error channel 2i+1, each first carrying the port
// (uint16 little-endian), then one TCP connection per port to the pod's own loopback. Wire facts:
// docs/sandbox.md, "Port-forward".

import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFrame, encodeFrame } from '../protocol/index.ts';
import { authorize, identify, parseResourcePath, requestUrl, type ApiContext } from './api.ts';
import { splitProtocolToken } from './authn.ts';
import { badRequest, notFound } from './errors.ts';
import { DialError } from './netrelay.ts';
import { forbidden } from './rbac.ts';
import type { Pod } from './types.ts';
import { firstProtocolLine, planUpgrade, type UpgradePlan } from './streams.ts';

const BINARY = 'v4.channel.k8s.io';
const BASE64 = 'v4.base64.channel.k8s.io';
/** Client frames up to 32 MiB, as for exec. */
const maxClientFrame = 32 * 1024 * 1024;
/** Bytes from the pod queued on the WebSocket before the sandbox stops reading the pod's connections. */
const highWater = 4 * 1024 * 1024;
const lowWater = 1024 * 1024;
/** A client that never completes the closing handshake is cut off after this. */
const closeGraceMs = 10_000;

export interface PortForwardOptions {
  /** A connection to `port` on the pod's loopback; rejects with DialError when nothing accepts it. */
  dial(pod: Pod, port: number): Promise<Socket>;
  /** 'host' when pods share the host's network (no namespaces): the runtime then names no namespace path. */
  network: 'pod' | 'host';
}

export interface PortForwardServer {
  /** Whether this upgrade request is for pods/<name>/portforward. */
  handles(req: IncomingMessage): boolean;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

/** At most this many ports per port-forward request: each one is a connection in the pod. */
export const MAX_FORWARDED_PORTS = 128;

/**
 * The API server's reading of `ports` (each value a comma list of uint16s), then the kubelet's
 * (at least one, at most MAX_FORWARDED_PORTS, none 0). Throws the error each gives: the API server's as a Status, the
 * kubelet's as plain text (`{ text }`).
 */
export function parsePorts(params: URLSearchParams): number[] | { text: string } {
  const ports: number[] = [];
  for (const value of params.getAll('ports')) {
    for (const p of value.split(',')) {
      if (!/^\d+$/.test(p)) throw badRequest(`cannot convert to []int32: strconv.ParseUint: parsing ${JSON.stringify(p)}: invalid syntax`);
      const n = Number(p);
      if (n > 65535) throw badRequest(`cannot convert to []int32: strconv.ParseUint: parsing ${JSON.stringify(p)}: value out of range`);
      ports.push(n);
    }
  }
  if (ports.length === 0) return { text: 'query parameter "port" is required' };
  if (ports.length > MAX_FORWARDED_PORTS) return { text: `too many ports: ${ports.length}: at most ${MAX_FORWARDED_PORTS} per request (the podshell sandbox's limit)` };
  const zero = ports.find((p) => p < 1);
  if (zero !== undefined) return { text: `port "${zero}" must be > 0` };
  return ports;
}

/** The pod sandbox's id and network namespace path, as a CRI runtime names them (stable per pod). */
function sandboxNames(pod: Pod): { id: string; netns: string } {
  const id = createHash('sha256').update(`podshell-sandbox:${pod.metadata.uid ?? pod.metadata.name}`).digest('hex');
  const u = id.slice(0, 32);
  return { id, netns: `/var/run/netns/cni-${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20, 32)}` };
}

interface Prepared {
  readonly pod: Pod;
  readonly ports: number[];
  readonly base64: boolean;
}

export function createPortForwardServer(ctx: ApiContext, options: PortForwardOptions): PortForwardServer {
  const emptyProtocolHeader = new WeakSet<IncomingMessage>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxClientFrame, perMessageDeflate: false, handleProtocols: (protocols) => [...protocols][0] ?? false });
  wss.on('headers', (headers, req) => {
    if (emptyProtocolHeader.has(req)) headers.push('Sec-WebSocket-Protocol: ');
  });

  function prepare(req: IncomingMessage): UpgradePlan<Prepared & { protocol: string }> {
    const url = requestUrl(req);
    const user = identify(ctx, req);
    const p = parseResourcePath(url.pathname)!;
    const attrs = { group: '', resource: 'pods', subresource: 'portforward', name: p.name!, namespace: p.namespace! };
    const method = req.method ?? 'GET';
    authorize(ctx, user, { ...attrs, verb: method === 'GET' ? 'get' : 'create' });
    // As for exec: a WebSocket upgrade (a GET) must also be allowed to `create` the subresource.
    if (method === 'GET') {
      const decision = ctx.authz.authorize(user, { ...attrs, verb: 'create' });
      if (!decision.allowed) throw forbidden(user, { ...attrs, verb: 'create' }, decision.reason);
    }
    const ports = parsePorts(url.searchParams);
    const pod = ctx.store.pod(p.namespace!, p.name!);
    if (!pod) throw notFound('pods', p.name!);
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      throw badRequest('the podshell sandbox serves port-forward over WebSocket only (v4.channel.k8s.io, v4.base64.channel.k8s.io); SPDY/3.1 is not supported');
    }
    if ('text' in ports) return { reject: [400, ports.text, 'text/plain; charset=utf-8'] };
    const line = firstProtocolLine(req);
    const offered = line === undefined ? [''] : splitProtocolToken(line).rest.split(',').map((s) => s.trim()).filter(Boolean);
    const protocol = (offered.length ? offered : ['']).find((o) => o === '' || o === BINARY || o === BASE64);
    if (protocol === undefined) return { reject: [403, '', 'text/plain'] };
    return { pod, ports, base64: protocol === BASE64, protocol };
  }

  return {
    handles(req) {
      let p;
      try {
        p = parseResourcePath(requestUrl(req).pathname);
      } catch {
        return false; // a malformed path: the exec server answers it with its Status
      }
      return !!p && p.group === '' && p.version === 'v1' && p.resource === 'pods' && !!p.name && p.namespace !== undefined && p.subresource === 'portforward';
    },
    handleUpgrade(req, socket, head) {
      const ready = planUpgrade(socket, () => prepare(req));
      if (!ready) return;
      if (ready.protocol === '') {
        delete req.headers['sec-websocket-protocol'];
        emptyProtocolHeader.add(req);
      } else {
        req.headers['sec-websocket-protocol'] = ready.protocol;
      }
      wss.handleUpgrade(req, socket, head, (ws) => new ForwardSession(ws, ready, options).start());
    },
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

/** One port of a session: its TCP connection to the pod once dialled, and client bytes sent before that. */
interface Pair {
  readonly port: number;
  conn: Socket | null;
  pending: Buffer[] | null;
  done: boolean;
}

class ForwardSession {
  readonly #ws: WebSocket;
  readonly #p: Prepared;
  readonly #options: PortForwardOptions;
  readonly #pairs: Pair[];
  /** Bytes handed to the WebSocket and not yet written to the client's connection. */
  #inflight = 0;
  readonly #paused = new Set<Socket>();
  /** Connections to the pod that have not taken the client's bytes yet: reading from the client waits. */
  readonly #blocked = new Set<Socket>();
  #closed = false;

  constructor(ws: WebSocket, prepared: Prepared, options: PortForwardOptions) {
    this.#ws = ws;
    this.#p = prepared;
    this.#options = options;
    this.#pairs = prepared.ports.map((port) => ({ port, conn: null, pending: [], done: false }));
  }

  #send(channel: number, payload: Uint8Array, done?: () => void): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(encodeFrame(this.#p.base64, channel, payload), { binary: !this.#p.base64 }, done);
  }

  start(): void {
    this.#pairs.forEach((pair, i) => {
      const header = Buffer.alloc(2);
      header.writeUInt16LE(pair.port);
      this.#send(2 * i, header);
      this.#send(2 * i + 1, header);
    });
    this.#ws.on('message', (data: Buffer) => this.#onMessage(data));
    this.#ws.on('close', () => this.#teardown());
    this.#ws.on('error', () => this.#ws.terminate());
    this.#pairs.forEach((pair, i) => void this.#connect(pair, i));
  }

  async #connect(pair: Pair, i: number): Promise<void> {
    let conn: Socket;
    try {
      conn = await this.#options.dial(this.#p.pod, pair.port);
    } catch (err) {
      pair.pending = null;
      if (this.#blocked.size === 0 && this.#pairs.every((p) => !p.pending)) this.#ws.resume();
      this.#send(2 * i + 1, Buffer.from(this.#errorText(pair.port, err as Error)));
      this.#finish(pair);
      return;
    }
    if (this.#closed) {
      conn.destroy();
      return;
    }
    pair.conn = conn;
    conn.on('error', () => conn.destroy());
    for (const chunk of pair.pending ?? []) this.#toPod(conn, chunk);
    pair.pending = null;
    if (this.#blocked.size === 0 && this.#pairs.every((p) => !p.pending)) this.#ws.resume();
    conn.on('data', (chunk: Buffer) => {
      this.#inflight += chunk.length;
      this.#send(2 * i, chunk, () => {
        this.#inflight -= chunk.length;
        if (this.#inflight <= lowWater) {
          for (const c of this.#paused) c.resume();
          this.#paused.clear();
        }
      });
      if (this.#inflight > highWater) {
        conn.pause();
        this.#paused.add(conn);
      }
    });
    conn.on('drain', () => {
      this.#blocked.delete(conn);
      if (this.#blocked.size === 0) this.#ws.resume();
    });
    // The pod's side ended (or failed): as the runtime's copy loop ends, the port's streams close.
    conn.on('end', () => this.#finish(pair));
    conn.on('close', () => this.#finish(pair));
    conn.resume();
  }

  /** The kubelet's words around the container runtime's (containerd's), as kubectl shows them. */
  #errorText(port: number, err: Error): string {
    const { id, netns } = sandboxNames(this.#p.pod);
    const cause =
      err instanceof DialError
        ? `failed to execute portforward in network namespace "${this.#options.network === 'host' ? 'host' : netns}": failed to connect to localhost:${port} inside namespace "${id}", ${err.message}`
        : err.message;
    return `error forwarding port ${port} to pod ${id}, uid : ${cause}`;
  }

  #toPod(conn: Socket, chunk: Buffer): void {
    if (conn.destroyed || conn.writableEnded) return;
    if (!conn.write(chunk)) {
      this.#blocked.add(conn);
      this.#ws.pause();
    }
  }

  #onMessage(data: Buffer): void {
    let frame;
    try {
      frame = decodeFrame(data, this.#p.base64);
    } catch {
      return; // dropped, as a server drops a base64 body that does not decode
    }
    if (!frame || frame.payload.length === 0 || frame.channel % 2 !== 0) return; // error channels are the server's to write
    const pair = this.#pairs[frame.channel / 2];
    if (!pair || pair.done) return;
    const chunk = Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.length);
    if (pair.pending) {
      pair.pending.push(chunk);
      // Not connected yet: hold at most about a megabyte, then wait for the connection.
      if (pair.pending.reduce((n, c) => n + c.length, 0) > lowWater) this.#ws.pause();
      return;
    }
    if (pair.conn) this.#toPod(pair.conn, chunk);
  }

  #finish(pair: Pair): void {
    if (pair.done) return;
    pair.done = true;
    if (pair.conn) {
      this.#blocked.delete(pair.conn);
      this.#paused.delete(pair.conn);
      pair.conn.destroy();
      if (this.#blocked.size === 0) this.#ws.resume();
    }
    if (this.#pairs.every((p) => p.done) && !this.#closed) {
      this.#closed = true;
      this.#ws.resume();
      this.#ws.close(1000);
      setTimeout(() => this.#ws.terminate(), closeGraceMs).unref();
    }
  }

  #teardown(): void {
    this.#closed = true;
    for (const pair of this.#pairs) {
      pair.done = true;
      pair.pending = null;
      pair.conn?.destroy();
    }
  }
}
