// The thinnest possible client of the sandbox: a raw `ws` socket with the sandbox CA and the
// admin token, v5.channel.k8s.io, frames handled inline (the channel byte, a byte count, the
// status), large stdin frames, no streams, no target lookup. It measures the sandbox itself, and
// the harness uses it for set-up and checks.

import type { Readable } from 'node:stream';
import WebSocket from 'ws';
import { POD, type SandboxInfo } from './contenders/common.ts';

const STDIN_FRAME = 1024 * 1024;
const STDIN_HIGH_WATER = 4 * 1024 * 1024;

export interface Outcome {
  stdoutBytes: number;
  stdoutText: string;
  status: string;
}

function execUrl(sandbox: SandboxInfo, command: string[], stdin: boolean): string {
  const url = new URL(`/api/v1/namespaces/${POD.namespace}/pods/${POD.pod}/exec`, sandbox.url.replace(/^https:/, 'wss:'));
  for (const arg of command) url.searchParams.append('command', arg);
  url.searchParams.set('container', POD.container);
  url.searchParams.set('stdout', 'true');
  if (stdin) url.searchParams.set('stdin', 'true');
  return url.href;
}

/** Run `command`; `feed` (when given) sends stdin once the socket is open. */
export function execRaw(sandbox: SandboxInfo, command: string[], opts: { collect?: boolean; feed?: (ws: WebSocket) => void } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(execUrl(sandbox, command, Boolean(opts.feed)), ['v5.channel.k8s.io'], {
      ca: sandbox.caPem,
      headers: { Authorization: `Bearer ${sandbox.token}` },
      perMessageDeflate: false,
    });
    const outcome: Outcome = { stdoutBytes: 0, stdoutText: '', status: '' };
    ws.on('open', () => opts.feed?.(ws));
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      if (channel === 1) {
        outcome.stdoutBytes += data.length - 1;
        if (opts.collect) outcome.stdoutText += data.toString('utf8', 1);
      } else if (channel === 3) outcome.status += data.toString('utf8', 1);
    });
    ws.on('error', reject);
    ws.on('close', () => {
      const status = JSON.parse(outcome.status || '{}') as { status?: string; message?: string };
      if (status.status !== 'Success') reject(new Error(`${command.join(' ')}: ${status.message ?? 'no status'}`));
      else resolve(outcome);
    });
  });
}

/** `bytes` zeros on channel 0 in STDIN_FRAME messages, then v5's stdin close. */
export function feedZeros(bytes: number): (ws: WebSocket) => void {
  const full = Buffer.alloc(STDIN_FRAME + 1);
  return (ws) => {
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, STDIN_FRAME);
        left -= n;
        const frame = n === STDIN_FRAME ? full : full.subarray(0, n + 1);
        if (ws.bufferedAmount + frame.length > STDIN_HIGH_WATER) {
          // Enough queued: go on once this frame has reached the socket.
          ws.send(frame, () => pump());
          return;
        }
        ws.send(frame);
      }
      ws.send(Buffer.from([255, 0]));
    };
    pump();
  };
}


/** `source` on channel 0, one message per chunk, with backpressure; then v5's stdin close. */
export function feedStream(source: Readable): (ws: WebSocket) => void {
  return (ws) => {
    source.on('data', (chunk: Buffer) => {
      const frame = Buffer.concat([Buffer.of(0), chunk]);
      if (ws.bufferedAmount + frame.length > STDIN_HIGH_WATER) {
        source.pause();
        ws.send(frame, () => source.resume());
      } else ws.send(frame);
    });
    source.on('end', () => ws.send(Buffer.of(255, 0)));
  };
}
