/**
 * How well a supernet ranks archs, against the study's retrained accuracies, and how well any
 * ranker could: retrained test accuracy is itself noisy (seed to seed), so a perfect predictor's
 * Kendall τ against the measured means is below 1. The study's goal (τ ≥ 0.6) only means
 * something next to that ceiling.
 */
import { kendall, spearman } from '../../src/util/stats.js';
import { Rng } from '../../src/util/rng.js';
import { archKey, type StudyLine } from './records.js';

/** Each retrained arch's test accuracies, by seed. */
export function retrainedAccuracies(records: readonly StudyLine[]): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const r of records) {
    if (r.kind !== 'train') continue;
    const k = archKey(r.blocks);
    if (!out.has(k)) out.set(k, new Map());
    out.get(k)!.set(r.seed, r.testAcc);
  }
  return out;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** τ and Spearman of `scores` against the mean retrained accuracy, over the archs both have. */
export function rankAgreement(scores: ReadonlyMap<string, number>, accs: ReadonlyMap<string, ReadonlyMap<number, number>>): { archs: number; kendallTau: number; spearman: number } {
  const archs = [...accs.keys()].filter((a) => scores.has(a));
  const x = archs.map((a) => scores.get(a)!);
  const y = archs.map((a) => mean([...accs.get(a)!.values()]));
  return { archs: archs.length, kendallTau: kendall(x, y), spearman: spearman(x, y) };
}

/**
 * The retraining's own noise as a ranking: τ between two seeds' accuracies (seed `a` against
 * seed `b`) over the archs trained with both; null with fewer than 3 such archs.
 */
export function seedTau(accs: ReadonlyMap<string, ReadonlyMap<number, number>>, a = 1, b = 2): { archs: number; kendallTau: number } | null {
  const both = [...accs.values()].filter((s) => s.has(a) && s.has(b));
  if (both.length < 3) return null;
  return { archs: both.length, kendallTau: kendall(both.map((s) => s.get(a)!), both.map((s) => s.get(b)!)) };
}

/** Pooled within-arch standard deviation of retrained accuracy (archs with ≥ 2 seeds); null without any. */
export function seedStd(accs: ReadonlyMap<string, ReadonlyMap<number, number>>): number | null {
  let ss = 0, dof = 0;
  for (const s of accs.values()) {
    const v = [...s.values()];
    if (v.length < 2) continue;
    const m = mean(v);
    ss += v.reduce((t, x) => t + (x - m) ** 2, 0);
    dof += v.length - 1;
  }
  return dof > 0 ? Math.sqrt(ss / dof) : null;
}

/**
 * The τ a perfect ranker would expect against these measured means: the means taken as the
 * truth, each remeasured with Gaussian seed noise of the pooled std over its own seed count, τ
 * between truth and remeasurement averaged over `reps` draws. The measured means' spread holds
 * that noise once already, so this ceiling is slightly optimistic (a true ceiling is lower).
 */
export function tauCeiling(accs: ReadonlyMap<string, ReadonlyMap<number, number>>, reps = 400, seed = 1): number | null {
  const sd = seedStd(accs);
  if (sd === null || accs.size < 3) return null;
  const rng = new Rng(seed);
  const truth = [...accs.values()].map((s) => mean([...s.values()]));
  const n = [...accs.values()].map((s) => s.size);
  let sum = 0;
  for (let r = 0; r < reps; r++) sum += kendall(truth, truth.map((t, i) => t + (sd / Math.sqrt(n[i]!)) * rng.normal()));
  return sum / reps;
}
