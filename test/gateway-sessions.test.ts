// The gateway's sessions over real sockets against a real sandbox: the HTTP API, the stream's
// framing, sessions that outlive their socket, flow control, the limits and the close codes.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { GatewayConfig, GatewayMetrics } from '../src/gateway/context.ts';
import { registerSessionRoutes } from '../src/gateway/routes-sessions.ts';
import { SessionManager, type SessionManagerOptions } from '../src/gateway/sessions.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { kubeconfigClusters, startHarness, testDefaults } from './gateway-harness.ts';
import { StreamClient, until } from './gateway-stream-client.ts';

let sandbox: Sandbox;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-gsess-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

interface Counted extends GatewayMetrics {
  counts: { opened: number; closed: number; joins: number; in: number; out: number };
}

function countingMetrics(): Counted {
  const counts = { opened: 0, closed: 0, joins: 0, in: 0, out: 0 };
  return {
    counts,
    sessionOpened: () => void counts.opened++,
    sessionClosed: () => void counts.closed++,
    join: () => void counts.joins++,
    bytes: (direction, n) => void (counts[direction] += n),
    upgradeFailed: () => {},
  };
}

type Gateway = Awaited<ReturnType<typeof startGateway>>;

/** A harness server with the session routes, a manager with these limits, torn down by the test. */
async function startGateway(config: Partial<GatewayConfig> = {}, options: Partial<SessionManagerOptions> = {}) {
  const full = { ...testDefaults, ...config };
  const clusters = kubeconfigClusters(sandbox.kubeconfigPath, ['podshell-sandbox', 'podshell-sandbox-viewer']);
  const metrics = countingMetrics();
  const manager = new SessionManager({ config: full, clusters, metrics, ...options });
  const harness = await startHarness({ clusters, config, sessions: manager, register: (app, ctx) => registerSessionRoutes(app, ctx, manager) });
  const wsUrl = harness.baseUrl.replace('http', 'ws');
  return {
    ...harness,
    manager,
    metrics,
    /** POST /api/sessions; the JSON answer and status. */
    async create(body: Record<string, unknown>, principal?: string) {
      const res = await harness.fetch('/api/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(principal ? { 'x-test-principal': principal } : {}) },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    },
    /** Join a session's stream (as `principal`, default the harness's). */
    join(id: string, options: { resumeFrom?: number; autoAck?: boolean; principal?: string } = {}) {
      const socket = new WebSocket(`${wsUrl}/api/sessions/${id}/stream`, {
        origin: harness.baseUrl,
        headers: options.principal ? { 'x-test-principal': options.principal } : {},
      });
      return new StreamClient(socket, options);
    },
  };
}

const shell = { cluster: 'podshell-sandbox', namespace: 'default', pod: 'demo', cols: 80, rows: 24 };

/** A shell session joined by a client, with a prompt we can recognise. */
async function shellSession(gw: Gateway, client: { autoAck?: boolean } = {}) {
  const { status, body } = await gw.create(shell);
  assert.equal(status, 201, JSON.stringify(body));
  const c = gw.join(body.id, client);
  await c.joined;
  c.type("PS1='<p>''$ '\r");
  await until('the new prompt', () => c.text().includes('<p>$ '));
  return { id: body.id as string, c };
}

/** Host pids whose argv is exactly `argv` (the sandbox's processes are real host processes). */
function processesWith(argv: string[]): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1') === argv.join('\0') + '\0') found.push(Number(pid));
    } catch {}
  }
  return found;
}

