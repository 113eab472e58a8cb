// The sandbox's exec and attach endpoints on the wire: raw WebSocket clients, exact bytes.

import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';

let sandbox: Sandbox;
let v4only: Sandbox;

before(async () => {
  [sandbox, v4only] = await Promise.all([startSandbox(), startSandbox({ protocols: ['v4.channel.k8s.io'] })]);
});
after(async () => {
  await Promise.all([sandbox?.close(), v4only?.close()]);
});

interface Received {
  protocol: string;
  /** Every message as [isBinary, bytes]. */
  messages: [boolean, Buffer][];
  close: { code: number; reason: string };
}

function execUrl(base: string, params: string, pod = 'demo', kind = 'exec', namespace = 'default') {
  return `${base.replace('https', 'wss')}/api/v1/namespaces/${namespace}/pods/${pod}/${kind}?${params}`;
}

function open(s: Sandbox, url: string, protocols: string[] | undefined, user = 'admin'): WebSocket {
  const creds = s.users[user]!;
  return new WebSocket(url, protocols ?? [], { ca: s.caPem, headers: { Authorization: `Bearer ${creds.token}` } });
}

function session(ws: WebSocket, send: (ws: WebSocket) => void = () => {}): Promise<Received> {
  return new Promise((resolve, reject) => {
    const messages: [boolean, Buffer][] = [];
    ws.on('open', () => send(ws));
    ws.on('message', (data: Buffer, isBinary) => messages.push([isBinary, Buffer.from(data)]));
    ws.on('close', (code, reason) => resolve({ protocol: ws.protocol, messages, close: { code, reason: reason.toString() } }));
    ws.on('error', reject);
  });
}

const channel = (r: Received, ch: number) => Buffer.concat(r.messages.filter(([, m]) => m[0] === ch).map(([, m]) => m.subarray(1)));

