/**
 * `latnas run --redis URL`'s train stage: the search's top candidates (its chosen arch, then the
 * best other archs it scored within the target, by inherited-weight accuracy) × several seeds,
 * retrained in parallel on the queue's workers (src/queue/); the one with the best validation
 * accuracy becomes the run's train/ folder, which export reads as it reads a local training.
 * Selecting by validation, not test, accuracy keeps the test split an unbiased estimate.
 * train/candidates.json lists every retraining.
 */
import { join } from 'node:path';
import type { Dataset } from '../datasets/dataset.js';
import { fail } from '../errors.js';
import { checkRedis, parseRedisUrl } from '../queue/connection.js';
import { withCoordinator } from '../queue/coordinator.js';
import { trainSpec, writeTrainRun } from '../queue/specs.js';
import { readRunFile, writeRunFile, type LutRecordRead } from '../runfolder/files.js';
import { SEARCH_RUN } from '../runfolder/search.js';
import { TRAIN_RUN } from '../runfolder/train.js';
import { archToJson, resolveArch } from '../space/arch.js';
import type { Space } from '../space/spaces.js';
import type { BackendChoice } from '../train/backend.js';
import { writeJsonAtomic } from '../util/files.js';

export interface RetrainOptions {
  redis: string;
  space: Space; dataset: Dataset; searchDir: string; trainDir: string; targetMs: number;
  chosen: readonly string[]; lut?: LutRecordRead;
  /** Candidates (the chosen arch counts) and seeds per candidate, from `seed` on. */
  top: number; seeds: number; seed: number;
  epochs: number; batch: number; lr: number; maxSteps?: number; valFraction: number; backend: BackendChoice; workers: number;
  /** folder: datasets: the workers skip undecodable images too. */
  skipBad?: boolean;
  quiet?: boolean;
  say(line: string): void;
}

/** The chosen arch, then the search's other archs within the target, best inherited-weight accuracy first. */
export function topCandidates(searchDir: string, chosen: readonly string[], targetMs: number, top: number): string[][] {
  const visited = readRunFile(searchDir, SEARCH_RUN.visited);
  const out = new Map<string, string[]>([[chosen.join(','), [...chosen]]]);
  for (const v of [...visited].filter((x) => x.latencyMs <= targetMs).sort((a, b) => b.acc - a.acc)) {
    if (out.size >= top) break;
    out.set(v.blocks.join(','), v.blocks);
  }
  return [...out.values()].slice(0, top);
}

export async function retrainOnQueue(o: RetrainOptions): Promise<{ testAcc: number; valAcc: number | null; blocks: string[]; seed: number; worker: string }> {
  const redis = parseRedisUrl(o.redis);
  await checkRedis(redis);
  const candidates = topCandidates(o.searchDir, o.chosen, o.targetMs, o.top);
  const seeds = Array.from({ length: o.seeds }, (_, i) => o.seed + i);
  const runs = candidates.flatMap((blocks) => seeds.map((seed) => ({ blocks, seed })));
  const specs = runs.map((r) => trainSpec({
    space: o.space, blocks: r.blocks, dataset: o.dataset.spec, seed: r.seed, backend: o.backend, workers: o.workers,
    epochs: o.epochs, batch: o.batch, lr: o.lr, maxSteps: o.maxSteps, valFraction: o.valFraction, skipBad: o.skipBad,
  }));
  o.say(`  ${candidates.length} candidate(s) x ${seeds.length} seed(s) on the queue at ${redis.shown}`);
  const results = await withCoordinator(redis, (c) => c.run(specs, { label: 'retrain', quiet: o.quiet }));
  const rows = results.map((env, i) => ({ ...runs[i]!, valAcc: env.result.valAcc, testAcc: env.result.testAcc, worker: env.worker, seconds: env.seconds }));
  // No validation split would leave nothing to choose by; the pipeline always holds one out.
  if (rows.some((r) => r.valAcc === null)) fail('retraining on the queue needs a validation split to choose by; the pipeline holds one out, so this is a bug');
  const best = rows.reduce((b, r) => (r.valAcc! > b.valAcc! ? r : b));
  writeTrainRun(o.trainDir, results[rows.indexOf(best)]!.result);
  // The searched table travels with the arch, as the local train stage records it (export predicts with it);
  // every candidate was scored by the same search, so with the same table.
  if (o.lut) writeRunFile(o.trainDir, TRAIN_RUN.arch, { ...archToJson(o.space, resolveArch(o.space, best.blocks)), lut: o.lut });
  writeJsonAtomic(join(o.trainDir, 'candidates.json'), { chosenBy: 'validation accuracy', best: { blocks: best.blocks, seed: best.seed }, runs: rows });
  o.say(`  best by validation accuracy: ${best.blocks.join(',')} seed ${best.seed} (${(100 * best.valAcc!).toFixed(2)}% val, ${(100 * best.testAcc).toFixed(2)}% test, on ${best.worker})`);
  return { testAcc: best.testAcc, valAcc: best.valAcc, blocks: best.blocks, seed: best.seed, worker: best.worker };
}
