/**
 * One copy of a network in training: the TF.js model, its optimiser and the step. The trainer
 * holds one in-process (one worker), or each worker thread holds one (src/train/parallel/); the
 * step is the same code either way, and with several workers its gradients pass through
 * `reduce` (the all-reduce) before the update, so every replica applies the same one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { weightsOf, type Layer, type Shape } from '../space/ir.js';
import { argmaxFinite } from '../util/finite.js';
import { optimizerState, restore, restoreOptimizer, snapshot } from './checkpoint.js';
import { TfModel } from './model.js';
import { FusedMomentumOptimizer } from './optim.js';
import { exchangeGradients, type Reducer } from './parallel/exchange.js';
import type { StoredTensor } from './tensor-file.js';

export type { Reducer } from './parallel/exchange.js';

export interface ReplicaSpec {
  layers: readonly Layer[];
  input: Shape;
  classes: number;
  seed: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  momentum: number;
  weightDecay: number;
  labelSmoothing: number;
}

/** A step's outcome over the whole batch: mean loss (with weight decay) and correct top-1 count. */
export interface StepResult { loss: number; hits: number }


/**
 * Floats of a replica's gradient exchange (every trainable variable, then the loss and the hit
 * count) and of its running statistics, from the IR alone: the coordinator sizes the shared
 * buffers without building a model (its variable names would clash with one it holds).
 */
export function exchangeLengths(layers: readonly Layer[], input: Shape): { gradients: number; statistics: number } {
  let gradients = 2, statistics = 0;
  for (const w of weightsOf(layers, input)) {
    if (w.kind === 'fc') {
      gradients += w.cin * w.cout + w.cout;
    } else {
      // A conv's weight, then its BatchNorm's gamma and beta or its bias; BatchNorm also keeps mean and variance.
      gradients += w.k * w.k * (w.cin / w.groups) * w.cout + (w.bn ? 2 : 1) * w.cout;
      if (w.bn) statistics += 2 * w.cout;
    }
  }
  return { gradients, statistics };
}

/** Sets every variable to its mean over the workers (in `vars` order, the same on each). */
export function averageOverWorkers(vars: readonly tf.Variable[], reducer: Reducer, workers: number): void {
  const slot = reducer.slot;
  let off = 0;
  for (const v of vars) {
    const d = v.dataSync() as Float32Array;
    for (let j = 0; j < d.length; j++) slot[off + j] = d[j]! / workers;
    off += d.length;
  }
  const sum = reducer.sum(off);
  off = 0;
  tf.tidy(() => {
    for (const v of vars) {
      v.assign(tf.tensor(sum.subarray(off, off + v.size), v.shape));
      off += v.size;
    }
  });
}

export class Replica {
  readonly model: TfModel;
  readonly optimizer: tf.Optimizer;
  private readonly vars: tf.Variable[];
  /** Weight decay applies to conv and fc weights only (not biases or BN affine terms); a fixed set. */
  private readonly decayed: tf.Variable[];
  /** Wall milliseconds in steps (exchange included), and of them copying gradients to and from the exchange (profiling). */
  stepMs = 0;
  copyMs = 0;

  constructor(readonly spec: ReplicaSpec) {
    this.model = new TfModel(spec.layers, spec.input, spec.seed);
    this.optimizer = spec.optimizer === 'adam' ? tf.train.adam(spec.lr) : new FusedMomentumOptimizer(spec.lr, spec.momentum, true);
    this.vars = this.model.trainableVariables();
    this.decayed = this.vars.filter((v) => v.shape.length > 1);
  }

  /** Floats a gradient exchange carries: every trainable variable, then the loss and the hit count. */
  get reduceLength(): number {
    return this.vars.reduce((s, v) => s + v.size, 0) + 2;
  }

