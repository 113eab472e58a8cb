// pods/portforward against a real sandbox over HTTPS, with a raw `ws` client: the channel pairs
// and their port headers, HTTP through the echo-http pod's two servers byte for byte, many
// WebSockets at once, a 50 MiB download, the error text for a port nobody listens on, the
// cluster's answers to bad `ports` and to a user without the permission, the base64 subprotocol,
// and kubectl's own port-forward failing with a clear message.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { pollUntil, run } from './helpers.ts';

let sandbox: Sandbox;

before(async () => {
  sandbox = await startSandbox({});
  // echo-http's servers start with the pod: wait until both answer.
  const up = await pollUntil(async () => {
    const [a, b] = await Promise.all([get(8080, '/'), get(9090, '/ready')]);
    return a.body.toString().startsWith('hello') && b.body.toString().startsWith('echo-http');
  }, 60_000, 250);
  assert.ok(up, "echo-http's servers answer");
});

after(async () => {
  await sandbox?.close();
});

const PATH = '/api/v1/namespaces/default/pods/echo-http/portforward';

interface Opened {
  ws: WebSocket;
  /** Every message as it came: channel and payload (base64 decoded). */
  messages: { channel: number; payload: Buffer }[];
  closed: Promise<number>;
}

interface Refused {
  status: number;
  contentType: string;
  body: string;
}

function connect(query: string, options: { user?: string; protocols?: string[]; path?: string } = {}): Promise<Opened | Refused> {
  const cert = sandbox.users[options.user ?? 'admin']!.clientCert;
  const url = `${sandbox.url.replace('https:', 'wss:')}${options.path ?? PATH}${query}`;
  const ws = new WebSocket(url, options.protocols ?? ['v4.channel.k8s.io'], { ca: sandbox.caPem, cert: cert.certPem, key: cert.keyPem, perMessageDeflate: false });
  const messages: Opened['messages'] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) messages.push({ channel: data[0]!, payload: data.subarray(1) });
      else messages.push({ channel: data[0]! - 48, payload: Buffer.from(data.subarray(1).toString('latin1'), 'base64') });
    });
    ws.on('open', () => resolve({ ws, messages, closed }));
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString() }));
    });
    ws.on('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err);
    });
  });
}

function opened(r: Opened | Refused): Opened {
  if ('status' in r) assert.fail(`refused: ${r.status} ${r.body}`);
  return r;
}

function channel(o: Opened, ch: number): Buffer {
  return Buffer.concat(o.messages.filter((m) => m.channel === ch).map((m) => m.payload));
}

function send(o: Opened, ch: number, text: string): void {
  if (o.ws.protocol === 'v4.base64.channel.k8s.io') o.ws.send(String.fromCharCode(48 + ch) + Buffer.from(text).toString('base64'));
  else o.ws.send(Buffer.concat([Buffer.of(ch), Buffer.from(text)]));
}

const portBytes = (port: number) => Buffer.of(port & 0xff, port >> 8);

/** An HTTP/1.0 GET through a WebSocket of its own (the server closes after answering); the port header stripped. */
async function get(port: number, path: string): Promise<{ head: string; body: Buffer; error: string; code: number }> {
  const o = opened(await connect(`?ports=${port}`));
  send(o, 0, `GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`);
  const code = await o.closed;
  const data = channel(o, 0).subarray(2);
  const split = data.indexOf('\r\n\r\n');
  return { head: data.subarray(0, Math.max(split, 0)).toString(), body: split < 0 ? Buffer.alloc(0) : data.subarray(split + 4), error: channel(o, 1).subarray(2).toString(), code };
}

