// The logs tab end to end: a headless chromium signed in to the real gateway in front of a sandbox.
// From the tree's "logs" button on demo/main: the log shows, a line written after opening arrives
// while following (demo's main process echoes what an attached client types: the test attaches
// with the library), find highlights it, Download saves the log's bytes, and the timestamps toggle
// brings RFC 3339 prefixes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Cluster } from '../src/lib/cluster.ts';
import { startWebWorld, waitInPage, type WebWorld } from './browser.ts';
import { pollUntil, run } from './helpers.ts';

let world: WebWorld;
let cluster: Cluster;
let page: Page;

type Hook = { tabs(): Record<string, any>[]; logText(i?: number): string; logMatch(i?: number): string; app: any };
declare const window: { __podshell: Hook };
declare const document: any;

before(async () => {
  world = await startWebWorld();
  cluster = Cluster.fromKubeconfig({ path: world.sandbox!.kubeconfigPath, warn: () => {} });
  page = await world.page();
});
after(async () => {
  await world?.close();
});

function kubectl(args: string[]) {
  return run('kubectl', ['--kubeconfig', world.sandbox!.kubeconfigPath, ...args]);
}

/** Writes `line` to demo's main process, which echoes it to its log. */
async function writeToDemo(line: string): Promise<void> {
  const session = cluster.attach({ target: { pod: 'demo' }, namespace: 'default', container: 'main', stdin: true, stdout: false, stderr: false });
  await session.opened;
  session.stdin!.write(`${line}\n`);
  await pollUntil(async () => (await kubectl(['logs', 'demo'])).stdout.toString().includes(line), 30_000);
  session.abort();
  await session.exit.catch(() => undefined);
}

const logMatches = (re: RegExp, timeoutMs = 30_000) =>
  waitInPage(
    page,
    `${re} in the log tab`,
    ([source, flags]) => {
      const text = window.__podshell?.logText() ?? '';
      return new RegExp(source, flags).test(text) ? text : '';
    },
    timeoutMs,
    [re.source, re.flags] as const,
  );

