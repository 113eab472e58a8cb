// deploy/: the kustomize manifests render, say what docs/deploy.md says (image, arguments,
// probes, the restricted security context, exactly the RBAC rights), and work: the Deployment's
// arguments start a real gateway whose probe answers, the ClusterRole's rights are tried against
// the sandbox's RBAC, and a pod's service account files (Cluster.inCluster) reach the sandbox.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { Cluster } from '../src/lib/index.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/server.ts';
import { inPodEnvironment, podServiceAccount } from './helpers.ts';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const podshell = join(root, 'bin/podshell');
const SA_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

let objects: Obj[];
let work: string;

function find(kind: string, name: string): Obj {
  const found = objects.filter((o) => o['kind'] === kind && o['metadata']?.['name'] === name);
  assert.equal(found.length, 1, `one ${kind} ${name} in the rendered manifests`);
  return found[0]!;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podshell-deploy-'));
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', join(root, 'deploy')], { maxBuffer: 16 * 1024 * 1024 });
  const docs = parseAllDocuments(stdout);
  for (const doc of docs) assert.deepEqual(doc.errors, [], 'every rendered document parses');
  objects = docs.map((d) => d.toJS() as Obj);
});
after(() => rmSync(work, { recursive: true, force: true }));

const deployment = () => find('Deployment', 'podshell-web');
const gateway = () => {
  const containers = deployment()['spec']['template']['spec']['containers'] as Obj[];
  assert.equal(containers.length, 1);
  return containers[0]!;
};
const configMap = () => find('ConfigMap', 'podshell-web');

/** The container's arguments as the kubelet makes them: $(VAR) replaced by the env's ConfigMap values. */
function expandedArgs(): string[] {
  const data = configMap()['data'] as Record<string, string>;
  const env = new Map<string, string>();
  for (const e of gateway()['env'] as Obj[]) {
    const ref = e['valueFrom']['configMapKeyRef'];
    assert.equal(ref['name'], 'podshell-web');
    assert.ok(ref['key'] in data, `the ConfigMap has ${ref['key']}`);
    env.set(e['name'], data[ref['key']]!);
  }
  return (gateway()['args'] as string[]).map((a) =>
    a.replace(/\$\(([A-Z_]+)\)/g, (_, name: string) => {
      assert.ok(env.has(name), `${name} is defined`);
      return env.get(name)!;
    }),
  );
}

