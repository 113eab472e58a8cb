// What every in-process contender shares: the task it was given, the sandbox it talks to, a
// zero-byte source, and one JSON result line on stdout. Nothing heavy is imported here, so each
// contender process loads only its own client library and its peak RSS is its own.

import { Readable } from 'node:stream';

export type Task =
  /** Sequential execs of `true`, each awaited to its exit status. */
  | { kind: 'rate'; count: number }
  /** `head -c BYTES /dev/zero` in the pod, read to a local sink. */
  | { kind: 'stdout'; bytes: number }
  /** BYTES of zeros into `wc -c` in the pod; its answer must be BYTES. */
  | { kind: 'stdin'; bytes: number }
  /** STREAMS concurrent `head -c BYTES /dev/zero`. */
  | { kind: 'fanin'; streams: number; bytes: number };

export interface SandboxInfo {
  url: string;
  kubeconfig: string;
  caPem: string;
  token: string;
}

export interface TaskResult {
  /** Wall time of the measured work, in seconds (module loading and kubeconfig reading excluded). */
  seconds: number;
  /** Bytes moved (checked against the task). */
  bytes?: number;
  /** One latency per exec, in milliseconds (rate tasks). */
  latenciesMs?: number[];
}

export const POD = { namespace: 'default', pod: 'demo', container: 'main' } as const;
/** Chunk size of the in-process stdin sources: what a pipe delivers to `podshell exec -i`. */
export const SOURCE_CHUNK = 64 * 1024;

export function readArgs(): { task: Task; sandbox: SandboxInfo } {
  const [task, sandbox] = process.argv.slice(2);
  if (!task || !sandbox) throw new Error('usage: CONTENDER.ts TASK_JSON SANDBOX_JSON');
  return { task: JSON.parse(task) as Task, sandbox: JSON.parse(sandbox) as SandboxInfo };
}

/** `bytes` zeros, SOURCE_CHUNK at a time, with backpressure (like a pipe from `head -c`). */
export function zeros(bytes: number): Readable {
  const chunk = Buffer.alloc(SOURCE_CHUNK);
  let left = bytes;
  return new Readable({
    highWaterMark: SOURCE_CHUNK,
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, SOURCE_CHUNK);
      left -= n;
      // A fresh Buffer per push: a consumer may keep the one it was given.
      this.push(n === SOURCE_CHUNK ? Buffer.from(chunk) : Buffer.alloc(n));
    },
  });
}

export function expectBytes(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${what}: moved ${got} bytes, expected ${want}`);
}

export function expectWcCount(text: string, want: number): void {
  if (text.trim() !== String(want)) throw new Error(`wc -c in the pod counted ${JSON.stringify(text.trim())}, expected ${want}`);
}

/** What a contender can do; runTask times it and checks every byte count. */
export interface Client {
  /** One exec of `true`, awaited to its exit status. */
  execTrue(): Promise<void>;
  /** `head -c BYTES /dev/zero` in the pod, read to a sink: the bytes received. */
  stdout(bytes: number): Promise<number>;
  /** BYTES of zeros into `wc -c` in the pod: what wc printed. */
  stdin(bytes: number): Promise<string>;
}

export async function runTask(task: Task, client: Client): Promise<TaskResult> {
  const start = performance.now();
  const seconds = () => (performance.now() - start) / 1000;
  switch (task.kind) {
    case 'rate': {
      const latenciesMs: number[] = [];
      for (let i = 0; i < task.count; i++) {
        const t = performance.now();
        await client.execTrue();
        latenciesMs.push(performance.now() - t);
      }
      return { seconds: seconds(), latenciesMs };
    }
    case 'stdout': {
      const bytes = await client.stdout(task.bytes);
      expectBytes('stdout', bytes, task.bytes);
      return { seconds: seconds(), bytes };
    }
    case 'fanin': {
      const counts = await Promise.all(Array.from({ length: task.streams }, () => client.stdout(task.bytes)));
      const bytes = counts.reduce((a, b) => a + b, 0);
      expectBytes('fan-in', bytes, task.streams * task.bytes);
      return { seconds: seconds(), bytes };
    }
    case 'stdin': {
      expectWcCount(await client.stdin(task.bytes), task.bytes);
      return { seconds: seconds(), bytes: task.bytes };
    }
  }
}

/** Read the task, make the contender's client (not timed), run the task, print the result. */
export async function main(makeClient: (sandbox: SandboxInfo) => Client): Promise<void> {
  const { task, sandbox } = readArgs();
  const result = await runTask(task, makeClient(sandbox));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Keepalive timers and pooled sockets must not hold the process open.
  process.exit(0);
}

export const headCommand = (bytes: number): string[] => ['head', '-c', String(bytes), '/dev/zero'];
