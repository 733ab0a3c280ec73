/** `latnas export`: a trained run folder to a verified, timed model file (exporters/). */
import type { Command } from 'commander';
import { EXPORTERS } from '../../exporters/registry.js';
import { BACKEND_CHOICES } from '../train/backend.js';
import { backendOption, choice, intOption, quantizeMode, quantizeOption, quietOption, roundsOption } from './options.js';

interface ExportFlags {
  run: string; out: string; opset: number; quantize?: string; table?: string; dataset?: string; verifyImages?: number; calibrationImages: number;
  rounds?: number; latency: boolean; backend: string; quiet: boolean;
}

export function registerExport(program: Command): void {
  program.command('export')
    .description('export a trained run to ONNX (BatchNorm folded), verified against TF.js on test images and timed on the LUT\'s device')
    .requiredOption('--run <dir>', 'run folder written by `latnas train`')
    .requiredOption('--out <path>', 'model file to write (e.g. runs/NAME/model.onnx); a report goes beside it (NAME.export.json)')
    .option('--opset <n>', 'ONNX opset (14-21)', intOption('--opset', 1), 17)
    .addOption(quantizeOption('int8: static QDQ quantisation calibrated on training images'))
    .option('--table <path>', 'LUT for the predicted latency (default: the one the arch was searched with, else ort-cpu-1t\'s)')
    .option('--dataset <spec>', 'dataset for verification and calibration (default: the run\'s)')
    .option('--verify-images <n>', 'test images compared between TF.js and onnxruntime (default: the whole test split)', intOption('--verify-images', 1))
    .option('--calibration-images <n>', 'int8: training images for the activation ranges', intOption('--calibration-images', 1), 512)
    .addOption(roundsOption('latency timing rounds (default: the device\'s)'))
    .option('--no-latency', 'do not time the model on the device')
    .addOption(backendOption('TF.js backend for the reference run: auto, tensorflow, wasm or cpu'))
    .addOption(quietOption())
    .action(async (o: ExportFlags) => {
      const backend = choice('--backend', o.backend, BACKEND_CHOICES, 'one of');
      const quantize = quantizeMode(o.quantize);
      const { onnx } = EXPORTERS;
      const r = await onnx.export({
        run: o.run, out: o.out, opset: o.opset, quantize, table: o.table, dataset: o.dataset,
        verifyImages: o.verifyImages, calibrationImages: o.calibrationImages, rounds: o.rounds, skipLatency: !o.latency, backend, quiet: o.quiet,
      });
      const acc = r.int8
        ? `int8 accuracy ${(100 * r.int8.ortAccuracy).toFixed(2)}% (fp32 ${(100 * r.parity.ortAccuracy).toFixed(2)}%)`
        : `accuracy ${(100 * r.parity.ortAccuracy).toFixed(2)}%`;
      const l = r.latency;
      const lat = l ? `, ${(r.int8 ? l.int8Ms! : l.measuredMs).toFixed(4)} ms on ${l.device} (predicted ${l.predictedMs.toFixed(4)} ms for fp32)` : '';
      const size = `${(r.bytes / 1024).toFixed(0)} KiB, opset ${r.opset}`;
      console.log(`${o.out}: ${size}, ${acc} on ${r.parity.images} test images${lat}; report ${onnx.reportPath(o.out)}`);
    });
}
