/**
 * `latnas profile`: times every distinct unit of a space on a device, then a fit set of whole
 * networks, and writes the LUT with in-network unit latencies fitted to them (see lut/fit.ts).
 *
 * Work goes in chunks: each chunk's models are built, loaded, warmed up and timed in interleaved
 * shuffled rounds, then the table is rewritten atomically. A killed run loses at most one chunk;
 * `--resume` re-measures nothing already written.
 */
import { existsSync } from 'node:fs';
import pLimit from 'p-limit';
import type { Device } from '../device/device.js';
import { hostProvenance } from '../device/host.js';
import { openRuntime, type Runtime, type TimedSession } from '../device/runtime.js';
import { fail } from '../errors.js';
import { fitLatencies, type FitNet } from '../lut/fit.js';
import { loadLut, LUT_SCHEMA_VERSION, shapeTuple, spaceFingerprint, type Lut } from '../lut/lut.js';
import { buildNetworkModel, buildUnitModel } from '../onnx/model.js';
import { LATNAS_VERSION } from '../paths.js';
import { countMacs, type Shape } from '../space/ir.js';
import { blockUnit, networkUnits, spaceUnits } from '../space/network.js';
import { searchableLayers, type Space } from '../space/spaces.js';
import { writeJsonAtomic } from '../util/files.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { quantile, summarize, type Summary } from '../util/stats.js';
import { driftMap, timeInterleaved, warmUp, type TimingPlan } from './timing.js';

const FIT_DESCRIPTION = 'in-network unit latencies fitted (ridge, relative error, lambda by 5-fold CV) to the whole networks in `nets`; standalone statistics kept per entry';

