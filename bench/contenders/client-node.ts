// @kubernetes/client-node as a contender: its Exec class, each exec awaited to its status
// callback (the only place its exit status appears).

import { Writable } from 'node:stream';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { headCommand, main, POD, zeros } from './common.ts';

/** A sink that counts (or collects) what it is given. */
function sink(collect: boolean): Writable & { bytes: number; text: string } {
  const s = new Writable({
    write(chunk: Buffer, _enc, cb) {
      s.bytes += chunk.length;
      if (collect) s.text += chunk.toString('utf8');
      cb();
    },
  }) as Writable & { bytes: number; text: string };
  s.bytes = 0;
  s.text = '';
  return s;
}

/** One exec, resolved with its status; rejects when the socket fails first. */
function execOnce(exec: Exec, command: string[], stdout: Writable, stderr: Writable | null, stdin: NodeJS.ReadableStream | null): Promise<V1Status> {
  return new Promise((resolve, reject) => {
    exec
      .exec(POD.namespace, POD.pod, POD.container, command, stdout, stderr, stdin as never, false, (status: V1Status) => resolve(status))
      .then((ws) => {
        ws.on('error', reject);
        ws.on('close', () => reject(new Error('the socket closed before a status arrived')));
      }, reject);
  });
}

function checkSuccess(status: V1Status, what: string): void {
  if (status.status !== 'Success') throw new Error(`${what}: ${status.message ?? JSON.stringify(status)}`);
}

await main((sandbox) => {
  const kc = new KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);
  const exec = new Exec(kc);
  return {
    async execTrue() {
      checkSuccess(await execOnce(exec, ['true'], sink(true), sink(true), null), 'true');
    },
    async stdout(bytes) {
      const out = sink(false);
      checkSuccess(await execOnce(exec, headCommand(bytes), out, null, null), 'head');
      return out.bytes;
    },
    async stdin(bytes) {
      const out = sink(true);
      checkSuccess(await execOnce(exec, ['wc', '-c'], out, null, zeros(bytes)), 'wc');
      return out.text;
    },
  };
});