describe('a shell session', () => {
  let gw: Gateway;
  before(async () => (gw = await startGateway({ graceMs: 1500 })));
  after(() => gw.close());

  test('echo $((6*7)) prints 42; resize reaches stty size; exit 3 ends with code 3', async () => {
    const { status, body } = await gw.create({ ...shell, cols: 91, rows: 27 });
    assert.equal(status, 201, JSON.stringify(body));
    assert.equal(body.pod, 'demo');
    assert.equal(body.container, 'main');
    assert.equal(body.state, 'running');
    assert.equal(body.tty, true);
    assert.deepEqual(body.command.slice(0, 2), ['sh', '-c']);
    const c = gw.join(body.id);
    const joined = await c.joined;
    assert.equal(joined.offset, 0);
    assert.equal(joined.skipped, 0);
    assert.equal(joined.session.id, body.id);
    c.type('echo $((6*7))\r');
    await until('42 printed', () => /\r42\r\n/.test(c.text()));
    c.type('echo $BASH_VERSION; stty size\r');
    await until('the first size', () => c.text().includes('27 91\r\n'));
    assert.match(c.text(), /\d+\.\d+\.\d+\(\d+\)-release\r\n27 91\r\n/, 'bash is the best shell demo has');
    c.resize(120, 40);
    c.type('stty size\r');
    await until('the size after the stream resize', () => c.text().includes('40 120\r\n'));
    const res = await gw.fetch(`/api/sessions/${body.id}/resize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cols: 100, rows: 30 }) });
    assert.equal(res.status, 204);
    c.type('stty size\r');
    await until('the size after the HTTP resize', () => c.text().includes('30 100\r\n'));
    const listed = (await (await gw.fetch('/api/sessions')).json()) as { sessions: Record<string, unknown>[] };
    const mine = listed.sessions.find((s) => s.id === body.id)!;
    assert.equal(mine.joined, true);
    assert.equal(mine.cols, 100);
    assert.ok((mine.produced as number) >= c.received);
    c.type('exit 3\r');
    const closed = await c.closed;
    assert.equal(closed.code, 1000);
    assert.deepEqual(c.exitInfo, { code: 3 });
    assert.deepEqual(c.problems, []);
    const after = (await (await gw.fetch(`/api/sessions/${body.id}`)).json()) as Record<string, unknown>;
    assert.equal(after.state, 'exited');
    assert.equal(after.exitCode, 3);
    assert.equal(after.joined, false);
    // A client that rejoins the exited session still sees its output and its end.
    const late = gw.join(body.id, { resumeFrom: 0 });
    assert.equal((await late.closed).code, 1000);
    assert.equal(late.joinedInfo?.session.state, 'exited');
    assert.equal(late.bytes().toString('latin1'), c.text());
    assert.deepEqual(late.exitInfo, { code: 3 });
    assert.equal(gw.metrics.counts.joins >= 1, true);
    assert.ok(gw.metrics.counts.out >= c.received && gw.metrics.counts.in > 0);
    // Listed as exited for the grace period, then gone.
    await until('the exited session is gone after the grace period', () => gw.manager.peek(body.id) === undefined);
    assert.equal((await gw.fetch(`/api/sessions/${body.id}`)).status, 404);
    assert.equal(gw.metrics.counts.closed, gw.metrics.counts.opened - gw.manager.list('test').length);
  });
});

describe('a session outlives its socket', () => {
  let gw: Gateway;
  before(async () => (gw = await startGateway({ graceMs: 1500 })));
  after(() => gw.close());

  test('output produced while away is replayed on rejoin; the shell kept its state; after the grace period its processes are gone', async () => {
    const { id, c } = await shellSession(gw);
    c.type('A=kept; (sleep 1; echo done-$((1+1))-while-away) &\r');
    await until('the background job started', () => /\[1\] \d+/.test(c.text()));
    await until('everything received is acked', () => c.acked === c.next && gw.manager.peek(id)!.stats().acked === c.next);
    const lastAcked = c.acked;
    await c.drop();
    await until('the session saw the client leave', () => !gw.manager.peek(id)!.joined);
    await until('output produced while away', () => gw.manager.peek(id)!.stats().produced > lastAcked + 'done-2-while-away'.length);
    const c2 = gw.join(id, { resumeFrom: lastAcked });
    const joined = await c2.joined;
    assert.equal(joined.offset, lastAcked);
    assert.equal(joined.skipped, 0);
    await until('the output produced while away arrives', () => c2.text().includes('done-2-while-away'));
    assert.ok(!c.text().includes('done-2-while-away'), 'the first client left before it was printed');
    c2.type('echo $A\r');
    await until('the shell kept its variable', () => /\rkept\r\n/.test(c2.text()));
    assert.deepEqual(c2.problems, []);

    // The session's process becomes `sleep MARK`; dropping the socket starts the grace period.
    const mark = String(42_000 + (process.pid % 1000));
    c2.type(`exec sleep ${mark}\r`);
    await until('the sleep runs in the sandbox', () => processesWith(['sleep', mark]).length === 1);
    await c2.drop();
    const left = Date.now();
    await until('the session ended after its grace period', () => gw.manager.peek(id) === undefined);
    assert.ok(Date.now() - left >= 1400, `ended ${Date.now() - left} ms after the client left, before the 1.5 s grace period`);
    await until('no process of the session remains', () => processesWith(['sleep', mark]).length === 0);
  });

  test('a second join takes over: the first socket is closed with 4001', async () => {
    const { id, c } = await shellSession(gw);
    const c2 = gw.join(id, { resumeFrom: c.next });
    await c2.joined;
    assert.equal((await c.closed).code, 4001);
    c2.type('echo $((7*6))\r');
    await until('the new client drives the shell', () => /\r42\r\n/.test(c2.text()));
    assert.equal(gw.manager.peek(id)!.joined, true);
    await gw.fetch(`/api/sessions/${id}`, { method: 'DELETE' });
  });

  test("another principal's session is unknown to it: 404 over HTTP, 4004 on the stream", async () => {
    const { id, c } = await shellSession(gw);
    const other = await gw.fetch(`/api/sessions/${id}`, { headers: { 'x-test-principal': 'someone-else' } });
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'ERR_GATEWAY_UNKNOWN_SESSION');
    const list = (await (await gw.fetch('/api/sessions', { headers: { 'x-test-principal': 'someone-else' } })).json()) as { sessions: unknown[] };
    assert.deepEqual(list.sessions, []);
    const del = await gw.fetch(`/api/sessions/${id}`, { method: 'DELETE', headers: { 'x-test-principal': 'someone-else' } });
    assert.equal(del.status, 404);
    const intruder = gw.join(id, { principal: 'someone-else' });
    assert.equal((await intruder.closed).code, 4004);
    assert.equal((await gw.join('no-such-session').closed).code, 4004);
    // The owner's client was not disturbed.
    c.type('echo still-mine\r');
    await until('the owner still drives it', () => /\rstill-mine\r\n/.test(c.text()));
    const res = await gw.fetch(`/api/sessions/${id}`, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal((await c.closed).code, 1000);
    assert.deepEqual(c.notices, [{ kind: 'ending', reason: 'ended' }]);
    assert.equal((await gw.fetch(`/api/sessions/${id}`)).status, 404);
  });
});

describe('flow control', () => {
  const highWater = 64 * 1024;
  let gw: Gateway;
  before(async () => (gw = await startGateway({ highWaterBytes: highWater, lowWaterBytes: 16 * 1024 })));
  after(() => gw.close());

  test('a flood (yes) with a slow client: reading pauses at high water, resumes losslessly on acks, Ctrl-C stops it fast', async () => {
    const { id, c } = await shellSession(gw, { autoAck: false });
    const session = gw.manager.peek(id)!;
    c.ack();
    c.type('yes\r');
    await until('reading paused for the unacknowledged output', () => session.stats().paused && session.stats().pauses >= 1);
    // While the client acks nothing, the session reads nothing more: the pause holds.
    const stalled = session.stats().produced;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const s = session.stats();
    assert.equal(s.produced, stalled, 'nothing more was read from the exec while unacknowledged');
    assert.ok(s.paused);
    assert.ok(s.maxUnacked >= highWater, `the flood reached high water (${s.maxUnacked})`);
    assert.ok(s.maxUnacked <= highWater + s.maxChunk, `buffered ${s.maxUnacked} > high water ${highWater} + one read ${s.maxChunk}`);
    assert.ok(c.next - c.acked <= highWater + s.maxChunk, `the client holds ${c.next - c.acked} unacknowledged bytes`);
    console.log(`flood: paused at ${s.maxUnacked} unacknowledged bytes (high water ${highWater}, largest read ${s.maxChunk})`);

    // Slow acks: each one lets a little more through.
    for (let i = 0; i < 5; i++) {
      await until('unacknowledged output at the client', () => c.next > c.acked);
      const before = session.stats().produced;
      c.ack();
      await until('more output read after an ack', () => session.stats().produced > before);
    }
    c.autoAck = true;
    c.ack();
    await until('2 MiB of the flood received', () => c.received > 2 * 1024 * 1024, 60_000);
    assert.deepEqual(c.problems, [], 'every output message followed the previous one');
    assert.ok(session.stats().maxUnacked <= highWater + session.stats().maxChunk);
    // Lossless: from its first line, the flood is an unbroken run of "y\r\n" (a terminal's newline).
    const text = c.text();
    const first = text.indexOf('\ry\r\n') + 1;
    assert.ok(first > 0);
    const whole = Math.floor((text.length - first) / 3) * 3;
    assert.ok(whole > 2_000_000);
    assert.ok(text.slice(first, first + whole) === 'y\r\n'.repeat(whole / 3), 'the flood arrived without a gap or a repeat');

    const before = c.received;
    const sent = performance.now();
    c.type('\x03');
    await until('the prompt after Ctrl-C', () => c.received > before && c.tail(64).endsWith('<p>$ '), 30_000);
    const stoppedMs = performance.now() - sent;
    console.log(`flood: Ctrl-C to prompt in ${stoppedMs.toFixed(0)} ms (${c.received - before} bytes of flood still delivered)`);
    assert.ok(stoppedMs < 5000, `Ctrl-C took ${stoppedMs} ms`);
    c.type('echo calm-$((2+3))\r');
    await until('the shell answers again', () => c.tail(64).includes('calm-5\r\n'));
  });
});

describe('an interrupt during a flood', () => {
  const highWater = 64 * 1024;
  let gw: Gateway;
  before(async () => (gw = await startGateway({ highWaterBytes: highWater, lowWaterBytes: 16 * 1024 })));
  after(() => gw.close());

  test('^C while the client is a window behind skips what was on its way; the client gets the tail and the prompt', async () => {
    const { id, c } = await shellSession(gw, { autoAck: false });
    const session = gw.manager.peek(id)!;
    c.ack();
    c.type('yes\r');
    // The situation being bounded: output backed up behind the pause (the library's buffer full —
    // its high-water mark is 256 KiB, four windows — and behind it the sockets toward the cluster).
    await until('output backed up behind the pause', () => session.stats().paused && session.stats().buffered >= 4 * highWater);
    const atCtrlC = session.stats();
    const receivedAtCtrlC = c.received;
    c.type('\x03');
    await until('the skip began', () => session.stats().skips === 1);
    c.autoAck = true;
    c.ack();
    await until('the prompt after ^C', () => c.tail(64).endsWith('<p>$ '), 30_000);
    const s = session.stats();
    const readDuringSkip = s.produced - atCtrlC.produced;
    const receivedAfter = c.received - receivedAtCtrlC;
    console.log(
      `interrupt: ${readDuringSkip} bytes read after ^C, ${s.skipped} skipped, ${receivedAfter} received by the client before its prompt`,
    );
    assert.equal(c.gaps.length, 1, 'one range was skipped');
    assert.equal(c.gaps[0]!.to - c.gaps[0]!.from, s.skipped);
    assert.ok(readDuringSkip >= atCtrlC.buffered, `the backlog of ${atCtrlC.buffered} bytes was read on (${readDuringSkip})`);
    // All of it but the tail (two screens, at most 64 KiB) and what the shell printed after it.
    assert.ok(s.skipped >= readDuringSkip - 64 * 1024 - 4096, `${s.skipped} of the ${readDuringSkip} bytes read after ^C were skipped`);
    assert.ok(readDuringSkip > receivedAfter, 'the client got less than was read after ^C');
    // The client draws at most the window it held, a tail of two screens (at most 64 KiB) and the prompt.
    assert.ok(receivedAfter <= highWater + s.maxChunk + 64 * 1024 + 4096, `the client received ${receivedAfter} bytes after ^C`);
    // The tail starts at a line: after the gap come whole lines of the flood, then the prompt.
    const afterGap = c.bytes().subarray(c.gaps[0]!.from - c.start).toString('latin1'); // (received bytes: the gap takes no room)
    assert.match(afterGap, /^(y\r\n)+(\^C\r\n)?[\s\S]*<p>\$ $/);
    // Afterwards the stream is whole again and the shell answers.
    const problemsBefore = c.problems.length;
    c.type('echo calm-$((2+3))\r');
    await until('the shell answers again', () => c.tail(64).includes('calm-5\r\n'));
    assert.equal(c.problems.length, problemsBefore, 'no further gap');
    assert.equal(session.stats().skips, 1);
  });

  test('^C while the client keeps up skips nothing', async () => {
    const { id, c } = await shellSession(gw);
    const session = gw.manager.peek(id)!;
    // One process in the foreground from the first line to the ^C (sh execs sleep): with `seq; sleep`
    // a ^C landing between the two went to seq's finished process group and was lost.
    c.type("sh -c 'seq 1 20000; exec sleep 30'\r");
    await until('the output arrived', () => c.text().includes('\r\n20000\r\n'));
    c.type('\x03');
    await until('the prompt after ^C', () => c.tail(64).endsWith('<p>$ '), 30_000);
    assert.deepEqual(c.problems, []);
    assert.equal(session.stats().skips, 0);
  });
});

describe('flow control without a client', () => {
  test('a paused flood whose client leaves is read on into the ring: the process never blocks', async (t) => {
    const gw = await startGateway({ highWaterBytes: 64 * 1024, lowWaterBytes: 16 * 1024, replayBufferBytes: 256 * 1024 });
    t.after(() => gw.close());
    const { id, c } = await shellSession(gw, { autoAck: false });
    const session = gw.manager.peek(id)!;
    c.ack();
    c.type('yes\r');
    await until('reading paused for the slow client', () => session.stats().paused);
    const lastAcked = c.acked;
    await c.drop();
    const atDrop = session.stats().produced;
    await until('the flood is read on with nobody joined', () => !session.stats().paused && session.stats().produced > atDrop + 4 * 1024 * 1024, 60_000);
    const res = await gw.fetch(`/api/sessions/${id}/signal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"signal":"INT"}' });
    assert.equal(res.status, 204);
    const c2 = gw.join(id, { resumeFrom: lastAcked });
    const joined = await c2.joined;
    assert.ok(joined.skipped > 4 * 1024 * 1024 - 256 * 1024, `skipped ${joined.skipped}`);
    await until('the prompt after the interrupted flood', () => c2.tail(8).endsWith('<p>$ '), 30_000);
    assert.deepEqual(c2.problems, []);
  });
});

