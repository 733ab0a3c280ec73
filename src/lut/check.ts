/**
 * `latnas lut-check`: how well a LUT predicts whole networks. Samples random architectures,
 * builds each whole network with the same builder, times them on the device as the profiler
 * times units (interleaved shuffled rounds, same estimator), and compares with the prediction.
 */
import type { Device } from '../device/device.js';
import { openRuntime } from '../device/runtime.js';
import { buildNetworkModel } from '../onnx/model.js';
import { measureJobs } from '../profiler/profile.js';
import { archToJson, randomArch } from '../space/arch.js';
import { networkUnits } from '../space/network.js';
import type { Space } from '../space/spaces.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { errorReport, type ErrorReport } from '../util/stats.js';
import { CALIBRATION_METHODS, calibrationFor, overheadFor, predict, type CalibrationMethod, type Lut } from './lut.js';

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
  errPct: number;
}

export interface CheckResult {
  device: string;
  space: string;
  samples: number;
  seed: number;
  estimator: string;
  calibration: CalibrationMethod;
  report: ErrorReport;
  /** The same measurements scored under every calibration method and estimator the LUT's raw data allows. */
  alternatives: Record<string, ErrorReport>;
  nets: CheckNet[];
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
  const plan = { rounds: opts.rounds ?? device.rounds, runsPerRound: opts.runsPerRound ?? device.runsPerRound, warmup: device.warmup };
  const chunk = opts.chunk ?? 20;
  const measuredStats = [];
  const bar = progress(`lut-check ${device.name}/${space.name}`, archs.length * plan.rounds, opts.quiet);
  const timingRng = new Rng(opts.seed + 1);
  try {
    for (let i = 0; i < unitsOf.length; i += chunk) {
      const part = unitsOf.slice(i, i + chunk);
      const jobs = part.map((units) => ({ id: '', input: space.input, model: () => buildNetworkModel(units) }));
      measuredStats.push(...await measureJobs(runtime, jobs, plan, timingRng, () => bar.increment(part.length)));
    }
  } finally {
    bar.stop();
  }
  const measured = measuredStats.map((s) => s[lut.estimator]);

  const alternatives: Record<string, ErrorReport> = {};
  for (const est of ['p10', 'median'] as const) {
    for (const method of CALIBRATION_METHODS) {
      const preds = unitsOf.map((units) => {
        let total = overheadFor(method, space.input, lut.calibration.models, est);
        for (const u of units) {
          if (u.identity) continue;
          const e = lut.entries[u.key]!;
          total += Math.max(0, e[est] - calibrationFor(method, u, lut.calibration.models, est));
        }
        return total;
      });
      alternatives[`${method}/${est}`] = errorReport(preds, measuredStats.map((s) => s[est]));
    }
  }

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
      errPct: (100 * (predicted[i]! - measured[i]!)) / measured[i]!,
    })),
    seconds: (Date.now() - started) / 1000,
  };
}
