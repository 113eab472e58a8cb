import assert from 'node:assert/strict';
import test from 'node:test';
import { allSubprotocols, capabilitiesOf, chooseSubprotocol, NONE, parseOffer, V1, V1_BASE64, V4, V4_BASE64, V5 } from './subprotocol.ts';
import { buildStreamUrl, parseQueryBool, parseStreamQuery } from './request.ts';

test('only v5 can half-close; base64 protocols are text; v1-style write plain errors', () => {
  assert.deepEqual(
    allSubprotocols.map((p) => [p, capabilitiesOf(p)]),
    [
      [V5, { base64: false, statusJson: true, canHalfClose: true }],
      [V4, { base64: false, statusJson: true, canHalfClose: false }],
      [V4_BASE64, { base64: true, statusJson: true, canHalfClose: false }],
      [V1_BASE64, { base64: true, statusJson: false, canHalfClose: false }],
      [V1, { base64: false, statusJson: false, canHalfClose: false }],
      [NONE, { base64: false, statusJson: false, canHalfClose: false }],
    ],
  );
});

test('negotiation: client order wins, unknown names are skipped, no match is undefined', () => {
  const all = allSubprotocols;
  assert.equal(chooseSubprotocol(parseOffer('v4.channel.k8s.io, v5.channel.k8s.io'), all), V4);
  assert.equal(chooseSubprotocol(parseOffer('v3.channel.k8s.io,v2.channel.k8s.io,channel.k8s.io'), all), V1);
  assert.equal(chooseSubprotocol(parseOffer('v5.channel.k8s.io'), [V4]), undefined);
  assert.equal(chooseSubprotocol(parseOffer(undefined), all), NONE);
  assert.equal(chooseSubprotocol(parseOffer('v5.base64.channel.k8s.io'), all), undefined);
});

test('query booleans parse as Kubernetes does', () => {
  const table: [string | null, boolean][] = [[null, false], ['0', false], ['false', false], ['FALSE', false], ['', true], ['1', true], ['true', true], ['yes', true], ['no', true]];
  for (const [v, want] of table) assert.equal(parseQueryBool(v), want, String(v));
});

test('exec query: repeated command in order, container, flags', () => {
  const q = parseStreamQuery(new URLSearchParams('command=sh&command=-c&command=echo%20hi&container=main&stdout=1&stderr=&tty=false'), 'exec');
  assert.deepEqual(q, { kind: 'exec', command: ['sh', '-c', 'echo hi'], container: 'main', stdin: false, stdout: true, stderr: true, tty: false });
});

test('exec URL: wss, encoded segments, command repeated, kubectl key order', () => {
  const url = buildStreamUrl('https://127.0.0.1:6443/prefix/', {
    kind: 'exec', namespace: 'default', pod: 'we b', command: ['sh', '-c', 'echo a&b'], container: 'main', stdin: true, stdout: true, stderr: true, tty: false,
  });
  assert.equal(url.href, 'wss://127.0.0.1:6443/prefix/api/v1/namespaces/default/pods/we%20b/exec?command=sh&command=-c&command=echo+a%26b&container=main&stderr=true&stdin=true&stdout=true');
  assert.throws(() => buildStreamUrl('ftp://x', { kind: 'attach', namespace: 'a', pod: 'b', stdin: false, stdout: true, stderr: false, tty: false }), SyntaxError);
});
