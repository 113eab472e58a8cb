import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PodshellError } from '../protocol/index.ts';
import { SandboxError, SelectorError } from './errors.ts';
import { parsePodFieldSelector } from './fields.ts';
import { goValue } from './goformat.ts';
import { fromLabelSelector, parseLabelSelector, selectorToString } from './labels.ts';
import { isDNS1123Label, isLabelKey } from './names.ts';
import type { LabelSelector, Pod } from './types.ts';

const KEY_REGEX_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_REGEX_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

describe('parseLabelSelector', () => {
  // selector, canonical string form
  const valid: [string, string][] = [
    ['', ''],
    ['a=b', 'a=b'],
    ['a==b', 'a==b'],
    ['a!=b', 'a!=b'],
    ['a', 'a'],
    ['!a', '!a'],
    ['  a = b ,  c  ', 'a=b,c'],
    ['a=', 'a='],
    ['a in (x,y)', 'a in (x,y)'],
    ['a in (y,x,y)', 'a in (x,y)'],
    ['a notin (x)', 'a notin (x)'],
    ['x in (foo,,baz),y,z notin ()', 'x in (,baz,foo),y,z notin ()'],
    ['z=1,a=2,m', 'a=2,m,z=1'],
    ['in in (in,notin)', 'in in (in,notin)'],
    ['example.com/app=web', 'example.com/app=web'],
    ['a>5', 'a>5'],
    ['a<5', 'a<5'],
  ];
  for (const [sel, str] of valid) {
    test(`parses ${JSON.stringify(sel)}`, () => {
      assert.equal(parseLabelSelector(sel).toString(), str);
    });
  }

  // selector, labels, matches
  const matching: [string, Record<string, string> | undefined, boolean][] = [
    ['', undefined, true],
    ['', { a: 'b' }, true],
    ['a=b', { a: 'b' }, true],
    ['a=b', { a: 'c' }, false],
    ['a=b', {}, false],
    ['a==b', { a: 'b', c: 'd' }, true],
    ['a!=b', {}, true],
    ['a!=b', { a: 'b' }, false],
    ['a!=b', { a: 'c' }, true],
    ['a', { a: '' }, true],
    ['a', {}, false],
    ['!a', {}, true],
    ['!a', undefined, true],
    ['!a', { a: 'x' }, false],
    ['a in (x,y)', { a: 'y' }, true],
    ['a in (x,y)', { a: 'z' }, false],
    ['a in (x,y)', {}, false],
    ['a notin (x)', {}, true],
    ['a notin (x)', { a: 'x' }, false],
    ['a notin (x)', { a: 'y' }, true],
    ['a in (,x)', { a: '' }, true],
    ['a=', { a: '' }, true],
    ['a=b,c=d', { a: 'b', c: 'd' }, true],
    ['a=b,c=d', { a: 'b' }, false],
    ['a>5', { a: '10' }, true],
    ['a>5', { a: '5' }, false],
    ['a>5', { a: 'x' }, false],
    ['a<5', { a: '-1' }, true],
    ['a<5', {}, false],
  ];
  for (const [sel, labels, want] of matching) {
    test(`${JSON.stringify(sel)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(labels)}`, () => {
      assert.equal(parseLabelSelector(sel).matches(labels), want);
    });
  }

  const invalid: [string, string][] = [
    ['a in', "unable to parse requirement: found '' expected: '('"],
    ['a in (b', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['a in (b c)', "unable to parse requirement: found 'c', expected: ',' or ')'"],
    ['a in (=)', "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ['a=b,', "found '', expected: identifier after ','"],
    ['a=b,,c', "found ',', expected: identifier after ','"],
    [',a', "found ',', expected: !, identifier, or 'end of string'"],
    ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
    ['a=b c', "found 'c', expected: ',' or 'end of string'"],
    ['a=(b)', "unable to parse requirement: found '(', expected: identifier"],
    ['!', "unable to parse requirement: found '', expected: identifier"],
    ['!a=b', "found '=', expected: ',' or 'end of string'"],
    ['-a', `unable to parse requirement: <nil>: Invalid value: "-a": ${KEY_REGEX_MSG}`],
    ['a/b/c', `unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key ${KEY_REGEX_MSG.slice('name part '.length)} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`],
    ['/a', 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'],
    ['a=-b', `unable to parse requirement: values[0][a]: Invalid value: "-b": ${VALUE_REGEX_MSG}`],
    [
      'a in (-b,c_)',
      `unable to parse requirement: [values[0][a]: Invalid value: "-b": ${VALUE_REGEX_MSG}, values[1][a]: Invalid value: "c_": ${VALUE_REGEX_MSG}]`,
    ],
    ['a>x', `unable to parse requirement: values[0]: Invalid value: "x": for 'Gt', 'Lt' operators, the value must be an integer`],
    [`a=${'x'.repeat(64)}`, `unable to parse requirement: values[0][a]: Invalid value: "${'x'.repeat(64)}": must be no more than 63 bytes`],
  ];
  for (const [sel, message] of invalid) {
    test(`rejects ${JSON.stringify(sel)}`, () => {
      assert.throws(() => parseLabelSelector(sel), (e: unknown) => {
        assert.ok(e instanceof SelectorError);
        assert.equal(e.message, message);
        return true;
      });
    });
  }
});

describe('fromLabelSelector', () => {
  const cases: [LabelSelector | undefined | null, string, Record<string, string> | undefined, boolean][] = [
    [undefined, '', { a: 'b' }, false], // no selector selects nothing
    [null, '', {}, false],
    [{}, '', { a: 'b' }, true], // an empty one selects everything
    [{ matchLabels: { b: '2', a: '1' } }, 'a=1,b=2', { a: '1', b: '2', c: '3' }, true],
    [{ matchLabels: { a: '1' } }, 'a=1', { a: '2' }, false],
    [
      { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['z', 'y'] }] },
      'app=web,tier in (y,z)',
      { app: 'web', tier: 'y' },
      true,
    ],
    [{ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['a'] }] }, 'x notin (a)', {}, true],
    [{ matchExpressions: [{ key: 'x', operator: 'Exists' }] }, 'x', { x: '' }, true],
    [{ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, '!x', { x: '' }, false],
  ];
  for (const [sel, str, labels, want] of cases) {
    test(`${JSON.stringify(sel)} → ${JSON.stringify(str)}`, () => {
      const m = fromLabelSelector(sel);
      assert.equal(m.toString(), str);
      assert.equal(selectorToString(sel), str);
      assert.equal(m.matches(labels), want);
    });
  }

  const invalid: [LabelSelector, string][] = [
    [{ matchExpressions: [{ key: 'a', operator: 'Foo' }] }, '"Foo" is not a valid label selector operator'],
    [
      { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] },
      "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
    ],
    [
      { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
      'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
    ],
    [{ matchLabels: { '-a': 'b' } }, `key: Invalid value: "-a": ${KEY_REGEX_MSG}`],
    [{ matchLabels: { a: 'b c' } }, `values[0][a]: Invalid value: "b c": ${VALUE_REGEX_MSG}`],
  ];
  for (const [sel, message] of invalid) {
    test(`rejects ${JSON.stringify(sel)}`, () => {
      assert.throws(() => fromLabelSelector(sel), new SelectorError(message));
    });
  }
});

