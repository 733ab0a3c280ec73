/**
 * Synchronous data-parallel training over worker_threads (`--workers N`): N workers, each with
 * its own TF.js backend and replica (worker.ts); each step every worker computes the gradients of
 * its shard of the batch, they are summed through shared memory in a fixed order (allreduce.ts),
 * and every replica applies the same update, so replicas never drift apart and a run is
 * reproducible for a given N and seed. The dataset is shared, not copied per worker. This thread
 * only coordinates: it sends commands, relays rank 0's step reports and writes the files.
 *
 * A worker that fails or dies ends the run with one line naming it; the others are woken from
 * the all-reduce (the abort flag) and terminated. The trainer writes checkpoints only between
 * epochs, so the last one stays valid.
 */
import { fail } from '../../errors.js';
import type { TrainEngine, EngineSetup } from '../engine.js';
import type { EpochPlan, StepReport } from '../epoch.js';
import { exchangeLengths } from '../replica.js';
import type { StoredTensor } from '../tensor-file.js';
import { allocateAllReduce } from './allreduce.js';
import type { Command, InitMessage, WorkerTiming } from './protocol.js';
import { shareDataset } from './shared-dataset.js';
import { WorkerThreads } from './threads.js';

export class WorkerPool implements TrainEngine {
  /** Per worker, where its last epoch's time went (bench:train-profile). */
  lastTimings: WorkerTiming[] = [];

  private constructor(private readonly threads: WorkerThreads<StepReport>) {}

  get workers(): number {
    return this.threads.workers;
  }

  /** Starts `workers` threads on `backend` (a name initBackend accepts) and waits until each has its replica. */
  static async start(setup: EngineSetup, workers: number, backend: string): Promise<WorkerPool> {
    const lengths = exchangeLengths(setup.spec.layers, setup.spec.input);
    const buffers = allocateAllReduce(workers, Math.max(lengths.gradients, lengths.statistics));
    const dataset = shareDataset(setup.dataset);
    const threads = await WorkerThreads.start<StepReport>({
      url: new URL('./worker.js', import.meta.url), workers, buffers, role: 'training worker',
      afterCrash: '; the last checkpoint is kept: rerun with --resume (with --workers 1 if it recurs)',
    }, (rank): InitMessage => ({ type: 'init', rank, workers, backend, spec: setup.spec, dataset, norm: setup.norm, trainIdx: setup.trainIdx, buffers }));
    return new WorkerPool(threads);
  }

  async restore(stored: Map<string, StoredTensor>, path: string): Promise<void> {
    const tensors = [...stored.values()];
    await this.threads.all((): Command => ({ type: 'restore', tensors, path }));
  }

  async runEpoch(plan: EpochPlan, onStep: (s: StepReport) => void): Promise<void> {
    this.lastTimings = (await this.threads.all((): Command => ({ type: 'epoch', plan }), onStep)) as WorkerTiming[];
  }

  async accuracy(split: 'train' | 'test', indices?: Uint32Array, batch?: number): Promise<number> {
    // A batch of B images is B / N per worker, as a training batch is.
    const each = batch === undefined ? undefined : Math.max(1, Math.ceil(batch / this.workers));
    const parts = (await this.threads.all((): Command => ({ type: 'accuracy', split, indices, batch: each }))) as { correct: number; seen: number }[];
    const seen = parts.reduce((s, p) => s + p.seen, 0);
    return seen > 0 ? parts.reduce((s, p) => s + p.correct, 0) / seen : Number.NaN;
  }

  /** Every replica holds the same state after an epoch: rank 0's is the run's. */
  async state(): Promise<StoredTensor[]> {
    return (await this.threads.send(0, { type: 'state' } satisfies Command)) as StoredTensor[];
  }

  async weights(): Promise<StoredTensor[]> {
    return (await this.threads.send(0, { type: 'weights' } satisfies Command)) as StoredTensor[];
  }

  close(): Promise<void> {
    return this.threads.close();
  }
}

/** Workers a run uses: at most one per sample of a batch (a worker needs a shard). */
export function workersFor(requested: number, batch: number): number {
  if (!Number.isInteger(requested) || requested < 1) fail(`--workers ${requested} is invalid; pass a positive integer, e.g. 2`);
  return Math.min(requested, batch);
}
