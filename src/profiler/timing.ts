/**
 * Timing that holds on a noisy shared machine.
 *
 * - Every model is timed in each of several rounds, in a fresh shuffled order per round, and
 *   samples are pooled: a burst of load hits a few samples of many models rather than all samples
 *   of one, and a low quantile (the device's estimator) discards it.
 * - Where whole networks are timed, a reference network is timed in every round too. Whole runs drift (measured here: the same 30
 *   fbnet nets ran 4.5% faster in a second run; after removing that one ratio they agreed to 1.7%).
 *   A chunk's samples are scaled by anchor / (reference's estimator over the chunk), so every
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

export interface TimingPlan {
  rounds: number;
  runsPerRound: number;
  warmup: number;
}

export async function warmUp(session: TimedSession, runs: number): Promise<void> {
  for (let i = 0; i < runs; i++) await session.timeOnce();
}

export interface TimingResult {
  /** Each session's samples (ms), in input order, as the clock read them. */
  samples: Float64Array[];
  /** The reference's samples (ms), empty without a reference. */
  reference: Float64Array;
}

/**
 * Times `sessions` interleaved, with `reference` if given (see the module comment; the caller
 * scales by it, with its own estimator).
 */
export async function timeInterleaved(
  sessions: readonly TimedSession[],
  reference: TimedSession | undefined,
  plan: TimingPlan,
  rng: Rng,
  onRound?: (round: number) => void,
): Promise<TimingResult> {
  const samples = sessions.map(() => new Float64Array(plan.rounds * plan.runsPerRound));
  const refSamples = new Float64Array(reference ? plan.rounds * plan.runsPerRound : 0);
  // Index -1 stands for the reference, shuffled in with the others.
  const order = [...(reference ? [-1] : []), ...sessions.map((_, i) => i)];
  for (let r = 0; r < plan.rounds; r++) {
    rng.shuffle(order);
    const base = r * plan.runsPerRound;
    for (const i of order) {
      const s = i < 0 ? reference! : sessions[i]!;
      const out = i < 0 ? refSamples : samples[i]!;
      await s.timeOnce();
      for (let k = 0; k < plan.runsPerRound; k++) out[base + k] = await s.timeOnce();
    }
    onRound?.(r);
  }
  return { samples, reference: refSamples };
}
