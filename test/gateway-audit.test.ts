// The audit log and the session recordings (docs/web.md, "Audit", "Recordings") through the real
// gateway against a real sandbox: the lines a session's start, end and a denial write, what they
// never hold, the asciicast file (checked by asciinema itself), UTF-8 split across output frames,
// the recording's route and the retention.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { Recordings } from '../src/gateway/recording.ts';
import { registerRecordingRoutes } from '../src/gateway/routes-recordings.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { signIn, startTestGateway, type TestGateway } from './gateway-client.ts';
import { REPLAY_CSP } from '../src/gateway/routes-recordings.ts';
import { startWebWorld, waitInPage, type WebWorld } from './browser.ts';
import { kubeconfigClusters, startHarness } from './gateway-harness.ts';
import { StreamClient, until } from './gateway-stream-client.ts';

let sandbox: Sandbox;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-gaudit-'));
  sandbox = await startSandbox({ kubeconfigPath: join(work, 'kubeconfig') });
});
after(async () => {
  await sandbox?.close();
  rmSync(work, { recursive: true, force: true });
});

const demo = { cluster: 'podshell-sandbox', namespace: 'default', pod: 'demo', cols: 100, rows: 30 };
const SECRET = 's3cr3t-typed';

async function create(gw: TestGateway, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, any> }> {
  const res = await gw.fetch('/api/sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

function join_(gw: TestGateway, id: string): StreamClient {
  return new StreamClient(gw.websocket(`/api/sessions/${id}/stream`));
}

function auditLines(file: string): Record<string, any>[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>) : [];
}

/**
 * `asciinema cat FILE`'s output. It reads keys from /dev/tty, so it runs under script(1), which
 * gives it a terminal of its own.
 */
function asciinemaCat(file: string): string {
  return execFileSync('script', ['-qec', `asciinema cat '${file}'`, '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

type Cast = { header: Record<string, any>; events: [number, string, string][] };
function readCast(file: string): Cast {
  const [first, ...rest] = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  return { header: JSON.parse(first!) as Record<string, any>, events: rest.map((l) => JSON.parse(l) as [number, string, string]) };
}

/** A gateway over the sandbox with an audit log and recordings in a fresh folder. */
async function auditedGateway(name: string, config: Record<string, unknown> = {}) {
  const dir = join(work, name);
  mkdirSync(join(dir, 'casts'), { recursive: true });
  const auditFile = join(dir, 'audit.jsonl');
  const gw = await startTestGateway({ kubeconfig: sandbox.kubeconfigPath, config: { auditLog: auditFile, recordingsDir: join(dir, 'casts'), ...config } });
  return { gw, auditFile, casts: join(dir, 'casts') };
}

describe('audit log and recordings of a shell session', () => {
  let gw: TestGateway;
  let auditFile: string;
  let casts: string;
  let id: string;
  let client: StreamClient;

  before(async () => {
    ({ gw, auditFile, casts } = await auditedGateway('shell'));
    const created = await create(gw, demo);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    id = created.body.id;
    client = join_(gw, id);
    await client.joined;
    client.resize(120, 40);
    client.type(`echo ${SECRET}\n`);
    await until('the echo is printed', () => client.text().split(SECRET).length >= 3);
    client.type('exit 3\n');
    await until('the session exits', () => client.exitInfo !== null, 30_000);
    await until('the end line is written', () => auditLines(auditFile).some((l) => l.event === 'session.end'));
  });
  after(async () => {
    await client?.drop().catch(() => {});
    await gw?.close();
  });

  test('the start and end lines hold every field, bytes counted and the exit code', () => {
    const lines = auditLines(auditFile);
    assert.deepEqual(lines.map((l) => l.event), ['session.start', 'session.end']);
    const [start, end] = lines as [Record<string, any>, Record<string, any>];
    const typed = Buffer.byteLength(`echo ${SECRET}\n`) + Buffer.byteLength('exit 3\n');
    for (const line of [start, end]) {
      assert.equal(typeof line.user, 'string');
      assert.ok(line.user.length > 0);
      assert.deepEqual(line.groups, []);
      assert.equal(line.cluster, 'podshell-sandbox');
      assert.equal(line.namespace, 'default');
      assert.equal(line.pod, 'demo');
      assert.equal(line.container, 'main');
      assert.ok(Array.isArray(line.command) && line.command.length > 0);
      assert.equal(line.tty, true);
      assert.equal(line.clientAddress, '127.0.0.1');
      assert.equal(line.sessionId, id);
      assert.ok(!Number.isNaN(Date.parse(line.time)) && !Number.isNaN(Date.parse(line.started)));
    }
    assert.equal(start.ended, null);
    assert.equal(start.exitCode, null);
    assert.equal(end.started, start.started);
    assert.ok(Date.parse(end.ended) >= Date.parse(end.started));
    assert.equal(end.exitCode, 3);
    assert.equal(end.bytesIn, typed, 'every typed byte counted');
    assert.equal(end.bytesOut, client.next, 'bytes out: all the output the client received');
    assert.ok(end.bytesOut > 0);
    assert.equal(end.reason, undefined);
    assert.equal(end.endedBy, undefined, 'the command exited by itself');
    assert.equal(statSync(auditFile).mode & 0o777, 0o600);
  });

  test('no audit line holds what was typed, the cookie, the CSRF token or the login token', () => {
    const text = readFileSync(auditFile, 'utf8');
    assert.ok(client.text().includes(SECRET), 'precondition: the output holds the typed secret');
    assert.deepEqual(client.notices, [], 'no recording-input notice without --record-input');
    assert.ok(!text.includes(SECRET), 'no keystrokes in the audit log');
    assert.ok(!text.includes(gw.cookie.split('=')[1]!));
    assert.ok(!text.includes(gw.csrfToken));
    assert.ok(!text.includes(new URL(gw.loginUrl).searchParams.get('token')!));
  });

  test('the recording is asciicast v2 with the output, a resize and no input', () => {
    const file = join(casts, `${id}.cast`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const { header, events } = readCast(file);
    assert.equal(header.version, 2);
    assert.equal(header.width, 100);
    assert.equal(header.height, 30);
    assert.ok(Number.isInteger(header.timestamp) && Math.abs(header.timestamp - Date.now() / 1000) < 600);
    assert.equal(header.env.TERM, 'xterm-256color');
    assert.match(header.title, /demo/);
    assert.ok(events.length > 0);
    let last = 0;
    for (const [t, kind, text] of events) {
      assert.ok(typeof t === 'number' && t >= last, 'times never go back');
      last = t;
      assert.ok(kind === 'o' || kind === 'r', `only output and resize events, not ${kind}`);
      assert.equal(typeof text, 'string');
    }
    assert.ok(events.some(([, kind, text]) => kind === 'r' && text === '120x40'));
    const output = events.filter(([, k]) => k === 'o').map(([, , text]) => text).join('');
    assert.equal(output, client.bytes().toString('utf8'), 'the recorded output is the output');
    // The output echoes the secret (expected); input events would hold it as typed.
    assert.ok(output.includes(`${SECRET}\r\n`));
  });

  test('asciinema cat prints the session output', () => {
    const printed = asciinemaCat(join(casts, `${id}.cast`));
    assert.ok(printed.includes(`echo ${SECRET}`), printed);
    assert.ok(printed.includes('exit 3'));
  });

  test('GET /api/sessions/:id/recording returns the file to its owner; 404 for an unknown id', async () => {
    const res = await gw.fetch(`/api/sessions/${id}/recording`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-asciicast');
    assert.equal(await res.text(), readFileSync(join(casts, `${id}.cast`), 'utf8'));
    const missing = await gw.fetch('/api/sessions/AAAAAAAAAAAAAAAAAAAAAA/recording');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as any).error.code, 'ERR_GATEWAY_UNKNOWN_RECORDING');
  });
});

describe('denials, input recording, UTF-8 and retention', () => {
  test("a denied session (the viewer: 403) writes a denial line with the API server's sentence", async () => {
    const { gw, auditFile, casts } = await auditedGateway('denied');
    try {
      const { status, body } = await create(gw, { ...demo, cluster: 'podshell-sandbox-viewer', command: ['echo', SECRET] });
      assert.equal(status, 403, JSON.stringify(body));
      const lines = auditLines(auditFile);
      assert.equal(lines.length, 1);
      const denied = lines[0]!;
      assert.equal(denied.event, 'session.denied');
      assert.equal(denied.cluster, 'podshell-sandbox-viewer');
      assert.equal(denied.pod, 'demo');
      assert.equal(denied.sessionId, null);
      assert.equal(denied.clientAddress, '127.0.0.1');
      assert.deepEqual(denied.groups, []);
      assert.deepEqual(denied.reason, body.error);
      assert.equal(denied.reason.code, 'ERR_FORBIDDEN');
      assert.match(denied.reason.message, /User "viewer" cannot get resource "pods\/exec"/);
      assert.equal(execFileSync('ls', ['-A', casts], { encoding: 'utf8' }), '', 'no recording of a session that never started');
    } finally {
      await gw.close();
    }
  });

  test('a session ended by DELETE writes its end line, with no exit code', async () => {
    const { gw, auditFile } = await auditedGateway('deleted');
    try {
      const created = await create(gw, { ...demo, command: ['sleep', '600'] });
      assert.equal(created.status, 201);
      const res = await gw.fetch(`/api/sessions/${created.body.id}`, { method: 'DELETE' });
      assert.equal(res.status, 204);
      await until('the end line', () => auditLines(auditFile).some((l) => l.event === 'session.end'));
      const end = auditLines(auditFile).find((l) => l.event === 'session.end')!;
      assert.equal(end.sessionId, created.body.id);
      assert.deepEqual(end.command, ['sleep', '600']);
      assert.equal(end.exitCode, null);
      assert.equal(end.endedBy, 'ended', 'DELETE');
      assert.equal(end.reason, undefined);
    } finally {
      await gw.close();
    }
  });

  test('a recordings folder that went away refuses new sessions (500 ERR_GATEWAY_RECORDING), audited as denials', async () => {
    const { gw, auditFile, casts } = await auditedGateway('vanished');
    try {
      rmSync(casts, { recursive: true });
      const { status, body } = await create(gw, { ...demo, command: ['echo', 'unrecorded'] });
      assert.equal(status, 500);
      assert.equal(body.error.code, 'ERR_GATEWAY_RECORDING');
      assert.match(body.error.message, /cannot record the session in .*casts: ENOENT/);
      const lines = auditLines(auditFile);
      assert.deepEqual(lines.map((l) => l.event), ['session.denied']);
      assert.equal(lines[0]!.reason.code, 'ERR_GATEWAY_RECORDING');
      const listed = (await (await gw.fetch('/api/sessions')).json()) as { sessions: unknown[] };
      assert.deepEqual(listed.sessions, []);
    } finally {
      await gw.close();
    }
  });

  test('with recordInput the typed input is recorded as i events (and still never audited)', async () => {
    const { gw, auditFile, casts } = await auditedGateway('input', { recordInput: true });
    let client: StreamClient | undefined;
    try {
      const created = await create(gw, demo);
      assert.equal(created.status, 201);
      client = join_(gw, created.body.id);
      await client.joined;
      client.type(`echo ${SECRET}\n`);
      client.type('exit\n');
      await until('the session exits', () => client!.exitInfo !== null);
      await until('the end line', () => auditLines(auditFile).some((l) => l.event === 'session.end'));
      const { events } = readCast(join(casts, `${created.body.id}.cast`));
      assert.deepEqual(client.notices, [{ kind: 'recording-input' }], 'the client is told its input is recorded');
      const input = events.filter(([, k]) => k === 'i').map(([, , t]) => t).join('');
      assert.equal(input, `echo ${SECRET}\nexit\n`);
      assert.ok(!readFileSync(auditFile, 'utf8').includes(SECRET));
    } finally {
      await client?.drop().catch(() => {});
      await gw.close();
    }
  });

  test('a € split across two output frames is recorded as €', async () => {
    const { gw, casts } = await auditedGateway('utf8');
    let client: StreamClient | undefined;
    try {
      const command = ['sh', '-c', "sleep 1; printf '\\342\\202'; sleep 0.5; printf '\\254'"];
      const created = await create(gw, { ...demo, tty: false, command });
      assert.equal(created.status, 201);
      client = join_(gw, created.body.id);
      await client.joined;
      // Precondition: the first two bytes arrived on their own, before the third was printed.
      await until('the first half arrives alone', () => client!.received >= 2);
      assert.deepEqual([...client.bytes()], [0xe2, 0x82], 'the character came split across frames');
      await until('the session exits', () => client!.exitInfo !== null);
      assert.deepEqual([...client.bytes()], [0xe2, 0x82, 0xac]);
      const file = join(casts, `${created.body.id}.cast`);
      await until('the recording is closed', () => readFileSync(file, 'utf8').includes('€'));
      const { events } = readCast(file);
      assert.equal(events.map(([, , t]) => t).join(''), '€');
      assert.ok(!readFileSync(file, 'utf8').includes('\ufffd'));
      const printed = asciinemaCat(file);
      assert.equal(printed, '€');
    } finally {
      await client?.drop().catch(() => {});
      await gw.close();
    }
  });

  test('retention removes recordings older than --recordings-max-age at start, and keeps newer ones', async () => {
    const dir = join(work, 'retention');
    mkdirSync(dir, { recursive: true });
    const old = join(dir, 'old-session.cast');
    const fresh = join(dir, 'fresh-session.cast');
    const other = join(dir, 'notes.txt');
    for (const f of [old, fresh, other]) writeFileSync(f, '{}\n');
    const fortyDaysAgo = (Date.now() - 40 * 24 * 3600 * 1000) / 1000;
    utimesSync(old, fortyDaysAgo, fortyDaysAgo);
    utimesSync(other, fortyDaysAgo, fortyDaysAgo);
    assert.ok(existsSync(old), 'precondition: the old file is there');
    const gw = await startTestGateway({ kubeconfig: sandbox.kubeconfigPath, config: { recordingsDir: dir, recordingsMaxAgeMs: 30 * 24 * 3600 * 1000 } });
    try {
      assert.ok(!existsSync(old), 'the 40-day-old recording is removed');
      assert.ok(existsSync(fresh), 'a new one stays');
      assert.ok(existsSync(other), 'only .cast files are touched');
    } finally {
      await gw.close();
    }
  });

  test('the hourly pass removes what aged meanwhile', () => {
    const dir = join(work, 'hourly');
    mkdirSync(dir, { recursive: true });
    const recordings = new Recordings({ dir, maxAgeMs: 60_000 });
    try {
      const file = join(dir, 'a.cast');
      writeFileSync(file, '{}\n');
      assert.deepEqual(recordings.prune(), []);
      assert.deepEqual(recordings.prune(Date.now() + 120_000), ['a.cast']);
      assert.ok(!existsSync(file));
    } finally {
      recordings.close();
    }
  });

  test("another sign-in's recording is a 404, as its session is", async () => {
    const dir = join(work, 'owners');
    mkdirSync(dir, { recursive: true });
    const recordings = new Recordings({ dir });
    const recording = recordings.open('sessionA', 'alice', { cols: 80, rows: 24, title: 't', env: { TERM: 'xterm-256color' } });
    recording.output(Buffer.from('hello'));
    recording.close();
    const clusters = kubeconfigClusters(sandbox.kubeconfigPath, ['podshell-sandbox']);
    const harness = await startHarness({ clusters, register: (app, ctx) => registerRecordingRoutes(app, ctx, recordings) });
    try {
      const mine = await harness.fetch('/api/sessions/sessionA/recording', { headers: { 'x-test-principal': 'alice' } });
      assert.equal(mine.status, 200);
      assert.match(await mine.text(), /"hello"/);
      const theirs = await harness.fetch('/api/sessions/sessionA/recording', { headers: { 'x-test-principal': 'mallory' } });
      assert.equal(theirs.status, 404);
      assert.equal(((await theirs.json()) as any).error.code, 'ERR_GATEWAY_UNKNOWN_RECORDING');
    } finally {
      await harness.close();
    }
  });
});

describe('podshell web --audit-log, --recordings, --record-input, --recordings-max-age', () => {
  const bin = new URL('../bin/podshell', import.meta.url).pathname;

  /** Run `podshell web ARGS` until it exits (a refused setting) or prints its ready line. */
  function startCli(args: string[]) {
    const child = spawn(bin, ['web', '--kubeconfig', sandbox.kubeconfigPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, out: () => stdout, err: () => stderr };
  }

  test('the flags reach the gateway: audit lines and a recording with input', async (t) => {
    const dir = join(work, 'cli');
    mkdirSync(join(dir, 'casts'), { recursive: true });
    const auditFile = join(dir, 'audit.jsonl');
    const cli = startCli(['--audit-log', auditFile, '--recordings', join(dir, 'casts'), '--record-input', '--recordings-max-age', '30d']);
    t.after(() => {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    });
    await until('web ready', () => /^web ready \S+\n/m.test(cli.out()) || cli.child.exitCode !== null);
    const login = /^web ready (\S+)$/m.exec(cli.out())?.[1];
    assert.ok(login, `ready line: ${cli.out()} ${cli.err()}`);
    const { cookie, csrfToken } = await signIn(login);
    const base = new URL(login).origin;
    const res = await fetch(`${base}/api/sessions`, {
      method: 'POST',
      headers: { cookie, origin: base, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ ...demo, command: ['cat'] }),
    });
    assert.equal(res.status, 201);
    const { id } = (await res.json()) as { id: string };
    const client = new StreamClient(new WebSocket(`${base.replace('http', 'ws')}/api/sessions/${id}/stream`, { origin: base, headers: { cookie } }));
    await client.joined;
    client.type('typed-in-cli\n');
    await until('cat echoes', () => client.text().includes('typed-in-cli'));
    client.closeStdin();
    await until('the end line', () => auditLines(auditFile).some((l) => l.event === 'session.end'));
    await client.drop().catch(() => {});
    assert.deepEqual(auditLines(auditFile).map((l) => l.event), ['session.start', 'session.end']);
    const { events } = readCast(join(dir, 'casts', `${id}.cast`));
    assert.ok(events.some(([, k, text]) => k === 'i' && text.includes('typed-in-cli')));
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 0, cli.err());
  });

  test('a recordings folder that is not there, or --record-input alone, is refused with exit code 2', async () => {
    const missing = startCli(['--recordings', join(work, 'no-such-folder')]);
    assert.equal(await missing.exited, 2);
    assert.match(missing.err(), /--recordings: .*no-such-folder is not a directory/);
    const alone = startCli(['--record-input']);
    assert.equal(await alone.exited, 2);
    assert.match(alone.err(), /--record-input needs --recordings DIR/);
  });
});

// What the pages expose to tests (window.__podshell: src/web/main.ts; __podshellReplay: src/web/replay.ts).
declare const window: { __podshell: any; __podshellReplay: any };
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

describe('the replay page and the recording banner, in a browser under the CSP', () => {
  let world: WebWorld;
  const dir = () => join(work, 'replay');

  before(async () => {
    mkdirSync(dir(), { recursive: true });
    world = await startWebWorld({ kubeconfig: sandbox.kubeconfigPath, gateway: { config: { recordingsDir: dir(), recordInput: true } } });
  });
  after(async () => {
    await world?.close();
  });

  test('a tab whose input is recorded says so; /replay/:id plays the session with no console error', async () => {
    const page = await world.page();
    await page.goto(`${world.base}/?cluster=podshell-sandbox&namespace=default&pod=demo`);
    const tab = await waitInPage(page, 'a connected tab with its banner', () => {
      const tabs = window.__podshell?.tabs() ?? [];
      return tabs[0]?.state === 'connected' && tabs[0].banner ? tabs[0] : null;
    });
    assert.equal(tab.banner, 'This session is recorded, including what you type.');
    await page.evaluate(() => window.__podshell.app.active.term.focus());
    await page.keyboard.type('echo replay-$((6*7))-done\n');
    await waitInPage(page, 'the echo', () => /replay-42-done/.test(window.__podshell.bufferText()));
    await until('the recording holds the output', () => readFileSync(join(dir(), `${tab.sessionId}.cast`), 'utf8').includes('replay-42-done'));

    const replay = await world.page();
    const res = await replay.goto(`${world.base}/replay/${tab.sessionId}`);
    assert.equal(res?.status(), 200);
    assert.equal(res?.headers()['content-security-policy'], REPLAY_CSP);
    assert.doesNotMatch(REPLAY_CSP, /unsafe-inline|'unsafe-eval'/);
    await waitInPage(replay, 'the player is ready', () => (window.__podshellReplay?.state === 'ready' ? true : window.__podshellReplay?.state.startsWith('failed') ? window.__podshellReplay.state : false));
    assert.equal(await replay.evaluate(() => window.__podshellReplay.state), 'ready');
    // Not awaited in the page: a player that cannot start (its WebAssembly refused) never settles.
    await replay.evaluate(() => void window.__podshellReplay.player.play());
    const shown = await waitInPage(replay, 'the replayed output', () => {
      const text = document.querySelector('.ap-term, .ap-terminal, .ap-player')?.textContent ?? '';
      return /replay-42-done/.test(text) ? text : '';
    }, 30_000);
    assert.match(shown, /echo replay-\$\(\(6\*7\)\)-done/);
    assert.deepEqual(world.consoleErrors, []);

    const other = await replay.goto(`${world.base}/replay/AAAAAAAAAAAAAAAAAAAAAA`);
    assert.equal(other?.status(), 200);
    const failed = await waitInPage(replay, 'a failure in words', () => {
      const state = window.__podshellReplay?.state ?? '';
      return state.startsWith('failed') ? state : '';
    });
    assert.equal(failed, 'failed: no recording of session "AAAAAAAAAAAAAAAAAAAAAA"');
    await page.close();
    await replay.close();
  });
});
