// A small, honest port-forward server for tests: HTTPS on 127.0.0.1:0 with its own CA, GET of
// pods, and `pods/NAME/portforward` over WebSocket as docs/protocol.md describes it (the i-th
// port on channels 2i and 2i+1, the port header first on both, error text on failure, one TCP
// connection per port per WebSocket). A pod's ports are real local TCP servers.

import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import { connect, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { dataChannel, decodeFrame, encodeFrame, encodePortHeader, errorChannel, parsePortForwardQuery, portForwardProtocols } from '../src/protocol/index.ts';
import { createPki } from '../src/sandbox/pki.ts';

export interface FakePod {
  /** Default Running. */
  phase?: string;
  /** The pod's port → the local TCP port (on 127.0.0.1) that serves it. Unlisted ports refuse. */
  ports: Record<number, number>;
  labels?: Record<string, string>;
  /** The container's declared ports (for named ports). */
  containerPorts?: { name: string; containerPort: number }[];
}

export interface FakeService {
  selector: Record<string, string>;
  ports: { name?: string; port: number; targetPort?: number | string }[];
}

export interface FakeKubeletStats {
  /** Port-forward upgrades accepted. */
  upgrades: number;
  /** Request URLs of the upgrades, in order. */
  urls: string[];
  /** WebSockets open now. */
  openSockets: number;
  /** TCP connections to pod ports open now. */
  openPodConnections: number;
  /** Times the server paused reading a pod connection because the WebSocket side was full. */
  podReadsPaused: number;
  /** Times the server paused reading the WebSocket because the pod connection was full. */
  socketReadsPaused: number;
}

export interface FakeKubelet {
  url: string;
  kubeconfigPath: string;
  stats: FakeKubeletStats;
  /** The subprotocols it accepts; it picks the first the client offers that is here. Default both v4 ones. */
  accepted: string[];
  /** Send each port header one byte per frame (a server may split what it writes anywhere). */
  splitHeaders: boolean;
  /** Cut every port-forward WebSocket's TCP connection at once, with no close frame. */
  breakConnections(): void;
  /** Stop reading every port-forward WebSocket's TCP connection (a server that hangs: no pongs, no data). */
  freezeConnections(): void;
  close(): Promise<void>;
}

const TOKEN = 'fake-kubelet-token';
/** Bytes queued on a WebSocket before the pod connection is paused. */
const HIGH_WATER = 1024 * 1024;

function podJson(name: string, pod: FakePod) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: pod.labels ?? {} },
    spec: { containers: [{ name: 'main', ...(pod.containerPorts ? { ports: pod.containerPorts } : {}) }] },
    status: { phase: pod.phase ?? 'Running' },
  };
}