describe('a tiny replay buffer', () => {
  const ring = 4096;
  let gw: Gateway;
  before(async () => (gw = await startGateway({ replayBufferBytes: ring })));
  after(() => gw.close());

  test('more output than it holds while away: joined.skipped > 0, output resumes at the oldest byte kept', async () => {
    const { id, c } = await shellSession(gw);
    c.type('sleep 1; seq 1 20000; echo seq-$((3*3))-done\r');
    await until('the command was echoed and acked', () => c.text().includes('seq-$((3*3))-done') && gw.manager.peek(id)!.stats().acked === c.next);
    const lastAcked = c.acked;
    await c.drop();
    const session = gw.manager.peek(id)!;
    await until('far more output than the ring holds, produced while away', () => session.stats().produced > lastAcked + 20 * ring && session.stats().oldest > lastAcked);
    await until('the command finished', () => session.stats().produced >= lastAcked + 128_894 + 'seq-9-done\r\n'.length);
    const oldest = session.stats().oldest;
    const c2 = gw.join(id, { resumeFrom: lastAcked });
    const joined = await c2.joined;
    assert.equal(joined.offset, oldest);
    assert.equal(joined.skipped, oldest - lastAcked);
    assert.ok(joined.skipped > 0);
    await until('the end of the output arrives', () => c2.text().includes('\r\nseq-9-done\r\n'));
    assert.equal(c2.start, oldest);
    assert.ok(c2.received <= ring + 100, `only the ring's bytes were replayed, then what came after (${c2.received})`);
    assert.match(c2.text(), /19999\r\n20000\r\nseq-9-done\r\n/);
    assert.deepEqual(c2.problems, []);
  });
});

