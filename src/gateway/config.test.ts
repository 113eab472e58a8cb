import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, isLoopback, parseDuration, parseSize, resolveConfig } from './config.ts';
import { TeamConfigError, validateTeamConfig } from './team-config.ts';

test('defaults carry the documented values', () => {
  assert.deepEqual(resolveConfig(), {
    address: '127.0.0.1',
    port: 0,
    insecureBind: false,
    allowedHosts: [],
    graceMs: 60_000,
    replayBufferBytes: 1024 * 1024,
    highWaterBytes: 256 * 1024,
    lowWaterBytes: 64 * 1024,
    idleTimeoutMs: 30 * 60_000,
    maxDurationMs: 12 * 3_600_000,
    maxSessions: 100,
    pingIntervalMs: 20_000,
    maxUploadBytes: 1024 ** 3,
    debugImage: 'busybox:1.36',
  });
  assert.ok(Object.isFrozen(defaultConfig));
});

test('debugImage: an image reference, else refused naming the setting', () => {
  assert.equal(resolveConfig({ debugImage: 'registry.example.com:5000/tools/debug@sha256:abc' }).debugImage, 'registry.example.com:5000/tools/debug@sha256:abc');
  for (const bad of ['', 'busybox latest', '-x', 'a\nb', 'x'.repeat(513), 42]) {
    assert.throws(() => resolveConfig({ debugImage: bad as string }), (err: Error & { code?: string }) => err.code === 'ERR_USAGE' && err.message.startsWith('debugImage must be an image reference such as busybox:1.36'));
  }
});

test('debugImage in the team config file: checked with the field path', () => {
  const base = { signIn: { proxy: { trustedProxies: ['127.0.0.1'] } }, secret: 'x'.repeat(32) };
  assert.equal(validateTeamConfig({ ...base, debugImage: 'nicolaka/netshoot:v0.13' }).debugImage, 'nicolaka/netshoot:v0.13');
  assert.equal(validateTeamConfig(base).debugImage, undefined);
  assert.throws(() => validateTeamConfig({ ...base, debugImage: 'two words' }), (err: Error) => err instanceof TeamConfigError && err.message.startsWith("debugImage: must be an image reference such as busybox:1.36"));
});

test('parseDuration', () => {
  for (const [text, ms] of [['500ms', 500], ['60s', 60_000], ['30m', 1_800_000], ['12h', 43_200_000], ['1h30m', 5_400_000], ['0s', 0]] as const) {
    assert.equal(parseDuration('--grace', text), ms, text);
  }
  for (const text of ['', '60', '5 m', '1.5h', '-1s', '1d', 's', '1h 30m']) {
    assert.throws(() => parseDuration('--grace', text), { code: 'ERR_USAGE', message: `--grace must be a duration such as 500ms, 60s, 30m, 12h or 1h30m, not "${text}"` }, text);
  }
});

test('parseSize', () => {
  for (const [text, bytes] of [['0', 0], ['65536', 65536], ['64KiB', 65536], ['1MiB', 1 << 20], ['1gib', 1 << 30], ['2M', 2 << 20], ['10b', 10]] as const) {
    assert.equal(parseSize('--max-upload', text), bytes, text);
  }
  for (const text of ['', '1TB', '1.5MiB', '-1', 'MiB', '1 MiB']) {
    assert.throws(() => parseSize('--max-upload', text), { code: 'ERR_USAGE', message: `--max-upload must be a size such as 65536, 64KiB, 1MiB or 1GiB, not "${text}"` }, text);
  }
});

test('resolveConfig refuses unknown settings, numbers out of range and half a TLS pair', () => {
  const cases: [object, string][] = [
    [{ colour: 'blue' }, 'unknown gateway setting "colour"'],
    [{ port: 70000 }, 'port must be a whole number of a TCP port from 0 to 65535, not 70000'],
    [{ port: '80' }, 'port must be a whole number of a TCP port from 0 to 65535, not "80"'],
    [{ maxSessions: 0 }, 'maxSessions must be a whole number of sessions from 1 to 1000000, not 0'],
    [{ graceMs: 1.5 }, 'graceMs must be a whole number of milliseconds from 0 to 604800000, not 1.5'],
    [{ lowWaterBytes: 256 * 1024 }, 'lowWaterBytes (262144) must be below highWaterBytes (262144)'],
    [{ tlsCert: 'c.pem' }, '--tls-cert and --tls-key go together: give both files or neither'],
    [{ allowedHosts: ['https://shell.example.com'] }, 'an allowed host must be a host name as browsers send it, such as shell.example.com:8443 (or shell.example.com for the default port), not "https://shell.example.com"'],
    [{ allowedHosts: ['a b:1'] }, 'an allowed host must be a host name as browsers send it, such as shell.example.com:8443 (or shell.example.com for the default port), not "a b:1"'],
    [{ address: '' }, 'address must be an IP address or a host name'],
  ];
  for (const [given, message] of cases) {
    assert.throws(() => resolveConfig(given as never), { code: 'ERR_USAGE', message }, JSON.stringify(given));
  }
  assert.deepEqual(resolveConfig({ allowedHosts: ['Shell.Example.com:8443', '[::1]:9000', 'Shell.Example.com'] }).allowedHosts, ['shell.example.com:8443', '[::1]:9000', 'shell.example.com']);
});

test('isLoopback', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(a), true, a);
  for (const a of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com']) assert.equal(isLoopback(a), false, a);
});
