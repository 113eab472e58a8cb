import assert from 'node:assert/strict';
import test from 'node:test';
import type { Pod } from '../kube/index.ts';
import { asServicePorts, resolvePortSpecs, validatePortSpec, type ServicePorts } from './portforward-ports.ts';

const pod: Pod = {
  metadata: { name: 'web-1', namespace: 'default' },
  spec: { containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }, { name: 'side', ports: [{ name: 'metrics', containerPort: 9090 }] }] },
  status: { phase: 'Running' },
};
const service: ServicePorts = {
  name: 'web',
  ports: [
    { name: 'web', port: 80, targetPort: 'http' },
    { name: 'direct', port: 81, targetPort: 8081 },
    { port: 82 },
    { port: 83, targetPort: 0 },
  ],
};

test('pod: numeric specs as they are; a named remote port is the container port of that name', () => {
  const table: [string, { local: number; remote: number }][] = [
    ['5000', { local: 5000, remote: 5000 }],
    ['http', { local: 8080, remote: 8080 }],
    ['1234:http', { local: 1234, remote: 8080 }],
    [':metrics', { local: 0, remote: 9090 }],
  ];
  for (const [spec, want] of table) assert.deepEqual(resolvePortSpecs([spec], pod), [want], spec);
  assert.throws(() => resolvePortSpecs(['x'], pod), { code: 'ERR_TARGET', message: "pod 'web-1' does not have a named port 'x'" });
});

test('service: a service port becomes its target port; the local port stays the service port unless given', () => {
  const table: [string, { local: number; remote: number }][] = [
    ['80', { local: 80, remote: 8080 }],
    ['web', { local: 80, remote: 8080 }],
    ['7000:web', { local: 7000, remote: 8080 }],
    [':81', { local: 0, remote: 8081 }],
    ['82', { local: 82, remote: 82 }],
    ['83', { local: 83, remote: 83 }],
  ];
  for (const [spec, want] of table) assert.deepEqual(resolvePortSpecs([spec], pod, service), [want], spec);
  assert.deepEqual(resolvePortSpecs(['80'], pod, { ...service, clusterIP: 'None' }), [{ local: 80, remote: 80 }]);
  assert.throws(() => resolvePortSpecs(['90'], pod, service), { code: 'ERR_TARGET', message: 'service web does not have a service port 90' });
  assert.throws(() => resolvePortSpecs(['nope'], pod, service), { code: 'ERR_TARGET', message: "service 'web' does not have a named port 'nope'" });
  assert.throws(() => resolvePortSpecs(['80'], pod, { name: 's', ports: [{ port: 80, targetPort: 'gone' }] }), { code: 'ERR_TARGET', message: "pod 'web-1' does not have a named port 'gone'" });
});

test('validatePortSpec: names allowed as the remote port only; kubectl\'s errors otherwise', () => {
  for (const ok of ['80', '8080:80', ':80', 'http', '8080:http', ':http']) validatePortSpec(ok);
  assert.throws(() => validatePortSpec('1:2:3'), { code: 'ERR_PORT_SPEC', message: "invalid port format '1:2:3'" });
  assert.throws(() => validatePortSpec('x:http'), { code: 'ERR_PORT_SPEC', message: `error parsing local port 'x': strconv.ParseUint: parsing "x": invalid syntax` });
  assert.throws(() => validatePortSpec('80:0'), { code: 'ERR_PORT_SPEC', message: 'remote port must be > 0' });
});

test('asServicePorts keeps the fields it needs and drops malformed ports', () => {
  assert.deepEqual(asServicePorts('s', { spec: { clusterIP: 'None', ports: [{ name: 'a', port: 1, targetPort: 'x' }, { port: 'bad' }, { port: 2 }] } }), {
    name: 's',
    clusterIP: 'None',
    ports: [{ name: 'a', port: 1, targetPort: 'x' }, { port: 2 }],
  });
  assert.deepEqual(asServicePorts('s', null), { name: 's', ports: [] });
});
