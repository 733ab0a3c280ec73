/** `latnas adapt`: NetAdapt from a trained run down to a latency target (src/adapt/adapt.ts), then exported like `latnas run`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { imageCacheDir, openDataset } from '../datasets/open.js';
import { fail } from '../errors.js';
import { ADAPT_DEFAULTS, adapt } from '../adapt/adapt.js';
import { ADAPT_RUN } from '../runfolder/adapt.js';
import { WEIGHTS_FILE } from '../runfolder/train.js';
import { BACKEND_CHOICES, initBackend } from '../train/backend.js';
import { TRAIN_DEFAULTS } from '../train/trainer.js';
import { datasetInput, inputFile, refuseOverwritingInputs, runFolderInputs } from '../util/outputs.js';
import { backendOption, batchOption, choice, floatOption, intOption, quietOption, seedOption, workersOption } from './options.js';

interface AdaptFlags {
  run: string; targetMs: number; out?: string; table?: string; dataset?: string; stepMs?: number; finetuneSteps: number; finalEpochs: number; lr: number;
  batch: number; seed: number; workers: number; backend: string; quiet: boolean; export: boolean;
}

/** A `latnas train` folder, or a `latnas run` folder (its train/), whichever holds the weights. */
export function trainedFolder(run: string): string {
  if (existsSync(join(run, WEIGHTS_FILE))) return run;
  if (existsSync(join(run, 'train', WEIGHTS_FILE))) return join(run, 'train');
  if (!existsSync(run)) fail(`--run '${run}' does not exist; pass the --out folder of a finished \`latnas train\` or \`latnas run\``);
  return run; // loadTrainedRun says what is missing
}

export function registerAdapt(program: Command): void {
  program.command('adapt')
    .description('NetAdapt: cut a trained arch\'s widths and expansions step by step, fine-tuning each proposal, until it meets --target-ms; then fine-tune and export it')
    .requiredOption('--run <dir>', 'a finished `latnas train` or `latnas run` folder')
    .requiredOption('--target-ms <ms>', 'latency to reach on the table\'s device', floatOption('--target-ms', 0))
    .option('--out <dir>', 'adapt folder (default: RUN/adapt); re-running resumes it')
    .option('--table <path>', 'LUT to cut against (default: the one the arch was searched with, else ort-cpu-1t\'s)')
    .option('--dataset <spec>', 'dataset to fine-tune on (default: the run\'s)')
    .option('--step-ms <ms>', `latency each step saves (default: the distance to the target over ${ADAPT_DEFAULTS.steps})`, floatOption('--step-ms', 0))
    .option('--finetune-steps <n>', 'batches of the short fine-tune of each proposal', intOption('--finetune-steps', 1), ADAPT_DEFAULTS.finetuneSteps)
    .option('--final-epochs <n>', 'epochs of the final fine-tune of the result', intOption('--final-epochs', 1), ADAPT_DEFAULTS.finalEpochs)
    .option('--lr <x>', 'peak learning rate of the fine-tunes (cosine to 0)', floatOption('--lr', 0), ADAPT_DEFAULTS.lr)
    .addOption(batchOption(TRAIN_DEFAULTS.batch))
    .addOption(workersOption(TRAIN_DEFAULTS.workers))
    .addOption(backendOption())
    .addOption(seedOption())
    .option('--no-export', 'stop after the final fine-tune (export OUT/train later with `latnas export`)')
    .addOption(quietOption())
    .action(async (o: AdaptFlags) => {
      const backendChoice = choice('--backend', o.backend, BACKEND_CHOICES, 'one of');
      const runDir = trainedFolder(o.run);
      const out = o.out ?? join(o.run, 'adapt');
      const model = join(out, 'model.onnx');
      const { loadTrainedRun, tableFor, TRAINED_RUN_FILES } = await import('../../exporters/registry.js');
      refuseOverwritingInputs('--out', out, [{ path: out }, { path: join(out, ADAPT_RUN.state.name) }, { path: join(out, 'steps'), tree: true }, { path: join(out, 'train'), tree: true }, { path: model }], [
        ...runFolderInputs(runDir, TRAINED_RUN_FILES, 'the --run folder'), inputFile('the --table file', o.table), datasetInput(o.dataset),
      ]);
      // The run's weights load into a TF.js model (checked against its arch): the backend comes first.
      const backend = await initBackend(backendChoice);
      if (!o.quiet) process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
      const run = loadTrainedRun(runDir);
      const weights = [...run.weights.values()];
      run.model.dispose();
      const { lut, path: lutPath } = tableFor(run, o.table, 'latnas adapt');
      const { dataset, space } = await openDataset(o.dataset ?? run.datasetSpec, run.space, { cacheDir: imageCacheDir(out), quiet: o.quiet });
      const r = await adapt({
        space, blocks: run.blocks, weights, startValAcc: run.valAcc ?? null, source: runDir, dataset, lut, lutPath,
        lutRecord: run.searchedLut && run.searchedLut.path === lutPath ? run.searchedLut : undefined,
        targetMs: o.targetMs, stepMs: o.stepMs, finetuneSteps: o.finetuneSteps, finalEpochs: o.finalEpochs, lr: o.lr, batch: o.batch, seed: o.seed,
        out, backend: backend.name, workers: o.workers, quiet: o.quiet,
      });
      const s = r.state;
      const summary = `${s.start.ms.toFixed(4)} -> ${r.ms.toFixed(4)} ms in ${s.steps.length} step(s); test accuracy ${(100 * r.testAcc).toFixed(2)}% after ${s.final!.epochs} epoch(s) of fine-tuning`;
      if (!o.export) {
        console.log(`${r.train}: ${summary}; export it with \`latnas export --run ${r.train} --out ${model}\``);
        return;
      }
      const { EXPORTERS } = await import('../../exporters/registry.js');
      const e = await EXPORTERS.onnx.export({ run: r.train, out: model, table: lutPath, backend: backendChoice, quiet: o.quiet });
      const lat = e.latency ? `, ${e.latency.measuredMs.toFixed(4)} ms measured on ${e.latency.device}` : '';
      console.log(`${model}: ${summary}; ONNX accuracy ${(100 * e.parity.ortAccuracy).toFixed(2)}%${lat}`);
    });
}
