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
import { Worker } from 'node:worker_threads';
import { fail, LatnasError } from '../../errors.js';
import type { TrainEngine, EngineSetup } from '../engine.js';
import type { EpochPlan, StepReport } from '../epoch.js';
import { exchangeLengths } from '../replica.js';
import type { StoredTensor } from '../tensor-file.js';
import { abortAllReduce, allocateAllReduce, type AllReduceBuffers } from './allreduce.js';
import type { Command, Reply, WorkerTiming } from './protocol.js';
import { shareDataset } from './shared-dataset.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onStep?: (s: StepReport) => void;
}

export class WorkerPool implements TrainEngine {
  private readonly pending = new Map<number, Pending>();
  private failure: LatnasError | undefined;
  private closing = false;
  /** Per worker, where its last epoch's time went (bench:train-profile). */
  lastTimings: WorkerTiming[] = [];

  private constructor(private readonly threads: Worker[], private readonly buffers: AllReduceBuffers) {}

  get workers(): number {
    return this.threads.length;
  }

  /** Starts `workers` threads on `backend` (a name initBackend accepts) and waits until each has its replica. */
  static async start(setup: EngineSetup, workers: number, backend: string): Promise<WorkerPool> {
    const lengths = exchangeLengths(setup.spec.layers, setup.spec.input);
    const length = Math.max(lengths.gradients, lengths.statistics);
    const buffers = allocateAllReduce(workers, length);
    const dataset = shareDataset(setup.dataset);
    const threads = Array.from({ length: workers }, () => new Worker(WORKER_URL));
    const pool = new WorkerPool(threads, buffers);
    threads.forEach((t, rank) => pool.watch(t, rank));
    await pool.all((rank) => ({ type: 'init', rank, workers, backend, spec: setup.spec, dataset, norm: setup.norm, trainIdx: setup.trainIdx, buffers }));
    return pool;
  }

  private watch(t: Worker, rank: number): void {
    t.on('message', (m: Reply) => {
      const p = this.pending.get(rank);
      if (!p) return;
      if (m.type === 'step') return p.onStep?.(m.report);
      this.pending.delete(rank);
      if (m.type === 'error') {
        // A worker woken by the abort only echoes another's failure.
        if (!m.aborted) this.fault(rank, m.user ? `: ${m.message}` : ` failed: ${m.message}`, !m.user);
        p.reject(this.failure ?? new LatnasError(`training worker ${rank + 1} of ${this.workers} stopped: ${m.message}`));
      } else {
        p.resolve(m.type === 'done' ? m.value : undefined);
      }
    });
    t.on('error', (e) => this.fault(rank, ` failed: ${e.message.split('\n')[0]}`, true));
    t.on('exit', (code) => {
      if (!this.closing) this.fault(rank, ` exited unexpectedly (exit code ${code})`, true);
    });
  }

  /**
   * The run's first failure: one line for the user; every waiting command fails with it. A crash
   * (not a LatnasError of the worker's) says what is kept and how to go on.
   */
  private fault(rank: number, what: string, crash: boolean): void {
    if (!this.failure) {
      const next = crash ? '; the last checkpoint is kept: rerun with --resume (with --workers 1 if it recurs)' : '';
      this.failure = new LatnasError(`training worker ${rank + 1} of ${this.workers}${what}${next}`);
      abortAllReduce(this.buffers);
    }
    for (const [r, p] of this.pending) {
      this.pending.delete(r);
      p.reject(this.failure);
    }
  }

  private send(rank: number, message: unknown, onStep?: (s: StepReport) => void): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(rank, { resolve, reject, onStep });
      this.threads[rank]!.postMessage(message);
    });
  }

  /** Sends every worker its message and waits for all; rejects with the first failure. */
  private async all(message: (rank: number) => unknown, onStep?: (s: StepReport) => void): Promise<unknown[]> {
    const replies = this.threads.map((_, rank) => this.send(rank, message(rank), rank === 0 ? onStep : undefined));
    const settled = await Promise.allSettled(replies);
    if (this.failure) throw this.failure;
    const rejected = settled.find((s) => s.status === 'rejected');
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
    return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
  }

  async restore(stored: Map<string, StoredTensor>, path: string): Promise<void> {
    const tensors = [...stored.values()];
    await this.all((): Command => ({ type: 'restore', tensors, path }));
  }

  async runEpoch(plan: EpochPlan, onStep: (s: StepReport) => void): Promise<void> {
    this.lastTimings = (await this.all((): Command => ({ type: 'epoch', plan }), onStep)) as WorkerTiming[];
  }

  async accuracy(split: 'train' | 'test', indices?: Uint32Array, batch?: number): Promise<number> {
    // A batch of B images is B / N per worker, as a training batch is.
    const each = batch === undefined ? undefined : Math.max(1, Math.ceil(batch / this.workers));
    const parts = (await this.all((): Command => ({ type: 'accuracy', split, indices, batch: each }))) as { correct: number; seen: number }[];
    const seen = parts.reduce((s, p) => s + p.seen, 0);
    return seen > 0 ? parts.reduce((s, p) => s + p.correct, 0) / seen : Number.NaN;
  }

  /** Every replica holds the same state after an epoch: rank 0's is the run's. */
  async state(): Promise<StoredTensor[]> {
    return (await this.send(0, { type: 'state' } satisfies Command)) as StoredTensor[];
  }

  async weights(): Promise<StoredTensor[]> {
    return (await this.send(0, { type: 'weights' } satisfies Command)) as StoredTensor[];
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}

/** Workers a run uses: at most one per sample of a batch (a worker needs a shard). */
export function workersFor(requested: number, batch: number): number {
  if (!Number.isInteger(requested) || requested < 1) fail(`--workers ${requested} is invalid; pass a positive integer, e.g. 2`);
  return Math.min(requested, batch);
}
