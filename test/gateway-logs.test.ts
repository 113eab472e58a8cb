// The logs route (docs/web.md, "Logs") through the real gateway against a real sandbox: its bytes
// equal the machine's kubectl `logs` for the same container, a followed log delivers a line written
// after it opened and ends at the time limit, downloads are named, bad names and parameters are
// refused before any request reaches the cluster, a user without pods/log gets the cluster's
// refusal, and every read is audited.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cluster } from '../src/lib/cluster.ts';
import type { Sandbox } from '../src/sandbox/server.ts';
import { AuditLog } from '../src/gateway/audit.ts';
import { KubeconfigClusters } from '../src/gateway/clusters.ts';
import { registerLogRoutes } from '../src/gateway/routes-logs.ts';
import { startTestGateway, type TestGateway } from './gateway-client.ts';
import { startHarness } from './gateway-harness.ts';
import { pollUntil, run, startWorldSandbox } from './helpers.ts';

// A group that may read pods but not their logs, as the gateway names it when it acts as a person.
const BINDINGS = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: pods-only }
rules:
  - { apiGroups: [""], resources: [pods], verbs: [get, list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: podshell-pods-only }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pods-only }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:pods-only" }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: podshell-viewer }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:viewer" }]
`;

// A pod that writes its log without end, about 1 MiB a second (for the backpressure test).
const CHATTY = `
apiVersion: v1
kind: Pod
metadata: { name: chatty, namespace: default }
spec:
  containers:
    - name: main
      image: podshell.dev/full:latest
      command: [sh, -c, 'while :; do head -c 65535 /dev/zero | tr "\\\\0" x; echo; sleep 0.05; done']
---
# A log with UTF-8 text that ends in the middle of a line (the container ends there).
apiVersion: v1
kind: Pod
metadata: { name: unfinished, namespace: default }
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: podshell.dev/full:latest
      command: [sh, -c, 'printf "grüße, 世界\\nno newline at the end"']
