// A pod's network namespace, and the way into it for port-forward. With namespace isolation every
// pod gets a network namespace of its own (only a loopback, brought up), kept by a small holder
// process; its containers join it, so they reach each other on localhost and nothing else. The
// sandbox's process stays in the host's network: to reach a port on the pod's loopback it talks
// to a relay process that lives in the pod's namespace, over a unix socket.
//
// The relay (RELAY_SOURCE, run by the sandbox's own Node.js, without capabilities) connects to
// 127.0.0.1 or ::1 only, at the port the sandbox names: nothing else is reachable through it, and
// from inside the pod's namespace nothing of the host's network is reachable at all. Per
// connection on the unix socket: the sandbox writes the port (2 bytes, big-endian); the relay
// answers one byte, 0 and then the TCP connection's bytes both ways (each side's end passed on),
// or 1 and the dial errors as text, then the end.

import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { joinPodNetwork } from './container.ts';
import { SandboxError } from './errors.ts';
import { DROP_PRIVILEGES, HOST_PATH, NETNS_SCRIPT, type HostTools } from './hosttools.ts';

/** The pod's port could not be connected to; the message is the dial errors, worded as a CRI runtime words them. */
export class DialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DialError';
  }
}

/**
 * The relay, plain CommonJS for `node -e`. argv[1]: the unix socket to listen on. It exits when
 * its stdin (a pipe from the sandbox) ends.
 */
export const RELAY_SOURCE = String.raw`'use strict';
const net = require('node:net');
const reasons = { ECONNREFUSED: 'connection refused', EADDRNOTAVAIL: 'cannot assign requested address', ENETUNREACH: 'network is unreachable', EHOSTUNREACH: 'no route to host', ETIMEDOUT: 'connection timed out', ECONNRESET: 'connection reset by peer' };
function dial(host, shown, family, port) {
  return new Promise((resolve) => {
    const conn = net.connect({ host, port, family, allowHalfOpen: true });
    let timer;
    const fail = (text) => { clearTimeout(timer); conn.destroy(); resolve({ error: 'dial tcp' + family + ' ' + shown + ':' + port + ': ' + text }); };
    timer = setTimeout(() => fail('i/o timeout'), 5000);
    conn.once('error', (e) => fail('connect: ' + (reasons[e.code] || e.message)));
    conn.once('connect', () => { clearTimeout(timer); conn.removeAllListeners('error'); resolve({ conn }); });
  });
}
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  client.on('error', () => client.destroy());
  let head = Buffer.alloc(0);
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    if (head.length < 2) return;
    client.off('data', onData);
    client.pause();
    void forward(client, head.readUInt16BE(0), head.subarray(2));
  };
  client.on('data', onData);
});
async function forward(client, port, rest) {
  if (port < 1) return client.destroy();
  const v4 = await dial('127.0.0.1', '127.0.0.1', 4, port);
  let r = v4;
  if (v4.error) {
    const v6 = await dial('::1', '[::1]', 6, port);
    if (v6.error) return client.end(Buffer.concat([Buffer.of(1), Buffer.from('IPv4: ' + v4.error + ' IPv6 ' + v6.error + ' ')]));
    r = v6;
  }
  const conn = r.conn;
  if (client.destroyed) return conn.destroy();
  conn.on('error', () => { conn.destroy(); client.destroy(); });
  client.on('close', () => conn.destroy());
  conn.on('close', () => client.end());
  client.write(Buffer.of(0));
  if (rest.length) conn.write(rest);
  client.pipe(conn);
  conn.pipe(client);
  client.resume();
}
server.listen(process.argv[1], () => process.stdout.write('ready\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
`;

/** Starts a process and waits for its first line on stdout ("ready"), or its failure. */
function startReady(argv: string[], what: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: { PATH: HOST_PATH } });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new SandboxError('ERR_SANDBOX_NETWORK', `${what}: timed out`));
    }, 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new SandboxError('ERR_SANDBOX_NETWORK', `${what}: ${e.message}`));
    });
    child.stdin!.on('error', () => {});
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s.slice(0, 4096)));
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('\n')) {
        clearTimeout(timer);
        child.stdout!.destroy();
        child.stderr!.destroy();
        // Its stdin stays open for the runtime's life, without keeping the event loop alive.
        child.unref();
        (child.stdin as Socket).unref();
        resolve(child);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new SandboxError('ERR_SANDBOX_NETWORK', `${what}: ${err.trim() || (signal ?? `exit ${code}`)}`));
    });
  });
}

/** How long the relay may take to answer a connection: its own dials give up after 5 s per address. */
export const HANDSHAKE_TIMEOUT_MS = 15_000;

/** Reads the relay's answer: the connected socket, or the DialError it reports (or a DialError when it does not answer in time). */
function handshake(socket: Socket, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const header = Buffer.alloc(2);
    header.writeUInt16BE(port);
    let got = Buffer.alloc(0);
    let failed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError(`the pod's network relay did not answer within ${HANDSHAKE_TIMEOUT_MS / 1000}s`));
    }, HANDSHAKE_TIMEOUT_MS);
    timer.unref();
    const onError = (e: Error): void => {
      clearTimeout(timer);
      reject(new SandboxError('ERR_SANDBOX_NETWORK', `cannot reach the pod's network relay: ${e.message}`));
    };
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (failed) {
        if (got.length > 64 * 1024) socket.destroy();
        return;
      }
      if (got[0] === 0) {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.pause();
        if (got.length > 1) socket.unshift(got.subarray(1));
        resolve(socket);
      } else failed = true;
    };
    const onEnd = (): void => {
      clearTimeout(timer);
      socket.destroy();
      if (failed) reject(new DialError(got.subarray(1).toString('utf8')));
      else reject(new SandboxError('ERR_SANDBOX_NETWORK', "the pod's network relay closed the connection"));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.write(header);
  });
}

