import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { kubeconfigContexts } from './index.ts';

function files(t: { after(fn: () => void): void }, texts: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'podshell-contexts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return texts.map((text, i) => {
    const file = join(dir, `config-${i}`);
    writeFileSync(file, text);
    return file;
  });
}

const one = `
current-context: a
clusters:
- { name: c1, cluster: { server: "https://user:pw@one.example:6443" } }
users:
- { name: u, user: { token: t } }
contexts:
- { name: a, context: { cluster: c1, user: u, namespace: ns-a } }
- { name: shared, context: { cluster: c1, user: u } }
`;
const two = `
current-context: b
clusters:
- { name: c2, cluster: { server: "https://two.example" } }
users:
- { name: u, user: { token: t } }
contexts:
- { name: b, context: { cluster: c2, user: u, namespace: ns-b } }
- { name: shared, context: { cluster: c2, user: u, namespace: from-two } }
- { name: lost, context: { cluster: missing, user: u } }
`;

test('every context of KUBECONFIG files, merged as kubectl merges them: the first file wins', (t) => {
  const [a, b] = files(t, [one, two]);
  assert.deepEqual(kubeconfigContexts(undefined, { KUBECONFIG: [a, b].join(delimiter) }), [
    { name: 'a', server: 'https://one.example:6443', namespace: 'ns-a', current: true },
    { name: 'shared', server: 'https://one.example:6443', namespace: 'default', current: false },
    { name: 'b', server: 'https://two.example', namespace: 'ns-b', current: false },
    { name: 'lost', server: '', namespace: 'default', current: false },
  ]);
});

test('a path given explicitly is read alone; ~/.kube/config is the default', (t) => {
  const [a, b] = files(t, [one, two]);
  assert.deepEqual(
    kubeconfigContexts(b, { KUBECONFIG: a }).map((c) => [c.name, c.current]),
    [['b', true], ['shared', false], ['lost', false]],
  );
  const home = mkdtempSync(join(tmpdir(), 'podshell-home-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  assert.throws(() => kubeconfigContexts(undefined, { HOME: home }), { code: 'ERR_KUBECONFIG', message: `cannot read kubeconfig ${join(home, '.kube', 'config')}: no such file` });
});
