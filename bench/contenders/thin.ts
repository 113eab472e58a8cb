// The thinnest possible client of the sandbox as a contender (see ../thin-client.ts): the
// ceiling each row is compared with.

import { execRaw, feedZeros } from '../thin-client.ts';
import { headCommand, main } from './common.ts';

await main((sandbox) => ({
  async execTrue() {
    await execRaw(sandbox, ['true']);
  },
  async stdout(bytes) {
    return (await execRaw(sandbox, headCommand(bytes))).stdoutBytes;
  },
  async stdin(bytes) {
    return (await execRaw(sandbox, ['wc', '-c'], { collect: true, feed: feedZeros(bytes) })).stdoutText;
  },
}));
