// The Kubernetes API a client meets, apart from the exec/attach upgrades (streams.ts): discovery,
// reads of namespaces, pods, workloads and RBAC objects, pods/log, and SelfSubjectAccessReview.
// Every error is a Status shaped as kube-apiserver shapes it, except a path outside the API: its
// plain-text `404 page not found`.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from './authn.ts';
import type { Container } from './runtime.ts';
import { ApiError, badRequest, notFound } from './errors.ts';
import { parsePodFieldSelector } from './fields.ts';
import { parseLabelSelector } from './labels.ts';
import { serveLogs } from './podlog.ts';
import { readJsonBody } from './patch.ts';
import { forbidden, type NonResourceAttributes, type RbacAuthorizer, type ResourceAttributes } from './rbac.ts';
import { findResource, servedResources, type ResourceInfo, type Store, type StoreEvent } from './store.ts';
import { toTable, wantsTable } from './table.ts';
import { EPHEMERAL_SUBRESOURCE, serveEphemeralContainers } from './ephemeral.ts';
import { patchWorkload, SCALABLE, SCALE_SUBRESOURCES, serveScale, type ScaleController } from './scale.ts';
import type { KubeObject, Pod, UserInfo } from './types.ts';

export const serverVersion = {
  major: '1',
  minor: '35',
  gitVersion: 'v1.35.0-podshell-sandbox',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.25.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export interface ApiContext {
  readonly store: Store;
  readonly authn: Authenticator;
  readonly authz: RbacAuthorizer;
  /** The running container behind `namespace/pod/container`. */
  container(namespace: string, pod: string, container: string): Container | undefined;
  /** Starts the pod's ephemeral container `name` (just added to its spec); absent when the sandbox acts as a cluster without ephemeral containers. */
  startEphemeral?(pod: Pod, name: string): void;
  /** The workload controllers behind the `scale` subresources (scale.ts). */
  readonly scale?: ScaleController;
  /** host:port clients reach the server at. */
  readonly address: string;
}

/** Who is asking, after authentication and impersonation. Throws ApiError (401/403). */
export function identify(ctx: ApiContext, req: IncomingMessage): UserInfo {
  const user = ctx.authn.authenticate(req);
  return ctx.authn.impersonate(req, user, ctx.authz);
}

export function authorize(ctx: ApiContext, user: UserInfo, attrs: ResourceAttributes | NonResourceAttributes): void {
  const decision = ctx.authz.authorize(user, attrs);
  if (!decision.allowed) throw forbidden(user, attrs, decision.reason);
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const apiError = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error)?.message ?? String(err)}`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, apiError.code, apiError.body);
}

/** The parts of a resource path, as the apiserver's RequestInfo resolver reads them. */
export interface ResourcePath {
  readonly group: string;
  readonly version: string;
  readonly namespace?: string;
  readonly resource: string;
  readonly name?: string;
  readonly subresource?: string;
}

/**
 * The request's URL. A target Go's url.ParseRequestURI refuses — a `%` not followed by two hex
 * digits in the path, or a target that is no URL at all — is a 400, as kube-apiserver answers it.
 */
export function requestUrl(req: IncomingMessage): URL {
  const target = req.url ?? '/';
  let url: URL;
  try {
    url = new URL(target, 'https://sandbox');
  } catch {
    throw badRequest(`parse "${target}": invalid URI for request`);
  }
  const bad = /%(?![0-9A-Fa-f]{2}).{0,2}/s.exec(url.pathname);
  if (bad) throw badRequest(`parse "${target}": invalid URL escape "${bad[0]}"`);
  return url;
}

/** url.PathUnescape of one segment: any byte may be escaped; bytes that are not UTF-8 become U+FFFD. */
function unescapeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  const raw = Buffer.from(segment, 'utf8');
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const hex = raw[i] === 0x25 ? raw.toString('latin1', i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(raw[i]!);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname.split('/').filter(Boolean).map(unescapeSegment);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3) return undefined;
  return { group, version, ...(namespace !== undefined ? { namespace } : {}), resource: rest[0]!, ...(rest[1] ? { name: rest[1] } : {}), ...(rest[2] ? { subresource: rest[2] } : {}) };
}

const notFoundResource = () => new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});

function listKind(info: ResourceInfo): string {
  return `${info.kind}List`;
}

function apiVersionOf(info: ResourceInfo): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

/** Discovery documents (legacy, unaggregated: clients fall back to these). */
function discovery(ctx: ApiContext, pathname: string): unknown {
  if (pathname === '/version') return serverVersion;
  if (pathname === '/api') {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: ctx.address }] };
  }
  const groups = groupVersions();
  if (pathname === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups.entries()].filter(([g]) => g !== '').map(([name, version]) => groupDoc(name, version)),
    };
  }
  const parts = pathname.split('/').filter(Boolean);
  if (parts[0] === 'apis' && parts.length === 2 && groups.has(parts[1]!)) return { ...groupDoc(parts[1]!, groups.get(parts[1]!)!), kind: 'APIGroup', apiVersion: 'v1' };
  const gv = parts[0] === 'api' && parts.length === 2 ? { group: '', version: parts[1]! } : parts[0] === 'apis' && parts.length === 3 ? { group: parts[1]!, version: parts[2]! } : undefined;
  if (gv && groups.get(gv.group) === gv.version) return resourceList(ctx, gv.group, gv.version);
  return undefined;
}

function groupVersions(): Map<string, string> {
  const groups = new Map<string, string>();
  for (const r of servedResources) groups.set(r.group, r.version);
  groups.set('authorization.k8s.io', 'v1');
  return groups;
}

function groupDoc(name: string, version: string) {
  const gv = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [gv], preferredVersion: gv };
}

function resourceList(ctx: ApiContext, group: string, version: string): unknown {
  const groupVersion = group ? `${group}/${version}` : version;
  const resources: Record<string, unknown>[] = [];
  if (group === 'authorization.k8s.io') {
    resources.push({ name: 'selfsubjectaccessreviews', singularName: 'selfsubjectaccessreview', namespaced: false, kind: 'SelfSubjectAccessReview', verbs: ['create'] });
  }
  for (const r of servedResources.filter((x) => x.group === group && x.version === version)) {
    resources.push({
      name: r.resource,
      singularName: r.kind.toLowerCase(),
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: [...r.verbs, 'watch'],
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    });
    if (r.resource === 'pods') {
      resources.push(
        { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
        ...(ctx.startEphemeral ? [{ ...EPHEMERAL_SUBRESOURCE, verbs: [...EPHEMERAL_SUBRESOURCE.verbs] }] : []),
        { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
        { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
        { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      );
    }
    const scale = SCALE_SUBRESOURCES.find((x) => x.name === `${r.resource}/scale`);
    if (scale && ctx.scale) resources.push({ ...scale, verbs: [...scale.verbs] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The fields of a SelfSubjectAccessReview the sandbox reads must have the types Go decodes them
 * into; anything else is the decoder's 400, never a failure further in.
 */
function checkReviewTypes(body: unknown): void {
  const cannotDecode = (field: string, type: string) =>
    badRequest(`SelfSubjectAccessReview in version "v1" cannot be handled as a SelfSubjectAccessReview: json: cannot unmarshal ${jsonType(valueAt(body, field))} into Go struct field ${field} of type ${type}`);
  if (body === null) return;
  if (!isObject(body)) throw cannotDecode('', 'v1.SelfSubjectAccessReview');
  const spec = body['spec'];
  if (spec === undefined || spec === null) return;
  if (!isObject(spec)) throw cannotDecode('spec', 'v1.SelfSubjectAccessReviewSpec');
  for (const [key, type] of [['resourceAttributes', 'v1.ResourceAttributes'], ['nonResourceAttributes', 'v1.NonResourceAttributes']] as const) {
    const attrs = spec[key];
    if (attrs === undefined || attrs === null) continue;
    if (!isObject(attrs)) throw cannotDecode(`spec.${key}`, type);
    for (const [name, value] of Object.entries(attrs)) {
      if (value !== null && typeof value !== 'string' && name !== 'fieldSelector' && name !== 'labelSelector') throw cannotDecode(`spec.${key}.${name}`, 'string');
    }
  }
}

function valueAt(body: unknown, field: string): unknown {
  return field === '' ? body : field.split('.').reduce<unknown>((v, k) => (isObject(v) ? v[k] : undefined), body);
}

function jsonType(v: unknown): string {
  return Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v;
}

function selfSubjectAccessReview(ctx: ApiContext, user: UserInfo, body: unknown): unknown {
  checkReviewTypes(body);
  const review = body as { apiVersion?: string; kind?: string; spec?: { resourceAttributes?: Record<string, string>; nonResourceAttributes?: Record<string, string> } } | null;
  const spec = review?.spec ?? {};
  let attrs: ResourceAttributes | NonResourceAttributes;
  if (spec.resourceAttributes) {
    const ra = spec.resourceAttributes;
    attrs = { verb: ra.verb ?? '', group: ra.group ?? '', resource: ra.resource ?? '', ...(ra.subresource ? { subresource: ra.subresource } : {}), ...(ra.name ? { name: ra.name } : {}), ...(ra.namespace ? { namespace: ra.namespace } : {}) };
  } else if (spec.nonResourceAttributes) {
    attrs = { verb: spec.nonResourceAttributes.verb ?? '', path: spec.nonResourceAttributes.path ?? '' };
  } else {
    throw new ApiError(422, 'Invalid', 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified', {
      group: 'authorization.k8s.io',
      kind: 'SelfSubjectAccessReview',
      causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified', field: 'spec.resourceAttributes' }],
    });
  }
  const decision = ctx.authz.authorize(user, attrs);
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) },
  };
}

/** The container a request names, or the pod's only container (the pod registry's validateContainer). */
export function resolveContainer(pod: Pod, requested: string | undefined): string {
  const names = pod.spec.containers.map((c) => c.name);
  const init = (pod.spec.initContainers ?? []).map((c) => c.name);
  const ephemeral = (pod.spec.ephemeralContainers ?? []).map((c) => c.name);
  const all = [...names, ...init, ...ephemeral];
  if (!requested) {
    if (names.length === 1) return names[0]!;
    const more = `${init.length ? ` or one of the init containers: [${init.join(' ')}]` : ''}${ephemeral.length ? ` or one of the ephemeral containers: [${ephemeral.join(' ')}]` : ''}`;
    throw badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]${more}`);
  }
  if (!all.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${pod.metadata.name}`);
  return requested;
}

/** The request's labelSelector and fieldSelector as one test; throws a 400 ApiError when either does not parse. */
function objectFilter(info: ResourceInfo, params: URLSearchParams): (o: KubeObject) => boolean {
  const tests: ((o: KubeObject) => boolean)[] = [];
  const labelSelector = params.get('labelSelector');
  if (labelSelector) {
    let matcher: ReturnType<typeof parseLabelSelector>;
    try {
      matcher = parseLabelSelector(labelSelector);
    } catch (err) {
      throw badRequest(`unable to parse requirement: ${(err as Error).message}`);
    }
    tests.push((o) => matcher.matches(o.metadata.labels));
  }
  const fieldSelector = params.get('fieldSelector');
  if (fieldSelector) {
    if (info.kind === 'Pod') {
      let matches: (pod: Pod) => boolean;
      try {
        matches = parsePodFieldSelector(fieldSelector);
      } catch (err) {
        throw badRequest((err as Error).message);
      }
      tests.push((o) => matches(o as Pod));
    } else {
      genericFieldMatch({ metadata: { name: '' } } as KubeObject, fieldSelector);
      tests.push((o) => genericFieldMatch(o, fieldSelector));
    }
  }
  return (o) => tests.every((t) => t(o));
}

function genericFieldMatch(o: KubeObject, selector: string): boolean {
  return selector.split(',').every((term) => {
    const m = /^\s*(metadata\.name|metadata\.namespace)\s*(==|!=|=)\s*(.*?)\s*$/.exec(term);
    if (!m) throw badRequest(`"${term.split(/[=!]/)[0]}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    const value = m[1] === 'metadata.name' ? o.metadata.name : (o.metadata.namespace ?? '');
    return m[2] === '!=' ? value !== m[3] : value === m[3];
  });
}

