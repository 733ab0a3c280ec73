/**
 * Timing that holds on a noisy shared machine.
 *
 * - Every model is timed in each of several rounds, in a fresh shuffled order per round, and
 *   samples are pooled: a burst of load hits a few samples of many models rather than all samples
 *   of one, and a low quantile (the device's estimator) discards it.
 * - Where whole networks are timed, two reference networks (the space's lightest and heaviest)
 *   are timed in every round too. Whole runs drift (measured here: the same 30 fbnet nets ran 4.5%
 *   faster in a second run; after removing that one ratio they agreed to 1.7%), and not by one
 *   ratio: in one check light nets had slowed 3.5% more than heavy ones. A chunk's samples are
 *   mapped by the affine function that takes the references' times now to their anchors (see
 *   `driftMap`), so every figure is in the speed state the LUT records, and tables and checks made
 *   at different moments compare like with like. Single units are not mapped: a small network's
 *   time depends on what ran before it (cache state): measured here, the same 0.09 ms reference
 *   ran 0.16 ms interleaved with single-unit models. Networks are only mapped against
 *   network rounds.
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
  /** Each reference's samples (ms). */
  references: Float64Array[];
}

/**
 * Times `sessions` interleaved with `references` (see the module comment; the caller corrects
 * drift with them, with its own estimator).
 */
export async function timeInterleaved(
  sessions: readonly TimedSession[],
  references: readonly TimedSession[],
  plan: TimingPlan,
  rng: Rng,
  onRound?: (round: number) => void,
): Promise<TimingResult> {
  const all = [...references, ...sessions];
  const samples = all.map(() => new Float64Array(plan.rounds * plan.runsPerRound));
  const order = all.map((_, i) => i);
  for (let r = 0; r < plan.rounds; r++) {
    rng.shuffle(order);
    const base = r * plan.runsPerRound;
    for (const i of order) {
      const s = all[i]!;
      const out = samples[i]!;
      await s.timeOnce();
      for (let k = 0; k < plan.runsPerRound; k++) out[base + k] = await s.timeOnce();
    }
    onRound?.(r);
  }
  return { samples: samples.slice(references.length), references: samples.slice(0, references.length) };
}

/**
 * The affine map taking the references' times `now` (light, heavy) to `anchors`. Where the two
 * references are too close to tell a slope (tiny spaces), or noise makes the line implausible
 * (a slope <= 0, or a net a quarter of the light reference's time mapped to <= 0: a load burst
 * on one reference can do that, and then small nets came out negative), a ratio of their sums.
 */
export function driftMap(now: readonly number[], anchors: readonly number[]): (t: number) => number {
  const [nl, nh] = now as [number, number];
  const [al, ah] = anchors as [number, number];
  const f = (al + ah) / (nl + nh);
  const ratio = (t: number) => t * f;
  if (Math.abs(nh - nl) < 0.2 * Math.max(nh, nl)) return ratio;
  const slope = (ah - al) / (nh - nl);
  const affine = (t: number) => al + (t - nl) * slope;
  if (!(slope > 0) || affine(nl / 4) <= 0) return ratio;
  return affine;
}
