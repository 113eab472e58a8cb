// The sessions the gateway owns (docs/web.md, "Sessions"): created through the library, owned by
// the principal that created them (others neither see nor join them), capped in number, and ended
// all together when the gateway stops.

import type WebSocket from 'ws';
import type { ExecSession } from '../lib/index.ts';
import type { ClusterRegistry, GatewayConfig, GatewayMetrics, Principal, SessionRegistry } from './context.ts';
import { auditRecord, type AuditActor, type AuditLog } from './audit.ts';
import { GatewayError, errorAnswer } from './errors.ts';
import type { Recording, Recordings } from './recording.ts';
import { configuredPrefix, identitiesOf, type Identities } from './identity.ts';
import { GatewaySession, newSessionId, type SessionLimits, type SessionSpec } from './session.ts';
import { DEFAULT_DEBUG_IMAGE } from './config.ts';
import { podSummary } from './pods.ts';
import { startDebugSession, noShellError, sessionCommand } from './shell.ts';
import type { AuditedDebug } from './audit.ts';

export interface SessionManagerOptions {
  config: GatewayConfig;
  clusters: ClusterRegistry;
  metrics: GatewayMetrics;
  /** A new stream socket must send `resume` within this, else it is closed with 4000. [default 10_000 ms] */
  resumeTimeoutMs?: number;
  /** How long before the idle timeout the warning notice comes. [default 60_000 ms] */
  idleWarningMs?: number;
  /** How long POST /api/sessions waits for the default shell's first output (its prompt) before answering anyway. [default 10_000 ms] */
  shellReadyMs?: number;
  /** Where session starts, ends and denials are written (audit.ts); none when undefined. */
  audit?: AuditLog;
  /** Where sessions are recorded (recording.ts); none when undefined. */
  recordings?: Recordings;
  /** Put before each session id (the replica's id with team sign-in). [default ''] */
  idPrefix?: string;
}

/** What a client asks for in POST /api/sessions. */
export interface CreateSessionRequest {
  cluster: string;
  namespace: string;
  pod: string;
  container?: string;
  command?: string[];
  tty?: boolean;
  cols?: number;
  rows?: number;
  /**
   * Run the session in a new ephemeral (debug) container of the pod that shares the processes of
   * `container` (default: the pod's default container), made from `image` (default: the config's debugImage).
   */
  debug?: { image?: string };
}

export class SessionManager implements SessionRegistry {
  private readonly _sessions = new Map<string, GatewaySession>();
  private readonly _metrics: GatewayMetrics;
  private readonly _config: GatewayConfig;
  private readonly _limits: SessionLimits;
  private readonly _shellReadyMs: number;
  private readonly _audit: AuditLog | undefined;
  private readonly _recordings: Recordings | undefined;
  private readonly _identities: Identities;
  /** Sessions being created: they count against the cap already. */
  private _starting = 0;
  private _stopping = false;

  constructor(options: SessionManagerOptions) {
    this._config = options.config;
    this._metrics = options.metrics;
    this._shellReadyMs = options.shellReadyMs ?? 10_000;
    this._audit = options.audit;
    this._recordings = options.recordings;
    this._identities = identitiesOf(options.clusters, configuredPrefix(options.config));
    const c = options.config;
    this._limits = {
      graceMs: c.graceMs,
      replayBufferBytes: c.replayBufferBytes,
      highWaterBytes: c.highWaterBytes,
      lowWaterBytes: c.lowWaterBytes,
      idleTimeoutMs: c.idleTimeoutMs,
      maxDurationMs: c.maxDurationMs,
      pingIntervalMs: c.pingIntervalMs,
      resumeTimeoutMs: options.resumeTimeoutMs ?? 10_000,
      idleWarningMs: options.idleWarningMs ?? 60_000,
      ...(options.idPrefix ? { idPrefix: options.idPrefix } : {}),
    };
  }

  /** Sessions whose command still runs, plus those being created. */
  get size(): number {
    let running = 0;
    for (const s of this._sessions.values()) if (s.state === 'running') running++;
    return running + this._starting;
  }

