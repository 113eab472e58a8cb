// The Status written on channel 3. Key order is Go's (metav1.Status), because
// the sandbox must write what a cluster writes byte for byte.

import { PodshellError } from './errors.ts';
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind?: string;
  apiVersion?: string;
  metadata?: Record<string, unknown>;
  status?: string;
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

const encoder = new TextEncoder();

function ordered<T extends object>(value: T, keys: readonly (keyof T)[]): Partial<T> {
  const out: Partial<T> = {};
  for (const key of keys) {
    const v = value[key];
    // Go's omitempty: drop empty strings, zero numbers, absent values.
    if (v === undefined || v === '' || v === 0) continue;
    out[key] = v;
  }
  return out;
}

/** JSON exactly as Go's encoder writes a metav1.Status (omitempty fields dropped, metadata kept). */
export function statusToJson(status: Status): string {
  const details = status.details
    ? ordered(
        {
          ...status.details,
          ...(status.details.causes
            ? { causes: status.details.causes.map((c) => ordered(c, ['reason', 'message', 'field'])) }
            : {}),
        },
        ['name', 'group', 'kind', 'uid', 'causes', 'retryAfterSeconds'],
      )
    : undefined;
  const body = ordered({ ...status, metadata: status.metadata ?? {}, details }, [
    'kind',
    'apiVersion',
    'metadata',
    'status',
    'message',
    'reason',
    'details',
    'code',
  ]);
  return JSON.stringify(body);
}

export function encodeStatus(status: Status): Uint8Array {
  return encoder.encode(statusToJson(status));
}

export function successStatus(): Status {
  return { metadata: {}, status: 'Success' };
}

/** A command that exited non-zero, as container runtimes and the stream translator report it. */
export function exitCodeStatus(code: number, message: string): Status {
  return {
    metadata: {},
    status: 'Failure',
    message,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

export function internalErrorStatus(message: string): Status {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

export type StatusOutcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'error'; readonly message: string };

export class StatusError extends PodshellError {
  constructor(message: string) {
    super('ERR_STATUS_PROTOCOL', message);
    this.name = 'StatusError';
  }
}

/**
 * What a Status means, decided as client-go's v4 decoder does. Throws
 * StatusError for a Status that cannot be understood.
 */
export function statusOutcome(status: Status): StatusOutcome {
  if (status.status === 'Success') return { kind: 'success' };
  if (status.status !== 'Failure') throw new StatusError('error stream protocol error: unknown error');
  if (status.reason === 'NonZeroExitCode') {
    const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
    if (!cause) throw new StatusError('error stream protocol error: no exit code cause in a NonZeroExitCode status');
    const text = cause.message ?? '';
    const code = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
    if (!(code >= 0 && code <= 255)) throw new StatusError(`error stream protocol error: invalid exit code value "${text}"`);
    return { kind: 'exit', code };
  }
  return { kind: 'error', message: status.message ?? '' };
}

/** Parse the bytes received on channel 3 (all of them, concatenated). */
export function decodeStatus(bytes: Uint8Array): Status {
  const text = new TextDecoder().decode(bytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new StatusError(`error stream protocol error: ${(err as Error).message} in "${text.slice(0, 200)}"`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StatusError(`error stream protocol error: expected a Status object, got "${text.slice(0, 200)}"`);
  }
  return value as Status;
}

export type V1StatusOutcome =
  | { readonly kind: 'success'; readonly status: Status }
  | { readonly kind: 'exit'; readonly code: number; readonly status: Status }
  | { readonly kind: 'error'; readonly message: string };

/**
 * What the error channel of a v1-style protocol (channel.k8s.io, base64.channel.k8s.io) means:
 * those write nothing on success and the bare message text on failure, so an exit code is only
 * recognised by the message's ending (`… command terminated with exit code 3`), 0 to 255. The
 * Status returned is the one a v4 server would have sent.
 */
export function v1StatusOutcome(bytes: Uint8Array): V1StatusOutcome {
  if (bytes.length === 0) return { kind: 'success', status: successStatus() };
  const text = new TextDecoder().decode(bytes);
  const exit = /exit code (\d{1,3})$/.exec(text);
  const code = exit ? Number(exit[1]) : NaN;
  if (code >= 0 && code <= 255) return { kind: 'exit', code, status: exitCodeStatus(code, text) };
  return { kind: 'error', message: text };
}