/** One pod's network namespace: its holder, and (once a port-forward asks for it) the relay into it. */
export class PodNetwork {
  readonly #tools: HostTools;
  readonly #holder: ChildProcess;
  readonly #socketPath: string;
  /** The namespace's identity (`net:[inode]`) read when the holder started. */
  readonly #nsId: string;
  #relay: Promise<ChildProcess> | undefined;
  #closed = false;

  private constructor(tools: HostTools, holder: ChildProcess, socketPath: string, nsId: string) {
    this.#tools = tools;
    this.#holder = holder;
    this.#socketPath = socketPath;
    this.#nsId = nsId;
  }

  /**
   * The holder's pid, to join the namespace at /proc/<pid>/ns/net — checked first: once the
   * holder has ended its pid may belong to another process (and network, maybe the host's), so
   * a holder that ended, or a pid that no longer names the namespace it made, or names the
   * sandbox's own, is ERR_SANDBOX_NETWORK.
   */
  get pid(): number {
    const pid = this.#holder.pid!;
    const gone = (): SandboxError => new SandboxError('ERR_SANDBOX_NETWORK', "the pod's network namespace is gone: its holder process ended");
    if (this.#holder.exitCode !== null || this.#holder.signalCode !== null) throw gone();
    const now = netNamespace(String(pid));
    if (now !== this.#nsId || now === netNamespace('self')) throw gone();
    return pid;
  }

  /** A new network namespace with its loopback up. `dir` holds the relay's socket. */
  static async start(tools: HostTools, dir: string): Promise<PodNetwork> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const holder = await startReady([tools.unshare, '--net', '--', tools.sh, '-c', NETNS_SCRIPT, 'podshell-netns', tools.ip], "cannot set up the pod's network namespace");
    holder.on('exit', () => {}); // its exit code says it ended: see pid
    const nsId = netNamespace(String(holder.pid));
    if (nsId === undefined || nsId === netNamespace('self')) {
      holder.kill('SIGKILL');
      throw new SandboxError('ERR_SANDBOX_NETWORK', "cannot set up the pod's network namespace: its holder is not in a namespace of its own");
    }
    return new PodNetwork(tools, holder, join(dir, 'relay.sock'), nsId);
  }

  #startRelay(): Promise<ChildProcess> {
    if (!this.#relay) {
      const argv = joinPodNetwork(this.#tools, this.pid, [this.#tools.setpriv, ...DROP_PRIVILEGES, '--', process.execPath, '-e', RELAY_SOURCE, this.#socketPath]);
      const relay = startReady(argv, "cannot start the pod's network relay");
      this.#relay = relay;
      relay.then(
        (child) => {
          child.once('exit', () => {
            if (this.#relay === relay) this.#relay = undefined;
          });
          if (this.#closed) child.kill('SIGKILL');
        },
        () => {
          if (this.#relay === relay) this.#relay = undefined;
        },
      );
    }
    return this.#relay;
  }

  /** A connection to `port` on the pod's loopback (127.0.0.1, else ::1). Rejects with DialError when nothing accepts it. */
  async dial(port: number): Promise<Socket> {
    if (this.#closed) throw new SandboxError('ERR_SANDBOX_CLOSED', 'runtime is closed');
    await this.#startRelay();
    return handshake(connect({ path: this.#socketPath, allowHalfOpen: true }), port);
  }

  /** Ends the relay and lets the holder go (the namespace ends with the last process in it). */
  close(): void {
    this.#closed = true;
    void this.#relay?.then((child) => child.kill('SIGKILL'), () => {});
    this.#holder.stdin?.end();
  }
}

/** The network namespace of `/proc/<pid>` (`net:[inode]`), or undefined when it cannot be read (the process is gone). */
function netNamespace(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** Without namespaces a pod's processes are the host's: its "loopback" is the host's. Same answer as the relay's. */
export function dialHostLoopback(port: number): Promise<Socket> {
  const once = (host: string, shown: string, family: 4 | 6): Promise<Socket | string> =>
    new Promise((resolve) => {
      const conn = connect({ host, port, family, allowHalfOpen: true });
      const timer = setTimeout(() => fail('i/o timeout'), 5000);
      function fail(text: string): void {
        clearTimeout(timer);
        conn.destroy();
        resolve(`dial tcp${family} ${shown}:${port}: ${text}`);
      }
      conn.once('error', (e: NodeJS.ErrnoException) => fail(`connect: ${REASONS[e.code ?? ''] ?? e.message}`));
      conn.once('connect', () => {
        clearTimeout(timer);
        conn.removeAllListeners('error');
        conn.pause();
        resolve(conn);
      });
    });
  return (async () => {
    const v4 = await once('127.0.0.1', '127.0.0.1', 4);
    if (typeof v4 !== 'string') return v4;
    const v6 = await once('::1', '[::1]', 6);
    if (typeof v6 !== 'string') return v6;
    throw new DialError(`IPv4: ${v4} IPv6 ${v6} `);
  })();
}

/** Go's words for the errno values a connect to the loopback meets. */
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ENETUNREACH: 'network is unreachable',
  EHOSTUNREACH: 'no route to host',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset by peer',
};
