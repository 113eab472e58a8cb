// The browser UI against the real sandbox: when demo's main process ends, the sandbox restarts it
// and the pod tree in chromium, following the gateway's pod watch, shows demo's restarts go from
// 0 to 1.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { startWebWorld, waitInPage, type WebWorld } from './browser.ts';
import { run, websocketKubectls } from './helpers.ts';

let world: WebWorld;
let page: Page;

before(async () => {
  world = await startWebWorld();
  page = await world.page();
});

after(async () => {
  await world?.close();
});

const demoDetail = () => (globalThis as any).document.querySelector('[role=treeitem][data-pod="demo"] > .row .detail')?.textContent ?? '';

test("demo's main process ends: the tree shows its restarts go from 0 to 1", async () => {
  await page.goto(`${world.base}/`);
  const first = await waitInPage(page, 'the row of demo', demoDetail, 30_000);
  assert.match(first, /^Running 1\/1 ↻0 /);

  const kubectl = websocketKubectls().at(-1)?.path ?? 'kubectl';
  // The kill comes from a background process a moment after the exec has ended: an exec still
  // running when the main process dies ends with it (137), as on a cluster, and `kill 1` itself
  // could lose that race on a loaded machine.
  const killed = await run(kubectl, ['--kubeconfig', world.sandbox!.kubeconfigPath, 'exec', 'demo', '--', 'sh', '-c', '(sleep 1; kill 1) >/dev/null 2>&1 &']);
  assert.equal(killed.stderr, '');
  assert.equal(killed.code, 0);

  // No reload: the page learns it from the watch.
  const restarted = await waitInPage(page, 'demo restarted', () => {
    const text = (globalThis as any).document.querySelector('[role=treeitem][data-pod="demo"] > .row .detail')?.textContent ?? '';
    return /^Running 1\/1 ↻1 /.test(text) ? text : '';
  }, 30_000);
  assert.match(restarted, /^Running 1\/1 ↻1 /);
  assert.match((await page.getAttribute('[role=treeitem][data-pod="demo"]', 'aria-label')) ?? '', /^pod demo, Running, ready 1\/1, 1 restart/);
});