export async function startFakeKubelet(work: string, pods: Record<string, FakePod>, services: Record<string, FakeService> = {}): Promise<FakeKubelet> {
  const pki = await createPki();
  const stats: FakeKubeletStats = { upgrades: 0, urls: [], openSockets: 0, openPodConnections: 0, podReadsPaused: 0, socketReadsPaused: 0 };
  const raw = new Set<Duplex>();
  const podSockets = new Set<Socket>();
  const fake: FakeKubelet = {
    url: '',
    kubeconfigPath: '',
    stats,
    accepted: [...portForwardProtocols],
    splitHeaders: false,
    breakConnections: () => {
      for (const socket of raw) socket.destroy();
    },
    freezeConnections: () => {
      for (const socket of raw) socket.pause();
    },
    close: async () => {
      for (const client of wss.clients) client.terminate();
      for (const socket of raw) socket.destroy();
      for (const socket of podSockets) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered) => [...offered].find((p) => fake.accepted.includes(p)) ?? false,
  });
  const server: Server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://fake');
    const m = /^\/api\/v1\/namespaces\/default\/pods\/([^/?]+)$/.exec(url.pathname);
    const pod = m && Object.hasOwn(pods, m[1]!) ? pods[m[1]!]! : undefined;
    const json = (body: unknown) => void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (req.headers.authorization === `Bearer ${TOKEN}` && url.pathname === '/api/v1/namespaces/default/pods') {
      // Equality selectors only: `a=b,c=d`.
      const wanted = (url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((term) => term.split('='));
      const items = Object.entries(pods)
        .filter(([, p]) => wanted.every(([k, v]) => p.labels?.[k!] === v))
        .map(([name, p]) => podJson(name, p));
      return json({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items });
    }
    const svc = /^\/api\/v1\/namespaces\/default\/services\/([^/]+)$/.exec(url.pathname);
    if (req.headers.authorization === `Bearer ${TOKEN}` && svc && Object.hasOwn(services, svc[1]!)) {
      const { selector, ports } = services[svc[1]!]!;
      return json({ kind: 'Service', apiVersion: 'v1', metadata: { name: svc[1], namespace: 'default' }, spec: { selector, ports, clusterIP: '10.0.0.1' } });
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}');
    if (!pod) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `pods "${m?.[1] ?? ''}" not found`, reason: 'NotFound', code: 404 }));
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(podJson(m![1]!, pod)));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    raw.add(socket);
    socket.on('close', () => raw.delete(socket));
    const url = new URL(req.url ?? '/', 'https://fake');
    const m = /^\/api\/v1\/namespaces\/default\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
    const refuse = (status: number, message: string) => {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code: status });
      socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return refuse(401, 'Unauthorized');
    if (!m || !Object.hasOwn(pods, m[1]!)) return refuse(404, `pods "${m?.[1] ?? ''}" not found`);
    let ports: number[];
    try {
      ports = parsePortForwardQuery(url.searchParams);
    } catch (err) {
      return refuse(400, (err as Error).message);
    }
    const name = m[1]!;
    wss.handleUpgrade(req, socket, head, (ws) => {
      stats.upgrades++;
      stats.urls.push(req.url ?? '');
      forward(ws, name, pods[name]!, ports);
    });
  });

  function forward(ws: WebSocket, name: string, pod: FakePod, ports: number[]): void {
    stats.openSockets++;
    const base64 = ws.protocol === 'v4.base64.channel.k8s.io';
    const send = (channel: number, payload: Uint8Array, done?: () => void) => ws.send(encodeFrame(base64, channel, payload), { binary: !base64 }, done);
    const conns: (Socket | null)[] = [];
    let finished = 0;
    const portDone = () => {
      if (++finished === ports.length && ws.readyState === ws.OPEN) ws.close(1000);
    };
    ports.forEach((port, i) => {
      for (const channel of [dataChannel(i), errorChannel(i)]) {
        const header = encodePortHeader(port);
        if (fake.splitHeaders) for (const byte of header) send(channel, Uint8Array.of(byte));
        else send(channel, header);
      }
      const target = pod.ports[port];
      let over = false;
      const end = () => {
        if (over) return;
        over = true;
        portDone();
      };
      const fail = (detail: string) => {
        if (over) return;
        send(errorChannel(i), new TextEncoder().encode(`error forwarding port ${port} to pod ${name}, uid uid-${name}: ${detail}`));
        end();
      };
      if (target === undefined) {
        conns.push(null);
        return fail(`failed to connect to localhost:${port} inside namespace "default": dial tcp 127.0.0.1:${port}: connect: connection refused`);
      }
      const tcp = connect({ host: '127.0.0.1', port: target });
      conns.push(tcp);
      podSockets.add(tcp);
      stats.openPodConnections++;
      let queued = 0;
      let paused = false;
      tcp.on('data', (chunk: Buffer) => {
        queued += chunk.length;
        send(dataChannel(i), chunk, () => {
          queued -= chunk.length;
          if (paused && queued < HIGH_WATER / 2) {
            paused = false;
            tcp.resume();
          }
        });
        if (queued >= HIGH_WATER && !paused) {
          paused = true;
          stats.podReadsPaused++;
          tcp.pause();
        }
      });
      tcp.on('error', (err) => fail(err.message));
      tcp.on('end', end);
      tcp.on('close', () => {
        podSockets.delete(tcp);
        stats.openPodConnections--;
      });
    });
    let wsPaused = false;
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data, base64);
      if (!frame || frame.payload.length === 0) return;
      // Data channels are even; anything else from a client is ignored, as the kubelet does.
      if (frame.channel % 2 !== 0) return;
      const tcp = conns[frame.channel / 2];
      if (!tcp || tcp.destroyed) return;
      if (!tcp.write(frame.payload) && !wsPaused) {
        wsPaused = true;
        stats.socketReadsPaused++;
        ws.pause();
        tcp.once('drain', () => {
          wsPaused = false;
          ws.resume();
        });
      }
    });
    ws.on('close', () => {
      stats.openSockets--;
      for (const tcp of conns) tcp?.end();
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  const kubeconfigPath = join(work, 'fake-kubelet.kubeconfig');
  writeFileSync(
    kubeconfigPath,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: fake',
      `clusters: [{name: fake, cluster: {server: "${url}", certificate-authority-data: "${Buffer.from(pki.ca.certPem).toString('base64')}"}}]`,
      `users: [{name: u, user: {token: ${TOKEN}}}]`,
      'contexts: [{name: fake, context: {cluster: fake, user: u, namespace: default}}]',
      '',
    ].join('\n'),
  );
  fake.url = url;
  fake.kubeconfigPath = kubeconfigPath;
  return fake;
}
