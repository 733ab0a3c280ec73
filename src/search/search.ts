/**
 * `latnas search`: finds the most accurate arch of a space whose LUT latency meets a target.
 *
 * The skeleton every strategy shares lives here: the supernet and the one LatencyModel, the
 * splits, the supernet's weight steps (SGD with momentum, cosine learning rate, along the paths
 * the strategy samples), search-state.bin after every epoch and --resume, scoring archs with
 * inherited weights (BatchNorm recalibrated), and the outputs. What differs — how paths are
 * sampled, what else is learned per epoch, which archs are proposed and picked — is the
 * strategy's (./strategy.ts; dnas and evolution in ./strategies/). With `workers` > 1 the weight
 * steps run data-parallel and archs are scored in parallel on worker threads (./parallel/); the
 * strategy, θ and the state files stay in this thread.
 *
 * A run folder keeps everything (src/runfolder/search.ts): `search-state.bin` (supernet, strategy and
 * optimiser state, rewritten atomically after every epoch), a strategy's own files
 * (`evolution.json`), then `arch.json`, `visited.json`, `pareto.json`, `pareto.svg`,
 * `search-log.json` and `curves.svg`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BatchStream } from '../datasets/batches.js';
import { checkDatasetFits, type Dataset } from '../datasets/dataset.js';
import { computeNormalization } from '../datasets/normalize.js';
import { fail } from '../errors.js';
import { spaceFingerprint, type Lut } from '../lut/lut.js';
import { writeRunFile, type LutRecord } from '../runfolder/files.js';
import { CURVES_SVG, PARETO_SVG, RESTART_SEARCH, SEARCH_RUN, SEARCH_STATE_FILE, SearchStateMetaSchema, type EpochLog, type SearchStateMeta, type Visited } from '../runfolder/search.js';
import { formatBlock } from '../space/blocks.js';
import { pathBlocks, type Path } from '../space/path.js';
import { searchableLayers, type Space } from '../space/spaces.js';
import { Supernet } from '../supernet/supernet.js';
import { restore, snapshot } from '../train/checkpoint.js';
import { cosineLr, SgdMomentum } from '../train/optim.js';
import { workersFor } from '../train/parallel/pool.js';
import { readTensorFile, writeTensorFile, type StoredTensor } from '../train/tensor-file.js';
import { describeChange } from '../util/changes.js';
import { writeFileAtomic } from '../util/files.js';
import { findNonFinite } from '../util/finite.js';
import { lockFolder, yieldToEventLoop } from '../util/lock.js';
import { prepareOutputFolder } from '../util/outdir.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { baselinePath } from './baseline.js';
import { pathKey } from './evolution.js';
import { checkTarget, LatencyModel } from './latency.js';
import { SupernetPool, plainChoice } from './parallel/pool.js';
import type { Sampling } from './sampling.js';
import { inheritedScoring, scoringSplit } from './scoring.js';
import { curvesSvg, paretoFront, paretoSvg, type ParetoPoint } from './plots.js';
import { STRATEGY_NAMES, strategyOf, type RegisteredStrategy, type StrategyName, type StrategyOptions } from './strategies/index.js';
import type { Scoring, StrategyContext, StrategyRun } from './strategy.js';

export type Strategy = StrategyName;
export const STRATEGIES: readonly Strategy[] = STRATEGY_NAMES;

/** The options every strategy shares, as `latnas search` defaults them (`latnas run` too, but for its budget). */
/**
 * 30 supernet epochs and 6000 validation images per scored arch (all of Fashion-MNIST's held-out
 * tenth): what ranked archs best in the search-quality study (bench/README.md, bench:supernet-ranking;
 * 2026-12-02, AMD EPYC): Kendall τ against retraining 0.454 at 30 epochs against 0.325–0.395 at 10,
 * the one change above the ±0.05 seed-to-seed spread. FairNAS sampling gave 0.414 at 10 epochs and
 * 0.392 at 30 (2000 images): no gain beyond that spread, so uniform stays.
 */
