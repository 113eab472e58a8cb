// A TCP proxy between a client and a server that can cut a connection after N bytes from the
// server: the way tests break a transfer in the middle.

import { connect, createServer, type Server, type Socket } from 'node:net';

export class FaultProxy {
  readonly server: Server;
  private readonly _sockets = new Set<Socket>();
  private _cuts: number[] = [];
  cutCount = 0;

  constructor(targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      this._sockets.add(client).add(upstream);
      let sent = 0;
      let threshold: number | undefined;
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        threshold ??= this._cuts[0];
        if (threshold !== undefined && sent > threshold && this._cuts[0] === threshold) {
          this._cuts.shift();
          this.cutCount++;
          client.destroy();
          upstream.destroy();
          return;
        }
        if (!client.write(chunk)) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
      });
      upstream.on('end', () => client.end());
      for (const s of [client, upstream]) {
        s.on('error', () => {});
        s.on('close', () => {
          this._sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
    });
  }

  /** Cut one connection after `bytes` bytes, once per call. */
  cut(bytes: number): void {
    this._cuts.push(bytes);
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const s of this._sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
