/**
 * The files of a `latnas train` run folder: `checkpoint.bin` (rewritten atomically after every
 * epoch; its meta below), then `weights.bin` (every variable, running BatchNorm statistics
 * included), `arch.json` (the arch, and the LUT it was searched with), `space.json` (the space
 * itself, so the folder is self-contained) and `metrics.json`.
 */
import { z } from 'zod';
import type { Normalization } from '../datasets/normalize.js';
import type { Space } from '../space/spaces.js';
import { ArchRecordSchema, numberOrNaN, optionalNumber, optionalString, runFile, type ArchRecord } from './files.js';

export const CHECKPOINT_FILE = 'checkpoint.bin';
export const WEIGHTS_FILE = 'weights.bin';

export interface EpochMetrics { epoch: number; loss: number; trainAcc: number; valAcc: number; lr: number; seconds: number; imagesPerSecond: number }

/** `settings`: what must match for --resume (absent in checkpoints of older latnas). */
export interface CheckpointMeta { epoch: number; history: EpochMetrics[]; seed: number; arch: string[]; settings?: Record<string, unknown> }

/** The meta of checkpoint.bin, checked before a resume uses any of it; NaN (no validation split) and Infinity were written as null. */
export const CheckpointMetaSchema: z.ZodType<CheckpointMeta> = z.object({
  epoch: z.number().int().min(1),
  history: z.array(z.object({
    epoch: z.number().int().min(1), loss: z.number(), trainAcc: z.number().min(0).max(1), valAcc: numberOrNaN,
    lr: z.number().nonnegative(), seconds: z.number().nonnegative(), imagesPerSecond: numberOrNaN,
  })).min(1),
  seed: z.number().int(),
  arch: z.array(z.string()).min(1),
  settings: z.record(z.string(), z.unknown()).optional(),
}).refine((m) => m.epoch === m.history.length, { path: ['epoch'], message: 'differs from the number of epochs in history' });

/** The meta of weights.bin as `latnas train` writes it; older runs may lack it (null). */
export interface WeightsMeta { arch: string[]; space: string }
export const WeightsMetaSchema = z.object({ arch: z.array(z.string()).min(1).optional(), space: z.string().optional() }).passthrough().nullable().optional();

/** train/metrics.json. valAcc is null when no validation split was held out. */
export interface TrainMetrics {
  space: string; dataset: string; datasetSpec: string; classes: readonly string[]; backend: string;
  /** Data-parallel worker threads (absent in older runs: 1). */
  workers: number; epochs: number; batch: number; lr: number;
  /** A folder dataset's decoded-image cache file (absent for other datasets). */
  imageCache?: string;
  optimizer: string; labelSmoothing: number; seed: number; normalization: Normalization; testAcc: number; history: EpochMetrics[];
}

const MetricsSchema = z.object({
  space: optionalString,
  dataset: z.string(),
  /** The `--dataset` spec (older runs: only the dataset's name). */
  datasetSpec: optionalString,
  classes: z.array(z.string()).optional(),
  imageCache: optionalString,
  backend: optionalString,
  epochs: optionalNumber, batch: optionalNumber, lr: optionalNumber, optimizer: optionalString, seed: optionalNumber,
  testAcc: z.number(),
  history: z.array(z.object({
    epoch: z.number(), loss: optionalNumber, trainAcc: optionalNumber, valAcc: optionalNumber, lr: optionalNumber, seconds: optionalNumber, imagesPerSecond: optionalNumber,
  }).passthrough()).optional(),
  // In the order the trainer writes them: the report embeds this object as read.
  labelSmoothing: optionalNumber,
  normalization: z.object({ mean: z.array(z.number()).min(1), std: z.array(z.number().positive()).min(1) }),
}).passthrough();
export type TrainMetricsRead = z.infer<typeof MetricsSchema>;

export const TRAIN_RUN = {
  arch: runFile<z.infer<typeof ArchRecordSchema>, ArchRecord>('arch.json', 'arch', ArchRecordSchema, 'expected {"space": ..., "blocks": [...]} as `latnas train` writes it'),
  /** Read through loadSpace (src/space/spaces.ts owns the format). */
  space: runFile<unknown, Space>('space.json', 'space', z.unknown(), 'see src/space/spaces.ts for the format'),
  metrics: runFile<TrainMetricsRead, TrainMetrics>('metrics.json', 'metrics', MetricsSchema, 'expected the metrics.json `latnas train` writes'),
} as const;

/** The files `latnas train` writes into its run folder. */
export const TRAIN_FILES = [CHECKPOINT_FILE, WEIGHTS_FILE, TRAIN_RUN.arch.name, TRAIN_RUN.space.name, TRAIN_RUN.metrics.name] as const;