describe('the rendered manifests', () => {
  test('every object is in namespace podshell (but the cluster-scoped ones)', () => {
    assert.deepEqual(objects.map((o) => `${o['kind']}/${o['metadata']['name']}`).sort(), [
      'ClusterRole/podshell-web',
      'ClusterRoleBinding/podshell-web',
      'ConfigMap/podshell-web',
      'Deployment/podshell-web',
      'Ingress/podshell-web',
      'Namespace/podshell',
      'NetworkPolicy/podshell-web',
      'Service/podshell-web',
      'ServiceAccount/podshell-web',
    ]);
    for (const o of objects) {
      const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o['kind']);
      assert.equal(o['metadata']['namespace'], clusterScoped ? undefined : 'podshell', `${o['kind']} namespace`);
    }
    assert.equal(find('Namespace', 'podshell')['metadata']['labels']['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  test('the Ingress: TLS, the Service, cookie affinity so a browser stays with the replica that holds its shells, long WebSocket timeouts', () => {
    const ingress = find('Ingress', 'podshell-web');
    const annotations = ingress['metadata']['annotations'];
    assert.equal(annotations['nginx.ingress.kubernetes.io/affinity'], 'cookie');
    assert.equal(annotations['nginx.ingress.kubernetes.io/affinity-mode'], 'persistent');
    assert.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 3600);
    const backend = ingress['spec']['rules'][0]['http']['paths'][0]['backend']['service'];
    assert.deepEqual(backend, { name: 'podshell-web', port: { name: 'http' } });
    assert.deepEqual(ingress['spec']['tls'][0]['hosts'], [ingress['spec']['rules'][0]['host']]);
    const servicePorts = find('Service', 'podshell-web')['spec']['ports'].map((p: Obj) => p['name']);
    assert.ok(servicePorts.includes('http'), 'the Service has the port the Ingress names');
  });

  test('the Deployment: image, arguments, probes on /healthz, restricted security, resources', () => {
    const spec = deployment()['spec'];
    assert.equal(spec['replicas'], 1);
    const pod = spec['template']['spec'];
    assert.equal(pod['serviceAccountName'], 'podshell-web');
    assert.deepEqual(pod['securityContext'], { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    const c = gateway();
    assert.equal(c['image'], 'ghcr.io/example/podshell-web:0.1.0');
    assert.deepEqual(c['securityContext'], { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    assert.deepEqual(expandedArgs(), [
      'web',
      '--kubeconfig=/etc/podshell/kubeconfig',
      '--address=0.0.0.0',
      '--port=8080',
      '--insecure-bind',
      '--allowed-host=shell.example.com:8443',
      '--grace=5m',
      '--idle-timeout=30m',
      '--max-duration=12h',
      '--max-sessions=100',
      '--replay-buffer=1MiB',
      '--max-upload=1GiB',
    ]);
    assert.deepEqual(c['ports'], [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    for (const probe of [c['readinessProbe'], c['livenessProbe']]) {
      assert.deepEqual(probe['httpGet'], { path: '/healthz', port: 'http', httpHeaders: [{ name: 'Host', value: '127.0.0.1:8080' }] });
    }
    assert.deepEqual(c['resources'], { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } });
    // The kubeconfig the arguments name is the ConfigMap's, mounted read-only.
    assert.deepEqual(c['volumeMounts'].find((m: Obj) => m['mountPath'] === '/etc/podshell'), { name: 'config', mountPath: '/etc/podshell', readOnly: true });
    assert.deepEqual(pod['volumes'].find((v: Obj) => v['name'] === 'config')['configMap'], { name: 'podshell-web', items: [{ key: 'kubeconfig', path: 'kubeconfig' }] });
  });

  test('every flag of the Deployment is one `podshell web --help` lists', async () => {
    const { stdout } = await promisify(execFile)(podshell, ['web', '--help']);
    const known = new Set(stdout.match(/--[a-z-]+/g));
    const used = expandedArgs().slice(1).map((a) => a.split('=', 1)[0]!);
    assert.equal(used.length, 11);
    for (const flag of used) assert.ok(known.has(flag), `${flag} is a flag of podshell web`);
  });

  test('the ClusterRole: impersonation and SelfSubjectAccessReviews, nothing else; bound to the ServiceAccount', () => {
    assert.deepEqual(find('ClusterRole', 'podshell-web')['rules'], [
      { apiGroups: [''], resources: ['users', 'groups', 'userextras'], verbs: ['impersonate'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews'], verbs: ['create'] },
    ]);
    const binding = find('ClusterRoleBinding', 'podshell-web');
    assert.deepEqual(binding['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'podshell-web' });
    assert.deepEqual(binding['subjects'], [{ kind: 'ServiceAccount', name: 'podshell-web', namespace: 'podshell' }]);
    assert.ok(find('ServiceAccount', 'podshell-web'));
  });

  test('the Service selects the gateway pods and sends to its port', () => {
    const spec = find('Service', 'podshell-web')['spec'];
    const labels = deployment()['spec']['template']['metadata']['labels'];
    for (const [k, v] of Object.entries(spec['selector'] as Record<string, string>)) assert.equal(labels[k], v, `pod label ${k}`);
    assert.deepEqual(deployment()['spec']['selector']['matchLabels'], spec['selector']);
    assert.deepEqual(spec['ports'], [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    assert.equal(spec['sessionAffinity'], 'ClientIP');
  });

  test('the NetworkPolicy: in to 8080 only; out to the API server and DNS only', () => {
    const spec = find('NetworkPolicy', 'podshell-web')['spec'];
    const labels = deployment()['spec']['template']['metadata']['labels'];
    for (const [k, v] of Object.entries(spec['podSelector']['matchLabels'] as Record<string, string>)) assert.equal(labels[k], v, `pod label ${k}`);
    assert.deepEqual(spec['policyTypes'], ['Ingress', 'Egress']);
    assert.deepEqual(spec['ingress'], [{ ports: [{ port: 8080, protocol: 'TCP' }] }]);
    assert.deepEqual(spec['egress'], [
      { ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }] },
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }],
      },
    ]);
  });
});

/** Poll until `check` returns a value; fail after a generous deadline. */
async function until<T>(what: string, check: () => T | undefined, deadlineMs = 60_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

describe('against the sandbox', () => {
  let sandbox: Sandbox;
  const saToken = 'podshell-web-sa-token';
  before(async () => {
    // The built-in world, plus the rendered ClusterRole and its binding, plus a user for the
    // service account (the sandbox knows users by token; a service account authenticates as
    // system:serviceaccount:<namespace>:<name>).
    const world = readFileSync(join(root, 'src/sandbox/world.yaml'), 'utf8');
    const rbac = ['ClusterRole', 'ClusterRoleBinding'].map((kind) => JSON.stringify(find(kind, 'podshell-web'))).join('\n---\n');
    const saUser = JSON.stringify({ apiVersion: 'sandbox.podshell.dev/v1', kind: 'SandboxUser', metadata: { name: 'system:serviceaccount:podshell:podshell-web' }, spec: { tokens: [saToken], groups: ['system:serviceaccounts', 'system:serviceaccounts:podshell'] } });
    sandbox = await startSandbox({
      kubeconfigPath: join(work, 'kubeconfig'),
      manifestTexts: [
        { source: 'world.yaml', text: world },
        { source: 'deploy (rendered)', text: `${rbac}\n---\n${saUser}` },
      ],
    });
  });
  after(async () => {
    await sandbox?.close();
  });

  /** A pod's files: var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace} under a new root. */
  function podRoot(name: string, token: string, namespace: string): string {
    const kc = parse(sandbox.kubeconfig) as Obj;
    const ca = Buffer.from(kc['clusters'][0]['cluster']['certificate-authority-data'], 'base64').toString();
    assert.equal(ca, sandbox.caPem);
    return podServiceAccount(join(work, name), { token, caPem: ca, namespace });
  }

  const inPod = (t: { after(fn: () => void): void }): void => inPodEnvironment(t, sandbox.url);

  test('Cluster.inCluster() with the admin token and CA runs echo in demo; the namespace file is the default namespace', async (t) => {
    // The kubeconfig's admin signs in with a certificate; a pod has a token: the admin's.
    const adminToken = sandbox.users['admin']!.token!;
    assert.equal(adminToken, 'admin-token');
    inPod(t);
    const inDefault = Cluster.inCluster({ root: podRoot('pod-default', adminToken, 'default') });
    assert.equal(inDefault.namespace, 'default');
    const echoed = await inDefault.run({ target: 'demo', command: ['echo', 'hello from a pod'] });
    assert.equal(echoed.stdout, 'hello from a pod\n');
    assert.equal(echoed.exitCode, 0);

    // namespace "restricted": vault is found without naming its namespace, demo is not.
    const inRestricted = Cluster.inCluster({ root: podRoot('pod-restricted', adminToken, 'restricted') });
    assert.equal(inRestricted.namespace, 'restricted');
    assert.equal((await inRestricted.run({ target: 'vault', command: ['echo', 'vault'] })).stdout, 'vault\n');
    await assert.rejects(inRestricted.run({ target: 'demo', command: ['echo', 'x'] }), (err: Error & { code?: string }) => err.code === 'ERR_NOT_FOUND' && /demo/.test(err.message));
  });

  test("the gateway's service account: no exec of its own; exec as the person it impersonates", async (t) => {
    inPod(t);
    const sa = { root: podRoot('pod-gateway', saToken, 'podshell') };
    await assert.rejects(
      Cluster.inCluster(sa).run({ target: 'demo', namespace: 'default', command: ['echo', 'x'] }),
      (err: Error & { code?: string }) => err.code === 'ERR_FORBIDDEN' && err.message.includes('system:serviceaccount:podshell:podshell-web'),
    );
    const asDev = Cluster.inCluster({ ...sa, impersonate: { user: 'dev' } });
    assert.equal((await asDev.run({ target: 'demo', namespace: 'default', command: ['echo', 'as dev'] })).stdout, 'as dev\n');
    // The person's own rights decide: dev may not exec in restricted, viewer nowhere.
    await assert.rejects(asDev.run({ target: 'vault', namespace: 'restricted', command: ['echo', 'x'] }), (err: Error & { code?: string }) => err.code === 'ERR_FORBIDDEN' && /User "dev"/.test(err.message));
    const asViewer = Cluster.inCluster({ ...sa, impersonate: { user: 'viewer', groups: ['team'] } });
    await assert.rejects(asViewer.run({ target: 'demo', namespace: 'default', command: ['echo', 'x'] }), (err: Error & { code?: string }) => err.code === 'ERR_FORBIDDEN' && /User "viewer"/.test(err.message));
    // SelfSubjectAccessReviews: the gateway's own right, and the answer is the impersonated person's.
    const review = (cluster: Cluster, namespace: string) =>
      cluster.client.request<Obj>({
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace, verb: 'create', resource: 'pods', subresource: 'exec' } } },
      });
    assert.equal((await review(Cluster.inCluster(sa), 'default'))['status']['allowed'], false);
    assert.equal((await review(asDev, 'default'))['status']['allowed'], true);
    assert.equal((await review(asDev, 'restricted'))['status']['allowed'], false);
    // The same request with a token that has no impersonation right is refused for that reason.
    const devToken = Cluster.inCluster({ root: podRoot('pod-dev', sandbox.users['dev']!.token!, 'default'), impersonate: { user: 'admin' } });
    await assert.rejects(devToken.run({ target: 'demo', command: ['echo', 'x'] }), (err: Error & { code?: string }) => err.code === 'ERR_FORBIDDEN' && /impersonate/.test(err.message));
  });

  test("the ConfigMap's kubeconfig (tokenFile, CA file) reaches the cluster as the service account", async () => {
    const dir = podRoot('pod-kubeconfig', saToken, 'podshell');
    const text = (configMap()['data']['kubeconfig'] as string)
      .replaceAll(`/${SA_DIR}/`, `${dir}/${SA_DIR}/`)
      .replace('https://kubernetes.default.svc', sandbox.url.replace('127.0.0.1', 'localhost'));
    writeFileSync(join(work, 'in-cluster.kubeconfig'), text);
    const cluster = Cluster.fromKubeconfig({ path: join(work, 'in-cluster.kubeconfig'), impersonate: { user: 'dev' } });
    assert.equal((await cluster.run({ target: 'demo', namespace: 'default', command: ['echo', 'via the ConfigMap'] })).stdout, 'via the ConfigMap\n');
    // The token file is re-read: a rotated token that is no longer valid is refused at once.
    writeFileSync(join(dir, SA_DIR, 'token'), 'rotated-and-unknown');
    await assert.rejects(cluster.run({ target: 'demo', namespace: 'default', command: ['echo', 'x'] }), (err: Error & { code?: string }) => err.code === 'ERR_UNAUTHORIZED');
  });

  test("the Deployment's arguments start the gateway; its probe's Host is served, the pod's address is not", async (t) => {
    // A port free a moment ago (the gateway's --port=0 would hide it behind the allowed host).
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
      server.on('error', reject);
    });
    const kubeconfig = join(work, 'gateway.kubeconfig');
    writeFileSync(kubeconfig, sandbox.kubeconfig);
    const args = expandedArgs().map((a) => (a === '--kubeconfig=/etc/podshell/kubeconfig' ? `--kubeconfig=${kubeconfig}` : a === '--port=8080' ? `--port=${port}` : a));
    const child = spawn(podshell, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    });
    const ready = await until('the gateway is ready', () => (out.match(/^web ready (\S+)$/m)?.[1]) ?? (child.exitCode !== null ? `exited ${child.exitCode}: ${err}` : undefined));
    assert.match(ready, /^http:\/\/shell\.example\.com:8443\/login\?token=/);
    // As the kubelet probes: GET /healthz on the pod's port with the probe's headers.
    const probe = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpGet({ host: '127.0.0.1', port, path: '/healthz', headers: { host }, timeout: 30_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('timeout', () => req.destroy(new Error('no answer to the probe in 30 s')));
        req.on('error', reject);
      });
    const probeHost = (gateway()['readinessProbe']['httpGet']['httpHeaders'][0]['value'] as string).replace(':8080', `:${port}`);
    assert.deepEqual(await probe(probeHost), { status: 200, body: 'ok' });
    const podAddress = await probe(`10.1.2.3:${port}`);
    assert.equal(podAddress.status, 421);
    assert.equal((JSON.parse(podAddress.body) as Obj)['error']['code'], 'ERR_GATEWAY_HOST');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
