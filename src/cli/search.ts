/** `latnas search`: the most accurate arch under a latency target, by one of the registered strategies (src/search/). */
import { Option, type Command } from 'commander';
import { imageCacheDir, openDataset } from '../datasets/open.js';
import { warnIfOtherMachine } from '../device/host.js';
import { fail } from '../errors.js';
import { loadLut } from '../lut/lut.js';
import { resolveTarget, search, SEARCH_DEFAULTS, SEARCH_FILES, STRATEGIES } from '../search/search.js';
import { SAMPLINGS } from '../search/sampling.js';
import { DNAS_DEFAULTS } from '../search/strategies/dnas.js';
import { STRATEGY_NAMES, STRATEGY_REGISTRY } from '../search/strategies/index.js';
import { EVOLUTION_DEFAULTS } from '../search/strategies/evolution.js';
import { RANDOM_DEFAULTS } from '../search/strategies/random.js';
import type { Shape } from '../space/ir.js';
import { BACKEND_CHOICES, initBackend } from '../train/backend.js';
import { TRAIN_DEFAULTS } from '../train/trainer.js';
import { datasetInput, folderOutputs, inputFile, refuseOverwritingInputs } from '../util/outputs.js';
import {
  backendOption, batchOption, choice, datasetOption, floatOption, inputOption, intOption, momentumOption, quietOption, runFolderOption, seedOption, skipBadOption,
  targetMs, targetOption, weightDecayOption, workersOption,
} from './options.js';
import { spaceFrom } from './inputs.js';

/** --strategy, listing the registered strategies (`latnas run` takes it too). */
export const strategyOption = () =>
  new Option('--strategy <name>', STRATEGY_NAMES.map((n) => STRATEGY_REGISTRY[n].summary).join(' or ')).default(SEARCH_DEFAULTS.strategy);

interface SearchFlags {
  table: string; dataset: string; out: string; space?: string; targetMs: string; strategy: string; epochs: number; stepsPerEpoch?: number;
  batch: number; lr: number; momentum: number; wd: number; valFraction: number; calibrationBatches: number; evalImages: number;
  mode: string; alpha: number; beta: number; penalty: number; penaltyMode: string; thetaLr: number; warmup: number; samples?: number;
  tau0: number; tauDecay: number;
  objective: string; sampling: string; population: number; cycles: number; sampleSize: number; mutationProb: number; crossoverProb: number;
  backend: string; seed: number; resume: boolean; quiet: boolean; supernet?: string; workers: number; input?: Shape; skipBad: boolean;
}

/** --workers of `latnas search` and `latnas run` (which passes it to its training too). */
export const searchWorkersOption = (what = 'the search') => workersOption(TRAIN_DEFAULTS.workers,
  `worker threads for ${what}: data-parallel supernet steps, archs scored in parallel (1: this thread only)`);

