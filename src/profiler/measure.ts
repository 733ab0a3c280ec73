/**
 * The measuring machinery of `latnas profile`, `latnas lut-check`, `latnas export` and the
 * benches: a job is a model to time; `measureJobs` builds, loads, warms up and times a list of
 * them in sentinel-gated rounds (timing.ts), normalised to a sentinel state and mapped by the
 * space's heaviest net (`pinnedMap`); the sentinels and references are the space's own nets.
 */
import pLimit from 'p-limit';
import type { Device } from '../device/device.js';
import type { Runtime, TimedSession } from '../device/runtime.js';
import { buildNetworkModel } from '../onnx/model.js';
import { countMacs, type Shape } from '../space/ir.js';
import { chainExtreme, costChain, unitChain } from '../space/chain.js';
import { networkUnits, type Unit } from '../space/network.js';
import { fail } from '../errors.js';
import { pathBlocks, type Path } from '../space/path.js';
import { BUILTIN_SPACES, type Space } from '../space/spaces.js';
import type { Rng } from '../util/rng.js';
import { quantile, summarize, type Summary } from '../util/stats.js';
import { normalized, Sentinel, timeGated, warmUp, type TimingPlan, type TimingResult, type TimingStats } from './timing.js';

export interface Job {
  input: Shape;
  model: () => Uint8Array;
}

/** The device's timing plan, with `override`'s fields where given (tests and lut-check use smaller plans). */
export function timingPlan(device: Device, override: Partial<TimingPlan> = {}): TimingPlan {
  return {
    rounds: override.rounds ?? device.rounds,
    runsPerRound: override.runsPerRound ?? device.runsPerRound,
    warmup: override.warmup ?? device.warmup,
    gateTolerance: override.gateTolerance ?? device.gateTolerance,
    maxVisitFactor: override.maxVisitFactor ?? device.maxVisitFactor,
  };
}

export interface Measured {
  /** Statistics of each job's runs, normalised to the anchor (and mapped by the heavy net) when there is one. */
  stats: Summary[];
  /** Statistics of the runs as the clock read them. */
  rawStats: Summary[];
  timing: TimingStats;
  /** The sentinel state the stats are normalised to (undefined: not normalised). */
  anchorMs?: number;
  /** The heavy reference's normalised time in this call, before its map (see `pinnedMap`). */
  heavyMs?: number;
}

export const QUANTILE: Record<Device['estimator'], number> = { p10: 0.1, p25: 0.25, median: 0.5 };

/** The space's heaviest net timed beside the jobs, and its time in the table's state (undefined: this call sets it). */
export interface HeavyReference {
  job: Job;
  anchorMs?: number;
  estimator: Device['estimator'];
}

export interface MeasureOptions {
  /** Judges every visit (see timing.ts); without one, every visit counts and nothing is normalised. */
  sentinel?: Sentinel;
  /** Normalise to this sentinel state; 'new': to the sentinel's quiet level at the end of this call. */
  anchorMs?: number | 'new';
  /** With a sentinel and an anchor: also map by the heavy net (`pinnedMap`). */
  heavy?: HeavyReference;
  onAccepted?: (n: number) => void;
}

/**
 * The machine does not change speed uniformly: light nets slow more than heavy ones. Normalising
 * by the sentinel (the space's lightest net) is exact for nets like it and over-corrects heavy
 * ones: measured here, a fresh fbnet-mini table checked 5 minutes later, with the sentinel 36%
 * faster than when the table was made, was off by 5.7% MAPE (35% within ±5%) while the check's
 * own two passes agreed to 0.84%. So the heaviest net is timed too, and normalised times are
 * mapped by the line through (anchor, anchor), the sentinel's own point, and (its time now,
 * its time in the table's state). Only the heavy net's noise enters, and none at the light end.
 * Guards: references closer than 20% of the anchor tell no slope (identity), and the slope is
 * clamped to [2/3, 3/2] (a burst on one net is not drift).
 */
export function pinnedMap(anchorMs: number, heavyNowMs: number, heavyAnchorMs: number): (t: number) => number {
  const spanNow = heavyNowMs - anchorMs;
  const spanThen = heavyAnchorMs - anchorMs;
  if (!(spanNow > 0.2 * anchorMs) || !(spanThen > 0.2 * anchorMs)) return (t) => t;
  const slope = Math.min(1.5, Math.max(2 / 3, spanThen / spanNow));
  return (t) => anchorMs + (t - anchorMs) * slope;
}

/**
 * Builds and loads a chunk's models (bounded concurrency), warms them up, times them in gated
 * rounds (timing.ts), releases them.
 */
