// What the gateway's parts share: its configuration, the clusters it serves, the sessions it
// owns, its metrics and its log. server.ts builds one GatewayContext and hands it to each route
// plugin (routes-*.ts); each part depends on these interfaces, not on each other's files.

import type {} from 'fastify';
import type { Cluster } from '../lib/index.ts';
import type { AuditLog } from './audit.ts';

export interface GatewayConfig {
  /** Address to listen on. [default '127.0.0.1'] */
  address: string;
  /** TCP port; 0 picks a free one. [default 0] */
  port: number;
  /** PEM files; both or neither. Without them the gateway serves plain HTTP, on loopback only unless `insecureBind`. */
  tlsCert?: string;
  tlsKey?: string;
  /** Serve plain HTTP on a non-loopback address anyway. [default false] */
  insecureBind: boolean;
  /** Extra `Host` names (with port) the gateway answers to, beyond 127.0.0.1, localhost and [::1] on its port. */
  allowedHosts: string[];
  /** How long a session with no client joined keeps running. [default 60_000 ms] */
  graceMs: number;
  /** Output kept per session for replay after a rejoin, allocated on first use. [default 1 MiB] */
  replayBufferBytes: number;
  /** Unacknowledged output above which the session's cluster stream is paused. [default 256 KiB] */
  highWaterBytes: number;
  /** …and below which it resumes. [default 64 KiB] */
  lowWaterBytes: number;
  /** No input for this long ends a session (a warning 60 s before). [default 30 min] */
  idleTimeoutMs: number;
  /** A session ends after this long whatever happens. [default 12 h] */
  maxDurationMs: number;
  /** Open sessions in the whole gateway. [default 100] */
  maxSessions: number;
  /** WebSocket ping interval toward clients. [default 20_000 ms] */
  pingIntervalMs: number;
  /** Largest upload body. [default 1 GiB] */
  maxUploadBytes: number;
  /** Put before a signed-in user's name and groups toward clusters; never `system:…`. [default 'podshell:'] */
  identityPrefix?: string;
  /** Signed-in people in one of these groups may fetch every session's recording (team sign-in). [default: none] */
  auditorGroups?: string[];
  // -- audit and recordings (audit.ts, recording.ts; docs/web.md "Audit", "Recordings") --
  /** Audit log file (appended to), or `-` for stderr. [default: none] */
  auditLog?: string;
  /** Folder where each session is recorded as `ID.cast` (asciicast v2). [default: none] */
  recordingsDir?: string;
  /** Record the client's input too (the client is told). [default false] */
  recordInput?: boolean;
  /** Recordings older than this are removed, at start and hourly. [default: kept] */
  recordingsMaxAgeMs?: number;
  /** The image of the debug container the web shell offers for a container without a shell. [default 'busybox:1.36'] */
  debugImage?: string;
}

/** A context of the kubeconfig, served as a cluster. */
export interface ClusterEntry {
  /** The context's name: the id clients use. */
  readonly name: string;
  readonly server: string;
  /** The context's namespace, else "default". */
  readonly namespace: string;
  /** Whether this is the kubeconfig's current-context. */
  readonly current: boolean;
  /** When set, only principals in one of these groups (as the identity provider names them) see the cluster; absent: everyone. */
  readonly groups?: readonly string[];
  /** The library's handle, created on first use. */
  cluster(): Cluster;
}

export interface ClusterRegistry {
  list(): readonly ClusterEntry[];
  /** Throws GatewayError ERR_GATEWAY_UNKNOWN_CLUSTER (404) for a name that is not a context. */
  get(name: string): ClusterEntry;
}

/** The sessions the gateway owns (session.ts). */
export interface SessionRegistry {
  /** Ends every session (gateway shutdown); resolves once each connection to a cluster is closed. */
  closeAll(reason: string): Promise<void>;
  /** Open sessions right now. */
  readonly size: number;
}

/** Prometheus metrics (metrics.ts); the parts call these, never prom-client directly. */
export interface GatewayMetrics {
  sessionOpened(): void;
  sessionClosed(durationSeconds: number): void;
  join(): void;
  bytes(direction: 'in' | 'out', count: number): void;
  upgradeFailed(reason: string): void;
}

export interface GatewayContext {
  readonly config: GatewayConfig;
  readonly clusters: ClusterRegistry;
  readonly sessions: SessionRegistry;
  readonly metrics: GatewayMetrics;
  /** The audit log (audit.ts), when the gateway keeps one: routes other than the sessions' write their actions there. */
  readonly audit?: AuditLog;
}

/**
 * Who made a request: set by the sign-in hook (auth.ts) on every authenticated request. Today a
 * sign-in through the one-time token; with team sign-in it will carry the user and groups.
 */
export interface Principal {
  /** Opaque and stable for one sign-in: sessions belong to it. */
  readonly id: string;
  /** The CSRF token of this sign-in (docs/web.md, "Signing in"). */
  readonly csrfToken: string;
  /**
   * The person, when the gateway signs people in (team sign-in: OpenID Connect or a trusted
   * proxy's headers), as the identity provider names them — before any prefix. Absent for the
   * one-time-token sign-in, which acts with the kubeconfig's own credentials.
   */
  readonly user?: string;
  /** The person's groups from the identity provider (before any prefix); [] when none. */
  readonly groups?: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by auth.ts on every request that passed sign-in; routes under /api may rely on it. */
    principal: Principal;
  }
}