describe('subprotocols', () => {
  const cmd = 'command=sh&command=-c&command=echo%20out%3B%20echo%20err%20%3E%262%3B%20exit%203&stdout=true&stderr=true';

  test('v5: initial empty stdout frame, separate channels, Status after output, close 1000', async () => {
    const r = await session(open(sandbox, execUrl(sandbox.url, cmd), ['v5.channel.k8s.io', 'v4.channel.k8s.io']));
    assert.equal(r.protocol, 'v5.channel.k8s.io');
    assert.deepEqual(r.messages[0], [true, Buffer.from([1])]);
    assert.equal(channel(r, 1).toString(), 'out\n');
    assert.equal(channel(r, 2).toString(), 'err\n');
    const last = r.messages.at(-1)!;
    assert.equal(last[1][0], 3);
    assert.equal(
      last[1].subarray(1).toString(),
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    );
    assert.deepEqual(r.close, { code: 1000, reason: '' });
  });

  test('v4: the runtime\'s wording and a Success status on exit 0', async () => {
    const r = await session(open(sandbox, execUrl(sandbox.url, cmd), ['v4.channel.k8s.io']));
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.equal(
      channel(r, 3).toString(),
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    );
    const ok = await session(open(sandbox, execUrl(sandbox.url, 'command=true&stdout=1'), ['v4.channel.k8s.io']));
    assert.equal(channel(ok, 3).toString(), '{"metadata":{},"status":"Success"}');
  });

  test('v4.base64: text frames with a channel digit and padded base64', async () => {
    const r = await session(open(sandbox, execUrl(sandbox.url, 'command=echo&command=hi&stdout=true'), ['v4.base64.channel.k8s.io']));
    assert.equal(r.protocol, 'v4.base64.channel.k8s.io');
    assert.deepEqual(r.messages[0], [false, Buffer.from('1')]);
    assert.deepEqual(r.messages[1], [false, Buffer.from('1aGkK')]);
    assert.deepEqual(r.messages[2], [false, Buffer.from(`3${Buffer.from('{"metadata":{},"status":"Success"}').toString('base64')}`)]);
    assert.equal(r.messages.length, 3);
  });

  test('base64.channel.k8s.io and channel.k8s.io: nothing on success, plain text on failure', async () => {
    const ok = await session(open(sandbox, execUrl(sandbox.url, 'command=true&stdout=true'), ['base64.channel.k8s.io']));
    assert.deepEqual(ok.messages, [[false, Buffer.from('1')]]);
    const fail = await session(open(sandbox, execUrl(sandbox.url, 'command=sh&command=-c&command=exit%20255&stdout=true'), ['channel.k8s.io']));
    assert.equal(fail.protocol, 'channel.k8s.io');
    assert.deepEqual(fail.messages.map(([b, m]) => [b, m.toString('latin1')]), [
      [true, '\x01'],
      [true, '\x03command terminated with non-zero exit code: error executing command [sh -c exit 255], exit code 255'],
    ]);
  });

  test('client order wins; unknown names are skipped', async () => {
    const r = await session(open(sandbox, execUrl(sandbox.url, 'command=true&stdout=true'), ['v3.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io']));
    assert.equal(r.protocol, 'v4.channel.k8s.io');
  });

  test('nothing acceptable offered: 403 with an empty body; a v4-only server refuses v5', async () => {
    for (const [s, offer] of [[sandbox, ['v5.base64.channel.k8s.io']], [v4only, ['v5.channel.k8s.io']]] as const) {
      const ws = open(s, execUrl(s.url, 'command=true&stdout=true'), [...offer]);
      const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        ws.on('open', () => reject(new Error('upgraded')));
        ws.on('error', () => {});
      });
      assert.deepEqual(response, { status: 403, body: '' });
    }
    const r = await session(open(v4only, execUrl(v4only.url, 'command=true&stdout=true'), ['v5.channel.k8s.io', 'v4.channel.k8s.io']));
    assert.equal(r.protocol, 'v4.channel.k8s.io');
  });

  test('only the first Sec-WebSocket-Protocol header line counts', async () => {
    const head = await rawUpgrade(sandbox, ['Sec-WebSocket-Protocol: v4.channel.k8s.io', 'Sec-WebSocket-Protocol: v5.channel.k8s.io']);
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /\r\nSec-WebSocket-Protocol: v4\.channel\.k8s\.io\r\n/i);
    const none = await rawUpgrade(sandbox, []);
    assert.match(none, /^HTTP\/1\.1 101 /);
    assert.match(none, /\r\nSec-WebSocket-Protocol: \r\n/i, 'an empty header, as x/net writes it');
  });
});

