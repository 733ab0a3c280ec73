/**
 * Search objectives.
 *
 * FBNet (Wu et al. 2019): loss = CE · α · (log LAT)^β, LAT the expected latency. Its log needs
 * LAT > 1, which FBNet's milliseconds at 224x224 give but a 28x28 net (0.2 ms) does not, so LAT
 * is taken in microseconds here; that only rescales log LAT, and β / log LAT, the term's relative
 * pull, stays in FBNet's range (0.1-0.2).
 *
 * FBNet's term trades latency against accuracy but aims at no particular latency: measured on
 * fbnet-mini with T at the baseline's latency, it drove the expected latency from 0.11 to 0.05 ms
 * in 8 epochs and the argmax arch to all-skip, leaving most of the budget unused. With a target
 * T the term therefore sees max(LAT, T): under the budget θ follows the CE alone, over it FBNet's
 * pull applies, plus a hinge μ · max(0, LAT / T - 1) (μ = 2: 1% over T costs as much as a 2%
 * rise in the CE), MnasNet's soft constraint made one-sided. Expected latency then converges to
 * T from either side instead of collapsing below it.
 *
 * MnasNet (Tan et al. 2019): reward = ACC · (LAT / T)^w, w = -0.07, for evolution; or a hard
 * constraint LAT ≤ T (OFA).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface FbnetLossOptions { alpha: number; beta: number; targetMs: number; penalty: number }

export const FBNET_DEFAULTS = { alpha: 0.2, beta: 0.6, penalty: 2 } as const;

/** CE · α · (log max(LAT, T)_µs)^β + μ · max(0, LAT / T - 1); `latMs` is differentiable. */
export function fbnetLoss(ce: tf.Scalar, latMs: tf.Scalar, o: FbnetLossOptions): tf.Scalar {
  const latUs = tf.maximum(tf.mul(tf.maximum(latMs, o.targetMs), 1000), Math.E);
  const term = tf.mul(o.alpha, tf.pow(tf.log(latUs), o.beta));
  const over = tf.relu(tf.sub(tf.div(latMs, o.targetMs), 1));
  return tf.add(tf.mul(ce, term), tf.mul(o.penalty, over)) as tf.Scalar;
}

export type EvolutionObjective = 'hard' | 'mnas';

/** MnasNet's reward; `hard` scores accuracy alone (the constraint is enforced by rejection). */
export function reward(objective: EvolutionObjective, acc: number, latMs: number, targetMs: number, w = -0.07): number {
  return objective === 'mnas' ? acc * Math.pow(latMs / targetMs, w) : acc;
}
