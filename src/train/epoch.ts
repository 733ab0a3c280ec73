/**
 * One training epoch's steps, the same for one replica in-process and for each worker of a
 * data-parallel run: the batches come from a BatchStream seeded by the epoch (so a resumed run,
 * and every worker, sees the same batches), and worker r of N trains on rows
 * [r·B/N, (r+1)·B/N) of each batch. Also evaluation over a worker's share of a split.
 */
import { BatchStream } from '../datasets/batches.js';
import type { Shape } from '../space/ir.js';
import type { Dataset } from '../datasets/dataset.js';
import type { Normalization } from '../datasets/normalize.js';
import { sampleSize } from '../datasets/dataset.js';
import { cosineLr } from './optim.js';
import type { Reducer, Replica } from './replica.js';

export interface EpochPlan {
  /** 0-based. */
  epoch: number;
  steps: number;
  /** Steps of the whole run, for the cosine schedule. */
  totalSteps: number;
  batch: number;
  /** Peak learning rate. */
  lr: number;
  seed: number;
  augment: boolean;
}

/** What one step reports: the batch's mean loss and hits, its size, and the learning rate used. */
export interface StepReport { loss: number; hits: number; size: number; lr: number }

/** Rows [lo, hi) of `n` that worker `rank` of `workers` takes: contiguous, sizes differing by at most one. */
export function shardOf(n: number, rank: number, workers: number): { lo: number; hi: number } {
  return { lo: Math.floor((rank * n) / workers), hi: Math.floor(((rank + 1) * n) / workers) };
}

export function trainStream(dataset: Dataset, norm: Normalization, indices: ArrayLike<number>, plan: EpochPlan): BatchStream {
  // A stream per epoch, seeded by the epoch: a resumed run sees the same batches.
  return new BatchStream(dataset, {
    batchSize: plan.batch, norm, seed: plan.seed * 1009 + plan.epoch, indices, dropLast: true,
    augment: plan.augment ? dataset.augment : null,
  });
}

/**
 * The epoch's steps on `replica`, one report per step; it stops after the first non-finite loss
 * (the caller fails the run). With a reducer, this is worker `rank` of `workers`.
 */
export function* epochSteps(replica: Replica, stream: BatchStream, plan: EpochPlan, shard?: { reducer: Reducer; rank: number; workers: number }): Generator<StepReport> {
  const sample = sampleSize(replica.spec.input);
  let step = 0;
  for (const b of stream.epoch()) {
    if (step >= plan.steps) break;
    const lr = cosineLr(plan.lr, plan.epoch * plan.steps + step, plan.totalSteps);
    let r;
    if (!shard) {
      r = replica.step(b.x, b.y, b.size, lr);
    } else {
      const { lo, hi } = shardOf(b.size, shard.rank, shard.workers);
      r = replica.step(b.x.subarray(lo * sample), b.y.subarray(lo), hi - lo, lr, { reducer: shard.reducer, batch: b.size });
    }
    step++;
    yield { ...r, size: b.size, lr };
    if (!Number.isFinite(r.loss)) return;
  }
}

/**
 * Images per inference batch in evaluation (per worker): 256 at 1x28x28 (inference keeps no
 * gradients), and for larger inputs as many as hold the same number of input values, so a
 * batch's activations stay the size they are at 28x28. The wasm heap never shrinks: at 3x64x64,
 * 256 images per batch took a 2-worker training to 8 GiB peak RSS (bench:data-on-disk).
 */
export function evalBatchFor(shape: Shape): number {
  return Math.max(8, Math.min(256, Math.floor((256 * 784) / (shape.c * shape.h * shape.w))));
}

/** Correct predictions over worker `rank`'s share of `indices` of a split (all of it alone). */
export function countCorrect(replica: Replica, dataset: Dataset, norm: Normalization, split: 'train' | 'test', indices: ArrayLike<number> | undefined,
  rank = 0, workers = 1, batchSize = evalBatchFor(dataset.shape)): { correct: number; seen: number } {
  const n = indices?.length ?? dataset[split].count;
  const { lo, hi } = shardOf(n, rank, workers);
  const own = Uint32Array.from({ length: hi - lo }, (_, k) => (indices ? indices[lo + k]! : lo + k));
  if (own.length === 0) return { correct: 0, seen: 0 };
  const stream = new BatchStream(dataset, { batchSize, norm, seed: 1, split, indices: own, shuffle: false });
  let correct = 0, seen = 0;
  for (const b of stream.epoch()) {
    correct += replica.correct(b.x, b.y, b.size);
    seen += b.size;
  }
  return { correct, seen };
}
