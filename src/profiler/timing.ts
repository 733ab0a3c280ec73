/**
 * Timing that holds on a noisy shared machine.
 *
 * - Every model is timed in each of several rounds, in a fresh shuffled order per round, and
 *   samples are pooled: a burst of load hits a few samples of many models rather than all samples
 *   of one, and a low quantile (the device's estimator) discards it.
 * - Where whole networks are timed, a reference network is timed in every round too. Whole runs drift (measured here: the same 30
 *   fbnet nets ran 4.5% faster in a second run; after removing that one ratio they agreed to 1.7%).
 *   A chunk's samples are scaled by anchor / (reference's median over the chunk), so every
 *   figure is in the speed state of the anchor, which the LUT records. Tables and checks made at
 *   different moments then compare like with like. Single units are not scaled: a small network's
 *   time depends on what ran before it (cache state): measured here, the same 0.09 ms reference
 *   ran 0.16 ms interleaved with single-unit models. Whole networks are only scaled against
 *   whole-network rounds.
 * - Each model's turn in a round starts with one untimed run. The first run after switching models
 *   is cold (measured on mbv3-mini: 0.36 ms, then 0.31 ms steady); with a few runs per round those
 *   cold runs were 20-33% of the samples and made low quantiles jump between cold and warm.
 * - Timed runs never overlap: one await at a time.
 */
import type { TimedSession } from '../device/runtime.js';
import type { Rng } from '../util/rng.js';
import { quantile } from '../util/stats.js';

export interface TimingPlan {
  rounds: number;
  runsPerRound: number;
  warmup: number;
}

export async function warmUp(session: TimedSession, runs: number): Promise<void> {
  for (let i = 0; i < runs; i++) await session.timeOnce();
}

export interface TimingResult {
  /** Each session's samples (ms), in input order, scaled to the anchor's speed state. */
  samples: Float64Array[];
  /** The same samples unscaled, as the clock read them. */
  raw: Float64Array[];
  /** The reference's median per round (ms, unscaled). */
  referenceRounds: number[];
  /** The anchor used: the caller's, or the median of `referenceRounds`. */
  anchorMs: number;
}

/**
 * Times `sessions` interleaved, with `reference` if given; see the module comment. Without a
 * reference, samples are returned as measured.
 */
export async function timeInterleaved(
  sessions: readonly TimedSession[],
  reference: TimedSession | undefined,
  plan: TimingPlan,
  rng: Rng,
  anchorMs?: number,
  onRound?: (round: number) => void,
): Promise<TimingResult> {
  const samples = sessions.map(() => new Float64Array(plan.rounds * plan.runsPerRound));
  const refRound = new Float64Array(plan.runsPerRound);
  const referenceRounds: number[] = [];
  // Index -1 stands for the reference, shuffled in with the others.
  const order = [...(reference ? [-1] : []), ...sessions.map((_, i) => i)];
  for (let r = 0; r < plan.rounds; r++) {
    rng.shuffle(order);
    const base = r * plan.runsPerRound;
    for (const i of order) {
      if (i < 0) {
        await reference!.timeOnce();
        for (let k = 0; k < plan.runsPerRound; k++) refRound[k] = await reference!.timeOnce();
        referenceRounds.push(quantile(refRound, 0.5));
        continue;
      }
      const s = sessions[i]!;
      const out = samples[i]!;
      await s.timeOnce();
      for (let k = 0; k < plan.runsPerRound; k++) out[base + k] = await s.timeOnce();
    }
    onRound?.(r);
  }
  const raw = samples.map((x) => x.slice());
  if (!reference) return { samples, raw, referenceRounds, anchorMs: 0 };
  // One factor per call (a chunk), not per round: a round's reference median is too jittery for
  // sub-millisecond networks, while drift is slow (minutes).
  const chunkRef = quantile(referenceRounds, 0.5);
  const anchor = anchorMs ?? chunkRef;
  const f = anchor / chunkRef;
  for (const out of samples) for (let k = 0; k < out.length; k++) out[k]! *= f;
  return { samples, raw, referenceRounds, anchorMs: anchor };
}
