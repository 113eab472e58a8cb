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
    assert.equal(gw.metrics.counts.joins >= 1, true);
    assert.ok(gw.metrics.counts.out >= c.received && gw.metrics.counts.in > 0);
    // Listed as exited for the grace period, then gone.
    await until('the exited session is gone after the grace period', () => gw.manager.peek(body.id) === undefined);
    assert.equal((await gw.fetch(`/api/sessions/${body.id}`)).status, 404);
    assert.equal(gw.metrics.counts.closed, gw.metrics.counts.opened - gw.manager.list('test').length);
  });
});
