/** `latnas train`: one architecture trained from scratch with TF.js (src/train/trainer.ts). */
import type { Command } from 'commander';
import { imageCacheDir, openDataset } from '../datasets/open.js';
import { fail } from '../errors.js';
import { readArchArgument } from '../space/arch.js';
import type { Shape } from '../space/ir.js';
import { BACKEND_CHOICES, initBackend } from '../train/backend.js';
import { train, TRAIN_DEFAULTS, TRAIN_FILES } from '../train/trainer.js';
import { datasetInput, folderOutputs, inputFile, refuseOverwritingInputs } from '../util/outputs.js';
import { archFor, archInput, spaceFrom } from './inputs.js';
import {
  backendOption, batchOption, choice, datasetOption, floatOption, inputOption, intOption, momentumOption, quietOption, runFolderOption, seedOption, skipBadOption,
  weightDecayOption, workersOption,
} from './options.js';

interface TrainFlags {
  space: string; arch: string; dataset: string; out: string; epochs: number; batch: number; lr: number; momentum: number; wd: number; optimizer: string;
  labelSmoothing: number; valFraction: number; augment: boolean; backend: string; seed: number; maxSteps?: number; resume: boolean; quiet: boolean; workers: number;
  input?: Shape; skipBad: boolean;
}

export function registerTrain(program: Command): void {
  program.command('train')
    .description('train an architecture of a space on a dataset (TF.js); writes weights, arch and metrics to --out')
    .requiredOption('--space <name|file>', 'search space')
    .requiredOption('--arch <arch>', 'block strings or an arch JSON file')
    .addOption(inputOption())
    .addOption(datasetOption())
    .addOption(skipBadOption())
    .addOption(runFolderOption())
    .option('--epochs <n>', 'epochs', intOption('--epochs', 1), TRAIN_DEFAULTS.epochs)
    .addOption(batchOption(TRAIN_DEFAULTS.batch))
    .option('--lr <x>', 'peak learning rate (cosine schedule to 0)', floatOption('--lr', 0), TRAIN_DEFAULTS.lr)
    .addOption(momentumOption(TRAIN_DEFAULTS.momentum))
    .addOption(weightDecayOption(TRAIN_DEFAULTS.weightDecay))
    .option('--optimizer <name>', 'sgd or adam', TRAIN_DEFAULTS.optimizer)
    .option('--label-smoothing <x>', 'label smoothing', floatOption('--label-smoothing', 0), TRAIN_DEFAULTS.labelSmoothing)
    .option('--val-fraction <x>', 'share of the training split held out for validation', floatOption('--val-fraction', 0), TRAIN_DEFAULTS.valFraction)
    .option('--no-augment', 'no random crop/flip')
    .addOption(backendOption())
    .addOption(workersOption(TRAIN_DEFAULTS.workers))
    .addOption(seedOption('seed', TRAIN_DEFAULTS.seed))
    .option('--max-steps <n>', 'cap steps per epoch (smoke runs)', intOption('--max-steps', 1))
    .option('--resume', 'continue from the run folder\'s checkpoint', false)
    .addOption(quietOption())
    .action(async (o: TrainFlags) => {
      const backendChoice = choice('--backend', o.backend, BACKEND_CHOICES, 'one of');
      const optimizer = choice('--optimizer', o.optimizer, ['sgd', 'adam'] as const);
      if (o.valFraction >= 1) fail(`--val-fraction ${o.valFraction}: must be below 1`);
      const asked = spaceFrom(o.space, o.input);
      readArchArgument(o.arch);
      const inputs = [inputFile('the --space file', o.space), archInput(o.arch), datasetInput(o.dataset)];
      refuseOverwritingInputs('--out', o.out, folderOutputs(o.out, TRAIN_FILES), inputs);
      // A folder of images may derive the space (its input, its class count): the arch resolves against that one.
      const { dataset, space } = await openDataset(o.dataset, asked, { input: o.input, cacheDir: imageCacheDir(o.out), skipBad: o.skipBad, quiet: o.quiet });
      const blocks = archFor(space, o.arch);
      const backend = await initBackend(backendChoice);
      if (!o.quiet) process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
      const r = await train({
        space, blocks, dataset, out: o.out, epochs: o.epochs, batch: o.batch, lr: o.lr, momentum: o.momentum, weightDecay: o.wd,
        optimizer, labelSmoothing: o.labelSmoothing, valFraction: o.valFraction, augment: o.augment, seed: o.seed,
        resume: o.resume, quiet: o.quiet, maxSteps: o.maxSteps, backend: backend.name, workers: o.workers,
        // A search's arch.json names the LUT it was searched with; train/arch.json keeps it for export.
        lut: readArchArgument(o.arch).lut,
      });
      const last = r.epochs[r.epochs.length - 1];
      const resumed = r.resumedFrom > 0 ? ` (resumed after epoch ${r.resumedFrom})` : '';
      const speed = last ? `${last.imagesPerSecond.toFixed(0)} img/s on ${backend.name}` : 'none';
      console.log(`${o.out}: test accuracy ${(100 * r.testAcc).toFixed(2)}% after ${r.epochs.length} epochs${resumed}; last epoch ${speed}`);
    });
}
