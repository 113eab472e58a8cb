// copyToPod / copyFromPod against a real sandbox: big files byte-exact both ways, trees with modes,
// the no-tar fallback (slim), no shell at all (distroless), a pod whose tar is malicious, a
// connection cut mid-download (a TCP proxy between client and sandbox drops it), hostile names,
// and a v4-only cluster.

import { FaultProxy } from '../../test/fault-proxy.ts';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pack } from 'tar-stream';
import { run } from '../exec/index.ts';
import { KubeClient } from '../kube/index.ts';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { builtinManifest } from '../sandbox/world.ts';
import { copyFromPod, copyToPod, TransferError, type CopyProgress } from './index.ts';

const evilPod = `
apiVersion: v1
kind: Pod
metadata:
  name: evil
  namespace: default
spec:
  containers:
    - name: main
      image: podshell.dev/full:latest
      env:
        - name: PATH
          value: /root/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
`;

/** Cuts the next connections that carry more than `after` bytes towards the client. */
async function archive(members: { name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device'; data?: string; mode?: number; linkname?: string }[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) out.push(c);
  })();
  for (const m of members) {
    const type = m.type ?? 'file';
    const header = { name: m.name, type, mode: m.mode ?? 0o644, ...(m.linkname ? { linkname: m.linkname } : {}) };
    await new Promise<void>((resolve, reject) => (type === 'file' ? p.entry(header, m.data ?? '', (e) => (e ? reject(e) : resolve())) : p.entry(header, (e) => (e ? reject(e) : resolve()))));
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}

const sha = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');
async function shaFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

function everything(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      out.push(p);
      if (lstatSync(p).isDirectory()) visit(p);
    }
  };
  visit(dir);
  return out.sort();
}

function failsWith(code: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof Error, String(err));
    assert.equal((err as { code?: string }).code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

let sandbox: Sandbox;
let v4only: Sandbox;
let proxy: FaultProxy;
let work: string;
let client: KubeClient;
let cutClient: KubeClient;
let v4client: KubeClient;

const sh = async (pod: string, script: string, container?: string) => {
  const r = await run(client, { target: pod, ...(container ? { container } : {}), command: ['sh', '-c', script] });
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout;
};

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-cp-'));
  [sandbox, v4only] = await Promise.all([
    startSandbox({ kubeconfigPath: join(work, 'kubeconfig'), manifestTexts: [{ source: 'built-in world', text: builtinManifest }, { source: 'evil', text: evilPod }] }),
    startSandbox({ kubeconfigPath: join(work, 'kubeconfig-v4'), protocols: ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] }),
  ]);
  proxy = new FaultProxy(Number(new URL(sandbox.url).port));
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', () => resolve()));
  writeFileSync(join(work, 'kubeconfig-cut'), sandbox.kubeconfig.replaceAll(sandbox.url, `https://127.0.0.1:${proxy.port}`));
  client = KubeClient.fromKubeconfig({ path: sandbox.kubeconfigPath });
  cutClient = KubeClient.fromKubeconfig({ path: join(work, 'kubeconfig-cut') });
  v4client = KubeClient.fromKubeconfig({ path: v4only.kubeconfigPath });
});
after(async () => {
  await proxy?.close();
  await Promise.all([sandbox?.close(), v4only?.close()]);
  rmSync(work, { recursive: true, force: true });
});

