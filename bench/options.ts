// The harness's command line and the three sizes it runs at. Pure.

export type Mode = 'full' | 'quick' | 'tiny';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** One size of the cp rows. */
export interface CpSize {
  bytes: number;
  rounds: number;
}

/** The sizes the goals are stated at (a run at other sizes reports them as not measured). */
export const goalSizes = { cpMedium: 100 * MiB, cpLarge: GiB, stream: GiB } as const;

/** How much each row does in a mode. */
export interface Plan {
  mode: Mode;
  /** One-shot CLI exec: podshell/kubectl pairs. */
  oneShotPairs: number;
  /** In-process exec rate: rounds (one child process per contender per round) × execs per round. */
  rateRounds: number;
  ratePerRound: number;
  /** Stdout and stdin throughput: bytes per transfer, rounds. */
  streamBytes: number;
  streamRounds: number;
  /**
   * cp: one row per size and direction, each size with its own rounds (each round: up and down
   * for each contender). The first size is the one-shot copy (its time in ms, its peak RSS the
   * baseline of memory flatness); the others are timed in MiB/s, the largest last.
   */
  cpSizes: CpSize[];
  /** Fan-in: concurrent execs × bytes each, rounds. */
  fanInStreams: number;
  fanInBytes: number;
  fanInRounds: number;
  /** Ceilings: bytes through the local pipe and the bare ws loopback. */
  ceilingBytes: number;
  /** Web shell echo: active sessions per measurement, keystrokes timed per run, runs per contender. */
  echoSessions: number[];
  echoSamples: number;
  echoRounds: number;
  /** Web shell throughput: bytes per transfer, rounds. */
  gwStreamBytes: number;
  gwStreamRounds: number;
  /** Web shell sessions held: how many to open, and how long to hold them while measuring idle CPU. */
  gwSessions: number;
  gwHoldSeconds: number;
}

export const plans: Record<Mode, Plan> = {
  // The sizes; about 12–15 minutes on 2 cores.
  full: {
    mode: 'full',
    oneShotPairs: 30,
    rateRounds: 4,
    ratePerRound: 50,
    streamBytes: GiB,
    streamRounds: 3,
    cpSizes: [
      { bytes: 4 * 1024, rounds: 5 },
      { bytes: 100 * MiB, rounds: 3 },
      { bytes: GiB, rounds: 2 },
    ],
    fanInStreams: 50,
    fanInBytes: 20 * MiB,
    fanInRounds: 1,
    ceilingBytes: GiB,
    echoSessions: [1, 200],
    echoSamples: 150,
    echoRounds: 4,
    gwStreamBytes: 256 * MiB,
    gwStreamRounds: 3,
    gwSessions: 1000,
    gwHoldSeconds: 15,
  },
  // Every row, smaller: a minute or two.
  quick: {
    mode: 'quick',
    oneShotPairs: 6,
    rateRounds: 2,
    ratePerRound: 20,
    streamBytes: 128 * MiB,
    streamRounds: 1,
    cpSizes: [
      { bytes: 4 * 1024, rounds: 2 },
      { bytes: 16 * MiB, rounds: 1 },
      { bytes: 64 * MiB, rounds: 1 },
    ],
    fanInStreams: 50,
    fanInBytes: 2 * MiB,
    fanInRounds: 1,
    ceilingBytes: 256 * MiB,
    echoSessions: [1, 50],
    echoSamples: 100,
    echoRounds: 1,
    gwStreamBytes: 64 * MiB,
    gwStreamRounds: 1,
    gwSessions: 200,
    gwHoldSeconds: 5,
  },
  // For `npm test`: proves every row still runs; the numbers mean nothing.
  tiny: {
    mode: 'tiny',
    oneShotPairs: 2,
    rateRounds: 2,
    ratePerRound: 3,
    streamBytes: 4 * MiB,
    streamRounds: 2,
    cpSizes: [
      { bytes: 4 * 1024, rounds: 2 },
      { bytes: MiB, rounds: 2 },
      { bytes: 2 * MiB, rounds: 2 },
    ],
    fanInStreams: 4,
    fanInBytes: MiB,
    fanInRounds: 2,
    ceilingBytes: 8 * MiB,
    echoSessions: [1, 3],
    echoSamples: 10,
    echoRounds: 1,
    gwStreamBytes: 4 * MiB,
    gwStreamRounds: 1,
    gwSessions: 5,
    gwHoldSeconds: 1,
  },
};