export function registerSearch(program: Command): void {
  program.command('search')
    .description('search the most accurate arch of a space whose LUT latency meets --target-ms (FBNet DNAS, MnasNet/SPOS-style evolution, or the random-search control)')
    .requiredOption('--table <path>', 'latency lookup table of the target device (JSON)')
    .addOption(datasetOption())
    .addOption(runFolderOption())
    .option('--space <name|file>', 'search space (default: the table\'s)')
    .addOption(inputOption())
    .addOption(skipBadOption())
    .addOption(targetOption(SEARCH_DEFAULTS.target))
    .addOption(strategyOption())
    .option('--epochs <n>', 'supernet training epochs', intOption('--epochs', 1), SEARCH_DEFAULTS.epochs)
    .option('--steps-per-epoch <n>', 'cap weight steps per epoch (budget)', intOption('--steps-per-epoch', 1))
    .addOption(batchOption(SEARCH_DEFAULTS.batch))
    .option('--lr <x>', 'supernet weights: peak SGD learning rate (cosine)', floatOption('--lr', 0), SEARCH_DEFAULTS.lr)
    .addOption(momentumOption(SEARCH_DEFAULTS.momentum))
    .addOption(weightDecayOption(SEARCH_DEFAULTS.weightDecay))
    .option('--val-fraction <x>', 'share of the training split held out to score archs', floatOption('--val-fraction', 0), SEARCH_DEFAULTS.valFraction)
    .option('--calibration-batches <n>', 'BatchNorm recalibration batches per scored arch', intOption('--calibration-batches', 1),
      SEARCH_DEFAULTS.calibrationBatches)
    .option('--eval-images <n>', 'validation images per scored arch', intOption('--eval-images', 1), SEARCH_DEFAULTS.evalImages)
    .option('--mode <name>', 'dnas: gated (one sampled path per step, straight-through Gumbel) or mixed (every candidate, FBNet)', DNAS_DEFAULTS.mode)
    .option('--alpha <x>', 'dnas: α of CE · α · log(LAT)^β', floatOption('--alpha', 0), DNAS_DEFAULTS.alpha)
    .option('--beta <x>', 'dnas: β of CE · α · log(LAT)^β', floatOption('--beta', 0), DNAS_DEFAULTS.beta)
    .option('--penalty <x>', 'dnas: weight μ of the target penalty', floatOption('--penalty', 0), DNAS_DEFAULTS.penalty)
    .option('--penalty-mode <name>', 'dnas: two-sided μ·|LAT/T - 1| (TuNAS: use the budget) or hinge μ·max(0, LAT/T - 1)', DNAS_DEFAULTS.penaltyMode)
    .option('--theta-lr <x>', 'dnas: Adam learning rate of the architecture parameters', floatOption('--theta-lr', 0), DNAS_DEFAULTS.thetaLr)
    .option('--warmup <n>', 'dnas: epochs of weight training before θ updates', intOption('--warmup', 0), DNAS_DEFAULTS.warmup)
    .option('--samples <n>', `dnas: archs sampled from the learned distribution at the end (default: ${DNAS_DEFAULTS.samples}); `
      + `random: distinct archs drawn uniformly in [0.9·T, T] (default: ${RANDOM_DEFAULTS.samples})`, intOption('--samples', 1))
    .option('--tau0 <x>', 'dnas: initial Gumbel-softmax temperature', floatOption('--tau0', 0), DNAS_DEFAULTS.tau0)
    .option('--tau-decay <x>', 'dnas: temperature × exp(-decay) per epoch', floatOption('--tau-decay', 0), DNAS_DEFAULTS.tauDecay)
    .option('--sampling <name>', `evolution, random: how supernet steps sample paths: ${SAMPLINGS.join(' or ')} (FairNAS strict fairness: each candidate of a layer once per group of steps)`, SEARCH_DEFAULTS.sampling)
    .option('--supernet <run>', 'evolution, random: reuse the trained supernet of another search run folder (train once, search many targets)')
    .option('--objective <name>', 'evolution: hard (LAT ≤ T, OFA) or mnas (ACC · (LAT/T)^-0.07)', EVOLUTION_DEFAULTS.objective)
    .option('--population <n>', 'evolution: population size', intOption('--population', 2), EVOLUTION_DEFAULTS.population)
    .option('--cycles <n>', 'evolution: cycles (children evaluated)', intOption('--cycles', 0), EVOLUTION_DEFAULTS.cycles)
    .option('--sample-size <n>', 'evolution: tournament size', intOption('--sample-size', 1), EVOLUTION_DEFAULTS.sampleSize)
    .option('--mutation-prob <x>', 'evolution: per-layer mutation probability', floatOption('--mutation-prob', 0), EVOLUTION_DEFAULTS.mutationProb)
    .option('--crossover-prob <x>', 'evolution: share of children made by crossover', floatOption('--crossover-prob', 0), EVOLUTION_DEFAULTS.crossoverProb)
    .addOption(backendOption())
    .addOption(searchWorkersOption())
    .addOption(seedOption('seed', SEARCH_DEFAULTS.seed))
    .option('--resume', 'continue the search in --out', false)
    .addOption(quietOption())
    .action(async (o: SearchFlags) => {
      const strategy = choice('--strategy', o.strategy, STRATEGIES, 'one of');
      const backendChoice = choice('--backend', o.backend, BACKEND_CHOICES, 'one of');
      const mode = choice('--mode', o.mode, ['gated', 'mixed'] as const);
      const penaltyMode = choice('--penalty-mode', o.penaltyMode, ['two-sided', 'hinge'] as const);
      const objective = choice('--objective', o.objective, ['hard', 'mnas'] as const);
      const sampling = choice('--sampling', o.sampling, SAMPLINGS);
      if (o.valFraction <= 0 || o.valFraction >= 1) fail(`--val-fraction ${o.valFraction}: must be between 0 and 1 (archs are scored on it)`);
      if (o.sampleSize > o.population) fail(`--sample-size ${o.sampleSize} is larger than --population ${o.population}`);
      const target = targetMs(o.targetMs);
      const asked = spaceFrom(o.space ?? loadLut(o.table).space, o.input);
      refuseOverwritingInputs('--out', o.out, folderOutputs(o.out, SEARCH_FILES), [
        { what: 'the --table file', path: o.table }, inputFile('the --space file', o.space), datasetInput(o.dataset),
        inputFile('the --supernet run folder', o.supernet),
      ]);
      // A folder of images derives the space at its class count; the input is --input's, else the space's (the table's).
      const { dataset, space } = await openDataset(o.dataset, asked, { input: o.input ?? asked.input, cacheDir: imageCacheDir(o.out), skipBad: o.skipBad, quiet: o.quiet });
      const lut = loadLut(o.table, { space });
      resolveTarget(space, lut, o.table, target);
      warnIfOtherMachine(lut, o.table);
      const backend = await initBackend(backendChoice);
      if (!o.quiet) process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
      const r = await search({
        space, lut, lutPath: o.table, dataset, strategy, target, out: o.out, seed: o.seed,
        resume: o.resume, quiet: o.quiet, backend: backend.name, epochs: o.epochs, batch: o.batch, lr: o.lr, momentum: o.momentum,
        weightDecay: o.wd, stepsPerEpoch: o.stepsPerEpoch, valFraction: o.valFraction, calibrationBatches: o.calibrationBatches, evalImages: o.evalImages,
        dnas: {
          mode, alpha: o.alpha, beta: o.beta, penalty: o.penalty, penaltyMode, thetaLr: o.thetaLr, warmup: o.warmup, samples: o.samples,
          tau0: o.tau0, tauDecay: o.tauDecay,
        },
        random: { samples: o.samples },
        supernetFrom: o.supernet, workers: o.workers, sampling,
        evolution: {
          population: o.population, cycles: o.cycles, sampleSize: o.sampleSize, mutationProb: o.mutationProb, crossoverProb: o.crossoverProb, objective,
        },
      });
      const resumed = r.resumedFrom > 0 ? ` (resumed after epoch ${r.resumedFrom})` : '';
      console.log(`${o.out}/arch.json: ${r.blocks.join(',')}; ${r.predictedMs.toFixed(4)} ms predicted (target ${r.targetMs.toFixed(4)} ms), ` +
        `${(100 * r.valAcc).toFixed(2)}% validation accuracy with supernet weights${resumed}`);
    });
}
