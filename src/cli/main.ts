// The podshell executable. Node's on-disk compile cache goes on before any of podshell's code
// is loaded (compiling modules is a large part of a one-shot command's start-up), then the
// command line runs: src/cli/program.ts.

import { enableCompileCache } from 'node:module';

enableCompileCache();
const { run } = await import('./program.ts');
await run(process.argv.slice(2));