  /**
   * One step on `size` samples of x (NHWC) and y. Alone (`reduce` absent) they are the batch.
   * With a reducer they are this worker's shard of a batch of `batch` samples: the gradients of
   * the shard's mean loss, weighted by size / batch, are summed over the workers into the
   * gradient of the batch's mean loss.
   */
  step(x: Float32Array, y: Int32Array, size: number, lr: number, reduce?: { reducer: Reducer; batch: number }): StepResult {
    if (this.spec.optimizer === 'sgd') (this.optimizer as tf.MomentumOptimizer).setLearningRate(lr);
    const { h, w, c } = this.spec.input;
    const { weightDecay, labelSmoothing, classes } = this.spec;
    let result!: StepResult;
    const t0 = performance.now();
    tf.tidy(() => {
      const xs = tf.tensor4d(x.subarray(0, size * h * w * c), [size, h, w, c]);
      const ys = tf.oneHot(tf.tensor1d(y.subarray(0, size), 'int32'), classes);
      let hit: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const logits = this.model.forward(xs, true);
        // variableGrads disposes what f made; keep the hit count for the progress line.
        hit = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1)), 'float32')));
        const ce = tf.losses.softmaxCrossEntropy(ys, logits, undefined, labelSmoothing) as tf.Scalar;
        if (weightDecay === 0) return ce;
        return tf.add(ce, tf.mul(weightDecay / 2, tf.addN(this.decayed.map((v) => tf.sum(tf.square(v)))))) as tf.Scalar;
      }, this.vars);
      const hits = hit!.dataSync()[0]!;
      hit!.dispose();
      const loss = value.dataSync()[0]!;
      if (!reduce) {
        this.optimizer.applyGradients(grads as tf.NamedTensorMap as Parameters<tf.Optimizer['applyGradients']>[0]);
        result = { loss, hits };
      } else {
        result = this.reducedStep(grads, loss, hits, size, reduce.reducer, reduce.batch);
      }
    });
    this.stepMs += performance.now() - t0;
    return result;
  }

  private reducedStep(grads: tf.NamedTensorMap, loss: number, hits: number, size: number, reducer: Reducer, batch: number): StepResult {
    const share = size / batch;
    const x = exchangeGradients(reducer, this.vars, grads, share, [loss * share, hits]);
    this.copyMs += x.copyMs;
    const total = { loss: x.results[0]!, hits: x.results[1]! };
    // A non-finite loss stops the run before the update, as alone: the caller checks it.
    if (Number.isFinite(total.loss)) this.optimizer.applyGradients(x.grads as Parameters<tf.Optimizer['applyGradients']>[0]);
    return total;
  }

  /**
   * Replaces the BatchNorm running statistics by their mean over the workers. Each worker's
   * statistics followed its own shards (per-shard batch statistics, as PyTorch DDP); the running
   * averages are linear in the batch statistics, so the mean of the workers' equals running
   * averages of the shards' mean statistics.
   */
  averageRunningStatistics(reducer: Reducer, workers: number): void {
    averageOverWorkers(this.model.runningStatistics(), reducer, workers);
  }

  /** Correct top-1 predictions among `size` samples in inference mode (a non-finite row counts as wrong). */
  correct(x: Float32Array, y: Int32Array, size: number): number {
    const { h, w, c } = this.spec.input;
    const logits = tf.tidy(() => this.model.forward(tf.tensor4d(x.subarray(0, size * h * w * c), [size, h, w, c]), false).dataSync() as Float32Array);
    const k = logits.length / size;
    let correct = 0;
    for (let i = 0; i < size; i++) if (argmaxFinite(logits, i * k, k) === y[i]) correct++;
    return correct;
  }

  /** Every variable (running statistics included) as a checkpoint stores them. */
  weights(): StoredTensor[] {
    return snapshot(this.model.allVariables());
  }

  /** The weights, then the optimiser's state under `optimizer/`: a checkpoint's tensors. */
  async state(): Promise<StoredTensor[]> {
    return [...this.weights(), ...(await optimizerState(this.optimizer, 'optimizer'))];
  }

  async restore(stored: Map<string, StoredTensor>, path: string): Promise<void> {
    restore(this.model.allVariables(), stored, path);
    await restoreOptimizer(this.optimizer, stored, 'optimizer');
  }

  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
  }
}
