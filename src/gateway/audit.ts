// The audit log (docs/web.md, "Audit"): one JSON line per session start, end and denial, written
// as it happens (appended, one write per line). It says who ran what where, when, for how long and
// how much went each way; never keystrokes, tokens or cookies.

import { closeSync, openSync, writeSync } from 'node:fs';
import type { EndingReason, SessionDescription } from '../protocol/webshell.ts';

export type AuditEvent = 'session.start' | 'session.end' | 'session.denied' | 'debug.start' | 'logs.start' | 'logs.end' | 'logs.denied';

/** What a log read asked for (the `logs.*` events). */
export interface AuditedLogs {
  follow: boolean;
  timestamps: boolean;
  download: boolean;
  tailLines?: number;
  sinceSeconds?: number;
}

/** The debug container a session runs in (`debug.start`, and the session's own events). */
export interface AuditedDebug {
  image: string;
  /** The container whose processes it shares. */
  targetContainer: string;
  /** The ephemeral container's name; absent while it was not created (a denial). */
  container?: string;
}

/** One line of the audit log. */
export interface AuditRecord {
  time: string;
  event: AuditEvent;
  /** The sign-in's principal id (with team sign-in: the user). */
  user: string;
  /** The user's groups; empty until team sign-in fills them. */
  groups: string[];
  cluster: string;
  namespace: string;
  pod: string;
  /** "" when a denied session never learnt its container. */
  container: string;
  command: string[];
  tty: boolean;
  /** The request's IP address. */
  clientAddress: string;
  /** null for a denial (the session never existed). */
  sessionId: string | null;
  /** RFC 3339 times; `ended` null until the end. */
  started: string;
  ended: string | null;
  /** Input bytes from the client, output bytes from the process. */
  bytesIn: number;
  bytesOut: number;
  exitCode: number | null;
  /** For an end: why the gateway ended the session while its command still ran (`ended` is a DELETE). */
  endedBy?: EndingReason;
  /** For a denial, or a session that failed: the error code and the API server's sentence. */
  reason?: { code: string; message: string; status?: number };
  /** For the `logs.*` events: what was read. */
  logs?: AuditedLogs;
  /** For a session in a debug container: its image and target. */
  debug?: AuditedDebug;
}

/** Who asked, and from where: what the HTTP request tells about a session's creator. */
export interface AuditActor {
  user: string;
  groups?: string[];
  clientAddress: string;
}

/** The subset of a session an audit line describes. */
export type AuditedSession = Pick<SessionDescription, 'cluster' | 'namespace' | 'pod' | 'container' | 'command' | 'tty'>;

export class AuditLog {
  private _fd: number | null;
  private readonly _stderr: boolean;
  private _failed = false;

  /** `target`: a file (appended to, created with mode 0600) or `-` for stderr. */
  constructor(target: string) {
    this._stderr = target === '-';
    this._fd = this._stderr ? null : openSync(target, 'a', 0o600);
  }

  /** Append one line. A failed write (a full disk) is said once on stderr and never thrown. */
  write(record: AuditRecord): void {
    const line = `${JSON.stringify(record)}\n`;
    if (this._stderr) process.stderr.write(line);
    else if (this._fd !== null) {
      try {
        writeSync(this._fd, line);
      } catch (err) {
        if (!this._failed) process.stderr.write(`podshell web: cannot write the audit log: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
        this._failed = true;
      }
    }
  }

  close(): void {
    if (this._fd !== null) closeSync(this._fd);
    this._fd = null;
  }
}

/** A record for `session` as `actor` asked for it; the times and counts are the caller's. */
export function auditRecord(
  event: AuditEvent,
  actor: AuditActor,
  session: AuditedSession,
  fields: Pick<AuditRecord, 'sessionId' | 'started'> & Partial<Pick<AuditRecord, 'ended' | 'bytesIn' | 'bytesOut' | 'exitCode' | 'endedBy' | 'reason' | 'logs' | 'debug'>>,
): AuditRecord {
  return {
    time: new Date().toISOString(),
    event,
    user: actor.user,
    groups: [...(actor.groups ?? [])],
    cluster: session.cluster,
    namespace: session.namespace,
    pod: session.pod,
    container: session.container,
    command: [...session.command],
    tty: session.tty,
    clientAddress: actor.clientAddress,
    sessionId: fields.sessionId,
    started: fields.started,
    ended: fields.ended ?? null,
    bytesIn: fields.bytesIn ?? 0,
    bytesOut: fields.bytesOut ?? 0,
    exitCode: fields.exitCode ?? null,
    ...(fields.endedBy ? { endedBy: fields.endedBy } : {}),
    ...(fields.reason ? { reason: fields.reason } : {}),
    ...(fields.logs ? { logs: fields.logs } : {}),
    ...(fields.debug ? { debug: fields.debug } : {}),
  };
}
