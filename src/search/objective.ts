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
 * T the term therefore sees max(LAT, T): flat under the budget, FBNet's pull over it; plus a
 * penalty on the distance to T (below), μ = 10. LAT is the expectation under softmax(θ), the
 * distribution the Gumbel-max sampler draws paths from.
 *
 * MnasNet (Tan et al. 2019): reward = ACC · (LAT / T)^w, w = -0.07, for evolution; or a hard
 * constraint LAT ≤ T (OFA).
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * 'two-sided' (default): μ · |LAT / T - 1|, TuNAS's absolute reward (Bender et al. 2020). Measured
 * here with the one-sided hinge: the CE's pull on θ through a gated path is weak, so expected
 * latency stayed where the uniform start put it (0.113 ms for a 0.183 ms target, 10 epochs),
 * leaving 40% of the budget unused; the two-sided term pulls it to T and the CE decides where
 * the latency goes. 'hinge': μ · max(0, LAT / T - 1), under the budget anything goes.
 */
export type TargetPenalty = 'two-sided' | 'hinge';

export interface FbnetLossOptions { alpha: number; beta: number; targetMs: number; penalty: number; penaltyMode?: TargetPenalty }

/** CE · α · (log max(LAT, T)_µs)^β + μ · (|LAT / T - 1| or max(0, LAT / T - 1)); `latMs` is differentiable. */
export function fbnetLoss(ce: tf.Scalar, latMs: tf.Scalar, o: FbnetLossOptions): tf.Scalar {
  const latUs = tf.maximum(tf.mul(tf.maximum(latMs, o.targetMs), 1000), Math.E);
  const term = tf.mul(o.alpha, tf.pow(tf.log(latUs), o.beta));
  const rel = tf.sub(tf.div(latMs, o.targetMs), 1);
  const off = (o.penaltyMode ?? 'two-sided') === 'hinge' ? tf.relu(rel) : tf.abs(rel);
  return tf.add(tf.mul(ce, term), tf.mul(o.penalty, off)) as tf.Scalar;
}

export type EvolutionObjective = 'hard' | 'mnas';

/** MnasNet's reward; `hard` scores accuracy alone (the constraint is enforced by rejection). */
export function reward(objective: EvolutionObjective, acc: number, latMs: number, targetMs: number, w = -0.07): number {
  return objective === 'mnas' ? acc * Math.pow(latMs / targetMs, w) : acc;
}
