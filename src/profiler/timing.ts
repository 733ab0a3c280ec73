/**
 * Timing that holds on a noisy shared machine.
 *
 * What the machine does (2 vCPU cloud VMs of this project's kind, 2026-12-01): a fixed net timed
 * back to back runs steady for 10-15 s, then 40-60% slower for 2-5 s (Intel Xeon); with another
 * process busy on the second core, 50-90% slower for stretches of 20 s (AMD EPYC). Light nets slow
 * more than heavy ones. Chunks of models timed within a second or two, or a drift map fitted to
 * two references timed in the same chunk, bake whatever state the machine was in into the table:
 * fresh tables scored 23-82% within ±5% a few minutes later.
 *
 * So every visit to a model is judged by a sentinel net timed right before and right after it
 * (for networks the space's own lightest net, for single units a tiny one: see profile.ts):
 *
 * - **Gate.** A visit counts only when both sentinel samples are within `gateTolerance` of the
 *   sentinel's level (the median of its samples over the last `QUIET_WINDOW_S` seconds). A
 *   rejected visit is taken again later, in another round, until every model has `rounds`
 *   accepted visits or `maxVisitFactor` x `rounds` visits. The gate takes out bursts shorter than
 *   the window; the median rather than a low quantile keeps a machine under sustained load
 *   measurable at all (measured on 40 fbnet nets, two passes, the second core busy: a p10 level
 *   accepted 14-20% of visits, the median 68-70%) and leaves that load to the normalisation.
 * - **Normalisation.** `normalized` scales each accepted run by anchor / (mean of the two
 *   sentinel samples around its visit), so what is left of the machine's state inside the gate,
 *   and the slow drift between a profile and a check minutes later, cancel. Same fbnet data:
 *   pass-to-pass MAPE 6.3% raw, 2.4% normalised, 1.7% gated and normalised; 100 fbnet-mini nets
 *   with the second core loaded (the tiny net is that space's lightest): 2.6-15.4% raw, 1.1-3.3%.
 * - Every model is visited in a fresh shuffled order per round, so a burst hits a few visits of
 *   many models rather than all visits of one; the device's low quantile of the pooled runs is
 *   the estimate.
 * - Each visit starts with one untimed run: the first run after switching models is cold
 *   (measured on mbv3-mini: 0.36 ms, then 0.31 ms steady).
 * - Timed runs never overlap: one await at a time.
 */
import type { TimedSession } from '../device/runtime.js';
import type { Rng } from '../util/rng.js';
import { quantile } from '../util/stats.js';

export interface TimingPlan {
  /** Accepted visits per model. */
  rounds: number;
  runsPerRound: number;
  warmup: number;
  /** A visit counts when the sentinel around it is within this fraction of its quiet level; 0 = no gate. */
  gateTolerance: number;
  /** Visits per model in all (accepted or not) are capped at this multiple of `rounds`. */
  maxVisitFactor: number;
}

export async function warmUp(session: TimedSession, runs: number): Promise<void> {
  for (let i = 0; i < runs; i++) await session.timeOnce();
}

/** Seconds of sentinel history whose median is its level: longer than a burst (2-5 s), short enough to follow slow drift. */
export const QUIET_WINDOW_S = 10;

/**
 * The sentinel: one tiny model timed between visits. After another model its runs are cold for a
 * while, and for longer the bigger that model was: measured after fbnet (224x224) nets, its p50
 * ran 0.38, 0.19, 0.13, 0.11, 0.105, 0.102, 0.100 ms over its first runs, against 0.089 ms back to
 * back; after fbnet-mini nets the second run is already warm. So a sample runs it until a run is
 * no longer 2% faster than the one before (at most `MAX_SENTINEL_RUNS`) and keeps the fastest:
 * 3 runs (~0.3 ms) after small nets, 6-8 after large ones.
 */
export const MAX_SENTINEL_RUNS = 10;

export class Sentinel {
  private times: number[] = [];
  private values: number[] = [];
  private quietMs = Number.NaN;
  private sinceUpdate = 0;

  /** `clock` in seconds (tests drive a simulated machine with their own). */
  constructor(readonly session: TimedSession, private readonly clock = () => performance.now() / 1000, private readonly windowS = QUIET_WINDOW_S) {}

  async sample(): Promise<number> {
    await this.session.timeOnce();
    let ms = await this.session.timeOnce();
    for (let k = 2; k < MAX_SENTINEL_RUNS; k++) {
      const t = await this.session.timeOnce();
      const settled = t > 0.98 * ms;
      ms = Math.min(ms, t);
      if (settled) break;
    }
    const now = this.clock();
    this.times.push(now);
    this.values.push(ms);
    if (++this.sinceUpdate >= 32 || Number.isNaN(this.quietMs)) this.update(now);
    return ms;
  }

