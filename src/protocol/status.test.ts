import assert from 'node:assert/strict';
import test from 'node:test';
import { decodeStatus, exitCodeStatus, internalErrorStatus, statusOutcome, statusToJson, StatusError, successStatus, v1StatusOutcome } from './status.ts';

test('success Status is written as Go writes it', () => {
  assert.equal(statusToJson(successStatus()), '{"metadata":{},"status":"Success"}');
});

test('exit code Status keeps Go field order and puts the code in causes', () => {
  assert.equal(
    statusToJson(exitCodeStatus(3, 'command terminated with non-zero exit code: command terminated with exit code 3')),
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
  );
});

test('internal error Status has code 500 last', () => {
  assert.equal(
    statusToJson(internalErrorStatus('error executing command in container: boom')),
    '{"metadata":{},"status":"Failure","message":"Internal error occurred: error executing command in container: boom","reason":"InternalError","details":{"causes":[{"message":"error executing command in container: boom"}]},"code":500}',
  );
});

test('field order is Go order whatever order the object was built in', () => {
  const json = statusToJson({ code: 403, reason: 'Forbidden', message: 'm', status: 'Failure', apiVersion: 'v1', kind: 'Status', details: { kind: 'pods', name: 'x' } });
  assert.equal(json, '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"m","reason":"Forbidden","details":{"name":"x","kind":"pods"},"code":403}');
});

test('outcomes follow client-go: success, exit codes 0..255, other failures', () => {
  const table: [string, unknown][] = [
    ['{"metadata":{},"status":"Success"}', { kind: 'success' }],
    ['{"status":"Success"}', { kind: 'success' }],
    ['{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}', { kind: 'exit', code: 7 }],
    ['{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"message":"x"},{"reason":"ExitCode","message":"255"}]}}', { kind: 'exit', code: 255 }],
    ['{"status":"Failure","message":"Internal error occurred: boom","reason":"InternalError"}', { kind: 'error', message: 'Internal error occurred: boom' }],
  ];
  for (const [json, outcome] of table) assert.deepEqual(statusOutcome(decodeStatus(new TextEncoder().encode(json))), outcome, json);
});

test('bad statuses are protocol errors with exact messages', () => {
  const cases: [string, string][] = [
    ['{"status":"Weird"}', 'error stream protocol error: unknown error'],
    ['{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"256"}]}}', 'error stream protocol error: invalid exit code value "256"'],
    ['{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"-1"}]}}', 'error stream protocol error: invalid exit code value "-1"'],
    ['{"status":"Failure","reason":"NonZeroExitCode"}', 'error stream protocol error: no exit code cause in a NonZeroExitCode status'],
  ];
  for (const [json, message] of cases) {
    assert.throws(() => statusOutcome(decodeStatus(new TextEncoder().encode(json))), (err: unknown) => err instanceof StatusError && err.message === message, json);
  }
  assert.throws(() => decodeStatus(new TextEncoder().encode('not json')), StatusError);
  assert.throws(() => decodeStatus(new TextEncoder().encode('[1]')), StatusError);
});

test('v1 error channel: nothing is success, an exit code ending is the code, other text is an error', () => {
  const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
  // "command terminated with non-zero exit code: command terminated with exit code 3", as a v1 server writes it.
  const exit3 = hex('636f6d6d616e64207465726d696e617465642077697468206e6f6e2d7a65726f206578697420636f64653a20636f6d6d616e64207465726d696e617465642077697468206578697420636f64652033');
  const table: [Uint8Array, unknown][] = [
    [new Uint8Array(0), { kind: 'success', status: { metadata: {}, status: 'Success' } }],
    [exit3, { kind: 'exit', code: 3, status: exitCodeStatus(3, 'command terminated with non-zero exit code: command terminated with exit code 3') }],
    [new TextEncoder().encode('command terminated with exit code 255'), { kind: 'exit', code: 255, status: exitCodeStatus(255, 'command terminated with exit code 255') }],
    [new TextEncoder().encode('command terminated with exit code 0'), { kind: 'exit', code: 0, status: exitCodeStatus(0, 'command terminated with exit code 0') }],
    // Out of range or not at the end: not an exit code, the text is the error.
    [new TextEncoder().encode('command terminated with exit code 256'), { kind: 'error', message: 'command terminated with exit code 256' }],
    [new TextEncoder().encode('exit code 3 and more'), { kind: 'error', message: 'exit code 3 and more' }],
    [new TextEncoder().encode('container not found ("c")'), { kind: 'error', message: 'container not found ("c")' }],
  ];
  for (const [bytes, outcome] of table) assert.deepEqual(v1StatusOutcome(bytes), outcome, Buffer.from(bytes).toString());
  // A subarray with a non-zero byteOffset reads only its own bytes.
  const framed = new Uint8Array([3, ...new TextEncoder().encode('command terminated with exit code 7'), 0x39]);
  assert.deepEqual(v1StatusOutcome(framed.subarray(1, framed.length - 1)), { kind: 'exit', code: 7, status: exitCodeStatus(7, 'command terminated with exit code 7') });
  // The synthesised Status is byte for byte what a v4 server writes for the same exit.
  const v1 = v1StatusOutcome(exit3);
  assert.equal(v1.kind === 'exit' && statusToJson(v1.status), '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}');
});