test('two ports on one WebSocket: port headers first on all four channels, then each HTTP server answers on its own data channel', async () => {
  const o = opened(await connect('?ports=8080,9090'));
  assert.equal(o.ws.protocol, 'v4.channel.k8s.io');
  send(o, 0, 'GET / HTTP/1.0\r\n\r\n');
  send(o, 2, 'GET /two?x=1 HTTP/1.0\r\n\r\n');
  assert.equal(await o.closed, 1000);
  // The first four messages: each channel's port, in channel order.
  assert.deepEqual(
    o.messages.slice(0, 4).map((m) => [m.channel, [...m.payload]]),
    [
      [0, [...portBytes(8080)]],
      [1, [...portBytes(8080)]],
      [2, [...portBytes(9090)]],
      [3, [...portBytes(9090)]],
    ],
  );
  const first = channel(o, 0).subarray(2).toString();
  const second = channel(o, 2).subarray(2).toString();
  assert.match(first, /^HTTP\/1\.0 200 OK\r\n/);
  assert.ok(first.endsWith('\r\n\r\nhello from echo-http on port 8080\n'), first);
  assert.match(second, /^HTTP\/1\.0 200 OK\r\n/);
  assert.ok(second.endsWith('\r\nContent-Length: 29\r\n\r\necho-http 9090: GET /two?x=1\n'), second);
  // Nothing but the headers on the error channels.
  assert.deepEqual([...channel(o, 1)], [...portBytes(8080)]);
  assert.deepEqual([...channel(o, 3)], [...portBytes(9090)]);
});

test('repeated and comma-separated ports: one channel pair per port, in order', async () => {
  const o = opened(await connect('?ports=9090&ports=8080,9090'));
  send(o, 4, 'GET /third HTTP/1.0\r\n\r\n');
  send(o, 0, 'GET /first HTTP/1.0\r\n\r\n');
  send(o, 2, 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(await o.closed, 1000);
  assert.deepEqual(o.messages.slice(0, 6).map((m) => m.channel), [0, 1, 2, 3, 4, 5]);
  assert.ok(channel(o, 0).toString().endsWith('echo-http 9090: GET /first\n'));
  assert.ok(channel(o, 2).toString().endsWith('hello from echo-http on port 8080\n'));
  assert.ok(channel(o, 4).toString().endsWith('echo-http 9090: GET /third\n'));
});

test('20 WebSockets at once, each with its own connection and answer', async () => {
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => get(9090, `/concurrent/${i}`)));
  results.forEach((r, i) => {
    assert.equal(r.code, 1000);
    assert.equal(r.error, '');
    assert.equal(r.body.toString(), `echo-http 9090: GET /concurrent/${i}\n`);
  });
});