test('the logs tab of demo/main: the log, a line written while following, find, download, timestamps', async () => {
  await page.goto(`${world.base}/`);
  // The tree: open pod demo, then the "logs" button of its container main.
  await page.locator('[role=treeitem][data-pod="demo"]:not([data-container]) > .row .twisty').click();
  await page.locator('[role=treeitem][data-container="main"][data-pod="demo"] > .row .logs-button').click();
  await logMatches(/^podshell sandbox: pod demo is running$/m);
  const [tab] = await page.evaluate(() => window.__podshell.tabs());
  assert.equal(tab!['kind'], 'logs');
  assert.equal(tab!['label'], 'demo/main log');
  assert.equal(tab!['follow'], true);
  await waitInPage(page, 'following', () => window.__podshell.tabs()[0]?.['state'] === 'connected');

  // Following: a line written now arrives.
  const line = `web-logs-${Date.now()}`;
  assert.doesNotMatch(await page.evaluate(() => window.__podshell.logText()), new RegExp(line));
  await writeToDemo(line);
  await logMatches(new RegExp(`^${line}$`, 'm'));

  // Find: the line is highlighted and is the current match.
  await page.locator('.panel.logs:not([hidden]) .log-find').fill(line);
  await waitInPage(page, 'the match', (l) => window.__podshell.logMatch() === l, 10_000, line);
  assert.equal(await page.locator('.panel.logs:not([hidden]) .log-line.current mark').textContent(), line);
  assert.equal(await page.locator('.panel.logs:not([hidden]) .log-count').textContent(), '1 of 1');
  await page.locator('.panel.logs:not([hidden]) .log-find').fill('no-such-text-anywhere');
  assert.equal(await page.locator('.panel.logs:not([hidden]) .log-count').textContent(), 'no match');

  // Download: the file saved is the log's bytes, as kubectl prints them.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('.panel.logs:not([hidden]) .log-download').click()]);
  assert.equal(download.suggestedFilename(), 'demo_main.log');
  const saved = join(world.sandbox!.kubeconfigPath, '..', 'downloaded.log');
  await download.saveAs(saved);
  assert.equal(readFileSync(saved, 'utf8'), (await kubectl(['logs', 'demo', '-c', 'main'])).stdout.toString());

  // Timestamps: each line gets its RFC 3339 time.
  await page.locator('.panel.logs:not([hidden]) .log-bar input[type=checkbox] >> nth=1').check();
  const stamped = await logMatches(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z podshell sandbox: pod demo is running$/m);
  assert.match(stamped, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z ${line}$`, 'm'));

  // Follow off: the stream stops, the lines stay.
  await page.locator('.panel.logs:not([hidden]) .log-bar input[type=checkbox] >> nth=0').uncheck();
  await waitInPage(page, 'not following', () => window.__podshell.tabs()[0]?.['state'] === 'ended');
  assert.match(await page.evaluate(() => window.__podshell.logText()), new RegExp(line));
  assert.deepEqual(world.consoleErrors, []);
});

test('a container that is not there: the tab says so in the gateway\'s words', async () => {
  await page.goto(`${world.base}/`);
  await waitInPage(page, 'the page', () => window.__podshell !== undefined);
  await page.evaluate(() => window.__podshell.app.openLogs({ cluster: 'podshell-sandbox', namespace: 'default', pod: 'demo', container: 'nosuch' }));
  const status = await waitInPage(page, 'the failure', () => {
    const tabs = window.__podshell.tabs();
    const last = tabs[tabs.length - 1]!;
    return last['state'] === 'failed' ? (last['banner'] as string) : '';
  });
  assert.match(status, /container nosuch is not valid for pod demo|container "nosuch"/);
});

test('a flood of lines: the tab keeps the newest 10,000 and says how many left the page', async () => {
  await page.goto(`${world.base}/`);
  await waitInPage(page, 'the page', () => window.__podshell !== undefined);
  await page.evaluate(() => window.__podshell.app.openLogs({ cluster: 'podshell-sandbox', namespace: 'default', pod: 'demo', container: 'main' }));
  await logMatches(/^podshell sandbox: pod demo is running$/m);
  const at = (await page.evaluate(() => window.__podshell.tabs().length)) - 1;
  await waitInPage(page, 'following', (i) => window.__podshell.tabs()[i]?.['state'] === 'connected', 20_000, at);
  const count = 15_000;
  const lines = Array.from({ length: count }, (_, i) => `flood-${i}`);
  await writeToDemo(lines.join('\n'));
  await logMatches(new RegExp(`^flood-${count - 1}$`, 'm'), 60_000);
  const shown = (await page.evaluate(() => window.__podshell.logText())).split('\n');
  assert.equal(shown.length, 10_000);
  assert.equal(shown[shown.length - 1], `flood-${count - 1}`);
  assert.equal(shown[shown.length - 10_000], `flood-${count - 10_000}`);
  const dropped = Number(await page.locator('.panel.logs:not([hidden]) .log-lines').getAttribute('data-dropped'));
  assert.ok(dropped >= count - 10_000, `dropped ${dropped}`);
  assert.match((await page.locator('.panel.logs:not([hidden]) .log-lines').getAttribute('title')) ?? '', /older lines left the page \(it keeps 10000\); Download has the whole log/);
});

test('a reload brings the logs tab back, with its toggles, and reads the log again', async () => {
  // A page of its own: no tabs of the tests before to restore.
  page = await world.page();
  await page.goto(`${world.base}/`);
  await waitInPage(page, 'the page', () => window.__podshell !== undefined);
  // A line of this test's own (the tab shows the last 10,000 lines, and the flood above may have pushed the first ones out).
  const line = `reload-${Date.now()}`;
  await writeToDemo(line);
  await page.evaluate(() => window.__podshell.app.openLogs({ cluster: 'podshell-sandbox', namespace: 'default', pod: 'demo', container: 'main' }));
  await logMatches(new RegExp(`^${line}$`, 'm'));
  await page.locator('.panel.logs:not([hidden]) .log-bar input[type=checkbox] >> nth=1').check();
  const stamped = new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z ${line}$`, 'm');
  await logMatches(stamped);
  await page.locator('.panel.logs:not([hidden]) .log-bar input[type=checkbox] >> nth=0').uncheck();
  await page.reload();
  await waitInPage(page, 'the page', () => window.__podshell !== undefined);
  const tabs = await page.evaluate(() => window.__podshell.tabs());
  assert.equal(tabs.length, 1);
  assert.equal(tabs[0]!['kind'], 'logs');
  assert.equal(tabs[0]!['label'], 'demo/main log');
  assert.equal(tabs[0]!['follow'], false);
  assert.equal(tabs[0]!['timestamps'], true);
  await logMatches(stamped);
  await waitInPage(page, 'the end of the log', () => window.__podshell.tabs()[0]?.['banner'] === 'end of log');
});
