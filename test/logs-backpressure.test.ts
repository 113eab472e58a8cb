// cluster.logs against a real sandbox: a reader that does not read pauses the HTTP response (the
// process holds a bounded number of lines while most of the log waits on the server's side), and
// every line then arrives, in order, once it reads; with long lines the bound is in bytes too. A line longer than MAX_LOG_LINE_BYTES comes in
// pieces that are cut between characters.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster, type LogLine } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { pollUntil } from './helpers.ts';

const LINES = 90_000;
const PAD = 'x'.repeat(88);
// Each line: "line NNNNNN " + 88 x's + "\n" = 101 bytes; ~9.1 MB in all, inside the sandbox's 10 MiB log.
// One line of 1.1 million three-byte characters (3.3 MB): several pieces of about 1 MiB.
const EUROS = 1_100_000;
// Lines of 512 KiB (and "NN " before each): 8 MiB in all, inside the sandbox's 10 MiB log.
const LONG_LINES = 16;
const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: flood
  namespace: default
spec:
  containers:
    - name: main
      image: podshell.dev/full:latest
      command: [sh, -c, 'seq -f "line %06g ${PAD}" 1 ${LINES}; exec sleep infinity']
---
apiVersion: v1
kind: Pod
metadata:
  name: wide
  namespace: default
spec:
  containers:
    - name: main
      image: podshell.dev/full:latest
      command: [sh, -c, 'yes € | head -n ${EUROS} | tr -d "\\n"; echo; echo done; exec sleep infinity']
---
apiVersion: v1
kind: Pod
metadata:
  name: long
  namespace: default
spec:
  containers:
    - name: main
      image: podshell.dev/full:latest
      command: [sh, -c, 'for i in $(seq 1 ${LONG_LINES}); do printf "%02d " $i; head -c 524288 /dev/zero | tr "\\0" x; echo; done; echo done; exec sleep infinity']
---
apiVersion: sandbox.podshell.dev/v1
kind: SandboxUser
metadata:
  name: admin
spec:
  groups: [system:masters]
  tokens: [admin-token]
`;

let sandbox: Sandbox;
let work: string;
let cluster: Cluster;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-logs-bp-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig'), manifestTexts: [{ source: 'flood', text: manifest }] });
  cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath });
});
after(async () => {
  cluster?.client.close();
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

async function lastLine(target = 'flood'): Promise<string> {
  let last = '';
  for await (const l of cluster.logs({ target, tailLines: 1 }) as AsyncIterable<LogLine>) last = l.line;
  return last;
}

test('a line longer than MAX_LOG_LINE_BYTES comes in partial pieces, each cut between characters', async () => {
  assert.ok(await pollUntil(async () => (await lastLine('wide')) === 'done', 60_000, 200), 'the pod wrote its log');
  const records: LogLine[] = [];
  for await (const l of cluster.logs({ target: 'wide' }) as AsyncIterable<LogLine>) records.push(l);
  assert.equal(records.at(-1)!.line, 'done');
  const pieces = records.slice(0, -1);
  assert.ok(pieces.length >= 3, `${pieces.length} pieces`);
  pieces.forEach((p, i) => {
    assert.equal(p.partial, i < pieces.length - 1 ? true : undefined, `piece ${i}`);
    assert.ok(!p.line.includes('\uFFFD'), `piece ${i} has a replacement character`);
    assert.ok(Buffer.byteLength(p.line) <= 2 * 1024 * 1024, `piece ${i}: ${Buffer.byteLength(p.line)} bytes`);
  });
  assert.ok(pieces.map((p) => p.line).join('') === '€'.repeat(EUROS), 'the pieces make the line');
});

test('a reader that does not read pauses the response; all lines arrive once it reads', async () => {
  // The pod has written its whole log.
  assert.ok(await pollUntil(async () => (await lastLine()).startsWith(`line ${String(LINES).padStart(6, '0')} `), 60_000, 200), 'the pod wrote its log');
  const total = LINES * (101 + 31); // with the 30-character time and a space before each line

  const stream = cluster.logs({ target: 'flood', timestamps: true });
  // Nobody reads: the stream's buffer fills to its high-water mark…
  assert.ok(await pollUntil(() => stream.readableLength >= stream.readableHighWaterMark, 60_000, 50), 'the stream buffered up to its high-water mark');
  // …and then nothing more comes in: polled until three looks in a row see the same count.
  let seen = -1;
  let steady = 0;
  assert.ok(
    await pollUntil(
      () => {
        steady = stream.bytesReceived === seen ? steady + 1 : 0;
        seen = stream.bytesReceived;
        return steady >= 3;
      },
      60_000,
      300,
    ),
    'the bytes received stopped growing',
  );
  // The bounded situation happened: most of the log is still on the server's side…
  assert.ok(stream.bytesReceived < total / 2, `received ${stream.bytesReceived} of ${total} bytes while paused`);
  // …and the process holds a bounded number of lines (the high-water mark, plus one chunk's worth).
  assert.ok(stream.readableLength < 2_000, `${stream.readableLength} lines buffered`);

  // Reading now gets every line, in order.
  let count = 0;
  for await (const l of stream as AsyncIterable<LogLine>) {
    count++;
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) line (\d{6}) x+$/.exec(l.line);
    assert.ok(m, `line ${count}: ${l.line.slice(0, 80)}`);
    assert.equal(Number(m[2]), count);
    assert.equal(l.pod, 'flood');
    assert.equal(l.container, 'main');
  }
  assert.equal(count, LINES);
  assert.ok(stream.bytesReceived >= total, `${stream.bytesReceived} bytes`);
});

test('long lines: a reader that does not read holds a bounded number of bytes, not of lines, and the rest waits on the server', async () => {
  assert.ok(await pollUntil(async () => (await lastLine('long')) === 'done', 60_000, 200), 'the pod wrote its log');
  const total = LONG_LINES * (3 + 512 * 1024 + 1);
  const stream = cluster.logs({ target: 'long' });
  // Nobody reads: something arrives, then nothing more (polled until three looks in a row see the same count).
  let seen = -1;
  let steady = 0;
  assert.ok(
    await pollUntil(
      () => {
        steady = stream.bytesReceived === seen && seen > 0 ? steady + 1 : 0;
        seen = stream.bytesReceived;
        return steady >= 3;
      },
      60_000,
      300,
    ),
    'the bytes received stopped growing',
  );
  // What the process took in (and so holds) is bounded in bytes: about 1 MiB of lines, one more
  // line, and a part of the next; far less than the 64 records the stream's high-water mark allows.
  assert.ok(stream.bytesReceived <= 3 * 1024 * 1024, `received ${stream.bytesReceived} of ${total} bytes while paused`);
  assert.ok(stream.readableLength < LONG_LINES / 2, `${stream.readableLength} lines buffered`);

  let count = 0;
  for await (const l of stream as AsyncIterable<LogLine>) {
    count++;
    if (count > LONG_LINES) {
      assert.equal(l.line, 'done');
      continue;
    }
    assert.equal(l.line, `${String(count).padStart(2, '0')} ${'x'.repeat(512 * 1024)}`, `line ${count}`);
  }
  assert.equal(count, LONG_LINES + 1);
  assert.ok(stream.bytesReceived >= total, `${stream.bytesReceived} bytes`);
});
