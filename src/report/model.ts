/**
 * What the report shows, derived from a run folder: stage status, the search's points and curves,
 * the final arch with its per-unit LUT latency, predicted vs measured latency, accuracies and
 * the LUT's provenance. This object is also embedded in the page as JSON, so every number on the
 * page can be read back by a script.
 */
import { existsSync } from 'node:fs';
import { basename, isAbsolute, relative, resolve } from 'node:path';
import { loadLut, predict, type Lut } from '../lut/lut.js';
import { PACKAGE_ROOT } from '../paths.js';
import { paretoFront } from '../search/plots.js';
import { resolveArch } from '../space/arch.js';
import { networkUnits } from '../space/network.js';
import { loadSpace, searchableLayers, SpaceSchema, type Space } from '../space/spaces.js';
import type { Metrics, Provenance, RunData, Visited } from './load.js';

export type StageName = 'lut' | 'search' | 'train' | 'export';
export const STAGES: readonly StageName[] = ['lut', 'search', 'train', 'export'];

export interface StageStatus {
  name: StageName;
  state: 'done' | 'reused' | 'started' | 'pending';
  detail: string;
  seconds: number | null;
}

export interface ParetoRow {
  blocks: string[];
  latencyMs: number;
  acc: number;
  source: string;
  role: 'visited' | 'Pareto front' | 'chosen';
}

export interface UnitRow {
  index: number;
  /** Unique axis label: position plus op (two layers can hold the same block). */
  label: string;
  kind: 'stem' | 'block' | 'head';
  op: string;
  key: string;
  latencyMs: number;
  /** Identity skips run no op: 0 ms by definition. */
  identity: boolean;
  /** Input and output channels (`16→24`): with widths, what the layer's width choice made of it. */
  channels: string;
}

export interface LutInfo {
  path: string | null;
  found: boolean;
  device: string | null;
  space: string | null;
  provenance: Provenance | null;
  estimator: string | null;
  cvMapePct: number | null;
  overheadMs: number | null;
  fitNets: number | null;
  entries: number | null;
  complete: boolean | null;
}

export interface ValueRow { label: string; value: number; note: string }

export interface ReportModel {
  title: string;
  runDir: string;
  generated: string;
  stages: StageStatus[];
  pending: StageName[];
  options: Record<string, unknown> | null;
  lut: LutInfo | null;
  search: {
    strategy: string;
    targetMs: number | null;
    chosen: { blocks: string[]; predictedMs: number | null; supernetValAcc: number | null };
    baseline: { blocks: string[]; latencyMs: number; acc: number } | null;
    fastestMs: number | null;
    searchSeconds: number | null;
    visited: ParetoRow[];
    frontSize: number;
    epochs: Record<string, number | null>[];
  } | null;
  arch: {
    /** Which stage's arch is drawn: the exported one if any, else the trained, else the searched. */
    source: 'export' | 'train' | 'search';
    space: string;
    blocks: string[];
    units: UnitRow[] | null;
    overheadMs: number | null;
    totalMs: number | null;
    /** Why units is null, or a caveat about them. */
    note: string | null;
  } | null;
  latency: { rows: ValueRow[]; targetMs: number | null; errPct: number | null; device: string | null; estimator: string | null } | null;
  accuracy: ValueRow[];
  /**
   * The supernet's rank agreement with retraining (Kendall τ-b, Spearman) as the search-quality
   * study measured it: its source file, and whether its space is this run's.
   */
  ranking: { kendallTau: number | null; spearman: number | null; archs: number; space: string; dataset: string; source: string; sameSpace: boolean } | null;
  train: { metrics: Metrics } | null;
  /**
   * NetAdapt (RUN/adapt/adapt.json): the target, where it started, each step's kept proposal (the
   * trajectory, accuracy vs latency), every proposal tried, and the final fine-tune.
   */
  adapt: {
    targetMs: number | null;
    start: { ms: number; valAcc: number | null };
    steps: { step: number; label: string; ms: number; valAcc: number; proposals: number }[];
    tried: { step: number; label: string; ms: number; valAcc: number; kept: boolean }[];
    final: { ms: number; valAcc: number | null; testAcc: number; epochs: number } | null;
    /** A step under way (a run that is still adapting, or was stopped). */
    pendingStep: number | null;
  } | null;
  export: { modelPath: string | null; modelBytes: number | null; opset: number | null; parity: Record<string, unknown> | null; int8: Record<string, unknown> | null } | null;
  problems: string[];
}