export const SEARCH_DEFAULTS = {
  strategy: 'dnas' as Strategy, target: 'baseline' as const, epochs: 30, batch: 64, lr: 0.1, momentum: 0.9, weightDecay: 4e-5,
  valFraction: 0.1, calibrationBatches: 8, evalImages: 6000, seed: 1, sampling: 'uniform' as Sampling,
};

/**
 * A supernet step has a fixed cost of ~30 ms (fbnet-mini, 2026-12-02, AMD EPYC: 46 ms at batch 8,
 * 93 ms at 32), and two workers stepping in lockstep slow each other by ~30%. With 16 images per
 * worker (the demo's batch 32 on 2 workers) the data-parallel dnas epochs took 8, 7, 7, 7 s against
 * 5, 6, 7, 7 s in one thread; with 32 per worker (batch 64) evolution's epoch took 9 s against 10.
 * So the weight steps go parallel from 32 images per worker; scoring is parallel at any batch.
 */
export const PARALLEL_STEPS_FROM = 32;

export type SearchOptions = {
  space: Space;
  lut: Lut;
  lutPath: string;
  dataset: Dataset;
  strategy: Strategy;
  /** Milliseconds, or the baseline arch's LUT latency. */
  target: number | 'baseline';
  out: string;
  seed: number;
  resume: boolean;
  quiet?: boolean;
  backend: string;
  /** Supernet training epochs (dnas: weights and θ; evolution: before the evolution). */
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Caps weight steps per epoch (a budget knob and for smoke runs). */
  stepsPerEpoch?: number;
  /** How evolution's and random's weight steps sample paths (./sampling.ts); default uniform. */
  sampling?: Sampling;
  valFraction: number;
  /** BatchNorm recalibration batches per evaluated arch, and validation images used to score it. */
  calibrationBatches: number;
  evalImages: number;
  /** Start from the trained supernet of another run folder (OFA: train once, search many targets); strategies that train their own say so. */
  supernetFrom?: string;
  /**
   * Worker threads (src/search/parallel/): data-parallel weight steps and archs scored in parallel;
   * absent or 1, everything runs in this thread (the CLI's default is every core). Not part of the
   * identity --resume checks: a state written with N workers resumes with M.
   */
  workers?: number;
  /**
   * Images of a batch per worker from which the weight steps run data-parallel (default
   * PARALLEL_STEPS_FROM); below it they stay in this thread and the workers only score archs.
   */
  parallelStepsFrom?: number;
} & {
  /** Each strategy's options by its name (only the chosen one's are used); what is left out takes the strategy's defaults. */
  [K in StrategyName]?: Partial<StrategyOptions[K]>;
};

export type { EpochLog, Visited } from '../runfolder/search.js';

export interface SearchResult { blocks: string[]; predictedMs: number; targetMs: number; valAcc: number; resumedFrom: number }

/** The files `latnas search` writes into its run folder (a strategy's own after the state). */
export const SEARCH_FILES: readonly string[] = [
  SEARCH_STATE_FILE, ...STRATEGY_NAMES.flatMap((n) => strategyOf(n).files),
  SEARCH_RUN.arch.name, SEARCH_RUN.visited.name, SEARCH_RUN.pareto.name, PARETO_SVG, SEARCH_RUN.log.name, CURVES_SVG,
];

/** The chosen strategy's options: its defaults, overridden by what was given (in the defaults' key order, which identities record). */
function strategyOptions(o: SearchOptions): StrategyOptions[StrategyName] {
  const given = Object.entries(o[o.strategy] ?? {}).filter(([, v]) => v !== undefined);
  return { ...strategyOf(o.strategy).defaults, ...Object.fromEntries(given) };
}

