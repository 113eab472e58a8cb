// The published CLI's entry (bin/podshell runs it with the user's Node.js): it runs the bundle
// scripts/build.ts made in dist/bundle (scripts/bundle-cli.ts), through podshell-bundle.js. It is plain
// JavaScript that any Node.js can parse, so that it can say which Node.js podshell needs before
// loading podshell's code, which an older Node.js cannot load (it fails with a SyntaxError or
// a missing-export error that names no version).

const required = [22, 19];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < required[0] || (major === required[0] && minor < required[1])) {
  process.stderr.write('podshell: needs Node.js >= ' + required.join('.') + ' (this is Node.js ' + process.version + ')\n');
  process.exit(1);
}
const { runBundle } = await import('./podshell-bundle.js');
runBundle(new URL('../dist/bundle/podshell.cjs', import.meta.url));
