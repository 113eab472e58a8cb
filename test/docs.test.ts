// The examples in docs/api.md, run as written against a sandbox: documentation that cannot rot.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { run } from './helpers.ts';

const lib = new URL('../src/lib/index.ts', import.meta.url).pathname;
const node = process.execPath;
let sandbox: Sandbox;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-docs-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

const doc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
const examples = [...doc.matchAll(/```ts\n\/\/ example: (.*)\n([\s\S]*?)```/g)].map((m) => ({ name: m[1]!, code: m[2]! }));

/** What each example must print (a pattern), so a broken example fails. */
const expected: Record<string, RegExp> = {
  "stream a command's output": /^line 1\nline 2\nline 3\nexit code 0\n$/,
  'feed stdin, then end it (a v5 half-close: the command sees end of input)': /^12\n$/,
  'an interactive terminal of a given size, resized later': /40 120\r\n$/,
  'give up after a second': /^ERR_ABORTED\n$/,
  'run and collect': /^\{ stdout: 'web-[a-z0-9]+-[a-z0-9]{5}\\n', stderr: 'oops\\n', exitCode: 3 \}\n$/,
  'stdin from a string, output as bytes': /^2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  -\n\n$/,
  'copy a file in and out, verified': /^sha256 hello from the docs\n$/,
  "the server's own words": /^ERR_FORBIDDEN 403 pods "demo" is forbidden: User "viewer" cannot get resource "pods\/exec" in API group "" in the namespace "default"\n$/,
};

test('docs/api.md has the examples this test knows', () => {
  assert.deepEqual(examples.map((e) => e.name).sort(), Object.keys(expected).sort());
});

for (const example of examples) {
  test(`docs example: ${example.name}`, async () => {
    const file = join(work, `${example.name.replace(/\W+/g, '-')}.ts`);
    writeFileSync(file, example.code.replace("from 'podshell'", `from '${lib}'`));
    const r = await run(node, [file], { env: { ...process.env, KUBECONFIG: sandbox.kubeconfigPath } });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.match(r.stdout.toString(), expected[example.name]!);
  });
}

test('docs/errors.md lists every ERR_SANDBOX_* code the sandbox defines', () => {
  const errorsDoc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const listed = new Set([...errorsDoc.matchAll(/^\| `(ERR_[A-Z0-9_]+)`/gm)].map((m) => m[1]!));
  const dir = new URL('../src/sandbox/', import.meta.url);
  const defined = new Set<string>();
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
    for (const m of readFileSync(new URL(name, dir), 'utf8').matchAll(/'(ERR_SANDBOX_[A-Z0-9_]+)'/g)) defined.add(m[1]!);
  }
  assert.ok(defined.size >= 5, `found only ${[...defined].join(', ')}`);
  assert.deepEqual([...defined].filter((code) => !listed.has(code)).sort(), []);
});