function identityOf(o: SearchOptions, strategy: RegisteredStrategy, options: StrategyOptions[StrategyName], targetMs: number): Record<string, unknown> {
  return {
    space: o.space.name, spaceFingerprint: spaceFingerprint(o.space), lutDevice: o.lut.device, lutCreated: o.lut.provenance,
    strategy: o.strategy, targetMs, seed: o.seed, dataset: o.dataset.spec, epochs: o.epochs, batch: o.batch, lr: o.lr,
    stepsPerEpoch: o.stepsPerEpoch ?? null, valFraction: o.valFraction,
    // Only when not the default: states written before --sampling existed still resume.
    ...(o.sampling && o.sampling !== 'uniform' && strategy.name !== 'dnas' ? { sampling: o.sampling } : {}),
    ...strategy.identity(options, o.supernetFrom),
  };
}

/** The target in ms ('baseline': the baseline arch's latency), checked against the space's fastest arch. */
function targetOf(latency: LatencyModel, target: number | 'baseline', lutPath: string): { targetMs: number; baselineMs: number } {
  const baselineMs = latency.pathMs(baselinePath(latency.space));
  const targetMs = target === 'baseline' ? baselineMs : target;
  checkTarget(latency, targetMs, lutPath);
  return { targetMs, baselineMs };
}

/**
 * The target in ms ('baseline': the MobileNetV2-style arch's LUT latency); fails at once when no
 * arch of the space can meet it. Cheap: the CLI calls it before loading data or a backend.
 */
export function resolveTarget(space: Space, lut: Lut, lutPath: string, target: number | 'baseline'): { targetMs: number; baselineMs: number } {
  const latency = new LatencyModel(space, lut, lutPath);
  try {
    return targetOf(latency, target, lutPath);
  } finally {
    latency.dispose();
  }
}

/**
 * The splits a search uses: validation to score archs; the rest trains the supernet's weights,
 * but for the strategy's own share (dnas: 20% for θ). Fails with one line when one of them cannot
 * do its job, before anything is written: an empty validation split scores every arch 0%, a θ
 * split smaller than a batch never moves θ.
 */
export function searchSplits(o: Pick<SearchOptions, 'dataset' | 'valFraction' | 'seed' | 'strategy' | 'batch' | 'stepsPerEpoch'>) {
  const strategy = strategyOf(o.strategy);
  const { split, trainIdx } = scoringSplit(o.dataset, o.valFraction, o.seed);
  if (split.val.length === 0) {
    fail(`the validation split of ${o.dataset.spec} is empty (--val-fraction ${o.valFraction} of ${o.dataset.train.count} training images), `
      + 'so every arch would score 0%; raise --val-fraction (e.g. 0.1)');
  }
  const cut = strategy.weightShare === 1 ? trainIdx.length : Math.floor(trainIdx.length * strategy.weightShare);
  const wIdx = trainIdx.subarray(0, cut);
  const ownIdx = trainIdx.subarray(cut);
  const stepsPerEpoch = Math.min(o.stepsPerEpoch ?? Infinity, Math.floor(wIdx.length / o.batch));
  const ownSteps = Math.min(Math.ceil(stepsPerEpoch * ownIdx.length / Math.max(1, wIdx.length)), Math.floor(ownIdx.length / o.batch));
  if (stepsPerEpoch < 1) fail(`--batch ${o.batch} is larger than the ${wIdx.length} images the supernet's weights train on (${o.dataset.spec}); lower --batch to at most ${wIdx.length}`);
  strategy.checkOwnSplit?.({ images: ownIdx.length, steps: ownSteps, batch: o.batch, datasetSpec: o.dataset.spec });
  return { split, trainIdx, wIdx, ownIdx, stepsPerEpoch, ownSteps };
}

export async function search(o: SearchOptions): Promise<SearchResult> {
  checkDatasetFits(o.space, o.dataset);
  // The one LatencyModel of this search: the target check below, path latencies, the θ loss.
  const latency = new LatencyModel(o.space, o.lut, o.lutPath);
  try {
    const target = targetOf(latency, o.target, o.lutPath);
    const splits = searchSplits(o);
    const lock = lockFolder(o.out);
    try {
      return await searchLocked(o, splits, latency, target);
    } finally {
      lock.release();
    }
  } finally {
    latency.dispose();
  }
}

