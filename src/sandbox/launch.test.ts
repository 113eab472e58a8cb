import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { DIRECT_MIN, launch, OUTPUT_HEADROOM, type Launched } from './launch.ts';

const pipes = (script: string): Launched =>
  launch({ file: 'sh', args: ['-c', script], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: '/', tty: false, stdin: false, cols: 80, rows: 24 });

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('pipes: output read into reused buffers arrives whole and in order, on stdout and stderr', async () => {
  // seq's output, about 20 MB on each stream: large reads happen whenever the reader lags the writer.
  const script = 'seq 1 2500000; seq 2500001 5000000 >&2';
  const expected = { out: sha(execFileSync('sh', ['-c', 'seq 1 2500000'], { maxBuffer: 64 << 20 })), err: sha(execFileSync('sh', ['-c', 'seq 2500001 5000000'], { maxBuffer: 64 << 20 })) };
  const p = pipes(script);
  assert.ok(p.output, 'pipes say how their output may be sent on');
  const hashes = { out: createHash('sha256'), err: createHash('sha256') };
  let direct = 0;
  const take = (which: 'out' | 'err') => (chunk: Buffer) => {
    if (p.output!.direct(chunk)) {
      direct++;
      assert.ok(chunk.length >= DIRECT_MIN, `a direct chunk of ${chunk.length} bytes`);
      assert.ok(chunk.byteOffset >= OUTPUT_HEADROOM, 'room in front of a direct chunk');
      // The room around it is the consumer's: writing there changes no other chunk.
      Buffer.from(chunk.buffer).fill(0xee, chunk.byteOffset - OUTPUT_HEADROOM, chunk.byteOffset);
      Buffer.from(chunk.buffer).fill(0xee, chunk.byteOffset + chunk.length);
      hashes[which].update(chunk);
      p.output!.recycle(chunk);
    } else {
      hashes[which].update(chunk);
    }
  };
  p.stdout.on('data', take('out'));
  p.stderr!.on('data', take('err'));
  assert.equal((await p.exited).code, 0);
  assert.equal(hashes.out.digest('hex'), expected.out);
  assert.equal(hashes.err.digest('hex'), expected.err);
  console.log(`${direct} direct chunks`);
});

test('pipes: output nobody reads is drained once its stream is destroyed, and the exit is reported', async () => {
  const p = pipes('head -c 5000000 /dev/zero; echo done >&2');
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  p.stdout.destroy();
  assert.equal((await p.exited).code, 0);
  assert.equal(err, 'done\n');
});

test('pipes: a process with no output ends its streams at once', async () => {
  const p = pipes('exit 7');
  p.stdout.resume();
  p.stderr!.resume();
  assert.equal((await p.exited).code, 7);
});
