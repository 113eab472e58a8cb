// podshell's library as a contender: Cluster.fromKubeconfig, then run() and exec().

import { pipeline } from 'node:stream/promises';
import { Cluster } from '../../src/lib/index.ts';
import { expectBytes, expectWcCount, headCommand, main, zeros, type SandboxInfo, type Task, type TaskResult } from './common.ts';

async function stdoutOnce(cluster: Cluster, bytes: number): Promise<number> {
  const session = cluster.exec({ target: 'demo', command: headCommand(bytes), stderr: false });
  let got = 0;
  session.stdout!.on('data', (chunk: Buffer) => (got += chunk.length));
  const { code } = await session.exit;
  if (code !== 0) throw new Error(`head exited ${code}`);
  expectBytes('podshell exec stdout', got, bytes);
  return got;
}

async function run(task: Task, sandbox: SandboxInfo): Promise<TaskResult> {
  const cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfig });
  const start = performance.now();
  switch (task.kind) {
    case 'rate': {
      const latenciesMs: number[] = [];
      for (let i = 0; i < task.count; i++) {
        const t = performance.now();
        // Pod and container named, as the client-node contender names them: no lookup first.
        const { exitCode } = await cluster.run({ target: { pod: 'demo' }, container: 'main', command: ['true'] });
        if (exitCode !== 0) throw new Error(`true exited ${exitCode}`);
        latenciesMs.push(performance.now() - t);
      }
      return { seconds: (performance.now() - start) / 1000, latenciesMs };
    }
    case 'stdout': {
      const bytes = await stdoutOnce(cluster, task.bytes);
      return { seconds: (performance.now() - start) / 1000, bytes };
    }
    case 'fanin': {
      const counts = await Promise.all(Array.from({ length: task.streams }, () => stdoutOnce(cluster, task.bytes)));
      return { seconds: (performance.now() - start) / 1000, bytes: counts.reduce((a, b) => a + b, 0) };
    }
    case 'stdin': {
      const session = cluster.exec({ target: 'demo', command: ['wc', '-c'], stdin: true, stderr: false });
      let out = '';
      session.stdout!.setEncoding('utf8').on('data', (text: string) => (out += text));
      await pipeline(zeros(task.bytes), session.stdin!);
      const { code } = await session.exit;
      if (code !== 0) throw new Error(`wc exited ${code}`);
      expectWcCount(out, task.bytes);
      return { seconds: (performance.now() - start) / 1000, bytes: task.bytes };
    }
  }
}

await main(run);