test('a 50 MiB download comes through byte for byte', async () => {
  const size = 50 * 1024 * 1024;
  const made = await run('kubectl', ['--kubeconfig', sandbox.kubeconfigPath, 'exec', 'echo-http', '--', 'sh', '-c', `head -c ${size} /dev/urandom > /tmp/www/big.bin && sha256sum /tmp/www/big.bin`], { timeoutMs: 120_000 });
  assert.equal(made.code, 0, made.stderr);
  const want = made.stdout.toString().split(' ')[0]!;
  assert.match(want, /^[0-9a-f]{64}$/);
  const r = await get(8080, '/big.bin');
  assert.equal(r.code, 1000);
  assert.match(r.head, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(r.head, new RegExp(`\r\nContent-Length: ${size}(\r\n|$)`));
  assert.equal(r.body.length, size);
  assert.equal(createHash('sha256').update(r.body).digest('hex'), want);
});

test('a 20 MiB upload reaches the pod byte for byte (the client sends faster than the pod reads)', async () => {
  const size = 20 * 1024 * 1024;
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
  const o = opened(await connect('?ports=9090'));
  send(o, 0, `POST /upload HTTP/1.0\r\nContent-Length: ${size}\r\n\r\n`);
  for (let off = 0; off < size; off += 256 * 1024) o.ws.send(Buffer.concat([Buffer.of(0), body.subarray(off, off + 256 * 1024)]));
  assert.equal(await o.closed, 1000);
  const answer = channel(o, 0).subarray(2).toString();
  assert.ok(answer.endsWith(`\r\n\r\necho-http 9090: POST /upload ${size} bytes sha256 ${createHash('sha256').update(body).digest('hex')}\n`), answer);
});

test("a port nobody listens on: the kubelet's and container runtime's error text on its error channel, then the close", async () => {
  const o = opened(await connect('?ports=8081'));
  assert.equal(await o.closed, 1000);
  assert.deepEqual([...channel(o, 0)], [...portBytes(8081)]);
  const text = channel(o, 1).subarray(2).toString();
  assert.match(
    text,
    /^error forwarding port 8081 to pod ([0-9a-f]{64}), uid : failed to execute portforward in network namespace "\/var\/run\/netns\/cni-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}": failed to connect to localhost:8081 inside namespace "\1", IPv4: dial tcp4 127\.0\.0\.1:8081: connect: connection refused IPv6 dial tcp6 \[::1\]:8081: connect: (connection refused|cannot assign requested address) $/,
  );
  // Beside a port that works, the failing one does not end the other's connection.
  const both = opened(await connect('?ports=8081,9090'));
  send(both, 2, 'GET /still HTTP/1.0\r\n\r\n');
  assert.equal(await both.closed, 1000);
  assert.match(channel(both, 1).toString(), /connection refused/);
  assert.ok(channel(both, 2).toString().endsWith('echo-http 9090: GET /still\n'));
});

/** This process's children that relay into a pod's network (netrelay.ts). */
function relays(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) return false;
        return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').some((a) => a.endsWith('/relay.sock'));
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('a relay that does not answer: the port fails with an error on its error channel once the handshake times out, then the close', async (t) => {
  if (sandbox.isolation === 'none') return t.skip('no network relay without namespaces');
  const stopped = relays();
  assert.ok(stopped.length > 0, 'the tests before started the pod\'s relay');
  for (const pid of stopped) process.kill(pid, 'SIGSTOP');
  try {
    const o = opened(await connect('?ports=9090'));
    assert.equal(await o.closed, 1000);
    assert.match(channel(o, 1).subarray(2).toString(), /failed to connect to localhost:9090 inside namespace "[0-9a-f]{64}", the pod's network relay did not answer within 15s$/);
  } finally {
    for (const pid of stopped) process.kill(pid, 'SIGCONT');
  }
  assert.ok((await get(9090, '/after')).body.toString().startsWith('echo-http 9090: GET /after'));
});

test('the base64 subprotocol: text frames, channel digit then base64', async () => {
  const o = opened(await connect('?ports=9090', { protocols: ['v4.base64.channel.k8s.io'] }));
  assert.equal(o.ws.protocol, 'v4.base64.channel.k8s.io');
  send(o, 0, 'GET /b64 HTTP/1.0\r\n\r\n');
  assert.equal(await o.closed, 1000);
  assert.deepEqual([...o.messages[0]!.payload], [...portBytes(9090)]);
  assert.ok(channel(o, 0).toString().endsWith('echo-http 9090: GET /b64\n'));
});

test('no subprotocol offered: binary, with the empty protocol header x/net writes; an unknown one: 403', async () => {
  // ws (the client) refuses a protocol header it did not ask for: a raw upgrade instead.
  const url = new URL(sandbox.url);
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: sandbox.caPem }, () => {
      socket.write(
        [`GET ${PATH}?ports=9090 HTTP/1.1`, `Host: ${url.host}`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version: 13', `Authorization: Bearer ${sandbox.users.admin!.token}`, '', ''].join('\r\n'),
      );
    });
    let data = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      data = Buffer.concat([data, c]);
      const end = data.indexOf('\r\n\r\n');
      // Two frames of 3 bytes after the head: the port on channels 0 and 1.
      if (end >= 0 && data.length >= end + 4 + 10) {
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('error', reject);
  });
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end + 2).toString('latin1');
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.match(head, /\r\nSec-WebSocket-Protocol: \r\n/i);
  assert.deepEqual([...raw.subarray(end + 4, end + 14)], [0x82, 3, 0, ...portBytes(9090), 0x82, 3, 1, ...portBytes(9090)]);
  const refused = await connect('?ports=9090', { protocols: ['v5.channel.k8s.io'] });
  assert.ok('status' in refused);
  assert.equal(refused.status, 403);
});