/** The folder's state: refuses a finished or unfinished search without --resume, and names what it holds. */
function checkFreshFolder(o: SearchOptions): void {
  // Name what the folder really holds: a finished search is not "in progress".
  if (existsSync(join(o.out, SEARCH_RUN.arch.name))) {
    fail(`run folder '${o.out}' already holds a finished search (arch.json); choose another --out, or pass --resume to score its archs again with the same settings`);
  }
  const partial = [SEARCH_STATE_FILE, ...STRATEGY_NAMES.flatMap((n) => strategyOf(n).files)].filter((f) => existsSync(join(o.out, f)));
  if (partial.length > 0) fail(`run folder '${o.out}' holds an unfinished search (${partial.join(', ')}); pass --resume to continue it with the same settings, or choose another --out`);
}

async function searchLocked(o: SearchOptions, splits: ReturnType<typeof searchSplits>, latency: LatencyModel, target: { targetMs: number; baselineMs: number }): Promise<SearchResult> {
  const strategy = strategyOf(o.strategy);
  const options = strategyOptions(o);
  const net = new Supernet(o.space, o.seed);
  const layers = searchableLayers(o.space);
  const blocksOf = (p: Path) => pathBlocks(o.space, p, layers).map(formatBlock);
  const baseline = baselinePath(o.space);
  const { targetMs, baselineMs } = target;
  const say = (line: string) => { if (!o.quiet) process.stderr.write(`${line}\n`); };
  say(`search: ${o.strategy} on space '${o.space.name}' (${net.size.toExponential(2)} archs), target ${targetMs.toFixed(4)} ms `
    + `(baseline ${blocksOf(baseline).length}x MobileNetV2-style: ${baselineMs.toFixed(4)} ms; fastest ${latency.fastest().ms.toFixed(4)} ms)`);

  prepareOutputFolder(o.out);
  const statePath = join(o.out, SEARCH_STATE_FILE);
  const identity = identityOf(o, strategy, options, targetMs);
  const { split, trainIdx, wIdx, ownIdx, stepsPerEpoch, ownSteps } = splits;
  const ctx: StrategyContext = {
    space: o.space, net, latency, targetMs, seed: o.seed, epochs: o.epochs, batch: o.batch, dataset: o.dataset, sampling: o.sampling ?? 'uniform', ownIdx, ownSteps,
    out: o.out, resume: o.resume, identity, statePath, quiet: o.quiet ?? false, say, blocksOf,
  };
  const run = strategy.start(ctx, options);
  const wOpt = new SgdMomentum(o.lr, o.momentum, true);
  let meta: SearchStateMeta = { version: 1, identity, epochsDone: 0, log: [], searchSeconds: 0 };
  let pool: SupernetPool | undefined;

  try {
    const workers = workersFor(o.workers ?? 1, o.batch);
    if (!o.resume) checkFreshFolder(o);
    if (o.resume && existsSync(statePath)) {
      meta = await resumeState(o, statePath, identity, net, run, wOpt);
      say(`search: resumed after epoch ${meta.epochsDone} of ${o.epochs}`);
    }
    const resumedFrom = meta.epochsDone;
    if (o.supernetFrom && meta.epochsDone === 0) reuseSupernet(o, o.supernetFrom, strategy, net, meta, say);

    const norm = computeNormalization(o.dataset, split.train);
    const totalSteps = stepsPerEpoch * o.epochs;
    const { h, w, c } = o.space.input;
    const toX = (b: { x: Float32Array; size: number }) => tf.tensor4d(b.x.subarray(0, b.size * h * w * c), [b.size, h, w, c]);
    const started = Date.now() - meta.searchSeconds * 1000;
    const parallelSteps = workers > 1 && o.batch / workers >= (o.parallelStepsFrom ?? PARALLEL_STEPS_FROM);
    if (workers > 1) {
      const scoringSettings = { batch: o.batch, seed: o.seed, calibrationBatches: o.calibrationBatches, evalImages: o.evalImages };
      pool = await SupernetPool.start({
        space: o.space, seed: o.seed, dataset: o.dataset, norm, wIdx, trainIdx, val: split.val, scoring: scoringSettings, momentum: o.momentum,
      }, net, workers, o.backend);
      say(`search: ${workers} worker threads (${parallelSteps ? 'data-parallel weight steps, ' : ''}archs scored in parallel)`);
    }

    const saveState = async (epoch: number) => {
      const tensors: StoredTensor[] = [...snapshot([...net.allVariables(), ...run.stateVariables()]), ...wOpt.state(), ...await run.optimizerState()];
      // A finite last loss does not prove finite weights: its update may have made them NaN.
      const bad = findNonFinite(tensors);
      if (bad) {
        const kept = epoch > 0 ? `the state of epoch ${epoch} in '${statePath}' is kept` : 'no state was written';
        fail(`search diverged: '${bad.name}' became ${bad.value} in epoch ${epoch + 1}; nothing was saved and ${kept}; lower --lr${strategy.lrOptions.map((x) => ` or ${x}`).join('')}`);
      }
      meta.searchSeconds = (Date.now() - started) / 1000;
      writeTensorFile(statePath, meta, tensors);
    };

    for (let epoch = meta.epochsDone; epoch < o.epochs; epoch++) {
      const epochStarted = Date.now();
      // Per-epoch seeds: a resumed run draws what an uninterrupted one would.
      const rng = new Rng(o.seed * 7777 + epoch);
      run.beginEpoch(epoch);
      const bar = progress(`search epoch ${epoch + 1}/${o.epochs}${strategy.weightsLabel}`, stepsPerEpoch, o.quiet);
      let lossSum = 0, hits = 0, seen = 0, step = 0, lr = o.lr;
      let diverged: number | undefined;
      const count = (r: { loss: number; ce: number; hits: number }, size: number) => {
        if (!Number.isFinite(r.loss)) {
          diverged = r.loss;
          return;
        }
        lossSum += r.ce * size; hits += r.hits; seen += size; step++;
        bar.increment(1, `loss ${(lossSum / seen).toFixed(4)} acc ${(hits / seen).toFixed(3)}`);
      };
      if (!pool || !parallelSteps) {
        const stream = new BatchStream(o.dataset, { batchSize: o.batch, norm, seed: o.seed * 1009 + epoch, indices: wIdx, dropLast: true, augment: o.dataset.augment });
        for (const b of stream.epoch()) {
          if (step >= stepsPerEpoch) break;
          lr = cosineLr(o.lr, epoch * stepsPerEpoch + step, totalSteps);
          wOpt.learningRate = lr;
          const x = toX(b);
          const choice = run.weightChoice(rng);
          // A path (or a sandwich's paths) trains its own weights; mixed weights run (and train) every candidate.
          const vars = net.choiceVariables(choice);
          const r = net.step(x, b.y.subarray(0, b.size), () => choice, { optimizer: wOpt, vars, weightDecay: o.weightDecay });
          if ('mixed' in choice) tf.dispose([...choice.mixed]);
          x.dispose();
          count(r, b.size);
          if (diverged !== undefined) break;
          await yieldToEventLoop();
        }
      } else {
        // The epoch's choices drawn up front, as the steps would draw them: they depend on the epoch's rng and on
        // state the weight steps do not change (dnas's θ and τ), and the rng then goes on to endEpoch as in-process.
        const choices = Array.from({ length: stepsPerEpoch }, () => plainChoice(run.weightChoice(rng)));
        // dnas's θ steps moved the coordinator's BatchNorm statistics: the workers start from its supernet.
        await pool.load(net, wOpt);
        const plan = { epoch, steps: stepsPerEpoch, totalSteps, batch: o.batch, lr: o.lr, weightDecay: o.weightDecay, choices };
        await pool.weightEpoch(plan, (s) => { lr = s.lr; count(s, s.size); });
        if (diverged === undefined) await pool.takeState(net, wOpt);
      }
      bar.stop();
      if (diverged !== undefined) fail(`search loss became ${diverged} at epoch ${epoch + 1}, step ${step + 1}; the state of epoch ${meta.epochsDone} in '${statePath}' is kept; lower --lr`);

      const own = await run.endEpoch(epoch, rng, { norm, toX });
      meta.log.push({ epoch: epoch + 1, seconds: (Date.now() - epochStarted) / 1000, lr, loss: lossSum / seen, trainAcc: hits / seen, ...own.fields });
      meta.epochsDone = epoch + 1;
      await saveState(epoch);
      const e = meta.log[meta.log.length - 1]!;
      say(`search epoch ${epoch + 1}: loss ${e.loss.toFixed(4)}, acc ${e.trainAcc.toFixed(3)}${own.line}, ${e.seconds.toFixed(0)} s`);
    }

    // Scoring archs with inherited weights: fixed calibration batches, a fixed validation subset (./scoring.ts).
    let scoring: Scoring;
    if (pool) {
      // Every worker scores with the supernet as it is now (resumed, reused with --supernet, or just trained).
      await pool.load(net, wOpt);
      scoring = pool.scoring();
    } else scoring = inheritedScoring(net, o.dataset, { trainIdx, val: split.val }, norm, o);
    const { visited, chosen } = await run.choose(scoring);

    const baselineAcc = (await scoring.accuracies([baseline]))[0]!;
    const searchSeconds = (Date.now() - started) / 1000;
    await writeOutputs(o, strategy, {
      identity, chosen, visited, targetMs, baseline: { blocks: blocksOf(baseline), latencyMs: baselineMs, acc: baselineAcc }, log: meta.log, searchSeconds, fastestMs: latency.fastest().ms,
      workers,
    });
    say(`search: chose ${chosen.blocks.join(',')}: ${chosen.latencyMs.toFixed(4)} ms predicted (target ${targetMs.toFixed(4)}), `
      + `${(100 * chosen.acc).toFixed(2)}% validation accuracy with supernet weights (baseline ${(100 * baselineAcc).toFixed(2)}% at ${baselineMs.toFixed(4)} ms)`);
    return { blocks: chosen.blocks, predictedMs: chosen.latencyMs, targetMs, valAcc: chosen.acc, resumedFrom };
  } catch (e) {
    run.explainFailure?.(e, meta.epochsDone);
    throw e;
  } finally {
    await pool?.close();
    net.dispose();
    run.dispose();
    wOpt.dispose();
  }
}