const val = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/**
 * A relative path from a run is relative to wherever the command ran; try the likely places,
 * last the run folder itself (`latnas run` profiles a missing table into RUN/lut.json).
 */
function locate(path: string, runDir: string): string | undefined {
  const tries = isAbsolute(path) ? [path] : [resolve(runDir, path), resolve(path), resolve(PACKAGE_ROOT, path)];
  tries.push(resolve(runDir, basename(path)));
  return tries.find((p) => existsSync(p));
}

function stageRecord(run: RunData, name: StageName): Record<string, unknown> | undefined {
  const r = run.pipeline?.stages?.[name];
  return r && typeof r === 'object' ? (r as Record<string, unknown>) : undefined;
}

/** Seconds of a stage: pipeline.json's `seconds.<stage>` or `stages.<stage>.seconds`. */
function stageSeconds(run: RunData, name: StageName): number | null {
  const s = run.pipeline?.seconds;
  if (s && typeof s === 'object' && typeof (s as Record<string, unknown>)[name] === 'number') return (s as Record<string, number>)[name]!;
  const r = stageRecord(run, name)?.['seconds'];
  return typeof r === 'number' ? r : null;
}

function lutCandidates(run: RunData): string[] {
  const p = stageRecord(run, 'lut')?.['path'];
  return [typeof p === 'string' ? p : undefined, run.export?.report.latency?.table, run.search?.arch.lut?.path]
    .filter((x): x is string => typeof x === 'string' && x.length > 0);
}

function readLut(run: RunData): { info: LutInfo | null; lut?: Lut } {
  const candidates = lutCandidates(run);
  for (const c of candidates) {
    const path = locate(c, run.runDir);
    if (!path) continue;
    try {
      const lut = loadLut(path, { allowIncomplete: true });
      return {
        lut,
        info: {
          path: c, found: true, device: lut.device, space: lut.space, provenance: lut.provenance, estimator: lut.estimator,
          cvMapePct: lut.calibration.cvMapePct, overheadMs: lut.calibration.overheadMs, fitNets: lut.calibration.nets.length,
          entries: Object.keys(lut.entries).length, complete: lut.complete,
        },
      };
    } catch (e) {
      run.problems.push(`LUT '${path}': ${(e as Error).message}`);
    }
  }
  // No table on this machine: the search still recorded where it came from.
  const l = run.search?.arch.lut;
  if (!l && candidates.length === 0) return { info: null };
  if (candidates.length > 0) {
    const looked = candidates.map((c) => `'${c}'`).join(', ');
    run.problems.push(`LUT not found (looked for ${looked} beside the run, in the working directory and in the package); per-layer latency is not shown`);
  }
  return {
    info: {
      path: candidates[0] ?? null, found: false, device: l?.device ?? run.export?.report.latency?.device ?? null, space: l?.space ?? null,
      provenance: l?.provenance ?? null, estimator: run.export?.report.latency?.estimator ?? null, cvMapePct: null, overheadMs: null,
      fitNets: null, entries: null, complete: null,
    },
  };
}

/** The space the arch belongs to: the one training saved (exact), else a built-in or file by name. */
function readSpace(run: RunData, name: string | undefined): Space | undefined {
  if (run.train?.spaceJson !== undefined) {
    const r = SpaceSchema.safeParse(run.train.spaceJson);
    if (r.success) return r.data;
    run.problems.push(`train/space.json is not a space definition`);
  }
  const options = run.pipeline?.options?.['space'];
  for (const n of [name, typeof options === 'string' ? options : undefined]) {
    if (!n) continue;
    // A built-in name, or a space file relative to wherever the run was started.
    for (const candidate of [n, locate(n, run.runDir)]) {
      if (!candidate) continue;
      try {
        return loadSpace(candidate);
      } catch {
        // try the next candidate; reported below if none loads
      }
    }
  }
  run.problems.push(`space '${name ?? '?'}' could not be loaded; per-layer latency is not shown`);
  return undefined;
}