function rawUpgrade(s: Sandbox, extra: string[]): Promise<string> {
  const url = new URL(s.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca: s.caPem }, () => {
      socket.write(
        [
          'GET /api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true HTTP/1.1',
          `Host: ${url.host}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version: 13',
          `Authorization: Bearer ${s.users.admin!.token}`,
          ...extra,
          '',
          '',
        ].join('\r\n'),
      );
    });
    let data = '';
    socket.on('data', (c) => {
      data += c.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(data.slice(0, end + 2));
      }
    });
    socket.on('error', reject);
  });
}

describe('streams', () => {
  test('v5 half-close ends stdin: wc -c counts what was sent', async () => {
    const r = await session(open(sandbox, execUrl(sandbox.url, 'command=wc&command=-c&stdin=true&stdout=true&stderr=true'), ['v5.channel.k8s.io']), (ws) => {
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.alloc(100_000, 'a')]));
      ws.send(Buffer.from([0])); // a bare channel byte is a no-op, not EOF
      ws.send(Buffer.from([0, 0x62]));
      ws.send(Buffer.from([255, 0]));
    });
    assert.equal(channel(r, 1).toString().trim(), '100001');
    assert.equal(channel(r, 3).toString(), '{"metadata":{},"status":"Success"}');
  });

  test('a malformed close message terminates the connection', async () => {
    const r = await session(open(sandbox, execUrl(sandbox.url, 'command=cat&stdin=true&stdout=true'), ['v5.channel.k8s.io']), (ws) => ws.send(Buffer.from([255, 9])));
    assert.notEqual(r.close.code, 1000);
  });

  test('resize on channel 4 reaches the pty; tty drops stderr', async () => {
    const r = await session(
      open(sandbox, execUrl(sandbox.url, 'command=sh&command=-c&command=echo%20ready%3B%20read%20x%3B%20stty%20size%3B%20echo%20e%20%3E%262&stdin=true&stdout=true&stderr=true&tty=true'), ['v4.channel.k8s.io']),
      (ws) => {
        ws.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":132,"Hei')]));
        ws.send(Buffer.concat([Buffer.from([4]), Buffer.from('ght":43}\n')]));
        // The shell is waiting at `read` once it has said so; the resize went before on the same socket.
        let seen = '';
        const onMessage = (m: Buffer) => {
          if (m[0] === 1) seen += m.subarray(1).toString();
          if (!seen.includes('ready')) return;
          ws.off('message', onMessage);
          ws.send(Buffer.from('\x00go\r'));
        };
        ws.on('message', onMessage);
      },
    );
    const out = channel(r, 1).toString();
    assert.match(out, /43 132\r\n/);
    assert.match(out, /e\r\n/, 'stderr arrives merged through the pty');
    assert.equal(channel(r, 2).length, 0);
  });

  test('a missing executable is an in-band InternalError, double-prefixed on v5', async () => {
    const r = await session(open(sandbox, execUrl(sandbox.url, 'command=nosuch&stdout=true'), ['v5.channel.k8s.io']));
    const status = JSON.parse(channel(r, 3).toString());
    assert.equal(status.reason, 'InternalError');
    assert.equal(status.code, 500);
    assert.match(status.message, /^Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": executable file not found in \$PATH: unknown$/);
  });

  test('frames over 32 MiB close the connection', async () => {
    const r = await session(open(sandbox, execUrl(sandbox.url, 'command=cat&stdin=true&stdout=true'), ['v5.channel.k8s.io']), (ws) => ws.send(Buffer.alloc(32 * 1024 * 1024 + 2)));
    assert.equal(r.close.code, 1009);
  });

  test('pings are answered', async () => {
    const ws = open(sandbox, execUrl(sandbox.url, 'command=sleep&command=5&stdout=true'), ['v5.channel.k8s.io']);
    await new Promise((resolve) => ws.on('open', resolve));
    const pong = new Promise<Buffer>((resolve) => ws.on('pong', resolve));
    ws.ping(Buffer.from('hello'));
    assert.equal((await pong).toString(), 'hello');
    ws.terminate();
  });

  test('attach connects to the main process: stdin in, output back, the process outlives the session', async () => {
    // demo's main process is `cat` with stdin: what an attached client types comes back.
    const attach = (line: string) =>
      session(open(sandbox, execUrl(sandbox.url, 'stdout=true&stdin=true', 'demo', 'attach'), ['v5.channel.k8s.io']), (ws) => {
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(`${line}\n`)]));
        ws.send(Buffer.from([255, 0]));
        ws.on('message', (m: Buffer) => {
          if (m.subarray(1).toString().includes(line)) ws.close();
        });
      });
    const first = await attach('hello attach');
    assert.deepEqual(first.messages[0], [true, Buffer.from([1])]);
    assert.equal(channel(first, 1).toString(), 'hello attach\n');
    const second = await attach('still there');
    assert.equal(channel(second, 1).toString(), 'still there\n');
  });
});

describe('errors before the upgrade are kube-apiserver Status objects', () => {
  async function reject(s: Sandbox, url: string, user: string, protocols = ['v5.channel.k8s.io']) {
    const ws = open(s, url, protocols, user);
    return new Promise<{ status: number; body: string; type: string | undefined }>((resolve, rej) => {
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, type: res.headers['content-type'] }));
      });
      ws.on('open', () => rej(new Error('upgraded')));
      ws.on('error', () => {});
    });
  }

  test('403 for the viewer, with the RBAC sentence', async () => {
    const r = await reject(sandbox, execUrl(sandbox.url, 'command=true&stdout=true'), 'viewer');
    assert.equal(r.status, 403);
    assert.equal(r.body, '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"demo\\" is forbidden: User \\"viewer\\" cannot get resource \\"pods/exec\\" in API group \\"\\" in the namespace \\"default\\"","reason":"Forbidden","details":{"name":"demo","kind":"pods"},"code":403}');
  });

  test('404 for an unknown pod, 400 for a bad container, 400 for a missing one', async () => {
    const nf = await reject(sandbox, execUrl(sandbox.url, 'command=true&stdout=true', 'nope'), 'admin');
    assert.equal(nf.status, 404);
    assert.equal(nf.body, '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}');
    const web = JSON.parse((await fetchJson(sandbox, '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).body).items[0].metadata.name;
    const bad = await reject(sandbox, execUrl(sandbox.url, 'command=true&stdout=true&container=nope', web), 'admin');
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).message, `container nope is not valid for pod ${web}`);
    const missing = await reject(sandbox, execUrl(sandbox.url, 'command=true&stdout=true', web), 'admin');
    assert.equal(JSON.parse(missing.body).message, `a container name must be specified for pod ${web}, choose one of: [app sidecar]`);
  });

  test('401 for a bad token', async () => {
    const ws = new WebSocket(execUrl(sandbox.url, 'command=true&stdout=true'), ['v5.channel.k8s.io'], { ca: sandbox.caPem, headers: { Authorization: 'Bearer wrong' } });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('error', () => {});
    });
    assert.equal(status, 401);
  });

  test('a malformed percent-escape in the upgrade path is 400 BadRequest, not 500', async () => {
    const r = await reject(sandbox, execUrl(sandbox.url, 'command=true&stdout=true', 'de%ZZmo'), 'admin');
    assert.equal(r.status, 400);
    assert.equal(r.type, 'application/json');
    assert.deepEqual(JSON.parse(r.body), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'parse "/api/v1/namespaces/default/pods/de%ZZmo/exec?command=true&stdout=true": invalid URL escape "%ZZ"', reason: 'BadRequest', code: 400 });
  });

  test('a plain GET of exec is 400 Upgrade request required', async () => {
    const r = await fetchJson(sandbox, '/api/v1/namespaces/default/pods/demo/exec?command=true');
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).message, 'Upgrade request required');
  });
});

async function fetchJson(s: Sandbox, path: string, user = 'admin') {
  const { request } = await import('node:https');
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${s.url}${path}`, { ca: s.caPem, headers: { Authorization: `Bearer ${s.users[user]!.token}` } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('pods/log', () => {
  test('follow=true streams what the main process writes from then on', async () => {
    const { request } = await import('node:https');
    const chunks: string[] = [];
    const req = request(`${sandbox.url}/api/v1/namespaces/default/pods/demo/log?follow=true`, { ca: sandbox.caPem, headers: { Authorization: `Bearer ${sandbox.users.admin!.token}` } });
    const done = new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        assert.equal(res.statusCode, 200);
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          chunks.push(c);
          if (chunks.join('').includes('followed line')) resolve();
        });
      });
      req.on('error', reject);
    });
    req.end();
    // demo's main process echoes what an attached client types; its output is the log.
    await session(open(sandbox, execUrl(sandbox.url, 'stdout=true&stdin=true', 'demo', 'attach'), ['v5.channel.k8s.io']), (ws) => {
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('followed line\n')]));
      ws.on('message', (m: Buffer) => {
        if (m.subarray(1).toString().includes('followed line')) ws.close();
      });
    });
    await done;
    req.destroy();
    assert.match(chunks.join(''), /^podshell sandbox: pod demo is running\n(.*\n)*followed line\n$/);
  });

  test('tailLines and limitBytes cut the log as the apiserver does', async () => {
    const tail = await fetchJson(sandbox, '/api/v1/namespaces/default/pods/demo/log?tailLines=1');
    assert.equal(tail.status, 200);
    assert.equal(tail.body.split('\n').length, 2);
    const limited = await fetchJson(sandbox, '/api/v1/namespaces/default/pods/demo/log?limitBytes=8');
    assert.equal(limited.body, 'podshell');
  });
});

