// The web shell gateway (`startGateway()`) in its own process, serving the sandbox's kubeconfig,
// so that its RSS and CPU time are its own (read from /proc by the harness). Prints one JSON line
// ({ url, loginUrl, pid }), then serves until SIGTERM or the end of its stdin.

import { startGateway } from '../../src/gateway/server.ts';

const [kubeconfig, maxSessions] = process.argv.slice(2);
if (!kubeconfig || !maxSessions) throw new Error('usage: gateway-host.ts KUBECONFIG MAX_SESSIONS');
const gateway = await startGateway({ kubeconfig, logger: false, config: { address: '127.0.0.1', port: 0, maxSessions: Number(maxSessions) } });
process.stdout.write(`${JSON.stringify({ url: gateway.url, loginUrl: gateway.loginUrl, pid: process.pid })}\n`);
const stop = async () => {
  await gateway.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.resume();
process.stdin.once('end', stop); // the harness died: do not outlive it
