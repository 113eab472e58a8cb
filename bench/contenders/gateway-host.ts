// The web shell gateway (`startGateway()`) in its own process, serving the sandbox's kubeconfig,
// so that its RSS and CPU time are its own (read from /proc by the harness). Prints one JSON line
// ({ url, loginUrl, pid }), then serves until SIGTERM or the end of its stdin; on SIGTERM it
// prints how late its event loop ran meanwhile ({ loopDelayMs: { p50, p99, max } }; since the last
// SIGUSR2, which the client sends when its timed part starts) and stops.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startGateway } from '../../src/gateway/server.ts';

const [kubeconfig, maxSessions] = process.argv.slice(2);
if (!kubeconfig || !maxSessions) throw new Error('usage: gateway-host.ts KUBECONFIG MAX_SESSIONS');
const gateway = await startGateway({ kubeconfig, logger: false, config: { address: '127.0.0.1', port: 0, maxSessions: Number(maxSessions) } });
process.stdout.write(`${JSON.stringify({ url: gateway.url, loginUrl: gateway.loginUrl, pid: process.pid })}\n`);
const RESOLUTION_MS = 2;
const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
loop.enable();
// The client signals when its timed part starts: only that part counts.
process.on('SIGUSR2', () => loop.reset());
const stop = async () => {
  loop.disable();
  // The histogram holds the intervals between the monitor's timer runs: the lateness is beyond its period.
  const ms = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  process.stdout.write(`${JSON.stringify({ loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) } })}\n`);
  await gateway.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.resume();
process.stdin.once('end', stop); // the harness died: do not outlive it
