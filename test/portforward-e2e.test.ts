// Port-forward end to end: the real `podshell port-forward` process against a real sandbox over
// HTTPS, with the machine's curl as the HTTP client, through the echo-http pod's two servers
// (8080: python's http.server on /tmp/www; 9090: echoes GETs, hashes POSTs). Two ports and a third
// nobody listens on in one forward: the right answers on both, 20 curls at once, a 50 MiB download
// and an 8 MiB upload byte for byte, kubectl's error text for the refused port while the others
// go on, the messages' exact shapes (docs/cli.md), and Ctrl-C (SIGINT) ending it with exit 0 and
// its ports free, also in the middle of a download and on a real terminal. Then the library's cluster.portForward alone.

import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { pollUntil, run, running, TmuxSession } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
const CURL = '/usr/bin/curl';
let sandbox: Sandbox;
let work: string;
const children = new Set<ChildProcess>();

const env = () => ({ ...process.env, KUBECONFIG: sandbox.kubeconfigPath, NO_COLOR: '1' });
const podshell = (args: string[], input?: Buffer) => run(bin, args, { env: env(), timeoutMs: 120_000, ...(input ? { input } : {}) });
/** curl with no proxy from the environment, failing on an HTTP error status. */
const curl = (args: string[], timeoutMs = 120_000) => run(CURL, ['-sS', '--fail', '--noproxy', '*', '--max-time', String(timeoutMs / 1000 - 10), ...args], { timeoutMs });

interface Forward {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The local port listened on for `remote` (127.0.0.1's; ::1 has the same). */
  port(remote: number): number;
}

/** `podshell port-forward ARGS`, once its "Forwarding from" lines for every remote port are out. */
async function forward(args: string[], remotes: number[]): Promise<Forward> {
  const child = spawn(bin, ['port-forward', ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const port = (remote: number) => {
    const m = new RegExp(`^Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${remote}$`, 'm').exec(out);
    return m ? Number(m[1]) : 0;
  };
  const listening = await pollUntil(() => remotes.every((r) => port(r) > 0) || child.exitCode !== null, 60_000);
  assert.ok(listening && child.exitCode === null, `port-forward listens; stdout: ${out} stderr: ${err}`);
  return { child, out: () => out, err: () => err, exited, port };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Whether a listener can be opened on `host`:`port` now (it is free). */
function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A port free on 127.0.0.1 just now (and, kubectl's default address being localhost, on ::1 when it can be). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (await bindable('::1', port) || !(await bindable('::1', 0))) return port;
  }
}

function fileSha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (c) => hash.update(c)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
  });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const count = (text: string, line: string) => text.split('\n').filter((l) => l === line).length;

let main: Forward;
/** 64 KiB of random bytes put into the pod's /tmp/www/blob.bin by `podshell exec -i`. */
const blob = randomBytes(64 * 1024);

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-pf-e2e-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
  const put = await podshell(['exec', '-i', 'echo-http', '--', 'sh', '-c', 'mkdir -p /tmp/www && cat > /tmp/www/blob.bin'], blob);
  assert.equal(put.code, 0, put.stderr);
  main = await forward(['echo-http', ':8080', ':9090', ':7777'], [8080, 9090, 7777]);
  // The pod's servers start with it: wait until both answer through the forward.
  const up = await pollUntil(async () => {
    const [a, b] = await Promise.all([curl([`http://127.0.0.1:${main.port(8080)}/`], 30_000), curl([`http://127.0.0.1:${main.port(9090)}/ready`], 30_000)]);
    return a.code === 0 && b.code === 0;
  }, 90_000, 250);
  assert.ok(up, `echo-http's servers answer through the forward; stderr: ${main.err()}`);
});