  /**
   * Start a session for `owner`; resolves once its exec is open. `address` is the client's IP, for
   * the audit log, where a refusal is written as a denial with its reason. With a `principal`
   * that has a user, the session runs as that user (identity.ts), once the cluster said the user
   * may `create` on pods/exec there; without one, with the kubeconfig's own credentials.
   */
  async create(owner: string, request: CreateSessionRequest, address = '', principal: Principal = { id: owner, csrfToken: '' }): Promise<GatewaySession> {
    const actor: AuditActor = { user: principal.user ?? owner, groups: [...(principal.groups ?? [])], clientAddress: address };
    const requested = new Date();
    try {
      return await this._create(owner, request, actor, principal);
    } catch (err) {
      if (this._audit) {
        const { body } = errorAnswer(err);
        const asked = { cluster: request.cluster, namespace: request.namespace, pod: request.pod, container: request.container ?? '', command: request.command ?? [], tty: request.tty ?? true };
        const debug = request.debug ? { debug: this._debugOf(request) } : {};
        this._audit.write(auditRecord('session.denied', actor, asked, { sessionId: null, started: requested.toISOString(), reason: body.error, ...debug }));
      }
      throw err;
    }
  }

  private async _create(owner: string, request: CreateSessionRequest, actor: AuditActor, principal: Principal): Promise<GatewaySession> {
    if (this._stopping) throw new GatewayError('ERR_GATEWAY_STOPPING', 503, 'the gateway is stopping');
    if (this.size >= this._config.maxSessions) {
      throw new GatewayError('ERR_GATEWAY_TOO_MANY_SESSIONS', 429, `the gateway already runs ${this.size} sessions, its limit (--max-sessions ${this._config.maxSessions}): end one first`);
    }
    const entry = this._identities.entry(request.cluster, principal);
    const tty = request.tty ?? true;
    const spec: SessionSpec = {
      cluster: entry.name,
      namespace: request.namespace,
      pod: request.pod,
      container: request.container ?? '',
      command: sessionCommand(request.command),
      tty,
      cols: request.cols ?? 80,
      rows: request.rows ?? 24,
    };
    const defaultShell = !request.command || request.command.length === 0;
    const id = (this._limits.idPrefix ?? '') + newSessionId();
    // As the signed-in user, when there is one (identity.ts); refused here when the gateway will not act as them.
    const cluster = this._identities.cluster(entry, principal, id);
    this._starting++;
    let session: GatewaySession | undefined;
    let recording: Recording | undefined;
    let debug: AuditedDebug | undefined;
    try {
      let exec: ExecSession;
      if (request.debug) {
        // A new ephemeral container sharing the target's processes, and the shell attached to it.
        debug = this._debugOf(request);
        await this._identities.checkExec(cluster.client, principal, { namespace: spec.namespace, pod: spec.pod, subresource: 'attach' });
        // No container named: the one a shell would have opened in (the pod's default container).
        if (!debug.targetContainer) debug.targetContainer = podSummary(await cluster.client.getPod(spec.namespace, spec.pod)).defaultContainer;
        const started = await startDebugSession(cluster, {
          pod: spec.pod,
          namespace: spec.namespace,
          image: debug.image,
          targetContainer: debug.targetContainer,
          command: spec.command,
          tty,
          ...(tty ? { size: { cols: spec.cols, rows: spec.rows } } : {}),
        });
        exec = started.exec;
        debug.container = started.container;
        spec.container = started.container;
        this._audit?.write(auditRecord('debug.start', actor, spec, { sessionId: id, started: new Date().toISOString(), debug }));
      } else {
        await this._identities.checkExec(cluster.client, principal, { namespace: spec.namespace, pod: spec.pod, subresource: 'exec' });
        exec = cluster.exec({
          target: { pod: spec.pod },
          namespace: spec.namespace,
          ...(request.container ? { container: request.container } : {}),
          command: spec.command,
          tty,
          stdin: true,
          ...(tty ? { size: { cols: spec.cols, rows: spec.rows } } : {}),
        });
      }
      session = new GatewaySession(owner, spec, exec, this._limits, {
        onGone: (s) => this._gone(s),
        join: () => this._metrics.join(),
        bytes: (direction, count) => this._metrics.bytes(direction, count),
        output: (chunk) => recording?.output(chunk),
        input: (data) => recording?.input(data),
        resize: (cols, rows) => recording?.resize(cols, rows),
      }, id);
      if (this._recordings?.recordInput) session.joinNotices.push({ kind: 'recording-input' });
      // Opened before the exec's first event can arrive (events come on a later tick).
      recording = this._recordings?.open(session.id, owner, {
        cols: spec.cols,
        rows: spec.rows,
        title: `${spec.pod}${spec.container ? `/${spec.container}` : ''} (${spec.namespace}, ${spec.cluster})`,
        env: { TERM: 'xterm-256color', ...(!defaultShell && /(^|\/)[a-z]*sh$/.test(spec.command[0]!) ? { SHELL: spec.command[0]! } : {}) },
      });
      await session.ready(defaultShell ? this._shellReadyMs : 0);
      // A failure before the shell printed anything: the session never became usable.
      const failure = session.failure;
      if (failure) throw failure;
    } catch (err) {
      await session?.end('ended');
      if (session) this._recordings?.forget(session.id);
      recording?.discard();
      if (principal.user !== undefined) cluster.client.close();
      throw (defaultShell && !request.debug && noShellError(err, spec)) || err;
    } finally {
      this._starting--;
    }
    this._sessions.set(session.id, session);
    // A session's own client (it carries the session's id) goes when the session does.
    if (principal.user !== undefined) void session.settled.then(() => cluster.client.close());
    this._metrics.sessionOpened();
    this._audited(session, actor, recording, debug);
    session.start();
    if (this._stopping) await session.end('gateway-stopping');
    return session;
  }

