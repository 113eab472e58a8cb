// The web shell rows' client, in its own process: shells in the sandbox's pod either through the
// gateway (`gateway`: signed in by its login URL, sessions created over HTTP and joined over the
// stream, as a browser does) or straight from the library (`direct`: Cluster.exec, on a terminal
// for shells). The same task and the same timing either way, so the two can be compared.
//
//   shells.ts gateway TASK_JSON '{"loginUrl":…,"pid":GATEWAY_PID}'
//   shells.ts direct  TASK_JSON '{"kubeconfig":…}'
//
// echo and stream print one JSON result line. hold (gateway only) prints progress lines
// ({"opened":N}), then {"held":N,…}, and keeps every session open until its stdin ends.

import WebSocket from 'ws';
import { signIn } from '../../test/gateway-client.ts';
import { Cluster } from '../../src/lib/index.ts';
import { decodeServerMessage, encodeAck, encodeInput, encodeResume } from '../../src/protocol/webshell.ts';
import { POD } from './common.ts';

export type ShellTask =
  /**
   * SESSIONS shells open; the first one measured: SAMPLES keystrokes, each a byte typed and timed
   * until its echo arrives (then erased). The others type one key every TYPE_EVERY_MS ms meanwhile.
   */
  | { kind: 'echo'; sessions: number; samples: number; command: string[]; typeEveryMs: number }
  /** `head -c BYTES /dev/zero` off a terminal, started by a line of input once the client reads, to a counting sink (acknowledged every 32 KiB). */
  | { kind: 'stream'; bytes: number }
  /** Open up to SESSIONS idle shells, CONCURRENCY at a time, each joined; hold them. */
  | { kind: 'hold'; sessions: number; concurrency: number };

export interface EchoResult {
  latenciesMs: number[];
  /** Seconds to open every shell (each one up to its first output). */
  openSeconds: number;
  /** Keystrokes the other sessions typed while the first was measured. */
  backgroundKeys: number;
}

export interface StreamResult {
  seconds: number;
  bytes: number;
  /** Output messages (or stdout chunks) the bytes came in. */
  messages: number;
}

export interface HoldResult {
  held: number;
  openSeconds: number;
  /** Why opening stopped short of the target (the first error), if it did. */
  error?: string;
}

/** A shell, however it is reached: type into it, see its output. */
interface Shell {
  type(bytes: string): void;
  /** Called with each chunk of output and the time it arrived (performance.now()). */
  onOutput: ((chunk: Uint8Array, at: number) => void) | null;
  close(): void;
}

const ACK_EVERY = 32 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- through the gateway -----------------------------------------------------------------------

class GatewayClient {
  readonly origin: string;
  private readonly cookie: string;
  private readonly csrfToken: string;
  private constructor(origin: string, cookie: string, csrfToken: string) {
    this.origin = origin;
    this.cookie = cookie;
    this.csrfToken = csrfToken;
  }

