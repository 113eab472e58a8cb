import assert from 'node:assert/strict';
import test from 'node:test';
import { decodeStatus, exitCodeStatus, internalErrorStatus, statusOutcome, statusToJson, StatusError, successStatus } from './status.ts';

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
