/**
 * `latnas lut-check`: how well a LUT predicts whole networks. Samples random architectures,
 * builds each whole network with the same builder, times them on the device as the profiler
 * times its fit networks (sentinel-gated shuffled rounds, normalised to the table's sentinel
 * state, same estimator), and compares with the prediction. Every net is timed in two passes,
 * one after the other: their disagreement is the machine's noise floor, reported beside the
 * table's error so a noisy machine is not mistaken for a bad table.
 */
import type { Device } from '../device/device.js';
import { openRuntime } from '../device/runtime.js';
import { buildNetworkModel } from '../onnx/model.js';
import { heavyReference, measureRuns, networkSentinelJob, openSentinel, QUANTILE, timingPlan } from '../profiler/measure.js';
import { archToJson, randomArch } from '../space/arch.js';
import { networkUnits } from '../space/network.js';
import type { Space } from '../space/spaces.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { errorReport, quantile, type ErrorReport } from '../util/stats.js';
import { fitProblem, globalFit } from './fit.js';
import { predict, type Lut } from './lut.js';

export interface CheckOptions {
  device: Device;
  space: Space;
  lut: Lut;
  lutPath: string;
  samples: number;
  seed: number;
  chunk?: number;
  quiet?: boolean;
  rounds?: number;
  runsPerRound?: number;
}

export interface CheckNet {
  blocks: string[];
  predictedMs: number;
  /** Both passes pooled, normalised to the table's sentinel state. */
  measuredMs: number;
  /** The same runs as the clock read them. */
  rawMs: number;
  /** Each pass on its own (normalised). */
  passMs: [number, number];
  errPct: number;
}

export interface CheckResult {
  device: string;
  space: string;
  samples: number;
  seed: number;
  estimator: string;
  calibration: string;
  /** The table's prediction against the measurement (both passes pooled). */
  report: ErrorReport;
  /**
   * The noise floor: the first pass against the second, the same nets timed twice with the same
   * method. A table cannot be checked more finely than this: an error near the floor is the
   * machine's noise, one well above it is the table's.
   */
  floor: ErrorReport;
  /** The same measurements scored without the fit: the raw sum of standalone units, and a global scale + intercept. */
  alternatives: Record<string, ErrorReport>;
  nets: CheckNet[];
  /** How much slower (+) or faster (-) the machine ran now than when the table was made: the sentinel's quiet level against the table's anchor. */
  sentinelDriftPct: number;
  /** Share of visits the sentinel gate accepted (100: a quiet machine). */
  acceptedPct: number;
  seconds: number;
}

/**
 * One line that tells a bad table from a noisy machine: the table's MAPE against the floor's.
 * Within a point of the floor the check cannot see the table's own error.
 */
export function noiseVerdict(tableMapePct: number, floorMapePct: number): string {
  if (!Number.isFinite(tableMapePct) || !Number.isFinite(floorMapePct)) return 'no verdict: a measurement is not finite';
  if (tableMapePct <= floorMapePct + 1) return `the table's error is at the machine's noise floor (${tableMapePct.toFixed(2)}% vs ${floorMapePct.toFixed(2)}%)`;
  return `the table is ${(tableMapePct - floorMapePct).toFixed(2)} points above the noise floor: it no longer fits this machine; profile again (\`latnas profile ... --force\`)`;
}

/** `+1.2%` / `-0.4%`: how the CLI and the agent print a drift. */
export function signedPct(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
}

export async function lutCheck(opts: CheckOptions): Promise<CheckResult> {
  const started = Date.now();
  const { device, space, lut } = opts;
  const rng = new Rng(opts.seed);
  const archs = Array.from({ length: opts.samples }, () => randomArch(space, rng));
  const unitsOf = archs.map((a) => networkUnits(space, a));
  const predicted = unitsOf.map((u) => predict(lut, u, opts.lutPath).totalMs);

  const runtime = await openRuntime(device);
  const plan = timingPlan(device, { rounds: opts.rounds, runsPerRound: opts.runsPerRound });
  const chunk = opts.chunk ?? 32;
  const est = lut.estimator;
  const q = QUANTILE[est];
  // Per pass and net: normalised and raw runs. The second pass starts after the first has
  // finished every net, so the floor sees whatever the machine did in between.
  const runs: Float64Array[][] = [[], []];
  const raw: Float64Array[][] = [[], []];
  let visits = 0, accepted = 0;
  // Every chunk of every pass also times the heavy reference.
  const bar = progress(`lut-check ${device.name}/${space.name}`, 2 * (archs.length + Math.ceil(archs.length / chunk)) * plan.rounds, opts.quiet);
  const timingRng = new Rng(opts.seed + 1);
  const sentinel = await openSentinel(runtime, plan, networkSentinelJob(space));
  const anchorMs = lut.timing.anchorMs ?? sentinel.quiet();
  try {
    for (const pass of [0, 1]) {
      for (let i = 0; i < unitsOf.length; i += chunk) {
        const part = unitsOf.slice(i, i + chunk);
        const jobs = part.map((units) => ({ input: space.input, model: () => buildNetworkModel(units) }));
        const m = await measureRuns(runtime, jobs, plan, timingRng, sentinel, anchorMs, heavyReference(space, lut.timing.heavyAnchorMs, est), (n) => bar.increment(n));
        runs[pass]!.push(...m.normalized);
        raw[pass]!.push(...m.raw);
        visits += m.timing.visits;
        accepted += m.timing.accepted;
      }
    }
  } finally {
    bar.stop();
    await sentinel.session.release();
  }
  const pooled = (r: Float64Array[][], i: number) => quantile(Float64Array.from([...r[0]![i]!, ...r[1]![i]!]), q);
  const measured = archs.map((_, i) => pooled(runs, i));
  const measuredRaw = archs.map((_, i) => pooled(raw, i));
  const passMs = archs.map((_, i) => [quantile(runs[0]![i]!, q), quantile(runs[1]![i]!, q)] as [number, number]);

  // What the fit adds: the same measurements against the standalone sum and a global linear fix.
  const standaloneSum = unitsOf.map((units) => units.reduce((s, u) => s + (u.identity ? 0 : lut.entries[u.key]![est]), 0));
  const problem = fitProblem(lut, space);
  const g = globalFit(problem.nets, problem.standalone);
  const alternatives: Record<string, ErrorReport> = {
    'standalone sum': errorReport(standaloneSum, measured),
    'global a*sum+b': errorReport(standaloneSum.map((t) => g.a * t + g.b), measured),
    'per-unit fit': errorReport(predicted, measured),
    'fit vs unmapped clock': errorReport(predicted, measuredRaw),
  };

  return {
    device: device.name,
    space: space.name,
    samples: opts.samples,
    seed: opts.seed,
    estimator: est,
    calibration: lut.calibration.method,
    report: errorReport(predicted, measured),
    floor: errorReport(passMs.map((p) => p[0]), passMs.map((p) => p[1])),
    alternatives,
    nets: archs.map((a, i) => ({
      blocks: archToJson(space, a).blocks,
      predictedMs: predicted[i]!,
      measuredMs: measured[i]!,
      rawMs: measuredRaw[i]!,
      passMs: passMs[i]!,
      errPct: (100 * (predicted[i]! - measured[i]!)) / measured[i]!,
    })),
    sentinelDriftPct: 100 * (sentinel.quiet() / anchorMs - 1),
    acceptedPct: visits > 0 ? (100 * accepted) / visits : 100,
    seconds: (Date.now() - started) / 1000,
  };
}
