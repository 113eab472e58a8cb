// podshell's library as a contender: Cluster.fromKubeconfig, then run() and exec().

import { pipeline } from 'node:stream/promises';
import { Cluster } from '../../src/lib/index.ts';
import { headCommand, main, zeros } from './common.ts';

await main((sandbox) => {
  const cluster = Cluster.fromKubeconfig({ path: sandbox.kubeconfig });
  return {
    async execTrue() {
      // Pod and container named, as the client-node contender names them: no lookup first.
      const { exitCode } = await cluster.run({ target: { pod: 'demo' }, container: 'main', command: ['true'] });
      if (exitCode !== 0) throw new Error(`true exited ${exitCode}`);
    },
    async stdout(bytes) {
      const session = cluster.exec({ target: 'demo', command: headCommand(bytes), stderr: false });
      let got = 0;
      session.stdout!.on('data', (chunk: Buffer) => (got += chunk.length));
      const { code } = await session.exit;
      if (code !== 0) throw new Error(`head exited ${code}`);
      return got;
    },
    async stdin(bytes) {
      const session = cluster.exec({ target: 'demo', command: ['wc', '-c'], stdin: true, stderr: false });
      let out = '';
      session.stdout!.setEncoding('utf8').on('data', (text: string) => (out += text));
      await pipeline(zeros(bytes), session.stdin!);
      const { code } = await session.exit;
      if (code !== 0) throw new Error(`wc exited ${code}`);
      return out;
    },
  };
});
