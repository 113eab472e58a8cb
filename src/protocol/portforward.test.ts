import assert from 'node:assert/strict';
import test from 'node:test';
import { decodeFrame, encodeBase64Frame, encodeBinaryFrame } from './frame.ts';
import {
  buildPortForwardUrl,
  dataChannel,
  decodePortHeader,
  encodePortHeader,
  errorChannel,
  parsePortForwardQuery,
  parsePortSpec,
  parsePortSpecs,
  portForwardProtocols,
  portOfChannel,
  PortSpecError,
} from './portforward.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('the i-th port uses data channel 2i and error channel 2i+1', () => {
  assert.deepEqual([0, 1, 2, 5].map(dataChannel), [0, 2, 4, 10]);
  assert.deepEqual([0, 1, 2, 5].map(errorChannel), [1, 3, 5, 11]);
  assert.deepEqual(portOfChannel(4), { index: 2, error: false });
  assert.deepEqual(portOfChannel(11), { index: 5, error: true });
});

test('port header: 8080 is 90 1f (uint16 little-endian); 80 is 50 00', () => {
  assert.deepEqual(encodePortHeader(8080), hex('901f'));
  assert.deepEqual(encodePortHeader(80), hex('5000'));
  assert.deepEqual(encodePortHeader(65535), hex('ffff'));
  assert.equal(decodePortHeader(hex('901f')), 8080);
  assert.equal(decodePortHeader(hex('5000 41 42')), 80);
  assert.equal(decodePortHeader(hex('90')), undefined);
  assert.throws(() => encodePortHeader(0), PortSpecError);
  assert.throws(() => encodePortHeader(65536), PortSpecError);
});

test('the header frames a server writes first: binary 00 90 1f / 01 90 1f, base64 "0kB8=" / "1kB8="', () => {
  assert.deepEqual(encodeBinaryFrame(dataChannel(0), encodePortHeader(8080)), hex('00901f'));
  assert.deepEqual(encodeBinaryFrame(errorChannel(0), encodePortHeader(8080)), hex('01901f'));
  assert.equal(encodeBase64Frame(dataChannel(0), encodePortHeader(8080)), '0kB8=');
  assert.equal(encodeBase64Frame(errorChannel(0), encodePortHeader(80)), '1UAA=');
  // The sixth port's error channel, 11, is ';' in base64 mode.
  const frame = decodeFrame(new TextEncoder().encode(encodeBase64Frame(errorChannel(5), encodePortHeader(80))), true);
  assert.equal(frame?.channel, 11);
  assert.equal(decodePortHeader(frame!.payload), 80);
});

test('a header decodes from a subarray with a non-zero byteOffset', () => {
  const buffer = hex('ff ff 02 90 1f');
  const frame = decodeFrame(buffer.subarray(2), false)!;
  assert.equal(frame.channel, 2);
  assert.equal(decodePortHeader(frame.payload), 8080);
});

test('subprotocols offered: v4 binary, then v4 base64', () => {
  assert.deepEqual(portForwardProtocols, ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']);
});

test('port specs as kubectl reads them', () => {
  const table: [string, { local: number; remote: number }][] = [
    ['5000', { local: 5000, remote: 5000 }],
    ['8888:5000', { local: 8888, remote: 5000 }],
    [':5000', { local: 0, remote: 5000 }],
    ['0:5000', { local: 0, remote: 5000 }],
    ['65535:1', { local: 65535, remote: 1 }],
  ];
  for (const [spec, want] of table) assert.deepEqual(parsePortSpec(spec), want, spec);
  assert.deepEqual(parsePortSpecs(['80', ':443']), [{ local: 80, remote: 80 }, { local: 0, remote: 443 }]);
});

test('bad port specs fail with kubectl\'s words', () => {
  const table: [string, string][] = [
    ['1:2:3', "invalid port format '1:2:3'"],
    ['abc', `error parsing local port 'abc': strconv.ParseUint: parsing "abc": invalid syntax`],
    ['8080:x', `error parsing remote port 'x': strconv.ParseUint: parsing "x": invalid syntax`],
    ['70000', `error parsing local port '70000': strconv.ParseUint: parsing "70000": value out of range`],
    ['80:70000', `error parsing remote port '70000': strconv.ParseUint: parsing "70000": value out of range`],
    ['-1', `error parsing local port '-1': strconv.ParseUint: parsing "-1": invalid syntax`],
    ['', `error parsing local port '': strconv.ParseUint: parsing "": invalid syntax`],
    ['8080:', `error parsing remote port '': strconv.ParseUint: parsing "": invalid syntax`],
    ['0', 'remote port must be > 0'],
    ['80:0', 'remote port must be > 0'],
  ];
  for (const [spec, message] of table) {
    assert.throws(() => parsePortSpec(spec), (err: unknown) => err instanceof PortSpecError && err.code === 'ERR_PORT_SPEC' && err.message === message, spec);
  }
});

test('URL: one ports= per port, path segments encoded, https becomes wss, path prefix kept', () => {
  const url = buildPortForwardUrl('https://example.test:6443/prefix/', { namespace: 'my ns', pod: 'web-1', ports: [80, 9090] });
  assert.equal(url.href, 'wss://example.test:6443/prefix/api/v1/namespaces/my%20ns/pods/web-1/portforward?ports=80&ports=9090');
  assert.equal(buildPortForwardUrl('http://h', { namespace: 'd', pod: 'p', ports: [1] }).href, 'ws://h/api/v1/namespaces/d/pods/p/portforward?ports=1');
  assert.throws(() => buildPortForwardUrl('ftp://h', { namespace: 'd', pod: 'p', ports: [1] }), SyntaxError);
  assert.throws(() => buildPortForwardUrl('https://h', { namespace: 'd', pod: 'p', ports: [] }), PortSpecError);
  assert.throws(() => buildPortForwardUrl('https://h', { namespace: 'd', pod: 'p', ports: [0] }), PortSpecError);
});

test('query: repeated and comma-separated ports read as the server reads them', () => {
  assert.deepEqual(parsePortForwardQuery(new URLSearchParams('ports=80&ports=443,8080')), [80, 443, 8080]);
  assert.throws(() => parsePortForwardQuery(new URLSearchParams('')), { code: 'ERR_PORT_SPEC', message: 'query parameter "port" is required' });
  assert.throws(() => parsePortForwardQuery(new URLSearchParams('ports=0')), PortSpecError);
  assert.throws(() => parsePortForwardQuery(new URLSearchParams('ports=x')), PortSpecError);
});
