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

test('the repository stands on its own: no comment or doc points at documents outside it', () => {
  const root = new URL('../', import.meta.url).pathname;
  const outside = new RegExp(['PROTOCOL', 'DESIGN', 'SECURITY', 'ANCHORS', 'STYLE'].map((n) => `\\b${n}\\.md`).join('|') + '|\\.\\./shared/');
  const found: string[] = [];
  const visit = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = join(dir, entry.name);
      if (entry.isDirectory()) visit(rel);
      else if (/\.(ts|js|md|sh|json|yaml)$/.test(entry.name)) {
        readFileSync(join(root, rel), 'utf8').split('\n').forEach((line, i) => {
          if (outside.test(line)) found.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
      }
    }
  };
  for (const dir of ['src', 'test', 'bench', 'docs', 'scripts', 'bin']) visit(dir);
  for (const file of readdirSync(root).filter((f) => f.endsWith('.md'))) {
    if (outside.test(readFileSync(join(root, file), 'utf8'))) found.push(file);
  }
  assert.deepEqual(found, []);
});

test('docs/errors.md lists exactly the codes a user can see', () => {
  const errorsDoc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const listed = new Set([...errorsDoc.matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]!));
  // Codes of Node.js or of an internal step that podshell matches on, never shown to a user as such
  // (a TLS name mismatch and a refused proxy tunnel both reach the user as ERR_CONNECT).
  const internal = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_PROXY_CONNECT']);
  const defined = new Set<string>();
  const visit = (dir: URL): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) visit(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        for (const m of readFileSync(new URL(entry.name, dir), 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]+)/g)) defined.add(m[1]!);
      }
    }
  };
  visit(new URL('../src/', import.meta.url));
  assert.ok(defined.size > 40, `found only ${defined.size} codes`);
  assert.deepEqual([...defined].filter((code) => !listed.has(code) && !internal.has(code)).sort(), [], 'defined in src/ but not in docs/errors.md');
  assert.deepEqual([...listed].filter((code) => !defined.has(code)).sort(), [], 'in docs/errors.md but defined nowhere in src/');
});
