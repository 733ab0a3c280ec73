/**
 * `latnas train`: trains an architecture of a space on a dataset and writes a run folder:
 * `weights.bin` (every variable, running BN statistics included), `arch.json` (with the LUT the
 * arch was searched with), `metrics.json`, and `checkpoint.bin` rewritten atomically after every
 * epoch, so `--resume` loses no finished epoch (the files: src/runfolder/train.ts).
 * SGD with momentum and a cosine learning rate (Adam optional), optional label smoothing.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { checkDatasetFits, type Dataset } from '../datasets/dataset.js';
import { computeNormalization, type Normalization } from '../datasets/normalize.js';
import { splitTrainVal } from '../datasets/split.js';
import { fail } from '../errors.js';
import { writeRunFile, type ArchRecord, type LutRecord, type LutRecordRead } from '../runfolder/files.js';
import { CHECKPOINT_FILE, CheckpointMetaSchema, TRAIN_RUN, WEIGHTS_FILE, type CheckpointMeta, type EpochMetrics, type WeightsMeta } from '../runfolder/train.js';
import { archToJson } from '../space/arch.js';
import type { Block } from '../space/blocks.js';
import { networkUnits } from '../space/network.js';
import type { Space } from '../space/spaces.js';
import { describeChange } from '../util/changes.js';
import { findNonFinite } from '../util/finite.js';
import { lockFolder } from '../util/lock.js';
import { prepareOutputFolder } from '../util/outdir.js';
import { progress } from '../util/progress.js';
import { LocalEngine, type EngineSetup, type TrainEngine } from './engine.js';
import type { EpochPlan } from './epoch.js';
import { WorkerPool, workersFor } from './parallel/pool.js';
import { readTensorFile, writeTensorFile, type StoredTensor } from './tensor-file.js';

export type { EpochMetrics } from '../runfolder/train.js';
export { TRAIN_FILES } from '../runfolder/train.js';

/** `latnas train`'s defaults; the pipeline trains its winner with them but for its own epochs, steps, batch and lr. */
export const TRAIN_DEFAULTS = {
  epochs: 5, batch: 64, lr: 0.05, momentum: 0.9, weightDecay: 4e-5, optimizer: 'sgd' as 'sgd' | 'adam', labelSmoothing: 0, valFraction: 0.1,
  augment: true, seed: 1,
  /** Data-parallel worker threads: every core (1 trains in this thread). */
  workers: availableParallelism(),
};

export interface TrainOptions {
  space: Space;
  blocks: readonly Block[];
  dataset: Dataset;
  out: string;
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  optimizer: 'sgd' | 'adam';
  labelSmoothing: number;
  valFraction: number;
  augment: boolean;
  seed: number;
  resume: boolean;
  quiet?: boolean;
  /** Caps steps per epoch (tests and smoke runs). */
  maxSteps?: number;
  backend: string;
  /** Worker threads for data-parallel training (default TRAIN_DEFAULTS.workers, every core; 1: this thread). */
  workers?: number;
  /** The LUT the arch was searched with (its search's arch.json `lut`): recorded in arch.json, so `latnas export` predicts with it. */
  lut?: LutRecord | LutRecordRead;
  /**
   * Weights to start from instead of the seeded init (every variable; `latnas adapt` passes a
   * trained net's sliced to a cut arch: src/weights/slice.ts). A resumed run continues its checkpoint.
   */
  init?: readonly StoredTensor[];
}

export interface TrainResult {
  epochs: EpochMetrics[]; testAcc: number; resumedFrom: number;
  /** Worker threads the run trained on (the result depends on it: per-shard BatchNorm statistics). */
  workers: number;
}

/**
 * What a resumed run must share with the run that wrote the checkpoint: everything that shapes
 * the result. Not --epochs (extending a finished run is what --resume is for) nor the backend.
 */
function trainSettings(o: TrainOptions): Record<string, unknown> {
  return {
    dataset: o.dataset.spec, batch: o.batch, lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, optimizer: o.optimizer,
    labelSmoothing: o.labelSmoothing, valFraction: o.valFraction, augment: o.augment, seed: o.seed, maxSteps: o.maxSteps ?? null,
  };
}

/**
 * Fails with one line when a batch does not fit the training split: an epoch would have 0 steps,
 * and the run would "finish" with untrained weights and NaN images per second.
 */
export function checkBatchFits(trainImages: number, batch: number, dataset: Dataset, valFraction: number, option = '--batch'): void {
  if (trainImages < batch) {
    fail(`${option} ${batch} is larger than the training split of ${dataset.spec} (${trainImages} images after holding out ${(100 * valFraction).toFixed(0)}% for validation), `
      + `so an epoch would have no step; lower ${option} to at most ${trainImages}`);
  }
}

