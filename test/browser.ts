// Browser tests' helper: the built UI (built first when dist/web is missing or older than src/web),
// a headless Debian chromium driven by playwright-core (never a downloaded browser), and a sandbox
// with the real gateway in front of it, signed in the way a user signs in: the page opens the
// printed login URL.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ensureWebBuilt } from '../scripts/build-web.ts';
import { startGateway, type Gateway, type GatewayOptions } from '../src/gateway/server.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface WebWorld {
  /** The sandbox, unless the world serves a kubeconfig of the test's own. */
  sandbox: Sandbox | undefined;
  gateway: Gateway;
  browser: Browser;
  context: BrowserContext;
  /** The gateway's own URL (http://127.0.0.1:PORT). */
  base: string;
  /** Messages of the browser's console that are errors (CSP violations among them). */
  consoleErrors: string[];
  /** A new page of the signed-in context. */
  page(): Promise<Page>;
  close(): Promise<void>;
}

/** A sandbox (or the given kubeconfig's clusters), the gateway serving it, chromium signed in through the login URL. */
export async function startWebWorld(options: { gateway?: GatewayOptions; viewport?: { width: number; height: number }; kubeconfig?: string } = {}): Promise<WebWorld> {
  await ensureWebBuilt();
  const work = mkdtempSync(join(tmpdir(), 'podshell-web-ui-'));
  const closers: (() => Promise<unknown> | unknown)[] = [() => rmSync(work, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    let sandbox: Sandbox | undefined;
    if (options.kubeconfig === undefined) {
      const started = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
      closers.push(() => started.close());
      sandbox = started;
    }
    const gateway = await startGateway({ logger: false, kubeconfig: options.kubeconfig ?? join(work, 'kubeconfig'), ...options.gateway, config: { address: '127.0.0.1', port: 0, ...options.gateway?.config } });
    closers.push(() => gateway.close());
    const browser = await launchChromium();
    closers.push(() => browser.close());
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1200, height: 760 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gateway.url });
    const consoleErrors: string[] = [];
    const watch = (page: Page) => {
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    };
    context.on('page', watch);
    const first = await context.newPage();
    const login = await first.goto(gateway.loginUrl);
    if (!login?.ok()) throw new Error(`the login URL answered ${login?.status()}`);
    await first.close();
    return { sandbox, gateway, browser, context, base: gateway.url, consoleErrors, page: () => context.newPage(), close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Polls `fn` in the page until it returns a truthy value (or `timeoutMs` passes): returns that value. */
export async function waitInPage<T, A = undefined>(page: Page, what: string, fn: (arg: A) => T | Promise<T>, timeoutMs = 20_000, arg?: A): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    last = await page.evaluate(fn as unknown as (arg: unknown) => T, arg as unknown);
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)?.slice(0, 500)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