describe('starting sessions: the shell, a command, and the errors', () => {
  let gw: Gateway;
  before(async () => (gw = await startGateway()));
  after(() => gw.close());

  test('a container with no shell: 422 ERR_GATEWAY_NO_SHELL naming what is missing and what would work', async () => {
    const { status, body } = await gw.create({ ...shell, pod: 'distroless' });
    assert.equal(status, 422);
    assert.equal(body.error.code, 'ERR_GATEWAY_NO_SHELL');
    assert.equal(body.error.status, 422);
    assert.match(body.error.message, /container "app" of pod "distroless" has no shell \(neither bash nor sh/);
    assert.ok(body.error.message.endsWith('kubectl debug -it distroless --image=busybox --target=app'), body.error.message);
    assert.equal(gw.manager.size, 0);
  });

  test('an explicit command runs as given', async () => {
    const { status, body } = await gw.create({ ...shell, command: ['sh', '-c', 'echo given-$((1+1)); read x; exit 5'] });
    assert.equal(status, 201);
    assert.deepEqual(body.command, ['sh', '-c', 'echo given-$((1+1)); read x; exit 5']);
    const c = gw.join(body.id);
    await until('its output', () => c.text().includes('given-2\r\n'));
    c.type('\r');
    assert.equal((await c.closed).code, 1000);
    assert.deepEqual(c.exitInfo, { code: 5 });
  });

  test('off a terminal: 8 MiB of input in 64 KiB messages, close-stdin, the count comes back', async () => {
    const { status, body } = await gw.create({ ...shell, tty: false, command: ['wc', '-c'] });
    assert.equal(status, 201);
    assert.equal(body.tty, false);
    const c = gw.join(body.id);
    await c.joined;
    const piece = Buffer.alloc(64 * 1024 - 1, 0x61);
    let typed = 0;
    while (typed < 8 * 1024 * 1024) {
      c.type(piece);
      typed += piece.length;
      // Let the socket drain now and then, as a browser's paste would.
      if (c.socket.bufferedAmount > 1024 * 1024) await until('the socket drained', () => c.socket.bufferedAmount < 256 * 1024);
    }
    c.closeStdin();
    assert.equal((await c.closed).code, 1000);
    assert.equal(c.text().trim(), String(typed));
    assert.deepEqual(c.exitInfo, { code: 0 });
  });

  test("the viewer may not exec: 403 with the API server's RBAC sentence", async () => {
    const { status, body } = await gw.create({ ...shell, cluster: 'podshell-sandbox-viewer' });
    assert.equal(status, 403);
    assert.deepEqual(body.error, {
      code: 'ERR_FORBIDDEN',
      message: 'pods "demo" is forbidden: User "viewer" cannot get resource "pods/exec" in API group "" in the namespace "default"',
      status: 403,
    });
  });

  test('an unknown pod is 404, an unknown cluster 404, a bad body 400 before any request', async () => {
    const pod = await gw.create({ ...shell, pod: 'nope' });
    assert.equal(pod.status, 404);
    assert.equal(pod.body.error.code, 'ERR_NOT_FOUND');
    assert.equal(pod.body.error.message, 'pods "nope" not found');
    const cluster = await gw.create({ ...shell, cluster: 'nope' });
    assert.equal(cluster.status, 404);
    assert.equal(cluster.body.error.code, 'ERR_GATEWAY_UNKNOWN_CLUSTER');
    for (const bad of [
      { ...shell, pod: 'Not_A_Name' },
      { ...shell, namespace: '../etc' },
      { ...shell, cols: 0 },
      { ...shell, rows: 65536 },
      { ...shell, cols: '80' },
      { ...shell, extra: true },
      { ...shell, command: [] },
      { cluster: 'podshell-sandbox', pod: 'demo' },
    ]) {
      const res = await gw.create(bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(res.body.error.code, 'ERR_GATEWAY_BAD_REQUEST');
    }
    const resize = await gw.fetch('/api/sessions/whatever/resize', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"cols":80,"rows":24,"x":1}' });
    assert.equal(resize.status, 400);
    const signal = await gw.fetch('/api/sessions/whatever/signal', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"signal":"KILL"}' });
    assert.equal(signal.status, 400);
    assert.equal(gw.manager.size, 0);
  });
});

describe('limits', () => {
  test('idle timeout: a warning notice first, then the session ends; input resets the clock', async (t) => {
    const gw = await startGateway({ idleTimeoutMs: 3000 }, { idleWarningMs: 1500 });
    t.after(() => gw.close());
    const { id, c } = await shellSession(gw);
    const started = Date.now();
    let lastInput = started;
    // Keep typing past the first timeout: input counts, output does not.
    while (Date.now() - started < 4000) {
      c.type(' \x7f');
      lastInput = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal(gw.manager.peek(id)?.state, 'running');
    await until('the idle warning', () => c.notices.length > 0);
    assert.deepEqual(c.notices[0], { kind: 'idle-warning', secondsLeft: 2 });
    const closed = await c.closed;
    assert.ok(Date.now() - lastInput >= 2900, `ended ${Date.now() - lastInput} ms after the last input`);
    assert.equal(closed.code, 1000);
    assert.deepEqual(c.notices, [{ kind: 'idle-warning', secondsLeft: 2 }, { kind: 'ending', reason: 'idle' }]);
    assert.equal(gw.manager.peek(id), undefined);
  });

  test('max duration ends a session whatever happens', async (t) => {
    const gw = await startGateway({ maxDurationMs: 2000 });
    t.after(() => gw.close());
    const { id, c } = await shellSession(gw);
    const closed = await c.closed;
    assert.equal(closed.code, 1000);
    assert.deepEqual(c.notices, [{ kind: 'ending', reason: 'max-duration' }]);
    assert.equal(gw.manager.peek(id), undefined);
    assert.equal(gw.metrics.counts.closed, 1);
  });

  test('the session cap: 429 ERR_GATEWAY_TOO_MANY_SESSIONS; ending one makes room', async (t) => {
    const gw = await startGateway({ maxSessions: 2 });
    t.after(() => gw.close());
    const a = await gw.create(shell);
    const b = await gw.create(shell);
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    const c = await gw.create(shell);
    assert.equal(c.status, 429);
    assert.equal(c.body.error.code, 'ERR_GATEWAY_TOO_MANY_SESSIONS');
    assert.equal((await gw.fetch(`/api/sessions/${a.body.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await gw.create(shell)).status, 201);
  });

  test('signal INT interrupts the foreground command; EOF ends the shell', async (t) => {
    const gw = await startGateway();
    t.after(() => gw.close());
    const { id, c } = await shellSession(gw);
    c.type('sleep 30; echo after-$((4+4))\r');
    await until('sleep started', () => c.text().includes('sleep 30; echo'));
    const post = (signal: string) => gw.fetch(`/api/sessions/${id}/signal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ signal }) });
    const started = Date.now();
    assert.equal((await post('INT')).status, 204);
    await until('the prompt is back', () => c.tail(8).endsWith('<p>$ '));
    assert.ok(Date.now() - started < 25_000);
    assert.ok(!c.text().includes('after-8'), '^C ended the whole command line');
    assert.equal((await post('EOF')).status, 204);
    assert.equal((await c.closed).code, 1000);
    assert.deepEqual(c.exitInfo, { code: 130 }, "the shell's last status: the interrupted sleep");
  });
});

describe('the stream refuses what is not the protocol', () => {
  let gw: Gateway;
  let id: string;
  before(async () => {
    gw = await startGateway({}, { resumeTimeoutMs: 800 });
    const { status, body } = await gw.create(shell);
    assert.equal(status, 201);
    id = body.id;
  });
  after(() => gw.close());

  /** A raw socket on the session's stream. */
  function raw(): { socket: WebSocket; closed: Promise<number>; messages: Buffer[] } {
    const socket = new WebSocket(`${gw.baseUrl.replace('http', 'ws')}/api/sessions/${id}/stream`, { origin: gw.baseUrl });
    const messages: Buffer[] = [];
    socket.on('message', (m: Buffer) => messages.push(m));
    socket.on('error', () => {});
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    return { socket, closed, messages };
  }
  const opened = (socket: WebSocket) => new Promise((resolve) => socket.once('open', resolve));

  test('no resume within the time allowed: 4000, and nothing was sent before', async () => {
    const { closed, messages } = raw();
    const started = Date.now();
    assert.equal(await closed, 4000);
    assert.ok(Date.now() - started >= 700);
    assert.equal(messages.length, 0);
  });

  test('a text message: 1003', async () => {
    const { socket, closed } = raw();
    await opened(socket);
    socket.send('hello');
    assert.equal(await closed, 1003);
  });

  test('malformed messages: 1008 (unknown type, wrong length, input before resume, ack beyond what was sent)', async () => {
    for (const bytes of [[0x05], [0x03, 0, 0], [0x00, 0x41], [0x01, 0, 80, 0, 24]]) {
      const { socket, closed } = raw();
      await opened(socket);
      socket.send(Buffer.from(bytes));
      assert.equal(await closed, 1008, JSON.stringify(bytes));
    }
    const c = gw.join(id, { autoAck: false });
    await c.joined;
    c.socket.send(Buffer.from([0x02, 0, 0, 0, 0x7f, 0, 0, 0, 0]));
    assert.equal((await c.closed).code, 1008);
  });

  test('a message larger than 64 KiB: 1009', async () => {
    const { socket, closed } = raw();
    await opened(socket);
    socket.send(Buffer.alloc(64 * 1024 + 1));
    assert.equal(await closed, 1009);
    // 64 KiB exactly is fine: an input message after resume.
    const c = gw.join(id);
    await c.joined;
    const big = Buffer.alloc(64 * 1024, 0x20);
    big[0] = 0x00;
    c.socket.send(big);
    c.type('\x15echo fits-$((8*8))\r');
    await until('the shell still answers', () => c.text().includes('fits-64\r\n'));
  });
});

describe('keepalive and shutdown', () => {
  test('a client that does not answer pings is dropped and the session enters its grace period', async (t) => {
    const gw = await startGateway({ pingIntervalMs: 300, graceMs: 1500 });
    t.after(() => gw.close());
    const { status, body } = await gw.create(shell);
    assert.equal(status, 201);
    const session = gw.manager.peek(body.id)!;
    // A client that answers pings stays.
    const c = gw.join(body.id);
    await c.joined;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(c.closeCode, null);
    assert.equal(session.joined, true);
    // One that does not is terminated after a ping went unanswered.
    const deaf = new StreamClient(new WebSocket(`${gw.baseUrl.replace('http', 'ws')}/api/sessions/${body.id}/stream`, { origin: gw.baseUrl, autoPong: false }), { resumeFrom: c.next });
    await deaf.joined;
    assert.equal((await c.closed).code, 4001);
    const joinedAt = Date.now();
    const closed = await deaf.closed;
    assert.equal(closed.code, 1006, 'terminated, no close frame');
    assert.ok(Date.now() - joinedAt >= 250, 'not before a ping went unanswered');
    await until('the session has no client', () => !session.joined);
    const dropped = Date.now();
    assert.equal(session.state, 'running');
    await until('the grace period ended the session', () => gw.manager.peek(body.id) === undefined);
    assert.ok(Date.now() - dropped >= 1300, `ended ${Date.now() - dropped} ms after the drop`);
  });

  test('closeAll tells every client the gateway is stopping and ends every session and its processes', async () => {
    const gw = await startGateway();
    const { id, c } = await shellSession(gw);
    const other = await gw.create(shell);
    const mark = String(43_000 + (process.pid % 1000));
    c.type(`sleep ${mark}\r`);
    await until('the sleep runs', () => processesWith(['sleep', mark]).length === 1);
    await gw.close();
    assert.equal((await c.closed).code, 1000);
    assert.deepEqual(c.notices, [{ kind: 'ending', reason: 'gateway-stopping' }]);
    assert.equal(gw.manager.peek(id), undefined);
    assert.equal(gw.manager.peek(other.body.id), undefined);
    assert.equal(gw.manager.size, 0);
    assert.equal(gw.metrics.counts.closed, 2);
    await until('no process of the sessions remains', () => processesWith(['sleep', mark]).length === 0);
  });

  test('the connection to the cluster lost mid-session: an error message, then the socket closes', async (t) => {
    const lonely = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig-lost') });
    t.after(() => lonely.close());
    const clusters = kubeconfigClusters(lonely.kubeconfigPath, ['podshell-sandbox']);
    const manager = new SessionManager({ config: testDefaults, clusters, metrics: countingMetrics() });
    const harness = await startHarness({ clusters, sessions: manager, register: (app, ctx) => registerSessionRoutes(app, ctx, manager) });
    t.after(() => harness.close());
    const res = await harness.fetch('/api/sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(shell) });
    const body = (await res.json()) as { id: string };
    assert.equal(res.status, 201);
    const c = new StreamClient(harness.websocket(`/api/sessions/${body.id}/stream`));
    await c.joined;
    await lonely.close();
    const closed = await c.closed;
    assert.equal(closed.code, 1000);
    assert.ok(c.errorInfo, `an error message came first (exit: ${JSON.stringify(c.exitInfo)})`);
    assert.equal(c.errorInfo.code, 'ERR_CONNECTION_LOST');
    assert.equal(c.errorInfo.status, 502);
    const after = (await (await harness.fetch(`/api/sessions/${body.id}`)).json()) as Record<string, unknown>;
    assert.equal(after.state, 'exited');
  });
});