  static async signIn(loginUrl: string): Promise<GatewayClient> {
    const { cookie, csrfToken } = await signIn(loginUrl);
    return new GatewayClient(new URL(loginUrl).origin, cookie, csrfToken);
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const answer = await fetch(this.origin + path, {
      method,
      headers: { cookie: this.cookie, origin: this.origin, 'x-csrf-token': this.csrfToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await answer.text();
    if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  }

  /** The sandbox's cluster: the kubeconfig's current context. */
  async cluster(): Promise<string> {
    const { clusters } = (await this.request('GET', '/api/clusters')) as { clusters: { name: string; current: boolean }[] };
    const current = clusters.find((c) => c.current) ?? clusters[0];
    if (!current) throw new Error('the gateway serves no cluster');
    return current.name;
  }

  /** POST /api/sessions; for a shell (no command) this answers once the shell printed its prompt. */
  async create(cluster: string, extra: { command?: string[]; tty: boolean }): Promise<string> {
    const session = (await this.request('POST', '/api/sessions', { cluster, namespace: POD.namespace, pod: POD.pod, container: POD.container, ...extra })) as { id: string };
    return session.id;
  }

  /**
   * Join a session's stream from offset 0. `onOutput` gets every output chunk; the client acks
   * every `ackEvery` bytes (0: every message, as a terminal that renders at once). Resolves once
   * joined; `ended` resolves with the exit code when the session exits.
   */
  join(id: string, ackEvery: number): Promise<Shell & { ended: Promise<number> }> {
    const socket = new WebSocket(`${this.origin.replace(/^http/, 'ws')}/api/sessions/${id}/stream`, {
      origin: this.origin,
      headers: { cookie: this.cookie },
      perMessageDeflate: false,
    });
    socket.binaryType = 'nodebuffer';
    let acked = 0;
    let next = 0;
    let onEnd!: (code: number) => void;
    let onEndFail!: (err: Error) => void;
    const ended = new Promise<number>((resolve, reject) => ((onEnd = resolve), (onEndFail = reject)));
    ended.catch(() => {});
    const shell: Shell & { ended: Promise<number> } = {
      onOutput: null,
      ended,
      type: (bytes) => socket.send(encodeInput(Buffer.from(bytes, 'latin1'))),
      close: () => socket.terminate(),
    };
    return new Promise((resolve, reject) => {
      socket.on('open', () => socket.send(encodeResume(0)));
      socket.on('error', (err) => reject(err));
      socket.on('close', (code, reason) => {
        const why = new Error(`the stream of session ${id} closed (${code} ${reason.toString()})`);
        reject(why);
        onEndFail(why);
      });
      socket.on('message', (data: Buffer) => {
        const at = performance.now();
        const message = decodeServerMessage(data);
        switch (message.type) {
          case 'joined':
            acked = next = message.joined.offset;
            resolve(shell);
            break;
          case 'output':
            next = message.offset + message.data.length;
            shell.onOutput?.(message.data, at);
            if (next - acked >= ackEvery) {
              acked = next;
              socket.send(encodeAck(next));
            }
            break;
          case 'exit':
            onEnd(message.exit.code);
            break;
          case 'error':
            onEndFail(new Error(`session ${id} failed: ${message.error.code} ${message.error.message}`));
            break;
          case 'notice':
            break;
        }
      });
    });
  }
}

// ---- straight from the library -------------------------------------------------------------------

/** A shell on a terminal, open once it printed something (its prompt), as the gateway waits for. */
async function directShell(cluster: Cluster, command: string[]): Promise<Shell> {
  const session = cluster.exec({ target: { pod: POD.pod }, container: POD.container, command, stdin: true, tty: true, size: { cols: 80, rows: 24 } });
  session.exit.catch(() => {});
  const shell: Shell = {
    onOutput: null,
    type: (bytes) => void session.stdin!.write(Buffer.from(bytes, 'latin1')),
    close: () => session.abort(),
  };
  await new Promise<void>((resolve, reject) => {
    session.exit.then(() => reject(new Error('the shell exited before its prompt')), reject);
    session.stdout!.on('data', (chunk: Buffer) => {
      shell.onOutput?.(chunk, performance.now());
      resolve();
    });
  });
  return shell;
}

// ---- the tasks -----------------------------------------------------------------------------------

/** Open `count` shells with `open`, `concurrency` at a time, in order. */
async function openAll(count: number, concurrency: number, open: () => Promise<Shell>): Promise<Shell[]> {
  const shells: Shell[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (started < count) {
        started++;
        shells.push(await open());
      }
    }),
  );
  return shells;
}

/** Type `key` and resolve with the milliseconds until output matching `echoed` arrived. */
function keystroke(shell: Shell, key: string, echoed: (chunk: Uint8Array) => boolean, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      shell.onOutput = null;
      reject(new Error(`no echo of ${JSON.stringify(key)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const start = performance.now();
    shell.onOutput = (chunk, at) => {
      if (!echoed(chunk)) return;
      clearTimeout(timer);
      shell.onOutput = null;
      resolve(at - start);
    };
    shell.type(key);
  });
}

const X = 0x78;
const hasX = (chunk: Uint8Array) => chunk.includes(X);
const any = (chunk: Uint8Array) => chunk.length > 0;

async function echo(task: Extract<ShellTask, { kind: 'echo' }>, open: () => Promise<Shell>, timing: () => void = () => {}): Promise<EchoResult> {
  const started = performance.now();
  const shells = await openAll(task.sessions, 8, open);
  const openSeconds = (performance.now() - started) / 1000;
  const [measured, ...others] = shells;
  // The others type slowly, each on its own phase: a key, then its erasure, a key, …
  let backgroundKeys = 0;
  const timers = others.map((shell, i) => {
    let typed = false;
    const tick = () => {
      shell.type(typed ? '\x7f' : 'x');
      typed = !typed;
      backgroundKeys++;
    };
    const phase = setTimeout(() => timers[i]!.interval = setInterval(tick, task.typeEveryMs), Math.random() * task.typeEveryMs);
    return { phase, interval: undefined as NodeJS.Timeout | undefined };
  });
  // Warm-up keystrokes (not counted) flush whatever the shell still prints after its prompt.
  for (let i = 0; i < 5; i++) {
    await keystroke(measured!, 'x', hasX);
    await keystroke(measured!, '\x7f', any);
  }
  await sleep(200);
  timing();
  const keysBefore = backgroundKeys;
  const latenciesMs: number[] = [];
  for (let i = 0; i < task.samples; i++) {
    latenciesMs.push(await keystroke(measured!, 'x', hasX));
    await keystroke(measured!, '\x7f', any);
    // A typist's pace, varied so that the samples do not lock onto the others' rhythm.
    await sleep(10 + Math.random() * 30);
  }
  for (const t of timers) {
    clearTimeout(t.phase);
    clearInterval(t.interval);
  }
  for (const shell of shells) shell.close();
  return { latenciesMs, openSeconds, backgroundKeys: backgroundKeys - keysBefore };
}

async function gatewayTask(task: ShellTask, loginUrl: string, gatewayPid: number | undefined): Promise<void> {
  const gateway = await GatewayClient.signIn(loginUrl);
  const cluster = await gateway.cluster();
  const openShell = async () => gateway.join(await gateway.create(cluster, { tty: true }), 0);
  switch (task.kind) {
    case 'echo':
      // Tell the gateway process (gateway-host.ts) that the timed part starts.
      print(await echo(task, openShell, () => gatewayPid && process.kill(gatewayPid, 'SIGUSR2')));
      return;
    case 'stream': {
      const id = await gateway.create(cluster, { command: streamCommand(task.bytes), tty: false });
      const stream = await gateway.join(id, ACK_EVERY);
      let bytes = 0;
      let messages = 0;
      stream.onOutput = (chunk) => {
        bytes += chunk.length;
        messages++;
      };
      const start = performance.now();
      stream.type('go\n');
      const code = await stream.ended;
      print(streamResult(task.bytes, bytes, messages, code, start));
      return;
    }
    case 'hold': {
      const start = performance.now();
      const shells: Shell[] = [];
      let error: string | undefined;
      let started = 0;
      await Promise.all(
        Array.from({ length: Math.min(task.concurrency, task.sessions) }, async () => {
          while (started < task.sessions && error === undefined) {
            started++;
            try {
              shells.push(await openShell());
            } catch (err) {
              error ??= `after ${shells.length} sessions: ${(err as Error).message.split('\n')[0]}`;
            }
            if (shells.length % 50 === 0) print({ opened: shells.length });
          }
        }),
      );
      print({ held: shells.length, openSeconds: (performance.now() - start) / 1000, ...(error ? { error } : {}) } satisfies HoldResult);
      // Hold them until the harness has measured the gateway.
      process.stdin.resume();
      await new Promise((resolve) => process.stdin.once('end', resolve));
      for (const shell of shells) shell.close();
      return;
    }
  }
}

async function directTask(task: ShellTask, kubeconfig: string): Promise<void> {
  const cluster = Cluster.fromKubeconfig({ path: kubeconfig });
  switch (task.kind) {
    case 'echo':
      print(await echo(task, () => directShell(cluster, task.command)));
      return;
    case 'stream': {
      const session = cluster.exec({ target: { pod: POD.pod }, container: POD.container, command: streamCommand(task.bytes), stdin: true, stderr: false });
      let bytes = 0;
      let messages = 0;
      session.stdout!.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        messages++;
      });
      await session.opened;
      const start = performance.now();
      session.stdin!.write('go\n');
      const { code } = await session.exit;
      print(streamResult(task.bytes, bytes, messages, code, start));
      return;
    }
    case 'hold':
      throw new Error('hold runs through the gateway only');
  }
}

/**
 * `head -c BYTES` once a line arrives on stdin: the client starts it after joining, so that no
 * output is made before anyone reads it (a session's output made before its first join goes to
 * the replay buffer, whose oldest bytes are overwritten).
 */
const streamCommand = (bytes: number) => ['sh', '-c', `read go && exec head -c ${bytes} /dev/zero`];

function streamResult(want: number, bytes: number, messages: number, code: number, start: number): StreamResult {
  const seconds = (performance.now() - start) / 1000;
  if (code !== 0) throw new Error(`head exited ${code}`);
  if (bytes !== want) throw new Error(`received ${bytes} bytes, expected ${want}`);
  return { seconds, bytes, messages };
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

const [mode, taskJson, targetJson] = process.argv.slice(2);
if (!taskJson || !targetJson || (mode !== 'gateway' && mode !== 'direct')) throw new Error('usage: shells.ts gateway|direct TASK_JSON TARGET_JSON');
const task = JSON.parse(taskJson) as ShellTask;
const target = JSON.parse(targetJson) as { loginUrl?: string; pid?: number; kubeconfig?: string };
if (mode === 'gateway') await gatewayTask(task, target.loginUrl!, target.pid);
else await directTask(task, target.kubeconfig!);
// Keepalive timers and pooled sockets must not hold the process open.
process.exit(0);
