/**
 * Timing that holds on a noisy shared machine: every model is timed in each of several rounds,
 * in a fresh shuffled order per round, and samples are pooled across rounds. A burst of load then
 * hits a few samples of many models rather than all samples of one; a low quantile of the pool
 * (the device's estimator) discards it. Timed runs never overlap: one await at a time.
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

/**
 * Times `sessions` interleaved; returns each session's samples (ms), in input order.
 * `onRound` is called after each round (for progress).
 */
export async function timeInterleaved(
  sessions: readonly TimedSession[],
  plan: TimingPlan,
  rng: Rng,
  onRound?: (round: number) => void,
): Promise<Float64Array[]> {
  const samples = sessions.map(() => new Float64Array(plan.rounds * plan.runsPerRound));
  const order = sessions.map((_, i) => i);
  for (let r = 0; r < plan.rounds; r++) {
    rng.shuffle(order);
    for (const i of order) {
      const s = sessions[i]!;
      const out = samples[i]!;
      const base = r * plan.runsPerRound;
      for (let k = 0; k < plan.runsPerRound; k++) out[base + k] = await s.timeOnce();
    }
    onRound?.(r);
  }
  return samples;
}
