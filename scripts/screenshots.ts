// The screenshots of docs/web.md, "The page": one command starts a sandbox and the gateway, drives
// a headless chromium (Debian's /usr/bin/chromium) through the browser UI and writes
// docs/images/{tree,shell,tabs,upload,broadcast}.png (or into DIR when given; the test suite runs it
// so into a temporary folder, so the script is known to work in every run).
//
//   node scripts/screenshots.ts [DIR]

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { startWebWorld, waitInPage } from '../test/browser.ts';

const images = process.argv[2] ?? fileURLToPath(new URL('../docs/images/', import.meta.url));
declare const window: { __podshell: { tabs(): { state: string }[]; bufferText(i?: number): string; lastUpload(): unknown; app: any } };

async function connected(page: Page, count: number): Promise<void> {
  await waitInPage(page, `${count} connected tabs`, (n) => window.__podshell?.tabs().filter((t) => t.state === 'connected').length === n, 30_000, count);
}

async function typeAndWait(page: Page, text: string, expect: RegExp, tab?: number): Promise<void> {
  await page.evaluate(() => window.__podshell.app.active.term.focus());
  await page.keyboard.type(text);
  await waitInPage(page, `${expect}`, ([source, i]) => new RegExp(source, 'm').test(window.__podshell.bufferText(i ?? undefined)), 30_000, [expect.source, tab ?? null] as const);
}

const shot = async (page: Page, name: string) => {
  await page.waitForTimeout(300); // let xterm paint its last frame
  await page.screenshot({ path: join(images, `${name}.png`) });
  console.log(`wrote ${join(images, `${name}.png`)}`);
};

const world = await startWebWorld({ viewport: { width: 1200, height: 680 } });
try {
  const base = world.base;
  const { pods } = (await (await fetch(`${base}/api/clusters/podshell-sandbox/namespaces/default/pods`, { headers: { cookie: await cookie() } })).json()) as { pods: { name: string }[] };
  const web = pods.map((p) => p.name).filter((n) => n.startsWith('web-'));

  // tree: the clusters, the default namespace's pods live, one pod opened to its containers.
  const page = await world.page();
  await page.goto(`${base}/`);
  await page.waitForSelector(`[role=treeitem][data-pod="${web[0]}"]`);
  await page.locator(`[role=treeitem][data-pod="${web[0]}"] > .row .twisty`).click();
  await page.waitForSelector(`[role=treeitem][data-container=sidecar]`);
  await page.locator(`[role=treeitem][data-pod=demo]`).focus();
  await shot(page, 'tree');

  // shell: a shell in demo (dark theme).
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${base}/?cluster=podshell-sandbox&namespace=default&pod=demo`);
  await connected(page, 1);
  await typeAndWait(page, 'echo $((6*7)); ls --color=always /; stty size\n', /^\d+ \d+$/);
  await shot(page, 'shell');

  // tabs: more shells, one per tab, labelled pod/container and cluster.
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`${base}/?cluster=podshell-sandbox&namespace=default&pod=${web[0]}&container=sidecar`);
  await connected(page, 2);
  await page.goto(`${base}/?cluster=podshell-sandbox-dev&namespace=default&pod=slim`);
  await connected(page, 3);
  await typeAndWait(page, 'hostname; id -un; cat /etc/os-release | head -2\n', /^PRETTY_NAME/m);
  await shot(page, 'tabs');

  // upload: a file dropped on the terminal, uploaded with its checksum.
  await page.keyboard.press('Alt+1');
  await page.evaluate(() => {
    const g = globalThis as any;
    const bytes = new Uint8Array(3 * 1024 * 1024);
    for (let at = 0; at < bytes.length; at += 65536) g.crypto.getRandomValues(bytes.subarray(at, at + 65536));
    const transfer = new g.DataTransfer();
    transfer.items.add(new g.File([bytes], 'report.bin'));
    const screen = g.document.querySelector('.panel:not([hidden]) .screen');
    screen.dispatchEvent(new g.DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  });
  await page.click('#upload-form button[type=submit]');
  await waitInPage(page, 'the upload', () => window.__podshell.lastUpload(), 60_000);
  await typeAndWait(page, 'ls -l /tmp/report.bin; sha256sum /tmp/report.bin\n', /^[0-9a-f]{64}\s+\/tmp\/report\.bin$/);
  await shot(page, 'upload');

  // broadcast: two web pods, one command typed once.
  const b = await world.page();
  await b.goto(`${base}/?cluster=podshell-sandbox&namespace=default&pod=${web[1]}`);
  await connected(b, 1);
  await b.goto(`${base}/?cluster=podshell-sandbox&namespace=default&pod=${web[2]}`);
  await connected(b, 2);
  await b.check('#broadcast');
  await typeAndWait(b, 'echo "$(hostname): $(date -u +%H:%M:%S)"\n', new RegExp(`^${web[2]}: `), 1);
  await shot(b, 'broadcast');
} finally {
  await world.close();
}

async function cookie(): Promise<string> {
  const state = await world.context.storageState();
  return state.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
}
