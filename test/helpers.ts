// Shared test fixtures: real processes, real sockets, cleaned up by the caller's t.after().

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';

/**
 * An in-process sandbox serving the built-in world and the `extra` manifests (source name → YAML),
 * its kubeconfig in `work`, a new temporary folder named after `prefix`. The caller closes the
 * sandbox and removes `work`.
 */
export async function startWorldSandbox(prefix: string, extra: Record<string, string> = {}): Promise<{ sandbox: Sandbox; work: string }> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const world = readFileSync(new URL('../src/sandbox/world.yaml', import.meta.url), 'utf8');
  const manifestTexts = [{ source: 'built-in world', text: world }, ...Object.entries(extra).map(([source, text]) => ({ source, text }))];
  return { sandbox: await startSandbox({ kubeconfigPath: join(work, 'kubeconfig'), manifestTexts }), work };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Run a program to completion, feeding `input` (then EOF) when given. */
export function run(file: string, args: string[], options: { input?: Buffer | string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {});
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60_000} ms; stderr: ${Buffer.concat(err)}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

export const sha256 = (data: Buffer | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Folder of the machine's real kubectl and its versioned builds (kubectl.1.27 … kubectl.1.33). */
export function kubectlDir(): string {
  const path = execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  return dirname(realpathSync(path));
}

/** The versioned kubectl builds on this machine that speak WebSocket exec (1.30+). */
export function websocketKubectls(): { version: string; path: string }[] {
  const dir = kubectlDir();
  return ['1.30', '1.31', '1.32', '1.33'].map((version) => ({ version, path: join(dir, `kubectl.${version}`) })).filter((k) => existsSync(k.path));
}

/** Every pid whose ancestry leads to `root` (not including root). */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n')) {
    const [pid, ppid] = entry.trim().split(/\s+/).map(Number);
    parent.set(pid!, ppid!);
  }
  const out: number[] = [];
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export { readlinkSync };

export interface SandboxProcess {
  readonly pid: number;
  readonly url: string;
  readonly kubeconfig: string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  readonly child: import('node:child_process').ChildProcess;
}

/** `podshell sandbox` in its own process (so its memory and its death are its own). */
export async function spawnSandbox(kubeconfig: string, args: string[] = []): Promise<SandboxProcess> {
  const bin = new URL('../bin/podshell', import.meta.url).pathname;
  const child = spawn(bin, ['sandbox', '--kubeconfig', kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /^sandbox ready (\S+) /.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`sandbox exited ${code}: ${stderr}`)));
  });
  return {
    pid: child.pid!,
    url,
    kubeconfig,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid!, 'SIGCONT');
        } catch {}
        child.kill('SIGTERM');
      }
      await exited;
    },
  };
}

/** A detached tmux session (its own server) running `command` in a 100x30 window: a real terminal. */
export class TmuxSession {
  private readonly _name: string;

  constructor(name: string, command: string[], size = { cols: 100, rows: 30 }) {
    this._name = `${name}-${process.pid}`;
    this._tmux('new-session', '-d', '-s', this._name, '-x', String(size.cols), '-y', String(size.rows), ...command);
  }

  private _tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this._name, ...args], { encoding: 'utf8' });
  }

  screen(): string {
    return this._tmux('capture-pane', '-p', '-t', this._name);
  }

  /** Wait up to 30 s (a loaded machine) for the screen to match. */
  async waitFor(pattern: RegExp): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (pattern.test(this.screen())) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`screen never matched ${pattern}:\n${this.screen()}`);
  }

  /** Type a line and press Enter. */
  type(line: string): void {
    this._tmux('send-keys', '-t', this._name, line, 'Enter');
  }

  resize(cols: number, rows: number): void {
    this._tmux('resize-window', '-t', this._name, '-x', String(cols), '-y', String(rows));
  }

  /**
   * With a shell prompt on screen (in a 100x30 window): `stty size` says 30 100, and after the
   * window becomes 120x40 it says 40 120 — the size reached the remote terminal both times.
   */
  async shellFollowsResize(): Promise<void> {
    await this.waitFor(/^# ?$/m);
    this.type('stty size');
    await this.waitFor(/^30 100$/m);
    this.resize(120, 40);
    await new Promise((resolve) => setTimeout(resolve, 300));
    this.type('clear; stty size');
    await this.waitFor(/^40 120$/m);
  }

  kill(): void {
    try {
      this._tmux('kill-server');
    } catch {
      // already gone
    }
  }
}

/** A process's command line, for messages ('' when it is gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The process exists and has not exited: a zombie (exited, not yet reaped) does not count. */
export function running(pid: number): boolean {
  try {
    // The state follows the command name in parentheses, which may itself contain ') '.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Poll `condition` every `intervalMs` until it holds; false when `timeoutMs` passes first. */
export async function pollUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * What a pod has for `Cluster.inCluster()`: the service account's token, the cluster's CA and the
 * namespace under `root`/var/run/secrets/kubernetes.io/serviceaccount. Returns `root`.
 */
export function podServiceAccount(root: string, files: { token: string; caPem: string; namespace: string }): string {
  const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'token'), files.token);
  writeFileSync(join(dir, 'ca.crt'), files.caPem);
  writeFileSync(join(dir, 'namespace'), files.namespace);
  return root;
}

/** KUBERNETES_SERVICE_HOST and _PORT pointing at `serverUrl` for this test, as in a pod; restored after it. */
export function inPodEnvironment(t: { after(fn: () => void): void }, serverUrl: string): void {
  const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
  t.after(() => {
    for (const [key, value] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
  const url = new URL(serverUrl);
  process.env['KUBERNETES_SERVICE_HOST'] = url.hostname;
  process.env['KUBERNETES_SERVICE_PORT'] = url.port;
}
