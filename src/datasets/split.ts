import { fail } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { Dataset } from './dataset.js';

export interface TrainValSplit {
  /** Indices into `dataset.train`, ascending. */
  train: Uint32Array;
  val: Uint32Array;
}

/** Fisher-Yates on a typed array (Rng.shuffle takes plain arrays), the same draws as Rng.shuffle. */
export function shuffleInPlace(a: Uint32Array, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/**
 * Holds out round(valFraction * N) training samples, chosen by a seeded shuffle, for validation:
 * the test set stays untouched for the final report. The same (dataset, fraction, seed) always
 * gives the same split. A dataset with its own validation split (`valCount`) returns that one
 * whenever a validation set is asked for.
 */
export function splitTrainVal(dataset: Dataset, valFraction: number, seed: number): TrainValSplit {
  const n = dataset.train.count;
  // The data's own validation split (a folder's DIR/val) wins over a seeded share: the user chose it.
  if (dataset.valCount !== undefined && dataset.valCount > 0 && valFraction > 0) {
    const range = (from: number, to: number) => Uint32Array.from({ length: to - from }, (_, i) => from + i);
    return { train: range(0, n - dataset.valCount), val: range(n - dataset.valCount, n) };
  }
  if (!(valFraction >= 0 && valFraction < 1)) {
    fail(`validation fraction ${valFraction} is out of range; pass a number in [0, 1), e.g. 0.1`);
  }
  const nVal = valFraction > 0 ? Math.max(1, Math.round(n * valFraction)) : 0;
  if (n - nVal < 1) fail(`validation fraction ${valFraction} leaves no training samples of ${dataset.spec}'s ${n}; pass a smaller fraction`);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  shuffleInPlace(order, new Rng(seed));
  return { train: order.slice(nVal).sort(), val: order.slice(0, nVal).sort() };
}