after(async () => {
  for (const child of children) await stopChild(child);
  await sandbox?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('two ports at once: "Forwarding from" per listener in kubectl\'s shape; curl through each gets its server\'s answer byte for byte', async () => {
  const p8080 = main.port(8080);
  const p9090 = main.port(9090);
  const p7777 = main.port(7777);
  assert.equal(new Set([p8080, p9090, p7777]).size, 3, 'three different random local ports');
  // localhost: 127.0.0.1 and ::1, the same port on both, in the order of the specs (docs/cli.md).
  const forwarding = main.out().split('\n').filter((l) => l.startsWith('Forwarding'));
  assert.deepEqual(forwarding, [
    `Forwarding from 127.0.0.1:${p8080} -> 8080`,
    `Forwarding from [::1]:${p8080} -> 8080`,
    `Forwarding from 127.0.0.1:${p9090} -> 9090`,
    `Forwarding from [::1]:${p9090} -> 9090`,
    `Forwarding from 127.0.0.1:${p7777} -> 7777`,
    `Forwarding from [::1]:${p7777} -> 7777`,
  ]);
  const file = await curl([`http://127.0.0.1:${p8080}/blob.bin`]);
  assert.equal(file.code, 0, file.stderr);
  assert.equal(sha256(file.stdout), sha256(blob));
  assert.ok(file.stdout.equals(blob), 'the file put into the pod comes back with the exact bytes');
  const echo = await curl([`http://127.0.0.1:${p9090}/x`]);
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.stdout.toString(), 'echo-http 9090: GET /x\n');
  // Over IPv6 too, when this machine has ::1.
  if (/^Forwarding from \[::1\]/m.test(main.out())) {
    const six = await curl([`http://[::1]:${p9090}/six`]);
    assert.equal(six.code, 0, six.stderr);
    assert.equal(six.stdout.toString(), 'echo-http 9090: GET /six\n');
  }
  // Every stdout line is one of kubectl's two shapes.
  for (const line of main.out().split('\n').filter(Boolean)) {
    assert.match(line, /^(Forwarding from (127\.0\.0\.1|\[::1\]):\d+ -> \d+|Handling connection for \d+)$/);
  }
});

test('20 curls at once, 10 on each port: each gets its own answer, and each connection is announced', async () => {
  const p8080 = main.port(8080);
  const p9090 = main.port(9090);
  const before8080 = count(main.out(), `Handling connection for ${p8080}`);
  const before9090 = count(main.out(), `Handling connection for ${p9090}`);
  const errBefore = main.err();
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? curl([`http://127.0.0.1:${p8080}/blob.bin`]) : curl([`http://127.0.0.1:${p9090}/concurrent/${i}`]))),
  );
  results.forEach((r, i) => {
    assert.equal(r.code, 0, `curl ${i}: ${r.stderr}`);
    if (i % 2 === 0) assert.ok(r.stdout.equals(blob), `curl ${i}: the blob's bytes`);
    else assert.equal(r.stdout.toString(), `echo-http 9090: GET /concurrent/${i}\n`);
  });
  const announced = await pollUntil(
    () => count(main.out(), `Handling connection for ${p8080}`) === before8080 + 10 && count(main.out(), `Handling connection for ${p9090}`) === before9090 + 10,
    30_000,
  );
  assert.ok(announced, `ten "Handling connection" lines per port; stdout:\n${main.out()}`);
  assert.equal(main.err(), errBefore, 'no connection failed');
});

test('a 50 MiB download and an 8 MiB upload through the forward, byte for byte', async () => {
  const size = 50 * 1024 * 1024;
  const made = await podshell(['exec', 'echo-http', '--', 'sh', '-c', `head -c ${size} /dev/urandom > /tmp/www/big.bin && sha256sum /tmp/www/big.bin`]);
  assert.equal(made.code, 0, made.stderr);
  const want = made.stdout.toString().split(' ')[0]!;
  assert.match(want, /^[0-9a-f]{64}$/);
  const target = join(work, 'big.bin');
  const got = await curl(['-o', target, '-w', '%{http_code} %{size_download}', `http://127.0.0.1:${main.port(8080)}/big.bin`], 300_000);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout.toString(), `200 ${size}`);
  assert.equal(statSync(target).size, size);
  assert.equal(await fileSha256(target), want);
  rmSync(target);

  const upload = randomBytes(8 * 1024 * 1024);
  const source = join(work, 'upload.bin');
  writeFileSync(source, upload);
  const posted = await curl(['--data-binary', `@${source}`, '-H', 'Content-Type: application/octet-stream', `http://127.0.0.1:${main.port(9090)}/upload`], 300_000);
  assert.equal(posted.code, 0, posted.stderr);
  assert.equal(posted.stdout.toString(), `echo-http 9090: POST /upload ${upload.length} bytes sha256 ${sha256(upload)}\n`);
});