export const rowIds = ['oneshot', 'rate', 'stdout', 'stdin', 'cp', 'fanin', 'ceilings', 'echo', 'webstream', 'websessions'] as const;
export type RowId = (typeof rowIds)[number];

export interface Options {
  plan: Plan;
  /** Where the report goes; the generated block replaces the one between the markers. */
  out: string | null;
  /** Also write every sample as JSON here. */
  json: string | null;
  /** Rows to run (default: all). */
  only: RowId[];
  /** Another podshell checkout (e.g. of the previous commit), its CLI run as "podshell CLI (baseline)". */
  baseline: string | null;
  /** The kubectl to compare with (default: kubectl.1.33 next to the machine's kubectl). */
  kubectl: string | null;
  /** Run every gateway process with `--cpu-prof`, writing its profile into this folder. */
  profile: string | null;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export const usage = `usage: node bench/run.ts [--quick | --tiny] [--out FILE] [--json FILE] [--only ROW,…]
                         [--baseline CHECKOUT] [--kubectl KUBECTL] [--profile DIR]
  (no mode)   the full run: 1 GiB streams, cp of 4 KiB, 100 MiB and 1 GiB, 30 one-shot pairs, 200
              execs each; the web shell's echo at 1 and 200 sessions, 256 MiB through it, 1000
              sessions held (~12–15 min on 2 cores)
  --quick     every row, smaller (~1–2 min)
  --tiny      a few MiB and 2 pairs per row: proves the harness runs (npm test)
  --out FILE  report file (default: bench/RESULTS.md for a full run, bench/RESULTS-quick.md for
              --quick, stdout only for --tiny); only the block between the bench markers is replaced
  --only      rows: ${rowIds.join(', ')}
  --baseline  another podshell checkout (built with its scripts/build.ts) to add to the one-shot row
  --kubectl   the kubectl to compare with (default: kubectl.1.33 next to the machine's kubectl)
  --profile   write a CPU profile of each web shell gateway process into DIR
              (read one with: node bench/profile-top.ts DIR/FILE.cpuprofile)`;

export function parseArgs(argv: readonly string[]): Options {
  let mode: Mode = 'full';
  let out: string | null | undefined;
  let json: string | null = null;
  let only: RowId[] = [...rowIds];
  let baseline: string | null = null;
  let kubectl: string | null = null;
  let profile: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--quick':
      case '--tiny':
      case '--full': {
        const next = arg.slice(2) as Mode;
        if (mode !== 'full' && next !== mode) throw new UsageError(`--${mode} and ${arg} cannot be combined`);
        mode = next;
        break;
      }
      case '--out':
        out = value();
        break;
      case '--json':
        json = value();
        break;
      case '--only': {
        const ids = value().split(',').map((s) => s.trim()).filter(Boolean);
        for (const id of ids) if (!(rowIds as readonly string[]).includes(id)) throw new UsageError(`unknown row "${id}": expected some of ${rowIds.join(', ')}`);
        only = ids as RowId[];
        break;
      }
      case '--baseline':
        baseline = value();
        break;
      case '--kubectl':
        kubectl = value();
        break;
      case '--profile':
        profile = value();
        break;
      case '-h':
      case '--help':
        throw new UsageError(usage);
      default:
        throw new UsageError(`unknown argument "${arg}"\n${usage}`);
    }
  }
  const defaultOut = mode === 'full' ? 'bench/RESULTS.md' : mode === 'quick' ? 'bench/RESULTS-quick.md' : null;
  return { plan: plans[mode], out: out === undefined ? defaultOut : out, json, only, baseline, kubectl, profile };
}