/** One request with the target sent byte for byte as given (no URL parsing on the client side). */
async function rawRequest(s: Sandbox, target: string, options: { method?: string; body?: string; user?: string } = {}) {
  const { request } = await import('node:https');
  const { hostname, port } = new URL(s.url);
  return new Promise<{ status: number; body: string; type: string | undefined }>((resolve, reject) => {
    const req = request({ host: hostname, port, path: target, method: options.method ?? 'GET', ca: s.caPem, headers: { Authorization: `Bearer ${s.users[options.user ?? 'admin']!.token}`, 'Content-Type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, type: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('malformed requests are 4xx Status objects, never 500', () => {
  const status = (r: { body: string }) => JSON.parse(r.body) as { kind: string; reason: string; code: number; message: string };

  test('%ZZ in the path is 400 BadRequest, as kube-apiserver answers', async () => {
    for (const target of ['/api/v1/namespaces/default/pods/%ZZ', '/api/v1/namespaces/default/pods/demo%2', '/healthz%Z']) {
      const r = await rawRequest(sandbox, target);
      assert.equal(r.status, 400, target);
      assert.equal(r.type, 'application/json');
      const body = status(r);
      assert.deepEqual([body.kind, body.reason, body.code], ['Status', 'BadRequest', 400]);
      assert.match(body.message, /^parse ".*": invalid URL escape "%.{0,2}"$/);
    }
  });

  test('escaped bytes that are not UTF-8 name an object that does not exist: 404', async () => {
    const r = await rawRequest(sandbox, '/api/v1/namespaces/default/pods/%FF');
    assert.equal(r.status, 404);
    assert.equal(status(r).reason, 'NotFound');
  });

  test('a request target that is no URL is 400', async () => {
    const r = await rawRequest(sandbox, 'http://[bad/api');
    assert.equal(r.status, 400);
    assert.equal(status(r).reason, 'BadRequest');
  });

  test('an integer query value that does not parse is 400', async () => {
    for (const value of ['abc', '99999999999999999999999', '1.5']) {
      const r = await rawRequest(sandbox, `/api/v1/namespaces/default/pods/demo/log?tailLines=${value}`);
      assert.equal(r.status, 400, value);
      assert.equal(status(r).reason, 'BadRequest');
    }
  });

  test('a SelfSubjectAccessReview body with wrongly typed fields is 400, whoever sends it', async () => {
    for (const user of ['admin', 'viewer']) {
      for (const body of ['{', '[1]', '{"spec":"x"}', '{"spec":{"resourceAttributes":"x"}}', '{"spec":{"resourceAttributes":{"verb":5,"resource":"pods"}}}', '{"spec":{"nonResourceAttributes":{"verb":"get","path":{}}}}']) {
        const r = await rawRequest(sandbox, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', body, user });
        assert.equal(r.status, 400, `${user} ${body}: ${r.body}`);
        assert.equal(status(r).reason, 'BadRequest');
      }
    }
  });

  test('an overlong path is a 4xx', async () => {
    for (const target of [`/api/v1/namespaces/default/pods/${'a'.repeat(10000)}`, `/${'a/'.repeat(4000)}`, `/api/v1/namespaces/default/pods/${'%ZZ'.repeat(3000)}`]) {
      const r = await rawRequest(sandbox, target);
      assert.ok(r.status >= 400 && r.status < 500, `${target.slice(0, 40)}…: ${r.status}`);
    }
  });
});
