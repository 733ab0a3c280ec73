/** `latnas build`: a whole network with random weights as ONNX, through the profiler's builder (src/onnx/model.ts). */
import type { Command } from 'commander';
import { fail } from '../errors.js';
import { buildNetworkModel } from '../onnx/model.js';
import { formatBlock } from '../space/blocks.js';
import { networkUnits } from '../space/network.js';
import { loadSpace } from '../space/spaces.js';
import { writeFileAtomic } from '../util/files.js';
import { checkOutputFile } from '../util/outdir.js';
import { inputFile, refuseOverwritingInputs } from '../util/outputs.js';
import { RandomWeights } from '../weights/init.js';
import { archFor, archInput } from './inputs.js';
import { seedOption } from './options.js';

export function registerBuild(program: Command): void {
  program.command('build')
    .description('write a whole network (random weights) as ONNX, through the same builder the profiler uses')
    .requiredOption('--space <name|file>', 'search space')
    .requiredOption('--arch <arch>', 'block strings or an arch JSON file')
    .requiredOption('--out <path>', 'ONNX file to write')
    .option('--batch <n|dynamic>', "batch dimension: a number or 'dynamic'", '1')
    .addOption(seedOption('seed of the random weights'))
    .action((o: { space: string; arch: string; out: string; batch: string; seed: number }) => {
      const space = loadSpace(o.space);
      const blocks = archFor(space, o.arch);
      refuseOverwritingInputs('--out', o.out, [{ path: o.out }], [inputFile('the --space file', o.space), archInput(o.arch)]);
      checkOutputFile(o.out, '--out', 'net.onnx');
      let batch: number | string = 'N';
      if (o.batch !== 'dynamic') {
        batch = Number(o.batch);
        if (!Number.isInteger(batch) || batch < 1) fail(`--batch '${o.batch}': expected a positive integer or 'dynamic'`);
      }
      const bytes = buildNetworkModel(networkUnits(space, blocks), {
        batch, weights: new RandomWeights(o.seed), outputName: 'logits',
        metadata: { 'latnas.space': space.name, 'latnas.arch': JSON.stringify(blocks.map(formatBlock)) },
      });
      writeFileAtomic(o.out, bytes);
      console.log(`${o.out}: ${(bytes.length / 1e6).toFixed(2)} MB, input [${batch}, ${space.input.c}, ${space.input.h}, ${space.input.w}]`);
    });
}