  /** Takes `n` samples back to back (start-up: a quiet level before the first visit). */
  async prime(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.sample();
    this.update(this.clock());
  }

  private update(now: number): void {
    let first = 0;
    while (first < this.times.length - 64 && this.times[first]! < now - this.windowS) first++;
    if (first > 0) {
      this.times.splice(0, first);
      this.values.splice(0, first);
    }
    this.quietMs = quantile(this.values, 0.5);
    this.sinceUpdate = 0;
  }

  /** The sentinel's level now (ms): the median over the window. */
  quiet(): number {
    return this.quietMs;
  }
}

export interface TimingStats {
  visits: number;
  accepted: number;
  /** Models that reached the visit cap with fewer than `rounds` accepted visits (topped up with their quietest rejected ones). */
  unsettled: number;
  /** The sentinel's quiet level at the end (ms). */
  sentinelQuietMs: number;
}

export interface TimingResult {
  /** Each session's runs (ms) from accepted visits, as the clock read them. */
  samples: Float64Array[];
  /** Per run, the mean of the sentinel samples around its visit (ms; NaN without a sentinel). */
  sentinelMs: Float64Array[];
  stats: TimingStats;
}

/** Runs scaled to the sentinel state `anchorMs` (see the module comment). */
export function normalized(t: TimingResult, anchorMs: number): Float64Array[] {
  return t.samples.map((x, i) => x.map((ms, k) => ms * (anchorMs / t.sentinelMs[i]![k]!)));
}

/** Times `sessions` in shuffled rounds of visits, each judged by the sentinel (see the module comment). */
export async function timeGated(
  sessions: readonly TimedSession[],
  sentinel: Sentinel | undefined,
  plan: TimingPlan,
  rng: Rng,
  onAccepted?: (n: number) => void,
): Promise<TimingResult> {
  const n = sessions.length;
  const samples: number[][] = sessions.map(() => []);
  const around: number[][] = sessions.map(() => []);
  const accepted = new Int32Array(n);
  const visits = new Int32Array(n);
  const gate = sentinel && plan.gateTolerance > 0 ? plan.gateTolerance : undefined;
  const cap = Math.max(plan.rounds, Math.ceil(plan.rounds * plan.maxVisitFactor));
  // Rejected visits are kept: a model that reaches the cap is topped up with its quietest ones
  // (lowest sentinel around them), so every model has `rounds` visits and `unsettled` says which.
  const rejected: { runs: number[]; local: number; worst: number }[][] = sessions.map(() => []);
  let before = sentinel ? await sentinel.sample() : Number.NaN;
  let total = 0;
  let totalAccepted = 0;
  const keep = (i: number, runs: readonly number[], local: number) => {
    for (const r of runs) {
      samples[i]!.push(r);
      around[i]!.push(local);
    }
  };
  for (;;) {
    const order = [...Array(n).keys()].filter((i) => accepted[i]! < plan.rounds && visits[i]! < cap);
    if (order.length === 0) break;
    rng.shuffle(order);
    let roundAccepted = 0;
    for (const i of order) {
      const s = sessions[i]!;
      await s.timeOnce();
      const runs: number[] = [];
      for (let k = 0; k < plan.runsPerRound; k++) runs.push(await s.timeOnce());
      visits[i]!++;
      total++;
      let ok = true;
      let local = Number.NaN;
      let worst = Number.NaN;
      if (sentinel) {
        const after = await sentinel.sample();
        const limit = sentinel.quiet() * (1 + (gate ?? Infinity));
        ok = before <= limit && after <= limit;
        local = (before + after) / 2;
        worst = Math.max(before, after) / sentinel.quiet();
        before = after;
      }
      if (!ok) {
        rejected[i]!.push({ runs, local, worst });
        continue;
      }
      accepted[i]!++;
      roundAccepted++;
      keep(i, runs, local);
    }
    totalAccepted += roundAccepted;
    if (roundAccepted > 0) onAccepted?.(roundAccepted);
  }
  let unsettled = 0;
  for (let i = 0; i < n; i++) {
    if (accepted[i]! >= plan.rounds) continue;
    unsettled++;
    const fill = rejected[i]!.sort((a, b) => a.worst - b.worst).slice(0, plan.rounds - accepted[i]!);
    for (const v of fill) keep(i, v.runs, v.local);
    onAccepted?.(fill.length);
  }
  return {
    samples: samples.map((x) => Float64Array.from(x)),
    sentinelMs: around.map((x) => Float64Array.from(x)),
    stats: { visits: total, accepted: totalAccepted, unsettled, sentinelQuietMs: sentinel?.quiet() ?? Number.NaN },
  };
}
