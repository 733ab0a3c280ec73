/** `latnas run`: the whole pipeline, resumable (src/pipeline/run.ts). */
import type { Command } from 'commander';
import { datasetSpecsText } from '../datasets/load.js';
import { BUDGETS, runPipeline } from '../pipeline/run.js';
import { SEARCH_DEFAULTS, STRATEGIES } from '../search/search.js';
import { SAMPLINGS } from '../search/sampling.js';
import { BACKEND_CHOICES } from '../train/backend.js';
import { searchWorkersOption, strategyOption } from './search.js';
import {
  backendOption, batchOption, choice, floatOption, inputOption, intOption, quantizeMode, quantizeOption, quietOption, seedOption, skipBadOption, targetMs, targetOption,
} from './options.js';
import type { Shape } from '../space/ir.js';

interface RunFlags {
  out: string; device: string; space: string; table?: string; targetMs: string; dataset: string; strategy: string; sampling: string; budget: string;
  searchEpochs?: number; searchSteps?: number; trainEpochs?: number; trainSteps?: number; evalImages?: number; samples?: number;
  batch: number; lr: number; quantize?: string; backend: string; seed: number; quiet: boolean; workers: number; input?: Shape; skipBad: boolean; adaptMs?: number;
}

/** --redis: the train stage on the job queue (src/pipeline/retrain.ts). */
interface QueueRunFlags { redis?: string; retrainTop: number; retrainSeeds: number }

export function registerRun(program: Command): void {
  program.command('run')
    .description('the whole pipeline, resumable: reuse or profile the device\'s LUT -> search -> train the winner -> export ONNX -> report.html')
    .requiredOption('--out <dir>', 'run folder (e.g. runs/NAME); re-running skips finished stages')
    .option('--device <name|file>', 'target device', 'ort-cpu-1t')
    .option('--space <name|file>', 'search space', 'fbnet-mini')
    .addOption(inputOption())
    .option('--table <path>', 'latency table to use (default: the device\'s table for the space, else profile one)')
    .addOption(targetOption(SEARCH_DEFAULTS.target))
    .option('--dataset <spec>', `auto (fashion-mnist if installed, else mnist), ${datasetSpecsText(false)}`, 'auto')
    .addOption(skipBadOption())
    .addOption(strategyOption())
    .option('--budget <name>', 'small (minutes: the demo) or full (full epochs, as the README\'s results)', 'small')
    .option('--search-epochs <n>', 'supernet epochs (default: the budget\'s)', intOption('--search-epochs', 1))
    .option('--search-steps <n>', 'cap supernet steps per epoch (default: the budget\'s)', intOption('--search-steps', 1))
    .option('--train-epochs <n>', 'epochs to train the winner (default: the budget\'s)', intOption('--train-epochs', 1))
    .option('--train-steps <n>', 'cap training steps per epoch (default: the budget\'s)', intOption('--train-steps', 1))
    .option('--eval-images <n>', 'validation images per arch scored in the search (default: the budget\'s)', intOption('--eval-images', 1))
    .option('--samples <n>', 'dnas: archs sampled at the end; evolution: sets population and cycles; random: 7× as many archs drawn (default: the budget\'s)', intOption('--samples', 1))
    .option('--sampling <name>', `evolution, random: how supernet steps sample paths: ${SAMPLINGS.join(' or ')}`, SEARCH_DEFAULTS.sampling)
    .addOption(batchOption(32))
    .option('--lr <x>', 'peak learning rate to train the winner', floatOption('--lr', 0), 0.1)
    .option('--adapt-ms <ms>', 'after training, NetAdapt (`latnas adapt`) the net down to this LUT latency; the export takes the adapted net', floatOption('--adapt-ms', 0))
    .addOption(quantizeOption('int8: export a static QDQ int8 model'))
    .addOption(backendOption())
    .addOption(searchWorkersOption('the search and the training'))
    .addOption(seedOption())
    .addOption(quietOption())
    .option('--redis <url>', 'retrain on the job queue (latnas worker): the search\'s top candidates x seeds in parallel, the best by validation accuracy kept')
    .option('--retrain-top <n>', 'with --redis: candidates to retrain (the chosen arch, then the best others within the target)', intOption('--retrain-top', 1, 100), 3)
    .option('--retrain-seeds <n>', 'with --redis: seeds per candidate', intOption('--retrain-seeds', 1, 100), 2)
    .action(async (o: RunFlags & QueueRunFlags) => {
      const strategy = choice('--strategy', o.strategy, STRATEGIES, 'one of');
      const backend = choice('--backend', o.backend, BACKEND_CHOICES, 'one of');
      const b = BUDGETS[choice('--budget', o.budget, ['small', 'full'] as const)];
      const quantize = quantizeMode(o.quantize);
      const target = targetMs(o.targetMs);
      const sampling = choice('--sampling', o.sampling, SAMPLINGS);
      const r = await runPipeline({
        ...(o.redis !== undefined ? { redis: o.redis, retrain: { top: o.retrainTop, seeds: o.retrainSeeds } } : {}),
        out: o.out, device: o.device, space: o.space, table: o.table, target, dataset: o.dataset, strategy,
        searchEpochs: o.searchEpochs ?? b.searchEpochs, searchSteps: o.searchSteps ?? b.searchSteps, trainEpochs: o.trainEpochs ?? b.trainEpochs,
        trainSteps: o.trainSteps ?? b.trainSteps, evalImages: o.evalImages ?? b.evalImages, samples: o.samples ?? b.samples, batch: o.batch, lr: o.lr,
        quantize, seed: o.seed, backend, quiet: o.quiet, workers: o.workers, input: o.input, skipBad: o.skipBad, sampling,
        ...(o.adaptMs !== undefined ? { adaptMs: o.adaptMs } : {}),
      });
      const seconds = Object.values(r.state.stages).reduce((s, st) => s + (st?.seconds ?? 0), 0);
      const skipped = r.skipped.length ? `; skipped finished stages: ${r.skipped.join(', ')}` : '';
      console.log(`model:  ${r.model}\nreport: ${r.report}\n(${seconds.toFixed(0)} s of stage work${skipped})`);
    });
}