/**
 * A watch: the objects that match as ADDED events (or, from a resourceVersion, every change made
 * after it), then each change as it happens, in order — MODIFIED, or ADDED and DELETED when an
 * object starts or stops matching the selectors. A resourceVersion older than the changes the
 * store remembers gets the apiserver's 410 Expired as an ERROR event.
 */
function serveWatch(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, info: ResourceInfo, namespace: string | undefined, params: URLSearchParams, objects: KubeObject[]): void {
  const matches = objectFilter(info, params);
  const inScope = (o: KubeObject) => o.kind === info.kind && (namespace === undefined || o.metadata.namespace === namespace) && matches(o);
  const rawVersion = params.get('resourceVersion') ?? '';
  const fromVersion = rawVersion === '' || rawVersion === '0' ? undefined : Number(rawVersion);
  if (fromVersion !== undefined && !(Number.isSafeInteger(fromVersion) && fromVersion > 0)) {
    throw new ApiError(400, 'BadRequest', `invalid resource version "${rawVersion}"`, {});
  }
  const table = wantsTable(req.headers.accept);
  const includeObject = params.get('includeObject');
  const timeoutSeconds = Number(params.get('timeoutSeconds') ?? '');
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  // The client learns the watch is open now, not at the first event (there may be none for long).
  res.flushHeaders();
  const send = (type: string, object: KubeObject) => {
    const body = table ? toTable(info.kind, [object], object.metadata.resourceVersion ?? ctx.store.resourceVersion, includeObject) : object;
    res.write(`${JSON.stringify({ type, object: body })}\n`);
  };
  const deliver = (event: StoreEvent) => {
    const was = event.previous !== undefined && inScope(event.previous);
    const is = event.type !== 'DELETED' && inScope(event.object);
    if (is) send(was ? 'MODIFIED' : 'ADDED', event.object);
    else if (was) send('DELETED', event.object);
  };
  // Subscribed before replaying: no change falls between the two (both run synchronously).
  const stop = ctx.store.subscribe(deliver);
  let timer: NodeJS.Timeout | undefined;
  const finish = () => {
    stop();
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  req.on('close', finish);
  res.on('close', finish);
  if (fromVersion === undefined) {
    for (const object of objects) send('ADDED', object);
  } else {
    const changes = ctx.store.changesSince(fromVersion);
    if (!changes) {
      const oldest = ctx.store.resourceVersion;
      res.write(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${fromVersion} (${oldest})`, reason: 'Expired', code: 410 } })}\n`);
      finish();
      return;
    }
    for (const event of changes) deliver(event);
  }
  if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0) timer = setTimeout(finish, timeoutSeconds * 1000);
}