/** A block's label; in a space with widths it also says the layer's width: `×0.5 of 32` where the block has 16 of its stage's 32 channels. */
function unitLabel(kind: UnitRow['kind'], index: number, op: string, width?: { c: number; full: number }): string {
  // Stem and head ops already say what they are (`stem_k3_c16_s1_re`, `head_c512_re_fc10`).
  if (kind !== 'block') return op;
  const w = width && width.c !== width.full ? `  ×${(width.c / width.full).toFixed(2).replace(/0+$/, '').replace(/\.$/, '')} of ${width.full}` : '';
  return `L${index}  ${op}${w}`;
}

function archView(run: RunData, lut: Lut | undefined, lutInfo: LutInfo | null): ReportModel['arch'] {
  const fromExport = run.export?.report.arch;
  const fromTrain = run.train?.arch?.blocks;
  const fromSearch = run.search?.arch.blocks;
  const source = fromExport ? 'export' : fromTrain ? 'train' : fromSearch ? 'search' : undefined;
  const blocks = fromExport ?? fromTrain ?? fromSearch;
  if (!source || !blocks) return null;
  const spaceName = run.export?.report.space ?? run.train?.arch?.space ?? run.train?.metrics.space ?? run.search?.arch.space;
  const space = readSpace(run, spaceName);
  const view = { source, space: space?.name ?? spaceName ?? '?', blocks, units: null, overheadMs: null, totalMs: null, note: null } as NonNullable<ReportModel['arch']>;
  if (!space) return { ...view, note: `space '${spaceName ?? '?'}' not found` };
  if (!lut) return { ...view, note: lutInfo ? `LUT '${lutInfo.path ?? '?'}' not found on this machine` : 'no LUT recorded in this run' };
  try {
    const resolved = resolveArch(space, blocks, `${source} arch`);
    const units = networkUnits(space, resolved);
    const p = predict(lut, units, lutInfo?.path ?? 'the LUT');
    const layers = searchableLayers(space);
    let block = 0;
    const rows: UnitRow[] = units.map((u, i) => {
      const l = u.kind === 'block' ? block++ : 0;
      const widths = u.kind === 'block' ? layers[l]!.widths : undefined;
      const width = widths && widths.length > 1 ? { c: resolved[l]!.c, full: widths[widths.length - 1]! } : undefined;
      return {
        index: i, label: unitLabel(u.kind, l, u.op, width), kind: u.kind, op: u.op, key: u.key,
        latencyMs: p.units[i]!.latencyMs, identity: u.identity, channels: `${u.input.c}→${u.output.c}`,
      };
    });
    const note = lut.space !== space.name ? `LUT is for space '${lut.space}', the arch for '${space.name}'` : null;
    return { ...view, units: rows, overheadMs: p.overheadMs, totalMs: p.totalMs, note };
  } catch (e) {
    return { ...view, note: (e as Error).message };
  }
}

function searchView(run: RunData): ReportModel['search'] {
  const s = run.search;
  if (!s) return null;
  const a = s.arch;
  const chosenKey = a.blocks.join(',');
  const visited: Visited[] = s.visited ?? [];
  const frontKeys = new Set(paretoFront(visited).map((v) => v.blocks.join(',')));
  const rows: ParetoRow[] = visited.map((v) => {
    const key = v.blocks.join(',');
    return { blocks: v.blocks, latencyMs: v.latencyMs, acc: v.acc, source: v.source ?? '', role: key === chosenKey ? 'chosen' : frontKeys.has(key) ? 'Pareto front' : 'visited' };
  });
  const epochs = (s.log?.epochs ?? []).map((e) => ({
    epoch: e.epoch, loss: val(e.loss), trainAcc: val(e.trainAcc), thetaLoss: val(e.thetaLoss), thetaCe: val(e.thetaCe),
    temperature: val(e.temperature), expectedMs: val(e.expectedMs), argmaxMs: val(e.argmaxMs), seconds: val(e.seconds), lr: val(e.lr),
  }));
  return {
    strategy: a.strategy ?? s.log?.strategy ?? '?',
    targetMs: val(a.targetMs) ?? val(s.log?.targetMs),
    chosen: { blocks: a.blocks, predictedMs: val(a.predictedMs), supernetValAcc: val(a.supernetValAcc) },
    baseline: a.baseline ? { blocks: a.baseline.blocks, latencyMs: a.baseline.latencyMs, acc: a.baseline.acc } : null,
    fastestMs: val(a.fastestMs),
    searchSeconds: val(a.searchSeconds) ?? val(s.log?.searchSeconds),
    visited: rows,
    frontSize: frontKeys.size,
    epochs,
  };
}

