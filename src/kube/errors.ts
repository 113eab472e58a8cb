// Errors of the kube layer: reaching a cluster and asking it things. Match on `code`, not on the
// message (docs/errors.md lists every code). No message ever carries a credential.

import { http } from './node-http.ts';
import { PodshellError } from '../protocol/errors.ts';
import type { Status } from '../protocol/status.ts';

/** How much of a response body an ApiStatusError keeps: 64 KiB. */
export const MAX_ERROR_BODY = 64 * 1024;

/** The stable code for an HTTP status the API server answered with. */
export function apiStatusCode(statusCode: number): string {
  switch (statusCode) {
    case 400:
      return 'ERR_BAD_REQUEST';
    case 401:
      return 'ERR_UNAUTHORIZED';
    case 403:
      return 'ERR_FORBIDDEN';
    case 404:
      return 'ERR_NOT_FOUND';
    case 429:
      return 'ERR_TOO_MANY_REQUESTS';
    default:
      return statusCode >= 500 && statusCode <= 599 ? 'ERR_SERVER' : 'ERR_API_STATUS';
  }
}

/**
 * A non-2xx answer from the API server (redirects included: podshell never follows them).
 * `message` is the server's own Status message when it sent one, as kubectl prints it.
 */
export class ApiStatusError extends PodshellError {
  /** The HTTP status. */
  readonly statusCode: number;
  /** The parsed metav1.Status, when the body is one. */
  readonly status?: Status;
  /** The raw body (its first 64 KiB), for answers that are plain text. */
  readonly body: string;

  constructor(statusCode: number, body: string, status?: Status) {
    super(apiStatusCode(statusCode), apiStatusMessage(statusCode, body, status));
    this.name = 'ApiStatusError';
    this.statusCode = statusCode;
    if (status) this.status = status;
    this.body = body;
  }
}

function statusLine(statusCode: number): string {
  const text = http.STATUS_CODES[statusCode];
  return text ? `${statusCode} ${text}` : `HTTP status ${statusCode}`;
}

function apiStatusMessage(statusCode: number, body: string, status: Status | undefined): string {
  if (status?.message) return status.message;
  const text = body.trim();
  if (!text || status) return statusLine(statusCode);
  // Plain-text answers (kubelet and CRI errors on the legacy exec path, proxies, load
  // balancers) can be whole HTML pages: keep the message to one readable line.
  const oneLine = text.replace(/\s+/g, ' ');
  return `${statusLine(statusCode)}: ${oneLine.length > 1000 ? `${oneLine.slice(0, 1000)}…` : oneLine}`;
}

/** The body as a metav1.Status, when it is one (JSON object with kind Status, or a bare Status). */
export function parseStatus(body: string): Status | undefined {
  const text = body.trim();
  if (!text.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const isStatus = v['kind'] === 'Status' || (v['kind'] === undefined && typeof v['status'] === 'string' && ('message' in v || 'reason' in v || 'code' in v));
  return isStatus ? (v as Status) : undefined;
}

/** An ApiStatusError for a response (exec's WebSocket handshake reuses this for non-101 answers). */
export function apiStatusError(statusCode: number, body: string): ApiStatusError {
  const kept = body.length > MAX_ERROR_BODY ? body.slice(0, MAX_ERROR_BODY) : body;
  return new ApiStatusError(statusCode, kept, parseStatus(kept));
}

/**
 * The kubeconfig or in-cluster configuration cannot be used. Codes: `ERR_KUBECONFIG` (missing,
 * unreadable or invalid kubeconfig, unknown context, no current context, no server),
 * `ERR_NOT_IN_CLUSTER` (no service account environment), `ERR_CREDENTIALS` (a credential source
 * named by a valid configuration failed: exec plugin, token file).
 */
export class ConfigError extends PodshellError {
  constructor(code: 'ERR_KUBECONFIG' | 'ERR_NOT_IN_CLUSTER' | 'ERR_CREDENTIALS', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConfigError';
  }
}

/** The API server cannot be reached: refused, DNS, TLS verification, proxy, reset. Code `ERR_CONNECT`. */
export class ConnectError extends PodshellError {
  /** The server podshell tried to reach. */
  readonly server: string;

  constructor(server: string, message: string, options?: { cause?: unknown }) {
    super('ERR_CONNECT', message, options);
    this.name = 'ConnectError';
    this.server = server;
  }
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A ConnectError for a failed connection to `server` (exec's WebSocket reuses it). The message
 * names the server and the reason, e.g. `cannot reach the API server at https://10.0.0.1:6443:
 * connect ECONNREFUSED 10.0.0.1:6443`.
 */
export function connectError(server: string, cause: unknown): ConnectError {
  const err = cause as NodeJS.ErrnoException | undefined;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  let reason = err instanceof Error ? err.message : String(cause);
  if (code && TLS_VERIFY_CODES.has(code)) {
    reason = `the server's TLS certificate could not be verified: ${reason} (${code}); check the cluster's certificate-authority and tls-server-name`;
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    reason = `cannot resolve host name: ${reason}`;
  }
  return new ConnectError(server, `cannot reach the API server at ${server}: ${reason}`, { cause });
}

/**
 * A target (pod, TYPE/NAME, selector, container) that cannot be used. Code `ERR_TARGET`. Messages
 * use kubectl's wording where kubectl has one (docs/protocol.md, "What kubectl does around the protocol").
 */
export class TargetError extends PodshellError {
  constructor(message: string) {
    super('ERR_TARGET', message);
    this.name = 'TargetError';
  }
}
