import assert from 'node:assert/strict';
import test from 'node:test';
import { OutputRing } from './ring.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

test('allocated on the first non-empty write only', () => {
  const ring = new OutputRing(8);
  assert.equal(ring.allocated, false);
  ring.append(new Uint8Array(0));
  assert.equal(ring.allocated, false);
  assert.deepEqual(ring.read(0, 10), { offset: 0, bytes: new Uint8Array(0) });
  ring.append(bytes('ab'));
  assert.equal(ring.allocated, true);
});

test('reads by absolute offset, within and across the wrap', () => {
  const ring = new OutputRing(8);
  ring.append(bytes('abcdef'));
  assert.equal(str(ring.read(2, 3).bytes), 'cde');
  ring.append(bytes('ghij')); // 10 bytes: "ab" overwritten
  assert.equal(ring.end, 10);
  assert.equal(ring.oldest, 2);
  assert.equal(ring.size, 8);
  assert.deepEqual(ring.read(2, 100).offset, 2);
  assert.equal(str(ring.read(2, 100).bytes), 'cdefghij');
  assert.equal(str(ring.read(5, 4).bytes), 'fghi');
  assert.equal(str(ring.read(7, 100).bytes), 'hij');
});

test('a read older than the oldest byte starts at the oldest, and says so', () => {
  const ring = new OutputRing(4);
  ring.append(bytes('0123456789'));
  assert.equal(ring.oldest, 6);
  const r = ring.read(1, 100);
  assert.equal(r.offset, 6);
  assert.equal(str(r.bytes), '6789');
});

test('a chunk larger than the ring keeps its tail; reads past the end are empty', () => {
  const ring = new OutputRing(4);
  ring.append(bytes('ab'));
  ring.append(bytes('cdefghi'));
  assert.equal(ring.end, 9);
  assert.equal(ring.oldest, 5);
  assert.equal(str(ring.read(0, 10).bytes), 'fghi');
  assert.deepEqual(ring.read(20, 10), { offset: 9, bytes: new Uint8Array(0) });
});

test('many small appends stay consistent with the plain concatenation', () => {
  const ring = new OutputRing(37);
  let all = '';
  for (let i = 0; i < 500; i++) {
    const piece = `${i},`.repeat((i % 5) + 1);
    ring.append(bytes(piece));
    all += piece;
    const from = Math.max(0, all.length - 37);
    assert.equal(ring.oldest, from);
    assert.equal(str(ring.read(from + (i % 7), 20).bytes), all.slice(from + (i % 7), from + (i % 7) + 20));
  }
});

test('a capacity below 1 byte is refused', () => {
  assert.throws(() => new OutputRing(0), RangeError);
});

test('view: the contiguous run from an offset, without a copy; a wrapped run comes in two', () => {
  const ring = new OutputRing(8);
  ring.append(bytes('abcdef'));
  ring.append(bytes('ghij')); // "ab" overwritten; "ij" wrapped to the front
  const first = ring.view(2, 100);
  assert.deepEqual([first.offset, str(first.bytes)], [2, 'cdefgh']);
  const second = ring.view(first.offset + first.bytes.length, 100);
  assert.deepEqual([second.offset, str(second.bytes)], [8, 'ij']);
  assert.equal(str(ring.view(3, 2).bytes), 'de');
  assert.deepEqual([ring.view(0, 4).offset, str(ring.view(0, 4).bytes)], [2, 'cdef'], 'an offset already overwritten starts at the oldest');
  assert.equal(ring.view(10, 4).bytes.length, 0);
});