function latencyView(run: RunData, search: ReportModel['search'], arch: ReportModel['arch']): ReportModel['latency'] {
  const l = run.export?.report.latency;
  const rows: ValueRow[] = [];
  const predicted = val(l?.predictedMs) ?? arch?.totalMs ?? search?.chosen.predictedMs ?? null;
  if (predicted !== null) rows.push({ label: 'predicted (LUT)', value: predicted, note: 'sum of the per-unit LUT entries plus the per-network overhead' });
  const measured = val(l?.measuredMs);
  if (measured !== null) rows.push({ label: 'measured: exported fp32', value: measured, note: `the exported model timed on ${l?.device ?? 'the device'} (${l?.estimator ?? 'estimator'})` });
  const built = val(l?.profilerBuildMs);
  if (built !== null) rows.push({ label: 'measured: profiler-built net', value: built, note: 'the same arch built as the profiler builds its fit networks' });
  const int8 = val(l?.int8Ms);
  if (int8 !== null) rows.push({ label: 'measured: exported int8', value: int8, note: 'the QDQ int8 model' });
  if (search?.baseline) rows.push({ label: 'baseline (LUT)', value: search.baseline.latencyMs, note: 'the MobileNetV2-style baseline arch' });
  if (rows.length === 0) return null;
  return { rows, targetMs: search?.targetMs ?? null, errPct: val(l?.errPct), device: l?.device ?? null, estimator: l?.estimator ?? null };
}

function accuracyView(run: RunData): ValueRow[] {
  const rows: ValueRow[] = [];
  const a = run.search?.arch;
  if (val(a?.supernetValAcc) !== null) {
    rows.push({ label: 'chosen arch, supernet weights (val)', value: a!.supernetValAcc!, note: 'inherited supernet weights, BatchNorm recalibrated, validation split' });
  }
  if (a?.baseline) rows.push({ label: 'baseline arch, supernet weights (val)', value: a.baseline.acc, note: 'the MobileNetV2-style arch scored the same way' });
  const m = run.train?.metrics;
  if (m) rows.push({ label: 'trained, TF.js (test)', value: m.testAcc, note: `${m.datasetSpec ?? m.dataset ?? ''} test split after ${m.history?.length ?? m.epochs ?? '?'} epoch(s)` });
  const f = run.adapt?.final;
  if (f) rows.push({ label: 'adapted (NetAdapt), TF.js (test)', value: f.testAcc, note: `cut to ${f.ms.toFixed(4)} ms, fine-tuned ${f.epochs} epoch(s)` });
  const p = run.export?.report.parity;
  const images = val(p?.images);
  const on = images !== null ? `${images} test images` : 'test images';
  if (val(p?.tfjsAccuracy) !== null) rows.push({ label: 'export check, TF.js', value: p!.tfjsAccuracy!, note: `the TF.js model on ${on}` });
  if (val(p?.ortAccuracy) !== null) rows.push({ label: 'exported ONNX fp32', value: p!.ortAccuracy!, note: `onnxruntime on ${on}` });
  const q = run.export?.report.int8;
  if (val(q?.ortAccuracy) !== null) rows.push({ label: 'exported ONNX int8', value: q!.ortAccuracy!, note: `onnxruntime on ${on}` });
  return rows;
}

