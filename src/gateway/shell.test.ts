import assert from 'node:assert/strict';
import test from 'node:test';
import { PodshellError } from '../lib/index.ts';
import { bestShellScript, noShellError, sessionCommand } from './shell.ts';

test('no command: the best shell in one exec; a command: as given', () => {
  assert.deepEqual(sessionCommand(undefined), ['sh', '-c', bestShellScript]);
  assert.deepEqual(sessionCommand([]), ['sh', '-c', bestShellScript]);
  assert.deepEqual(sessionCommand(['ls', '-l', '$HOME']), ['ls', '-l', '$HOME']);
  assert.equal(bestShellScript, 'if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh');
});

test("the runtime's executable-not-found becomes ERR_GATEWAY_NO_SHELL with the kubectl debug hint", () => {
  const runtime = new PodshellError('ERR_REMOTE', 'OCI runtime exec failed: exec failed: unable to start container process: exec: "sh": executable file not found in $PATH: unknown');
  const err = noShellError(runtime, { namespace: 'default', pod: 'distroless', container: 'app' });
  assert.equal(err?.code, 'ERR_GATEWAY_NO_SHELL');
  assert.equal(err?.statusCode, 422);
  assert.equal(
    err?.message,
    'container "app" of pod "distroless" has no shell (neither bash nor sh is in its image): run a command the image has, or debug it from a container that has one: kubectl debug -it distroless --image=busybox --target=app',
  );
  assert.equal(err?.cause, runtime);
  assert.match(noShellError(runtime, { namespace: 'prod', pod: 'p', container: 'c' })!.message, /kubectl debug -it p --image=busybox --target=c -n prod$/);
});

test('other errors stay what they are', () => {
  assert.equal(noShellError(new PodshellError('ERR_REMOTE', 'command terminated with exit code 1'), { namespace: 'default', pod: 'p', container: 'c' }), null);
  assert.equal(noShellError(new PodshellError('ERR_FORBIDDEN', 'executable file not found'), { namespace: 'default', pod: 'p', container: 'c' }), null);
  assert.equal(noShellError(new Error('executable file not found'), { namespace: 'default', pod: 'p', container: 'c' }), null);
});
