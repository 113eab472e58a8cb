// Young-generation collections while sessions stream: none before turned on, one per 2 MiB
// moved after, and no `gc` global left behind for other contexts.

import assert from 'node:assert/strict';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { test } from 'node:test';
import { collectWhileStreaming, countMoved } from './collect.ts';

/** Minor collections seen while `fn` runs (entries arrive asynchronously: polled with a deadline). */
async function minorCollections(fn: () => void, atLeast: number): Promise<number> {
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) count++;
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    fn();
    const deadline = Date.now() + 10_000;
    while (count < atLeast && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return count;
  } finally {
    observer.disconnect();
  }
}

test('off until turned on; then a young-generation collection per 2 MiB moved', async () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'run this test without --expose-gc');
  countMoved(64 * 1024 * 1024); // off: nothing happens, nothing is exposed
  collectWhileStreaming();
  countMoved(1024 * 1024);
  const seen = await minorCollections(() => {
    countMoved(1024 * 1024); // 2 MiB in all: one collection
    for (let i = 0; i < 4; i++) countMoved(2 * 1024 * 1024);
  }, 5);
  assert.ok(seen >= 5, `${seen} minor collections, expected at least 5`);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  assert.equal(runInNewContext('typeof gc'), 'undefined', 'new contexts get no gc global');
});

test('a longer interval, for consumers that hold chunks longer: still collects, once per interval', async () => {
  collectWhileStreaming(4 * 1024 * 1024);
  const seen = await minorCollections(() => {
    for (let i = 0; i < 6; i++) countMoved(4 * 1024 * 1024);
  }, 6);
  assert.ok(seen >= 6, `${seen} minor collections, expected at least 6`);
  collectWhileStreaming();
});
