// The issue's performance goals, each computed from the run's own samples: the figure, what it
// is compared with, the ratio, met or not. Pure.

import type { BenchReport, ContenderId, ContenderResult, RowResult } from './model.ts';
import { GiB, goalSizes, MiB } from './options.ts';
import { fmt, fmtBytes, fmtRatio, median, pairRatio } from './stats.ts';

export interface Goal {
  /** What is measured, e.g. "cp upload 1 GiB, wall time: podshell CLI". */
  name: string;
  /** podshell's figure. */
  podshell: string;
  /** What it is compared with and its figure, e.g. "kubectl 1.33: 65.1 ms". */
  against: string;
  ratio: string;
  target: string;
  /** null: not decided by this run (`why` says why). */
  met: boolean | null;
  why?: string;
}

/** The two podshell builds every goal is checked for. */
const builds: { id: ContenderId; name: string }[] = [
  { id: 'podshell-cli', name: 'published (`dist/`)' },
  { id: 'podshell-src', name: 'checkout (`bin/podshell`)' },
];

const values = (c: ContenderResult): (number | null)[] => c.samples.map((s) => s?.value ?? null);
const present = (xs: readonly (number | null)[]): number[] => xs.filter((x): x is number => x !== null);
const medianOf = (xs: readonly (number | null)[]): number => median(present(xs));
/** Median over rounds of the contender's peak RSS, MiB. */
const medianPeak = (c: ContenderResult): number => median(present(c.samples.map((s) => s?.rssKiB ?? null))) / 1024;

function find(report: BenchReport, rowId: string): RowResult | undefined {
  return report.rows.find((r) => r.id === rowId);
}

function contender(row: RowResult | undefined, id: ContenderId): ContenderResult | undefined {
  const c = row?.contenders.find((x) => x.id === id);
  return c && present(values(c)).length ? c : undefined;
}

function undecided(name: string, target: string, why: string): Goal {
  return { name, podshell: '–', against: '–', ratio: '–', target, met: null, why };
}

/** `row`'s transfer is at the goal's size; else why the verdict is left open. */
function sizeWhy(row: RowResult, want: number): string | undefined {
  return row.bytes === want ? undefined : `not measured at that size in this run (${fmtBytes(row.bytes ?? 0)})`;
}

/**
 * The median over rounds of podshell ÷ kubectl in `rowId` (its values mapped by `toValue`, e.g.
 * MiB/s to seconds), against `target.limit`; judged only when the row moved `want` bytes.
 */
function versusKubectl(report: BenchReport, name: string, rowId: string, build: ContenderId, target: { limit: number; higherIsBetter: boolean }, show: (v: number) => string, toValue: (row: RowResult, v: number) => number, want?: number): Goal {
  const targetText = `${target.higherIsBetter ? '≥' : '≤'} ${fmtRatio(target.limit)} kubectl's`;
  const row = find(report, rowId);
  const p = contender(row, build);
  const k = contender(row, 'kubectl');
  if (!row || !p || !k) return undecided(name, targetText, row ? 'a contender has no sample in this run' : 'not in this run');
  const pv = values(p).map((v) => (v === null ? null : toValue(row, v)));
  const kv = values(k).map((v) => (v === null ? null : toValue(row, v)));
  const ratio = pairRatio(pv, kv);
  const why = want === undefined ? undefined : sizeWhy(row, want);
  return {
    name,
    podshell: show(medianOf(pv)),
    against: `${k.label}: ${show(medianOf(kv))}`,
    ratio: fmtRatio(ratio),
    target: targetText,
    met: why ? null : target.higherIsBetter ? ratio >= target.limit : ratio <= target.limit,
    ...(why ? { why } : {}),
  };
}

/** The size a transfer row's goal is stated at. */
function goalSize(row: RowResult): number {
  if (row.kind === 'stdout' || row.kind === 'stdin') return goalSizes.stream;
  return row.id.endsWith('-medium') ? goalSizes.cpMedium : goalSizes.cpLarge;
}

const ms = (v: number) => `${fmt(v)} ms`;
const seconds = (v: number) => `${fmt(v)} s`;
const mibps = (v: number) => `${fmt(v)} MiB/s`;
const mib = (v: number) => `${fmt(v)} MiB`;
const identity = (_row: RowResult, v: number) => v;
/** A cp row's MiB/s as the wall time of one copy, seconds. */
const wallSeconds = (row: RowResult, v: number) => (row.bytes ?? 0) / MiB / v;