/** --resume: the state after the epochs done, restored into the supernet, the strategy and the weights' optimiser. */
async function resumeState(o: SearchOptions, statePath: string, identity: Record<string, unknown>, net: Supernet, run: StrategyRun, wOpt: SgdMomentum): Promise<SearchStateMeta> {
  const st = readTensorFile(statePath, 'search state', { meta: SearchStateMetaSchema, fix: RESTART_SEARCH });
  const change = describeChange(st.meta.identity, identity);
  if (change) fail(`cannot resume '${o.out}': the search settings changed (${change}); rerun with the original settings or choose another --out`);
  restore([...net.allVariables(), ...run.stateVariables()], st.tensors, statePath, 'it was made by another supernet layout (an older latnas?); start a new --out');
  wOpt.restore(st.tensors.values());
  await run.restoreOptimizer(st.tensors);
  return st.meta;
}

/** --supernet: another search's trained supernet instead of training one (OFA: train once, search many targets); its log becomes this run's. */
function reuseSupernet(o: SearchOptions, dir: string, strategy: RegisteredStrategy, net: Supernet, meta: SearchStateMeta, say: (line: string) => void): void {
  if (strategy.ownSupernet) {
    const reusers = STRATEGY_NAMES.filter((n) => !strategyOf(n).ownSupernet);
    fail(`--supernet applies to --strategy ${reusers.join(', ')} only (${strategy.ownSupernet})`);
  }
  const from = join(dir, SEARCH_STATE_FILE);
  if (!existsSync(from)) fail(`--supernet '${dir}' has no ${SEARCH_STATE_FILE}; give the run folder of a search of space '${o.space.name}'`);
  const st = readTensorFile(from, 'search state', { meta: SearchStateMetaSchema, fix: 'give the run folder of another search, or search again there to train a new supernet' });
  const other = st.meta.identity;
  if (other['spaceFingerprint'] !== meta.identity['spaceFingerprint']) {
    fail(`--supernet '${dir}' was trained for another space (${String(other['space'])}); use a run of space '${o.space.name}'`);
  }
  restore(net.allVariables(), st.tensors, from, 'it was made by another supernet layout (an older latnas?); search again to train a new one');
  meta.log = st.meta.log;
  meta.epochsDone = o.epochs;
  say(`search: supernet from '${dir}' (${st.meta.epochsDone} epochs, ${String(other['strategy'])}); no supernet training`);
}

