// The options of a logs request, checked as kubectl checks them, and the pods/log query they make.

import { PodshellError } from '../protocol/errors.ts';

export interface LogsOptions {
  /** `POD` or `TYPE/NAME` (one pod: the workload's most active, as kubectl picks it). */
  target?: string;
  /** A label selector: every matching pod. */
  selector?: string;
  /** Default: the client's namespace. */
  namespace?: string;
  /** Default: the pod's default container (annotation `kubectl.kubernetes.io/default-container`, else the first). */
  container?: string;
  /** Every container of each pod: init containers, containers, ephemeral containers. */
  allContainers?: boolean;
  follow?: boolean;
  /** Lines newer than this: seconds, or a duration such as `90s`, `5m`, `1h30m`. */
  since?: number | string;
  /** Lines written at or after this time (RFC 3339 text or a Date). */
  sinceTime?: string | Date;
  /** The last lines of each log (the server's tailLines); omit, or -1, for all. */
  tailLines?: number;
  /** Each line prefixed by the server with its RFC 3339 time (nanoseconds) and a space. */
  timestamps?: boolean;
  /** The previous instance of the container (after a restart). */
  previous?: boolean;
  /** Bytes of each log at most (the server's limitBytes). */
  limitBytes?: number;
  /** When following several logs, how many may be open at once (kubectl's default: 5). */
  maxLogRequests?: number;
  signal?: AbortSignal;
}

/** Seconds in a Go-style duration (`90s`, `1h30m`, `1.5h`), rounded as kubectl rounds it. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  if (text === '0') return 0;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) throw new PodshellError('ERR_USAGE', `invalid duration "${text}": expected a number and a unit (s, m or h), e.g. 30s, 5m, 1h30m`);
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (!text) throw new PodshellError('ERR_USAGE', 'invalid duration "": expected e.g. 30s, 5m, 1h30m');
  return Math.round(total);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** The pods/log query for the options, checked as kubectl checks them. @throws PodshellError ERR_USAGE */
export function logQuery(opts: LogsOptions, container: string): Record<string, string | undefined> {
  let sinceSeconds: number | undefined;
  if (opts.since !== undefined) {
    sinceSeconds = typeof opts.since === 'number' ? Math.round(opts.since) : parseDuration(opts.since);
    if (!(sinceSeconds >= 0)) throw new PodshellError('ERR_USAGE', '--since must be greater than 0');
    if (sinceSeconds === 0) sinceSeconds = undefined;
  }
  let sinceTime: string | undefined;
  if (opts.sinceTime !== undefined) {
    if (opts.sinceTime instanceof Date) {
      if (Number.isNaN(opts.sinceTime.getTime())) throw new PodshellError('ERR_USAGE', 'sinceTime is an invalid Date');
      sinceTime = opts.sinceTime.toISOString().replace(/\.\d+Z$/, 'Z');
    } else {
      if (!RFC3339.test(opts.sinceTime) || Number.isNaN(Date.parse(opts.sinceTime))) {
        throw new PodshellError('ERR_USAGE', `invalid --since-time "${opts.sinceTime}": expected an RFC 3339 time such as 2026-01-02T15:04:05Z`);
      }
      sinceTime = opts.sinceTime;
    }
  }
  if (sinceSeconds !== undefined && sinceTime !== undefined) throw new PodshellError('ERR_USAGE', 'at most one of `sinceTime` or `sinceSeconds` may be specified');
  const tail = opts.tailLines;
  if (tail !== undefined && (!Number.isInteger(tail) || tail < -1)) throw new PodshellError('ERR_USAGE', '--tail must be greater than or equal to -1');
  const limit = opts.limitBytes;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new PodshellError('ERR_USAGE', '--limit-bytes must be greater than 0');
  return {
    container,
    follow: opts.follow ? 'true' : undefined,
    previous: opts.previous ? 'true' : undefined,
    timestamps: opts.timestamps ? 'true' : undefined,
    sinceSeconds: sinceSeconds !== undefined ? String(sinceSeconds) : undefined,
    sinceTime,
    tailLines: tail !== undefined && tail >= 0 ? String(tail) : undefined,
    limitBytes: limit ? String(limit) : undefined,
  };
}

