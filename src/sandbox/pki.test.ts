import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect, createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { CA_COMMON_NAME, createPki } from './pki.ts';
import type { CertPair } from './pki.ts';

const run = promisify(execFile);

/** Whether `cmd` can be run at all (a failing exit status still counts). */
async function available(cmd: string, ...args: string[]): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 10_000 });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** Minimal DER reader: the elements of a SEQUENCE, each as [tag, whole TLV bytes]. */
function children(der: Uint8Array): [number, Uint8Array][] {
  const { content } = readTlv(der, 0);
  const out: [number, Uint8Array][] = [];
  for (let offset = 0; offset < content.length; ) {
    const el = readTlv(content, offset);
    out.push([el.tag, content.subarray(offset, el.end)]);
    offset = el.end;
  }
  return out;
}

function readTlv(buf: Uint8Array, offset: number): { tag: number; content: Uint8Array; end: number } {
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[start + i]!;
    start += n;
  }
  return { tag, content: buf.subarray(start, start + len), end: start + len };
}

/** [issuer, subject] Name DER of a certificate. */
function names(pem: string): [Uint8Array, Uint8Array] {
  const tbs = children(new X509Certificate(pem).raw)[0]![1];
  const fields = children(tbs);
  // version [0], serial, signature, issuer, validity, subject, ...
  return [fields[3]![1], fields[5]![1]];
}