test('100 MiB of random bytes up and down, byte-exact, sha256-verified, with progress', async () => {
  const src = join(work, 'big.bin');
  writeFileSync(src, randomBytes(100 * 1024 * 1024));
  const want = await shaFile(src);
  const events: CopyProgress[] = [];
  const started = Date.now();
  const up = await copyToPod(client, src, { pod: 'demo', path: '/tmp/' }, { onProgress: (p) => events.push({ ...p }) });
  assert.deepEqual(up, { files: 1, bytes: 100 * 1024 * 1024, verified: 'sha256', method: 'tar' });
  assert.equal((await sh('demo', 'sha256sum /tmp/big.bin; ls -a /tmp')).includes(want), true);
  const uploads = events.filter((e) => e.phase === 'upload');
  assert.ok(uploads.every((e) => e.totalBytes === 100 * 1024 * 1024));
  assert.equal(uploads.at(-1)!.bytes, 100 * 1024 * 1024);
  assert.ok(uploads.length <= (Date.now() - started) / 100 + 3, `${uploads.length} upload events: at most one per 100 ms plus the last`);
  assert.deepEqual(events.at(-1), { phase: 'verify', bytes: 100 * 1024 * 1024, totalBytes: 100 * 1024 * 1024, file: '/tmp/big.bin' });
  assert.doesNotMatch(await sh('demo', 'ls -a /tmp'), /\.podshell-/);

  const down = join(work, 'down', 'big.bin');
  const dl: CopyProgress[] = [];
  const r = await copyFromPod(client, { pod: 'demo', path: '/tmp/big.bin' }, down, { onProgress: (p) => dl.push({ ...p }) });
  assert.deepEqual(r, { files: 1, bytes: 100 * 1024 * 1024, verified: 'sha256', method: 'tar' });
  assert.equal(await shaFile(down), want);
  assert.equal(dl.filter((e) => e.phase === 'download').at(-1)!.bytes, 100 * 1024 * 1024);
  assert.equal(dl[0]!.totalBytes, 100 * 1024 * 1024, 'the size is known from stat');
  assert.deepEqual(readdirSync(join(work, 'down')), ['big.bin']);
  rmSync(join(work, 'down'), { recursive: true });
});

test('a single file onto an existing directory goes inside it: what was started for a plain destination is dropped, unused', async () => {
  const src = join(work, 'one.txt');
  writeFileSync(src, 'one\n');
  await sh('demo', 'mkdir -p /tmp/into/box');
  const r = await copyToPod(client, src, { pod: 'demo', path: '/tmp/into/box' });
  assert.deepEqual(r, { files: 1, bytes: 4, verified: 'sha256', method: 'tar' });
  assert.equal(await sh('demo', 'cat /tmp/into/box/one.txt'), 'one\n');
  assert.equal(await sh('demo', 'ls -A /tmp/into/box'), 'one.txt\n');
  assert.equal(await sh('demo', 'ls -A /tmp/into'), 'box\n');
  // A name that is not a directory: the file lands under it.
  await copyToPod(client, src, { pod: 'demo', path: '/tmp/into/new.txt' });
  assert.equal(await sh('demo', 'ls -A /tmp/into'), 'box\nnew.txt\n');
  assert.equal(await sh('demo', 'cat /tmp/into/new.txt; rm -r /tmp/into'), 'one\n');
});

test('a tree with modes (0755 script, 0600 file, empty dir) up and down, kubectl naming', async () => {
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'sub', 'empty'), { recursive: true });
  writeFileSync(join(tree, 'run.sh'), '#!/bin/sh\necho ran\n');
  chmodSync(join(tree, 'run.sh'), 0o755);
  writeFileSync(join(tree, 'sub', 'secret'), 'top secret');
  chmodSync(join(tree, 'sub', 'secret'), 0o600);
  // /tmp/up does not exist: the tree becomes /tmp/up. /tmp exists: the tree lands in /tmp/tree.
  const r1 = await copyToPod(client, tree, { pod: 'demo', path: '/tmp/up' });
  assert.deepEqual(r1, { files: 2, bytes: 29, verified: 'sha256', method: 'tar' });
  await copyToPod(client, tree, { pod: 'demo', path: '/tmp' });
  for (const base of ['/tmp/up', '/tmp/tree']) {
    assert.equal(await sh('demo', `cd ${base} && stat -c '%a %F %n' run.sh sub/secret sub/empty && ./run.sh`), '755 regular file run.sh\n600 regular file sub/secret\n755 directory sub/empty\nran\n');
  }
  const out = join(work, 'tree-down');
  const r2 = await copyFromPod(client, { pod: 'demo', path: '/tmp/up' }, out);
  assert.deepEqual(r2, { files: 2, bytes: 29, verified: 'sha256', method: 'tar' });
  assert.deepEqual(everything(out).map((p) => p.slice(out.length)), ['/run.sh', '/sub', '/sub/empty', '/sub/secret']);
  assert.equal(statSync(join(out, 'run.sh')).mode & 0o777, 0o755);
  assert.equal(statSync(join(out, 'sub/secret')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(out, 'sub/secret'), 'utf8'), 'top secret');
  // --no-preserve: the pod's umask decides.
  await copyToPod(client, tree, { pod: 'demo', path: '/tmp/np' }, { preserve: false });
  assert.equal(await sh('demo', 'stat -c %a /tmp/np/sub/secret'), '600\n');
});

