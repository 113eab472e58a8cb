import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { ApiContext } from './api.ts';
import type { Container } from './container.ts';
import { BoundedLogBuffer } from './logbuffer.ts';
import { serveLogs } from './podlog.ts';
import type { Pod } from './types.ts';

const pod = { metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } as unknown as Pod;

test('a follow that stops leaves no callback on the log: 50 follow/stop cycles on a live log, none left waiting', async (t) => {
  const log = new BoundedLogBuffer(1024);
  log.append(Buffer.from('hello\n'));
  const ctx = { container: () => ({ logs: log }) as unknown as Container } as unknown as ApiContext;
  let stopped = 0;
  const server: Server = createServer((req, res) => {
    serveLogs(ctx, req, res, pod, new URLSearchParams('follow=true&container=c'));
    res.on('close', () => stopped++); // after serveLogs' own 'close' listener
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  for (let i = 0; i < 50; i++) {
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.once('data', () => req.destroy()); // the client stops following after the first line
        res.on('error', () => {});
      });
      req.on('error', () => {});
      req.on('close', () => resolve());
      req.end();
    });
  }
  while (stopped < 50) await new Promise((r) => setImmediate(r)); // the server has seen every stop
  assert.equal(log.endWaiterCount, 0);
  assert.equal(log.ended, false);
});
