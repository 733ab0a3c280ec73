/**
 * What the trainer asks of the machinery that runs its steps: one replica in this thread
 * (`LocalEngine`, --workers 1) or one per worker thread (src/train/parallel/pool.ts). The
 * trainer's epochs, checkpoints, checks and records are the same code over either.
 */
import type { Dataset } from '../datasets/dataset.js';
import type { Normalization } from '../datasets/normalize.js';
import { yieldToEventLoop } from '../util/lock.js';
import { countCorrect, epochSteps, trainStream, type EpochPlan, type StepReport } from './epoch.js';
import { Replica, type ReplicaSpec } from './replica.js';
import type { StoredTensor } from './tensor-file.js';

export interface EngineSetup {
  spec: ReplicaSpec;
  dataset: Dataset;
  norm: Normalization;
  /** The training split's indices into dataset.train. */
  trainIdx: Uint32Array;
}

export interface TrainEngine {
  /** Worker threads in use (1: this thread). */
  readonly workers: number;
  restore(stored: Map<string, StoredTensor>, path: string): Promise<void>;
  /** Runs the epoch's steps, calling `onStep` after each; stops early after a non-finite loss. */
  runEpoch(plan: EpochPlan, onStep: (s: StepReport) => void): Promise<void>;
  /**
   * Top-1 accuracy in inference mode over `indices` of a split (all of it when absent); NaN for
   * none. `batch`: images per inference batch, split over the workers (default evalBatchFor(the input) each).
   */
  accuracy(split: 'train' | 'test', indices?: Uint32Array, batch?: number): Promise<number>;
  /** The checkpoint's tensors: every variable, then the optimiser's state. */
  state(): Promise<StoredTensor[]>;
  /** Every variable, running statistics included. */
  weights(): Promise<StoredTensor[]>;
  close(): Promise<void>;
}

export class LocalEngine implements TrainEngine {
  readonly workers = 1;
  private readonly replica: Replica;

  constructor(private readonly setup: EngineSetup) {
    this.replica = new Replica(setup.spec);
  }

  restore(stored: Map<string, StoredTensor>, path: string): Promise<void> {
    return this.replica.restore(stored, path);
  }

  async runEpoch(plan: EpochPlan, onStep: (s: StepReport) => void): Promise<void> {
    const stream = trainStream(this.setup.dataset, this.setup.norm, this.setup.trainIdx, plan);
    for (const s of epochSteps(this.replica, stream, plan)) {
      onStep(s);
      // A Ctrl-C is handled within a step.
      await yieldToEventLoop();
    }
  }

  async accuracy(split: 'train' | 'test', indices?: Uint32Array, batch?: number): Promise<number> {
    const { correct, seen } = countCorrect(this.replica, this.setup.dataset, this.setup.norm, split, indices, 0, 1, batch);
    return seen > 0 ? correct / seen : Number.NaN;
  }

  state(): Promise<StoredTensor[]> {
    return this.replica.state();
  }

  async weights(): Promise<StoredTensor[]> {
    return this.replica.weights();
  }

  async close(): Promise<void> {
    this.replica.dispose();
  }
}
