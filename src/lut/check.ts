/**
 * `latnas lut-check`: how well a LUT predicts whole networks. Samples random architectures,
 * builds each whole network with the same builder, times them on the device as the profiler
 * times units (interleaved shuffled rounds, same estimator), and compares with the prediction.
 */
import type { Device } from '../device/device.js';
import { openRuntime } from '../device/runtime.js';
import { buildNetworkModel } from '../onnx/model.js';
import { fitProblem, measureJobs, networkJob, timingPlan } from '../profiler/profile.js';
import { archToJson, randomArch } from '../space/arch.js';
import { networkUnits } from '../space/network.js';
import type { Space } from '../space/spaces.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { errorReport, type ErrorReport } from '../util/stats.js';
import { globalFit } from './fit.js';
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
  measuredMs: number;
  /** Unscaled by the reference network. */
  rawMs: number;
  errPct: number;
}

export interface CheckResult {
  device: string;
  space: string;
  samples: number;
  seed: number;
  estimator: string;
  calibration: string;
  report: ErrorReport;
  /** The same measurements scored without the fit: the raw sum of standalone units, and a global scale + intercept. */
  alternatives: Record<string, ErrorReport>;
  nets: CheckNet[];
  /** How much slower (+) or faster (-) each reference network (light, heavy) ran now than when the table was made. */
  referenceDriftPct: number[];
  seconds: number;
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
  const measuredStats = [];
  const rawStats = [];
  const referenceMs: number[][] = [];
  const bar = progress(`lut-check ${device.name}/${space.name}`, archs.length * plan.rounds, opts.quiet);
  const timingRng = new Rng(opts.seed + 1);
  try {
    for (let i = 0; i < unitsOf.length; i += chunk) {
      const part = unitsOf.slice(i, i + chunk);
      const jobs = part.map((units) => ({ input: space.input, model: () => buildNetworkModel(units) }));
      const m = await measureJobs(runtime, jobs, lut.reference.archs.map((a) => networkJob(space, a)), plan, lut.estimator, timingRng, lut.reference.anchorMs, () => bar.increment(part.length));
      measuredStats.push(...m.stats);
      rawStats.push(...m.rawStats);
      referenceMs.push(m.referenceMs);
    }
  } finally {
    bar.stop();
  }
  const measured = measuredStats.map((s) => s[lut.estimator]);
  const measuredRaw = rawStats.map((s) => s[lut.estimator]);

  // What the fit adds: the same measurements against the standalone sum and a global linear fix.
  const est = lut.estimator;
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
    estimator: lut.estimator,
    calibration: lut.calibration.method,
    report: errorReport(predicted, measured),
    alternatives,
    nets: archs.map((a, i) => ({
      blocks: archToJson(space, a).blocks,
      predictedMs: predicted[i]!,
      measuredMs: measured[i]!,
      rawMs: measuredRaw[i]!,
      errPct: (100 * (predicted[i]! - measured[i]!)) / measured[i]!,
    })),
    referenceDriftPct: lut.reference.anchorMs.map((anchor, j) => 100 * (referenceMs.reduce((s, r) => s + r[j]!, 0) / referenceMs.length / anchor - 1)),
    seconds: (Date.now() - started) / 1000,
  };
}
