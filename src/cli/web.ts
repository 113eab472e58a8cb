// `podshell web`: the web shell gateway (docs/web.md) over the contexts of a kubeconfig, for as long
// as whatever started it wants it. With --sandbox it starts the local sandbox too and serves its
// contexts: the CLI composes the two, the gateway knows nothing of the sandbox. It stops on SIGINT,
// SIGTERM or SIGHUP and when its parent process goes away, as `podshell sandbox` does.

import { Command, InvalidArgumentError, Option } from 'commander';
import { PodshellError } from '../lib/index.ts';
import { checkImageName, parseDuration, parseSize } from '../gateway/config.ts';
import type { GatewayConfig } from '../gateway/context.ts';
import { CliUsageError } from './errors.ts';
import { commandName } from './name.ts';
import { stopRequested } from './lifetime.ts';
import { defaultSandboxKubeconfig } from './sandbox.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A commander argument parser from one of the gateway's, its message kept. */
function flag<T>(name: string, parse: (name: string, text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(name, text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

function parseWhole(name: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new PodshellError('ERR_USAGE', `${name} must be a whole number, not "${text}"`);
  return Number(text);
}

interface WebFlags {
  kubeconfig?: string;
  port: number;
  address: string;
  tlsCert?: string;
  tlsKey?: string;
  insecureBind?: boolean;
  allowedHost?: string[];
  grace: number;
  idleTimeout: number;
  maxDuration: number;
  maxSessions: number;
  replayBuffer: number;
  highWater: number;
  lowWater: number;
  maxUpload: number;
  sandbox?: boolean;
  inCluster?: boolean;
  auditLog?: string;
  recordings?: string;
  recordInput?: boolean;
  recordingsMaxAge?: number;
  debugImage?: string;
  config?: string;
}

export function webCommand(): Command {
  return new Command('web')
    .description(
      'Serve web shells: a gateway between browsers (or any HTTP/WebSocket client) and the clusters of a kubeconfig. ' +
        'Every context of the kubeconfig is a cluster, named after the context. The gateway owns the shells: ' +
        'a browser may leave and join again while the remote process keeps running (docs/web.md).',
    )
    .option('--kubeconfig <file>', 'the kubeconfig whose contexts are served (default: KUBECONFIG, else ~/.kube/config; with --sandbox: where the sandbox writes its kubeconfig)')
    .addOption(new Option('--port <n>', 'TCP port').argParser(flag('--port', parseWhole)).default(0, '0 (a free one)'))
    .option('--address <addr>', 'address to listen on; anything but loopback needs --tls-cert/--tls-key or --insecure-bind', '127.0.0.1')
    .option('--tls-cert <file>', 'serve HTTPS and WSS with this PEM certificate (with --tls-key); the sign-in cookie is then Secure')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--insecure-bind', 'serve plain HTTP on a non-loopback address anyway (e.g. behind a TLS proxy)')
    .option('--allowed-host <host[:port]>', 'a Host name the gateway answers to, as browsers send it (without a port for the default one, e.g. behind a TLS proxy on 443), beyond 127.0.0.1, localhost and [::1] on its port (repeatable)', collect)
    .addOption(new Option('--grace <duration>', 'how long a session with no client joined keeps running').argParser(flag('--grace', parseDuration)).default(60_000, '60s'))
    .addOption(new Option('--idle-timeout <duration>', 'no input for this long ends a session (a warning 60 s before)').argParser(flag('--idle-timeout', parseDuration)).default(30 * 60_000, '30m'))
    .addOption(new Option('--max-duration <duration>', 'a session ends after this long whatever happens').argParser(flag('--max-duration', parseDuration)).default(12 * 3_600_000, '12h'))
    .addOption(new Option('--max-sessions <n>', 'open sessions in the whole gateway').argParser(flag('--max-sessions', parseWhole)).default(100, '100'))
    .addOption(new Option('--replay-buffer <size>', "output kept per session for replay after a rejoin").argParser(flag('--replay-buffer', parseSize)).default(1024 * 1024, '1MiB'))
    .addOption(new Option('--high-water <size>', "unacknowledged output above which a session's cluster stream is paused").argParser(flag('--high-water', parseSize)).default(256 * 1024, '256KiB'))
    .addOption(new Option('--low-water <size>', '…and below which it resumes').argParser(flag('--low-water', parseSize)).default(64 * 1024, '64KiB'))
    .addOption(new Option('--max-upload <size>', 'largest file upload').argParser(flag('--max-upload', parseSize)).default(1024 * 1024 * 1024, '1GiB'))
    // -- audit and recordings (docs/web.md, "Audit", "Recordings") --
    .option('--audit-log <file>', 'append one JSON line per session start, end and denial to this file (- for stderr)')
    .option('--recordings <dir>', 'record each session as DIR/SESSION-ID.cast (asciicast v2, mode 0600)')
    .option('--record-input', 'record what clients type too (with --recordings; the page shows a banner)')
    .addOption(new Option('--recordings-max-age <duration>', 'remove recordings older than this, at start and hourly such as 30d or 12h (with --recordings)').argParser(flag('--recordings-max-age', parseAge)))
    .addOption(new Option('--debug-image <image>', "the image of the debug containers the page's \"Start a debug container\" starts, such as nicolaka/netshoot:v0.13 (default: the --config file's debugImage, else busybox:1.36)").argParser(flag('--debug-image', checkImageName)))
    .option('--config <file>', 'team sign-in (OpenID Connect or a trusted proxy), the signing secret shared by replicas, limits and clusters: YAML or JSON (docs/web.md, "Signing in"); without it the printed one-time URL signs one browser in')
    .addOption(new Option('--sandbox', 'also start the local sandbox cluster (podshell sandbox) and serve its contexts'))
    .addOption(new Option('--in-cluster', 'in a pod: serve its own cluster through the pod\'s service account (named in-cluster), instead of a kubeconfig\'s contexts').conflicts(['sandbox', 'kubeconfig']))
    .addHelpText(
      'after',
      '\nDurations: 500ms, 60s, 30m, 12h, 1h30m. Sizes: bytes, or with KiB, MiB, GiB.\n' +
        '\nExamples:\n' +
        `  ${commandName()} web\n` +
        `  ${commandName()} web --sandbox\n` +
        `  ${commandName()} web --sandbox --debug-image nicolaka/netshoot:v0.13\n` +
        `  ${commandName()} web --kubeconfig ~/.kube/prod --port 8080 --grace 5m\n` +
        `  ${commandName()} web --address 0.0.0.0 --port 8443 --tls-cert cert.pem --tls-key key.pem --allowed-host shell.example.com:8443\n` +
        '\nWhen it prints "web ready <url>" it accepts connections: open that URL once in a browser to sign in\n' +
        '(the token in it is exchanged for a cookie and dies). Stop it with Ctrl-C; it also stops on SIGTERM\n' +
        'or SIGHUP and when the process that started it goes away. Logs (JSON) go to stderr.',
    )
    .action(async (opts: WebFlags, command: Command) => {
      // `podshell --kubeconfig X web`: the global flag, unless one was given after `web`.
      const kubeconfig = opts.kubeconfig ?? command.parent?.opts<{ kubeconfig?: string }>().kubeconfig;
      const config: Partial<GatewayConfig> = {
        address: opts.address,
        port: opts.port,
        ...(opts.tlsCert !== undefined ? { tlsCert: opts.tlsCert } : {}),
        ...(opts.tlsKey !== undefined ? { tlsKey: opts.tlsKey } : {}),
        insecureBind: opts.insecureBind === true,
        allowedHosts: opts.allowedHost ?? [],
        graceMs: opts.grace,
        idleTimeoutMs: opts.idleTimeout,
        maxDurationMs: opts.maxDuration,
        maxSessions: opts.maxSessions,
        replayBufferBytes: opts.replayBuffer,
        highWaterBytes: opts.highWater,
        lowWaterBytes: opts.lowWater,
        maxUploadBytes: opts.maxUpload,
        ...(opts.auditLog !== undefined ? { auditLog: opts.auditLog } : {}),
        ...(opts.recordings !== undefined ? { recordingsDir: opts.recordings } : {}),
        ...(opts.recordInput ? { recordInput: true } : {}),
        ...(opts.recordingsMaxAge !== undefined ? { recordingsMaxAgeMs: opts.recordingsMaxAge } : {}),
        ...(opts.debugImage !== undefined ? { debugImage: opts.debugImage } : {}),
      };
      const stop = stopRequested('web');
      // Loaded here: the gateway (fastify) and the sandbox are no cost to other commands.
      const { resolveConfig } = await import('../gateway/config.ts');
      try {
        resolveConfig(config);
      } catch (err) {
        throw asUsage(err);
      }
      let team: import('../gateway/team-config.ts').TeamConfig | undefined;
      if (opts.config !== undefined) {
        try {
          team = (await import('../gateway/team-config.ts')).loadTeamConfig(opts.config);
          // The command line wins over the file: the file's debugImage would win over `config`.
          if (opts.debugImage !== undefined) team = { ...team, debugImage: opts.debugImage };
        } catch (err) {
          throw asUsage(err);
        }
      }
      const { startGateway } = await import('../gateway/server.ts');
      let sandbox: { close(): Promise<void>; kubeconfigPath: string } | undefined;
      let gateway: { close(): Promise<void>; loginUrl: string; url: string } | undefined;
      try {
        if (opts.sandbox) {
          const { startSandbox } = await import('../sandbox/server.ts');
          const started = await startSandbox({ kubeconfigPath: kubeconfig ?? defaultSandboxKubeconfig() });
          sandbox = started;
          process.stdout.write(`sandbox ready ${started.url} kubeconfig=${started.kubeconfigPath}\n`);
        }
        const clusters = opts.inCluster ? new (await import('../gateway/clusters.ts')).InClusterClusters() : undefined;
        gateway = await startGateway({ config, ...(clusters ? { clusters } : sandbox ? { kubeconfig: sandbox.kubeconfigPath } : kubeconfig ? { kubeconfig } : {}), ...(team ? { team } : {}), logger: true });
      } catch (err) {
        await sandbox?.close();
        throw asUsage(err);
      }
      // With team sign-in there is no one-time token: people sign in at the URL itself.
      process.stdout.write(`web ready ${team ? gateway.url : gateway.loginUrl}\n`);
      if (process.stderr.isTTY && !team) {
        const kubectl = sandbox ? `\nThe sandbox works with kubectl too:\n  export KUBECONFIG=${sandbox.kubeconfigPath}\n  kubectl exec -it demo -- sh\n` : '';
        process.stderr.write(`\nOpen the URL above in a browser (once: it signs you in).\n${kubectl}\nPress Ctrl-C to stop.\n\n`);
      }
      await stop;
      try {
        await gateway.close();
      } finally {
        await sandbox?.close();
      }
    });
}

/** A retention age: a duration, or whole days (`30d`). */
function parseAge(name: string, text: string): number {
  const days = /^(\d+)d$/.exec(text);
  if (days) return Number(days[1]) * 24 * 3_600_000;
  return parseDuration(name, text);
}

/** A setting the gateway refused is a wrong command line: exit code 2 and a pointer to --help. */
function asUsage(err: unknown): unknown {
  return err instanceof PodshellError && err.code === 'ERR_USAGE' ? new CliUsageError(err.message) : err;
}
