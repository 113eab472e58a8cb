import assert from 'node:assert/strict';
import test from 'node:test';
import {
  decodeClientMessage,
  decodeServerMessage,
  encodeAck,
  encodeClientMessage,
  encodeCloseStdin,
  encodeError,
  encodeExit,
  encodeInput,
  encodeJoined,
  encodeNotice,
  encodeOutput,
  encodeResize,
  encodeResume,
  WebshellMessageError,
  type ClientMessage,
} from './webshell.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const text = (s: string) => new TextEncoder().encode(s);
/** The same bytes at a non-zero byteOffset inside a larger buffer. */
const shifted = (bytes: Uint8Array) => {
  const backing = new Uint8Array(bytes.length + 7).fill(0xee);
  backing.set(bytes, 3);
  return backing.subarray(3, 3 + bytes.length);
};

test('client messages encode to exact bytes', () => {
  assert.deepEqual(encodeInput(text('ls\r')), hex('00 6c 73 0d'));
  assert.deepEqual(encodeInput(new Uint8Array(0)), hex('00'));
  assert.deepEqual(encodeResize(80, 24), hex('01 0050 0018'));
  assert.deepEqual(encodeResize(65535, 1), hex('01 ffff 0001'));
  assert.deepEqual(encodeAck(0), hex('02 00000000 00000000'));
  assert.deepEqual(encodeAck(0x1_0000_0001), hex('02 00000001 00000001'));
  assert.deepEqual(encodeResume(2 ** 53 - 1), hex('03 001fffff ffffffff'));
  assert.deepEqual(encodeCloseStdin(), hex('04'));
  assert.deepEqual(encodeClientMessage({ type: 'ack', offset: 32768 }), hex('02 00000000 00008000'));
});

test('client messages decode from exact bytes, also from a subarray with a non-zero byteOffset', () => {
  const table: [string, ClientMessage][] = [
    ['00 6869', { type: 'input', data: text('hi') }],
    ['01 0050 0018', { type: 'resize', cols: 80, rows: 24 }],
    ['02 00000000 00008000', { type: 'ack', offset: 32768 }],
    ['02 00000002 00000003', { type: 'ack', offset: 2 * 2 ** 32 + 3 }],
    ['03 001fffff ffffffff', { type: 'resume', offset: 2 ** 53 - 1 }],
    ['04', { type: 'close-stdin' }],
  ];
  for (const [bytes, message] of table) {
    assert.deepEqual(decodeClientMessage(hex(bytes)), message, bytes);
    assert.deepEqual(decodeClientMessage(shifted(hex(bytes))), message, `${bytes} shifted`);
    assert.deepEqual(encodeClientMessage(message), hex(bytes));
  }
});

test('a message split in two is two messages, never half of one (each piece decodes on its own or fails)', () => {
  const whole = hex('02 00000000 00008000');
  assert.throws(() => decodeClientMessage(whole.subarray(0, 5)), { code: 'ERR_WEBSHELL_LENGTH', message: 'Invalid web shell message: ack (0x02) carries 8 payload bytes, got 4' });
  // the tail alone starts with 0x00: it is an input message, not the rest of an ack
  assert.deepEqual(decodeClientMessage(whole.subarray(5)), { type: 'input', data: hex('008000') });
});

