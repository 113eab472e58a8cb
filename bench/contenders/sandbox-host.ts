// The benchmark's one sandbox, in its own process (as an API server would be): prints one JSON
// line with what the contenders need, then serves until SIGTERM.

import { startSandbox } from '../../src/sandbox/server.ts';

const kubeconfigPath = process.argv[2];
if (!kubeconfigPath) throw new Error('usage: sandbox-host.ts KUBECONFIG');
const sandbox = await startSandbox({ kubeconfigPath, warn: (m) => process.stderr.write(`sandbox: ${m}\n`) });
const token = sandbox.users['admin']?.token;
if (!token) throw new Error('the sandbox admin has no token');
process.stdout.write(`${JSON.stringify({ url: sandbox.url, kubeconfig: sandbox.kubeconfigPath, caPem: sandbox.caPem, token, isolation: sandbox.isolation })}\n`);
const stop = async () => {
  await sandbox.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.resume();
process.stdin.once('end', stop); // the harness died: do not outlive it
