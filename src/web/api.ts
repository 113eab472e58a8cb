// The gateway's HTTP API as the page uses it (docs/web.md): same-origin fetch (the browser sends the
// cookie and Origin), the CSRF token from /api/me on every state-changing request, and every error
// answer turned into an ApiError carrying the gateway's code, status and sentence.

import { PodshellError } from '../protocol/errors.ts';

/** An error answer of the gateway (`{ error: { code, message, status } }`), or the gateway out of reach. */
export class ApiError extends PodshellError {
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(code, message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** Code of the error raised when no answer came at all (network down, gateway stopped). */
export const UNREACHABLE = 'ERR_WEB_UNREACHABLE';

let csrf: Promise<string> | undefined;

function unreachable(err: unknown): ApiError {
  const why = err instanceof Error && err.message ? ` (${err.message})` : '';
  return new ApiError(UNREACHABLE, `the gateway at ${location.host} cannot be reached${why}`, 0);
}

/** The error an answer that is not 2xx carries, in the gateway's words when it sent some. */
export async function errorOf(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.text();
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body.error && typeof body.error.code === 'string' && typeof body.error.message === 'string') {
      return new ApiError(body.error.code, body.error.message, res.status);
    }
  } catch {
    // not the gateway's error body: described below
  }
  const detail = text.trim().slice(0, 200);
  return new ApiError(`HTTP_${res.status}`, `the gateway answered ${res.status} ${res.statusText}${detail ? `: ${detail}` : ''}`, res.status);
}

/** The CSRF token of this sign-in (fetched once). */
export function csrfToken(): Promise<string> {
  csrf ??= (async () => {
    const res = await send('GET', '/api/me');
    return ((await res.json()) as { csrfToken: string }).csrfToken;
  })();
  csrf.catch(() => (csrf = undefined));
  return csrf;
}

/** One request; resolves with the 2xx answer, rejects with ApiError. */
export async function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit = { method, headers: { ...headers }, credentials: 'same-origin' };
  if (method !== 'GET' && method !== 'HEAD') (init.headers as Record<string, string>)['x-csrf-token'] = await csrfToken();
  if (body !== undefined) {
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw unreachable(err);
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

/** A request whose answer is JSON (or nothing, for 204). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/** `/api/clusters/:cluster/namespaces/:namespace/pods…`, every name encoded. */
export function podsPath(cluster: string, namespace: string, pod?: string): string {
  const base = `/api/clusters/${encodeURIComponent(cluster)}/namespaces/${encodeURIComponent(namespace)}/pods`;
  return pod === undefined ? base : `${base}/${encodeURIComponent(pod)}`;
}

export interface Cluster {
  name: string;
  server: string;
  namespace: string;
  current: boolean;
}

export type { ContainerSummary, PodSummary as Pod } from '../protocol/webapi.ts';

/** What a terminal tab opens: a pod's container, a shell unless `command` is given. */
export interface Target {
  cluster: string;
  namespace: string;
  pod: string;
  container?: string;
  command?: string[];
}

/** An error as the page shows it: a sentence, with what to do when the code says. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
  switch (err.code) {
    case 'ERR_FORBIDDEN':
      return `Forbidden: ${err.message}`;
    case 'ERR_NOT_FOUND':
      return `Not found (the pod may be gone): ${err.message}`;
    case 'ERR_GATEWAY_NO_SHELL':
      return `No shell in this container: ${err.message}`;
    case UNREACHABLE:
      return `Gateway unreachable: ${err.message}`;
    case 'ERR_GATEWAY_UNAUTHENTICATED':
      return `Signed out: ${err.message} — open the login URL that podshell web printed.`;
    default:
      return err.message;
  }
}
