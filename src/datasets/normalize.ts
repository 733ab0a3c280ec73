import { fail } from '../errors.js';
import type { Dataset } from './dataset.js';
import { sampleReader } from './samples.js';

/** Per-channel statistics in pixel/255 units: a network sees (pixel/255 - mean[c]) / std[c]. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/**
 * Mean and (population) standard deviation per channel over the given training samples only, so
 * validation and test pixels never leak into the inputs' scaling. A constant channel gets std 1
 * instead of a division by zero.
 */
export function computeNormalization(dataset: Dataset, indices: ArrayLike<number>): Normalization {
  const { c: C, h: H, w: W } = dataset.shape;
  const hw = H * W;
  const size = C * hw;
  const { count } = dataset.train;
  const samples = sampleReader(dataset.train, size);
  if (indices.length === 0) fail(`cannot normalise ${dataset.spec}: no training samples selected; lower the validation fraction`);
  // A byte histogram per channel: an exact integer count, so the statistics don't depend on summation order.
  const hist = new Float64Array(C * 256);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!(i >= 0 && i < count)) fail(`normalisation index ${i} is outside ${dataset.spec}'s ${count} training samples; use indices from splitTrainVal`);
    const img = samples.get(i);
    for (let c = 0; c < C; c++) {
      const base = c * hw;
      const off = c * 256;
      for (let p = 0; p < hw; p++) {
        const j = off + img[base + p]!;
        hist[j] = hist[j]! + 1;
      }
    }
  }
  const n = indices.length * hw;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let v = 0; v < 256; v++) s += hist[c * 256 + v]! * v;
    const m = s / n;
    let ss = 0;
    for (let v = 0; v < 256; v++) ss += hist[c * 256 + v]! * (v - m) * (v - m);
    const sd = Math.sqrt(ss / n);
    mean.push(m / 255);
    std.push(sd > 1e-6 ? sd / 255 : 1);
  }
  return { mean, std };
}
