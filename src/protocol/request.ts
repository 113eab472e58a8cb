// The exec and attach request: URL building for clients, query parsing for servers.

export type StreamKind = 'exec' | 'attach';

export interface StreamRequest {
  readonly kind: StreamKind;
  readonly namespace: string;
  readonly pod: string;
  /** exec only: argv, never passed through a shell. */
  readonly command?: readonly string[];
  readonly container?: string;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

/** Kubernetes' rule: absent → false; `0` or `false` (any case) → false; anything else, even empty → true. */
export function parseQueryBool(value: string | null): boolean {
  if (value === null) return false;
  const v = value.toLowerCase();
  return !(v === '0' || v === 'false');
}

/** The options of an exec or attach request, read from its query the way the apiserver reads them. */
export function parseStreamQuery(params: URLSearchParams, kind: StreamKind): Omit<StreamRequest, 'namespace' | 'pod'> {
  return {
    kind,
    ...(kind === 'exec' ? { command: params.getAll('command') } : {}),
    ...(params.get('container') ? { container: params.get('container')! } : {}),
    stdin: parseQueryBool(params.get('stdin')),
    stdout: parseQueryBool(params.get('stdout')),
    stderr: parseQueryBool(params.get('stderr')),
    tty: parseQueryBool(params.get('tty')),
  };
}

/**
 * The WebSocket URL of an exec or attach request against `server` (the cluster's https URL,
 * possibly with a path prefix). Query keys in kubectl's order; false values omitted.
 */
export function buildStreamUrl(server: string, request: StreamRequest): URL {
  const base = new URL(server);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new SyntaxError(`Invalid URL: ${server}: the server must be an http or https URL`);
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  const segment = (s: string) => encodeURIComponent(s);
  const url = new URL(base.href);
  url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${prefix}/api/v1/namespaces/${segment(request.namespace)}/pods/${segment(request.pod)}/${request.kind}`;
  const params = new URLSearchParams();
  if (request.kind === 'exec') for (const arg of request.command ?? []) params.append('command', arg);
  if (request.container) params.append('container', request.container);
  if (request.stderr) params.append('stderr', 'true');
  if (request.stdin) params.append('stdin', 'true');
  if (request.stdout) params.append('stdout', 'true');
  if (request.tty) params.append('tty', 'true');
  url.search = params.toString();
  return url;
}
