/**
 * `latnas profile`: times every distinct unit of a space on a device, then a fit set of whole
 * networks, and writes the LUT with in-network unit latencies fitted to them (see lut/fit.ts).
 *
 * Work goes in chunks: each chunk's models are built, loaded, warmed up and timed in interleaved
 * shuffled rounds (measure.ts), then the table is rewritten atomically. A killed run loses at
 * most one chunk; `--resume` re-measures nothing already written.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Device } from '../device/device.js';
import { openRuntime, type Runtime } from '../device/runtime.js';
import { fail } from '../errors.js';
import { applyFit } from '../lut/fit.js';
import { loadLut, LUT_SCHEMA_VERSION, shapeTuple, spaceFingerprint, type Lut } from '../lut/lut.js';
import { buildUnitModel } from '../onnx/model.js';
import { LATNAS_VERSION } from '../paths.js';
import { spaceUnits } from '../space/network.js';
import { searchableLayers, type Space } from '../space/spaces.js';
import { writeJsonAtomic } from '../util/files.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import type { Summary } from '../util/stats.js';
import { heavyReference, measureJobs, networkJob, networkSentinelJob, openSentinel, timingPlan, unitSentinelJob, type Job } from './measure.js';
import type { Sentinel, TimingPlan, TimingStats } from './timing.js';

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
  /** Accepted visits per fit network (default: the device's `fitRounds`, else `fitRoundsFor`). */
  fitRounds?: number;
  /** Stop after this many chunks (tests simulate an interrupted run). */
  maxChunks?: number;
}

const TIMING_DESCRIPTION = 'every visit gated by a sentinel net timed before and after it (accepted within gateTolerance of its quiet level, else retaken): ' +
  'for networks the space\'s lightest net (reference archs[0]), for units fbnet-mini\'s; ' +
  'network times normalised to the sentinel state anchorMs and mapped by the space\'s heaviest net (reference archs[1]) to its time heavyAnchorMs';

function chunkRecord(kind: 'units' | 'networks', t: TimingStats, heavyMs?: number): Lut['timing']['chunks'][number] {
  const r6 = (x: number) => Math.round(x * 1e6) / 1e6;
  return { kind, visits: t.visits, accepted: t.accepted, unsettled: t.unsettled, sentinelQuietMs: r6(t.sentinelQuietMs), ...(heavyMs !== undefined ? { heavyMs: r6(heavyMs) } : {}) };
}

/**
 * How busy the machine was while a table was timed: the share of visits the gate accepted, and
 * the models that hit the visit cap. Below 30% accepted (or any unsettled model) the table is
 * still written, but the profile says so: the figures come from the few quiet moments there were.
 */
export function timingSummary(lut: Lut): { acceptedPct: number; unsettled: number; warning?: string } {
  const c = lut.timing.chunks;
  const visits = c.reduce((s, x) => s + x.visits, 0);
  const acceptedPct = visits > 0 ? (100 * c.reduce((s, x) => s + x.accepted, 0)) / visits : 100;
  const unsettled = c.reduce((s, x) => s + x.unsettled, 0);
  const warning = acceptedPct < 30 || unsettled > 0
    ? `latnas profile: the machine was busy while timing: ${acceptedPct.toFixed(0)}% of visits were quiet, ${unsettled} models hit the visit cap; ` +
      'check the table with `latnas lut-check` (it reports the machine\'s noise floor) or profile again on an idle machine'
    : undefined;
  return { acceptedPct, unsettled, warning };
}

export interface ProfileResult {
  lut: Lut;
  measured: number;
  skipped: number;
  /** Accepted visits per fit network in this call. */
  fitRounds: number;
  seconds: number;
}

function provenance(device: Device, runtime: Runtime, created: string, seconds: number): Lut['provenance'] {
  return {
    runtime: runtime.name,
    runtimeVersion: runtime.version,
    executionProvider: device.executionProvider,
    threads: device.threads,
    graphOptimizationLevel: device.graphOptimizationLevel,
    // Where it ran: this machine, or a browser (its hints, with the serving machine under `host`).
    ...runtime.provenance(),
    latnasVersion: LATNAS_VERSION,
    created,
    updated: new Date().toISOString(),
    profileSeconds: Math.round(seconds * 10) / 10,
  };
}

/**
 * Accepted visits per fit network: the device's `fitRounds`, else 30% of its rounds (6 of 20).
 * Fit networks are most of a profile's time. Measured (AMD EPYC family 26, 2026-12-01/02, 5 fresh
 * profiles each, checked >= 5 min later): fbnet with 10 rounds took 283-370 s to profile, with 6
 * 226-248 s at the same error (MAPE 1.9-2.9% against floors 1.7-2.3%). fbnet-mini with 6, 10 and
 * 20 rounds (15, 15 and 35 s profiles) could not be told apart: its error above the floor followed
 * how far the machine's speed moved between profile and check (5 of 6 runs with the sentinel
 * >30% off were 2.4-6.3 points above it), not the rounds.
 */