function adaptView(run: RunData): ReportModel['adapt'] {
  const a = run.adapt;
  if (!a) return null;
  const target = a.settings['targetMs'];
  return {
    targetMs: typeof target === 'number' ? target : null,
    start: { ms: a.start.ms, valAcc: a.start.valAcc },
    steps: a.steps.map((s) => ({ step: s.step, label: s.tried[s.chosen]!.label, ms: s.tried[s.chosen]!.ms, valAcc: s.tried[s.chosen]!.valAcc, proposals: s.tried.length })),
    tried: [...a.steps.flatMap((s) => s.tried.map((t, i) => ({ step: s.step, label: t.label, ms: t.ms, valAcc: t.valAcc, kept: i === s.chosen }))),
      ...(a.pending?.tried ?? []).map((t) => ({ step: a.pending!.step, label: t.label, ms: t.ms, valAcc: t.valAcc, kept: false }))],
    final: a.final ? { ms: a.final.ms, valAcc: a.final.valAcc, testAcc: a.final.testAcc, epochs: a.final.epochs } : null,
    pendingStep: a.pending?.step ?? null,
  };
}

function rankingView(run: RunData, space: string | undefined): ReportModel['ranking'] {
  const st = run.study;
  if (!st) return null;
  const s = st.summary;
  const source = relative(PACKAGE_ROOT, st.path).startsWith('..') ? st.path : relative(PACKAGE_ROOT, st.path);
  return {
    kendallTau: val(s.kendallTau), spearman: val(s.spearman), archs: s.archsRetrained, space: s.recipe.space, dataset: s.recipe.dataset, source,
    sameSpace: space === s.recipe.space,
  };
}

function stagesView(run: RunData, lutInfo: LutInfo | null): StageStatus[] {
  const lutRec = stageRecord(run, 'lut');
  const s = run.search;
  const m = run.train?.metrics;
  const x = run.export;
  const stage = (name: StageName, state: StageStatus['state'], detail: string): StageStatus => ({ name, state, detail, seconds: stageSeconds(run, name) });
  return [
    lutRec || lutInfo
      ? stage('lut', lutRec?.['reused'] === true ? 'reused' : 'done', lutInfo?.path ? `${lutInfo.path}${lutInfo.found ? '' : ' (not on this machine)'}` : String(lutRec?.['path'] ?? ''))
      : stage('lut', 'pending', 'no latency table yet'),
    s ? stage('search', 'done', `${s.arch.strategy ?? '?'}: ${s.visited?.length ?? 0} archs scored`)
      : stage('search', run.searchStarted ? 'started' : 'pending', run.searchStarted ? 'search/ exists but has no arch.json yet (running or interrupted)' : 'not run'),
    m ? stage('train', 'done', `${m.history?.length ?? m.epochs ?? '?'} epoch(s), test accuracy ${(100 * m.testAcc).toFixed(2)}%`)
      : stage('train', run.trainStarted ? 'started' : 'pending', run.trainStarted ? 'train/ exists but has no metrics.json yet (running or interrupted)' : 'not run'),
    x ? stage('export', 'done', `${basename(x.modelPath ?? x.reportPath)}${x.report.opset ? `, opset ${x.report.opset}` : ''}${x.report.int8 ? ', int8' : ''}`)
      : stage('export', 'pending', 'no model.export.json yet'),
  ];
}

export function buildModel(run: RunData, now = new Date()): ReportModel {
  const { info: lutInfo, lut } = readLut(run);
  const search = searchView(run);
  const arch = archView(run, lut, lutInfo);
  const stages = stagesView(run, lutInfo);
  const x = run.export;
  return {
    title: `latnas run ${basename(resolve(run.runDir))}`,
    runDir: resolve(run.runDir),
    generated: now.toISOString(),
    stages,
    pending: stages.filter((s) => s.state === 'pending' || s.state === 'started').map((s) => s.name),
    options: run.pipeline?.options ?? null,
    lut: lutInfo,
    search,
    arch,
    latency: latencyView(run, search, arch),
    accuracy: accuracyView(run),
    ranking: rankingView(run, arch?.space ?? run.search?.arch.space),
    train: run.train ? { metrics: run.train.metrics } : null,
    adapt: adaptView(run),
    export: x ? {
      modelPath: x.modelPath ?? null, modelBytes: x.modelBytes ?? val(x.report.bytes), opset: val(x.report.opset),
      parity: x.report.parity ?? null, int8: x.report.int8 ?? null,
    } : null,
    problems: run.problems,
  };
}
