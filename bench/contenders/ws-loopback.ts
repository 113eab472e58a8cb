// Ceiling: a bare `ws` server and client on loopback (no TLS, no Kubernetes), each in its own
// process. `server BYTES FRAME` prints its port and sends BYTES in FRAME-sized binary messages to
// every client; `client PORT BYTES` counts them and prints its timing.

import WebSocket, { WebSocketServer } from 'ws';

const [mode, a, b] = process.argv.slice(2);

if (mode === 'server') {
  const bytes = Number(a);
  const frame = Buffer.alloc(Number(b));
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('listening', () => process.stdout.write(`${(wss.address() as { port: number }).port}\n`));
  wss.on('connection', (ws) => {
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, frame.length);
        left -= n;
        const data = n === frame.length ? frame : frame.subarray(0, n);
        if (ws.bufferedAmount + n > 4 * frame.length) {
          ws.send(data, () => pump());
          return;
        }
        ws.send(data);
      }
      ws.close(1000);
    };
    pump();
  });
  process.stdin.resume();
  process.stdin.once('end', () => process.exit(0));
} else if (mode === 'client') {
  const want = Number(b);
  const start = performance.now();
  let got = 0;
  const ws = new WebSocket(`ws://127.0.0.1:${a}/`, { perMessageDeflate: false });
  ws.on('message', (data: Buffer) => (got += data.length));
  ws.on('close', () => {
    if (got !== want) throw new Error(`ws loopback: ${got} bytes, expected ${want}`);
    process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - start) / 1000, bytes: got })}\n`);
    process.exit(0);
  });
} else {
  throw new Error('usage: ws-loopback.ts server BYTES FRAME | client PORT BYTES');
}
