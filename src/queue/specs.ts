/**
 * Building job specs from the options the local commands take, and writing a job's artifacts into
 * the coordinator's run folder: the one place a queued training and a local train() meet, so the
 * queue path trains what the local path would.
 */
import { basename } from 'node:path';
import type { Space } from '../space/spaces.js';
import type { BackendChoice } from '../train/backend.js';
import { TRAIN_DEFAULTS } from '../train/trainer.js';
import { writeFileAtomic } from '../util/files.js';
import { fail } from '../errors.js';
import type { ProfileJob, ProfileJobResult, TrainJob, TrainJobResult } from './jobs.js';

export interface TrainSpecOptions {
  space: Space; blocks: readonly string[]; dataset: string; seed: number; backend: BackendChoice; workers: number;
  epochs: number; batch: number; lr: number; maxSteps?: number;
  momentum?: number; weightDecay?: number; optimizer?: 'sgd' | 'adam'; labelSmoothing?: number; valFraction?: number; augment?: boolean;
  /** folder: datasets: skip undecodable images on the worker, as `--skip-bad` does locally. */
  skipBad?: boolean;
}

/** A train job: unspecified recipe fields take TRAIN_DEFAULTS, as `latnas train` does. */
export function trainSpec(o: TrainSpecOptions): TrainJob {
  const d = TRAIN_DEFAULTS;
  return {
    kind: 'train', space: o.space, blocks: [...o.blocks], dataset: o.dataset, seed: o.seed, backend: o.backend, workers: o.workers,
    ...(o.skipBad ? { skipBad: true as const } : {}),
    recipe: {
      epochs: o.epochs, maxSteps: o.maxSteps ?? null, batch: o.batch, lr: o.lr, momentum: o.momentum ?? d.momentum, weightDecay: o.weightDecay ?? d.weightDecay,
      optimizer: o.optimizer ?? d.optimizer, labelSmoothing: o.labelSmoothing ?? d.labelSmoothing, valFraction: o.valFraction ?? d.valFraction, augment: o.augment ?? d.augment,
    },
  };
}

export function profileSpec(o: {
  device: string; space: Space; seed: number; chunk?: number; fitNets?: number; fitRounds?: number; rounds?: number; runsPerRound?: number;
}): ProfileJob {
  return {
    kind: 'profile', device: o.device, space: o.space, seed: o.seed, chunk: o.chunk ?? null, fitNets: o.fitNets ?? null, fitRounds: o.fitRounds ?? null,
    rounds: o.rounds ?? null, runsPerRound: o.runsPerRound ?? null,
  };
}

/**
 * Writes a training's files (weights.bin, arch.json, space.json, metrics.json) into `out`, each
 * atomically; weights.bin last, as train() writes it before the json, so a folder with
 * metrics.json is complete.
 */
export function writeTrainRun(out: string, r: TrainJobResult): void {
  const names = Object.keys(r.files).sort((a, b) => Number(b.endsWith('.bin')) - Number(a.endsWith('.bin')));
  for (const name of names) {
    // The names come from Redis: a file name, never a path.
    if (basename(name) !== name || name.startsWith('.')) fail(`a train job's result names the file '${name}'; expected plain file names`);
    writeFileAtomic(`${out}/${name}`, Buffer.from(r.files[name]!, 'base64'));
  }
}

/** Writes a profiled table where the local profile would have written it. */
export function writeProfiledTable(out: string, r: ProfileJobResult): void {
  writeFileAtomic(out, r.table);
}