test('decoding errors are typed, with exact messages', () => {
  const cases: [string, string, string][] = [
    ['', 'ERR_WEBSHELL_LENGTH', 'Invalid web shell message: an empty message has no type'],
    ['05', 'ERR_WEBSHELL_UNKNOWN_TYPE', 'Invalid web shell message: unknown client message type 0x05'],
    ['10 00000000 00000000', 'ERR_WEBSHELL_UNKNOWN_TYPE', 'Invalid web shell message: unknown client message type 0x10'],
    ['01 0050', 'ERR_WEBSHELL_LENGTH', 'Invalid web shell message: resize (0x01) carries 4 payload bytes, got 2'],
    ['01 0050 001800', 'ERR_WEBSHELL_LENGTH', 'Invalid web shell message: resize (0x01) carries 4 payload bytes, got 5'],
    ['01 0000 0018', 'ERR_WEBSHELL_PAYLOAD', 'Invalid web shell message: resize to 0x24: columns and rows must be 1 to 65535'],
    ['03 00000000', 'ERR_WEBSHELL_LENGTH', 'Invalid web shell message: resume (0x03) carries 8 payload bytes, got 4'],
    ['02 00200000 00000000', 'ERR_WEBSHELL_PAYLOAD', 'Invalid web shell message: ack offset must be below 2^53'],
    ['04 00', 'ERR_WEBSHELL_LENGTH', 'Invalid web shell message: close-stdin (0x04) carries 0 payload bytes, got 1'],
  ];
  for (const [bytes, code, message] of cases) {
    assert.throws(() => decodeClientMessage(hex(bytes)), (err: unknown) => {
      assert.ok(err instanceof WebshellMessageError);
      assert.equal(err.code, code);
      assert.equal(err.message, message);
      return true;
    }, bytes);
  }
});

test('gateway messages encode to exact bytes and decode back', () => {
  assert.deepEqual(encodeOutput(0x1_0000_0000, text('y\n')), hex('10 00000001 00000000 790a'));
  const out = decodeServerMessage(shifted(hex('10 00000000 0000000a 6869')));
  assert.equal(out.type, 'output');
  assert.equal(out.type === 'output' && out.offset, 10);
  assert.deepEqual(out.type === 'output' && [...out.data], [0x68, 0x69]);
  assert.deepEqual(encodeExit({ code: 3 }), Uint8Array.from([0x12, ...text('{"code":3}')]));
  assert.deepEqual(encodeError({ code: 'ERR_FORBIDDEN', message: 'no', status: 403 }), Uint8Array.from([0x13, ...text('{"code":"ERR_FORBIDDEN","message":"no","status":403}')]));
  assert.deepEqual(encodeNotice({ kind: 'idle-warning', secondsLeft: 60 }), Uint8Array.from([0x14, ...text('{"kind":"idle-warning","secondsLeft":60}')]));
  assert.deepEqual(decodeServerMessage(shifted(encodeNotice({ kind: 'ending', reason: 'idle' }))), { type: 'notice', notice: { kind: 'ending', reason: 'idle' } });
  assert.deepEqual(decodeServerMessage(encodeExit({ code: 0, message: 'é' })), { type: 'exit', exit: { code: 0, message: 'é' } });
  const joined = { session: { id: 'a' } as never, offset: 5, skipped: 2 };
  assert.deepEqual(decodeServerMessage(encodeJoined(joined)), { type: 'joined', joined });
});

test('gateway message errors: short output, bad JSON, unknown type', () => {
  assert.throws(() => decodeServerMessage(hex('10 000000')), { code: 'ERR_WEBSHELL_LENGTH', message: 'Invalid web shell message: output (0x10) carries at least 8 payload bytes, got 3' });
  assert.throws(() => decodeServerMessage(hex('12 7b')), { code: 'ERR_WEBSHELL_PAYLOAD', message: 'Invalid web shell message: exit payload is not UTF-8 JSON' });
  assert.throws(() => decodeServerMessage(hex('12 5b5d')), { code: 'ERR_WEBSHELL_PAYLOAD', message: 'Invalid web shell message: exit payload is not a JSON object' });
  assert.throws(() => decodeServerMessage(hex('00 6869')), { code: 'ERR_WEBSHELL_UNKNOWN_TYPE', message: 'Invalid web shell message: unknown gateway message type 0x00' });
});

test('encoders refuse values the wire cannot carry', () => {
  assert.throws(() => encodeResize(0, 24), RangeError);
  assert.throws(() => encodeResize(80, 65536), RangeError);
  assert.throws(() => encodeAck(2 ** 53), RangeError);
  assert.throws(() => encodeResume(-1), RangeError);
  assert.throws(() => encodeOutput(1.5, new Uint8Array(0)), RangeError);
});
