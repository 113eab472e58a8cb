// Exec credential plugins (a kubeconfig user's `exec:`), run as client-go runs them: the command
// with its args and env (KUBERNETES_EXEC_INFO included, see kubeconfig.ts), stdin closed, its
// ExecCredential read from stdout and kept until its expirationTimestamp (for the client's life
// without one). A plugin that does not answer in time is killed with every process it started
// (it runs in its own process group), and the request fails naming it.

import { ConfigError } from './errors.ts';
import { raceAbort } from './transport.ts';

/** The `exec:` entry of a kubeconfig user. */
export interface ExecConfig {
  command: string;
  args?: string[] | null;
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
}

/** What podshell uses of an ExecCredential's status. */
export interface ExecCredentialStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  /** RFC 3339. */
  expirationTimestamp?: string;
}

/** How long a credential plugin may take before it is killed: 30 000 ms. */
export const DEFAULT_PLUGIN_TIMEOUT_MS = 30_000;

/** Most of a plugin's stdout or stderr podshell keeps: 1 MiB. */
const MAX_OUTPUT = 1024 * 1024;

/** One user's plugin, with its cached credential. */
export class ExecPlugin {
  private readonly _exec: ExecConfig;
  private readonly _user: string;
  private readonly _timeoutMs: number;
  private _cached: { status: ExecCredentialStatus; expires: number } | undefined;
  private _running: { promise: Promise<ExecCredentialStatus>; waiters: number; stop: () => void } | undefined;

  constructor(exec: ExecConfig, userName: string, timeoutMs = DEFAULT_PLUGIN_TIMEOUT_MS) {
    this._exec = exec;
    this._user = userName;
    this._timeoutMs = timeoutMs;
  }

  /** The plugin's command while it runs (for messages), else undefined. */
  get running(): string | undefined {
    return this._running ? this._exec.command : undefined;
  }

  /**
   * The cached credential while it has not expired, else a fresh one (concurrent callers share
   * one run). When every caller waiting for a run has aborted, the plugin is stopped.
   * @throws ConfigError ERR_CREDENTIALS; the signal's reason when it aborts
   */
  credential(signal?: AbortSignal): Promise<ExecCredentialStatus> {
    if (this._cached && this._cached.expires > Date.now()) return Promise.resolve(this._cached.status);
    signal?.throwIfAborted();
    if (!this._running) {
      const control = new AbortController();
      const run = { promise: this._run(control.signal), waiters: 0, stop: () => control.abort() };
      run.promise.catch(() => {});
      run.promise.finally(() => {
        if (this._running === run) this._running = undefined;
      }).catch(() => {});
      this._running = run;
    }
    const run = this._running;
    run.waiters++;
    if (!signal) return run.promise;
    // The caller stops waiting at once; the plugin is stopped when no caller waits any more.
    const onAbort = () => {
      if (--run.waiters === 0) run.stop();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return raceAbort(run.promise, signal).finally(() => signal.removeEventListener('abort', onAbort));
  }

  private _fail(reason: string): ConfigError {
    return new ConfigError('ERR_CREDENTIALS', `cannot get credentials for user "${this._user}": ${reason}`);
  }

  private async _run(stop: AbortSignal): Promise<ExecCredentialStatus> {
    const output = await this._spawn(stop);
    const status = this._parse(output);
    const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Infinity;
    this._cached = { status, expires: Number.isNaN(expires) ? 0 : expires };
    return status;
  }

  private _spawn(stop: AbortSignal): Promise<string> {
    const { command } = this._exec;
    if (!command) return Promise.reject(this._fail('the exec plugin has no command'));
    const env = { ...process.env };
    for (const e of this._exec.env ?? []) env[e.name] = e.value;
    return new Promise<string>((resolve, reject) => {
      // node:child_process is loaded here, by the few users with a plugin: not at every start-up.
      const { spawn } = process.getBuiltinModule('node:child_process');
      const child = spawn(command, this._exec.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let stdout = '';
      let stderr = '';
      let done = false;
      const finish = (err: Error | undefined, value?: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stop.removeEventListener('abort', onStop);
        if (err) reject(err);
        else resolve(value!);
      };
      const kill = () => {
        // The whole process group: the plugin and anything it started (a browser login helper,
        // a sleeping child) that still holds its output open.
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const timer = setTimeout(() => {
        kill();
        finish(this._fail(`the exec plugin "${command}" did not answer within ${this._timeoutMs} ms and was stopped`));
      }, this._timeoutMs);
      // Nobody waits any more (their requests timed out or were aborted).
      const onStop = () => {
        kill();
        finish(this._fail(`the exec plugin "${command}" was stopped: no request waits for it any more`));
      };
      stop.addEventListener('abort', onStop, { once: true });
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (data: string) => {
        if (stdout.length < MAX_OUTPUT) stdout += data;
      });
      child.stderr.on('data', (data: string) => {
        if (stderr.length < MAX_OUTPUT) stderr += data;
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        finish(err.code === 'ENOENT' ? this._fail(`the exec plugin "${command}" was not found`) : this._fail(`cannot run the exec plugin "${command}": ${err.message}`));
      });
      child.on('close', (code, signal) => {
        if (code === 0) return finish(undefined, stdout);
        const said = stderr.trim().replace(/\s+/g, ' ');
        const why = said || `the exec plugin "${command}" ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
        finish(this._fail(why.length > 1000 ? `${why.slice(0, 1000)}…` : why));
      });
    });
  }

  private _parse(stdout: string): ExecCredentialStatus {
    const { command, apiVersion } = this._exec;
    let value: unknown;
    try {
      value = JSON.parse(stdout);
    } catch {
      throw this._fail(`the exec plugin "${command}" did not print an ExecCredential (JSON) on its standard output`);
    }
    const cred = value as { apiVersion?: unknown; kind?: unknown; status?: unknown } | null;
    if (typeof cred !== 'object' || cred === null || Array.isArray(cred) || typeof cred.status !== 'object' || cred.status === null) {
      throw this._fail(`the exec plugin "${command}" printed an ExecCredential without a status`);
    }
    if (apiVersion && cred.apiVersion !== undefined && cred.apiVersion !== apiVersion) {
      throw this._fail(`the exec plugin "${command}" answered with apiVersion ${JSON.stringify(cred.apiVersion)}, but the kubeconfig asks for ${apiVersion}`);
    }
    const s = cred.status as Record<string, unknown>;
    const status: ExecCredentialStatus = {};
    for (const key of ['token', 'clientCertificateData', 'clientKeyData', 'expirationTimestamp'] as const) {
      if (typeof s[key] === 'string' && s[key]) status[key] = s[key];
    }
    if (!status.token && !(status.clientCertificateData && status.clientKeyData)) {
      throw this._fail(`the exec plugin "${command}" printed an ExecCredential with neither a token nor a client certificate and key`);
    }
    return status;
  }
}
