/**
 * A gradient exchange over the workers, as the trainer's replicas and the search's supernet
 * replicas both do it: each variable's gradient, weighted by this worker's share of the batch,
 * then a few results, written into this worker's slot; summed over the workers (the all-reduce);
 * and the sums turned back into one tensor per variable, in `vars` order on every worker.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Sums a vector over the workers (allreduce.ts): write into `slot`, then `sum(n)`. */
export interface Reducer {
  readonly slot: Float32Array;
  sum(n: number): Float32Array;
}

export interface Exchanged {
  grads: tf.NamedTensorMap;
  /** The results' sums over the workers, in the order given. */
  results: number[];
  /** Wall ms spent copying out of and back into TF.js (the sum itself is the reducer's). */
  copyMs: number;
}

/**
 * `vars` must each have a gradient in `grads`; `results` are summed as given (weight them first
 * where they are means). Call inside a tidy: the summed gradient tensors are the caller's.
 */
export function exchangeGradients(reducer: Reducer, vars: readonly tf.Variable[], grads: tf.NamedTensorMap, share: number, results: readonly number[]): Exchanged {
  const slot = reducer.slot;
  let t0 = performance.now();
  let off = 0;
  for (const v of vars) {
    const g = grads[v.name]!.dataSync() as Float32Array;
    for (let j = 0; j < g.length; j++) slot[off + j] = g[j]! * share;
    off += g.length;
  }
  results.forEach((r, i) => { slot[off + i] = r; });
  let copyMs = performance.now() - t0;
  const sum = reducer.sum(off + results.length);
  t0 = performance.now();
  const summed: tf.NamedTensorMap = {};
  off = 0;
  for (const v of vars) {
    summed[v.name] = tf.tensor(sum.subarray(off, off + v.size), v.shape);
    off += v.size;
  }
  const totals = results.map((_, i) => sum[off + i]!);
  copyMs += performance.now() - t0;
  return { grads: summed, results: totals, copyMs };
}
