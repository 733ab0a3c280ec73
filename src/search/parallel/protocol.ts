/** The messages between a parallel search's coordinator (pool.ts) and its workers (worker.ts). */
import type { Dataset } from '../../datasets/dataset.js';
import type { Normalization } from '../../datasets/normalize.js';
import type { Space } from '../../space/spaces.js';
import type { AllReduceBuffers } from '../../train/parallel/allreduce.js';
import type { ScoringSettings } from '../scoring.js';
import type { NetState } from './state.js';

export interface SearchInit {
  type: 'init';
  rank: number;
  workers: number;
  /** A backend name initBackend accepts ('wasm', 'cpu', 'tensorflow'): the coordinator's. */
  backend: string;
  space: Space;
  /** The search's seed: the supernet's initial weights (then replaced by the coordinator's) and the batch streams. */
  seed: number;
  /** Its splits' bytes in SharedArrayBuffers (src/train/parallel/shared-dataset.ts). */
  dataset: Dataset;
  norm: Normalization;
  /** What the supernet's weights train on. */
  wIdx: Uint32Array;
  /** The scoring split (src/search/scoring.ts): calibration from trainIdx, the validation subset from val. */
  trainIdx: Uint32Array;
  val: Uint32Array;
  scoring: ScoringSettings;
  momentum: number;
  buffers: AllReduceBuffers;
}

/** One weight step's choice as plain data: a path, a sandwich's paths, or the mixed weights' values per layer. */
export type PlainChoice = { path: number[] } | { sandwich: number[][] } | { mixed: Float32Array[] };

/** An epoch of weight steps, as search.ts runs them in-process. */
export interface WeightEpoch {
  /** 0-based. */
  epoch: number;
  steps: number;
  totalSteps: number;
  batch: number;
  /** Peak learning rate (cosine). */
  lr: number;
  weightDecay: number;
  /** One per step, drawn by the coordinator's strategy. */
  choices: PlainChoice[];
}

/** What one weight step reports for the whole batch (rank 0 sends it). */
export interface WeightStepReport { loss: number; ce: number; hits: number; size: number; lr: number }

export type SearchCommand =
  | { type: 'load'; state: NetState }
  | { type: 'epoch'; plan: WeightEpoch }
  | { type: 'state' }
  | { type: 'score'; path: number[] };
