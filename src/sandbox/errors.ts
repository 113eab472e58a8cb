// The sandbox's two kinds of error.
// - SandboxError: what goes wrong starting the sandbox or reading its world. A PodshellError
//   with an ERR_SANDBOX_* code (docs/errors.md lists them).
// - ApiError: the answer to one API request, a JSON `Status` with "kind" and "apiVersion" in Go's
//   field order, as kube-apiserver writes it. Handlers throw it and the server turns it into the
//   response; it never leaves the server, so its `code` is the HTTP status.

import { PodshellError, type StatusCause, type StatusDetails } from '../protocol/index.ts';

export type { StatusCause, StatusDetails };

/** Something the sandbox could not do: start (ERR_SANDBOX_LISTEN …) or read its world (ERR_SANDBOX_MANIFEST …). */
export class SandboxError extends PodshellError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SandboxError';
  }
}

/** A label or field selector that could not be parsed or built. The message is the one Kubernetes gives. */
export class SelectorError extends SandboxError {
  constructor(message: string) {
    super('ERR_SANDBOX_SELECTOR', message);
    this.name = 'SelectorError';
  }
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  readonly code: number;
  readonly body: StatusBody;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    // Key order matters: it is what Go's encoder writes.
    this.body = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    };
  }
}

/** `pods "demo" not found`. `resource` is the plural resource name, `group` its API group. */
export function notFound(resource: string, name: string, group = ''): ApiError {
  const qualified = group ? `${resource}.${group}` : resource;
  return new ApiError(404, 'NotFound', `${qualified} "${name}" not found`, {
    name,
    ...(group ? { group } : {}),
    kind: resource,
  });
}

/** A 409 for a write naming a resourceVersion that is no longer the object's. `what` is `pods` or `deployments.apps`. */
export function conflict(what: string, name: string, details: Record<string, unknown>): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${what} "${name}": the object has been modified; please apply your changes to the latest version and try again`, details);
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ message }],
  });
}

export function methodNotSupported(resource: string, verb: string): ApiError {
  return new ApiError(405, 'MethodNotAllowed', `${verb} is not supported on resources of kind "${resource}"`, {
    kind: resource,
  });
}
