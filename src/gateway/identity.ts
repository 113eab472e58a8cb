// Who the gateway is toward a cluster (docs/web.md, "Acting as the user"): a principal signed in
// as a person (team sign-in) acts through the cluster's own credentials plus impersonation of
// PREFIX + user and PREFIX + each group, so the cluster's RBAC decides what that person may do;
// the one-time-token sign-in keeps the kubeconfig's own credentials. Request headers from
// clients never reach a cluster: the impersonation is built here, from the principal only.

import { Cluster, type Impersonation, type KubeClient } from '../lib/index.ts';
import type { ClusterEntry, ClusterRegistry, GatewayConfig, Principal } from './context.ts';
import { GatewayError } from './errors.ts';

/** The prefix put before every user and group name from the identity provider. */
export const DEFAULT_IDENTITY_PREFIX = 'podshell:';
/** Library clients kept for (cluster, identity) pairs; the least recently used goes first. */
export const DEFAULT_IDENTITY_CACHE = 256;
/** The extra sent with a session's requests: the gateway session's id. */
export const SESSION_EXTRA = 'podshell.dev/session';

/** A cluster entry that can also act as someone else (clusters.ts makes these). */
export interface ImpersonatingEntry extends ClusterEntry {
  /** A new library handle with the entry's credentials plus this impersonation. */
  as(impersonate: Impersonation): Cluster;
}

function canImpersonate(entry: ClusterEntry): entry is ImpersonatingEntry {
  return typeof (entry as Partial<ImpersonatingEntry>).as === 'function';
}

/** The prefix a configuration asks for: `identityPrefix` when the config has it, else the default. */
export function configuredPrefix(config: GatewayConfig): string {
  const prefix = config.identityPrefix;
  return typeof prefix === 'string' ? prefix : DEFAULT_IDENTITY_PREFIX;
}

/** The `create` on pods/exec or pods/attach asked of the cluster before a command starts. */
export interface ExecAccess {
  namespace: string;
  pod: string;
  subresource: 'exec' | 'attach';
}

interface AccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

export class Identities {
  readonly prefix: string;
  private readonly _clusters: ClusterRegistry;
  private readonly _max: number;
  /** Insertion order is use order: the first key is the least recently used. */
  private readonly _cache = new Map<string, Cluster>();

  /**
   * @throws GatewayError ERR_GATEWAY_IDENTITY when the prefix starts with `system:`
   * @example
   * const identities = new Identities(ctx.clusters, { prefix: 'sso:' });
   * const cluster = identities.cluster(identities.entry('prod', request.principal), request.principal);
   */
  constructor(clusters: ClusterRegistry, options: { prefix?: string; cacheSize?: number } = {}) {
    const prefix = options.prefix ?? DEFAULT_IDENTITY_PREFIX;
    if (prefix.startsWith('system:')) {
      throw new GatewayError('ERR_GATEWAY_IDENTITY', 500, `the identity prefix "${prefix}" starts with "system:", which names the cluster's own users and groups`);
    }
    this.prefix = prefix;
    this._clusters = clusters;
    this._max = Math.max(1, options.cacheSize ?? DEFAULT_IDENTITY_CACHE);
  }

  /** Library clients held right now. */
  get cached(): number {
    return this._cache.size;
  }

  /** Whether `principal` may see `entry` (its `groups`, when it has some). */
  visible(entry: ClusterEntry, principal: Principal): boolean {
    if (!entry.groups || entry.groups.length === 0) return true;
    const mine = new Set(principal.groups ?? []);
    return entry.groups.some((g) => mine.has(g));
  }

  /** The clusters `principal` may see. */
  list(principal: Principal): ClusterEntry[] {
    return this._clusters.list().filter((e) => this.visible(e, principal));
  }

  /** The cluster `name`; one `principal` may not see is as unknown as a missing one (404 ERR_GATEWAY_UNKNOWN_CLUSTER). */
  entry(name: string, principal: Principal): ClusterEntry {
    const entry = this._clusters.get(name);
    if (!this.visible(entry, principal)) {
      const names = this.list(principal).map((e) => e.name);
      throw new GatewayError('ERR_GATEWAY_UNKNOWN_CLUSTER', 404, `no cluster "${name}": ${names.length ? `the clusters are ${names.join(', ')}` : 'no cluster is open to you'}`);
    }
    return entry;
  }