  /** The sessions of `owner`, oldest first. */
  list(owner: string): GatewaySession[] {
    return [...this._sessions.values()].filter((s) => s.owner === owner);
  }

  /** `owner`'s session `id`; another principal's session is as unknown as a missing one. */
  get(owner: string, id: string): GatewaySession {
    const session = this._sessions.get(id);
    if (!session || session.owner !== owner) throw new GatewayError('ERR_GATEWAY_UNKNOWN_SESSION', 404, `no session "${id}"`);
    return session;
  }

  /** Any principal's session, for tests and metrics; undefined when gone. */
  peek(id: string): GatewaySession | undefined {
    return this._sessions.get(id);
  }

  /** Ends every session of `owner`: its sign-in ended (logout, a failed refresh). */
  async endAllOf(owner: string): Promise<void> {
    await Promise.all(this.list(owner).map((s) => s.end('ended')));
  }

  async delete(owner: string, id: string): Promise<void> {
    await this.get(owner, id).end('ended');
  }

  /** A WebSocket upgrade on /api/sessions/:id/stream: join, or close 4004. */
  stream(owner: string, id: string, socket: WebSocket): void {
    const session = this._sessions.get(id);
    if (!session || session.owner !== owner) {
      this._metrics.upgradeFailed('unknown-session');
      socket.close(4004, 'no such session');
      return;
    }
    session.accept(socket);
  }

  async closeAll(reason: string): Promise<void> {
    this._stopping = true;
    void reason; // every client is told `gateway-stopping`; the reason is the server's to log
    await Promise.all([...this._sessions.values()].map((s) => s.end('gateway-stopping')));
  }

  /** The start line now, the end line (and the recording's end) once the exec has ended. */
  /** The debug container a request asks for: its image (the request's, else the config's) and target. */
  private _debugOf(request: CreateSessionRequest): AuditedDebug {
    return { image: request.debug?.image ?? this._config.debugImage ?? DEFAULT_DEBUG_IMAGE, targetContainer: request.container ?? '' };
  }

  private _audited(session: GatewaySession, actor: AuditActor, recording: Recording | undefined, debug?: AuditedDebug): void {
    const started = session.created.toISOString();
    const more = debug ? { debug } : {};
    this._audit?.write(auditRecord('session.start', actor, session.spec, { sessionId: session.id, started, ...more }));
    void session.settled.then(() => {
      recording?.close();
      if (!this._audit) return;
      // Ended by the gateway (the exec was aborted): that reason, not the abort's error.
      const endedBy = session.state === 'exited' && session.exitCode === null ? session.endReason : null;
      const failure = endedBy ? null : session.failure;
      this._audit.write(
        auditRecord('session.end', actor, session.spec, {
          sessionId: session.id,
          started,
          ended: new Date().toISOString(),
          bytesIn: session.bytesIn,
          bytesOut: session.stats().produced,
          exitCode: session.exitCode,
          ...(endedBy ? { endedBy } : {}),
          ...(failure ? { reason: errorAnswer(failure).body.error } : {}),
          ...more,
        }),
      );
    });
  }

  private _gone(session: GatewaySession): void {
    if (this._sessions.get(session.id) !== session) return; // never opened
    this._sessions.delete(session.id);
    this._metrics.sessionClosed((Date.now() - session.created.getTime()) / 1000);
  }
}
