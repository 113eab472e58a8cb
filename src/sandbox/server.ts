// startSandbox(): the whole local cluster — certificates, the world of objects, one real process
// environment per container, and the HTTPS server speaking the Kubernetes API.

import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Socket } from 'node:net';
import { stringify } from 'yaml';
import { allSubprotocols, isSubprotocol, type Subprotocol } from '../protocol/index.ts';
import { handleRequest, type ApiContext } from './api.ts';
import { Authenticator } from './authn.ts';
import { SandboxError } from './errors.ts';
import { parseManifests } from './manifest.ts';
import { createPki, type CertPair } from './pki.ts';
import { bootstrapPolicy, RbacAuthorizer } from './rbac.ts';
import { Kubelet, type BackoffOptions } from './kubelet.ts';
import { createPortForwardServer } from './portforward.ts';
import { Runtime } from './runtime.ts';
import { ScaleController } from './scale.ts';
import { Store } from './store.ts';
import type { Pod } from './types.ts';
import { createStreamServer } from './streams.ts';
import { buildWorld, builtinManifest } from './world.ts';

export { SandboxError, SelectorError } from './errors.ts';
export { ManifestError } from './manifest.ts';
export type { BackoffOptions } from './kubelet.ts';

export interface SandboxOptions {
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Where to write the kubeconfig (mode 0600, replacing any file there); default: a file in the sandbox's state folder. */
  kubeconfigPath?: string;
  /** Manifest files (multi-document YAML); default: the built-in world. */
  manifests?: string[];
  /** Manifest texts, for programs that build their world in code. */
  manifestTexts?: { source: string; text: string }[];
  /** Subprotocols to accept for exec/attach; default: all. `['v4.channel.k8s.io', …]` acts like Kubernetes < 1.30. */
  protocols?: string[];
  /** Container isolation: 'auto' (default) uses mount+UTS namespaces when the machine allows. */
  isolation?: 'auto' | 'namespaces' | 'none';
  /**
   * When a container's main process keeps failing, the back-off before it is started again
   * (10 s doubling to 300 s by default, as a kubelet's).
   */
  restartBackoff?: BackoffOptions;
  /**
   * Serve `pods/ephemeralcontainers` (default true); false acts as a cluster without ephemeral
   * containers (Kubernetes < 1.23): the subresource is a 404.
   */
  ephemeralContainers?: boolean;
  /** Where warnings go (default: stderr). */
  warn?: (message: string) => void;
}

export interface UserCredentials {
  readonly token?: string;
  readonly clientCert: CertPair;
}

export interface Sandbox {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly kubeconfigPath: string;
  /** The kubeconfig's YAML text. */
  readonly kubeconfig: string;
  /** The sandbox CA, PEM. */
  readonly caPem: string;
  /** Every user's token (when it has one) and a client certificate issued for it. */
  readonly users: Readonly<Record<string, UserCredentials>>;
  readonly isolation: 'namespaces' | 'none';
  close(): Promise<void>;
}

function acceptedProtocols(names: string[] | undefined): Subprotocol[] {
  if (!names) return [...allSubprotocols];
  const accepted: Subprotocol[] = [];
  for (const name of names) {
    if (!isSubprotocol(name)) {
      throw new SandboxError('ERR_SANDBOX_PROTOCOL', `unknown subprotocol "${name}": expected one of ${allSubprotocols.filter(Boolean).join(', ')}`);
    }
    accepted.push(name);
  }
  if (accepted.length === 0) throw new SandboxError('ERR_SANDBOX_PROTOCOL', 'at least one subprotocol must be accepted');
  return accepted;
}