describe('parsePodFieldSelector', () => {
  const pod = (name: string, ns: string, extra: Partial<Pod> = {}): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: { containers: [{ name: 'main' }], nodeName: 'sandbox', restartPolicy: 'Always', serviceAccountName: 'default' },
    status: { phase: 'Running', podIP: '10.244.0.2', podIPs: [{ ip: '10.244.0.2' }] },
    ...extra,
  });
  const demo = pod('demo', 'default');
  const vault = pod('vault', 'restricted');
  const pending = pod('p', 'default', { status: { phase: 'Pending' } });

  const cases: [string, Pod, boolean][] = [
    ['', demo, true],
    ['metadata.name=demo', demo, true],
    ['metadata.name==demo', demo, true],
    ['metadata.name=demo', vault, false],
    ['metadata.name!=demo', vault, true],
    ['metadata.namespace=restricted', vault, true],
    ['metadata.namespace!=default', demo, false],
    ['status.phase=Running', demo, true],
    ['status.phase=Running', pending, false],
    ['status.phase!=Running', pending, true],
    ['spec.nodeName=sandbox', demo, true],
    ['spec.host=sandbox', demo, true],
    ['spec.nodeName=other', demo, false],
    ['spec.nodeName=', pending, false],
    ['spec.restartPolicy=Always,spec.serviceAccountName=default', demo, true],
    ['spec.hostNetwork=false', demo, true],
    ['status.podIP=10.244.0.2', demo, true],
    ['status.podIPs=10.244.0.2', demo, false], // accepted, but never set (as in kube)
    ['status.phase=Running,metadata.name=demo', demo, true],
    ['status.phase=Running,metadata.name=demo', vault, false],
    ['metadata.name=a\\,b', pod('a,b', 'default'), true],
    ['metadata.name=a\\=b', pod('a=b', 'default'), true],
  ];
  for (const [sel, p, want] of cases) {
    test(`${JSON.stringify(sel)} ${want ? 'matches' : 'does not match'} ${p.metadata.name}`, () => {
      assert.equal(parsePodFieldSelector(sel)(p), want);
    });
  }

  const invalid: [string, string][] = [
    ['spec.foo=bar', 'field label not supported: spec.foo'],
    ['status.phase=Running,zzz=1', 'field label not supported: zzz'],
    ['metadata.name', "invalid selector: 'metadata.name'; can't understand 'metadata.name'"],
    ['status.phase=Running,oops', "invalid selector: 'status.phase=Running,oops'; can't understand 'oops'"],
    ['metadata.name=a=b', 'invalid field selector: unescaped character in value: 61'],
    ['metadata.name=a\\x', 'invalid field selector: invalid escape sequence: \\x'],
    ['metadata.name=a\\', 'invalid field selector: invalid escape sequence: \\'],
  ];
  for (const [sel, message] of invalid) {
    test(`rejects ${JSON.stringify(sel)}`, () => {
      assert.throws(() => parsePodFieldSelector(sel), new SelectorError(message));
    });
  }
});

