// The layers' import direction (README, "What is here"), checked on the sources (the TypeScript project references
// enforce it at build time too: a wrong import fails `tsc -b`).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const src = new URL('../src/', import.meta.url).pathname;

/** Which layers each layer may import. */
const allowed: Record<string, string[]> = {
  protocol: [],
  kube: ['protocol'],
  exec: ['protocol', 'kube'],
  transfer: ['protocol', 'kube', 'exec'],
  lib: ['protocol', 'kube', 'exec', 'transfer'],
  cli: ['protocol', 'kube', 'exec', 'transfer', 'lib', 'gateway', 'sandbox'],
  gateway: ['protocol', 'kube', 'exec', 'transfer', 'lib'],
  web: ['protocol'],
  sandbox: ['protocol'],
};

test('each layer imports only the layers below it', () => {
  const violations: string[] = [];
  for (const layer of readdirSync(src)) {
    if (!(layer in allowed)) continue;
    for (const file of readdirSync(join(src, layer)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const text = readFileSync(join(src, layer, file), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]\.\.\/([a-z]+)\//g)) {
        if (!allowed[layer]!.includes(m[1]!)) violations.push(`src/${layer}/${file} imports ../${m[1]}/`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test('the protocol layer uses no Node or DOM API', () => {
  for (const file of readdirSync(join(src, 'protocol')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    const code = readFileSync(join(src, 'protocol', file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    assert.doesNotMatch(code, /from ['"]node:|\bBuffer\b|\bprocess\.|\bdocument\.|\bwindow\./, file);
  }
});
