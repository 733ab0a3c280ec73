/** Tensor helpers the model tests share: comparing outputs, and BatchNorm worth folding. */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../src/util/rng.js';

/** The largest absolute difference between a and b, relative to a's largest magnitude. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  return diff;
}

export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / scale;
}

/** Gives BatchNorm non-trivial statistics and affine terms, so folding (and BN per candidate or width) is really exercised. */
export function perturbBatchNorm(vars: readonly tf.Variable[], rng: Rng): void {
  for (const v of vars) {
    if (!v.name.includes('.bn.')) continue;
    const vals = Float32Array.from({ length: v.shape[0]! }, () => {
      if (v.name.endsWith('variance') || v.name.endsWith('gamma')) return 0.5 + rng.next();
      return 0.2 * rng.normal();
    });
    v.assign(tf.tensor1d(vals));
  }
}