/** Serve one non-upgrade request. */
export async function handleRequest(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const url = requestUrl(req);
    const user = identify(ctx, req);
    const method = req.method ?? 'GET';
    const resourcePath = parseResourcePath(url.pathname);
    if (!resourcePath || (url.pathname.startsWith('/apis/') && url.pathname.split('/').filter(Boolean).length < 4)) {
      if (method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
      authorize(ctx, user, { verb: 'get', path: url.pathname });
      const doc = discovery(ctx, url.pathname);
      if (doc !== undefined) return sendJson(res, 200, doc);
      if (url.pathname === '/healthz' || url.pathname === '/livez' || url.pathname === '/readyz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      }
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end('404 page not found\n');
      return;
    }
    await handleResource(ctx, req, res, user, resourcePath, url.searchParams, method);
  } catch (err) {
    sendError(res, err);
  }
}

async function handleResource(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, user: UserInfo, p: ResourcePath, params: URLSearchParams, method: string): Promise<void> {
  if (p.group === 'authorization.k8s.io' && p.version === 'v1' && p.resource === 'selfsubjectaccessreviews' && !p.name && p.namespace === undefined) {
    if (method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, {});
    authorize(ctx, user, { verb: 'create', group: p.group, resource: p.resource });
    return sendJson(res, 201, selfSubjectAccessReview(ctx, user, await readJsonBody(req, (detail) => `the body of the request was in an unknown format - accepted media types include: application/json: ${detail}`)));
  }
  const info = findResource(p.group, p.version, p.resource);
  if (!info || (p.namespace !== undefined && !info.namespaced)) throw notFoundResource();
  const watch = (params.get('watch') ?? '').toLowerCase() === 'true' || params.get('watch') === '1';
  const verb = method === 'GET' ? (p.name ? 'get' : watch ? 'watch' : 'list') : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? (p.name ? 'delete' : 'deletecollection') : method.toLowerCase();
  const attrs: ResourceAttributes = {
    verb,
    group: p.group,
    resource: p.resource,
    ...(p.subresource ? { subresource: p.subresource } : {}),
    ...(p.name ? { name: p.name } : {}),
    ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
  };
  authorize(ctx, user, attrs);

  if (p.subresource) {
    if (info.kind === 'Pod' && (p.subresource === 'exec' || p.subresource === 'attach' || p.subresource === 'portforward')) throw badRequest('Upgrade request required');
    if (info.kind === 'Pod' && p.subresource === 'log' && method === 'GET') {
      const pod = ctx.store.pod(p.namespace ?? '', p.name!);
      if (!pod) throw notFound('pods', p.name!);
      return serveLogs(ctx, req, res, pod, params);
    }
    if (info.kind === 'Pod' && p.subresource === 'ephemeralcontainers' && p.namespace !== undefined && ctx.startEphemeral) {
      return serveEphemeralContainers(ctx, req, res, p.namespace, p.name!, method);
    }
    if (p.subresource === 'scale' && SCALABLE[info.resource] && p.namespace !== undefined && ctx.scale) {
      return serveScale(ctx.scale, ctx.store, req, res, info.resource, info.group, p.namespace, p.name!, method);
    }
    throw notFoundResource();
  }
  if (method === 'PATCH' && SCALABLE[info.resource] && p.name && p.namespace !== undefined && ctx.scale) {
    return patchWorkload(ctx.scale, ctx.store, req, res, info.resource, info.group, p.namespace, p.name);
  }
  if (method !== 'GET') {
    throw new ApiError(405, 'MethodNotAllowed', `the podshell sandbox serves ${info.resource} read-only: ${verb} is not supported`, { group: info.group || undefined, kind: info.resource });
  }
  if (p.name) {
    const object = info.namespaced ? ctx.store.get(info.kind, p.namespace ?? '', p.name) : ctx.store.get(info.kind, undefined, p.name);
    if (!object) throw notFound(info.resource, p.name, info.group);
    if (wantsTable(req.headers.accept)) return sendJson(res, 200, toTable(info.kind, [object], ctx.store.resourceVersion, params.get('includeObject')));
    return sendJson(res, 200, object);
  }
  const objects = ctx.store.list(info.kind, info.namespaced ? p.namespace : undefined).filter(objectFilter(info, params));
  if (watch) return serveWatch(ctx, req, res, info, info.namespaced ? p.namespace : undefined, params, objects);
  if (wantsTable(req.headers.accept)) return sendJson(res, 200, toTable(info.kind, objects, ctx.store.resourceVersion, params.get('includeObject')));
  sendJson(res, 200, {
    kind: listKind(info),
    apiVersion: apiVersionOf(info),
    metadata: { resourceVersion: ctx.store.resourceVersion },
    // Items of a typed list carry no apiVersion or kind, as the apiserver writes them.
    items: objects.map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
  });
}
