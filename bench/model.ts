// What a row of the benchmark produces. Shared by the runner and the report.

export type ContenderId = 'podshell-cli' | 'podshell-src' | 'podshell-cli-nobu' | 'podshell-baseline' | 'podshell-lib' | 'kubectl' | 'client-node' | 'thin';

export interface Sample {
  /** In the row's unit. */
  value: number;
  /** Peak RSS of the contender's process(es), KiB. */
  rssKiB: number | null;
  /** CPU time (user + system) of the contender's process(es), seconds; null when not measured. */
  cpuSeconds?: number | null;
}

export interface ContenderResult {
  id: ContenderId;
  label: string;
  /** The podshell contender this one is paired with for ratios (null for podshell itself). */
  ref: ContenderId | null;
  /** One entry per round; null where the round failed. */
  samples: (Sample | null)[];
  /** Extra values worth reporting (e.g. the median latency of an exec-rate round). */
  extra: Record<string, number[]>;
  /** Why rounds failed, or why the contender was not run. */
  errors: string[];
}

export interface RowResult {
  id: string;
  title: string;
  /** What one sample is, e.g. "1 GiB from head -c". */
  workload: string;
  unit: string;
  better: 'higher' | 'lower';
  rounds: number;
  contenders: ContenderResult[];
  notes: string[];
  /** Bytes one sample moves (transfer rows): the size goals are checked against, and CPU per GiB. */
  bytes?: number;
  /** What kind of transfer this is, for the goals: the same command's rows share a kind. */
  kind?: 'stdout' | 'stdin' | 'cp-up' | 'cp-down';
  /** The row whose peak RSS is this command's one-shot peak (memory flatness): e.g. 'oneshot'. */
  oneShotRow?: string;
}

export interface CeilingResult {
  name: string;
  workload: string;
  mibPerSecond: number[];
  rssKiB: number | null;
  error?: string;
}

/** One line of a web shell gateway row: the gateway's value, the direct exec's, and the goal. */
export interface GatewayMeasure {
  /** e.g. "echo p99, 200 active sessions". */
  name: string;
  unit: string;
  gateway: number | null;
  /** The same measured on a direct library exec (null: no direct counterpart, or it failed). */
  direct: number | null;
  /** gateway − direct ('added'), or the median over rounds of gateway ÷ direct ('ratio'). */
  compare?: { kind: 'added' | 'ratio'; value: number };
  /** A second value for the same line, already formatted (e.g. the worst of a delay). */
  extra?: string;
  /** The goal for this value; met is null when the run did not measure it at the goal's size. */
  goal?: { text: string; met: boolean | null };
}

/** A web shell gateway row (echo latency, throughput, sessions held): a section of its own. */
export interface GatewayResult {
  id: string;
  title: string;
  workload: string;
  measures: GatewayMeasure[];
  notes: string[];
  /** Why runs of this row failed. */
  errors: string[];
  /** Every sample, by series name (for --json). */
  samples: Record<string, number[]>;
}

export interface MachineInfo {
  cpus: string;
  cores: number;
  memory: string;
  os: string;
  node: string;
  kubectl: string;
  clientNode: string;
  podshell: string;
  /** How the podshell CLI contender was started. */
  podshellCli: string;
  /** The baseline checkout, when one was given. */
  baseline: string | null;
  isolation: string;
  rssMethod: string;
  /** How CPU time is measured on this machine. */
  cpuMethod?: string;
  /** Whether ws's native masking addon (`bufferutil`) is installed, and its version. */
  bufferutil?: string;
}

export interface BenchReport {
  date: string;
  command: string;
  mode: string;
  durationSeconds: number;
  machine: MachineInfo;
  rows: RowResult[];
  ceilings: CeilingResult[];
  /** The web shell gateway's rows. */
  gateway: GatewayResult[];
  /** Machine load when the run started and ended (/proc/loadavg: 1, 5, 15 minutes). */
  load?: { start: string; end: string };
  /** Rows that could not run at all. */
  failures: string[];
}
