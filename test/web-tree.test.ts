// The page's pod tree follows the cluster live. The sandbox's objects never change, so the
// cluster here is an API server of the test's own (plain HTTP): it lists the pods, then sends
// watch events as the test says, and the tree in chromium shows each change.

import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { startWebWorld, waitInPage, type WebWorld } from './browser.ts';

let work: string;
let world: WebWorld;
let page: Page;
const watches: ServerResponse[] = [];
let closeApi: () => Promise<void>;

function pod(name: string, rv: string, state: Record<string, unknown> = { running: {} }, restarts = 0, ready = true): any {
  return {
    metadata: { name, namespace: 'ns', resourceVersion: rv, creationTimestamp: new Date(Date.now() - 3 * 60_000).toISOString() },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'main', ready, restartCount: restarts, state }] },
  };
}

const send = (type: string, object: unknown) => {
  for (const w of watches) if (!w.writableEnded) w.write(`${JSON.stringify({ type, object })}\n`);
};

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-web-tree-'));
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://fake');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/api/v1/namespaces') return json(200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [{ metadata: { name: 'ns' } }] });
    if (url.pathname !== '/api/v1/namespaces/ns/pods') return json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      watches.push(res);
      return;
    }
    json(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [pod('api-0', '5'), pod('worker-0', '6')] });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closeApi = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  const kubeconfig = join(work, 'kubeconfig');
  const port = (server.address() as { port: number }).port;
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'fake', user: { token: 'fake-token' } }],
      contexts: [
        { name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'ns' } },
        { name: 'fake-2', context: { cluster: 'fake', user: 'fake', namespace: 'ns' } },
      ],
    }),
    { mode: 0o600 },
  );
  world = await startWebWorld({ kubeconfig });
  page = await world.page();
});

after(async () => {
  await world?.close();
  await closeApi?.();
  rmSync(work, { recursive: true, force: true });
});

const row = (name: string) =>
  waitInPage(page, `the row of ${name}`, (n) => (globalThis as any).document.querySelector(`[role=treeitem][data-pod="${n}"] > .row .detail`)?.textContent ?? '', 20_000, name);

test('the tree shows each pod with status, ready, restarts and age, and follows the watch: a crash, a restart, a deletion, a new pod', async () => {
  await page.goto(`${world.base}/`);
  assert.equal(await row('api-0'), 'Running 1/1 ↻0 3m');
  assert.match((await page.getAttribute('[role=treeitem][data-pod="api-0"]', 'aria-label')) ?? '', /^pod api-0, Running, ready 1\/1, 0 restarts, age 3m$/);
  const deadline = Date.now() + 20_000;
  while (watches.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(watches.length > 0, 'the gateway watches the pods');

  // The main process of api-0 ends and the kubelet backs off: the tree says so.
  send('MODIFIED', pod('api-0', '11', { waiting: { reason: 'CrashLoopBackOff' } }, 1, false));
  await waitInPage(page, 'api-0 crashing', () => /^CrashLoopBackOff 0\/1 ↻1 /.test((globalThis as any).document.querySelector('[role=treeitem][data-pod="api-0"] > .row .detail')?.textContent ?? ''));
  send('MODIFIED', pod('api-0', '12', { running: {} }, 1, true));
  await waitInPage(page, 'api-0 running again', () => /^Running 1\/1 ↻1 /.test((globalThis as any).document.querySelector('[role=treeitem][data-pod="api-0"] > .row .detail')?.textContent ?? ''));
  send('DELETED', pod('worker-0', '13'));
  send('ADDED', pod('worker-1', '14'));
  await waitInPage(page, 'worker-0 gone, worker-1 there', () => {
    const d = (globalThis as any).document;
    return !d.querySelector('[role=treeitem][data-pod="worker-0"]') && !!d.querySelector('[role=treeitem][data-pod="worker-1"]');
  });
  assert.deepEqual(await page.$$eval('[role=treeitem].pod', (els) => els.map((e) => (e as any).dataset.pod)), ['api-0', 'worker-1']);
});

test('the gateway gone: what the page asks next says so in words', async () => {
  await world.gateway.close();
  // fake-2 was never expanded: expanding it asks the gateway for its namespaces.
  await page.locator('[role=treeitem][data-cluster="fake-2"] > .row .name').click();
  const message = await waitInPage(page, 'the message', () => (globalThis as any).document.querySelector('[role=treeitem][data-cluster="fake-2"] .tree-message')?.textContent ?? '');
  assert.match(message, new RegExp(`^Gateway unreachable: the gateway at ${new URL(world.base).host.replace(/\./g, '\\.')} cannot be reached`));
});
