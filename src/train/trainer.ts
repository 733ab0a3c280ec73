/**
 * `latnas train`: trains an architecture of a space on a dataset and writes a run folder:
 * `weights.bin` (every variable, running BN statistics included), `arch.json` (with the LUT the
 * arch was searched with), `metrics.json`, and `checkpoint.bin` rewritten atomically after every
 * epoch, so `--resume` loses no finished epoch (the files: src/runfolder/train.ts).
 * SGD with momentum and a cosine learning rate (Adam optional), optional label smoothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BatchStream } from '../datasets/batches.js';
import { checkDatasetFits, type Dataset } from '../datasets/dataset.js';
import { computeNormalization } from '../datasets/normalize.js';
import { splitTrainVal } from '../datasets/split.js';
import { fail } from '../errors.js';
import { writeRunFile, type ArchRecord, type LutRecord, type LutRecordRead } from '../runfolder/files.js';
import { CHECKPOINT_FILE, CheckpointMetaSchema, TRAIN_RUN, WEIGHTS_FILE, type CheckpointMeta, type EpochMetrics, type WeightsMeta } from '../runfolder/train.js';
import { archToJson } from '../space/arch.js';
import type { Block } from '../space/blocks.js';
import { networkUnits } from '../space/network.js';
import type { Space } from '../space/spaces.js';
import { describeChange } from '../util/changes.js';
import { argmaxFinite, findNonFinite } from '../util/finite.js';
import { lockFolder, yieldToEventLoop } from '../util/lock.js';
import { prepareOutputFolder } from '../util/outdir.js';
import { progress } from '../util/progress.js';
import { optimizerState, restore, restoreOptimizer, snapshot } from './checkpoint.js';
import { TfModel } from './model.js';
import { cosineLr } from './optim.js';
import { readTensorFile, writeTensorFile, type StoredTensor } from './tensor-file.js';

export type { EpochMetrics } from '../runfolder/train.js';
export { TRAIN_FILES } from '../runfolder/train.js';

/** `latnas train`'s defaults; the pipeline trains its winner with them but for its own epochs, steps, batch and lr. */
export const TRAIN_DEFAULTS = {
  epochs: 5, batch: 64, lr: 0.05, momentum: 0.9, weightDecay: 4e-5, optimizer: 'sgd' as 'sgd' | 'adam', labelSmoothing: 0, valFraction: 0.1,
  augment: true, seed: 1,
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
  /** The LUT the arch was searched with (its search's arch.json `lut`): recorded in arch.json, so `latnas export` predicts with it. */
  lut?: LutRecord | LutRecordRead;
}

export interface TrainResult { epochs: EpochMetrics[]; testAcc: number; resumedFrom: number }

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

/**
 * Top-1 accuracy in inference mode over `stream`'s split. A row of logits with a NaN or an
 * infinity counts as wrong (tf.argMax would call it class 0); an empty split has no accuracy (NaN).
 */