describe('validation helpers', () => {
  test('DNS-1123 labels', () => {
    assert.deepEqual(isDNS1123Label('main'), []);
    assert.deepEqual(isDNS1123Label('a.b'), ['must not contain dots']);
    assert.equal(isDNS1123Label('x'.repeat(64))[0], 'must be no more than 63 bytes');
  });
  test('label keys', () => {
    assert.deepEqual(isLabelKey('app.kubernetes.io/name'), []);
    assert.deepEqual(isLabelKey('a/'), ['name part must be non-empty', KEY_REGEX_MSG]);
  });
  test('Go-style values', () => {
    assert.equal(goValue('a"b'), '"a\\"b"');
    assert.equal(goValue(5), '5');
    assert.equal(goValue(null), 'null');
    assert.equal(goValue(['a', 'b']), '[]string{"a", "b"}');
    assert.equal(goValue({ b: '2', a: '1' }), 'map[string]string{"a":"1", "b":"2"}');
  });
});

test('a SelectorError is a PodshellError with code ERR_SANDBOX_SELECTOR', () => {
  assert.throws(() => parseLabelSelector('a in ('), (err: unknown) => err instanceof SelectorError && err instanceof SandboxError && err instanceof PodshellError && err.code === 'ERR_SANDBOX_SELECTOR');
});