async function writeOutputs(o: SearchOptions, strategy: RegisteredStrategy, r: {
  identity: Record<string, unknown>; chosen: Visited; visited: Visited[]; targetMs: number; baseline: { blocks: string[]; latencyMs: number; acc: number };
  log: EpochLog[]; searchSeconds: number; fastestMs: number; workers: number;
}): Promise<void> {
  const { out } = o;
  const lut: LutRecord = { path: o.lutPath, device: o.lut.device, space: o.lut.space, spaceFingerprint: o.lut.spaceFingerprint, provenance: o.lut.provenance };
  writeRunFile(out, SEARCH_RUN.arch, {
    space: o.space.name, blocks: r.chosen.blocks, predictedMs: r.chosen.latencyMs, targetMs: r.targetMs,
    supernetValAcc: r.chosen.acc, strategy: o.strategy, seed: o.seed, dataset: o.dataset.spec, lut,
    baseline: r.baseline, fastestMs: r.fastestMs, searchSeconds: r.searchSeconds,
  });
  writeRunFile(out, SEARCH_RUN.visited, r.visited);
  const front = paretoFront(r.visited);
  writeRunFile(out, SEARCH_RUN.pareto, front);
  const frontKeys = new Set(front.map((v) => pathKey(v.path)));
  const points: ParetoPoint[] = r.visited.map((v) => ({
    latencyMs: v.latencyMs, acc: v.acc, blocks: v.blocks,
    role: pathKey(v.path) === pathKey(r.chosen.path) ? 'chosen' : frontKeys.has(pathKey(v.path)) ? 'front' : 'visited',
  }));
  points.push({ latencyMs: r.baseline.latencyMs, acc: r.baseline.acc, blocks: r.baseline.blocks, role: 'baseline' });
  writeFileAtomic(join(out, PARETO_SVG), await paretoSvg(points, r.targetMs, `${o.strategy} on ${o.space.name}, ${o.lut.device}: accuracy vs latency (target ${r.targetMs.toFixed(4)} ms)`));
  writeRunFile(out, SEARCH_RUN.log, { strategy: o.strategy, targetMs: r.targetMs, options: r.identity, workers: r.workers, searchSeconds: r.searchSeconds, epochs: r.log });
  const rows = r.log.map((e) => ({ epoch: e.epoch, loss: e.loss, trainAcc: e.trainAcc, thetaLoss: e.thetaLoss, expectedMs: e.expectedMs, temperature: e.temperature }));
  writeFileAtomic(join(out, CURVES_SVG), await curvesSvg(rows, strategy.curves, `${o.strategy} search curves`));
}
