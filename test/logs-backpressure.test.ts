// cluster.logs against a real sandbox: a reader that does not read pauses the HTTP response (the
// process holds a bounded number of lines while most of the log waits on the server's side), and
// every line then arrives, in order, once it reads.

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

async function lastLine(): Promise<string> {
  let last = '';
  for await (const l of cluster.logs({ target: 'flood', tailLines: 1 }) as AsyncIterable<LogLine>) last = l.line;
  return last;
}

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
