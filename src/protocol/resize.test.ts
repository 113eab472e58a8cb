import assert from 'node:assert/strict';
import test from 'node:test';
import { encodeResize, ResizeDecoder, ResizeError } from './resize.ts';
import { encodeBinaryFrame, encodeBase64Frame } from './frame.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const text = (s: string) => new TextEncoder().encode(s);

test('resize 80x24 is client-go bytes, newline included', () => {
  assert.deepEqual(
    encodeBinaryFrame(4, encodeResize({ width: 80, height: 24 })),
    hex('04 7b 22 57 69 64 74 68 22 3a 38 30 2c 22 48 65 69 67 68 74 22 3a 32 34 7d 0a'),
  );
  assert.equal(encodeBase64Frame(4, encodeResize({ width: 80, height: 24 })), '4eyJXaWR0aCI6ODAsIkhlaWdodCI6MjR9Cg==');
});

test('decoder reads values split across messages and packed together', () => {
  const d = new ResizeDecoder();
  assert.deepEqual(d.push(text('{"Width":1')), []);
  assert.deepEqual(d.push(text('00,"Height":40}\n{"width":3,"height":4}{"WIDTH"')), [
    { width: 100, height: 40 },
    { width: 3, height: 4 },
  ]);
  assert.deepEqual(d.push(text(':5,"heIGht":6}')), [{ width: 5, height: 6 }]);
});

test('decoder handles a multibyte character split across messages and braces in strings', () => {
  const d = new ResizeDecoder();
  const bytes = text('{"x":"é}","Width":9,"Height":8}');
  const cut = bytes.indexOf(0xc3) + 1;
  assert.deepEqual(d.push(bytes.subarray(0, cut)), []);
  assert.deepEqual(d.push(bytes.subarray(cut)), [{ width: 9, height: 8 }]);
});

test('missing keys default to zero as in Go', () => {
  assert.deepEqual(new ResizeDecoder().push(text('{}')), [{ width: 0, height: 0 }]);
});

test('garbage and out-of-range sizes are ResizeErrors', () => {
  for (const bad of ['x', '{"Width":"80","Height":24}', '{"Width":70000,"Height":1}', '{"Width":1.5}', '{"Width":1,}']) {
    assert.throws(() => new ResizeDecoder().push(text(bad)), ResizeError, bad);
  }
});
