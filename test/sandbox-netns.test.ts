// Each sandbox pod has a network of its own, as on a cluster: its containers share one loopback,
// nothing listening on the host's 127.0.0.1 (the sandbox's API port above all) is reachable from
// a pod, and a pod cannot reach another pod's listeners. Tested from execs in real pods.

import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { Cluster } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { run } from './helpers.ts';

let sandbox: Sandbox;
let dev: Cluster;
let hostServer: Server;
let hostConnections = 0;

before(async () => {
  sandbox = await startSandbox({});
  dev = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath, context: 'podshell-sandbox-dev' });
  hostServer = createServer((socket) => {
    hostConnections++;
    socket.end('host secret\n');
  });
  await new Promise<void>((resolve) => hostServer.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  await sandbox?.close();
  hostServer?.close();
});

function namespaced(t: { skip(message: string): void }): boolean {
  if (sandbox.isolation === 'namespaces') return true;
  t.skip('namespace isolation is not available here');
  return false;
}

/** Connects from inside a pod with python3: prints `connected <first bytes>` or the errno's name. */
const CONNECT = `
import errno, socket, sys, time
deadline = time.time() + float(sys.argv[3])
while True:
    s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
    s.settimeout(5)
    try:
        s.connect((sys.argv[1], int(sys.argv[2])))
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        print("connected", s.recv(64).decode(errors="replace").split("\\n")[0].strip())
        break
    except OSError as e:
        if time.time() > deadline:
            print(errno.errorcode.get(e.errno, str(e)))
            break
        time.sleep(0.2)
    finally:
        s.close()
`;

async function connectFrom(target: string, host: string, port: number, opts: { container?: string; retrySeconds?: number } = {}): Promise<string> {
  const r = await dev.run({ target, ...(opts.container ? { container: opts.container } : {}), command: ['python3', '-c', CONNECT, host, String(port), String(opts.retrySeconds ?? 0)] });
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout.trim();
}

test("a pod's network has its loopback only, up, and is not the host's", async (t) => {
  if (!namespaced(t)) return;
  const r = await dev.run({ target: 'demo', command: ['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; readlink /proc/self/ns/net'] });
  assert.equal(r.exitCode, 0, r.stderr);
  const [iface, ns, ...rest] = r.stdout.trim().split('\n');
  assert.equal(iface, 'lo');
  assert.deepEqual(rest, []);
  assert.match(ns!, /^net:\[\d+\]$/);
  assert.notEqual(ns, readlinkSync('/proc/self/ns/net'));
});

test("nothing on the host's 127.0.0.1 is reachable from a pod: neither a test listener nor the sandbox's API port", async (t) => {
  if (!namespaced(t)) return;
  const hostPort = (hostServer.address() as { port: number }).port;
  const apiPort = Number(new URL(sandbox.url).port);
  // Precondition: the listener answers on the host.
  const onHost = await run('python3', ['-c', CONNECT, '127.0.0.1', String(hostPort), '0']);
  assert.equal(onHost.stdout.toString().trim(), 'connected host secret');
  const before = hostConnections;
  assert.equal(await connectFrom('demo', '127.0.0.1', hostPort), 'ECONNREFUSED');
  assert.equal(await connectFrom('demo', '127.0.0.1', apiPort), 'ECONNREFUSED');
  assert.match(await connectFrom('demo', '::1', apiPort), /^(ECONNREFUSED|EADDRNOTAVAIL)$/);
  // Nor any other address of the host: the pod has no route at all.
  assert.equal(await connectFrom('demo', '10.0.0.1', 80), 'ENETUNREACH');
  assert.equal(hostConnections, before, 'no connection from a pod reached the host listener');
});

test("a pod cannot reach another pod's listener; the pod itself can", async (t) => {
  if (!namespaced(t)) return;
  // Precondition: echo-http listens on 9090 (it may still be starting).
  assert.equal(await connectFrom('echo-http', '127.0.0.1', 9090, { retrySeconds: 60 }), 'connected HTTP/1.0 200 OK');
  assert.equal(await connectFrom('demo', '127.0.0.1', 9090), 'ECONNREFUSED');
});

test("a pod's containers share its loopback: the sidecar reaches what app listens on", async (t) => {
  if (!namespaced(t)) return;
  const pods = await run('kubectl', ['--kubeconfig', sandbox.kubeconfigPath, 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}']);
  const web = pods.stdout.toString().trim();
  assert.match(web, /^web-/);
  const listener = dev.run({
    target: web,
    container: 'app',
    command: ['python3', '-c', 'import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(("127.0.0.1", 7070))\ns.listen()\nc, _ = s.accept()\nc.recv(64)\nc.sendall(b"from app\\n")\nc.close()'],
  });
  assert.equal(await connectFrom(web, '127.0.0.1', 7070, { container: 'sidecar', retrySeconds: 60 }), 'connected from app');
  assert.equal((await listener).exitCode, 0);
  // Another pod of the same deployment has a loopback of its own.
  assert.equal(await connectFrom('demo', '127.0.0.1', 7070), 'ECONNREFUSED');
});
