// `podshell logs` against a real sandbox, side by side with the machine's kubectl 1.33 for the
// same pod: same bytes for --since, --tail, --timestamps, --limit-bytes and -l --prefix; -l -f
// across the web pods with prefixes, and a line written after the start arrives; bad flags are
// usage errors (exit 2, one `podshell: ` line).

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { execFileSync } from 'node:child_process';
import { pollUntil, run, TmuxSession, websocketKubectls } from './helpers.ts';

const bin = new URL('../bin/podshell', import.meta.url).pathname;
const kubectl = websocketKubectls().find((k) => k.version === '1.33')!.path;
let sandbox: Sandbox;
let work: string;
let webPods: string[];
const children = new Set<ChildProcess>();

const env = () => ({ ...process.env, KUBECONFIG: sandbox.kubeconfigPath, NO_COLOR: '1' });
const podshell = (args: string[]) => run(bin, args, { env: env() });
const kube = (args: string[]) => run(kubectl, ['--cache-dir', join(work, 'cache'), ...args], { env: env() });

/** A long-running process whose stdout is collected; killed at the end of the file at the latest. */
function start(file: string, args: string[], processEnv: NodeJS.ProcessEnv = env()): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(file, args, { env: processEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  return { child, out: () => out, err: () => err };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Write a line to a container's log: its main process echoes what an attached client types. */
async function writeLine(pod: string, container: string, line: string): Promise<void> {
  const before = (await kube(['logs', pod, '-c', container])).stdout.toString();
  const attach = start(kubectl, ['--cache-dir', join(work, 'cache'), 'attach', '-i', pod, '-c', container]);
  attach.child.stdin!.write(`${line}\n`);
  assert.ok(await pollUntil(async () => (await kube(['logs', pod, '-c', container])).stdout.toString().length > before.length, 60_000, 100), `the line reached ${pod}'s log`);
  await stop(attach.child);
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-cli-logs-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
  const r = await kube(['get', 'pods', '-l', 'app=web', '-o', 'name']);
  webPods = r.stdout.toString().trim().split('\n').map((l) => l.replace('pod/', ''));
  assert.equal(webPods.length, 3);
  // demo gets a second and a third line, written at least 2 s after its first.
  const first = Date.parse(`${(await kube(['logs', 'demo', '--timestamps'])).stdout.toString().slice(0, 23)}Z`);
  await pollUntil(() => Date.now() - first >= 2500, 10_000, 100);
  await writeLine('demo', 'main', 'second line');
  await writeLine('demo', 'main', 'third line');
});
after(async () => {
  for (const child of [...children]) await stop(child);
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('podshell logs prints what kubectl logs prints', () => {
  // With -l, kubectl prints the logs in no particular order (podshell: by pod name): compared as sorted lines.
  const cases: { name: string; args: () => string[]; anyOrder?: true }[] = [
    { name: 'whole log', args: () => ['logs', 'demo'] },
    { name: '--timestamps', args: () => ['logs', 'demo', '--timestamps'] },
    { name: '--since=1h', args: () => ['logs', 'demo', '--since=1h'] },
    { name: '--tail=2', args: () => ['logs', 'demo', '--tail=2'] },
    { name: '--tail=1 --timestamps', args: () => ['logs', 'demo', '--tail=1', '--timestamps'] },
    { name: '--tail=0', args: () => ['logs', 'demo', '--tail=0'] },
    { name: '--limit-bytes=10', args: () => ['logs', 'demo', '--limit-bytes=10'] },
    { name: 'deploy/web, default container by annotation', args: () => ['logs', 'deploy/web', '--tail=1'] },
    { name: 'a web pod, -c sidecar (empty)', args: () => ['logs', webPods[0]!, '-c', 'sidecar'] },
    { name: '-l app=web --prefix', args: () => ['logs', '-l', 'app=web', '--prefix'], anyOrder: true },
    { name: '-l app=web --timestamps --prefix --tail=1', args: () => ['logs', '-l', 'app=web', '--timestamps', '--prefix', '--tail=1'], anyOrder: true },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const [ours, theirs] = await Promise.all([podshell(c.args()), kube(c.args())]);
      assert.equal(theirs.code, 0, theirs.stderr);
      assert.equal(ours.code, 0, ours.stderr);
      assert.ok(theirs.stdout.length > 0 || c.name.includes('empty') || c.name.includes('tail=0'), 'kubectl printed something');
      const text = (b: Buffer) => (c.anyOrder ? b.toString().split('\n').sort().join('\n') : b.toString());
      assert.equal(text(ours.stdout), text(theirs.stdout));
      if (c.anyOrder) assert.deepEqual(ours.stdout.toString().trimEnd().split('\n').map((l) => l.slice(0, l.indexOf(']'))), [...webPods].sort().map((p) => `[pod/${p}/app`));
    });
  }

  test('--since and --since-time narrower than the log leave out the older lines', async () => {
    const all = (await podshell(['logs', 'demo', '--timestamps'])).stdout.toString().trim().split('\n');
    assert.equal(all.length, 3);
    const [first, second, third] = all.map((l) => Date.parse(`${l.slice(0, 23)}Z`)) as [number, number, number];
    assert.ok(second - first >= 2000, 'before() wrote the second line 2 s after the first');
    // A whole second after the first line's second, and not after the second line.
    const cut = new Date(Math.floor(first / 1000) * 1000 + 2000).toISOString().replace(/\.\d+Z$/, 'Z');
    const [o, k] = await Promise.all([podshell(['logs', 'demo', `--since-time=${cut}`]), kube(['logs', 'demo', `--since-time=${cut}`])]);
    assert.equal(k.stdout.toString(), 'second line\nthird line\n');
    assert.equal(o.stdout.toString(), k.stdout.toString());
    // --since=1s, once the last line is 2 s old: nothing, from both.
    await pollUntil(() => Date.now() - third >= 2000, 10_000, 100);
    const [o2, k2] = await Promise.all([podshell(['logs', 'demo', '--since=1s']), kube(['logs', 'demo', '--since=1s'])]);
    assert.equal(k2.stdout.toString(), '');
    assert.equal(o2.stdout.toString(), '');
    assert.equal(o2.code, 0);
  });

  test('-p: the server\'s error, as kubectl shows it', async () => {
    const [ours, theirs] = await Promise.all([podshell(['logs', 'demo', '-p']), kube(['logs', 'demo', '-p'])]);
    assert.equal(theirs.stderr, 'Error from server (BadRequest): previous terminated container "main" in pod "demo" not found\n');
    assert.equal(ours.stderr, 'podshell: previous terminated container "main" in pod "demo" not found\n');
    assert.equal(ours.code, 1);
  });
});

test('logs -l app=web -f: every web pod, prefixed; a line written after the start arrives', async () => {
  const follow = start(bin, ['logs', '-l', 'app=web', '-f']);
  try {
    const serving = (pod: string) => `[pod/${pod}/app] web: ${pod} serving\n`;
    assert.ok(await pollUntil(() => webPods.every((p) => follow.out().includes(serving(p))), 60_000, 100), `stdout: ${follow.out()} stderr: ${follow.err()}`);
    const late = `late line ${Date.now()}`;
    await writeLine(webPods[1]!, 'app', late);
    assert.ok(await pollUntil(() => follow.out().includes(`[pod/${webPods[1]}/app] ${late}\n`), 60_000, 100), `stdout: ${follow.out()}`);
    assert.equal(follow.child.exitCode, null, 'still following');
    // Every line is whole and prefixed.
    for (const line of follow.out().trimEnd().split('\n')) assert.match(line, /^\[pod\/web-[a-z0-9]+-[a-z0-9]+\/app\] /);
  } finally {
    await stop(follow.child);
  }
});

test('logs -f of one pod: a line written after the start arrives, unprefixed', async () => {
  const follow = start(bin, ['logs', '-f', 'demo', '--tail=1']);
  try {
    assert.ok(await pollUntil(() => follow.out() === 'third line\n', 60_000, 100), follow.out());
    await writeLine('demo', 'main', 'fourth line');
    assert.ok(await pollUntil(() => follow.out() === 'third line\nfourth line\n', 60_000, 100), follow.out());
  } finally {
    await stop(follow.child);
  }
});

describe('bad command lines are usage errors', () => {
  const cases: { args: string[]; stderr: RegExp }[] = [
    { args: ['logs'], stderr: /^podshell: expected 'logs \[-f\] \[-p\] \(POD \| TYPE\/NAME\) \[-c CONTAINER\]': POD or TYPE\/NAME is a required argument for the logs command\n/ },
    { args: ['logs', 'demo', '-l', 'app=web'], stderr: /^podshell: only a selector \(-l\) or a POD name is allowed\n/ },
    { args: ['logs', 'demo', '--since=soon'], stderr: /^podshell: option '--since <duration>' argument 'soon' is invalid\. invalid duration "soon"/ },
    { args: ['logs', 'demo', '--since-time=yesterday'], stderr: /^podshell: invalid --since-time "yesterday": expected an RFC 3339 time/ },
    { args: ['logs', 'demo', '--since=1h', '--since-time=2026-01-02T15:04:05Z'], stderr: /^podshell: at most one of `sinceTime` or `sinceSeconds` may be specified\n/ },
    { args: ['logs', 'demo', '--tail=-2'], stderr: /^podshell: --tail must be greater than or equal to -1\n/ },
    { args: ['logs', 'demo', '--tail=ten'], stderr: /^podshell: option '--tail <n>' argument 'ten' is invalid\. expected a whole number for --tail\.\n/ },
    { args: ['logs', 'demo', '--limit-bytes=-1'], stderr: /^podshell: --limit-bytes must be greater than 0\n/ },
    { args: ['logs', 'demo', '--max-log-requests=0'], stderr: /^podshell: --max-log-requests must be greater than 0\n/ },
    { args: ['logs', 'demo', '-c', 'main', '--all-containers'], stderr: /^podshell: --all-containers=true should not be specified with container name main\n/ },
  ];
  for (const c of cases) {
    test(c.args.join(' '), async () => {
      const r = await podshell(c.args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, c.stderr);
      assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
      assert.equal(r.stdout.length, 0);
    });
  }

  test('following more logs than --max-log-requests: kubectl\'s message, exit 1', async () => {
    const r = await podshell(['logs', '-l', 'app=web', '-f', '--all-containers']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'podshell: you are attempting to follow 6 log streams, but maximum allowed concurrency is 5, use --max-log-requests to increase the limit\n');
  });

  test('--help explains the command and its flags', async () => {
    const r = await podshell(['logs', '--help']);
    assert.equal(r.code, 0);
    const help = r.stdout.toString();
    for (const flag of ['--container', '--all-containers', '--selector', '--follow', '--since', '--since-time', '--tail', '--timestamps', '--previous', '--prefix', '--limit-bytes', '--max-log-requests']) assert.ok(help.includes(flag), flag);
  });
});

test('logs -l app=web -f: a container that starts again is followed again (its fresh log arrives)', async () => {
  const pod = webPods[2]!;
  const serving = `[pod/${pod}/app] web: ${pod} serving\n`;
  const count = (text: string) => text.split(serving).length - 1;
  const follow = start(bin, ['logs', '-l', 'app=web', '-f']);
  try {
    assert.ok(await pollUntil(() => count(follow.out()) === 1, 60_000, 100), follow.out());
    // End app's main process (the lowest pid after 1 that leads its own session): the sandbox
    // starts the container again, with a fresh log that says "serving" once more.
    // (The exec's own exit status is not checked: the container's end may end it first.)
    const r = await kube(['exec', pod, '-c', 'app', '--', 'sh', '-c', 'kill -TERM $(ps -e -o pid=,sid= | awk \'$1 == $2 && $1 > 1 { print $1; exit }\')']);
    assert.ok(await pollUntil(() => count(follow.out()) === 2, 60_000, 100), `stdout: ${follow.out()} stderr: ${follow.err()} exec: ${r.code} ${r.stderr}`);
    assert.equal(follow.child.exitCode, null, 'still following');
  } finally {
    await stop(follow.child);
  }
});

test('the sandbox refuses bad pods/log parameters with a cluster\'s 400 texts', async () => {
  const raw = (query: string) => kube(['get', '--raw', `/api/v1/namespaces/default/pods/demo/log?${query}`]);
  const cases: [string, string][] = [
    ['sinceSeconds=60&sinceTime=2026-01-02T15:04:05Z', 'PodLogOptions "" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified'],
    ['sinceSeconds=0', 'PodLogOptions "" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'],
    ['tailLines=-1', 'PodLogOptions "" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'],
    ['limitBytes=0&tailLines=-1', 'PodLogOptions "" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, limitBytes: Invalid value: 0: must be greater than 0]'],
    ['previous=true', 'previous terminated container "main" in pod "demo" not found'],
  ];
  for (const [query, message] of cases) {
    const r = await raw(query);
    assert.equal(r.code, 1, query);
    assert.equal(r.stderr, `Error from server (BadRequest): ${message}\n`, query);
  }
  // Good values: the last line, with its time.
  const r = await raw('tailLines=1&timestamps=true&limitBytes=1000');
  assert.match(r.stdout.toString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \S.*\n$/);
});

test('on a terminal, each pod\'s prefix has its own colour; piped, none', async () => {
  const name = 'podshell-logs-colour';
  const tmux = new TmuxSession(name, ['sh', '-c', `KUBECONFIG='${sandbox.kubeconfigPath}' env -u NO_COLOR '${bin}' logs -l app=web --tail=1; sleep 60`], { cols: 160, rows: 20 });
  try {
    const sorted = [...webPods].sort();
    await tmux.waitFor(new RegExp(`${sorted[2]}/app\\] web: ${sorted[2]} serving`));
    // The screen with its colours: SGR 36, 33, 35 for the first three pods (the multi-pod exec's).
    const screen = execFileSync('tmux', ['-L', `${name}-${process.pid}`, 'capture-pane', '-e', '-p', '-t', `${name}-${process.pid}`], { encoding: 'utf8' });
    sorted.forEach((pod, i) => assert.ok(screen.includes(`\x1b[${[36, 33, 35][i]}m[pod/${pod}/app] `), `${pod} in colour ${[36, 33, 35][i]}: ${JSON.stringify(screen)}`));
  } finally {
    tmux.kill();
  }
  const piped = await run(bin, ['logs', '-l', 'app=web', '--tail=1'], { env: { ...process.env, KUBECONFIG: sandbox.kubeconfigPath } });
  assert.doesNotMatch(piped.stdout.toString(), /\x1b/);
});

test('-l: a log that cannot be read is reported per pod, the others go on, exit 1', async () => {
  const r = await podshell(['logs', '-l', 'app=web', '-p']);
  assert.equal(r.code, 1);
  const expected = [...webPods].sort().map((p) => `podshell: pod/${p}/app: previous terminated container "app" in pod "${p}" not found\n`).join('');
  assert.equal(r.stderr, expected);
  // No pod matches: kubectl's notice, and nothing to print.
  const [ours, theirs] = await Promise.all([podshell(['logs', '-l', 'app=nothing']), kube(['logs', '-l', 'app=nothing'])]);
  assert.equal(theirs.stderr, 'No resources found in default namespace.\n');
  assert.equal(ours.stderr, theirs.stderr);
  assert.equal(ours.code, 0);
  assert.equal(ours.stdout.length, 0);
});

/**
 * A sandbox of its own for a test that scales deploy/web (the other tests count on its three
 * pods), following `args` with `podshell logs` until the three web pods' first lines are there.
 */
async function followingOwnWeb(tag: string, args: string[]) {
  const own = await startSandbox({ kubeconfigPath: join(work, `kubeconfig-${tag}`) });
  const ownEnv = { ...process.env, KUBECONFIG: own.kubeconfigPath, NO_COLOR: '1' };
  const k = (kargs: string[]) => run(kubectl, ['--cache-dir', join(work, `cache-${tag}`), ...kargs], { env: ownEnv });
  const names = async () => (await k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name}'])).stdout.toString().split(' ').filter(Boolean).sort();
  const follow = start(bin, args, ownEnv);
  const close = async () => {
    await stop(follow.child);
    await own.close();
  };
  try {
    const first = await names();
    assert.equal(first.length, 3);
    assert.ok(await pollUntil(() => first.every((p) => follow.out().includes(serving(p))), 60_000, 100), `stdout: ${follow.out()} stderr: ${follow.err()}`);
    /** Scale web to four pods: the new pod's name. */
    const scaleUp = async () => {
      const up = await k(['scale', 'deploy/web', '--replicas=4']);
      assert.equal(up.code, 0, up.stderr);
      assert.ok(await pollUntil(async () => (await names()).length === 4, 60_000, 200));
      return (await names()).filter((p) => !first.includes(p))[0]!;
    };
    return { ownEnv, k, names, follow, first, scaleUp, close };
  } catch (err) {
    await close();
    throw err;
  }
}

const serving = (pod: string) => `[pod/${pod}/app] web: ${pod} serving\n`;

test('logs -l app=web -f picks up a pod that scaling up adds; a pod that scaling down removes ends its log, the command goes on', async () => {
  const { ownEnv, k, names, follow, first, scaleUp, close } = await followingOwnWeb('scale', ['logs', '-l', 'app=web', '-f']);
  const spawnOwn = (args: string[]) => start(bin, args, ownEnv);
  try {
    // Up: the fourth pod's first line arrives, prefixed.
    const added = await scaleUp();
    assert.ok(await pollUntil(() => follow.out().includes(serving(added)), 60_000, 100), `stdout: ${follow.out()} stderr: ${follow.err()}`);

    // Down to 3: the newest pod (the one just added) goes. A follower of that pod alone ends, exit 0.
    const single = spawnOwn(['logs', '-f', added, '-c', 'app']);
    assert.ok(await pollUntil(() => single.out() === `web: ${added} serving\n`, 60_000, 100), single.out());
    const down = await k(['scale', 'deploy/web', '--replicas=3']);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(await pollUntil(async () => (await names()).length === 3 && !(await names()).includes(added), 60_000, 200));
    assert.ok(await pollUntil(() => single.child.exitCode !== null, 60_000, 100), 'the single-pod follower ends with its pod');
    assert.equal(single.child.exitCode, 0, single.err());
    assert.equal(single.err(), '');

    // The selector's follower goes on: no error for the pod gone, and a later line of another pod arrives.
    assert.equal(follow.child.exitCode, null, 'still following');
    assert.equal(follow.err(), '');
    const late = `after the scale down ${Date.now()}`;
    const attach = spawn(kubectl, ['--cache-dir', join(work, 'cache-scale'), 'attach', '-i', first[0]!, '-c', 'app'], { env: ownEnv, stdio: ['pipe', 'ignore', 'ignore'] });
    children.add(attach);
    attach.on('exit', () => children.delete(attach));
    attach.stdin!.write(`${late}\n`);
    assert.ok(await pollUntil(() => follow.out().includes(`[pod/${first[0]}/app] ${late}\n`), 60_000, 100), `stdout: ${follow.out()}`);
    await stop(attach);
    assert.equal(follow.child.exitCode, null, 'still following');
    // Every line is whole and prefixed, and each pod said "serving" once.
    for (const line of follow.out().trimEnd().split('\n')) assert.match(line, /^\[pod\/web-[a-z0-9]+-[a-z0-9]+\/app\] /);
    for (const pod of [...first, added]) assert.equal(follow.out().split(serving(pod)).length - 1, 1, pod);
  } finally {
    await close();
  }
});

test('logs -l app=web -f at --max-log-requests: a pod that scaling up adds is not followed, and stderr says why', async () => {
  const { follow, scaleUp, close } = await followingOwnWeb('limit', ['logs', '-l', 'app=web', '-f', '--max-log-requests', '3']);
  try {
    const added = await scaleUp();
    const notice = `not following pod/${added}/app: already following 3 log streams, the maximum allowed concurrency (use --max-log-requests to increase the limit)\n`;
    assert.ok(await pollUntil(() => follow.err().includes(notice), 60_000, 100), `stderr: ${follow.err()}`);
    assert.equal(follow.err(), notice);
    assert.ok(!follow.out().includes(`[pod/${added}/`), follow.out());
    assert.equal(follow.child.exitCode, null, 'still following');
  } finally {
    await close();
  }
});