/** Fails unless every tensor about to be saved is finite; NaN weights would otherwise be checkpointed and shipped. */
function checkFiniteModel(tensors: readonly StoredTensor[], where: string, kept: string): void {
  const bad = findNonFinite(tensors);
  if (bad) fail(`training diverged: ${bad.name.startsWith('optimizer/') ? 'optimizer state' : 'weight'} '${bad.name}' became ${bad.value} ${where}; nothing was saved and ${kept}; lower --lr`);
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { space, dataset, out } = opts;
  checkDatasetFits(space, dataset);
  // Every check that needs no output runs before the folder is created or locked.
  const split = splitTrainVal(dataset, opts.valFraction, opts.seed);
  checkBatchFits(split.train.length, opts.batch, dataset, opts.valFraction);
  const lock = lockFolder(out);
  try {
    return await trainLocked(opts, split);
  } finally {
    lock.release();
  }
}

async function trainLocked(opts: TrainOptions, split: ReturnType<typeof splitTrainVal>): Promise<TrainResult> {
  const { space, dataset, out } = opts;
  prepareOutputFolder(out);
  const settings = trainSettings(opts);
  // The searched LUT travels with the arch: export predicts with the table the arch was chosen for.
  const arch: ArchRecord = { ...archToJson(space, opts.blocks), ...(opts.lut ? { lut: opts.lut } : {}) };
  const checkpointPath = join(out, CHECKPOINT_FILE);

  let checkpoint: ReturnType<typeof readTensorFile<CheckpointMeta>> | undefined;
  if (opts.resume && existsSync(checkpointPath)) {
    const ck = readTensorFile(checkpointPath, 'checkpoint', { meta: CheckpointMetaSchema, fix: 'delete it to start training over (its epochs are lost), or choose another --out' });
    const meta: CheckpointMeta = ck.meta;
    if (JSON.stringify(meta.arch) !== JSON.stringify(arch.blocks)) {
      // Without --resume the checkpoint is refused too: the way out is the arch it was made for, or another folder.
      fail(`checkpoint '${checkpointPath}' was made for arch ${meta.arch.join(',')}, not the --arch given (${arch.blocks.join(',')}); pass that --arch to continue it, or choose another --out`);
    }
    // Older checkpoints recorded only the seed; compare what they have.
    const change = describeChange(meta.settings ?? { seed: meta.seed }, meta.settings ? settings : { seed: settings['seed'] });
    if (change) fail(`cannot resume '${out}': the training settings changed (${change}); rerun with the original settings or choose another --out`);
    // metrics.json records --epochs: fewer than were trained would be a wrong record.
    if (opts.epochs < meta.history.length) {
      fail(`cannot resume '${out}' with --epochs ${opts.epochs}: its checkpoint has ${meta.history.length} epochs done; pass --epochs ${meta.history.length} or more`);
    }
    checkpoint = ck;
  } else if (existsSync(checkpointPath) && !opts.resume) {
    if (existsSync(join(out, WEIGHTS_FILE))) {
      fail(`run folder '${out}' already holds a finished training run (weights.bin); choose another --out, or pass --resume with a larger --epochs to train it further`);
    }
    fail(`run folder '${out}' holds an unfinished training run (checkpoint.bin); pass --resume to continue it with the same settings, or choose another --out`);
  }

  const norm = computeNormalization(dataset, split.train);
  const workers = workersFor(opts.workers ?? TRAIN_DEFAULTS.workers, opts.batch);
  const setup: EngineSetup = {
    spec: {
      layers: networkUnits(space, opts.blocks).flatMap((u) => u.layers), input: space.input, classes: space.classes, seed: opts.seed,
      optimizer: opts.optimizer, lr: opts.lr, momentum: opts.momentum, weightDecay: opts.weightDecay, labelSmoothing: opts.labelSmoothing,
    },
    dataset, norm, trainIdx: split.train,
  };
  const engine: TrainEngine = workers > 1 ? await WorkerPool.start(setup, workers, opts.backend) : new LocalEngine(setup);
  try {
    // A checkpoint holds the same tensors whatever the worker count: one written with N workers resumes with M.
    if (checkpoint) await engine.restore(checkpoint.tensors, checkpointPath);
    else if (opts.init) await engine.restore(new Map(opts.init.map((t) => [t.name, t])), 'the weights to start from');
    return await trainEpochs(opts, engine, { arch, settings, norm, split, history: checkpoint?.meta.history ?? [] });
  } finally {
    await engine.close();
  }
}

interface RunContext {
  arch: ArchRecord;
  settings: Record<string, unknown>;
  norm: Normalization;
  split: ReturnType<typeof splitTrainVal>;
  history: EpochMetrics[];
}