export interface ProfileOptions {
  device: Device;
  space: Space;
  out: string;
  resume: boolean;
  force?: boolean;
  chunk?: number;
  seed?: number;
  /** Whole networks timed for the fit (default max(400, 4 x units)). */
  fitNets?: number;
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

export interface Job {
  input: Shape;
  model: () => Uint8Array;
}

function provenance(device: Device, runtime: Runtime, created: string, seconds: number): Lut['provenance'] {
  const host = hostProvenance();
  return {
    runtime: runtime.name,
    runtimeVersion: runtime.version,
    executionProvider: device.executionProvider,
    threads: device.threads,
    graphOptimizationLevel: device.graphOptimizationLevel,
    cpu: host.cpu,
    cpuCount: host.cpuCount,
    cpuId: host.cpuId,
    arch: host.arch,
    os: host.os,
    node: host.node,
    latnasVersion: LATNAS_VERSION,
    created,
    updated: new Date().toISOString(),
    profileSeconds: Math.round(seconds * 10) / 10,
  };
}

export function timingPlan(device: Device, override: Partial<TimingPlan> = {}): TimingPlan {
  return {
    rounds: override.rounds ?? device.rounds,
    runsPerRound: override.runsPerRound ?? device.runsPerRound,
    warmup: override.warmup ?? device.warmup,
  };
}

export interface Measured {
  /** Statistics of each job's samples, mapped to the anchors where there are references. */
  stats: Summary[];
  /** Statistics of the unmapped samples. */
  rawStats: Summary[];
  /** The references' estimators over the chunk (unmapped): how fast the machine ran. */
  referenceMs: number[];
  anchorMs: number[];
}

const QUANTILE: Record<Device['estimator'], number> = { p10: 0.1, p25: 0.25, median: 0.5 };

/**
 * Builds, loads and warms up a chunk's models (bounded concurrency), times them interleaved with
 * the reference networks, releases them. With references, samples are mapped by `driftMap` from
 * the references' estimators now to `anchorMs` (default: now, the identity).
 */
export async function measureJobs(runtime: Runtime, jobs: readonly Job[], references: readonly Job[], plan: TimingPlan, estimator: Device['estimator'], rng: Rng, anchorMs?: number[], onRound?: () => void): Promise<Measured> {
  const limit = pLimit(2);
  const all = [...references, ...jobs];
  const sessions: TimedSession[] = await Promise.all(all.map((j) => limit(() => runtime.createSession(j.model(), j.input))));
  try {
    for (const s of sessions) await warmUp(s, plan.warmup);
    const t = await timeInterleaved(sessions.slice(references.length), sessions.slice(0, references.length), plan, rng, onRound);
    const rawStats = t.samples.map((x) => summarize(x));
    if (references.length === 0) return { stats: rawStats, rawStats, referenceMs: [], anchorMs: [] };
    const referenceMs = t.references.map((x) => quantile(x, QUANTILE[estimator]));
    const anchors = anchorMs ?? referenceMs;
    const map = driftMap(referenceMs, anchors);
    const stats = t.samples.map((x) => summarize(x.map(map)));
    return { stats, rawStats, referenceMs, anchorMs: anchors };
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/**
 * The reference networks of a space: per layer the inverted-residual candidate with the fewest,
 * then the most MACs. Skips are left out: an all-skip net is a stem and a head, unlike any net a
 * search keeps.
 */
export function referenceArchs(space: Space): number[][] {
  const layers = searchableLayers(space);
  const macs = layers.map((l) => l.candidates.map((b) => (b.type === 'skip' ? Number.NaN : countMacs(blockUnit(b, l.input, l.index).layers, l.input))));
  const pick = (m: number[], better: (a: number, b: number) => boolean) =>
    m.reduce((best, v, i) => (!Number.isNaN(v) && (best < 0 || better(v, m[best]!)) ? i : best), -1);
  return [macs.map((m) => pick(m, (a, b) => a < b)), macs.map((m) => pick(m, (a, b) => a > b))];
}

export function networkJob(space: Space, arch: readonly number[]): Job {
  return { input: space.input, model: () => buildNetworkModel(networkUnits(space, archBlocks(space, arch))) };
}

/**
 * The fit set, deterministic for a seed so a resumed run continues the same list: first one
 * network per candidate position (every layer the same op: the extremes a search may pick),
 * then uniform random networks.
 */
export function fitArchs(space: Space, count: number, seed: number): number[][] {
  const layers = searchableLayers(space);
  const widest = Math.max(...layers.map((l) => l.candidates.length));
  const archs: number[][] = [];
  for (let j = 0; j < widest && archs.length < count; j++) archs.push(layers.map((l) => (j < l.candidates.length ? j : 0)));
  const rng = new Rng(1_000_003 + seed);
  while (archs.length < count) archs.push(layers.map((l) => rng.int(l.candidates.length)));
  return archs;
}

export function archBlocks(space: Space, arch: readonly number[]) {
  const layers = searchableLayers(space);
  return layers.map((l, i) => {
    const b = l.candidates[arch[i]!];
    if (!b) fail(`fit network candidate index ${arch[i]} out of range at layer ${i} of space '${space.name}'`);
    return b;
  });
}

export async function profile(opts: ProfileOptions): Promise<ProfileResult> {
  const { device, space, out } = opts;
  const started = Date.now();
  const plan = timingPlan(device, opts.plan);
  const runtime = await openRuntime(device);
  const units = spaceUnits(space).filter((u) => !u.identity);
  const est = device.estimator;
  const seed = opts.seed ?? 1;

  let lut: Lut;
  let priorSeconds = 0;
  if (existsSync(out) && opts.resume) {
    lut = loadLut(out, { device: device.name, space, allowIncomplete: true });
    if (lut.estimator !== est) {
      fail(`LUT file '${out}' was made with estimator '${lut.estimator}', device '${device.name}' now uses '${est}'; profile into a new file or pass --force`);
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
      calibration: { method: 'fit', description: FIT_DESCRIPTION, overheadMs: 0, scale: 1, lambda: 0, cvMapePct: 0, nets: [] },
      reference: { archs: referenceArchs(space), anchorMs: [], chunks: [] },
      entries: {},
    };
  }
  const created = lut.provenance.created;
  const save = () => {
    lut.provenance = provenance(device, runtime, created, priorSeconds + (Date.now() - started) / 1000);
    writeJsonAtomic(out, lut);
  };

  const todo = units.filter((u) => !lut.entries[u.key]);
  const skipped = units.length - todo.length;
  const fitTotal = opts.fitNets ?? Math.max(400, 4 * units.length);
  const fitTodo = fitArchs(space, fitTotal, seed).slice(lut.calibration.nets.length);
  const chunkSize = opts.chunk ?? 32;
  type Chunk = { apply: (stats: Summary[]) => void; jobs: Job[]; networks: boolean };
  const chunks: Chunk[] = [];
  for (let i = 0; i < todo.length; i += chunkSize) {
    const part = todo.slice(i, i + chunkSize);
    chunks.push({
      networks: false,
      jobs: part.map((u) => ({ input: u.input, model: () => buildUnitModel(u) })),
      apply: (stats) => part.forEach((u, k) => {
        const st = stats[k]!;
        // Standalone until the fit replaces latencyMs and calibrationMs.
        lut.entries[u.key] = { op: u.op, kind: u.kind, input: shapeTuple(u.input), output: shapeTuple(u.output), ...st, calibrationMs: 0, latencyMs: st[est] };
      }),
    });
  }
  for (let i = 0; i < fitTodo.length; i += chunkSize) {
    const part = fitTodo.slice(i, i + chunkSize);
    chunks.push({
      networks: true,
      jobs: part.map((arch) => networkJob(space, arch)),
      apply: (stats) => part.forEach((arch, k) => lut.calibration.nets.push({ arch, ...stats[k]! })),
    });
  }
  if ((skipped > 0 || lut.calibration.nets.length > 0) && !opts.quiet) {
    process.stderr.write(`resuming ${out}: ${skipped} of ${units.length} units and ${lut.calibration.nets.length} of ${fitTotal} fit networks already measured\n`);
  }

  const rng = new Rng(seed);
  const total = chunks.reduce((s, c) => s + c.jobs.length * plan.rounds, 0);
  const bar = progress(`profile ${device.name}/${space.name}`, total, opts.quiet);
  let chunksDone = 0;
  try {
    for (const chunk of chunks) {
      if (opts.maxChunks !== undefined && chunksDone >= opts.maxChunks) break;
      const anchors = lut.reference.anchorMs.length > 0 ? lut.reference.anchorMs : undefined;
      const references = chunk.networks ? lut.reference.archs.map((a) => networkJob(space, a)) : [];
      const m = await measureJobs(runtime, chunk.jobs, references, plan, est, rng, anchors, () => bar.increment(chunk.jobs.length));
      if (chunk.networks) {
        lut.reference.anchorMs = m.anchorMs;
        lut.reference.chunks.push(m.referenceMs.map((v) => Math.round(v * 1e6) / 1e6));
      }
      chunk.apply(m.stats);
      chunksDone++;
      save();
    }
  } finally {
    bar.stop();
  }
  const measured = Object.keys(lut.entries).length - skipped;
  if (units.every((u) => lut.entries[u.key]) && lut.calibration.nets.length >= fitTotal && !lut.complete) {
    applyFit(lut, space);
    lut.complete = true;
    save();
  }
  return { lut, measured, skipped, seconds: (Date.now() - started) / 1000 };
}

/** The regression the fit solves: each entry's standalone time, and each fit network's units and time. */
export function fitProblem(lut: Lut, space: Space): { keys: string[]; standalone: Float64Array; nets: FitNet[] } {
  const keys = Object.keys(lut.entries);
  const index = new Map(keys.map((k, i) => [k, i]));
  return {
    keys,
    standalone: Float64Array.from(keys.map((k) => lut.entries[k]![lut.estimator])),
    nets: lut.calibration.nets.map((n) => ({
      units: networkUnits(space, archBlocks(space, n.arch)).filter((u) => !u.identity).map((u) => index.get(u.key)!),
      measuredMs: n[lut.estimator],
    })),
  };
}

/** Replaces standalone latencies by the fit to the table's whole networks. */
export function applyFit(lut: Lut, space: Space): void {
  const { keys, standalone, nets } = fitProblem(lut, space);
  const fit = fitLatencies(nets, standalone);
  keys.forEach((k, i) => {
    const e = lut.entries[k]!;
    e.latencyMs = fit.latencyMs[i]!;
    e.calibrationMs = e[lut.estimator] - e.latencyMs;
  });
  Object.assign(lut.calibration, { overheadMs: fit.overheadMs, scale: fit.scale, lambda: fit.lambda, cvMapePct: Math.round(fit.cvMapePct * 1000) / 1000 });
}