test("bad ports: the API server's and the kubelet's answers", async () => {
  const cases: [string, number, RegExp, string][] = [
    ['?ports=abc', 400, /json/, 'cannot convert to []int32: strconv.ParseUint: parsing "abc": invalid syntax'],
    ['?ports=80,', 400, /json/, 'cannot convert to []int32: strconv.ParseUint: parsing "": invalid syntax'],
    ['?ports=70000', 400, /json/, 'cannot convert to []int32: strconv.ParseUint: parsing "70000": value out of range'],
    ['?ports=-1', 400, /json/, 'cannot convert to []int32: strconv.ParseUint: parsing "-1": invalid syntax'],
    ['', 400, /^text\/plain/, 'query parameter "port" is required'],
    ['?ports=80,0', 400, /^text\/plain/, 'port "0" must be > 0'],
    [`?ports=${Array.from({ length: 129 }, (_, i) => 8000 + i).join(',')}`, 400, /^text\/plain/, "too many ports: 129: at most 128 per request (the podshell sandbox's limit)"],
  ];
  for (const [query, status, type, message] of cases) {
    const r = await connect(query);
    assert.ok('status' in r, query);
    assert.equal(r.status, status, query);
    assert.match(r.contentType, type, query);
    const text = /json/.test(r.contentType) ? JSON.parse(r.body).message : r.body;
    assert.equal(text, message, query);
  }
  const missing = await connect('?ports=80', { path: '/api/v1/namespaces/default/pods/nope/portforward' });
  assert.ok('status' in missing);
  assert.equal(missing.status, 404);
  assert.equal(JSON.parse(missing.body).message, 'pods "nope" not found');
});

test('RBAC: the viewer may read pods but not port-forward; without an upgrade the API answers as for exec', async () => {
  const r = await connect('?ports=9090', { user: 'viewer' });
  assert.ok('status' in r);
  assert.equal(r.status, 403);
  assert.equal(JSON.parse(r.body).message, 'pods "echo-http" is forbidden: User "viewer" cannot get resource "pods/portforward" in API group "" in the namespace "default"');
  const cert = sandbox.users.admin!.clientCert;
  const plain = await fetchJson(`${PATH}?ports=9090`, cert);
  assert.equal(plain.status, 400);
  assert.equal(plain.body.message, 'Upgrade request required');
});

async function fetchJson(path: string, cert: { certPem: string; keyPem: string }): Promise<{ status: number; body: { message?: string } }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(`${sandbox.url}${path}`, { method: 'POST', ca: sandbox.caPem, cert: cert.certPem, key: cert.keyPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test("kubectl port-forward (SPDY, or SPDY tunnelled in a WebSocket) fails at once with the sandbox's reason", async () => {
  const r = await run('kubectl', ['--kubeconfig', sandbox.kubeconfigPath, 'port-forward', 'echo-http', '0:9090'], { timeoutMs: 60_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /error upgrading connection: .*the podshell sandbox serves port-forward over WebSocket only \(v4\.channel\.k8s\.io, v4\.base64\.channel\.k8s\.io\); SPDY\/3\.1 is not supported/);
});

test("with isolation none a pod's processes are the host's: port-forward reaches the host's loopback, and names no namespace", async (t) => {
  const plain = await startSandbox({ isolation: 'none', manifestTexts: [{ source: 'test', text: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: main\n      image: podshell.dev/full:latest\n---\napiVersion: sandbox.podshell.dev/v1\nkind: SandboxUser\nmetadata:\n  name: admin\nspec:\n  groups: [system:masters]\n' }] });
  t.after(() => plain.close());
  // Stands for a process of the pod: with no isolation, one listening on 127.0.0.1 of the host.
  const { createServer } = await import('node:net');
  const server = createServer((s) => s.end('plain pod\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const saved = sandbox;
  sandbox = plain;
  try {
    const o = opened(await connect(`?ports=${port}`, { path: '/api/v1/namespaces/default/pods/p/portforward' }));
    assert.equal(await o.closed, 1000);
    assert.equal(channel(o, 0).subarray(2).toString(), 'plain pod\n');
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const refused = opened(await connect(`?ports=${free}`, { path: '/api/v1/namespaces/default/pods/p/portforward' }));
    assert.equal(await refused.closed, 1000);
    assert.match(channel(refused, 1).subarray(2).toString(), new RegExp(`^error forwarding port ${free} to pod [0-9a-f]{64}, uid : failed to execute portforward in network namespace "host": failed to connect to localhost:${free} inside namespace "[0-9a-f]{64}", IPv4: dial tcp4 127\\.0\\.0\\.1:${free}: connect: connection refused IPv6 dial tcp6 \\[::1\\]:${free}: connect: `));
  } finally {
    sandbox = saved;
  }
});
