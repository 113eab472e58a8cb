// The pictures in docs/web.md come from scripts/screenshots.ts: run it here (into a temporary
// folder) so a change that breaks the script, or a picture the docs name but the script no longer
// makes, fails the suite.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from './helpers.ts';

test('scripts/screenshots.ts makes every picture docs/web.md shows, at the page size', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podshell-shots-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = new URL('../scripts/screenshots.ts', import.meta.url).pathname;
  const r = await run(process.execPath, [script, dir]);
  assert.equal(r.code, 0, r.stderr);
  const doc = readFileSync(new URL('../docs/web.md', import.meta.url), 'utf8');
  const shown = [...doc.matchAll(/\]\(images\/([\w-]+\.png)\)/g)].map((m) => m[1]!).sort();
  assert.ok(shown.length >= 5, `docs/web.md shows ${shown.join(', ')}`);
  assert.deepEqual(readdirSync(dir).sort(), shown);
  for (const name of shown) {
    const png = readFileSync(join(dir, name));
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG', `${name} is a PNG`);
    // The IHDR chunk: width and height, big-endian, at bytes 16 and 20.
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1200, 680], `${name} has the page's size`);
  }
});
