// Medians, per-pair ratios and the units the report prints. Pure.

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The p-th percentile (0–100) by nearest rank: a value that was measured, never interpolated. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * The median over rounds of contender ÷ reference, pairing the two samples of the same round
 * (rounds where either failed are skipped).
 */
export function pairRatio(values: readonly (number | null)[], reference: readonly (number | null)[]): number {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(values.length, reference.length); i++) {
    const v = values[i];
    const r = reference[i];
    if (v !== null && v !== undefined && r !== null && r !== undefined && r > 0) ratios.push(v / r);
  }
  return median(ratios);
}

export const mibPerSecond = (bytes: number, seconds: number): number => bytes / (1024 * 1024) / seconds;

/** 3 significant digits, without exponent: 1234 → "1234", 12.345 → "12.3", 0.01234 → "0.0123". */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toString();
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

export function fmtRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×` : '–';
}

export function fmtBytes(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3} GiB`;
  if (bytes >= 1024 ** 2) return `${+(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

export const fmtMiB = (kib: number | null): string => (kib === null ? '–' : `${Math.round(kib / 1024)} MiB`);
