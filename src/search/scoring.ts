/**
 * Scoring archs with a supernet's inherited weights (SPOS/OFA): each arch's BatchNorm statistics
 * recomputed over fixed calibration batches of the training split, then top-1 accuracy on a fixed
 * subset of the validation split. The search scores its candidates this way (search.ts), and
 * `openSupernet` scores any arch later with a finished search's supernet the same way, on the
 * same splits, so a study can rank archs the search never visited (the supernet's Kendall τ).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { BatchStream } from '../datasets/batches.js';
import type { Dataset } from '../datasets/dataset.js';
import { computeNormalization, type Normalization } from '../datasets/normalize.js';
import { shuffleInPlace, splitTrainVal } from '../datasets/split.js';
import { fail } from '../errors.js';
import { spaceFingerprint } from '../lut/lut.js';
import { SEARCH_STATE_FILE, SearchStateMetaSchema } from '../runfolder/search.js';
import type { Space } from '../space/spaces.js';
import { Supernet } from '../supernet/supernet.js';
import { restore } from '../train/checkpoint.js';
import { readTensorFile } from '../train/tensor-file.js';
import { yieldToEventLoop } from '../util/lock.js';
import { Rng } from '../util/rng.js';
import type { Scoring } from './strategy.js';

/** The search's split of the training images: validation (scores archs), the rest shuffled (trains weights, calibrates BatchNorm). */
export function scoringSplit(dataset: Dataset, valFraction: number, seed: number) {
  const split = splitTrainVal(dataset, valFraction, seed);
  const trainIdx = Uint32Array.from(split.train);
  shuffleInPlace(trainIdx, new Rng(seed * 31 + 7));
  return { split, trainIdx };
}

export interface ScoringSettings {
  /** The search's batch: the calibration batches' size. */
  batch: number;
  seed: number;
  /** BatchNorm recalibration batches per arch, and validation images per score. */
  calibrationBatches: number;
  evalImages: number;
}

/** Scoring in this thread: one arch at a time, also synchronously. */
export interface LocalScoring extends Scoring {
  accuracy(path: readonly number[]): number;
}

/**
 * Fixed calibration batches, a fixed validation subset: the same images score every arch. An
 * arch's BatchNorm statistics are recomputed from zero (supernet.ts recalibrate), so its score
 * does not depend on the archs scored before it: a worker thread scores it as this thread would.
 */
export function inheritedScoring(net: Supernet, dataset: Dataset, splits: { trainIdx: Uint32Array; val: ArrayLike<number> }, norm: Normalization, s: ScoringSettings): LocalScoring {
  const calibration = new BatchStream(dataset, { batchSize: s.batch, norm, seed: s.seed, indices: splits.trainIdx, shuffle: false });
  const validation = new BatchStream(dataset, { batchSize: 256, norm, seed: s.seed, indices: splits.val, shuffle: false });
  const accuracy = (p: readonly number[]) => net.evaluatePath(p, { calibration, calibrationBatches: s.calibrationBatches, validation, limit: s.evalImages });
  return {
    accuracy,
    parallel: 1,
    async accuracies(paths, onScored) {
      const acc: number[] = [];
      for (const p of paths) {
        acc.push(accuracy(p));
        onScored?.(acc.length, acc[acc.length - 1]!);
        // Between archs: keeps Ctrl-C and progress working during a long scoring.
        await yieldToEventLoop();
      }
      return acc;
    },
  };
}

/** What of a search's recorded identity fixes its splits. */
const SplitIdentitySchema = z.object({
  spaceFingerprint: z.string(), dataset: z.string(), seed: z.number().int(), batch: z.number().int().positive(), valFraction: z.number().gt(0).lt(1),
}).passthrough();

export interface SupernetScorer extends LocalScoring {
  /** The search run folder whose supernet scores. */
  dir: string;
  dispose(): void;
}

/**
 * A finished (or reused) search's supernet, restored from its search-state.bin, scoring paths on
 * the splits that search used (its seed, validation share and batch, as its state records them).
 */
export function openSupernet(dir: string, o: { space: Space; dataset: Dataset; calibrationBatches: number; evalImages: number }): SupernetScorer {
  const from = join(dir, SEARCH_STATE_FILE);
  const fix = 'give the run folder of a finished search of this space';
  if (!existsSync(from)) fail(`supernet '${dir}' has no ${SEARCH_STATE_FILE}; ${fix}`);
  const st = readTensorFile(from, 'search state', { meta: SearchStateMetaSchema, fix });
  const id = SplitIdentitySchema.safeParse(st.meta.identity);
  if (!id.success) fail(`'${from}': its identity lacks the split settings (${id.error.issues[0]?.path.join('.') ?? '?'}); ${fix}`);
  if (id.data.spaceFingerprint !== spaceFingerprint(o.space)) fail(`supernet '${dir}' was trained for another space than '${o.space.name}'; ${fix}`);
  if (id.data.dataset !== o.dataset.spec) fail(`supernet '${dir}' was trained on --dataset ${id.data.dataset}, not ${o.dataset.spec}; ${fix}`);
  const net = new Supernet(o.space, id.data.seed);
  try {
    // By name without the live-supernet prefix (supernet.ts): another supernet alive in this process makes this one supernet1/.
    const unprefixed = (name: string) => name.replace(/^supernet\d+\//, '');
    const stored = new Map([...st.tensors.values()].map((t) => [unprefixed(t.name), t]));
    const mine = new Map(net.allVariables().flatMap((v) => { const t = stored.get(unprefixed(v.name)); return t ? [[v.name, t] as const] : []; }));
    restore(net.allVariables(), mine, from, 'it was made by another supernet layout (an older latnas?); search again to train a new one');
  } catch (e) {
    net.dispose();
    throw e;
  }
  const { split, trainIdx } = scoringSplit(o.dataset, id.data.valFraction, id.data.seed);
  const norm = computeNormalization(o.dataset, split.train);
  const scoring = inheritedScoring(net, o.dataset, { trainIdx, val: split.val }, norm, { ...o, batch: id.data.batch, seed: id.data.seed });
  return { ...scoring, dir, dispose: () => net.dispose() };
}
