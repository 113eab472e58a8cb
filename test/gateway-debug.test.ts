// Debug containers through the gateway (docs/web.md, "Debug containers"): POST /api/sessions with
// `debug` starts a shell in a new ephemeral container sharing the target container's processes,
// the pod's summary lists it, the audit log has it as its own action; the body is checked strictly,
// and a person the cluster does not let add ephemeral containers gets the cluster's refusal.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuditLog } from '../src/gateway/audit.ts';
import { KubeconfigClusters } from '../src/gateway/clusters.ts';
import { registerSessionRoutes } from '../src/gateway/routes-sessions.ts';
import { SessionManager } from '../src/gateway/sessions.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import { pollUntil, startWorldSandbox } from './helpers.ts';
import { startTestGateway, type TestGateway } from './gateway-client.ts';
import { noMetrics, startHarness, testDefaults } from './gateway-harness.ts';
import { StreamClient, until } from './gateway-stream-client.ts';

// The group dev of the built-in world (exec and attach in default, no ephemeral containers), as the gateway names it.
const BINDINGS = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: podshell-dev, namespace: default }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: dev }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:dev" }]
`;

let sandbox: Sandbox;
let work: string;
let gw: TestGateway;
const auditFile = () => join(work, 'audit.jsonl');

before(async () => {
  ({ sandbox, work } = await startWorldSandbox('podshell-gdebug-', { bindings: BINDINGS }));
  gw = await startTestGateway({ kubeconfig: sandbox.kubeconfigPath, config: { auditLog: auditFile() } });
});
after(async () => {
  await gw?.close();
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

function auditLines(file = auditFile()): Record<string, any>[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>) : [];
}

async function create(client: { fetch(path: string, init?: RequestInit): Promise<Response> }, body: unknown, headers: Record<string, string> = {}) {
  const res = await client.fetch('/api/sessions', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const distroless = { cluster: 'podshell-sandbox', namespace: 'default', pod: 'distroless', container: 'app', cols: 100, rows: 30 };

describe('the body', () => {
  test('debug is an object without unknown keys, its image an image reference', async () => {
    for (const [body, message] of [
      [{ ...distroless, debug: { image: 'busybox latest' } }, /must match pattern/],
      [{ ...distroless, debug: { image: '' } }, /must NOT have fewer than 1 characters/],
      [{ ...distroless, debug: { privileged: true } }, /must NOT have additional properties/],
      [{ ...distroless, debug: 'busybox' }, /must be object/],
    ] as const) {
      const { status, body: answer } = await create(gw, body);
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(answer['error'].code, 'ERR_GATEWAY_BAD_REQUEST');
      assert.match(answer['error'].message, message);
    }
  });
});

describe('a shell in a debug container', () => {
  test('distroless/app has no shell; with debug the shell runs beside it, sees its processes, and the pod lists the container', async () => {
    const refused = await create(gw, distroless);
    assert.equal(refused.status, 422);
    assert.equal(refused.body['error'].code, 'ERR_GATEWAY_NO_SHELL');

    const { status, body } = await create(gw, { ...distroless, debug: {} });
    assert.equal(status, 201, JSON.stringify(body));
    assert.match(body['container'], /^debugger-[a-z0-9]{5}$/);
    const client = new StreamClient(gw.websocket(`/api/sessions/${body['id']}/stream`));
    await until('joined', () => client.joinedInfo !== null);
    // distroless/app runs /pause: the debug container sees that process (a shared process namespace),
    // and its files are under /proc/PID/root. The markers are computed, so the echo of the typed
    // line does not match them.
    client.type('echo dbg-$((6*7)); p=$(pgrep -f "^/pause" | head -n1); test -n "$p" && echo seen-$((40+2)); test -e /proc/$p/root/pause && echo root-$((40+2))\r');
    await until('the answers', () => /dbg-42/.test(client.text()) && /seen-42/.test(client.text()) && /root-42/.test(client.text())).catch((err) => { throw new Error(`${err.message}: ${JSON.stringify(client.text())}`); });

    const summary = (await (await gw.fetch('/api/clusters/podshell-sandbox/namespaces/default/pods/distroless')).json()) as Record<string, any>;
    const ephemeral = summary['containers'].find((c: any) => c.name === body['container']);
    assert.deepEqual(ephemeral, { name: body['container'], ready: false, state: 'running', image: 'busybox:1.36', ephemeral: true, target: 'app' });
    assert.equal(summary['defaultContainer'], 'app');

    client.type('exit\r');
    await until('the exit', () => client.exitInfo !== null);
    // Without a container: the pod's default one is the target.
    const byDefault = await create(gw, { ...distroless, container: undefined, debug: {} });
    assert.equal(byDefault.status, 201, JSON.stringify(byDefault.body));
    await gw.fetch(`/api/sessions/${byDefault.body['id']}`, { method: 'DELETE' });
    // The session's end closes the container's stdin (stdinOnce), so its shell ends too.
    const ended = await pollUntil(async () => {
      const pod = (await (await gw.fetch('/api/clusters/podshell-sandbox/namespaces/default/pods/distroless')).json()) as Record<string, any>;
      return pod['containers'].find((c: any) => c.name === byDefault.body['container'])?.state === 'terminated';
    }, 30_000);
    assert.ok(ended, 'the debug container ends with its session');
    const defaulted = auditLines().find((l) => l['event'] === 'debug.start' && l['sessionId'] === byDefault.body['id'])!;
    assert.equal(defaulted['debug'].targetContainer, 'app');
    const lines = auditLines().filter((l) => l['sessionId'] === body['id']);
    assert.deepEqual(lines.map((l) => l['event']), ['debug.start', 'session.start', 'session.end']);
    for (const l of lines) {
      assert.deepEqual(l['debug'], { image: 'busybox:1.36', targetContainer: 'app', container: body['container'] });
      assert.equal(l['container'], body['container']);
    }
  });

  test('a person the cluster does not let add ephemeral containers gets its refusal, audited as a denial', async (t) => {
    const file = join(work, 'team-audit.jsonl');
    const audit = new AuditLog(file);
    const clusters = new KubeconfigClusters(sandbox.kubeconfigPath);
    const config = { ...testDefaults };
    const manager = new SessionManager({ config, clusters, metrics: noMetrics, shellReadyMs: 0, audit });
    const harness = await startHarness({ clusters, config, sessions: manager, register: (app, ctx) => registerSessionRoutes(app, ctx, manager) });
    t.after(async () => {
      await harness.close();
      audit.close();
    });
    const { status, body } = await create(harness, { ...distroless, debug: { image: 'busybox:1.36' } }, { 'x-test-user': 'alice', 'x-test-groups': 'dev' });
    assert.equal(status, 403, JSON.stringify(body));
    assert.equal(body['error'].code, 'ERR_FORBIDDEN');
    assert.match(body['error'].message, /^pods "distroless" is forbidden: User "podshell:alice" cannot patch resource "pods\/ephemeralcontainers" in API group "" in the namespace "default"/);
    const denied = auditLines(file).find((l) => l['event'] === 'session.denied')!;
    assert.equal(denied['user'], 'alice');
    assert.deepEqual(denied['debug'], { image: 'busybox:1.36', targetContainer: 'app' });
    assert.deepEqual(denied['reason'], body['error']);
  });
});
