// The "Start a debug container" button end to end: a headless chromium signed in to the real
// gateway in front of a sandbox. A shell on distroless/app (no shell in its image) is refused with
// the button; the button opens a shell in a new ephemeral container targeting app, where a typed
// command's output appears, and the tree lists that container as ephemeral.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { startWebWorld, waitInPage, type WebWorld } from './browser.ts';

let world: WebWorld;
let page: Page;

type Hook = { tabs(): Record<string, any>[]; bufferText(i?: number): string; app: any };
declare const window: { __podshell: Hook };
declare const document: any;

before(async () => {
  world = await startWebWorld();
  page = await world.page();
});
after(async () => {
  await world?.close();
});

test('distroless/app: the refusal offers a debug container, whose shell runs and which the tree shows', async () => {
  // The pod, not a container: the shell (and the debug container's target) is its default container.
  await page.goto(`${world.base}/?cluster=podshell-sandbox&namespace=default&pod=distroless`);
  const banner = await waitInPage(page, 'the refusal', () => {
    const tab = window.__podshell?.tabs()[0];
    return tab?.['state'] === 'failed' ? (tab['banner'] as string) : '';
  });
  assert.match(banner, /^No shell in this container: container "app" of pod "distroless" has no shell/);
  const button = page.locator('.panel:not([hidden]) .banner button', { hasText: 'Start a debug container' });
  await button.click();

  const tab = await waitInPage(page, 'a connected tab', () => {
    const t = window.__podshell.tabs()[0];
    return t?.['state'] === 'connected' ? t : undefined;
  }, 90_000);
  assert.match(tab['label'], /^distroless\/debugger-[a-z0-9]{5}$/);
  const container = (tab['label'] as string).split('/')[1]!;
  await page.evaluate(() => window.__podshell.app.active.term.focus());
  await page.keyboard.type('echo dbg-$((6*7))\n');
  await waitInPage(page, 'dbg-42 on screen', () => /^dbg-42$/m.test(window.__podshell.bufferText(0)));

  // The tree: pod distroless lists the debug container, marked ephemeral, running, targeting app.
  await page.locator('[role=treeitem][data-pod="distroless"]:not([data-container]) > .row .twisty').click();
  const detail = await waitInPage(
    page,
    'the ephemeral container in the tree',
    (name) => {
      const el = document.querySelector(`[role=treeitem][data-pod="distroless"][data-container="${name}"][data-ephemeral="true"] > .row`);
      return el ? `${el.querySelector('.name').textContent} ${el.querySelector('.detail').textContent}` : '';
    },
    30_000,
    container,
  );
  assert.equal(detail, `${container} · ephemeral · running · target app`);
  assert.deepEqual(world.consoleErrors.filter((m) => !/Failed to load resource: the server responded with a status of 422/.test(m)), []);
});
