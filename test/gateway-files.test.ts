// The gateway's file routes (docs/web.md, "Files") over real sockets against the sandbox: a 50 MiB
// upload and download byte-exact with flat memory, a cut download resumed with Range, a broken
// or oversized upload that leaves nothing behind, names in Content-Disposition, the cluster's
// refusals, directories as tar, containers without tar or without a shell.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, afterEach, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseDisposition } from 'content-disposition';
import { extract } from 'tar-stream';
import { registerFileRoutes } from '../src/gateway/routes-files.ts';
import type { ClusterRegistry } from '../src/gateway/context.ts';
import { Cluster, downloadStream, prepareDownload, uploadStream } from '../src/lib/index.ts';
import { kubeconfigClusters, startHarness, type GatewayTestClient } from './gateway-harness.ts';
import { cmdline, descendants, running, sha256 } from './helpers.ts';

const MiB = 1024 * 1024;
// gc() for the memory measurement, without a command-line flag.
setFlagsFromString('--expose-gc');
/** The sandbox runs in its own process, so this one's memory is the gateway's (and the test client's). */
let sandbox: ChildProcess;
let work: string;
let cluster: Cluster;
let gateway: GatewayTestClient;
/** The same routes with a 1 MiB upload limit. */
let small: GatewayTestClient;
/** How many times the gateway looked a cluster up (a request on its way to a cluster). */
let lookups = 0;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-gfile-'));
  const kubeconfig = join(work, 'kubeconfig');
  sandbox = spawn(new URL('../bin/podshell', import.meta.url).pathname, ['sandbox', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  sandbox.stderr!.on('data', (c) => (stderr += c));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    sandbox.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('sandbox ready ')) resolve();
    });
    sandbox.on('exit', (code) => reject(new Error(`the sandbox exited with ${code}: ${stderr}`)));
  });
  cluster = Cluster.fromKubeconfig({ path: kubeconfig, context: 'podshell-sandbox' });
  const registry = kubeconfigClusters(kubeconfig, ['podshell-sandbox', 'podshell-sandbox-viewer']);
  const counted: ClusterRegistry = {
    list: () => registry.list(),
    get: (name) => {
      lookups++;
      return registry.get(name);
    },
  };
  gateway = await startHarness({ clusters: counted, register: registerFileRoutes, config: { maxUploadBytes: 64 * MiB } });
  small = await startHarness({ clusters: counted, register: registerFileRoutes, config: { maxUploadBytes: 1 * MiB } });
});
after(async () => {
  await Promise.all([gateway?.close(), small?.close()]);
  if (sandbox && sandbox.exitCode === null) {
    const exited = new Promise((resolve) => sandbox.once('exit', resolve));
    sandbox.kill('SIGTERM');
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
});

/** Poll until `condition` holds; fail after a generous deadline. */
async function until<T>(what: string, condition: () => Promise<T | null | undefined | false>, deadlineMs = 30_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

const filePath = (pod: string, query: Record<string, string>, cl = 'podshell-sandbox', ns = 'default') =>
  `/api/clusters/${encodeURIComponent(cl)}/namespaces/${ns}/pods/${pod}/file?${new URLSearchParams(query)}`;

/** A fresh directory in a container; its `ls -a` entries besides . and .. */
async function freshDir(pod = 'demo', container = 'main'): Promise<{ dir: string; ls: () => Promise<string[]> }> {
  const dir = `/tmp/gfile-${randomBytes(4).toString('hex')}`;
  const r = await cluster.run({ target: pod, container, command: ['mkdir', '-p', dir] });
  assert.equal(r.exitCode, 0, r.stderr);
  return {
    dir,
    ls: async () => {
      const l = await cluster.run({ target: pod, container, command: ['ls', '-a', dir] });
      assert.equal(l.exitCode, 0, l.stderr);
      return l.stdout.split('\n').filter((n) => n && n !== '.' && n !== '..');
    },
  };
}

/** `size` random bytes in 64 KiB chunks, made as they are read; `digest()` once it ended. */
function randomSource(size: number): Readable & { digest(): string } {
  const hash = createHash('sha256');
  let left = size;
  const stream = new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const chunk = randomBytes(Math.min(64 * 1024, left));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  }) as Readable & { digest(): string };
  stream.digest = () => hash.digest('hex');
  return stream;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Requests still open: a failed test must not leave one holding the gateway's close. */
const openRequests = new Set<http.ClientRequest>();
afterEach(() => {
  for (const req of openRequests) req.destroy();
  openRequests.clear();
});

/** An HTTP request with a streamed body, as a signed-in page sends it (Origin, CSRF). */
function request(client: GatewayTestClient, method: string, path: string, options: { body?: Readable; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(client.baseUrl + path, { method, headers: { origin: client.baseUrl, 'x-csrf-token': 'test-csrf', ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    openRequests.add(req);
    req.on('close', () => openRequests.delete(req));
    if (options.body) {
      // The gateway may answer (413, 403) before it read the whole body, and close the connection.
      options.body.on('error', () => {});
      req.on('error', () => {});
      options.body.pipe(req);
    } else req.end();
  });
}

function json(answer: Answer): { error: { code: string; message: string; status: number } } & Record<string, unknown> {
  return JSON.parse(answer.body.toString());
}

test('a 50 MiB file goes up and comes down byte-exact, streamed, with the headers of the contract; memory stays flat', async (t) => {
  const { dir, ls } = await freshDir();
  const size = 50 * MiB;
  const source = randomSource(size);
  // Warm up (first exec, JIT), then measure the peak RSS while 50 MiB flow up and down.
  const warm = await request(gateway, 'PUT', filePath('demo', { container: 'main', path: `${dir}/warm` }), { body: Readable.from([Buffer.from('warm')]) });
  assert.equal(warm.status, 201, warm.body.toString());
  // Collected garbage is not growth: collect before each sample, so RSS tells what is held.
  const gc = runInNewContext('gc') as () => void;
  gc();
  await new Promise(setImmediate);
  gc();
  const before = process.memoryUsage().rss;
  const beforeBuffers = process.memoryUsage().arrayBuffers;
  let peak = before;
  let peakBuffers = 0;
  let peakHeap = 0;
  const sampler = setInterval(() => {
    // Twice, a turn apart: buffers freed by the first collection are only then swept.
    gc();
    setImmediate(() => {
      gc();
      const m = process.memoryUsage();
      peak = Math.max(peak, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    });
  }, 100);
  t.after(() => clearInterval(sampler));

  // Chunked: the gateway does not know the size in advance.
  const up = await request(gateway, 'PUT', filePath('demo', { container: 'main', path: `${dir}/big.bin` }), { body: source, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(up.status, 201, up.body.toString());
  const expected = source.digest();
  assert.deepEqual(json(up), { path: `${dir}/big.bin`, size, sha256: expected });
  // In the container: the file, and no temp file beside it.
  assert.deepEqual((await ls()).sort(), ['big.bin', 'warm']);
  const inPod = await cluster.run({ target: 'demo', command: ['sha256sum', `${dir}/big.bin`] });
  assert.equal(inPod.stdout.split(' ')[0], expected);

  // Down, hashed as it streams.
  const down = await new Promise<{ headers: http.IncomingHttpHeaders; status: number; sha: string; bytes: number }>((resolve, reject) => {
    http
      .get(gateway.baseUrl + filePath('demo', { container: 'main', path: `${dir}/big.bin` }), (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          hash.update(c);
          bytes += c.length;
        });
        res.on('end', () => resolve({ headers: res.headers, status: res.statusCode!, sha: hash.digest('hex'), bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  clearInterval(sampler);
  assert.equal(down.status, 200);
  assert.equal(down.bytes, size);
  assert.equal(down.sha, expected);
  assert.equal(down.headers['content-length'], String(size));
  assert.equal(down.headers['accept-ranges'], 'bytes');
  assert.equal(down.headers['x-checksum-sha256'], expected);
  assert.equal(down.headers['x-content-type-options'], 'nosniff');
  assert.equal(down.headers['content-type'], 'application/octet-stream');
  assert.equal(down.headers['content-disposition'], 'attachment; filename=big.bin');
  const growth = peak - before;
  t.diagnostic(`RSS before ${(before / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB (buffers +${((peakBuffers - beforeBuffers) / MiB).toFixed(1)} MiB, heap ${(peakHeap / MiB).toFixed(1)} MiB) for ${size / MiB} MiB up and down`);
  // Flat: what is held stays far below the file's size (a buffered body alone would be 50 MiB).
  // RSS is reported, not bounded: the allocator keeps freed pages, so it shows churn as well.
  const held = peakBuffers - beforeBuffers;
  assert.ok(held < 24 * MiB, `buffers held grew by ${(held / MiB).toFixed(1)} MiB`);
});

/** Processes of the sandbox whose command line mentions `text` (the containers' processes run under it). */
function remoteProcesses(text: string): string[] {
  return descendants(sandbox.pid!)
    .filter(running)
    .map(cmdline)
    .filter((c) => c.includes(text));
}

/** A file of `size` random bytes made in the container; its sha256 as the container computes it. */
async function remoteRandomFile(path: string, size: number): Promise<string> {
  const r = await cluster.run({ target: 'demo', command: ['sh', '-c', 'head -c "$2" /dev/urandom > "$1" && sha256sum "$1"', 'sh', path, String(size)] });
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout.split(' ')[0]!;
}

test('a download cut half-way ends the command in the container, and resumes with Range: bytes=N- byte-exact', async () => {
  const { dir } = await freshDir();
  const size = 48 * MiB + 12345;
  const file = `${dir}/resume.bin`;
  const expected = await remoteRandomFile(file, size);
  const path = filePath('demo', { container: 'main', path: file });

  // The first half, then the client stops reading: backpressure holds the reader in the container…
  let response!: http.IncomingMessage;
  const first = await new Promise<Buffer>((resolve, reject) => {
    http
      .get(gateway.baseUrl + path, (res) => {
        response = res;
        assert.equal(res.statusCode, 200);
        const chunks: Buffer[] = [];
        let got = 0;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          got += c.length;
          if (got >= size / 2) {
            res.pause();
            res.removeAllListeners('data');
            resolve(Buffer.concat(chunks));
          }
        });
        res.on('end', () => reject(new Error('the download ended before it was cut')));
      })
      .on('error', () => {});
  });
  assert.ok(first.length >= size / 2 && first.length < size, `cut after ${first.length} bytes`);
  await until('cat is reading the file in the container', async () => remoteProcesses(file).some((c) => c.startsWith('cat ')));
  // …then the connection is cut, and the gateway ends that reader.
  response.destroy();
  await until('no process in the container reads the file any more', async () => remoteProcesses(file).length === 0);

  const rest = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; hash: ReturnType<typeof createHash> }>((resolve, reject) => {
    http
      .get(gateway.baseUrl + path, { headers: { range: `bytes=${first.length}-` } }, (res) => {
        const hash = createHash('sha256').update(first);
        res.on('data', (c: Buffer) => hash.update(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, hash }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers['content-range'], `bytes ${first.length}-${size - 1}/${size}`);
  assert.equal(rest.headers['content-length'], String(size - first.length));
  assert.equal(rest.headers['x-checksum-sha256'], expected);
  assert.equal(rest.hash.digest('hex'), expected);

  // A start at or past the end cannot be satisfied.
  const past = await request(gateway, 'GET', path, { headers: { range: `bytes=${size}-` } });
  assert.equal(past.status, 416);
  assert.equal(past.headers['content-range'], `bytes */${size}`);
  assert.equal(json(past).error.code, 'ERR_GATEWAY_RANGE');
});

test('a file that shrinks while it downloads breaks the response off: never a short body that looks complete', async () => {
  const { dir } = await freshDir();
  const size = 48 * MiB;
  const file = `${dir}/shrinks.bin`;
  await remoteRandomFile(file, size);
  const outcome = await new Promise<{ got: number; how: string }>((resolve) => {
    http
      .get(gateway.baseUrl + filePath('demo', { path: file }), (res) => {
        assert.equal(res.headers['content-length'], String(size));
        let got = 0;
        let truncated = false;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (!truncated) {
            truncated = true;
            res.pause();
            void cluster.run({ target: 'demo', command: ['truncate', '-s', '1048576', file] }).then((r) => {
              assert.equal(r.exitCode, 0, r.stderr);
              res.resume();
            });
          }
        });
        res.on('end', () => resolve({ got, how: 'end' }));
        res.on('error', () => resolve({ got, how: 'error' }));
      })
      .on('error', () => {});
  });
  assert.equal(outcome.how, 'error');
  assert.ok(outcome.got < size, `${outcome.got} bytes`);
});

test('the bytes are checked against the announced sha256 before the last chunk goes out', async () => {
  const { dir } = await freshDir();
  const file = `${dir}/changes.bin`;
  await remoteRandomFile(file, 4 * MiB);
  const prepared = await prepareDownload(cluster.client, { pod: 'demo', path: file });
  assert.equal(prepared.size, 4 * MiB);
  // Same size, other bytes: only the checksum can tell.
  const r = await cluster.run({ target: 'demo', command: ['sh', '-c', 'printf XXXXXXXX | dd of="$1" conv=notrunc status=none', 'sh', file] });
  assert.equal(r.exitCode, 0, r.stderr);
  const stream = await prepared.open();
  let got = 0;
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) got += (chunk as Buffer).length;
    })(),
    (err: Error & { code?: string }) => err.code === 'ERR_TRANSFER_INTEGRITY' && /expected sha256 [0-9a-f]{64}, found [0-9a-f]{64}/.test(err.message),
  );
  assert.ok(got > 0 && got < 4 * MiB, `the last chunk was held back: ${got} bytes came out`);
});

test('an upload broken off half-way leaves nothing in the container: no destination, no temp file', async () => {
  const { dir, ls } = await freshDir();
  const req = http.request(gateway.baseUrl + filePath('demo', { container: 'main', path: `${dir}/broken.bin` }), {
    method: 'PUT',
    headers: { origin: gateway.baseUrl, 'x-csrf-token': 'test-csrf', 'content-length': String(20 * MiB) },
  });
  req.on('error', () => {});
  req.on('response', (res) => res.resume());
  openRequests.add(req);
  req.write(randomBytes(4 * MiB));
  // Precondition: the upload reached the container (its temp file is there)…
  const seen = await until('the temp file appears', async () => (await ls()).find((n) => /^\.podshell-[0-9a-f]{8}\.tmp$/.test(n)));
  await until('cat is writing the temp file', async () => remoteProcesses(seen).some((c) => c.includes('cat >>')));
  // …then the client goes away half-way.
  req.destroy();
  await until('the gateway has cleaned up', async () => (await ls()).length === 0);
  await until('the writer in the container has ended', async () => remoteProcesses(seen).length === 0);
  assert.deepEqual(await ls(), [], `the temp file ${seen} is gone, and no broken.bin`);
});

test('past the upload limit: 413, and nothing left behind (Content-Length announced, or counted while streaming)', async () => {
  const { dir, ls } = await freshDir();
  const before = lookups;
  const announced = await request(small, 'PUT', filePath('demo', { container: 'main', path: `${dir}/big` }), {
    body: Readable.from([randomBytes(2 * MiB)]),
    headers: { 'content-length': String(2 * MiB) },
  });
  assert.equal(announced.status, 413);
  assert.equal(json(announced).error.code, 'ERR_GATEWAY_TOO_LARGE');
  assert.match(json(announced).error.message, /limit of 1048576 bytes/);
  // Refused on its Content-Length: the cluster was not even looked up.
  assert.equal(lookups, before);

  // Chunked: the gateway finds out while the bytes stream into the container. Half a MiB first;
  // once its temp file is there (precondition: something to clean up), the rest.
  const body = new Readable({ read() {} });
  body.push(randomBytes(MiB / 2));
  const answer = request(small, 'PUT', filePath('demo', { container: 'main', path: `${dir}/big` }), { body });
  await until('the temp file appears', async () => (await ls()).find((n) => n.startsWith('.podshell-')));
  body.push(randomBytes(MiB));
  body.push(randomBytes(MiB));
  body.push(null);
  const counted = await answer;
  assert.equal(counted.status, 413, counted.body.toString());
  assert.equal(json(counted).error.code, 'ERR_GATEWAY_TOO_LARGE');
  assert.deepEqual(await ls(), []);

  // Under the limit the same gateway takes it.
  const fits = await request(small, 'PUT', filePath('demo', { container: 'main', path: `${dir}/fits` }), { body: randomSource(MiB) });
  assert.equal(fits.status, 201, fits.body.toString());
  assert.deepEqual(await ls(), ['fits']);
});

test('a file name with spaces, quotes and unicode gets a correct Content-Disposition', async () => {
  const { dir } = await freshDir();
  const name = 'my "report" été 📄 50%.txt';
  const up = await request(gateway, 'PUT', filePath('demo', { container: 'main', path: `${dir}/${name}` }), { body: Readable.from([Buffer.from('hello\n')]) });
  assert.equal(up.status, 201, up.body.toString());
  const down = await request(gateway, 'GET', filePath('demo', { container: 'main', path: `${dir}/${name}` }));
  assert.equal(down.status, 200);
  assert.equal(down.body.toString(), 'hello\n');
  const header = down.headers['content-disposition']!;
  assert.match(header, /^attachment; /);
  // An ASCII fallback for old clients, the exact name in filename* (RFC 8187).
  assert.match(header, /; filename="my \\"report\\" \?t\? \?\? 50%\.txt"; filename\*=UTF-8''my%20%22report%22%20%C3%A9t%C3%A9%20%F0%9F%93%84%2050%25\.txt$/);
  assert.equal(parseDisposition(header).parameters['filename'], name);
  assert.equal(parseDisposition(header).type, 'attachment');
});

test('a directory downloads as NAME.tar listing its files (no Range)', async () => {
  const { dir } = await freshDir();
  const r = await cluster.run({ target: 'demo', command: ['sh', '-c', 'mkdir -p "$1/logs/sub" && printf one > "$1/logs/a.txt" && printf two > "$1/logs/sub/b.txt"', 'sh', dir] });
  assert.equal(r.exitCode, 0, r.stderr);
  const down = await request(gateway, 'GET', filePath('demo', { container: 'main', path: `${dir}/logs` }), { headers: { range: 'bytes=10-' } });
  assert.equal(down.status, 200);
  assert.equal(down.headers['content-type'], 'application/x-tar');
  assert.equal(down.headers['content-disposition'], 'attachment; filename=logs.tar');
  assert.equal(down.headers['accept-ranges'], undefined);
  const files = new Map<string, string>();
  const names: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const x = extract();
    x.on('entry', (header, stream, next) => {
      names.push(header.name);
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') files.set(header.name, Buffer.concat(chunks).toString());
        next();
      });
    });
    x.on('finish', resolve);
    x.on('error', reject);
    x.end(down.body);
  });
  assert.deepEqual(Object.fromEntries(files), { 'logs/a.txt': 'one', 'logs/sub/b.txt': 'two' });
  assert.ok(names.includes('logs/') && names.includes('logs/sub/'), names.join(', '));
});

test('a viewer (no exec) gets the API server\'s 403 and its sentence, for downloads and uploads', async () => {
  const down = await request(gateway, 'GET', filePath('demo', { container: 'main', path: '/etc/hostname' }, 'podshell-sandbox-viewer'));
  assert.equal(down.status, 403, down.body.toString());
  const body = json(down);
  assert.equal(body.error.status, 403);
  assert.equal(body.error.code, 'ERR_FORBIDDEN');
  assert.match(body.error.message, /pods "demo" is forbidden: User "[^"]+" cannot (get|create) resource "pods\/exec"/);

  const up = await request(gateway, 'PUT', filePath('demo', { container: 'main', path: '/tmp/x' }, 'podshell-sandbox-viewer'), { body: randomSource(2 * MiB) });
  assert.equal(up.status, 403, up.body.toString());
  assert.match(json(up).error.message, /is forbidden/);
});

test('an unknown pod is the API server\'s 404; an unknown cluster the gateway\'s; a missing file 404', async () => {
  const pod = await request(gateway, 'GET', filePath('nope', { path: '/etc/hostname' }));
  assert.equal(pod.status, 404);
  assert.equal(json(pod).error.code, 'ERR_NOT_FOUND');
  assert.match(json(pod).error.message, /pods "nope" not found/);

  const cl = await request(gateway, 'GET', filePath('demo', { path: '/etc/hostname' }, 'no-such-context'));
  assert.equal(cl.status, 404);
  assert.equal(json(cl).error.code, 'ERR_GATEWAY_UNKNOWN_CLUSTER');

  const file = await request(gateway, 'GET', filePath('demo', { path: '/no/such/file' }));
  assert.equal(file.status, 404);
  assert.equal(json(file).error.code, 'ERR_TRANSFER_NOT_FOUND');
  assert.match(json(file).error.message, /\/no\/such\/file: no such file or directory in container "main" of pod default\/demo/);
});

test('bad names and paths are refused with 400 before any request reaches a cluster', async () => {
  const before = lookups;
  const cases: [string, string, string][] = [
    ['GET', filePath('Demo_Pod', { path: '/etc/hostname' }), 'ERR_GATEWAY_BAD_NAME'],
    ['GET', filePath('demo', { path: '/etc/hostname' }, 'podshell-sandbox', 'Not..A-Namespace'), 'ERR_GATEWAY_BAD_NAME'],
    ['GET', filePath('demo', { container: 'Main!', path: '/etc/hostname' }), 'ERR_GATEWAY_BAD_NAME'],
    ['GET', filePath('demo', { path: 'etc/hostname' }), 'ERR_GATEWAY_BAD_PATH'],
    ['GET', filePath('demo', {}), 'ERR_GATEWAY_BAD_PATH'],
    ['GET', filePath('demo', { path: '/etc/\0' }), 'ERR_GATEWAY_BAD_PATH'],
    ['GET', `${filePath('demo', { path: '/a' })}&path=/b`, 'ERR_GATEWAY_BAD_PATH'],
    ['PUT', filePath('demo', { path: '/tmp/' }), 'ERR_GATEWAY_BAD_PATH'],
  ];
  for (const [method, path, code] of cases) {
    const a = await request(gateway, method, path, method === 'PUT' ? { body: Readable.from([Buffer.from('x')]) } : {});
    assert.equal(a.status, 400, `${method} ${path}: ${a.body}`);
    assert.equal(json(a).error.code, code, path);
  }
  assert.equal(lookups, before, 'no cluster was looked up');
});

test('slim (no tar): a single file goes up and down; a directory is a clear 422. Distroless (no shell): 422', async () => {
  const { dir } = await freshDir('slim', 'main');
  const data = randomBytes(300_000);
  const up = await request(gateway, 'PUT', filePath('slim', { path: `${dir}/f.bin` }), { body: Readable.from([data]) });
  assert.equal(up.status, 201, up.body.toString());
  const down = await request(gateway, 'GET', filePath('slim', { path: `${dir}/f.bin` }), { headers: { range: 'bytes=1000-' } });
  assert.equal(down.status, 206);
  assert.ok(down.body.equals(data.subarray(1000)));
  assert.equal(down.headers['x-checksum-sha256'], sha256(data));

  const tree = await request(gateway, 'GET', filePath('slim', { path: dir }));
  assert.equal(tree.status, 422);
  assert.equal(json(tree).error.code, 'ERR_TRANSFER_NO_TAR');

  const none = await request(gateway, 'GET', filePath('distroless', { path: '/etc/hostname' }));
  assert.equal(none.status, 422, none.body.toString());
  assert.equal(json(none).error.code, 'ERR_TRANSFER_NO_SHELL');
  const noneUp = await request(gateway, 'PUT', filePath('distroless', { path: '/tmp/x' }), { body: Readable.from([Buffer.from('x')]) });
  assert.equal(noneUp.status, 422, noneUp.body.toString());
  assert.equal(json(noneUp).error.code, 'ERR_TRANSFER_NO_SHELL');
});

test('an upload replaces a file (mode 0644) but never a directory, and needs its parent; odd Ranges, links and FIFOs', async () => {
  const { dir, ls } = await freshDir();
  const setup = await cluster.run({
    target: 'demo',
    command: ['sh', '-c', 'printf old > "$1/f" && chmod 600 "$1/f" && mkdir "$1/d" && mkfifo "$1/fifo" && ln -s f "$1/link"', 'sh', dir],
  });
  assert.equal(setup.exitCode, 0, setup.stderr);

  // Whatever the body's type says, its bytes are the file's (here: not parsed as JSON).
  const replaced = await request(gateway, 'PUT', filePath('demo', { path: `${dir}/f` }), { body: Readable.from([Buffer.from('new!')]), headers: { 'content-type': 'application/json' } });
  assert.equal(replaced.status, 201, replaced.body.toString());
  const st = await cluster.run({ target: 'demo', command: ['stat', '-c', '%a %s', `${dir}/f`] });
  assert.equal(st.stdout, '644 4\n');

  const onDir = await request(gateway, 'PUT', filePath('demo', { path: `${dir}/d` }), { body: Readable.from([Buffer.from('x')]) });
  assert.equal(onDir.status, 422, onDir.body.toString());
  assert.equal(json(onDir).error.code, 'ERR_TRANSFER_REMOTE');
  assert.match(json(onDir).error.message, /cannot overwrite directory/);
  const noParent = await request(gateway, 'PUT', filePath('demo', { path: `${dir}/none/f` }), { body: Readable.from([Buffer.from('x')]) });
  assert.equal(noParent.status, 422, noParent.body.toString());
  assert.match(json(noParent).error.message, /Directory nonexistent|No such file or directory/);
  assert.deepEqual((await ls()).sort(), ['d', 'f', 'fifo', 'link'], 'no temp file left');
  assert.deepEqual(await cluster.run({ target: 'demo', command: ['ls', '-A', `${dir}/d`] }).then((r) => r.stdout), '');

  // A link is followed; a Range this API does not serve is ignored.
  const viaLink = await request(gateway, 'GET', filePath('demo', { path: `${dir}/link` }), { headers: { range: 'bytes=0-1' } });
  assert.equal(viaLink.status, 200);
  assert.equal(viaLink.body.toString(), 'new!');
  assert.equal(viaLink.headers['content-disposition'], 'attachment; filename=link');
  assert.equal(viaLink.headers['content-range'], undefined);

  const fifo = await request(gateway, 'GET', filePath('demo', { path: `${dir}/fifo` }));
  assert.equal(fifo.status, 422);
  assert.equal(json(fifo).error.code, 'ERR_TRANSFER_UNSAFE');
});

test('transfer layer: uploadStream aborted by its signal removes the temp file; downloadStream writes from an offset', async () => {
  const { dir, ls } = await freshDir('slim', 'main');
  const controller = new AbortController();
  // A source that never ends: only the abort stops it.
  const endless = new Readable({
    read() {
      setTimeout(() => this.push(randomBytes(64 * 1024)), 5);
    },
  });
  const upload = uploadStream(cluster.client, endless, { pod: 'slim', path: `${dir}/never` }, { signal: controller.signal });
  upload.catch(() => {});
  await until('the temp file has bytes', async () => {
    const r = await cluster.run({ target: 'slim', command: ['sh', '-c', 'stat -c %s "$1"/.podshell-*.tmp', 'sh', dir] });
    return r.exitCode === 0 && Number(r.stdout) > 0;
  });
  controller.abort(new Error('changed my mind'));
  await assert.rejects(upload, /changed my mind/);
  assert.deepEqual(await ls(), []);
  assert.equal(endless.destroyed, false, 'the source is its owner\'s to end');
  endless.destroy();

  const data = randomBytes(200_000);
  const up = await uploadStream(cluster.client, Readable.from([data]), { pod: 'slim', path: `${dir}/d.bin` });
  assert.deepEqual(up, { path: `${dir}/d.bin`, size: data.length, sha256: sha256(data), verified: 'sha256' });
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  const prepared = await downloadStream(cluster.client, { pod: 'slim', path: `${dir}/d.bin` }, sink, { start: 150_000 });
  assert.equal(prepared.sha256, sha256(data));
  assert.ok(Buffer.concat(chunks).equals(data.subarray(150_000)));
});
