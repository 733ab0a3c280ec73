/**
 * A trained run folder as the exporters see it: the arch (arch.json), the trained variables
 * (weights.bin, running BatchNorm statistics included) and how inputs were scaled and labelled
 * (metrics.json). Every exporter starts here, so every exporter refuses the same bad folders with
 * the same one-line errors.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { warnIfOtherMachine } from '../src/device/host.js';
import { fail } from '../src/errors.js';
import { defaultLutPath, loadLut, type Lut } from '../src/lut/lut.js';
import type { Normalization } from '../src/datasets/normalize.js';
import { readRunFile, type ArchRecordRead, type LutRecordRead } from '../src/runfolder/files.js';
import { CHECKPOINT_FILE, TRAIN_RUN, WEIGHTS_FILE, WeightsMetaSchema } from '../src/runfolder/train.js';
import { resolveArch } from '../src/space/arch.js';
import type { Block } from '../src/space/blocks.js';
import type { Layer } from '../src/space/ir.js';
import { networkUnits, type Unit } from '../src/space/network.js';
import { loadSpace, type Space } from '../src/space/spaces.js';
import { restore } from '../src/train/checkpoint.js';
import { TfModel } from '../src/train/model.js';
import { readTensorFile, type StoredTensor } from '../src/train/tensor-file.js';
import { findNonFinite } from '../src/util/finite.js';

/** The files of a run folder an exporter reads (none may be an export's output). */
export const TRAINED_RUN_FILES = [WEIGHTS_FILE, TRAIN_RUN.arch.name, TRAIN_RUN.metrics.name, TRAIN_RUN.space.name, CHECKPOINT_FILE] as const;

export interface TrainedRun {
  dir: string;
  space: Space;
  blocks: Block[];
  /** Block strings as arch.json has them. */
  arch: string[];
  archFile: ArchRecordRead;
  /** The LUT the arch was searched with, as train/arch.json records it (absent: not searched, or trained by an older latnas). */
  searchedLut?: LutRecordRead;
  units: Unit[];
  layers: Layer[];
  normalization: Normalization;
  /** The `--dataset` spec the run was trained on (older runs: the dataset's name). */
  datasetSpec: string;
  /** A folder dataset's decoded-image cache file the training read (train/metrics.json). */
  imageCache?: string;
  classes?: string[];
  testAcc?: number;
  /** The last epoch's validation accuracy (absent: no validation split, or an older run). */
  valAcc?: number;
  /** The trained variables as weights.bin holds them. */
  weights: Map<string, StoredTensor>;
  /** The trained TF.js model; dispose() it when done. */
  model: TfModel;
}

/** Loads and checks a run folder written by `latnas train` (or `latnas run`). */
export function loadTrainedRun(dir: string): TrainedRun {
  if (!existsSync(dir)) fail(`run folder '${dir}' does not exist; pass the --out folder of a finished \`latnas train\``);
  const weightsPath = join(dir, WEIGHTS_FILE);
  const archPath = join(dir, TRAIN_RUN.arch.name);
  const metricsPath = join(dir, TRAIN_RUN.metrics.name);
  if (!existsSync(weightsPath)) {
    const partial = existsSync(join(dir, CHECKPOINT_FILE)) ? ' (it has a checkpoint: finish training with `latnas train ... --resume`)' : '';
    fail(`run folder '${dir}' has no weights.bin${partial}; export a run whose training finished`);
  }
  for (const [path, what] of [[archPath, TRAIN_RUN.arch.name], [metricsPath, TRAIN_RUN.metrics.name]] as const) {
    if (!existsSync(path)) fail(`run folder '${dir}' has no ${what}; it was not written by \`latnas train\`, or is incomplete: train it again`);
  }
  const archFile = readRunFile(dir, TRAIN_RUN.arch);
  const metrics = readRunFile(dir, TRAIN_RUN.metrics);
  // The run's own copy of its space (a user's space file may have moved); older runs name a built-in one.
  const spacePath = join(dir, TRAIN_RUN.space.name);
  const space = loadSpace(existsSync(spacePath) ? spacePath : archFile.space);
  if (space.name !== archFile.space) fail(`run folder '${dir}': space.json defines space '${space.name}' but arch.json is for '${archFile.space}'; the run folder mixes files of different runs`);
  const blocks = resolveArch(space, archFile.blocks, `arch file '${archPath}'`);
  const units = networkUnits(space, blocks);
  const layers = units.flatMap((u) => u.layers);
  if (metrics.normalization.mean.length !== space.input.c || metrics.normalization.std.length !== space.input.c) {
    fail(`metrics file '${metricsPath}': field 'normalization' has ${metrics.normalization.mean.length} channels but space '${space.name}' takes ${space.input.c}; `
      + 'the run folder mixes files of different runs');
  }
  // Meta as `latnas train` writes it; older runs may lack it (null), a corrupt one is refused by field.
  const stored = readTensorFile(weightsPath, 'weights file', {
    meta: WeightsMetaSchema,
    fix: `train the run again (\`latnas train ... --out ${dir}\`)`,
  });
  // NaN weights give NaN logits on both sides of any parity check, whose argmaxes then agree: refuse them here, for every exporter.
  const bad = findNonFinite(stored.tensors.values());
  if (bad) fail(`weights file '${weightsPath}': variable '${bad.name}' holds ${bad.value} (value ${bad.index}); the training diverged, so there is no model to export: train again with a lower --lr`);
  const storedArch = stored.meta?.arch;
  if (storedArch && JSON.stringify(storedArch) !== JSON.stringify(archFile.blocks)) {
    fail(`weights file '${weightsPath}' was trained for arch ${JSON.stringify(storedArch)}, not arch.json's ${JSON.stringify(archFile.blocks)}; the run folder mixes files of different runs`);
  }
  const model = new TfModel(layers, space.input);
  try {
    restore(model.allVariables(), stored.tensors, weightsPath, 'the weights do not belong to this arch; export the run folder they were trained in', 'weights file');
  } catch (e) {
    model.dispose();
    throw e;
  }
  return {
    dir, space, blocks, arch: archFile.blocks, archFile, searchedLut: archFile.lut, units, layers,
    normalization: metrics.normalization,
    datasetSpec: metrics.datasetSpec ?? metrics.dataset,
    imageCache: metrics.imageCache,
    classes: metrics.classes,
    testAcc: metrics.testAcc,
    ...(typeof metrics.history?.at(-1)?.valAcc === 'number' && Number.isFinite(metrics.history.at(-1)!.valAcc) ? { valAcc: metrics.history.at(-1)!.valAcc! } : {}),
    weights: stored.tensors,
    model,
  };
}

/**
 * The table to predict a trained run with: `table`, else the one its arch was searched with, else
 * ort-cpu-1t's (saying so when the searched one is gone), with a warning when it is another machine's.
 */
export function tableFor(run: TrainedRun, table: string | undefined, who: string): { lut: Lut; path: string } {
  const searched = run.searchedLut?.path;
  const path = table ?? (searched !== undefined && existsSync(searched) ? searched : defaultLutPath('ort-cpu-1t', run.space.name));
  if (table === undefined && searched !== undefined && path !== searched) {
    process.stderr.write(`${who}: warning: the arch was searched with the table '${searched}', which does not exist here; ` +
      `predicting with '${path}' (pass --table to choose)\n`);
  }
  const lut = loadLut(path, { space: run.space });
  // Predictions of another machine's table are that machine's: say so (and go on).
  warnIfOtherMachine(lut, path);
  return { lut, path };
}
