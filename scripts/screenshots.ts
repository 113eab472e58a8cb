// The screenshots of docs/web.md, "The page": one command starts a sandbox and the gateway, drives
// a headless chromium (Debian's /usr/bin/chromium) through the browser UI and writes
// docs/images/{tree,shell,tabs,upload,broadcast,logs,debug}.png (or into DIR when given; the test suite runs it
// so into a temporary folder, so the script is known to work in every run).
//
//   node scripts/screenshots.ts [DIR]

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { Cluster } from '../src/lib/cluster.ts';
import { startWebWorld, waitInPage } from '../test/browser.ts';

const images = process.argv[2] ?? fileURLToPath(new URL('../docs/images/', import.meta.url));
declare const window: { __podshell: { tabs(): { state: string; banner: string }[]; bufferText(i?: number): string; logText(i?: number): string; logMatch(i?: number): string; lastUpload(): unknown; app: any } };

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

  // logs: demo/main's log (a service's lines, written to its main process, which echoes them to
  // its log), opened from the tree's logs button, with a search match highlighted.
  const lines = [
    'level=info msg="listening on :8080"',
    'level=info msg="GET /api/orders 200" duration=12ms',
    'level=info msg="GET /api/orders/41 200" duration=9ms',
    'level=error msg="GET /api/orders/42 500: database timeout after 5s" duration=5003ms',
    'level=info msg="GET /healthz 200" duration=1ms',
    'level=info msg="POST /api/orders 201" duration=31ms',
  ];
  const l = await world.page();
  await l.goto(`${base}/`);
  await l.locator('[role=treeitem][data-pod="demo"]:not([data-container]) > .row .twisty').click();
  await l.locator('[role=treeitem][data-container="main"][data-pod="demo"] > .row .logs-button').click();
  await waitInPage(l, 'following', () => window.__podshell?.tabs()[0]?.state === 'connected', 30_000);
  await writeToDemo(lines.join('\n'), () => waitInPage(l, 'the lines', (last) => window.__podshell.logText().includes(last), 30_000, lines[lines.length - 1]!));
  await l.locator('.panel.logs:not([hidden]) .log-find').fill('timeout');
  await waitInPage(l, 'the match', (line) => window.__podshell.logMatch() === line, 10_000, lines[3]!);
  await shot(l, 'logs');

  // debug: a shell on distroless (no shell in its image) offers a debug container.
  const d = await world.page();
  await d.goto(`${base}/?cluster=podshell-sandbox&namespace=default&pod=distroless`);
  await waitInPage(d, 'the offer', () => window.__podshell?.tabs()[0]?.state === 'failed', 30_000);
  await d.locator('.panel:not([hidden]) .banner button', { hasText: 'Start a debug container' }).waitFor();
  await shot(d, 'debug');
} finally {
  await world.close();
}

/** Writes `text` to demo's main process (attached as a client), which echoes it to its log; detaches once `arrived` resolves. */
async function writeToDemo(text: string, arrived: () => Promise<unknown>): Promise<void> {
  const cluster = Cluster.fromKubeconfig({ path: world.sandbox!.kubeconfigPath, warn: () => {} });
  const session = cluster.attach({ target: { pod: 'demo' }, namespace: 'default', container: 'main', stdin: true, stdout: false, stderr: false });
  try {
    await session.opened;
    session.stdin!.write(`${text}\n`);
    await arrived();
  } finally {
    session.abort();
    await session.exit.catch(() => undefined);
  }
}

async function cookie(): Promise<string> {
  const state = await world.context.storageState();
  return state.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
}
