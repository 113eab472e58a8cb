// Authentication and impersonation as kube-apiserver 1.35 does them:
// - a union of authenticators tried in order: client certificate (x509) → bearer token → the
//   token carried in a WebSocket subprotocol, wrapped in the system:authenticated group adder
//   (and optionally the anonymous fallback); tokens come from a static token list;
// - impersonation headers with the legacy `impersonate` permission checks.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { badRequest, unauthorized } from './errors.ts';
import { SYSTEM_AUTHENTICATED, SYSTEM_UNAUTHENTICATED, forbidden } from './rbac.ts';
import type { RbacAuthorizer, ResourceAttributes } from './rbac.ts';
import type { SandboxUser, UserInfo } from './types.ts';

export interface AuthnOptions {
  /** The users who can log in; read on every request, so changes apply at once. */
  users: () => SandboxUser[];
  /**
   * kube-apiserver `--anonymous-auth`: a request carrying no credentials at all becomes
   * `system:anonymous` (groups `system:unauthenticated`) instead of a 401. Invalid credentials
   * are a 401 either way.
   * @default false
   */
  anonymous?: boolean;
}

export const ANONYMOUS_USER = 'system:anonymous';
/** user.CredentialIDKey: x509 users carry the SHA-256 of their certificate under it. */
export const CREDENTIAL_ID_KEY = 'authentication.kubernetes.io/credential-id';
export const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';
const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';
const AUTHENTICATION_GROUP_VERSION = 'authentication.k8s.io/v1';
const EXTRA_HEADER_PREFIX = 'impersonate-extra-';

/** Internal: a credential was presented but is no good. Any of these ends in a 401. */
class CredentialError extends Error {}

export class Authenticator {
  readonly #users: () => SandboxUser[];
  readonly #anonymous: boolean;

  constructor(opts: AuthnOptions) {
    this.#users = opts.users;
    this.#anonymous = opts.anonymous ?? false;
  }

  /**
   * Who sent `req`. Tried in kube-apiserver's order — x509 client certificate, `Authorization:
   * Bearer`, then a `base64url.bearer.authorization.k8s.io.<token>` WebSocket subprotocol — and the
   * first that succeeds wins, even when an earlier one failed. The user gets `system:authenticated`.
   *
   * Like kube-apiserver, a successful bearer token is removed from the request: the `authorization`
   * header is deleted, or the token subprotocol is dropped from `sec-websocket-protocol` (so a
   * WebSocket server reading `req.headers` later only sees the real protocols).
   *
   * @throws ApiError 401 `Unauthorized` for an invalid credential, or for none (unless `anonymous`).
   */
  authenticate(req: IncomingMessage): UserInfo {
    let failed = false;
    for (const method of [this.#x509, this.#bearer, this.#protocolToken]) {
      let user: UserInfo | undefined;
      try {
        user = method.call(this, req);
      } catch (err) {
        if (!(err instanceof CredentialError)) throw err;
        failed = true;
        continue;
      }
      if (user) return withAuthenticatedGroup(user);
    }
    if (failed || !this.#anonymous) throw unauthorized();
    return { name: ANONYMOUS_USER, groups: [SYSTEM_UNAUTHENTICATED] };
  }

  /**
   * Apply `Impersonate-User`, `Impersonate-Group` (repeatable), `Impersonate-Uid` and
   * `Impersonate-Extra-<key>` (key lower-cased, then percent-decoded). Each value is checked
   * for `user` with verb `impersonate` on, in order: users (or serviceaccounts in the user's
   * namespace for `system:serviceaccount:<ns>:<name>`), groups, userextras/<key> and uids; the
   * value is the resource name.
   *
   * @returns `user` itself without impersonation headers, else the impersonated user: the given
   * groups (a service account without groups gets its fixed ones) plus `system:authenticated`.
   * @throws ApiError 400 `requested [...] without impersonating a user` for groups, extras or a uid
   * without a user; 403 `users "alice" is forbidden: User "dev" cannot impersonate resource "users"
   * in API group "" at the cluster scope` when a check fails.
   */
  impersonate(req: IncomingMessage, user: UserInfo, authorizer: RbacAuthorizer): UserInfo {
    const requests = impersonationRequests(req);
    if (requests.length === 0) return user;

    const groupsSpecified = requests.some((r) => r.kind === 'Group');
    let username = '';
    let groups: string[] = [];
    let uid: string | undefined;
    const extra: Record<string, string[]> = {};
    for (const request of requests) {
      const attrs: ResourceAttributes = {
        verb: 'impersonate',
        group: request.apiVersion === AUTHENTICATION_GROUP_VERSION ? 'authentication.k8s.io' : '',
        resource: '',
        name: request.name,
        namespace: request.namespace,
      };
      switch (request.kind) {
        case 'ServiceAccount':
          attrs.resource = 'serviceaccounts';
          username = `${SERVICE_ACCOUNT_USER_PREFIX}${request.namespace}:${request.name}`;
          if (!groupsSpecified) groups = ['system:serviceaccounts', `system:serviceaccounts:${request.namespace}`];
          break;
        case 'User':
          attrs.resource = 'users';
          username = request.name;
          break;
        case 'Group':
          attrs.resource = 'groups';
          groups.push(request.name);
          break;
        case 'UserExtra':
          attrs.resource = 'userextras';
          attrs.subresource = request.fieldPath;
          (extra[request.fieldPath] ??= []).push(request.name);
          break;
        case 'UID':
          attrs.resource = 'uids';
          uid = request.name;
          break;
      }
      const decision = authorizer.authorize(user, attrs);
      if (!decision.allowed) throw forbidden(user, attrs, decision.reason);
    }

    if (username !== ANONYMOUS_USER) {
      if (!groups.includes(SYSTEM_AUTHENTICATED) && !groups.includes(SYSTEM_UNAUTHENTICATED)) groups.push(SYSTEM_AUTHENTICATED);
    } else if (!groups.includes(SYSTEM_UNAUTHENTICATED)) {
      groups.push(SYSTEM_UNAUTHENTICATED);
    }
    return {
      name: username,
      ...(uid ? { uid } : {}),
      groups,
      ...(Object.keys(extra).length > 0 ? { extra } : {}),
    };
  }

  /** x509.Authenticator with CommonNameUserConversion. */
  #x509(req: IncomingMessage): UserInfo | undefined {
    const socket = req.socket;
    if (!(socket instanceof TLSSocket)) return undefined;
    const cert = socket.getPeerCertificate();
    if (!cert || !cert.raw) return undefined; // no client certificate
    if (!socket.authorized) throw new CredentialError(`verifying certificate failed: ${String(socket.authorizationError)}`);
    const subject = cert.subject as unknown as Record<string, string | string[] | undefined> | undefined;
    // Go's pkix.Name keeps the last CN and every O.
    const cn = [subject?.['CN'] ?? []].flat().at(-1);
    if (!cn) return undefined;
    const groups = [subject?.['O'] ?? []].flat();
    const fingerprint = createHash('sha256').update(cert.raw).digest('hex');
    return { name: cn, groups, extra: { [CREDENTIAL_ID_KEY]: [`X509SHA256=${fingerprint}`] } };
  }

  /** bearertoken.Authenticator: `Authorization: Bearer <token>` (scheme case-insensitive). */
  #bearer(req: IncomingMessage): UserInfo | undefined {
    const auth = (req.headers.authorization ?? '').trim();
    if (!auth) return undefined;
    const space = auth.indexOf(' ');
    if (space < 0 || auth.slice(0, space).toLowerCase() !== 'bearer') return undefined;
    const rest = auth.slice(space + 1);
    const token = rest.split(' ', 1)[0]!;
    if (!token) return undefined; // `Bearer  abc` (two spaces): an empty token, ignored
    const user = this.#userForToken(token);
    if (!user) throw new CredentialError('invalid bearer token');
    delete req.headers.authorization;
    return user;
  }

