// pods/log: a container's log as a kubelet serves it through the API server. The options
// (timestamps, sinceSeconds, sinceTime, tailLines, limitBytes, follow, previous) are read and
// refused with the texts and status codes a cluster gives (docs/sandbox.md, "Logs"). The reader
// keeps its place in the log by record number and reads at the client's pace: a slow client
// leaves the lines in the (bounded) log buffer, not in the server's memory.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolveContainer, type ApiContext } from './api.ts';
import { badRequest } from './errors.ts';
import type { LogBuffer, LogRecord } from './logbuffer.ts';
import { nowNanos } from './logbuffer.ts';
import type { Pod } from './types.ts';

export interface PodLogOptions {
  container?: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  /** Lines written at or after this time (ns since the epoch), from sinceSeconds or sinceTime. */
  since?: bigint;
  tailLines?: number;
  limitBytes?: number;
}

/** Written at most at once: lines are gathered up to this size before a write. */
const BATCH_BYTES = 64 * 1024;

/** The query of a pods/log request, checked as the API server checks it. Throws a 400 ApiError. */
export function parseLogOptions(params: URLSearchParams, now: bigint = nowNanos()): PodLogOptions {
  const tailLines = parseInteger(params, 'tailLines');
  const limitBytes = parseInteger(params, 'limitBytes');
  const sinceSeconds = parseInteger(params, 'sinceSeconds');
  const sinceTime = parseTime(params);
  const follow = parseBool(params, 'follow');
  const previous = parseBool(params, 'previous');
  const timestamps = parseBool(params, 'timestamps');
  const errors: string[] = [];
  if (tailLines !== undefined && tailLines < 0) errors.push(`tailLines: Invalid value: ${tailLines}: must be greater than or equal to 0`);
  if (limitBytes !== undefined && limitBytes < 1) errors.push(`limitBytes: Invalid value: ${limitBytes}: must be greater than 0`);
  if (sinceSeconds !== undefined && sinceTime !== undefined) errors.push(': Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified');
  else if (sinceSeconds !== undefined && sinceSeconds < 1) errors.push(`sinceSeconds: Invalid value: ${sinceSeconds}: must be greater than 0`);
  if (errors.length) throw badRequest(`PodLogOptions "" is invalid: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`);
  const container = params.get('container') || undefined;
  const since = sinceTime ?? (sinceSeconds !== undefined ? now - BigInt(sinceSeconds) * 1_000_000_000n : undefined);
  return {
    ...(container ? { container } : {}),
    follow,
    previous,
    timestamps,
    ...(since !== undefined ? { since } : {}),
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
  };
}

function parseInteger(params: URLSearchParams, key: string): number | undefined {
  const raw = params.get(key);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(n)) throw badRequest(`PodLogOptions "" is invalid: ${key}: Invalid value: "${raw}": strconv.ParseInt: parsing "${raw}": invalid syntax`);
  return n;
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function parseBool(params: URLSearchParams, key: string): boolean {
  const raw = params.get(key);
  if (raw === null || raw === '') return false;
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  throw badRequest(`PodLogOptions "" is invalid: ${key}: Invalid value: "${raw}": strconv.ParseBool: parsing "${raw}": invalid syntax`);
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** sinceTime, RFC 3339 (fractions of a second allowed), as nanoseconds since the epoch. */
function parseTime(params: URLSearchParams): bigint | undefined {
  const raw = params.get('sinceTime');
  if (raw === null || raw === '') return undefined;
  const m = RFC3339.exec(raw);
  const ms = m ? Date.parse(`${m[1]}T${m[2]}${m[4]!.toUpperCase()}`) : NaN;
  if (!m || Number.isNaN(ms)) throw badRequest(`PodLogOptions "" is invalid: sinceTime: Invalid value: "${raw}": parsing time "${raw}" as "2006-01-02T15:04:05Z07:00": cannot parse "${raw}" as RFC 3339`);
  return BigInt(ms) * 1_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
}

/** A time as the kubelet prints it before a line: RFC 3339, UTC, always nine digits of fraction. */
export function formatLogTime(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const fraction = String(nanos % 1_000_000_000n).padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** The number of the first record of the last `lines` lines (a record that ends no line continues the one before). */
function tailStart(log: LogBuffer, lines: number): number {
  const end = log.nextSeq;
  if (lines === 0) return end;
  let seen = 0;
  for (let seq = end - 1; seq >= log.firstSeq; seq--) {
    const before = log.at(seq - 1);
    const startsLine = !before || before.data[before.data.length - 1] === 0x0a;
    if (startsLine && ++seen === lines) return seq;
  }
  return log.firstSeq;
}

export function serveLogs(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, pod: Pod, params: URLSearchParams): void {
  const opts = parseLogOptions(params);
  const containerName = resolveContainer(pod, opts.container);
  const podName = pod.metadata.name;
  // The sandbox keeps one instance of each container's log: a container that restarts starts
  // a fresh one, and the one before is not kept.
  if (opts.previous) throw badRequest(`previous terminated container "${containerName}" in pod "${podName}" not found`);
  const container = ctx.container(pod.metadata.namespace!, podName, containerName);
  if (!container) throw badRequest(`container "${containerName}" in pod "${podName}" is waiting to start: ContainerCreating`);
  const log = container.logs;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders(); // a follower of a quiet log learns at once that the log is there

  let seq = opts.tailLines !== undefined ? tailStart(log, opts.tailLines) : log.firstSeq;
  const endSeq = opts.follow ? Infinity : log.nextSeq;
  let sent = 0;
  let waiting = false;
  let done = false;
  const render = (record: LogRecord): Buffer => (opts.timestamps ? Buffer.concat([Buffer.from(`${formatLogTime(record.time)} `), record.data]) : record.data);

  const finish = (): void => {
    if (done) return;
    done = true;
    stop();
    res.end();
  };
  const pump = (): void => {
    if (done || waiting) return;
    const batch: Buffer[] = [];
    let size = 0;
    let full = false;
    for (;;) {
      if (seq < log.firstSeq) seq = log.firstSeq; // lines that went out of the buffer while the client was slow
      if (seq >= endSeq || seq >= log.nextSeq || size >= BATCH_BYTES) break;
      const record = log.at(seq++)!;
      if (opts.since !== undefined && record.time < opts.since) continue;
      let out = render(record);
      if (opts.limitBytes !== undefined && sent + out.length >= opts.limitBytes) {
        out = out.subarray(0, opts.limitBytes - sent);
        full = true;
      }
      sent += out.length;
      size += out.length;
      batch.push(out);
      if (full) break;
    }
    if (size > 0 && !res.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, size)) && !full) {
      waiting = true;
      res.once('drain', () => {
        waiting = false;
        pump();
      });
      return;
    }
    if (full || seq >= endSeq || (seq >= log.nextSeq && log.ended)) return finish();
    if (seq < log.nextSeq) setImmediate(pump); // more than one batch: let other requests in between
  };
  const unfollow = opts.follow ? log.followRecords(() => pump()) : () => {};
  const unwaitEnd = opts.follow ? log.onEnd(() => pump()) : () => {};
  const stop = (): void => {
    done = true;
    unfollow();
    unwaitEnd();
  };
  req.on('close', stop);
  res.on('close', stop);
  pump();
}