async function loadObjects(options: SandboxOptions) {
  const sources: { source: string; text: string }[] = [...(options.manifestTexts ?? [])];
  for (const file of options.manifests ?? []) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new SandboxError('ERR_SANDBOX_MANIFEST', `cannot read manifest ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    sources.push({ source: file, text });
  }
  if (sources.length === 0) sources.push({ source: 'built-in world', text: builtinManifest });
  return buildWorld(sources.flatMap(({ source, text }) => parseManifests(text, source)));
}

function contextName(user: string): string {
  return user === 'admin' ? 'podshell-sandbox' : `podshell-sandbox-${user}`;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const warn = options.warn ?? ((message: string) => process.stderr.write(`podshell: ${message}\n`));
  const accepted = acceptedProtocols(options.protocols);
  const world = await loadObjects(options);
  const pki = await createPki();
  const stateDir = await mkdtemp(join(tmpdir(), 'podshell-sandbox-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rm(stateDir, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    const runtime = await Runtime.create({ stateDir, isolation: options.isolation ?? 'auto', warn });
    cleanups.push(() => runtime.close());

    const store = new Store(world, bootstrapPolicy());
    const authz = new RbacAuthorizer(store.rbac());
    const authn = new Authenticator({ users: () => store.users() });
    const kubelet = new Kubelet(runtime, store, options.restartBackoff);
    // Runs before the runtime's close: no restart races the end.
    cleanups.push(() => kubelet.close());
    await kubelet.startAll(world.pods);

    const server: Server = createServer({ key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const ctx: ApiContext = {
      store,
      authn,
      authz,
      container: (ns, pod, name) => kubelet.container(ns, pod, name),
      ...(options.ephemeralContainers === false ? {} : { startEphemeral: (pod: Pod, name: string) => kubelet.startEphemeral(pod, name) }),
      scale: new ScaleController(store, kubelet),
      get address() {
        const addr = server.address();
        return typeof addr === 'object' && addr ? `127.0.0.1:${addr.port}` : '127.0.0.1';
      },
    };
    const streams = createStreamServer(ctx, { accepted });
    const sockets = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.on('request', (req, res) => void handleRequest(ctx, req, res));
    const portForward = createPortForwardServer(ctx, { dial: (pod, port) => runtime.dialPod(pod.metadata.uid!, port), network: runtime.isolation === 'none' ? 'host' : 'pod' });
    server.on('upgrade', (req, socket, head) => (portForward.handles(req) ? portForward : streams).handleUpgrade(req, socket, head));
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new SandboxError('ERR_SANDBOX_LISTEN', err.code === 'EADDRINUSE' ? `port ${options.port} on 127.0.0.1 is already in use` : `cannot listen on 127.0.0.1:${options.port ?? 0}: ${err.message}`)),
      );
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          streams.close();
          portForward.close();
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        }),
    );
    const url = `https://${ctx.address}`;

    const users: Record<string, UserCredentials> = {};
    for (const user of world.users) {
      const name = user.metadata.name;
      const groups = (user.spec.groups ?? []).filter((g) => g !== 'system:authenticated');
      users[name] = { ...(user.spec.tokens?.[0] ? { token: user.spec.tokens[0] } : {}), clientCert: await pki.issueClientCert({ user: name, groups }) };
    }
    const kubeconfig = kubeconfigYaml(url, pki.ca.certPem, users);
    const kubeconfigPath = options.kubeconfigPath ?? join(stateDir, 'kubeconfig');
    await writeKubeconfig(kubeconfigPath, kubeconfig);

    let closing: Promise<void> | undefined;
    return {
      url,
      kubeconfigPath,
      kubeconfig,
      caPem: pki.ca.certPem,
      users,
      isolation: runtime.isolation,
      close: () => (closing ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * The kubeconfig holds the admin's client key, so it is readable by its owner only — also when a
 * file is already there (writeFile's mode applies only to a file it creates): write a fresh 0600
 * file next to it, then rename it into place.
 */
async function writeKubeconfig(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { mode: 0o600, flag: 'wx' });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw new SandboxError('ERR_SANDBOX_KUBECONFIG', `cannot write the kubeconfig ${path}: ${(err as Error).message}`);
  }
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/**
 * One context per user. The admin authenticates with its client certificate, the others with
 * their tokens (or a certificate when they have none), so both ways are in daily use.
 */
function kubeconfigYaml(url: string, caPem: string, users: Record<string, UserCredentials>): string {
  const names = Object.keys(users).sort((a, b) => (a === 'admin' ? -1 : b === 'admin' ? 1 : a.localeCompare(b)));
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    'current-context': names.includes('admin') ? 'podshell-sandbox' : contextName(names[0] ?? 'admin'),
    clusters: [{ name: 'podshell-sandbox', cluster: { server: url, 'certificate-authority-data': b64(caPem) } }],
    users: names.map((name) => {
      const creds = users[name]!;
      const useCert = name === 'admin' || !creds.token;
      return {
        name: `podshell-sandbox-${name}`,
        user: useCert ? { 'client-certificate-data': b64(creds.clientCert.certPem), 'client-key-data': b64(creds.clientCert.keyPem) } : { token: creds.token },
      };
    }),
    contexts: names.map((name) => ({ name: contextName(name), context: { cluster: 'podshell-sandbox', user: `podshell-sandbox-${name}`, namespace: 'default' } })),
  });
}
