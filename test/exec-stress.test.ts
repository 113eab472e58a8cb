// Memory, backpressure and connection loss: the sandbox runs in its own process so that the
// test process's memory is the client's alone, and so that it can be stopped or killed.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Cluster } from '../src/lib/index.ts';
import { spawnSandbox, type SandboxProcess } from './helpers.ts';

const MiB = 1024 * 1024;
let work: string;
let sandbox: SandboxProcess;
let cluster: Cluster;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-stress-'));
  sandbox = await spawnSandbox(join(work, 'kubeconfig'));
  cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfig });
});
after(async () => {
  await sandbox?.stop();
  rmSync(work, { recursive: true, force: true });
});

// Streaming 64 MiB allocates hundreds of MiB of short-lived buffers (the test's random data,
// frames, TLS records). Collecting garbage while sampling makes RSS show what is *retained* —
// which backpressure must keep bounded — rather than how lazily the collector runs.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Peak RSS growth over `baseline` while `work` runs, sampled (after a collection) every 50 ms. */
async function peakRssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  gc();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => {
    gc();
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  try {
    const result = await work();
    gc();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, growth: peak - baseline };
  } finally {
    clearInterval(timer);
  }
}

function randomSource(total: number, hash: ReturnType<typeof createHash>): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const chunk = randomBytes(Math.min(256 * 1024, total - sent));
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
}

function hashSink(hash: ReturnType<typeof createHash>, delayPerMiB = 0): Writable & { bytes: number } {
  let bytes = 0;
  let sinceDelay = 0;
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      sink.bytes = bytes;
      sinceDelay += chunk.length;
      if (delayPerMiB && sinceDelay >= MiB) {
        sinceDelay -= MiB;
        setTimeout(callback, delayPerMiB);
      } else callback();
    },
  }) as Writable & { bytes: number };
  sink.bytes = 0;
  return sink;
}

test('64 MiB of random stdin comes back unchanged, with RSS growing by less than 64 MB', async (t) => {
  const { result, growth } = await peakRssGrowth(async () => {
    const inHash = createHash('sha256');
    const outHash = createHash('sha256');
    const session = cluster.exec({ target: 'demo', command: ['cat'], stdin: true });
    const sink = hashSink(outHash);
    await Promise.all([pipeline(randomSource(64 * MiB, inHash), session.stdin!), pipeline(session.stdout!, sink), session.exit]);
    return { in: inHash.digest('hex'), out: outHash.digest('hex'), bytes: sink.bytes };
  });
  t.diagnostic(`peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
  assert.equal(result.bytes, 64 * MiB);
  assert.equal(result.out, result.in);
  assert.ok(growth < 64 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
});

test('a consumer reading 1 MiB/s for 50 MiB keeps memory bounded and loses nothing', async (t) => {
  const prepared = await cluster.run({ target: 'demo', command: ['sh', '-c', 'head -c 52428800 /dev/urandom > /tmp/slow.bin && sha256sum /tmp/slow.bin'] });
  assert.equal(prepared.exitCode, 0, prepared.stderr);
  const expected = prepared.stdout.split(' ')[0];
  const { result, growth } = await peakRssGrowth(async () => {
    const hash = createHash('sha256');
    const session = cluster.exec({ target: 'demo', command: ['cat', '/tmp/slow.bin'] });
    const sink = hashSink(hash, 1000);
    // How full stdout's buffer got: proof that the reader really was the slower side.
    let peakBuffered = 0;
    const sampler = setInterval(() => (peakBuffered = Math.max(peakBuffered, session.stdout!.readableLength)), 10);
    try {
      await Promise.all([pipeline(session.stdout!, sink), session.exit]);
    } finally {
      clearInterval(sampler);
    }
    return { sha: hash.digest('hex'), bytes: sink.bytes, peakBuffered, highWater: session.stdout!.readableHighWaterMark };
  });
  t.diagnostic(`peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
  assert.equal(result.bytes, 50 * MiB);
  assert.equal(result.sha, expected);
  // Precondition of the bound: stdout's buffer filled, so podshell had to stop reading the socket.
  assert.ok(result.peakBuffered >= result.highWater, `stdout buffered at most ${result.peakBuffered} bytes`);
  assert.ok(growth < 24 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB while 50 MiB went by a slow reader`);
});

test('a server that stops answering rejects exit within the keepalive deadline', async () => {
  const session = cluster.exec({ target: 'demo', command: ['sh', '-c', 'while true; do echo tick; sleep 0.1; done'], keepalive: { intervalMs: 200, timeoutMs: 1500 } });
  let ticks = 0;
  session.stdout!.on('data', () => ticks++);
  await session.opened;
  // Precondition: the session really streams before the server stops.
  while (ticks < 2) await sleep(10);
  process.kill(sandbox.pid, 'SIGSTOP');
  const started = Date.now();
  try {
    await assert.rejects(session.exit, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CONNECTION_LOST');
      assert.match(err.message, /keepalive/);
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1500 + 1000, `rejected after ${elapsed} ms`);
  } finally {
    process.kill(sandbox.pid, 'SIGCONT');
  }
});

test('killing the server mid-stream rejects exit with ERR_CONNECTION_LOST, never a clean end', async () => {
  const session = cluster.exec({ target: 'demo', command: ['cat', '/dev/zero'], keepalive: { intervalMs: 200, timeoutMs: 1500 } });
  let bytes = 0;
  let ended = false;
  session.stdout!.on('data', (c: Buffer) => (bytes += c.length));
  session.stdout!.on('end', () => (ended = true));
  session.stdout!.on('error', () => {});
  await session.opened;
  while (bytes < 4 * MiB) await sleep(10);
  process.kill(sandbox.pid, 'SIGKILL');
  await assert.rejects(session.exit, { code: 'ERR_CONNECTION_LOST' });
  assert.equal(ended, false, 'stdout must not end cleanly when the stream was cut');
  // Bring a sandbox back for anything after this test.
  await sandbox.stop();
  sandbox = await spawnSandbox(join(work, 'kubeconfig'));
});
