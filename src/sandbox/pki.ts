// The sandbox's own certificate authority: a CA, a serving certificate for the API server and
// client certificates for users, shaped the way kubeadm issues them so that Go's crypto/x509
// (kubectl, client-go) accepts them.
//
// Certificates are DER-encoded here directly rather than through @peculiar/x509: that library
// resolves its algorithms through tsyringe, which refuses to load without a global
// `reflect-metadata` polyfill. The subset of X.509 needed is small (RFC 5280 §4.1), and encoding it
// ourselves guarantees what Go's chain builder relies on: a leaf's issuer Name is byte-for-byte the
// CA's subject Name (Go's CertPool matches `RawIssuer` against `RawSubject`).

import { createHash, generateKeyPair, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';

export interface CertPair {
  /** PEM, one `CERTIFICATE` block. */
  certPem: string;
  /** PEM, PKCS#8 (`BEGIN PRIVATE KEY`); Go's `tls.X509KeyPair` parses PKCS#8 EC keys. */
  keyPem: string;
}

export interface Pki {
  /** Self-signed CA, CN `podshell-sandbox-ca`, valid 10 years. */
  ca: CertPair;
  /** Serving certificate signed by `ca`: SANs IP 127.0.0.1, IP ::1, DNS localhost, plus `hosts`. */
  server: CertPair;
  /**
   * A client certificate signed by `ca`: CN = user, one O per group (kube-apiserver's x509
   * authenticator maps them to the user name and groups), EKU clientAuth, valid 1 year.
   */
  issueClientCert(opts: { user: string; groups: string[] }): Promise<CertPair>;
}

export const CA_COMMON_NAME = 'podshell-sandbox-ca';
/** What kubeadm puts in the API server's serving certificate. */
const SERVER_COMMON_NAME = 'kube-apiserver';
const DEFAULT_HOSTS = ['127.0.0.1', '::1', 'localhost'];

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_MS = 10 * 365 * DAY_MS;
const LEAF_VALIDITY_MS = 365 * DAY_MS;
/** Back-date notBefore a little so a client whose clock lags slightly still accepts the cert. */
const BACKDATE_MS = 5 * 60 * 1000;

/**
 * Create a fresh CA and server certificate (ECDSA P-256, SHA-256 signatures). Takes a few ms.
 * @param opts.hosts extra server SANs: IP literals become IP SANs, anything else a DNS SAN.
 */
export async function createPki(opts: { hosts?: string[] } = {}): Promise<Pki> {
  const caKeys = await newKeyPair();
  const caName = encodeName([[OID.commonName, CA_COMMON_NAME]]);
  const caKeyId = keyIdentifier(caKeys.publicKey);
  const now = Date.now();
  const caCert = buildCertificate({
    issuer: caName,
    subject: caName,
    subjectKey: caKeys.publicKey,
    signingKey: caKeys.privateKey,
    notBefore: now - BACKDATE_MS,
    notAfter: now + CA_VALIDITY_MS,
    extensions: [
      extension(OID.keyUsage, true, keyUsage(KeyUsage.digitalSignature | KeyUsage.keyCertSign | KeyUsage.cRLSign)),
      extension(OID.basicConstraints, true, seq(bool(true))),
      extension(OID.subjectKeyIdentifier, false, octets(caKeyId)),
    ],
  });

  const issue = async (subject: Uint8Array, eku: string, sans?: Uint8Array): Promise<CertPair> => {
    const keys = await newKeyPair();
    const issuedAt = Date.now();
    const cert = buildCertificate({
      issuer: caName,
      subject,
      subjectKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      notBefore: issuedAt - BACKDATE_MS,
      notAfter: issuedAt + LEAF_VALIDITY_MS,
      extensions: [
        extension(OID.keyUsage, true, keyUsage(KeyUsage.digitalSignature)),
        extension(OID.extKeyUsage, false, seq(oid(eku))),
        extension(OID.basicConstraints, true, seq()),
        extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, caKeyId))),
        ...(sans ? [extension(OID.subjectAltName, false, sans)] : []),
      ],
    });
    return { certPem: pem('CERTIFICATE', cert), keyPem: exportKey(keys.privateKey) };
  };

  const hosts = [...new Set([...DEFAULT_HOSTS, ...(opts.hosts ?? [])])];
  const server = await issue(encodeName([[OID.commonName, SERVER_COMMON_NAME]]), OID.serverAuth, subjectAltNames(hosts));

  return {
    ca: { certPem: pem('CERTIFICATE', caCert), keyPem: exportKey(caKeys.privateKey) },
    server,
    issueClientCert({ user, groups }) {
      // Organization before CommonName, as Go's pkix.Name.ToRDNSequence (and so kubeadm) orders them.
      const subject = encodeName([...groups.map((g): [string, string] => [OID.organization, g]), [OID.commonName, user]]);
      return issue(subject, OID.clientAuth);
    },
  };
}