describe('slim: a shell and coreutils, no tar', () => {
  test('a single file up and down through cat, verified, mode kept', async () => {
    const src = join(work, 'slim.bin');
    const data = randomBytes(3 * 1024 * 1024 + 7);
    writeFileSync(src, data);
    chmodSync(src, 0o640);
    const up = await copyToPod(client, src, { pod: 'slim', path: '/data/x.bin' });
    assert.deepEqual(up, { files: 1, bytes: data.length, verified: 'sha256', method: 'cat' });
    assert.equal(await sh('slim', 'stat -c %a /data/x.bin; sha256sum < /data/x.bin; ls -a /data'), `640\n${sha(data)}  -\n.\n..\nx.bin\n`);
    const out = join(work, 'slim-out');
    mkdirSync(out);
    const down = await copyFromPod(client, { pod: 'slim', path: '/data/x.bin' }, out);
    assert.deepEqual(down, { files: 1, bytes: data.length, verified: 'sha256', method: 'cat' });
    assert.deepEqual(readFileSync(join(out, 'x.bin')), data);
    assert.equal(statSync(join(out, 'x.bin')).mode & 0o777, 0o640 & ~process.umask());
    assert.deepEqual(readdirSync(out), ['x.bin']);
  });

  test('a directory fails with ERR_TRANSFER_NO_TAR, both ways', async () => {
    const msg = /^copying a directory needs tar in the container; container "main" of pod default\/slim has a shell but no tar\. Copy the files one by one/;
    await assert.rejects(copyToPod(client, join(work, 'tree'), { pod: 'slim', path: '/data' }), failsWith('ERR_TRANSFER_NO_TAR', msg));
    await assert.rejects(copyFromPod(client, { pod: 'slim', path: '/data' }, join(work, 'nope')), failsWith('ERR_TRANSFER_NO_TAR', msg));
    assert.equal(existsSync(join(work, 'nope')), false);
  });
});

test('distroless: ERR_TRANSFER_NO_SHELL says what is missing and what would work', async () => {
  const src = join(work, 'small.txt');
  writeFileSync(src, 'hello');
  const msg = /^cannot copy: container "app" of pod default\/distroless has no tar and no shell .*kubectl debug -it -n default distroless --image=busybox --target=app/;
  await assert.rejects(copyToPod(client, src, { pod: 'distroless', path: '/tmp/x' }), failsWith('ERR_TRANSFER_NO_SHELL', msg));
  await assert.rejects(copyToPod(client, join(work, 'tree'), { pod: 'distroless', path: '/tmp' }), failsWith('ERR_TRANSFER_NO_SHELL', msg));
  await assert.rejects(copyFromPod(client, { pod: 'distroless', path: '/etc/hostname' }, join(work, 'd')), failsWith('ERR_TRANSFER_NO_SHELL', msg));
});

