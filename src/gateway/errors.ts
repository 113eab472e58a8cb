// The gateway's errors and the one mapping from any error to the HTTP API's error answer
// (docs/web.md, "Errors"): the library's codes keep their meaning, an error that came from the
// cluster keeps the API server's status and sentence.

import { ApiStatusError, PodshellError } from '../lib/index.ts';

export class GatewayError extends PodshellError {
  /** The HTTP status this error answers with. */
  readonly statusCode: number;

  constructor(code: string, statusCode: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'GatewayError';
    this.statusCode = statusCode;
  }
}

/** The body of every error answer: `{ error: { code, message, status } }`. */
export interface ErrorBody {
  error: { code: string; message: string; status: number };
}

/** HTTP statuses for the library's own codes (errors that did not come from the cluster). */
const statusOfCode: Record<string, number> = {
  ERR_USAGE: 400,
  ERR_TARGET: 400,
  ERR_TRANSFER_FILESPEC: 400,
  ERR_TRANSFER_NOT_FOUND: 404,
  ERR_TRANSFER_LIMIT: 413,
  ERR_REMOTE: 422,
  ERR_TRANSFER_NO_TAR: 422,
  ERR_TRANSFER_NO_SHELL: 422,
  ERR_TRANSFER_UNSAFE: 422,
  ERR_TRANSFER_REMOTE: 422,
  ERR_TIMEOUT: 504,
  ERR_CONNECT: 502,
  ERR_CONNECTION_LOST: 502,
  ERR_PROTOCOL: 502,
  ERR_STATUS_PROTOCOL: 502,
  ERR_BAD_RESPONSE: 502,
  ERR_TRANSFER_CORRUPT: 502,
  ERR_TRANSFER_INTEGRITY: 502,
  // A debug container (POST /api/sessions with `debug`) the cluster cannot give.
  ERR_EPHEMERAL_DISABLED: 501,
  ERR_DEBUG_NOT_STARTED: 504,
  ERR_DEBUG_EXITED: 422,
  ERR_KUBECONFIG: 500,
  ERR_CREDENTIALS: 500,
};

/** Turn any error into the HTTP status and body the API answers with. */
export function errorAnswer(err: unknown): { statusCode: number; body: ErrorBody } {
  let statusCode = 500;
  let code = 'ERR_GATEWAY_INTERNAL';
  let message = 'internal error';
  if (err instanceof GatewayError) {
    statusCode = err.statusCode;
    code = err.code;
    message = err.message;
  } else if (err instanceof ApiStatusError) {
    statusCode = err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 502;
    code = err.code;
    message = err.message;
  } else if (err instanceof PodshellError) {
    statusCode = statusOfCode[err.code] ?? 500;
    code = err.code;
    message = err.message;
  } else if (isClientError(err)) {
    // fastify's own refusals: a body that does not parse or fit a schema, a body too large, …
    statusCode = err.statusCode;
    code = err.statusCode === 413 ? 'ERR_GATEWAY_TOO_LARGE' : 'ERR_GATEWAY_BAD_REQUEST';
    message = err.message;
  }
  return { statusCode, body: { error: { code, message, status: statusCode } } };
}

function isClientError(err: unknown): err is Error & { statusCode: number } {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return err instanceof Error && typeof status === 'number' && status >= 400 && status < 500;
}
