/** The messages between a data-parallel run's coordinator (pool.ts) and its workers (worker.ts). */
import type { Dataset } from '../../datasets/dataset.js';
import type { Normalization } from '../../datasets/normalize.js';
import type { EpochPlan, StepReport } from '../epoch.js';
import type { ReplicaSpec } from '../replica.js';
import type { StoredTensor } from '../tensor-file.js';
import type { AllReduceBuffers } from './allreduce.js';

export interface InitMessage {
  type: 'init';
  rank: number;
  workers: number;
  /** A backend name initBackend accepts ('wasm', 'cpu', 'tensorflow'): the coordinator's. */
  backend: string;
  spec: ReplicaSpec;
  /** Its splits' bytes in SharedArrayBuffers (shared-dataset.ts). */
  dataset: Dataset;
  norm: Normalization;
  trainIdx: Uint32Array;
  buffers: AllReduceBuffers;
}

/**
 * Where a worker's epoch went: wall ms in steps (the exchange included), of which copying
 * gradients out of and back into TF.js, waiting for the other workers at the all-reduce's
 * barriers, and summing its share of the gradients. The rest is computing them.
 */
export interface WorkerTiming { steps: number; stepMs: number; copyMs: number; waitMs: number; sumMs: number }

export type Command =
  | { type: 'restore'; tensors: StoredTensor[]; path: string }
  | { type: 'epoch'; plan: EpochPlan }
  | { type: 'accuracy'; split: 'train' | 'test'; indices?: Uint32Array; batch?: number }
  | { type: 'state' }
  | { type: 'weights' };
