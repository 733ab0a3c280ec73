/**
 * `latnas profile`: times every distinct unit of a space on a device and writes its LUT.
 *
 * Work goes in chunks: each chunk's models are built, loaded, warmed up and timed in interleaved
 * shuffled rounds, then the table is rewritten atomically with the chunk's entries. A killed run
 * loses at most one chunk; `--resume` re-measures nothing already written.
 */
import { cpus, platform, release } from 'node:os';
import pLimit from 'p-limit';
import type { Device } from '../device/device.js';
import { openRuntime, type Runtime, type TimedSession } from '../device/runtime.js';
import { fail } from '../errors.js';
import { calibrationFor, LUT_SCHEMA_VERSION, overheadFor, shapeTuple, spaceFingerprint, loadLut, type CalibrationMethod, type Lut } from '../lut/lut.js';
import { buildModel, buildUnitModel } from '../onnx/model.js';
import { LATNAS_VERSION } from '../paths.js';
import { shapeKey, type Layer, type Shape } from '../space/ir.js';
import { spaceUnits, type Unit } from '../space/network.js';
import type { Space } from '../space/spaces.js';
import { writeJsonAtomic } from '../util/files.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { summarize, type Summary } from '../util/stats.js';
import { timeInterleaved, warmUp, type TimingPlan } from './timing.js';
import { existsSync } from 'node:fs';

/**
 * The calibration chosen from measurements (see README, "Calibration"): ORT wraps each
 * single-unit model in NCHWc layout reorders and pays a per-run overhead that a whole network pays
 * once. A 1x1 depthwise conv gets the same reorders at a given shape; half of its time at the unit's
 * input plus half at its output stands for what a standalone unit pays on top of its work.
 */
export const DEFAULT_CALIBRATION: CalibrationMethod = 'inout';

const CALIBRATION_DESCRIPTIONS: Record<CalibrationMethod, string> = {
  none: 'raw estimator of each single-unit model; no correction',
  in: 'minus a 1x1 depthwise conv model at the unit input shape; plus one at the network input',
  inout: 'minus the mean of 1x1 depthwise conv models at the unit input and output shapes; plus one at the network input',
};

/** A model that pays what any standalone model pays at `shape`, and does almost no work. */
export function calibrationLayers(shape: Shape): Layer[] {
  return [{ op: 'conv', name: 'calibration', cout: shape.c, k: 1, stride: 1, groups: shape.c, bn: true, act: 'none' }];
}

export function calibrationShapes(space: Space, units: readonly Unit[]): Shape[] {
  const byKey = new Map<string, Shape>([[shapeKey(space.input), space.input]]);
  for (const u of units) {
    byKey.set(shapeKey(u.input), u.input);
    byKey.set(shapeKey(u.output), u.output);
  }
  return [...byKey.values()];
}

export interface ProfileOptions {
  device: Device;
  space: Space;
  out: string;
  resume: boolean;
  force?: boolean;
  chunk?: number;
  seed?: number;
  quiet?: boolean;
  /** Overrides the device's timing plan (tests use tiny plans). */
  plan?: Partial<TimingPlan>;
  /** Stop after this many chunks (tests simulate an interrupted run). */
  maxChunks?: number;
}

export interface ProfileResult {
  lut: Lut;
  measured: number;
  skipped: number;
  seconds: number;
}

interface Job {
  id: string;
  input: Shape;
  model: () => Uint8Array;
}

function provenance(device: Device, runtime: Runtime, created: string, seconds: number): Lut['provenance'] {
  const cpu = cpus();
  return {
    runtime: runtime.name,
    runtimeVersion: runtime.version,
    executionProvider: device.executionProvider,
    threads: device.threads,
    graphOptimizationLevel: device.graphOptimizationLevel,
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cpuCount: cpu.length,
    os: `${platform()} ${release()}`,
    node: process.version,
    latnasVersion: LATNAS_VERSION,
    created,
    updated: new Date().toISOString(),
    profileSeconds: Math.round(seconds * 10) / 10,
  };
}