test("a pod port nobody listens on: curl gets nothing, podshell prints kubectl's error text, and the other ports go on", async () => {
  const p7777 = main.port(7777);
  const errBefore = main.err();
  const refused = await curl([`http://127.0.0.1:${p7777}/`]);
  assert.notEqual(refused.code, 0, 'curl fails');
  assert.equal(refused.stdout.length, 0);
  // Empty reply (52) or reset (56): the connection was accepted, then closed without an answer.
  assert.ok([52, 56].includes(refused.code!), `curl's exit code ${refused.code}: ${refused.stderr}`);
  const reported = await pollUntil(() => main.err().length > errBefore.length && main.err().endsWith('\n'), 30_000);
  assert.ok(reported, 'the failure is reported');
  const lines = main.err().slice(errBefore.length).split('\n').filter(Boolean);
  assert.equal(lines.length, 1, main.err());
  // kubectl's "an error occurred forwarding L -> R: " before the kubelet's and runtime's text (docs/cli.md).
  assert.match(
    lines[0]!,
    new RegExp(
      `^podshell: an error occurred forwarding ${p7777} -> 7777: error forwarding port 7777 to pod ([0-9a-f]{64}), uid : ` +
        'failed to execute portforward in network namespace "/var/run/netns/cni-[0-9a-f-]{36}": failed to connect to localhost:7777 inside namespace "\\1", ' +
        'IPv4: dial tcp4 127\\.0\\.0\\.1:7777: connect: connection refused IPv6 dial tcp6 \\[::1\\]:7777: connect: (connection refused|cannot assign requested address) ?$',
    ),
  );
  assert.ok(running(main.child.pid!), 'podshell still runs');
  const again = await curl([`http://127.0.0.1:${main.port(8080)}/blob.bin`]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(again.stdout.equals(blob));
  const echo = await curl([`http://127.0.0.1:${main.port(9090)}/after-refused`]);
  assert.equal(echo.stdout.toString(), 'echo-http 9090: GET /after-refused\n');
});

/**
 * The message shapes docs/cli.md's port-forward section shows (its backquoted examples that are
 * output lines), as patterns: a number stands for any number, `…` for any text.
 */
const shape = (example: string) =>
  example
    .replace(/[.*+?^$()|[\]{}\\]/g, (c) => `\\${c}`)
    .replace(/\d+/g, '\\d+')
    .replace(/…/g, '.*');

function documentedShapes(): { example: string; pattern: RegExp }[] {
  const doc = readFileSync(new URL('../docs/cli.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('\n## port-forward\n'), doc.indexOf('\n## ', doc.indexOf('\n## port-forward\n') + 1));
  const examples = [...section.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\s+/g, ' ')).filter((e) => /^(Forwarding from|Handling connection for|podshell: an error occurred forwarding) /.test(e));
  return examples.map((example) => ({
    example,
    // The kubelet's text may end in a space (it does with containerd); the doc's example cannot show it.
    pattern: new RegExp(`^${shape(example)} ?$`),
  }));
}

test("every line podshell printed has a shape docs/cli.md documents as kubectl's, and every documented shape was printed", () => {
  const shapes = documentedShapes();
  assert.deepEqual(
    shapes.map((s) => s.example.split(' ').slice(0, 3).join(' ')),
    ['Forwarding from 127.0.0.1:8080', 'Forwarding from [::1]:8080', 'Handling connection for', 'podshell: an error'],
    'the section shows the four messages',
  );
  const lines = [...main.out().split('\n'), ...main.err().split('\n')].filter(Boolean);
  for (const line of lines) assert.ok(shapes.some((s) => s.pattern.test(line)), `undocumented shape: ${line}`);
  for (const shape of shapes) assert.ok(lines.some((l) => shape.pattern.test(l)), `never printed: ${shape.example}`);
});

test('Ctrl-C (SIGINT) ends it with exit 0, nothing on stderr, and every local port free', async () => {
  const ports = [8080, 9090, 7777].map((r) => main.port(r));
  const errBefore = main.err();
  for (const port of ports) assert.equal(await bindable('127.0.0.1', port), false, `${port} is taken while forwarding`);
  main.child.kill('SIGINT');
  assert.deepEqual(await main.exited, { code: 0, signal: null });
  assert.equal(main.err(), errBefore, 'nothing more on stderr');
  for (const port of ports) {
    assert.equal(await bindable('127.0.0.1', port), true, `127.0.0.1:${port} is free`);
    const refused = await curl([`http://127.0.0.1:${port}/`]);
    assert.equal(refused.code, 7, `curl cannot connect: ${refused.stderr}`);
  }
});

test('fixed local ports (LOCAL:REMOTE); Ctrl-C in the middle of a download still exits 0 and frees the port', async () => {
  const free = await freePort();
  const fixed = await forward(['pod/echo-http', `${free}:8080`], [8080]);
  assert.equal(fixed.port(8080), free);
  const target = join(work, 'slow.bin');
  // The 50 MiB file of the download test (made here too when this test runs alone).
  const made = await podshell(['exec', 'echo-http', '--', 'sh', '-c', 'test -f /tmp/www/big.bin || head -c 50M /dev/urandom > /tmp/www/big.bin']);
  assert.equal(made.code, 0, made.stderr);
  // A download slowed to 1 MiB/s: 50 MiB would take a minute; it is cut by the Ctrl-C.
  const slow = spawn(CURL, ['-sS', '--noproxy', '*', '--limit-rate', '1M', '-o', target, `http://127.0.0.1:${free}/big.bin`], { stdio: 'ignore' });
  children.add(slow);
  const slowExit = new Promise<number | null>((resolve) => slow.on('exit', (code) => (children.delete(slow), resolve(code))));
  const midway = await pollUntil(() => {
    try {
      return statSync(target).size > 0;
    } catch {
      return false;
    }
  }, 60_000);
  assert.ok(midway, 'the download has begun');
  assert.ok(statSync(target).size < 50 * 1024 * 1024, 'and has not ended');
  assert.match(fixed.out(), new RegExp(`^Handling connection for ${free}$`, 'm'));
  fixed.child.kill('SIGINT');
  assert.deepEqual(await fixed.exited, { code: 0, signal: null });
  assert.equal(fixed.err(), '');
  assert.notEqual(await slowExit, 0, 'the cut download fails');
  assert.equal(await bindable('127.0.0.1', free), true);
});

test('a real Ctrl-C on a terminal (tmux): exit 0, and the port is free', async (t) => {
  const free = await freePort();
  const name = 'podshell-pf-e2e';
  // The shell traps SIGINT (a trap is not inherited): it survives the Ctrl-C and says how podshell ended.
  const session = new TmuxSession(name, ['sh', '-c', `trap 'echo' INT; ${bin} port-forward --kubeconfig ${sandbox.kubeconfigPath} echo-http ${free}:9090; echo "exit=$?"; sleep 600`]);
  t.after(() => session.kill());
  await session.waitFor(new RegExp(`^Forwarding from 127\\.0\\.0\\.1:${free} -> 9090$`, 'm'));
  const echo = await curl([`http://127.0.0.1:${free}/tty`]);
  assert.equal(echo.stdout.toString(), 'echo-http 9090: GET /tty\n', echo.stderr);
  await session.waitFor(new RegExp(`^Handling connection for ${free}$`, 'm'));
  // TmuxSession names its tmux server and session `${name}-${pid}`.
  execFileSync('tmux', ['-L', `${name}-${process.pid}`, 'send-keys', '-t', `${name}-${process.pid}`, 'C-c']);
  await session.waitFor(/^exit=0$/m);
  assert.doesNotMatch(session.screen(), /podshell: /);
  assert.equal(await bindable('127.0.0.1', free), true);
});

test('the library: cluster.portForward with two ports; curl through both; close() frees the ports', async () => {
  const cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfigPath });
  const pf = cluster.portForward({ target: 'echo-http', ports: ['0:8080', '0:9090'] });
  const ready = await pf.ready;
  assert.equal(ready.pod, 'echo-http');
  assert.equal(ready.namespace, 'default');
  assert.deepEqual(
    ready.ports.map((p) => [p.address, p.remotePort]),
    [
      ['127.0.0.1', 8080],
      ['127.0.0.1', 9090],
    ],
  );
  const [p8080, p9090] = ready.ports.map((p) => p.localPort) as [number, number];
  const connections: number[] = [];
  pf.on('connection', (c) => connections.push(c.localPort));
  const [file, echo] = await Promise.all([curl([`http://127.0.0.1:${p8080}/blob.bin`]), curl([`http://127.0.0.1:${p9090}/lib`])]);
  assert.ok(file.stdout.equals(blob), file.stderr);
  assert.equal(echo.stdout.toString(), 'echo-http 9090: GET /lib\n');
  assert.deepEqual(connections.sort(), [p8080, p9090].sort());
  await pf.close();
  assert.equal(await bindable('127.0.0.1', p8080), true);
  assert.equal(await bindable('127.0.0.1', p9090), true);
});
