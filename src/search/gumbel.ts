/**
 * Gumbel-softmax over a layer's architecture logits θ (Jang et al. 2017), as FBNet samples its
 * supernet. The noise comes from our seeded generator, so a resumed search draws the same samples.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/rng.js';

/** Standard Gumbel noise: -log(-log U). */
export function gumbelNoise(rng: Rng, n: number): Float32Array {
  const g = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // 1 - next() lies in (0, 1]; the inner log needs it below 1 too.
    const u = Math.min(1 - rng.next(), 1 - 1e-7);
    g[i] = -Math.log(-Math.log(u));
  }
  return g;
}

/** softmax((θ + g) / τ): a relaxed one-hot sample, differentiable in θ. */
export function gumbelSoftmax(theta: tf.Tensor1D, noise: Float32Array, tau: number): tf.Tensor1D {
  return tf.softmax(tf.div(tf.add(theta, tf.tensor1d(noise)), tau)) as tf.Tensor1D;
}

export interface HardSample {
  /** argmax of θ + g: the candidate to run. */
  index: number;
  /** The relaxed sample (for the expected latency). */
  soft: tf.Tensor1D;
  /** Value exactly 1; its gradient is that of soft[index] (straight-through). */
  gate: tf.Scalar;
}

/**
 * Straight-through Gumbel (GDAS, ProxylessNAS): the forward pass runs only the sampled candidate,
 * scaled by 1 + soft[i] - stop_gradient(soft[i]), so θ still gets a gradient through soft[i].
 */
export function hardGumbel(theta: tf.Tensor1D, noise: Float32Array, tau: number): HardSample {
  const soft = gumbelSoftmax(theta, noise, tau);
  const values = soft.dataSync();
  let index = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[index]!) index = i;
  const picked = tf.squeeze(tf.slice(soft, [index], [1])) as tf.Scalar;
  // A fresh constant has no tape history: this is stop_gradient.
  const gate = tf.add(tf.sub(picked, tf.scalar(values[index]!)), 1) as tf.Scalar;
  return { index, soft, gate };
}

/** FBNet's temperature schedule: τ0 · exp(-decay · epoch). */
export function temperature(epoch: number, tau0 = 5, decay = 0.045): number {
  return tau0 * Math.exp(-decay * epoch);
}

/** Index sampled from softmax(θ) (no noise temperature): how FBNet draws final architectures. */
export function sampleCategorical(probs: ArrayLike<number>, rng: Rng): number {
  let u = rng.next();
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return probs.length - 1;
}