/** The median over rounds of a contender's CPU time per GiB moved (transfer rows only), or null. */
export function cpuPerGiB(row: RowResult, c: ContenderResult): number | null {
  if (row.unit !== 'MiB/s' || !row.bytes) return null;
  const cpu = c.samples.map((s) => s?.cpuSeconds).filter((v): v is number => typeof v === 'number');
  return cpu.length ? median(cpu) / (row.bytes / GiB) : null;
}

/** The transfer rows that memory flatness is about: the 1 GiB ones (the largest of each kind). */
export function largeTransfers(report: BenchReport): RowResult[] {
  return report.rows.filter((r) => r.oneShotRow && r.unit === 'MiB/s' && (r.kind === 'stdout' || r.kind === 'stdin' || r.id.endsWith('-large')));
}

/** A contender's peak RSS in `row` against its peak in the same command's one-shot row, MiB. */
export function flatness(report: BenchReport, row: RowResult, id: ContenderId): { oneShot: number; transfer: number; added: number } | null {
  const c = contender(row, id);
  const base = contender(row.oneShotRow ? find(report, row.oneShotRow) : undefined, id);
  if (!c || !base) return null;
  const oneShot = medianPeak(base);
  const transfer = medianPeak(c);
  if (!Number.isFinite(oneShot) || !Number.isFinite(transfer)) return null;
  return { oneShot, transfer, added: transfer - oneShot };
}