export function evaluate(model: TfModel, stream: BatchStream): number {
  const { h, w, c } = model.input;
  let correct = 0, seen = 0;
  for (const b of stream.epoch()) {
    const logits = tf.tidy(() => model.forward(tf.tensor4d(b.x.subarray(0, b.size * h * w * c), [b.size, h, w, c]), false).dataSync() as Float32Array);
    const k = logits.length / b.size;
    for (let i = 0; i < b.size; i++) if (argmaxFinite(logits, i * k, k) === b.y[i]) correct++;
    seen += b.size;
  }
  return seen > 0 ? correct / seen : Number.NaN;
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
  const layers = networkUnits(space, opts.blocks).flatMap((u) => u.layers);
  const model = new TfModel(layers, space.input, opts.seed);
  const optimizer = opts.optimizer === 'adam' ? tf.train.adam(opts.lr) : tf.train.momentum(opts.lr, opts.momentum, true);
  const checkpointPath = join(out, CHECKPOINT_FILE);

  let history: EpochMetrics[] = [];
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
    restore(model.allVariables(), ck.tensors, checkpointPath);
    await restoreOptimizer(optimizer, ck.tensors, 'optimizer');
    history = meta.history;
  } else if (existsSync(checkpointPath) && !opts.resume) {
    if (existsSync(join(out, WEIGHTS_FILE))) {
      fail(`run folder '${out}' already holds a finished training run (weights.bin); choose another --out, or pass --resume with a larger --epochs to train it further`);
    }
    fail(`run folder '${out}' holds an unfinished training run (checkpoint.bin); pass --resume to continue it with the same settings, or choose another --out`);
  }
  const resumedFrom = history.length;

  const norm = computeNormalization(dataset, split.train);
  const valStream = new BatchStream(dataset, { batchSize: 256, norm, seed: opts.seed, indices: split.val, shuffle: false });
  const { h, w, c } = space.input;
  const stepsPerEpoch = Math.min(opts.maxSteps ?? Infinity, Math.floor(split.train.length / opts.batch));
  const totalSteps = stepsPerEpoch * opts.epochs;
  const vars = model.trainableVariables();
  // Weight decay applies to conv and fc weights only (not biases or BN affine terms); a fixed set.
  const decayed = vars.filter((v) => v.shape.length > 1);

  try {
    for (let epoch = resumedFrom; epoch < opts.epochs; epoch++) {
      // A stream per epoch, seeded by the epoch: a resumed run sees the same batches.
      const stream = new BatchStream(dataset, {
        batchSize: opts.batch, norm, seed: opts.seed * 1009 + epoch, indices: split.train, dropLast: true,
        augment: opts.augment ? dataset.augment : null,
      });
      const bar = progress(`epoch ${epoch + 1}/${opts.epochs}`, stepsPerEpoch, opts.quiet);
      const started = Date.now();
      let lossSum = 0, correct = 0, seen = 0, step = 0, lr = opts.lr, lastLoss = Number.NaN;
      for (const b of stream.epoch()) {
        if (step >= stepsPerEpoch) break;
        lr = cosineLr(opts.lr, epoch * stepsPerEpoch + step, totalSteps);
        if (opts.optimizer === 'sgd') (optimizer as tf.MomentumOptimizer).setLearningRate(lr);
        const [loss, hits] = tf.tidy(() => {
          const x = tf.tensor4d(b.x, [b.size, h, w, c]);
          const y = tf.oneHot(tf.tensor1d(b.y, 'int32'), space.classes);
          let hit: tf.Tensor | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const logits = model.forward(x, true);
            // variableGrads disposes what f made; keep the hit count for the progress line.
            hit = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32')));
            const ce = tf.losses.softmaxCrossEntropy(y, logits, undefined, opts.labelSmoothing) as tf.Scalar;
            if (opts.weightDecay === 0) return ce;
            return tf.add(ce, tf.mul(opts.weightDecay / 2, tf.addN(decayed.map((v) => tf.sum(tf.square(v)))))) as tf.Scalar;
          }, vars);
          optimizer.applyGradients(grads as tf.NamedTensorMap as Parameters<typeof optimizer.applyGradients>[0]);
          const hits = hit!.dataSync()[0]!;
          hit!.dispose();
          return [value.dataSync()[0]!, hits];
        });
        if (!Number.isFinite(loss)) {
          const kept = history.length > 0 ? `the checkpoint of epoch ${history.length} in '${checkpointPath}' is kept` : 'no epoch had finished, so no checkpoint was written';
          fail(`loss became ${loss} at epoch ${epoch + 1}, step ${step + 1} (learning rate ${lr.toPrecision(3)}); training stopped and ${kept}; lower --lr`);
        }
        lossSum += loss * b.size;
        correct += hits;
        seen += b.size;
        step++;
        lastLoss = loss;
        const secs = (Date.now() - started) / 1000;
        bar.increment(1, `loss ${(lossSum / seen).toFixed(4)} acc ${(correct / seen).toFixed(3)} ${(seen / Math.max(secs, 1e-3)).toFixed(0)} img/s`);
        await yieldToEventLoop();
      }
      bar.stop();
      const seconds = (Date.now() - started) / 1000;
      const valAcc = split.val.length > 0 ? evaluate(model, valStream) : Number.NaN;
      history.push({ epoch: epoch + 1, loss: lossSum / seen, trainAcc: correct / seen, valAcc, lr, seconds, imagesPerSecond: seen / seconds });
      const optState = await optimizerState(optimizer, 'optimizer');
      const meta: CheckpointMeta = { epoch: epoch + 1, history, seed: opts.seed, arch: arch.blocks, settings };
      const tensors = [...snapshot(model.allVariables()), ...optState];
      // The last step's loss was finite, but its update can still have made the weights NaN.
      const kept = history.length > 1 ? `the checkpoint of epoch ${history.length - 1} in '${checkpointPath}' is kept` : 'no checkpoint was written';
      checkFiniteModel(tensors, `at epoch ${epoch + 1}, step ${step} (loss ${lastLoss.toPrecision(4)}, learning rate ${lr.toPrecision(3)})`, kept);
      writeTensorFile(checkpointPath, meta, tensors);
      if (!opts.quiet) {
        process.stderr.write(`epoch ${epoch + 1}: loss ${(lossSum / seen).toFixed(4)}, train acc ${(correct / seen).toFixed(4)}, val acc ${valAcc.toFixed(4)}, `
          + `${(seen / seconds).toFixed(0)} img/s\n`);
      }
    }
    const testStream = new BatchStream(dataset, { batchSize: 256, norm, seed: opts.seed, split: 'test', shuffle: false });
    const testAcc = evaluate(model, testStream);
    const weights = snapshot(model.allVariables());
    // A checkpoint written by an older latnas may hold NaN: never ship it as weights.bin.
    checkFiniteModel(weights, `in the checkpoint '${checkpointPath}'`, 'no weights.bin was written');
    const weightsMeta: WeightsMeta = { arch: arch.blocks, space: space.name };
    writeTensorFile(join(out, WEIGHTS_FILE), weightsMeta, weights);
    writeRunFile(out, TRAIN_RUN.arch, arch);
    // The space definition itself, so the run folder is self-contained (exporting needs no --space).
    writeRunFile(out, TRAIN_RUN.space, space);
    writeRunFile(out, TRAIN_RUN.metrics, {
      space: space.name, dataset: dataset.name, datasetSpec: dataset.spec, classes: dataset.classes, backend: opts.backend, epochs: opts.epochs, batch: opts.batch, lr: opts.lr,
      optimizer: opts.optimizer, labelSmoothing: opts.labelSmoothing, seed: opts.seed, normalization: norm, testAcc, history,
    });
    return { epochs: history, testAcc, resumedFrom };
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}
