/**
 * What a search strategy is to the search (src/search/search.ts): the search owns the supernet,
 * the splits, the checkpoints, the scoring of archs with inherited weights and the outputs; a
 * strategy says how the supernet's weights are sampled each step, what else it learns per epoch
 * (dnas: θ), and which archs it proposes and picks at the end. Strategies register by name in
 * src/search/strategies/index.ts; adding one is a file there plus its line in the registry.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../datasets/dataset.js';
import type { Normalization } from '../datasets/normalize.js';
import type { EpochLog, Visited } from '../runfolder/search.js';
import type { Path } from '../space/path.js';
import type { Space } from '../space/spaces.js';
import type { Choice, Supernet } from '../supernet/supernet.js';
import type { StoredTensor } from '../train/tensor-file.js';
import type { Rng } from '../util/rng.js';
import type { LatencyModel } from './latency.js';
import type { Sampling } from './sampling.js';

/** The fields of an epoch's log row a strategy fills (null where it has none). */
export type EpochFields = Pick<EpochLog, 'thetaLoss' | 'thetaCe' | 'temperature' | 'expectedMs' | 'argmaxMs' | 'argmax'>;

/** The row of a strategy that learns nothing but the supernet's weights. */
export const NO_EPOCH_FIELDS: EpochFields = { thetaLoss: null, thetaCe: null, temperature: null, expectedMs: null, argmaxMs: null, argmax: null };

/** What every strategy gets from the search when it starts. */
export interface StrategyContext {
  space: Space;
  net: Supernet;
  /** The search's one LatencyModel: LUT latency of paths, and the differentiable expectation. */
  latency: LatencyModel;
  targetMs: number;
  seed: number;
  epochs: number;
  batch: number;
  dataset: Dataset;
  /** How weight steps sample paths for strategies that learn nothing but the weights (./sampling.ts). */
  sampling: Sampling;
  /** The strategy's own share of the training split (see `weightShare`), shuffled, and how many batches of it an epoch takes. */
  ownIdx: Uint32Array;
  ownSteps: number;
  out: string;
  resume: boolean;
  /** The search's settings as --resume compares them: a strategy's own checkpoint carries them too. */
  identity: Record<string, unknown>;
  /** search-state.bin, for the messages that say which state is kept. */
  statePath: string;
  quiet: boolean;
  say(line: string): void;
  blocksOf(path: Path): string[];
}

/** What an epoch's work after the weight steps gets. */
export interface EpochData {
  norm: Normalization;
  toX(b: { x: Float32Array; size: number }): tf.Tensor4D;
}

/**
 * How the search scores archs: inherited weights, BatchNorm recalibrated, the validation subset.
 * A score depends on the arch and the supernet only, so archs scored together (in parallel, one
 * per worker thread) get the scores they would one by one.
 */
export interface Scoring {
  /** Archs scored at once: the worker threads (1: in this thread, one after another). */
  readonly parallel: number;
  /** The archs' accuracies, in their order; `onScored` after each (in the order they finish). */
  accuracies(paths: readonly (readonly number[])[], onScored?: (done: number, acc: number) => void): Promise<number[]>;
}

/** One running search's side of a strategy. */
export interface StrategyRun {
  /** Variables kept in search-state.bin beside the supernet's (dnas: θ), restored with them. */
  stateVariables(): tf.Variable[];
  /** Optimiser state kept in search-state.bin after the weights' (dnas: Adam's), and how --resume takes it back. */
  optimizerState(): Promise<StoredTensor[]>;
  restoreOptimizer(stored: Map<string, StoredTensor>): Promise<void>;
  /** Called before an epoch's weight steps. */
  beginEpoch(epoch: number): void;
  /** The choice of one weight step, drawn with the epoch's rng: a path, or mixed weights (disposed by the search after the step). */
  weightChoice(rng: Rng): Choice;
  /** After the epoch's weight steps: the strategy's own learning (dnas: θ steps); its log fields and what the epoch line adds. */
  endEpoch(epoch: number, rng: Rng, data: EpochData): Promise<{ fields: EpochFields; line: string }>;
  /** Proposes archs, has them scored, and picks one within the target; `visited`: every arch scored, in order. */
  choose(scoring: Scoring): Promise<{ visited: Visited[]; chosen: Visited }>;
  /** A clearer one-line failure for an error of this strategy's making (dnas: mixed mode out of memory); returns to rethrow. */
  explainFailure?(error: unknown, epochsDone: number): void;
  dispose(): void;
}

export interface CurveSeries { field: keyof EpochLog; title: string }

export interface SearchStrategy<O extends object = object> {
  readonly name: string;
  /** For --help: what it is and whose method. */
  readonly summary: string;
  /** Its options' defaults (the CLI and the pipeline state them from here). */
  readonly defaults: Readonly<O>;
  /**
   * Share of the training split the supernet's weights train on; the rest is the strategy's own
   * (`ownIdx`). 1 for strategies with nothing else to learn.
   */
  readonly weightShare: number;
  /** Fails with one line when the strategy's own split cannot do its job. */
  checkOwnSplit?(s: { images: number; steps: number; batch: number; datasetSpec: string }): void;
  /** Why --supernet (reuse another run's supernet) does not apply; absent when it does. */
  readonly ownSupernet?: string;
  /** What its run folder holds besides the search's files (checked before a fresh search). */
  readonly files: readonly string[];
  /** Other options that can tame a diverging search (named after --lr). */
  readonly lrOptions: readonly string[];
  /** The progress label of the weight steps, after "search epoch e/n". */
  readonly weightsLabel: string;
  /** The panels of curves.svg. */
  readonly curves: readonly CurveSeries[];
  /** What of its options --resume must match, as search-state.bin and search-log.json record them. */
  identity(options: O, supernetFrom: string | undefined): Record<string, unknown>;
  /** The options `latnas run` uses for a budget of `samples` archs. */
  forBudget(samples: number): Partial<O>;
  start(ctx: StrategyContext, options: O): StrategyRun;
}

/** The run of a strategy whose only state is the supernet's weights. */
export const STATELESS: Pick<StrategyRun, 'stateVariables' | 'optimizerState' | 'restoreOptimizer' | 'beginEpoch'> = {
  stateVariables: () => [],
  optimizerState: async () => [],
  restoreOptimizer: async () => {},
  beginEpoch: () => {},
};
