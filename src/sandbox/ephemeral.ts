// The pods/ephemeralcontainers subresource: GET serves the pod, PATCH (JSON patch, merge patch,
// strategic merge patch) and PUT change its spec.ephemeralContainers — and nothing else of it, as
// on a cluster. Ephemeral containers can be added, never changed or removed; each new one is
// handed to the kubelet, which starts it and reports it in status.ephemeralContainerStatuses.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { sendJson, type ApiContext } from './api.ts';
import { ApiError, badRequest, conflict, notFound } from './errors.ts';
import { FieldErrors, isObj, type Obj } from './fielderrors.ts';
import { goValue } from './goformat.ts';
import { requestedObject, type Json } from './patch.ts';
import { validateContainer } from './validate.ts';
import type { ContainerSpec, Pod } from './types.ts';

export const EPHEMERAL_SUBRESOURCE = { name: 'pods/ephemeralcontainers', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] } as const;

/** Fields a container may have that an ephemeral container may not (it has no ports, probes or resources). */
const FORBIDDEN_FIELDS = ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'resizePolicy', 'restartPolicy'];

/** At most this many ephemeral containers per pod: each one runs as processes on this machine. */
export const MAX_EPHEMERAL_CONTAINERS = 20;

const CAUSE_REASONS: [string, string][] = [
  ['Too many', 'FieldValueTooMany'],
  ['Required value', 'FieldValueRequired'],
  ['Invalid value', 'FieldValueInvalid'],
  ['Duplicate value', 'FieldValueDuplicate'],
  ['Forbidden', 'FieldValueForbidden'],
  ['Not found', 'FieldValueNotFound'],
  ['Unsupported value', 'FieldValueNotSupported'],
];

/** 422 Invalid for the pod, with one cause per `<field>: <problem>` line, as the apiserver answers. */
function invalidPod(name: string, errors: readonly string[]): ApiError {
  const causes = errors.map((e) => {
    const at = e.indexOf(': ');
    const field = at < 0 ? '' : e.slice(0, at);
    const message = at < 0 ? e : e.slice(at + 2);
    const reason = CAUSE_REASONS.find(([prefix]) => message.startsWith(prefix))?.[1] ?? 'FieldValueInvalid';
    return { reason, message, field };
  });
  const body = errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`;
  return new ApiError(422, 'Invalid', `Pod "${name}" is invalid: ${body}`, { name, kind: 'Pod', causes });
}

/**
 * The problems with changing `pod`'s ephemeral containers to `next`: the list's items must be
 * containers, the existing ones unchanged and in place, names unique among all the pod's
 * containers, a target (when named) one of the pod's containers.
 */
export function validateEphemeralUpdate(pod: Pod, next: unknown): string[] {
  const v = new FieldErrors();
  const path = 'spec.ephemeralContainers';
  const list = v.array(path, next);
  if (list.length > MAX_EPHEMERAL_CONTAINERS) {
    v.list.push(`${path}: Too many: ${list.length}: must have at most ${MAX_EPHEMERAL_CONTAINERS} items (the podshell sandbox's limit: each one runs as processes on this machine)`);
    return v.list;
  }
  const existing = pod.spec.ephemeralContainers ?? [];
  for (const old of existing) {
    const now = list.find((c) => isObj(c) && c['name'] === old.name);
    if (now === undefined) v.forbidden(path, `existing ephemeral containers ${goValue(old.name)} may not be removed`);
    else if (!isDeepStrictEqual(now, old)) v.forbidden(path, `existing ephemeral containers ${goValue(old.name)} may not be changed`);
  }
  const names = new Set<string>([...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name));
  const regular = new Set(pod.spec.containers.map((c) => c.name));
  list.forEach((c, i) => {
    const at = `${path}[${i}]`;
    validateContainer(v, c, at, names);
    if (!isObj(c)) return;
    for (const field of FORBIDDEN_FIELDS) if (c[field] !== undefined && c[field] !== null) v.forbidden(`${at}.${field}`, 'cannot be set for an Ephemeral Container');
    if (isObj(c['resources']) && Object.keys(c['resources']).length > 0) v.forbidden(`${at}.resources`, 'cannot be set for an Ephemeral Container');
    const target = v.string(`${at}.targetContainerName`, c['targetContainerName']);
    if (target !== undefined && target !== '' && !regular.has(target)) v.list.push(`${at}.targetContainerName: Not found: ${goValue(target)}`);
  });
  return v.list;
}

/** GET, PATCH or PUT of `namespaces/<ns>/pods/<name>/ephemeralcontainers`. */
export async function serveEphemeralContainers(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, namespace: string, name: string, method: string): Promise<void> {
  const pod = ctx.store.pod(namespace, name);
  if (method !== 'GET' && method !== 'PATCH' && method !== 'PUT') {
    throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
  }
  if (!pod) throw notFound('pods', name);
  if (method === 'GET') return sendJson(res, 200, pod);
  const updated = await requestedObject(req, method as 'PATCH' | 'PUT', pod as unknown as Json);
  if (!isObj(updated)) throw badRequest('the body of the request must be a Pod object');
  const meta = isObj(updated['metadata']) ? updated['metadata'] : {};
  if (meta['name'] !== undefined && meta['name'] !== name) throw badRequest(`the name of the object (${String(meta['name'])}) does not match the name on the URL (${name})`);
  const version = meta['resourceVersion'];
  if (method === 'PUT' && typeof version === 'string' && version !== '' && version !== pod.metadata.resourceVersion) {
    throw conflict('pods', name, { name, kind: 'pods' });
  }
  const spec = isObj(updated['spec']) ? (updated['spec'] as Obj) : {};
  const next = spec['ephemeralContainers'] ?? [];
  const errors = validateEphemeralUpdate(pod, next);
  if (errors.length) throw invalidPod(name, errors);
  const known = new Set((pod.spec.ephemeralContainers ?? []).map((c) => c.name));
  const added = (next as ContainerSpec[]).filter((c) => !known.has(c.name));
  if (added.length > 0 && pod.metadata['deletionTimestamp'] !== undefined) {
    throw invalidPod(name, ['spec.ephemeralContainers: Forbidden: cannot be added to a pod that is being deleted']);
  }
  if (added.length > 0) {
    ctx.store.update(pod, (o) => {
      (o as Pod).spec.ephemeralContainers = structuredClone(next as ContainerSpec[]);
    });
    for (const c of added) ctx.startEphemeral?.(pod, c.name);
  }
  sendJson(res, 200, pod);
}
