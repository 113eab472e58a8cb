// `npm run bench [-- --quick | --tiny]`: podshell side by side with kubectl and
// @kubernetes/client-node against one local sandbox. See bench/README.md.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem, type } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SandboxInfo } from './contenders/common.ts';
import * as web from './gateway.ts';
import { goals } from './goals.ts';
import type { BenchReport, CeilingResult, GatewayResult, MachineInfo, RowResult } from './model.ts';
import { parseArgs, UsageError, type Options } from './options.ts';
import { cpuMethod, rssMethod } from './proc.ts';
import { renderReport, writeReport } from './report.ts';
import * as rows from './rows.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The machine's kubectl 1.33: `kubectl.1.33` next to the real kubectl, else kubectl itself. */
function findKubectl(explicit: string | null): string | null {
  if (explicit) return explicit;
  const found = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim();
  if (!found) return null;
  const versioned = join(dirname(realpathSync(found)), 'kubectl.1.33');
  return existsSync(versioned) ? versioned : found;
}

function kubectlVersion(kubectl: string | null): string {
  if (!kubectl) return 'none';
  try {
    const out = execFileSync(kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return (JSON.parse(out) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion;
  } catch {
    return 'unknown';
  }
}

/** `podshell cp` exists once its help names it (commander prints the program's help for unknown commands). */
function hasCp(podshell: string[]): boolean {
  const r = spawnSync(podshell[0]!, [...podshell.slice(1), 'cp', '--help'], { encoding: 'utf8' });
  return r.status === 0 && /Usage: podshell cp\b/.test(r.stdout);
}

/**
 * The CLI as the published package runs it: `node bin/podshell.js` (the bundle in dist/bundle),
 * built here with `node scripts/build.ts` (incremental: a no-op when dist/ is current). A checkout
 * from before the bundle (a `--baseline`) runs `node dist/cli/main.js`. Null when the build fails.
 */
function buildCli(dir: string, log: (message: string) => void): string[] | null {
  const built = spawnSync(process.execPath, [join(dir, 'scripts', 'build.ts')], { cwd: dir, encoding: 'utf8' });
  const bundled = join(dir, 'bin', 'podshell.js');
  const main = join(dir, 'dist', 'cli', 'main.js');
  if (built.status === 0 && existsSync(join(dir, 'dist', 'bundle')) && existsSync(bundled)) return [process.execPath, bundled];
  if (built.status === 0 && existsSync(main)) return [process.execPath, main];
  log(`the build failed in ${dir}: ${(built.stdout + built.stderr).trim().split('\n').slice(0, 5).join(' | ')}`);
  return null;
}

/**
 * Whether `ws` finds its native masking addon: resolved from ws's own folder, as ws requires it,
 * and loaded natively (an addon whose build failed is installed but of no use to ws).
 */
function findBufferutil(): { loads: boolean; text: string } {
  const fromWs = createRequire(createRequire(join(root, 'package.json')).resolve('ws'));
  let version = 'unknown version';
  try {
    fromWs.resolve('bufferutil');
  } catch {
    return { loads: false, text: 'not installed' };
  }
  try {
    version = packageVersion(fromWs.resolve('bufferutil/package.json'));
  } catch {}
  try {
    // Its index falls back to its own JavaScript when the native build cannot load.
    if (fromWs('bufferutil') === fromWs('bufferutil/fallback')) return { loads: false, text: `${version} installed but its native build does not load (it falls back to JavaScript)` };
  } catch (err) {
    return { loads: false, text: `${version} installed but does not load (${(err as Error).message.split('\n')[0]})` };
  }
  return { loads: true, text: version };
}

function packageVersion(path: string): string {
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

function gitDescription(dir = root): string {
  const head = spawnSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  if (!head) return existsSync(join(dir, '.commit')) ? ` (${readFileSync(join(dir, '.commit'), 'utf8').trim()})` : '';
  const dirty = spawnSync('git', ['-C', dir, 'status', '--porcelain', '--', 'src', 'bin'], { encoding: 'utf8' }).stdout.trim();
  return ` (git ${head}${dirty ? ' + uncommitted changes' : ''})`;
}

function machine(kubectl: string | null, isolation: string, bufferutil: string): Omit<MachineInfo, 'podshellCli' | 'baseline'> {
  const cpuList = cpus();
  return {
    cpus: cpuList[0]?.model.trim() ?? 'unknown CPU',
    cores: cpuList.length,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${type()} ${release()}`,
    node: process.version,
    kubectl: `kubectl ${kubectlVersion(kubectl)}`,
    clientNode: packageVersion(join(root, 'node_modules', '@kubernetes', 'client-node', 'package.json')),
    podshell: `${packageVersion(join(root, 'package.json'))}${gitDescription()}`,
    isolation,
    rssMethod,
    cpuMethod,
    bufferutil,
  };
}

/** The 1, 5 and 15 minute load averages. */
function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

/** How the run was started, as a user would type it. */
function commandLine(argv: readonly string[]): string {
  const args = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return process.env['npm_lifecycle_event'] === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : `node bench/run.ts${args ? ` ${args}` : ''}`;
}

interface HostedSandbox {
  info: SandboxInfo & { isolation: string };
  /** The sandbox's process (its own CPU time is read from /proc for the raw client's rows). */
  pid: number;
  stop: () => Promise<void>;
}

/** The one sandbox of the run, in its own process. */
async function startSandboxProcess(tmp: string): Promise<HostedSandbox> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'bench', 'contenders', 'sandbox-host.ts'), join(tmp, 'kubeconfig')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const line = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout! }).once('line', res);
    child.once('exit', (code) => rej(new Error(`the sandbox exited (${code}) before it was ready`)));
  });
  return {
    info: JSON.parse(line) as HostedSandbox['info'],
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function main(options: Options, argv: readonly string[]): Promise<void> {
  const started = performance.now();
  const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
  const tmp = mkdtempSync(join(tmpdir(), 'podshell-bench-'));
  const kubectl = findKubectl(options.kubectl);
  const podshellSrc = [join(root, 'bin', 'podshell')];
  const podshell = buildCli(root, log) ?? podshellSrc;
  let baseline: string[] | null = null;
  if (options.baseline) {
    baseline = buildCli(resolve(options.baseline), log);
    if (!baseline) throw new Error(`cannot build the baseline checkout ${options.baseline}`);
  }
  const bufferutil = findBufferutil();
  log(`${options.plan.mode} run; podshell: ${podshell.join(' ')}; kubectl: ${kubectl ?? 'none'}; bufferutil: ${bufferutil.text}`);
  const sandbox = await startSandboxProcess(tmp);
  const version = kubectlVersion(kubectl);
  const ctx: rows.Ctx = {
    plan: options.plan,
    root,
    sandbox: { url: sandbox.info.url, kubeconfig: sandbox.info.kubeconfig, caPem: sandbox.info.caPem, token: sandbox.info.token },
    sandboxPid: sandbox.pid,
    podshell,
    podshellSrc,
    baseline,
    kubectl,
    kubectlLabel: `kubectl ${version.replace(/^v(\d+\.\d+).*/, '$1')}`,
    podshellCp: hasCp(podshell),
    bufferutil: bufferutil.loads,
    tmp,
    profileDir: options.profile ? resolve(options.profile) : null,
    log,
  };
  const results: RowResult[] = [];
  let ceilingResults: CeilingResult[] = [];
  const gatewayResults: GatewayResult[] = [];
  const loadStart = loadavg();
  const failures: string[] = [];
  try {
    for (const id of options.only) {
      // A row that cannot run at all (e.g. its set-up fails) is reported; the others still run.
      try {
        switch (id) {
          case 'oneshot':
            results.push(await rows.oneShot(ctx));
            break;
          case 'rate':
            results.push(await rows.rate(ctx));
            break;
          case 'stdout':
            results.push(await rows.stdout(ctx));
            break;
          case 'stdin':
            results.push(await rows.stdin(ctx));
            break;
          case 'cp':
            results.push(...(await rows.cp(ctx)));
            break;
          case 'fanin':
            results.push(await rows.fanIn(ctx));
            break;
          case 'ceilings':
            ceilingResults = await rows.ceilings(ctx);
            break;
          case 'echo':
            gatewayResults.push(await web.echo(ctx));
            break;
          case 'webstream':
            gatewayResults.push(await web.webStream(ctx));
            break;
          case 'websessions':
            gatewayResults.push(await web.webSessions(ctx));
            break;
        }
      } catch (err) {
        const message = `row ${id} could not run: ${(err as Error).message.split('\n')[0]}`;
        failures.push(message);
        log(message);
      }
    }
  } finally {
    await sandbox.stop();
  }
  const report: BenchReport = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command: commandLine(argv),
    mode: options.plan.mode,
    durationSeconds: (performance.now() - started) / 1000,
    machine: { ...machine(kubectl, sandbox.info.isolation, bufferutil.text), podshellCli: podshell === podshellSrc ? '`bin/podshell` (the build failed)' : `\`${podshell.slice(1).map((a) => relative(root, a)).join(' ')}\` (as published; built with \`node scripts/build.ts\` first)`, baseline: options.baseline ? `${resolve(options.baseline)}${gitDescription(resolve(options.baseline))}` : null },
    rows: results,
    ceilings: ceilingResults,
    gateway: gatewayResults,
    load: { start: loadStart, end: loadavg() },
    failures,
  };
  const block = renderReport(report);
  process.stdout.write(`${block}\n`);
  if (options.out) {
    writeReport(options.out, block);
    log(`wrote ${options.out}`);
  }
  // Every sample, and the goals as the report judged them.
  if (options.json) writeFileSync(options.json, `${JSON.stringify({ ...report, goals: goals(report) }, null, 2)}\n`);
  rmSync(tmp, { recursive: true, force: true });
  if (failures.length) process.exitCode = 1;
}

const argv = process.argv.slice(2);
let options: Options;
try {
  options = parseArgs(argv);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(argv.includes('--help') || argv.includes('-h') ? 0 : 2);
}
// Default report paths are the repository's; a path given on the command line is the caller's.
if (options.out && !argv.includes('--out')) options.out = join(root, options.out);
await main(options, argv);