  /** websocket.ProtocolAuthenticator. */
  #protocolToken(req: IncomingMessage): UserInfo | undefined {
    if (!isWebSocketRequest(req)) return undefined;
    const header = req.headers['sec-websocket-protocol'];
    if (header === undefined) return undefined;
    let split: { token?: string; rest: string };
    try {
      split = parseProtocolToken(header);
    } catch (err) {
      throw new CredentialError((err as Error).message);
    }
    if (!split.token) return undefined;
    const user = this.#userForToken(split.token);
    if (!user) throw new CredentialError('invalid bearer token');
    req.headers['sec-websocket-protocol'] = split.rest;
    return user;
  }

  /** tokenfile.TokenAuthenticator over the SandboxUsers' `spec.tokens`. */
  #userForToken(token: string): UserInfo | undefined {
    const wanted = createHash('sha256').update(token).digest();
    for (const user of this.#users()) {
      for (const candidate of user.spec.tokens ?? []) {
        if (timingSafeEqual(wanted, createHash('sha256').update(candidate).digest())) {
          return {
            name: user.metadata.name,
            ...(user.spec.uid ? { uid: user.spec.uid } : {}),
            groups: [...(user.spec.groups ?? [])],
          };
        }
      }
    }
    return undefined;
  }
}

/**
 * Strip bearer-token subprotocols from a `Sec-WebSocket-Protocol` header value, for subprotocol
 * negotiation. Never throws.
 * @returns the other protocols joined with "," (trimmed, order kept) and the decoded token when
 * the header is one {@link parseProtocolToken} accepts.
 */
export function splitProtocolToken(header: string): { token?: string; rest: string } {
  try {
    return parseProtocolToken(header);
  } catch {
    const rest = header.split(',').map((p) => p.trim()).filter((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX));
    return { rest: rest.join(',') };
  }
}

/**
 * kube-apiserver's reading of a bearer-token subprotocol (websocket.ProtocolAuthenticator).
 * @returns as {@link splitProtocolToken}.
 * @throws Error, with kube-apiserver's wording, for two token protocols, a token that is not
 * unpadded base64url or not UTF-8, or a token with no other protocol beside it.
 */
