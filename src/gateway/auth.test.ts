import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignIns, cookieValue } from './auth.ts';
import { redactUrl } from './server.ts';

test('the login token: 32 random bytes in base64url, exchanged once', () => {
  const signIns = new SignIns();
  assert.match(signIns.loginToken, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(new SignIns().loginToken, signIns.loginToken);
  assert.equal(signIns.exchange('wrong'), undefined);
  assert.equal(signIns.exchange(`${signIns.loginToken}x`), undefined);
  const cookie = signIns.exchange(signIns.loginToken);
  assert.match(cookie ?? '', /^[A-Za-z0-9_-]{43}$/);
  assert.equal(signIns.exchange(signIns.loginToken), undefined, 'dead after one use');
  const principal = signIns.principal(cookie!);
  assert.match(principal?.id ?? '', /^[0-9a-f]{32}$/);
  assert.match(principal?.csrfToken ?? '', /^[A-Za-z0-9_-]{43}$/);
  assert.equal(signIns.principal(signIns.loginToken), undefined, 'the login token is not a cookie');
});

test('a sign-in expires after its time to live', async () => {
  const signIns = new SignIns(200);
  const made = Date.now();
  const cookie = signIns.exchange(signIns.loginToken)!;
  assert.ok(signIns.principal(cookie), 'valid at first');
  while (signIns.principal(cookie) && Date.now() - made < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(signIns.principal(cookie), undefined, 'expired within 10 s');
  assert.ok(Date.now() - made >= 200, 'not before its time');
});

test('cookieValue', () => {
  const cases: [string | undefined, string | undefined][] = [
    [undefined, undefined],
    ['', undefined],
    ['podshell_session=abc', 'abc'],
    ['a=1; podshell_session=abc; b=2', 'abc'],
    ['xpodshell_session=abc', undefined],
    ['podshell_session=', ''],
    ['podshell_session=a; podshell_session=b', 'a'],
  ];
  for (const [header, value] of cases) assert.equal(cookieValue(header, 'podshell_session'), value, String(header));
});

test('redactUrl hides the login token, whatever else the query holds', () => {
  assert.equal(redactUrl('/login?token=abc'), '/login?token=[redacted]');
  assert.equal(redactUrl('/login?x=1&token=abc&y=2'), '/login?x=1&token=[redacted]&y=2');
  assert.equal(redactUrl('/login?TOKEN=abc#f'), '/login?TOKEN=[redacted]#f');
  assert.equal(redactUrl('/api/me'), '/api/me');
});
