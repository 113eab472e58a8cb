// The Range headers the file download serves (`bytes=N-`) and the ones it ignores.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rangeStart } from './routes-files.ts';

test('rangeStart: bytes=N- gives N; every other Range is ignored (null)', () => {
  const table: [string | undefined, number | null][] = [
    [undefined, null],
    ['bytes=0-', 0],
    ['bytes=1048576-', 1048576],
    [' bytes=7- ', 7],
    ['bytes=999999999999999-', 999999999999999],
    ['bytes=9999999999999999-', null], // past 2^53: not a byte position a file has
    ['bytes=0-99', null],
    ['bytes=-500', null],
    ['bytes=0-,100-', null],
    ['bytes=-', null],
    ['bytes=x-', null],
    ['items=5-', null],
    ['BYTES=5-', 5], // units compare case-insensitively (RFC 9110, section 14.1)
    ['', null],
  ];
  for (const [header, expected] of table) assert.equal(rangeStart(header), expected, String(header));
});
