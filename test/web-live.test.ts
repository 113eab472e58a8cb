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
  const killed = await run(kubectl, ['--kubeconfig', world.sandbox!.kubeconfigPath, 'exec', 'demo', '--', 'kill', '1']);
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
