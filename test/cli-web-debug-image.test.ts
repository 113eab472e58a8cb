// `podshell web --debug-image IMAGE` as a user runs it: the debug container the page's button starts
// (POST /api/sessions with `debug`) is made from that image, whether or not a --config file names
// one (the command line wins), the file's image is used without the flag, and a value that is not an
// image reference is a usage error before anything listens.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Sandbox } from '../src/sandbox/server.ts';
import { signIn } from './gateway-client.ts';
import { run, startWorldSandbox } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;

// Team sign-in through a trusted proxy names people's groups with the prefix podshell:.
const BINDINGS = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: podshell-ops }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "podshell:ops" }]
`;

let sandbox: Sandbox;
let work: string;

before(async () => {
  ({ sandbox, work } = await startWorldSandbox('podshell-webimg-', { bindings: BINDINGS }));
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

interface Web {
  /** What follows "web ready ": the login URL, or with --config the gateway's URL. */
  url: string;
  child: ChildProcess;
}

/** `podshell web --kubeconfig SANDBOX ARGS…` until its ready line; it is stopped (SIGTERM, awaited) after the test. */
async function startWeb(t: { after(fn: () => Promise<void>): void }, args: string[]): Promise<Web> {
  const child = spawn(bin, ['web', '--kubeconfig', sandbox.kubeconfigPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /^web ready (\S+)\n/m.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`podshell web exited ${code}: ${stderr}`)));
  });
  return { url, child };
}

const distroless = { cluster: 'podshell-sandbox', namespace: 'default', pod: 'distroless', container: 'app', cols: 80, rows: 24, debug: {} };

/** Start a debug session on distroless/app with `headers`, end it; the new container's name. */
async function debugSession(base: string, headers: Record<string, string>): Promise<string> {
  const res = await fetch(`${base}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base, ...headers }, body: JSON.stringify(distroless) });
  const body = (await res.json()) as Record<string, any>;
  assert.equal(res.status, 201, JSON.stringify(body));
  assert.match(body['container'], /^debugger-[a-z0-9]{5}$/);
  const gone = await fetch(`${base}/api/sessions/${body['id']}`, { method: 'DELETE', headers: { origin: base, ...headers } });
  assert.ok(gone.ok, `DELETE the session: ${gone.status}`);
  return body['container'] as string;
}

/** The image of ephemeral container `name` of pod distroless, as kubectl reads it from the cluster. */
async function imageOf(name: string): Promise<string> {
  const r = await run('kubectl', ['get', 'pod', 'distroless', '-o', `jsonpath={.spec.ephemeralContainers[?(@.name=="${name}")].image}`], {
    env: { ...process.env, KUBECONFIG: sandbox.kubeconfigPath },
  });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.toString();
}

test('--debug-image: the debug container the page starts is made from it', async (t) => {
  const web = await startWeb(t, ['--debug-image', 'nicolaka/netshoot:v0.13']);
  const { cookie, csrfToken } = await signIn(web.url);
  const name = await debugSession(new URL(web.url).origin, { cookie, 'x-csrf-token': csrfToken });
  assert.equal(await imageOf(name), 'nicolaka/netshoot:v0.13');
});

test("--config's debugImage is used without the flag, and --debug-image wins over it", async (t) => {
  const file = join(work, 'team.json');
  writeFileSync(
    file,
    JSON.stringify({
      signIn: { proxy: { userHeader: 'X-Forwarded-User', groupsHeader: 'X-Forwarded-Groups', trustedProxies: ['127.0.0.1'] } },
      secret: 'a-secret-of-at-least-thirty-two-bytes!!',
      debugImage: 'busybox:1.35',
    }),
  );
  const person = { 'x-forwarded-user': 'erin', 'x-forwarded-groups': 'ops' };
  for (const [args, image] of [
    [[], 'busybox:1.35'],
    [['--debug-image', 'nicolaka/netshoot:v0.13'], 'nicolaka/netshoot:v0.13'],
  ] as const) {
    const web = await startWeb(t, ['--config', file, ...args]);
    const base = new URL(web.url).origin;
    const me = (await (await fetch(`${base}/api/me`, { headers: person })).json()) as { csrfToken: string };
    const name = await debugSession(base, { ...person, 'x-csrf-token': me.csrfToken });
    assert.equal(await imageOf(name), image, args.join(' ') || 'no flag');
    web.child.kill('SIGTERM');
  }
});

test('--debug-image that is not an image reference: a usage error (exit 2), nothing served; --help explains it', async () => {
  for (const [value, shown] of [
    ['', '""'],
    ['busybox latest', '"busybox latest"'],
    ['busybox\t1.36', '"busybox\\t1.36"'],
    ['bad\x1b[31mred', '"bad\\u001b[31mred"'],
    ['-', '"-"'],
  ]) {
    const r = await run(bin, ['web', '--kubeconfig', sandbox.kubeconfigPath, '--debug-image', value!]);
    assert.equal(r.code, 2, `${JSON.stringify(value)}: ${r.stderr}`);
    assert.equal(r.stdout.toString(), '', 'nothing started');
    assert.ok(r.stderr.startsWith('podshell: '), r.stderr);
    assert.ok(r.stderr.includes(`--debug-image must be an image reference such as busybox:1.36 or registry.example.com/tools/debug:1.2, not ${shown}`), r.stderr);
    assert.ok(!r.stderr.includes('\x1b'), 'no control characters reach the terminal');
  }
  const help = await run(bin, ['web', '--help']);
  assert.equal(help.code, 0);
  const text = help.stdout.toString().replace(/\s+/g, ' ');
  assert.ok(text.includes(`--debug-image <image> the image of the debug containers the page's "Start a debug container" starts`), text);
  assert.ok(text.includes("(default: the --config file's debugImage, else busybox:1.36)"), text);
});