/** Builds, loads and warms up a chunk's models (bounded concurrency), times them, releases them. */
export async function measureJobs(runtime: Runtime, jobs: readonly Job[], plan: TimingPlan, rng: Rng, onRound?: () => void): Promise<Summary[]> {
  const limit = pLimit(2);
  const sessions: TimedSession[] = await Promise.all(jobs.map((j) => limit(() => runtime.createSession(j.model(), j.input))));
  try {
    for (const s of sessions) await warmUp(s, plan.warmup);
    const samples = await timeInterleaved(sessions, plan, rng, onRound);
    return samples.map((s) => summarize(s));
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

export async function profile(opts: ProfileOptions): Promise<ProfileResult> {
  const { device, space, out } = opts;
  const started = Date.now();
  const plan: TimingPlan = {
    rounds: opts.plan?.rounds ?? device.rounds,
    runsPerRound: opts.plan?.runsPerRound ?? device.runsPerRound,
    warmup: opts.plan?.warmup ?? device.warmup,
  };
  const runtime = await openRuntime(device);
  const units = spaceUnits(space).filter((u) => !u.identity);
  const method = DEFAULT_CALIBRATION;
  const est = device.estimator;

  let lut: Lut;
  let priorSeconds = 0;
  if (existsSync(out) && opts.resume) {
    lut = loadLut(out, { device: device.name, space, allowIncomplete: true });
    if (lut.estimator !== est || lut.calibration.method !== method) {
      fail(`LUT file '${out}' was made with estimator '${lut.estimator}' and calibration '${lut.calibration.method}', this run uses '${est}' and '${method}'; profile into a new file or pass --force`);
    }
    priorSeconds = lut.provenance.profileSeconds;
  } else {
    if (existsSync(out) && !opts.force) {
      fail(`LUT file '${out}' already exists; pass --resume to finish or keep it, or --force to profile again from scratch`);
    }
    lut = {
      format: 'latnas-lut',
      schemaVersion: LUT_SCHEMA_VERSION,
      device: device.name,
      space: space.name,
      spaceFingerprint: spaceFingerprint(space),
      complete: false,
      provenance: provenance(device, runtime, new Date().toISOString(), 0),
      estimator: est,
      calibration: { method, description: CALIBRATION_DESCRIPTIONS[method], overheadMs: 0, models: {} },
      entries: {},
    };
  }
  const created = lut.provenance.created;
  const save = () => {
    lut.provenance = provenance(device, runtime, created, priorSeconds + (Date.now() - started) / 1000);
    writeJsonAtomic(out, lut);
  };

  const calibJobs: Job[] = calibrationShapes(space, units)
    .filter((s) => !lut.calibration.models[shapeKey(s)])
    .map((s) => ({ id: shapeKey(s), input: s, model: () => buildModel(calibrationLayers(s), s) }));
  const todo = units.filter((u) => !lut.entries[u.key]);
  const skipped = units.length - todo.length;
  const chunkSize = opts.chunk ?? 24;
  const chunks: { kind: 'calibration' | 'units'; jobs: Job[]; units: Unit[] }[] = [];
  for (let i = 0; i < calibJobs.length; i += chunkSize) chunks.push({ kind: 'calibration', jobs: calibJobs.slice(i, i + chunkSize), units: [] });
  for (let i = 0; i < todo.length; i += chunkSize) {
    const part = todo.slice(i, i + chunkSize);
    chunks.push({ kind: 'units', units: part, jobs: part.map((u) => ({ id: u.key, input: u.input, model: () => buildUnitModel(u) })) });
  }
  if (skipped > 0 && !opts.quiet) process.stderr.write(`resuming: ${skipped} of ${units.length} entries already in ${out}\n`);

  const rng = new Rng(opts.seed ?? 1);
  const total = chunks.reduce((s, c) => s + c.jobs.length * plan.rounds, 0);
  const bar = progress(`profile ${device.name}/${space.name}`, total, opts.quiet);
  let chunksDone = 0;
  let measured = 0;
  try {
    for (const chunk of chunks) {
      if (opts.maxChunks !== undefined && chunksDone >= opts.maxChunks) break;
      const stats = await measureJobs(runtime, chunk.jobs, plan, rng, () => bar.increment(chunk.jobs.length, chunk.kind));
      if (chunk.kind === 'calibration') {
        chunk.jobs.forEach((j, i) => { lut.calibration.models[j.id] = stats[i]!; });
      } else {
        chunk.units.forEach((u, i) => {
          const st = stats[i]!;
          const calibrationMs = calibrationFor(method, u, lut.calibration.models, est);
          lut.entries[u.key] = {
            op: u.op, kind: u.kind, input: shapeTuple(u.input), output: shapeTuple(u.output),
            ...st, calibrationMs, latencyMs: Math.max(0, st[est] - calibrationMs),
          };
        });
        measured += chunk.units.length;
      }
      chunksDone++;
      save();
    }
  } finally {
    bar.stop();
  }
  const done = units.every((u) => lut.entries[u.key]);
  if (done) {
    lut.calibration.overheadMs = overheadFor(method, space.input, lut.calibration.models, est);
    lut.complete = true;
    save();
  }
  return { lut, measured, skipped, seconds: (Date.now() - started) / 1000 };
}