describe('a pod whose tar is malicious', () => {
  const outside = () => join(work, 'evil', 'outside');
  before(async () => {
    // The fake tar prints a crafted archive whatever it is asked; the pod's PATH finds /root/bin first.
    const a = await archive([
      { name: 'tmp/x/', type: 'directory', mode: 0o755 },
      { name: 'tmp/x/ok.txt', data: 'fine' },
      { name: 'tmp/x/../../../outside/dotdot', data: 'escaped' },
      { name: 'tmp/x/..\\..\\..\\outside\\backslash', data: 'escaped' },
      { name: 'tmp/x/link', type: 'symlink', linkname: '../../outside' },
      { name: 'tmp/x/link/through-link', data: 'escaped?' },
      { name: 'tmp/x/chain1', type: 'symlink', linkname: '..' },
      { name: 'tmp/x/chain1/chain2', type: 'symlink', linkname: '..' },
      { name: 'tmp/x/chain1/chain2/chained', data: 'escaped?' },
      { name: 'tmp/x/passwd', type: 'link', linkname: '/etc/passwd' },
      { name: 'tmp/x/null', type: 'character-device' },
      { name: 'tmp/x/suid', data: '#!/bin/sh\n', mode: 0o4755 },
      { name: `tmp/x/${Array.from({ length: 300 }, () => 'd').join('/')}/deep`, data: 'deep' },
    ]);
    const b = await archive([
      { name: 'tmp/b/fine', data: 'fine' },
      { name: '/etc/cron.d/evil', data: 'absolute' },
    ]);
    // Well-formed, but not the bytes the files hold: only the checksum comparison can tell.
    const c = await archive([{ name: 'tmp/c/', type: 'directory' }, { name: 'tmp/c/f', data: 'forged' }, { name: 'tmp/c/g', data: 'real' }]);
    const cf = await archive([{ name: 'tmp/cf', data: 'forged' }]);
    const local = join(work, 'evil-src');
    mkdirSync(join(local, 'bin'), { recursive: true });
    for (const [name, buf] of Object.entries({ a, b, c, cf })) writeFileSync(join(local, `${name}.tar`), buf);
    writeFileSync(join(local, 'bin', 'tar'), '#!/bin/sh\ncase "$4" in *b) exec cat /root/b.tar ;; *cf) exec cat /root/cf.tar ;; *c) exec cat /root/c.tar ;; *) exec cat /root/a.tar ;; esac\n');
    chmodSync(join(local, 'bin', 'tar'), 0o755);
    for (const name of ['a', 'b', 'c', 'cf']) await copyToPod(client, join(local, `${name}.tar`), { pod: 'evil', path: '/root/' });
    await copyToPod(client, join(local, 'bin'), { pod: 'evil', path: '/root/bin' });
    await sh('evil', 'mkdir -p /tmp/x /tmp/b /tmp/c && echo -n real > /tmp/c/f && echo -n real > /tmp/c/g && echo -n real > /tmp/cf; test "$(command -v tar)" = /root/bin/tar');
    mkdirSync(outside(), { recursive: true });
  });

  test('writes nothing outside the destination; links, devices, setuid and depth are refused', async () => {
    const dest = join(work, 'evil', 'dest');
    const warnings: string[] = [];
    await assert.rejects(copyFromPod(client, { pod: 'evil', path: '/tmp/x' }, dest, { verify: false, onWarning: (m) => warnings.push(m) }), failsWith('ERR_TRANSFER_LIMIT', /is 301 levels deep/));
    assert.deepEqual(
      everything(join(work, 'evil')).map((p) => p.slice(join(work, 'evil').length)),
      ['/dest', '/dest/chain1', '/dest/chain1/chain2', '/dest/chain1/chain2/chained', '/dest/link', '/dest/link/through-link', '/dest/ok.txt', '/dest/suid', '/outside'],
    );
    assert.equal(statSync(join(dest, 'suid')).mode & 0o7777, 0o755 & ~process.umask());
    assert.ok(warnings.some((w) => /^warning: file ".*outside\/dotdot" is outside target destination, skipping$/.test(w)));
    assert.ok(warnings.some((w) => /outside\/backslash" is outside target destination/.test(w)));
    assert.ok(warnings.includes(`warning: skipping symlink: "${join(dest, 'link')}" -> "../../outside"`));
    assert.ok(warnings.some((w) => w.startsWith('warning: skipping hard link:')));
    assert.ok(warnings.some((w) => w.startsWith('warning: skipping character device')));
  });

  test('forged content fails the checksum comparison; a single file never reaches its final name', async () => {
    const dir = join(work, 'evil', 'c');
    await assert.rejects(copyFromPod(client, { pod: 'evil', path: '/tmp/c' }, dir), failsWith('ERR_TRANSFER_INTEGRITY', /^integrity check failed for ".*\/c\/f": expected sha256 [0-9a-f]{64}, found [0-9a-f]{64}$/));
    assert.deepEqual(readdirSync(dir), ['g']);
    const existing = join(work, 'evil', 'cf');
    writeFileSync(existing, 'precious');
    await assert.rejects(copyFromPod(client, { pod: 'evil', path: '/tmp/cf' }, existing), failsWith('ERR_TRANSFER_INTEGRITY'));
    assert.equal(readFileSync(existing, 'utf8'), 'precious');
    assert.deepEqual(readdirSync(join(work, 'evil')).sort(), ['c', 'cf', 'dest', 'outside']);
  });

  test('a member outside the requested path fails the copy: tar contents corrupted', async () => {
    await assert.rejects(copyFromPod(client, { pod: 'evil', path: '/tmp/b' }, join(work, 'evil', 'b')), failsWith('ERR_TRANSFER_CORRUPT', /^tar contents corrupted: expected every member under "tmp\/b", found "\/etc\/cron\.d\/evil"$/));
    assert.deepEqual(everything(join(work, 'evil', 'b')), [join(work, 'evil', 'b', 'fine')]);
  });
});

describe('a connection cut mid-download', () => {
  const size = 24 * 1024 * 1024;
  let want: string;
  before(async () => {
    want = (await sh('demo', `head -c ${size} /dev/urandom > /tmp/r.bin && sha256sum < /tmp/r.bin`)).slice(0, 64);
    await sh('slim', `head -c ${size / 4} /dev/urandom > /tmp/s.bin`);
  });

  test('retries 3: resumes from the last byte received (twice) and verifies', async () => {
    const warnings: string[] = [];
    const out = join(work, 'resumed.bin');
    proxy.cut(5 * 1024 * 1024);
    proxy.cut(5 * 1024 * 1024);
    const before = proxy.cutCount;
    const r = await copyFromPod(cutClient, { pod: 'demo', path: '/tmp/r.bin' }, out, { retries: 3, onWarning: (m) => warnings.push(m) });
    assert.equal(proxy.cutCount - before, 2);
    assert.deepEqual(r, { files: 1, bytes: size, verified: 'sha256', method: 'tar' });
    assert.equal(await shaFile(out), want);
    assert.equal(warnings.filter((w) => /^warning: the connection to the pod was lost .*; resuming copy at \d+ bytes, retry [12]\/3$/.test(w)).length, 2, warnings.join('\n'));
  });

  test('no tar (slim): resumes with tail -c', async () => {
    const want2 = (await sh('slim', 'sha256sum < /tmp/s.bin')).slice(0, 64);
    proxy.cut(2 * 1024 * 1024);
    const out = join(work, 's.bin');
    const r = await copyFromPod(cutClient, { pod: 'slim', path: '/tmp/s.bin' }, out, { retries: -1, onWarning: () => {} });
    assert.deepEqual(r, { files: 1, bytes: size / 4, verified: 'sha256', method: 'cat' });
    assert.equal(await shaFile(out), want2);
  });

  test('without retries it rejects and leaves no file under the final name', async () => {
    const dir = join(work, 'cut');
    mkdirSync(dir);
    proxy.cut(5 * 1024 * 1024);
    await assert.rejects(copyFromPod(cutClient, { pod: 'demo', path: '/tmp/r.bin' }, join(dir, 'r.bin')), failsWith('ERR_CONNECTION_LOST'));
    assert.deepEqual(readdirSync(dir), []);
  });
});

test('names with spaces, quotes, $(…), ; and newlines are copied literally, both ways (A8)', async () => {
  const dir = join(work, 'names');
  mkdirSync(dir);
  const names = ["it's a \"file\" $(touch PWNED) `touch PWNED`; touch PWNED", 'line\nbreak', '-rf'];
  for (const name of names) {
    writeFileSync(join(dir, name), name);
    await copyToPod(client, join(dir, name), { pod: 'demo', path: '/tmp/' });
  }
  await copyToPod(client, dir, { pod: 'demo', path: '/tmp/names dir $(x)' });
  const listed = (await run(client, { target: 'demo', command: ['ls', '-A', '/tmp', '/tmp/names dir $(x)'] })).stdout;
  for (const name of names) assert.ok(listed.includes(name), name);
  assert.equal((await run(client, { target: 'demo', command: ['sh', '-c', 'ls / /root /tmp | grep -c "^PWNED$" || true'] })).stdout, '0\n');
  const out = join(work, 'names-back');
  await copyFromPod(client, { pod: 'demo', path: `/tmp/${names[0]}` }, out, { retries: 1 });
  assert.equal(readFileSync(out, 'utf8'), names[0]);
  const outDir = join(work, 'names-dir-back');
  const r = await copyFromPod(client, { pod: 'demo', path: '/tmp/names dir $(x)' }, outDir);
  assert.equal(r.files, 3);
  assert.deepEqual(readdirSync(outDir).sort(), [...names].sort());
});

test('a symlink named as the source is followed (a file, a directory); links inside stay skipped', async () => {
  await sh('demo', 'ln -sfn /tmp/up /tmp/uplink && ln -sf /tmp/up/run.sh /tmp/runlink && ln -sf secret /tmp/up/sub/inner');
  const warnings: string[] = [];
  const out = join(work, 'uplink');
  const r = await copyFromPod(client, { pod: 'demo', path: '/tmp/uplink' }, out, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(r, { files: 2, bytes: 29, verified: 'sha256', method: 'tar' });
  assert.deepEqual(everything(out).map((p) => p.slice(out.length)), ['/run.sh', '/sub', '/sub/empty', '/sub/secret']);
  assert.deepEqual(warnings, [`warning: skipping symlink: "${join(out, 'sub/inner')}" -> "secret"`]);
  const file = join(work, 'runlink');
  assert.deepEqual(await copyFromPod(client, { pod: 'demo', path: '/tmp/runlink' }, file), { files: 1, bytes: 19, verified: 'sha256', method: 'tar' });
  assert.equal(statSync(file).mode & 0o777, 0o755 & ~process.umask());
  await sh('demo', 'rm /tmp/up/sub/inner');
});

test('TYPE/NAME and a named container: deploy/web, sidecar', async () => {
  const src = join(work, 'web.txt');
  writeFileSync(src, 'to the sidecar');
  await copyToPod(client, src, { pod: 'deploy/web', path: '/tmp/' }, { container: 'sidecar' });
  const out = join(work, 'web-back.txt');
  await copyFromPod(client, { pod: 'deploy/web', path: '/tmp/web.txt' }, out, { container: 'sidecar' });
  assert.equal(readFileSync(out, 'utf8'), 'to the sidecar');
  await assert.rejects(copyFromPod(client, { pod: 'deploy/web', path: '/tmp/web.txt' }, out, { container: 'app' }), failsWith('ERR_TRANSFER_NOT_FOUND', /^\/tmp\/web\.txt: no such file or directory in container "app" of pod default\/web-/));
});

test('a plain pod name and a named container: the sessions start during the lookup, whose errors stand; nothing is left behind', async () => {
  const src = join(work, 'named.txt');
  writeFileSync(src, 'named container\n');
  await sh('demo', 'mkdir -p /tmp/named/box');
  assert.deepEqual(await copyToPod(client, src, { pod: 'demo', path: '/tmp/named/box' }, { container: 'main' }), { files: 1, bytes: 16, verified: 'sha256', method: 'tar' });
  assert.deepEqual(await copyToPod(client, src, { pod: 'demo', path: '/tmp/named/plain.txt' }, { container: 'main' }), { files: 1, bytes: 16, verified: 'sha256', method: 'tar' });
  assert.equal(await sh('demo', 'cat /tmp/named/box/named.txt /tmp/named/plain.txt; ls -A /tmp/named /tmp/named/box'), 'named container\nnamed container\n/tmp/named:\nbox\nplain.txt\n\n/tmp/named/box:\nnamed.txt\n');
  const out = join(work, 'named-back.txt');
  assert.deepEqual(await copyFromPod(client, { pod: 'demo', path: '/tmp/named/plain.txt' }, out, { container: 'main' }), { files: 1, bytes: 16, verified: 'sha256', method: 'tar' });
  assert.equal(readFileSync(out, 'utf8'), 'named container\n');
  // The lookup's errors, both ways, as without the overlap.
  const missing = join(work, 'named-missing.txt');
  await assert.rejects(copyFromPod(client, { pod: 'nopod', path: '/tmp/named/plain.txt' }, missing, { container: 'main' }), failsWith('ERR_NOT_FOUND', /^pods "nopod" not found$/));
  await assert.rejects(copyFromPod(client, { pod: 'demo', path: '/tmp/named/plain.txt' }, missing, { container: 'nope' }), failsWith('ERR_TARGET', /^container nope is not valid for pod demo out of: main$/));
  await assert.rejects(copyToPod(client, src, { pod: 'nopod', path: '/tmp/named/x.txt' }, { container: 'main' }), failsWith('ERR_NOT_FOUND', /^pods "nopod" not found$/));
  await assert.rejects(copyToPod(client, src, { pod: 'demo', path: '/tmp/named/x.txt' }, { container: 'nope' }), failsWith('ERR_TARGET', /^container nope is not valid for pod demo out of: main$/));
  assert.equal(existsSync(missing), false);
  // The dropped sessions wrote nothing (polled: an aborted session's process may end a moment later).
  const deadline = Date.now() + 60_000;
  let listed = '';
  while (Date.now() < deadline) {
    listed = await sh('demo', 'ls -A /tmp/named; pgrep -f "[p]odshell-step" || true');
    if (listed === 'box\nplain.txt\n') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(listed, 'box\nplain.txt\n');
  await sh('demo', 'rm -r /tmp/named');
});

test('missing sources', async () => {
  await assert.rejects(copyToPod(client, join(work, 'absent'), { pod: 'demo', path: '/tmp' }), failsWith('ERR_TRANSFER_LOCAL_NOT_FOUND', /absent doesn't exist in local filesystem$/));
  await assert.rejects(copyFromPod(client, { pod: 'demo', path: '/no/such' }, join(work, 'x')), failsWith('ERR_TRANSFER_NOT_FOUND', /^\/no\/such: no such file or directory in container "main" of pod default\/demo$/));
  await assert.rejects(copyToPod(client, join(work, 'small.txt'), { pod: 'demo', path: '/no/such/dir/f' }), failsWith('ERR_TRANSFER_REMOTE', /tar -x into \/no\/such\/dir failed in container "main" of pod default\/demo with exit code 2: /));
  assert.ok(TransferError);
});

test('a v4-only cluster: upload fails clearly (no stdin close) and leaves nothing; download works', async () => {
  const src = join(work, 'v4.txt');
  writeFileSync(src, 'v4');
  await assert.rejects(copyToPod(v4client, src, { pod: 'demo', path: '/tmp/v4.txt' }), failsWith('ERR_STDIN_CLOSE_UNSUPPORTED', /negotiated v4\.channel\.k8s\.io/));
  const listed = (await run(v4client, { target: 'demo', command: ['ls', '-A', '/tmp'] })).stdout;
  assert.equal(listed, '');
  const out = join(work, 'v4-hostname');
  const r = await copyFromPod(v4client, { pod: 'demo', path: '/etc/hostname' }, out);
  assert.equal(r.verified, 'sha256');
  assert.equal(readFileSync(out, 'utf8'), (await run(v4client, { target: 'demo', command: ['cat', '/etc/hostname'] })).stdout);
});
