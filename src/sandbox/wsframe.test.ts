import assert from 'node:assert/strict';
import { test } from 'node:test';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { MAX_HEADER_BYTES, writeBinaryHeader } from './wsframe.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('payloads under 126 bytes: 82 then the length', () => {
  const b = new Uint8Array(12);
  assert.equal(writeBinaryHeader(b, 10, 5), 8);
  assert.equal(hex(b.subarray(8, 10)), '8205');
  assert.equal(writeBinaryHeader(b, 2, 125), 0);
  assert.equal(hex(b.subarray(0, 2)), '827d');
});

test('126 to 65535 bytes: 7e and a 16-bit length', () => {
  const b = new Uint8Array(MAX_HEADER_BYTES);
  assert.equal(writeBinaryHeader(b, 10, 126), 6);
  assert.equal(hex(b.subarray(6)), '827e007e');
  assert.equal(writeBinaryHeader(b, 10, 65535), 6);
  assert.equal(hex(b.subarray(6)), '827effff');
});

test('65536 bytes and more: 7f and a 64-bit length', () => {
  const b = new Uint8Array(MAX_HEADER_BYTES);
  assert.equal(writeBinaryHeader(b, 10, 65536), 0);
  assert.equal(hex(b), '827f0000000000010000');
  writeBinaryHeader(b, 10, 5 * 2 ** 32 + 0x01020304);
  assert.equal(hex(b), '827f0000000501020304');
});

test('no room, or a length that is no size, is a RangeError', () => {
  assert.throws(() => writeBinaryHeader(new Uint8Array(16), 9, 65536), RangeError);
  assert.throws(() => writeBinaryHeader(new Uint8Array(16), 16, -1), RangeError);
  assert.throws(() => writeBinaryHeader(new Uint8Array(16), 16, 1.5), RangeError);
});

test('a ws client reads frames written this way to the socket, payload intact, at every header size', async (t) => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  await once(server, 'listening');
  const lengths = [0, 1, 125, 126, 65535, 65536, 300_000];
  const payloadOf = (length: number) => Buffer.alloc(length, length % 251);
  server.on('connection', (_ws, req) => {
    for (const length of lengths) {
      const frame = Buffer.alloc(MAX_HEADER_BYTES + length);
      payloadOf(length).copy(frame, MAX_HEADER_BYTES);
      req.socket.write(frame.subarray(writeBinaryHeader(frame, MAX_HEADER_BYTES, length)));
    }
  });
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => client.terminate());
  const received: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    client.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) reject(new Error('a text frame'));
      received.push(data);
      if (received.length === lengths.length) resolve();
    });
    client.on('error', reject);
  });
  assert.deepEqual(received.map((b) => b.length), lengths);
  for (const [i, length] of lengths.entries()) assert.ok(received[i]!.equals(payloadOf(length)), `payload of ${length} bytes`);
});