describe('createPki', async () => {
  const started = performance.now();
  const pki = await createPki({ hosts: ['sandbox.example', '10.1.2.3', 'fe80::1', '::ffff:10.0.0.1', 'localhost'] });
  const elapsed = performance.now() - started;
  const client = await pki.issueClientCert({ user: 'alice', groups: ['dev', 'system:masters'] });
  const ca = new X509Certificate(pki.ca.certPem);
  const server = new X509Certificate(pki.server.certPem);
  const clientCert = new X509Certificate(client.certPem);

  test('is fast', async () => {
    assert.ok(elapsed < 1000, `first createPki took ${elapsed} ms`);
    const t0 = performance.now();
    await createPki();
    const again = performance.now() - t0;
    assert.ok(again < 100, `createPki took ${again} ms`);
  });

  test('CA: self-signed, CN podshell-sandbox-ca, a CA', () => {
    assert.equal(ca.subject, `CN=${CA_COMMON_NAME}`);
    assert.equal(ca.issuer, ca.subject);
    assert.equal(ca.ca, true);
    assert.ok(ca.checkIssued(ca));
    assert.ok(ca.verify(ca.publicKey));
    assert.equal(ca.publicKey.asymmetricKeyType, 'ec');
  });

  test('server: signed by the CA, serverAuth, default and extra SANs', () => {
    assert.ok(server.checkIssued(ca));
    assert.ok(server.verify(ca.publicKey));
    assert.equal(server.ca, false);
    assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(
      server.subjectAltName,
      'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost, DNS:sandbox.example, IP Address:10.1.2.3, IP Address:FE80:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:A00:1',
    );
    assert.ok(server.checkHost('localhost'));
    assert.ok(server.checkIP('127.0.0.1'));
    assert.ok(server.checkIP('::1'));
  });

  test('client: CN = user, one O per group, clientAuth', () => {
    assert.equal(clientCert.subject, 'O=dev\nO=system:masters\nCN=alice');
    assert.ok(clientCert.checkIssued(ca));
    assert.ok(clientCert.verify(ca.publicKey));
    assert.deepEqual(clientCert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(clientCert.ca, false);
  });

  test('client without groups has no O', async () => {
    const c = new X509Certificate((await pki.issueClientCert({ user: 'solo', groups: [] })).certPem);
    assert.equal(c.subject, 'CN=solo');
  });

  test('issuer Name bytes equal the CA subject bytes (what Go chain building matches on)', () => {
    const [, caSubject] = names(pki.ca.certPem);
    for (const pem of [pki.server.certPem, client.certPem]) {
      const [issuer] = names(pem);
      assert.deepEqual(Buffer.from(issuer), Buffer.from(caSubject));
    }
  });

  test('keys are PKCS#8 PEM and match their certificates', () => {
    for (const pair of [pki.ca, pki.server, client] as CertPair[]) {
      assert.match(pair.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.match(pair.certPem, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n$/);
      const key = createPrivateKey(pair.keyPem);
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.ok(new X509Certificate(pair.certPem).checkPrivateKey(key));
    }
  });

  test('serial numbers are positive and distinct; validity brackets now', () => {
    const serials = [ca, server, clientCert].map((c) => c.serialNumber);
    assert.equal(new Set(serials).size, 3);
    for (const s of serials) assert.ok(parseInt(s.slice(0, 2), 16) < 0x80, s);
    const now = Date.now();
    for (const c of [ca, server, clientCert]) {
      assert.ok(c.validFromDate.getTime() <= now && now < c.validToDate.getTime());
    }
    assert.ok(ca.validToDate.getTime() - now > 9 * 365 * 24 * 3600 * 1000);
  });

  test('a node:tls handshake with mutual authentication', async (t) => {
    const tlsServer = createServer({
      cert: pki.server.certPem,
      key: pki.server.keyPem,
      ca: pki.ca.certPem,
      requestCert: true,
      rejectUnauthorized: false,
    });
    t.after(() => tlsServer.close());
    const seen = new Promise<TLSSocket>((resolve) => tlsServer.once('secureConnection', resolve));
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    const { port } = tlsServer.address() as AddressInfo;

    const socket = connect({ host: '127.0.0.1', port, ca: pki.ca.certPem, cert: client.certPem, key: client.keyPem });
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    assert.equal(socket.authorized, true, String(socket.authorizationError));

    const serverSide = await seen;
    assert.equal(serverSide.authorized, true, String(serverSide.authorizationError));
    const peer = serverSide.getPeerCertificate();
    assert.equal(peer.subject.CN, 'alice');
    assert.deepEqual(peer.subject.O, ['dev', 'system:masters']);
    serverSide.destroy();
  });

  test('a certificate from another CA is not authorized', async (t) => {
    const other = await createPki();
    const stranger = await other.issueClientCert({ user: 'mallory', groups: [] });
    const tlsServer = createServer({ cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: false });
    t.after(() => tlsServer.close());
    const seen = new Promise<TLSSocket>((resolve) => tlsServer.once('secureConnection', resolve));
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    const { port } = tlsServer.address() as AddressInfo;
    const socket = connect({ host: 'localhost', port, ca: pki.ca.certPem, cert: stranger.certPem, key: stranger.keyPem });
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    assert.equal(socket.authorized, true);
    const serverSide = await seen;
    assert.equal(serverSide.authorized, false);
    serverSide.destroy();
  });

  test('openssl verifies the chain and purposes', async (t) => {
    if (!(await available('openssl', 'version'))) return t.skip('openssl not installed');
    const dir = await mkdtemp(join(tmpdir(), 'podshell-pki-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = (name: string) => join(dir, name);
    await writeFile(file('ca.pem'), pki.ca.certPem);
    await writeFile(file('server.pem'), pki.server.certPem);
    await writeFile(file('client.pem'), client.certPem);

    const ok = await run('openssl', ['verify', '-CAfile', file('ca.pem'), '-purpose', 'sslserver', file('server.pem')]);
    assert.equal(ok.stdout.trim(), `${file('server.pem')}: OK`);
    const okClient = await run('openssl', ['verify', '-CAfile', file('ca.pem'), '-purpose', 'sslclient', file('client.pem')]);
    assert.equal(okClient.stdout.trim(), `${file('client.pem')}: OK`);
    await assert.rejects(run('openssl', ['verify', '-CAfile', file('ca.pem'), '-purpose', 'sslclient', file('server.pem')]));
    await assert.rejects(run('openssl', ['verify', '-CAfile', file('ca.pem'), '-purpose', 'sslserver', file('client.pem')]));

    const text = (await run('openssl', ['x509', '-in', file('ca.pem'), '-noout', '-text'])).stdout;
    assert.match(text, /Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    await run('openssl', ['asn1parse', '-in', file('server.pem'), '-strictpem']);
  });

  test('kubectl (Go crypto/x509 and tls.X509KeyPair) accepts the server and client certificates', async (t) => {
    if (!(await available('kubectl', 'version', '--client'))) return t.skip('kubectl not installed');
    const dir = await mkdtemp(join(tmpdir(), 'podshell-pki-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = (name: string) => join(dir, name);
    await writeFile(file('ca.pem'), pki.ca.certPem);
    await writeFile(file('client.pem'), client.certPem);
    await writeFile(file('client-key.pem'), client.keyPem);

    const https = createHttpsServer(
      { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const socket = req.socket as TLSSocket;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ authorized: socket.authorized, subject: { ...socket.getPeerCertificate().subject } }));
      },
    );
    t.after(() => {
      https.closeAllConnections();
      https.close();
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    const { port } = https.address() as AddressInfo;

    for (const host of ['127.0.0.1', 'localhost']) {
      const { stdout } = await run(
        'kubectl',
        [
          `--server=https://${host}:${port}`,
          `--certificate-authority=${file('ca.pem')}`,
          `--client-certificate=${file('client.pem')}`,
          `--client-key=${file('client-key.pem')}`,
          'get',
          '--raw',
          '/whoami',
        ],
        { timeout: 30_000, env: { ...process.env, KUBECONFIG: file('no-such-kubeconfig') } },
      );
      assert.deepEqual(JSON.parse(stdout), { authorized: true, subject: { O: ['dev', 'system:masters'], CN: 'alice' } });
    }
  });
});
