/**
 * Small statistics written by hand: quantiles, rank correlations and error summaries are a few
 * lines each, and the libraries that have them (simple-statistics) lack Kendall's tau.
 *
 * A statistic of samples that hold NaN or ±Infinity is NaN, never a plausible number: sorting
 * puts NaN last (a low quantile would silently skip it), Math.sign(NaN) counts as a discordant
 * pair, and a filter such as `err <= 5%` just drops it. NaN then fails every `x <= limit` check.
 */
import { allFinite } from './finite.js';

/** Linear-interpolation quantile of unsorted samples (q in [0, 1]). */
export function quantile(samples: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(samples).sort();
  if (s.length === 0 || !allFinite(s)) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export interface Summary { median: number; p10: number; p25: number; p90: number; samples: number }

export function summarize(samples: ArrayLike<number>): Summary {
  return { median: quantile(samples, 0.5), p10: quantile(samples, 0.1), p25: quantile(samples, 0.25), p90: quantile(samples, 0.9), samples: samples.length };
}

/** Average ranks (ties share the mean rank). */
function ranks(values: readonly number[]): number[] {
  const idx = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(values.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    for (let k = i; k <= j; k++) r[idx[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

export function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  if (n === 0 || n !== b.length || !allFinite(a) || !allFinite(b)) return Number.NaN;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) {
    num += (a[i]! - ma) * (b[i]! - mb);
    da += (a[i]! - ma) ** 2;
    db += (b[i]! - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

export function spearman(a: readonly number[], b: readonly number[]): number {
  if (!allFinite(a) || !allFinite(b)) return Number.NaN;
  return pearson(ranks(a), ranks(b));
}

/** Kendall's tau-b. */
export function kendall(a: readonly number[], b: readonly number[]): number {
  if (a.length === 0 || a.length !== b.length || !allFinite(a) || !allFinite(b)) return Number.NaN;
  let concordant = 0, discordant = 0, tiesA = 0, tiesB = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const x = Math.sign(a[i]! - a[j]!);
      const y = Math.sign(b[i]! - b[j]!);
      if (x === 0 && y === 0) continue;
      if (x === 0) tiesA++;
      else if (y === 0) tiesB++;
      else if (x === y) concordant++;
      else discordant++;
    }
  }
  return (concordant - discordant) / Math.sqrt((concordant + discordant + tiesA) * (concordant + discordant + tiesB));
}

export interface ErrorReport {
  n: number;
  mapePct: number;
  maxAbsErrPct: number;
  within5Pct: number;
  within10Pct: number;
  spearman: number;
  kendall: number;
}

/**
 * Accuracy of predictions against measurements, in nn-Meter's terms. A non-finite prediction,
 * or a measurement that is not a positive finite time, makes every field NaN: a relative error
 * against it means nothing, and the shares within ±5% / ±10% would otherwise just omit it.
 */
export function errorReport(predicted: readonly number[], measured: readonly number[]): ErrorReport {
  const n = predicted.length;
  if (n === 0 || measured.length !== n || !allFinite(predicted) || !allFinite(measured) || measured.some((m) => !(m > 0))) {
    return { n, mapePct: Number.NaN, maxAbsErrPct: Number.NaN, within5Pct: Number.NaN, within10Pct: Number.NaN, spearman: Number.NaN, kendall: Number.NaN };
  }
  const rel = predicted.map((p, i) => (p - measured[i]!) / measured[i]!);
  const abs = rel.map(Math.abs);
  return {
    n,
    mapePct: (100 * abs.reduce((s, v) => s + v, 0)) / n,
    maxAbsErrPct: 100 * Math.max(...abs),
    within5Pct: (100 * abs.filter((v) => v <= 0.05).length) / n,
    within10Pct: (100 * abs.filter((v) => v <= 0.1).length) / n,
    spearman: spearman(predicted, measured),
    kendall: kendall(predicted, measured),
  };
}
