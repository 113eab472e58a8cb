import assert from 'node:assert/strict';
import test from 'node:test';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { decodeFrame, encodeBase64Frame, encodeBinaryFrame, encodeCloseMessage, encodeFrame, FrameError } from './frame.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const text = (s: string) => new TextEncoder().encode(s);

test('binary frame: stdin "foo\\n" is 00 66 6f 6f 0a', () => {
  assert.deepEqual(encodeBinaryFrame(0, text('foo\n')), hex('00 66 6f 6f 0a'));
});

test('binary frame: stdout "\\n" decodes from 01 0a', () => {
  const frame = decodeFrame(hex('010a'), false);
  assert.equal(frame?.channel, 1);
  assert.deepEqual(frame?.payload, hex('0a'));
});

test('the initial empty frame 01 decodes as stdout with no payload', () => {
  const frame = decodeFrame(hex('01'), false);
  assert.deepEqual(frame, { channel: 1, payload: new Uint8Array(0) });
});

test('an empty message carries nothing', () => {
  assert.equal(decodeFrame(new Uint8Array(0), false), null);
  assert.equal(decodeFrame(new Uint8Array(0), true), null);
});

test('decoding honours a subarray with a non-zero byteOffset', () => {
  const backing = hex('ffff 02 68 69 ffff');
  const frame = decodeFrame(backing.subarray(2, 5), false);
  assert.equal(frame?.channel, 2);
  assert.deepEqual([...frame!.payload], [0x68, 0x69]);
});

test('base64 frames: stdout "\\n" is "1Cg==", stdin "ls\\n" is "0bHMK", "foo\\n" is Zm9vCg==', () => {
  assert.equal(encodeBase64Frame(1, text('\n')), '1Cg==');
  assert.equal(encodeBase64Frame(0, text('ls\n')), '0bHMK');
  assert.equal(encodeBase64Frame(0, text('foo\n')), '0Zm9vCg==');
  assert.equal(encodeFrame(true, 3, text('')), '3');
  assert.deepEqual(decodeFrame(text('0bHMK'), true), { channel: 0, payload: text('ls\n') });
});

test('base64 frames for channels >= 10 use the characters after 9', () => {
  assert.equal(encodeBase64Frame(10, text('a'))[0], ':');
  assert.equal(decodeFrame(text(';YQ=='), true)?.channel, 11);
});

test('invalid base64 is rejected with ERR_FRAME_BASE64', () => {
  for (const bad of ['0Zm9', '0Zm9vCg', '0Zm9v*g==', '0=Zm9']) {
    assert.throws(() => decodeFrame(text(bad), true), (err: unknown) => err instanceof FrameError && err.code === 'ERR_FRAME_BASE64', bad);
  }
});

test('base64 round-trips every length and byte value', () => {
  for (let n = 0; n < 70; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    const encoded = encodeBase64(bytes);
    assert.equal(encoded, Buffer.from(bytes).toString('base64'));
    assert.deepEqual(decodeBase64(encoded), bytes);
  }
});

test('v5 close message for stdin is exactly ff 00', () => {
  assert.deepEqual(encodeCloseMessage(0), hex('ff00'));
  assert.deepEqual(encodeCloseMessage(4), hex('ff04'));
});