  /**
   * What the gateway asks the cluster to act as for `principal`: undefined for a sign-in without a
   * user (the kubeconfig's own credentials).
   * @throws GatewayError ERR_GATEWAY_IDENTITY (403) when a resulting name starts with `system:`
   */
  impersonation(principal: Principal, sessionId?: string): Impersonation | undefined {
    if (principal.user === undefined) return undefined;
    const user = this.prefix + principal.user;
    const groups = (principal.groups ?? []).map((g) => this.prefix + g);
    for (const name of [user, ...groups]) {
      if (name.startsWith('system:')) {
        throw new GatewayError('ERR_GATEWAY_IDENTITY', 403, `the gateway does not act as "${name}": names starting with "system:" belong to the cluster`);
      }
    }
    if (principal.user === '') throw new GatewayError('ERR_GATEWAY_IDENTITY', 403, 'the sign-in names no user');
    return { user, groups, ...(sessionId ? { extra: { [SESSION_EXTRA]: [sessionId] } } : {}) };
  }

  /**
   * The library handle to use for `principal` on `entry`: the entry's own for a sign-in without a
   * user, else one acting as the user (kept in a bounded cache, except a session's own, which
   * carries the session's id).
   */
  cluster(entry: ClusterEntry, principal: Principal, sessionId?: string): Cluster {
    const impersonate = this.impersonation(principal, sessionId);
    if (!impersonate) return entry.cluster();
    if (!canImpersonate(entry)) {
      throw new GatewayError('ERR_GATEWAY_IDENTITY', 403, `cluster "${entry.name}" cannot act as a signed-in user`);
    }
    if (sessionId) return entry.as(impersonate);
    const key = JSON.stringify([entry.name, impersonate.user, impersonate.groups]);
    let cluster = this._cache.get(key);
    if (cluster) {
      this._cache.delete(key);
    } else {
      cluster = entry.as(impersonate);
      if (this._cache.size >= this._max) {
        const oldest = this._cache.keys().next().value!;
        // Idle proxy-tunnel connections go with it; a request still running keeps its own.
        this._cache.get(oldest)!.client.close();
        this._cache.delete(oldest);
      }
    }
    this._cache.set(key, cluster);
    return cluster;
  }

  /**
   * For a principal with a user: ask the cluster (as that user) whether it may `create` on
   * pods/exec or pods/attach of this pod, and refuse with 403 ERR_FORBIDDEN when not. An API
   * server older than 1.35 lets a WebSocket exec through with `get` alone; the gateway does not.
   */
  async checkExec(client: KubeClient, principal: Principal, access: ExecAccess, signal?: AbortSignal): Promise<void> {
    if (principal.user === undefined) return;
    const review = await client.request<AccessReview>({
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { namespace: access.namespace, verb: 'create', group: '', resource: 'pods', subresource: access.subresource, name: access.pod } },
      },
      ...(signal ? { signal } : {}),
    });
    if (review.status?.allowed === true) return;
    const who = this.prefix + principal.user;
    const reason = review.status?.reason || review.status?.evaluationError;
    throw new GatewayError(
      'ERR_FORBIDDEN',
      403,
      `pods "${access.pod}" is forbidden: User "${who}" cannot create resource "pods/${access.subresource}" in API group "" in the namespace "${access.namespace}"${reason ? `: ${reason}` : ''}`,
    );
  }
}

const shared = new WeakMap<ClusterRegistry, Map<string, Identities>>();

/** The one Identities of a registry and prefix, shared by the route groups (and their cache). */
export function identitiesOf(clusters: ClusterRegistry, prefix: string): Identities {
  let byPrefix = shared.get(clusters);
  if (!byPrefix) shared.set(clusters, (byPrefix = new Map()));
  let identities = byPrefix.get(prefix);
  if (!identities) byPrefix.set(prefix, (identities = new Identities(clusters, { prefix })));
  return identities;
}