export function goals(report: BenchReport): Goal[] {
  const out: Goal[] = [];
  const oneShotLimits: Record<string, number> = { 'podshell-cli': 1.25, 'podshell-src': 1.5 };
  for (const b of builds) {
    out.push(versusKubectl(report, `one-shot \`exec demo -- true\`, wall time: ${b.name}`, 'oneshot', b.id, { limit: oneShotLimits[b.id]!, higherIsBetter: false }, ms, identity));
  }
  for (const b of builds) {
    const name = `one-shot \`exec demo -- true\`, peak RSS: ${b.name}`;
    const row = find(report, 'oneshot');
    const p = contender(row, b.id);
    const k = contender(row, 'kubectl');
    if (!p || !k || !Number.isFinite(medianPeak(p)) || !Number.isFinite(medianPeak(k))) {
      out.push(undecided(name, "≤ 1.30× kubectl's", 'not in this run'));
      continue;
    }
    const ratio = medianPeak(p) / medianPeak(k);
    out.push({ name, podshell: mib(medianPeak(p)), against: `${k.label}: ${mib(medianPeak(k))}`, ratio: fmtRatio(ratio), target: "≤ 1.30× kubectl's", met: ratio <= 1.3 });
  }
  for (const [size, want] of [
    ['medium', goalSizes.cpMedium],
    ['large', goalSizes.cpLarge],
  ] as const) {
    for (const direction of ['up', 'down'] as const) {
      const rowId = `cp-${direction}-${size}`;
      const shown = fmtBytes(find(report, rowId)?.bytes ?? want);
      for (const b of builds) {
        out.push(versusKubectl(report, `cp ${direction === 'up' ? 'upload' : 'download'} ${shown}, wall time: ${b.name}`, rowId, b.id, { limit: 1, higherIsBetter: false }, seconds, wallSeconds, want));
      }
    }
  }
  for (const kind of ['stdout', 'stdin'] as const) {
    const shown = fmtBytes(find(report, kind)?.bytes ?? goalSizes.stream);
    for (const b of builds) {
      out.push(versusKubectl(report, `exec ${kind} ${shown}, throughput: ${b.name}`, kind, b.id, { limit: 1, higherIsBetter: true }, mibps, identity, goalSizes.stream));
    }
  }
  const large = largeTransfers(report);
  for (const b of builds) {
    const name = `peak RSS of a 1 GiB transfer − the same command's one-shot peak (worst): ${b.name}`;
    const worst = (id: ContenderId) => {
      const all = large.map((row) => ({ row, f: flatness(report, row, id) })).filter((x) => x.f !== null);
      return all.length ? all.reduce((a, x) => (x.f!.added > a.f!.added ? x : a)) : null;
    };
    const p = worst(b.id);
    const k = worst('kubectl');
    if (!p) {
      out.push(undecided(name, '≤ 16 MiB', large.length ? 'a one-shot row is not in this run' : 'not in this run'));
      continue;
    }
    const sign = (v: number) => `${v >= 0 ? '+' : '−'}${fmt(Math.abs(v))} MiB`;
    const why = large.map((row) => sizeWhy(row, goalSize(row))).find(Boolean);
    out.push({
      name,
      podshell: `${sign(p.f!.added)} (${p.row.title}: ${fmt(p.f!.oneShot)} → ${fmt(p.f!.transfer)} MiB)`,
      against: k ? `${report.rows.flatMap((r) => r.contenders).find((c) => c.id === 'kubectl')!.label}: ${sign(k.f!.added)} (${k.row.title})` : '–',
      ratio: '',
      target: '≤ 16 MiB',
      met: why ? null : p.f!.added <= 16,
      ...(why ? { why } : {}),
    });
  }
  for (const kind of ['stdout', 'stdin'] as const) {
    const name = `sandbox ${kind}: raw ws client ÷ the fastest contender`;
    const row = find(report, kind);
    const thin = contender(row, 'thin');
    const others = (row?.contenders ?? []).filter((c) => c.id !== 'thin' && present(values(c)).length);
    if (!row || !thin || !others.length) {
      out.push(undecided(name, '≥ 2.00×', 'not in this run'));
      continue;
    }
    const fastest = others.reduce((a, c) => (medianOf(values(c)) > medianOf(values(a)) ? c : a));
    const ratio = medianOf(values(thin)) / medianOf(values(fastest));
    const why = sizeWhy(row, goalSizes.stream);
    out.push({ name, podshell: mibps(medianOf(values(thin))), against: `${fastest.label}: ${mibps(medianOf(values(fastest)))}`, ratio: fmtRatio(ratio), target: '≥ 2.00×', met: why ? null : ratio >= 2, ...(why ? { why } : {}) });
    // The same goal as capacity: what the sandbox moves per second of its own CPU (with a core to
    // itself) against what the fastest contender needs.
    const capacity = thin.extra['sandboxMiBPerCpuSecond'] ?? [];
    const capName = `sandbox ${kind}: MiB the sandbox moves per CPU second of its own ÷ the fastest contender's MiB/s`;
    if (!capacity.length) {
      out.push(undecided(capName, '≥ 2.00×', 'the sandbox\'s CPU time was not measured'));
      continue;
    }
    const capRatio = medianOf(capacity) / medianOf(values(fastest));
    out.push({ name: capName, podshell: `${mibps(medianOf(capacity))} of sandbox CPU`, against: `${fastest.label}: ${mibps(medianOf(values(fastest)))}`, ratio: fmtRatio(capRatio), target: '≥ 2.00×', met: why ? null : capRatio >= 2, ...(why ? { why } : {}) });
  }
  // bufferutil: one row per kind of transfer (stdout, stdin, the largest cp each way).
  const target = '> 1.00× (keep it if it pays)';
  const withAndWithout = largeTransfers(report)
    .map((row) => ({ row, p: contender(row, 'podshell-cli'), n: contender(row, 'podshell-cli-nobu') }))
    .filter((x) => x.p && x.n);
  if (!withAndWithout.length) {
    const installed = report.machine.bufferutil;
    const why = installed && !/^not installed$|does not load/.test(installed) ? 'no transfer row in this run' : `bufferutil ${installed ?? 'not installed'}`;
    out.push(undecided('bufferutil: the podshell CLI with it ÷ with `WS_NO_BUFFER_UTIL=1`', target, why));
  }
  for (const { row, p, n } of withAndWithout) {
    const ratio = pairRatio(values(p!), values(n!));
    const why = sizeWhy(row, goalSize(row));
    const figure = (c: ContenderResult) => {
      const cpu = cpuPerGiB(row, c);
      return `${mibps(medianOf(values(c)))}${cpu === null ? '' : `, ${fmt(cpu)} CPU s/GiB`}`;
    };
    out.push({
      name: `bufferutil, ${row.title}: the podshell CLI with it ÷ with \`WS_NO_BUFFER_UTIL=1\``,
      podshell: figure(p!),
      against: `without: ${figure(n!)}`,
      ratio: fmtRatio(ratio),
      target,
      met: why ? null : ratio > 1,
      ...(why ? { why } : {}),
    });
  }
  return out;
}