export function fitRoundsFor(device: Device, plan: TimingPlan): number {
  return device.fitRounds ?? Math.ceil(0.3 * plan.rounds);
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

/** A table's device, completeness and entry count as far as they can be read; an unreadable file gives {}. */
function peekTable(path: string): { device?: string; complete?: boolean; entries?: number } {
  try {
    const d = JSON.parse(readFileSync(path, 'utf8')) as { device?: unknown; complete?: unknown; entries?: unknown } | null;
    return {
      device: typeof d?.device === 'string' ? d.device : undefined,
      complete: typeof d?.complete === 'boolean' ? d.complete : undefined,
      entries: d?.entries && typeof d.entries === 'object' ? Object.keys(d.entries).length : undefined,
    };
  } catch {
    return {};
  }
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
  // What the file holds, for messages that name it (loadLut checks it in full).
  const peek = existsSync(out) ? peekTable(out) : undefined;
  if (peek && opts.resume) {
    if (peek.device !== undefined && peek.device !== device.name) {
      fail(`LUT file '${out}' was profiled on device '${peek.device}', not '${device.name}'; ` +
        `--resume continues only the same device: choose another --out, or pass --force to profile '${device.name}' over it`);
    }
    lut = loadLut(out, { device: device.name, space, allowIncomplete: true });
    if (lut.estimator !== est) {
      fail(`LUT file '${out}' was made with estimator '${lut.estimator}', device '${device.name}' now uses '${est}'; profile into a new file or pass --force`);
    }
    priorSeconds = lut.provenance.profileSeconds;
  } else {
    if (peek && !opts.force) {
      const holds = peek.complete === true ? `already holds a finished table${peek.entries === undefined ? '' : ` (${peek.entries} entries)`}; pass --resume to keep it`
        : peek.complete === false ? `holds an unfinished profile${peek.entries === undefined ? '' : ` (${peek.entries} entries so far)`}; pass --resume to finish it`
          : 'already exists; pass --resume to finish or keep it';
      fail(`LUT file '${out}' ${holds}, or --force to profile again from scratch (or choose another --out)`);
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
      timing: { method: 'sentinel-gated', description: TIMING_DESCRIPTION, gateTolerance: plan.gateTolerance, chunks: [] },
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
  const fitRounds = opts.fitRounds ?? fitRoundsFor(device, plan);
  const fitPlan: TimingPlan = { ...plan, rounds: fitRounds };
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
  // A network chunk also times the heavy reference.
  const total = chunks.reduce((s, c) => s + (c.networks ? (c.jobs.length + 1) * fitPlan.rounds : c.jobs.length * plan.rounds), 0);
  const bar = progress(`profile ${device.name}/${space.name}`, total, opts.quiet);
  let chunksDone = 0;
  const sentinels = new Map<boolean, Sentinel>();
  const sentinelFor = async (networks: boolean) => {
    let s = sentinels.get(networks);
    if (!s) sentinels.set(networks, s = await openSentinel(runtime, plan, networks ? networkSentinelJob(space) : unitSentinelJob()));
    return s;
  };
  try {
    for (const chunk of chunks) {
      if (opts.maxChunks !== undefined && chunksDone >= opts.maxChunks) break;
      // Networks are normalised to one sentinel state for the whole table (set by the first
      // network chunk, kept across --resume); standalone units only feed the fit's prior.
      const anchorMs = chunk.networks ? (lut.timing.anchorMs ?? 'new') : undefined;
      const sentinel = await sentinelFor(chunk.networks);
      const heavy = chunk.networks ? heavyReference(space, lut.timing.heavyAnchorMs, est) : undefined;
      const m = await measureJobs(runtime, chunk.jobs, chunk.networks ? fitPlan : plan, rng, { sentinel, anchorMs, heavy, onAccepted: (n) => bar.increment(n) });
      if (chunk.networks) {
        lut.timing.anchorMs ??= m.anchorMs;
        lut.timing.heavyAnchorMs ??= m.heavyMs;
      }
      lut.timing.chunks.push(chunkRecord(chunk.networks ? 'networks' : 'units', m.timing, m.heavyMs));
      chunk.apply(m.stats);
      chunksDone++;
      save();
    }
  } finally {
    bar.stop();
    for (const s of sentinels.values()) await s.session.release();
  }
  const busy = timingSummary(lut);
  if (busy.warning && !opts.quiet) process.stderr.write(`${busy.warning}\n`);
  const measured = Object.keys(lut.entries).length - skipped;
  if (units.every((u) => lut.entries[u.key]) && lut.calibration.nets.length >= fitTotal && !lut.complete) {
    applyFit(lut, space);
    lut.complete = true;
    save();
  }
  return { lut, measured, skipped, fitRounds, seconds: (Date.now() - started) / 1000 };
}