export function parseProtocolToken(header: string): { token?: string; rest: string } {
  let token: string | undefined;
  let sawToken = false;
  const rest: string[] = [];
  for (const raw of header.split(',')) {
    const protocol = raw.trim();
    if (!protocol.startsWith(BEARER_PROTOCOL_PREFIX)) {
      rest.push(protocol);
      continue;
    }
    if (sawToken) throw new Error('multiple base64.bearer.authorization tokens specified');
    sawToken = true;
    const encoded = protocol.slice(BEARER_PROTOCOL_PREFIX.length);
    // Go's base64.RawURLEncoding: no padding, URL alphabet, and no length ≡ 1 (mod 4).
    if (!/^[A-Za-z0-9_-]*$/.test(encoded) || encoded.length % 4 === 1) {
      throw new Error('invalid base64.bearer.authorization token encoding');
    }
    try {
      token = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.from(encoded, 'base64url'));
    } catch {
      throw new Error('invalid base64.bearer.authorization token');
    }
  }
  // At least one other subprotocol must remain, so there is one to remove the token from and
  // one to echo back to the client.
  if (token && rest.length === 0) throw new Error('missing additional subprotocol');
  return { ...(token ? { token } : {}), rest: rest.join(',') };
}

/** wsstream.IsWebSocketRequest: `Upgrade: websocket` and a Connection header mentioning upgrade. */
function isWebSocketRequest(req: IncomingMessage): boolean {
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return false;
  return (req.headers.connection ?? '').toLowerCase().includes('upgrade');
}

/** group.AuthenticatedGroupAdder. */
function withAuthenticatedGroup(user: UserInfo): UserInfo {
  if (user.name === ANONYMOUS_USER) return user;
  if (user.groups.includes(SYSTEM_AUTHENTICATED) || user.groups.includes(SYSTEM_UNAUTHENTICATED)) return user;
  return { ...user, groups: [...user.groups, SYSTEM_AUTHENTICATED] };
}

// --- impersonation headers -----------------------------------------------------------------------

/** The v1.ObjectReference fields buildImpersonationRequests fills in ('' when unset). */
interface ImpersonationRequest {
  kind: 'ServiceAccount' | 'User' | 'Group' | 'UserExtra' | 'UID';
  namespace: string;
  name: string;
  apiVersion: string;
  /** The extra key, for kind UserExtra. */
  fieldPath: string;
}

function impersonationRequests(req: IncomingMessage): ImpersonationRequest[] {
  const headers = req.headersDistinct;
  const requests: ImpersonationRequest[] = [];
  const add = (kind: ImpersonationRequest['kind'], name: string, more: Partial<ImpersonationRequest> = {}) =>
    requests.push({ kind, namespace: '', name, apiVersion: '', fieldPath: '', ...more });

  const requestedUser = headers['impersonate-user']?.[0] ?? '';
  if (requestedUser) {
    const sa = splitServiceAccountUsername(requestedUser);
    if (sa) add('ServiceAccount', sa.name, { namespace: sa.namespace });
    else add('User', requestedUser);
  }

  const groups = headers['impersonate-group'] ?? [];
  for (const group of groups) add('Group', group);

  let hasExtra = false;
  for (const [header, values] of Object.entries(headers)) {
    if (!header.startsWith(EXTRA_HEADER_PREFIX) || !values) continue;
    hasExtra = true;
    const key = unescapeExtraKey(header.slice(EXTRA_HEADER_PREFIX.length).toLowerCase());
    for (const value of values) add('UserExtra', value, { apiVersion: AUTHENTICATION_GROUP_VERSION, fieldPath: key });
  }

  const requestedUid = headers['impersonate-uid']?.[0] ?? '';
  if (requestedUid) add('UID', requestedUid, { apiVersion: AUTHENTICATION_GROUP_VERSION });

  if ((groups.length > 0 || hasExtra || requestedUid) && !requestedUser) {
    // Go's %v of the []v1.ObjectReference: {Kind Namespace Name UID APIVersion ResourceVersion FieldPath}.
    const printed = requests.map((r) => `{${[r.kind, r.namespace, r.name, '', r.apiVersion, '', r.fieldPath].join(' ')}}`);
    throw badRequest(`requested [${printed.join(' ')}] without impersonating a user`);
  }
  return requests;
}

/** url.PathUnescape, keeping the key as sent when it is malformed. */
function unescapeExtraKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** serviceaccount.SplitUsername: `system:serviceaccount:<ns>:<name>` with valid names, else undefined. */
function splitServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_USER_PREFIX)) return undefined;
  const parts = username.slice(SERVICE_ACCOUNT_USER_PREFIX.length).split(':');
  if (parts.length !== 2) return undefined;
  const [namespace, name] = parts as [string, string];
  if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) return undefined;
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) return undefined;
  return { namespace, name };
}