`;

let sandbox: Sandbox;
let work: string;
let gw: TestGateway;
let cluster: Cluster;
const auditFile = () => join(work, 'audit.jsonl');

before(async () => {
  ({ sandbox, work } = await startWorldSandbox('podshell-glogs-', { bindings: BINDINGS, chatty: CHATTY }));
  gw = await startTestGateway({ kubeconfig: sandbox.kubeconfigPath, config: { auditLog: auditFile() } });
  cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath, warn: () => {} });
});
after(async () => {
  await gw?.close();
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

const logsPath = (pod: string, query = '', clusterName = 'podshell-sandbox', namespace = 'default') => `/api/clusters/${clusterName}/namespaces/${namespace}/pods/${pod}/logs${query ? `?${query}` : ''}`;

function kubectl(args: string[]) {
  return run('kubectl', ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', join(work, 'kubectl-cache'), ...args]);
}

function auditLines(): Record<string, any>[] {
  const file = auditFile();
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>) : [];
}

/** Writes `line` to demo's main process, which echoes it to its log. */
async function writeToDemo(line: string): Promise<void> {
  const session = cluster.attach({ target: { pod: 'demo' }, namespace: 'default', container: 'main', stdin: true, stdout: false, stderr: false });
  await session.opened;
  session.stdin!.write(`${line}\n`);
  // Detach once the line is in the log: the attach itself ends, the pod's process goes on.
  await pollUntil(async () => (await kubectl(['logs', 'demo'])).stdout.toString().includes(line), 30_000);
  session.abort();
  await session.exit.catch(() => undefined);
}

describe('the log of a container', () => {
  test('its bytes are kubectl logs\' bytes: whole, with timestamps, the last lines, since', async () => {
    await writeToDemo('gateway-logs: a second line');
    for (const [query, args] of [
      ['container=main', ['logs', 'demo', '-c', 'main']],
      ['', ['logs', 'demo']],
      ['container=main&timestamps=true', ['logs', 'demo', '-c', 'main', '--timestamps']],
      ['container=main&tailLines=1', ['logs', 'demo', '-c', 'main', '--tail=1']],
      ['container=main&sinceSeconds=3600&timestamps=1', ['logs', 'demo', '-c', 'main', '--since=1h', '--timestamps']],
    ] as const) {
      const want = await kubectl([...args]);
      assert.equal(want.code, 0, want.stderr.toString());
      const res = await gw.fetch(logsPath('demo', query));
      assert.equal(res.status, 200, query);
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('content-disposition'), null);
      const got = Buffer.from(await res.arrayBuffer());
      assert.ok(got.length > 0, `${query}: some log`);
      assert.equal(got.toString('utf8'), want.stdout.toString('utf8'), `${query} vs kubectl ${args.join(' ')}`);
    }
    // UTF-8, and a last line without its newline: the same bytes too.
    assert.ok(await pollUntil(async () => (await kubectl(['logs', 'unfinished'])).stdout.toString().endsWith('at the end'), 30_000));
    const unfinished = Buffer.from(await (await gw.fetch(logsPath('unfinished'))).arrayBuffer());
    assert.equal(unfinished.toString(), 'grüße, 世界\nno newline at the end');
    assert.ok(unfinished.equals((await kubectl(['logs', 'unfinished'])).stdout));
    const stamped = await (await gw.fetch(logsPath('demo', 'timestamps=true'))).text();
    assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z podshell sandbox: pod demo is running$/m);
  });

  test('download=1 names the file', async () => {
    const res = await gw.fetch(logsPath('demo', 'container=main&download=1'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename=demo_main.log');
    assert.match(await res.text(), /^podshell sandbox: pod demo is running$/m);
  });

  test('follow: a line written after the answer started arrives on it', async () => {
    const control = new AbortController();
    const res = await gw.fetch(logsPath('demo', 'container=main&follow=true'), { signal: control.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (want: string) => {
      const deadline = Date.now() + 30_000;
      while (!text.includes(want) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
    };
    // Precondition: the log so far came first, and the line below is not in it yet.
    await readUntil('pod demo is running\n');
    const line = `followed-${Date.now()}`;
    assert.ok(!text.includes(line));
    const reading = readUntil(`${line}\n`);
    await writeToDemo(line);
    await reading;
    assert.ok(text.endsWith(`${line}\n`), `the followed answer got the line: ${JSON.stringify(text)}`);
    control.abort();
  });
});

describe('refusals', () => {
  test('bad names and parameters: 400 with the documented body, before the cluster is asked', async () => {
    for (const [path, code, message] of [
      [logsPath('Demo'), 'ERR_GATEWAY_BAD_NAME', /^invalid pod name "Demo"/],
      [logsPath('demo', '', 'podshell-sandbox', 'No_Such'), 'ERR_GATEWAY_BAD_NAME', /^invalid namespace name "No_Such"/],
      [logsPath('demo', 'container=Main'), 'ERR_GATEWAY_BAD_NAME', /^invalid container name "Main"/],
      [logsPath('demo', 'tailLines=-1'), 'ERR_GATEWAY_BAD_QUERY', /^the query parameter "tailLines" must be a whole number from 0 to 100000000, not "-1"$/],
      [logsPath('demo', 'sinceSeconds=0'), 'ERR_GATEWAY_BAD_QUERY', /^the query parameter "sinceSeconds" must be a whole number from 1 to/],
      [logsPath('demo', 'follow=yes'), 'ERR_GATEWAY_BAD_QUERY', /^the query parameter "follow" must be true or false \(or 1 or 0\), not "yes"$/],
      [logsPath('demo', 'follow=1&follow=0'), 'ERR_GATEWAY_BAD_QUERY', /^the query parameter "follow" must be given once$/],
      [logsPath('demo', 'previous=true'), 'ERR_GATEWAY_BAD_QUERY', /^unknown query parameter "previous": the known ones are container, follow, timestamps, tailLines, sinceSeconds, download$/],
    ] as const) {
      const res = await gw.fetch(path);
      const body = (await res.json()) as { error: { code: string; message: string; status: number } };
      assert.equal(res.status, 400, path);
      assert.deepEqual(Object.keys(body), ['error']);
      assert.equal(body.error.code, code, path);
      assert.equal(body.error.status, 400);
      assert.match(body.error.message, message, path);
    }
  });

  test('unknown cluster: 404; unknown pod: the cluster\'s 404', async () => {
    const unknownCluster = await gw.fetch(logsPath('demo', '', 'nope'));
    assert.equal(unknownCluster.status, 404);
    assert.equal(((await unknownCluster.json()) as any).error.code, 'ERR_GATEWAY_UNKNOWN_CLUSTER');
    const gone = await gw.fetch(logsPath('nosuchpod'));
    assert.equal(gone.status, 404);
    const goneBody = (await gone.json()) as any;
    assert.equal(goneBody.error.code, 'ERR_NOT_FOUND');
    assert.match(goneBody.error.message, /pods "nosuchpod" not found/);

  });

  test('as the signed-in user: a person whose groups may read pods but not their logs gets the cluster\'s 403; a viewer reads them', async (t) => {
    const audit = new AuditLog(join(work, 'team-audit.jsonl'));
    const clusters = new KubeconfigClusters(sandbox.kubeconfigPath);
    const harness = await startHarness({ clusters, config: { auditLog: join(work, 'team-audit.jsonl') }, register: (app, ctx) => registerLogRoutes(app, ctx, { audit }) });
    t.after(async () => {
      await harness.close();
      audit.close();
    });
    const as = (user: string, groups: string[]) => ({ headers: { 'x-test-user': user, 'x-test-groups': groups.join(',') } });

    const res = await harness.fetch(logsPath('demo', 'container=main'), as('carol', ['pods-only']));
    const body = (await res.json()) as any;
    assert.equal(res.status, 403);
    assert.equal(body.error.code, 'ERR_FORBIDDEN');
    assert.equal(body.error.message, 'pods "demo" is forbidden: User "podshell:carol" cannot get resource "pods/log" in API group "" in the namespace "default"');
    // kubectl, impersonating the same person, prints the same sentence after its own prefix.
    const theirs = await kubectl(['--as', 'podshell:carol', '--as-group', 'podshell:pods-only', 'logs', 'demo', '-c', 'main']);
    assert.notEqual(theirs.code, 0);
    assert.equal(theirs.stderr.trim(), `Error from server (Forbidden): ${body.error.message}`);

    const viewer = await harness.fetch(logsPath('demo', 'container=main'), as('dave', ['viewer']));
    assert.equal(viewer.status, 200);
    assert.equal(await viewer.text(), (await kubectl(['logs', 'demo', '-c', 'main'])).stdout.toString());

    const lines = readFileSync(join(work, 'team-audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    const denied = lines.find((l) => l['event'] === 'logs.denied')!;
    assert.equal(denied['user'], 'carol');
    assert.deepEqual(denied['groups'], ['pods-only']);
    assert.deepEqual(denied['reason'], body.error);
    assert.ok(lines.some((l) => l['event'] === 'logs.start' && l['user'] === 'dave'));
  });
});

describe('the audit log', () => {
  test('a read writes logs.start and logs.end with what it asked and how many bytes went out', async () => {
    const before_ = auditLines().length;
    const res = await gw.fetch(logsPath('demo', 'container=main&timestamps=1&tailLines=5'));
    const bytes = Buffer.from(await res.arrayBuffer()).length;
    assert.ok(await pollUntil(() => auditLines().slice(before_).some((l) => l['event'] === 'logs.end'), 20_000), 'a logs.end line');
    const lines = auditLines().slice(before_);
    const start = lines.find((l) => l['event'] === 'logs.start')!;
    const end = lines.find((l) => l['event'] === 'logs.end')!;
    for (const l of [start, end]) {
      assert.equal(l['cluster'], 'podshell-sandbox');
      assert.equal(l['pod'], 'demo');
      assert.equal(l['container'], 'main');
      assert.equal(l['sessionId'], null);
      assert.deepEqual(l['logs'], { follow: false, timestamps: true, download: false, tailLines: 5 });
    }
    assert.equal(end['bytesOut'], bytes);
    assert.equal(start['ended'], null);
    assert.ok(end['ended']);
  });
});

describe('the time limit of a followed log', () => {
  test('a followed log ends cleanly after the maximum duration', async (t) => {
    const short = await startTestGateway({ kubeconfig: sandbox.kubeconfigPath, config: { maxDurationMs: 1000 } });
    t.after(() => short.close());
    const res = await short.fetch(logsPath('demo', 'container=main&follow=1'));
    assert.equal(res.status, 200);
    // The body completes (no error: the stream was ended, not cut) although the log is followed.
    const text = await res.text();
    assert.match(text, /^podshell sandbox: pod demo is running$/m);
  });
});

/** A TCP proxy that counts the bytes the server sent through it. */
async function countingProxy(targetPort: number): Promise<{ port: number; fromServer: () => number; close: () => Promise<void> }> {
  let fromServer = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (chunk: Buffer) => (fromServer += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    fromServer: () => fromServer,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('backpressure', () => {
  test('a client that does not read pauses the gateway\'s read from the cluster; reading again resumes it', async (t) => {
    // The gateway reaches the sandbox through a proxy that counts what the sandbox sent.
    const proxy = await countingProxy(Number(new URL(sandbox.url).port));
    t.after(() => proxy.close());
    const kubeconfig = join(work, 'proxied-kubeconfig');
    writeFileSync(kubeconfig, readFileSync(sandbox.kubeconfigPath, 'utf8').replaceAll(sandbox.url, `https://127.0.0.1:${proxy.port}`));
    const proxied = await startTestGateway({ kubeconfig });
    t.after(() => proxied.close());
    assert.ok(await pollUntil(async () => (await kubectl(['logs', 'chatty', '--tail=1'])).stdout.length > 60_000, 60_000), 'chatty logs');

    // A client that reads the answer's first bytes, then nothing (its socket paused: the kernel's
    // receive window fills, and the gateway's writes to it stop draining).
    const client = connect(Number(new URL(proxied.baseUrl).port), '127.0.0.1');
    t.after(() => client.destroy());
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      client.pause();
    };
    client.on('data', onData);
    client.write(`GET ${logsPath('chatty', 'container=main&follow=true&tailLines=1')} HTTP/1.1\r\nHost: ${new URL(proxied.baseUrl).host}\r\nCookie: ${proxied.cookie}\r\n\r\n`);
    assert.ok(await pollUntil(() => received > 0, 30_000), 'the answer started');

    // The pod writes on, but what the gateway takes from the cluster stops growing (2 s unchanged):
    // without backpressure it would grow by about a megabyte a second for as long as the pod writes.
    const plateau = async () => {
      let last = -1;
      let stable = 0;
      const deadline = Date.now() + 90_000;
      while (stable < 20 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        const now = proxy.fromServer();
        stable = now === last ? stable + 1 : 0;
        last = now;
      }
      assert.equal(stable, 20, `the bytes from the cluster stopped growing (at ${last})`);
      return last;
    };
    const paused = await plateau();
    // What sits between the pod and the paused client is the sockets' kernel buffers and a few of the gateway's chunks.
    assert.ok(paused < 96 * 1024 * 1024, `${paused} bytes came from the cluster`);

    // Reading again: the gateway reads from the cluster again.
    client.off('data', onData);
    client.on('data', (chunk: Buffer) => (received += chunk.length));
    client.resume();
    assert.ok(await pollUntil(() => proxy.fromServer() > paused + 4 * 1024 * 1024, 60_000), 'the read from the cluster resumed');
    client.destroy();
  });
});