export async function measureJobs(runtime: Runtime, jobs: readonly Job[], plan: TimingPlan, rng: Rng, opts: MeasureOptions = {}): Promise<Measured> {
  const { sentinel, anchorMs } = opts;
  if (!sentinel || anchorMs === undefined) {
    const t = await timeJobs(runtime, jobs, plan, rng, sentinel, opts.onAccepted);
    const rawStats = t.samples.map((x) => summarize(x));
    return { stats: rawStats, rawStats, timing: t.stats };
  }
  const m = await measureRuns(runtime, jobs, plan, rng, sentinel, anchorMs, opts.heavy, opts.onAccepted);
  return { stats: m.normalized.map((x) => summarize(x)), rawStats: m.raw.map((x) => summarize(x)), timing: m.timing, anchorMs: m.anchorMs, heavyMs: m.heavyMs };
}

/**
 * As measureJobs with a sentinel, but the runs themselves (normalised and mapped, and raw):
 * lut-check pools two passes. The heavy reference, if any, is timed first and dropped.
 */
export async function measureRuns(
  runtime: Runtime, jobs: readonly Job[], plan: TimingPlan, rng: Rng, sentinel: Sentinel, anchor: number | 'new', heavy: HeavyReference | undefined,
  onAccepted?: (n: number) => void,
): Promise<{ normalized: Float64Array[]; raw: Float64Array[]; timing: TimingStats; anchorMs: number; heavyMs?: number }> {
  const t = await timeJobs(runtime, heavy ? [heavy.job, ...jobs] : jobs, plan, rng, sentinel, onAccepted);
  const anchorMs = anchor === 'new' ? t.stats.sentinelQuietMs : anchor;
  const runs = normalized(t, anchorMs);
  const raw = t.samples.slice(heavy ? 1 : 0);
  if (!heavy) return { normalized: runs, raw, timing: t.stats, anchorMs };
  const heavyMs = quantile(runs[0]!, QUANTILE[heavy.estimator]);
  const map = pinnedMap(anchorMs, heavyMs, heavy.anchorMs ?? heavyMs);
  return { normalized: runs.slice(1).map((x) => x.map(map)), raw, timing: t.stats, anchorMs, heavyMs };
}

async function timeJobs(runtime: Runtime, jobs: readonly Job[], plan: TimingPlan, rng: Rng, sentinel?: Sentinel, onAccepted?: (n: number) => void): Promise<TimingResult> {
  const limit = pLimit(2);
  const sessions: TimedSession[] = await Promise.all(jobs.map((j) => limit(() => runtime.createSession(j.model(), j.input))));
  try {
    for (const s of sessions) await warmUp(s, plan.warmup);
    return await timeGated(sessions, sentinel, plan, rng, onAccepted);
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/**
 * The sentinels. Network timing is judged and normalised by the space's own lightest net
 * (`referenceArchs(space)[0]`): measured on 40 fbnet nets timed twice under load, normalising by
 * fbnet-mini's tiny net made the two passes disagree more (13.6% MAPE, raw 6.3%): after a 224x224
 * net its time says more about its own cold caches than about the machine; by fbnet's lightest
 * net, 2.4%. Standalone units (a prior for the fit, never normalised) are gated by the tiny net,
 * cheap beside any unit (~0.09 ms on onnxruntime-node, one thread).
 */
export function networkSentinelJob(space: Space): Job {
  return networkJob(space, referenceArchs(space)[0]!);
}

export function unitSentinelJob(): Job {
  return networkSentinelJob(BUILTIN_SPACES['fbnet-mini']!);
}

/** The heavy reference of network timing: the space's heaviest net (`referenceArchs(space)[1]`), see `pinnedMap`. */
export function heavyReference(space: Space, anchorMs: number | undefined, estimator: Device['estimator']): HeavyReference {
  return { job: networkJob(space, referenceArchs(space)[1]!), anchorMs, estimator };
}

/** Opens a sentinel on a runtime, warmed up and primed with a quiet level. Release its session when done. */
export async function openSentinel(runtime: Runtime, plan: TimingPlan, job: Job): Promise<Sentinel> {
  const session = await runtime.createSession(job.model(), job.input);
  await warmUp(session, plan.warmup);
  const sentinel = new Sentinel(session);
  await sentinel.prime(50);
  return sentinel;
}

/**
 * The reference networks of a space: per layer the inverted-residual candidate with the fewest,
 * then the most MACs. Skips are left out: an all-skip net is a stem and a head, unlike any net a
 * search keeps.
 */
export function referenceArchs(space: Space): number[][] {
  const macs = (u: Unit) => (u.kind === 'block' && u.op.startsWith('skip') ? Number.NaN : countMacs(u.layers, u.input));
  const chain = costChain(unitChain(space), macs);
  return (['min', 'max'] as const).map((goal) => {
    const found = chainExtreme(chain, goal);
    if (!found) fail(`space '${space.name}' has a layer with no inverted-residual candidate: no reference network to fit the table's overhead with`);
    return found.path;
  });
}

/** A whole network of the space (one candidate index per searchable layer) as a job. */
export function networkJob(space: Space, arch: Path): Job {
  return { input: space.input, model: () => buildNetworkModel(networkUnits(space, pathBlocks(space, arch))) };
}