// --- keys ----------------------------------------------------------------------------------------

const generateKeyPairAsync = promisify(generateKeyPair);

function newKeyPair(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
}

function exportKey(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's contents. */
function keyIdentifier(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.of(0x04), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return createHash('sha1').update(point).digest();
}

// --- certificate ---------------------------------------------------------------------------------

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** KeyUsage bits, numbered as in RFC 5280 §4.2.1.3 (bit 0 = most significant bit of byte 0). */
const KeyUsage = {
  digitalSignature: 1 << 0,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

interface CertificateTemplate {
  issuer: Uint8Array;
  subject: Uint8Array;
  subjectKey: KeyObject;
  signingKey: KeyObject;
  notBefore: number;
  notAfter: number;
  extensions: Uint8Array[];
}

function buildCertificate(t: CertificateTemplate): Uint8Array {
  const signatureAlgorithm = seq(oid(OID.ecdsaWithSha256));
  const spki = t.subjectKey.export({ type: 'spki', format: 'der' });
  const tbs = seq(
    tlv(0xa0, integer(Uint8Array.of(2))), // [0] EXPLICIT version v3
    integer(serialNumber()),
    signatureAlgorithm,
    t.issuer,
    seq(time(t.notBefore), time(t.notAfter)),
    t.subject,
    spki,
    tlv(0xa3, seq(...t.extensions)), // [3] EXPLICIT extensions
  );
  const signature = sign('sha256', tbs, { key: t.signingKey, dsaEncoding: 'der' });
  return seq(tbs, signatureAlgorithm, bitString(signature));
}

/** 16 random bytes, positive and minimally encoded (Go rejects negative serials since 1.23). */
function serialNumber(): Uint8Array {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes;
}

function encodeName(attributes: [type: string, value: string][]): Uint8Array {
  // One attribute per RelativeDistinguishedName, values as UTF8String.
  return seq(...attributes.map(([type, value]) => set(seq(oid(type), tlv(0x0c, Buffer.from(value, 'utf8'))))));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  // DER omits a BOOLEAN equal to its DEFAULT (critical DEFAULT FALSE).
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function keyUsage(flags: number): Uint8Array {
  let bits = 0; // the flags, bit-reversed into the BIT STRING's first byte(s)
  for (let i = 0; i < 9; i++) if (flags & (1 << i)) bits |= 0x8000 >> i;
  const bytes = bits & 0xff ? [bits >> 8, bits & 0xff] : [bits >> 8];
  const last = bytes[bytes.length - 1]!;
  let unused = 0;
  while (unused < 8 && !(last & (1 << unused))) unused++;
  return tlv(0x03, Uint8Array.of(unused, ...bytes));
}

function subjectAltNames(hosts: string[]): Uint8Array {
  return seq(
    ...hosts.map((host) =>
      isIP(host)
        ? tlv(0x87, ipBytes(host)) // [7] iPAddress
        : tlv(0x82, Buffer.from(host, 'ascii')), // [2] dNSName (IA5String)
    ),
  );
}

/** Network-order bytes of an IPv4 or IPv6 literal (already checked with `isIP`). */
function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Uint8Array.from(ip.split('.').map(Number));
  let text = ip.replace(/%.*$/, ''); // zone index
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text); // ::ffff:10.0.0.1
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function time(ms: number): Uint8Array {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const iso = d.toISOString(); // 2026-07-23T18:32:12.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ''); // 20260723183212
  const year = d.getUTCFullYear();
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii')) : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

// --- DER primitives (X.690 §10) -------------------------------------------------------------------

function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else if (n < 0x100) header = [tag, 0x81, n];
  else if (n < 0x10000) header = [tag, 0x82, n >> 8, n & 0xff];
  else header = [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Uint8Array.from(header), content]);
}

function seq(...items: Uint8Array[]): Uint8Array {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Uint8Array[]): Uint8Array {
  return tlv(0x31, Buffer.concat(items));
}

function bool(value: boolean): Uint8Array {
  return tlv(0x01, Uint8Array.of(value ? 0xff : 0x00));
}

/** A non-negative INTEGER from big-endian magnitude bytes. */
function integer(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Uint8Array.of(0), trimmed]) : trimmed);
}

function octets(content: Uint8Array): Uint8Array {
  return tlv(0x04, content);
}

function bitString(content: Uint8Array): Uint8Array {
  return tlv(0x03, Buffer.concat([Uint8Array.of(0), content]));
}

function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const base128: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    out.push(...base128);
  }
  return tlv(0x06, Uint8Array.from(out));
}
