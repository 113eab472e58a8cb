// The thinnest possible client of the sandbox as a contender (see ../thin-client.ts): the
// ceiling each row is compared with.

import { execRaw, feedZeros } from '../thin-client.ts';
import { headCommand, main, type SandboxInfo, type Task, type TaskResult } from './common.ts';

async function run(task: Task, sandbox: SandboxInfo): Promise<TaskResult> {
  const start = performance.now();
  switch (task.kind) {
    case 'rate': {
      const latenciesMs: number[] = [];
      for (let i = 0; i < task.count; i++) {
        const t = performance.now();
        await execRaw(sandbox, ['true']);
        latenciesMs.push(performance.now() - t);
      }
      return { seconds: (performance.now() - start) / 1000, latenciesMs };
    }
    case 'stdout': {
      const { stdoutBytes } = await execRaw(sandbox, headCommand(task.bytes));
      if (stdoutBytes !== task.bytes) throw new Error(`thin client: ${stdoutBytes} bytes, expected ${task.bytes}`);
      return { seconds: (performance.now() - start) / 1000, bytes: stdoutBytes };
    }
    case 'fanin': {
      const all = await Promise.all(Array.from({ length: task.streams }, () => execRaw(sandbox, headCommand(task.bytes))));
      const bytes = all.reduce((sum, o) => sum + o.stdoutBytes, 0);
      if (bytes !== task.streams * task.bytes) throw new Error(`thin client fan-in: ${bytes} bytes, expected ${task.streams * task.bytes}`);
      return { seconds: (performance.now() - start) / 1000, bytes };
    }
    case 'stdin': {
      const { stdoutText } = await execRaw(sandbox, ['wc', '-c'], { collect: true, feed: feedZeros(task.bytes) });
      if (stdoutText.trim() !== String(task.bytes)) throw new Error(`thin client: wc -c counted ${stdoutText.trim()}, expected ${task.bytes}`);
      return { seconds: (performance.now() - start) / 1000, bytes: task.bytes };
    }
  }
}

await main(run);
