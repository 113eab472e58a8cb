// The podshell executable. Node's on-disk compile cache goes on before any of podshell's code
// is loaded (compiling modules is a large part of a one-shot command's start-up), then the
// command line runs: src/cli/program.ts.

import { enableCompileCache } from 'node:module';

enableCompileCache();
// A reader that goes away early (`podshell … | head`) is not a failure to report with a stack
// trace: end as a Go program such as kubectl does on a broken pipe, with 128 + SIGPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(141);
    throw err;
  });
}
const { main } = await import('./program.ts');
process.exitCode = await main(process.argv.slice(2));