async function trainEpochs(opts: TrainOptions, engine: TrainEngine, run: RunContext): Promise<TrainResult> {
  const { space, dataset, out } = opts;
  const { arch, settings, norm, split } = run;
  const history = [...run.history];
  const resumedFrom = history.length;
  const checkpointPath = join(out, CHECKPOINT_FILE);
  const stepsPerEpoch = Math.min(opts.maxSteps ?? Infinity, Math.floor(split.train.length / opts.batch));
  const totalSteps = stepsPerEpoch * opts.epochs;
  for (let epoch = resumedFrom; epoch < opts.epochs; epoch++) {
    const bar = progress(`epoch ${epoch + 1}/${opts.epochs}`, stepsPerEpoch, opts.quiet);
    const started = Date.now();
    let lossSum = 0, correct = 0, seen = 0, step = 0, lr = opts.lr, lastLoss = Number.NaN;
    let diverged: number | undefined;
    const plan: EpochPlan = { epoch, steps: stepsPerEpoch, totalSteps, batch: opts.batch, lr: opts.lr, seed: opts.seed, augment: opts.augment };
    await engine.runEpoch(plan, (s) => {
      lr = s.lr;
      step++;
      if (!Number.isFinite(s.loss)) {
        diverged = s.loss;
        return;
      }
      lossSum += s.loss * s.size;
      correct += s.hits;
      seen += s.size;
      lastLoss = s.loss;
      const secs = (Date.now() - started) / 1000;
      bar.increment(1, `loss ${(lossSum / seen).toFixed(4)} acc ${(correct / seen).toFixed(3)} ${(seen / Math.max(secs, 1e-3)).toFixed(0)} img/s`);
    });
    bar.stop();
    if (diverged !== undefined) {
      const kept = history.length > 0 ? `the checkpoint of epoch ${history.length} in '${checkpointPath}' is kept` : 'no epoch had finished, so no checkpoint was written';
      fail(`loss became ${diverged} at epoch ${epoch + 1}, step ${step} (learning rate ${lr.toPrecision(3)}); training stopped and ${kept}; lower --lr`);
    }
    const seconds = (Date.now() - started) / 1000;
    const valAcc = split.val.length > 0 ? await engine.accuracy('train', split.val) : Number.NaN;
    history.push({ epoch: epoch + 1, loss: lossSum / seen, trainAcc: correct / seen, valAcc, lr, seconds, imagesPerSecond: seen / seconds });
    const meta: CheckpointMeta = { epoch: epoch + 1, history, seed: opts.seed, arch: arch.blocks, settings };
    const tensors = await engine.state();
    // The last step's loss was finite, but its update can still have made the weights NaN.
    const kept = history.length > 1 ? `the checkpoint of epoch ${history.length - 1} in '${checkpointPath}' is kept` : 'no checkpoint was written';
    checkFiniteModel(tensors, `at epoch ${epoch + 1}, step ${step} (loss ${lastLoss.toPrecision(4)}, learning rate ${lr.toPrecision(3)})`, kept);
    writeTensorFile(checkpointPath, meta, tensors);
    if (!opts.quiet) {
      process.stderr.write(`epoch ${epoch + 1}: loss ${(lossSum / seen).toFixed(4)}, train acc ${(correct / seen).toFixed(4)}, val acc ${valAcc.toFixed(4)}, `
        + `${(seen / seconds).toFixed(0)} img/s${engine.workers > 1 ? ` on ${engine.workers} workers` : ''}\n`);
    }
  }
  const testAcc = await engine.accuracy('test');
  const weights = await engine.weights();
  // A checkpoint written by an older latnas may hold NaN: never ship it as weights.bin.
  checkFiniteModel(weights, `in the checkpoint '${checkpointPath}'`, 'no weights.bin was written');
  const weightsMeta: WeightsMeta = { arch: arch.blocks, space: space.name };
  writeTensorFile(join(out, WEIGHTS_FILE), weightsMeta, weights);
  writeRunFile(out, TRAIN_RUN.arch, arch);
  // The space definition itself, so the run folder is self-contained (exporting needs no --space).
  writeRunFile(out, TRAIN_RUN.space, space);
  writeRunFile(out, TRAIN_RUN.metrics, {
    space: space.name, dataset: dataset.name, datasetSpec: dataset.spec, classes: dataset.classes, backend: opts.backend, workers: engine.workers,
    ...(dataset.cache ? { imageCache: resolve(dataset.cache) } : {}),
    epochs: opts.epochs, batch: opts.batch, lr: opts.lr, optimizer: opts.optimizer, labelSmoothing: opts.labelSmoothing, seed: opts.seed, normalization: norm,
    testAcc, history,
  });
  return { epochs: history, testAcc, resumedFrom, workers: engine.workers };
}
