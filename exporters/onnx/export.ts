/**
 * `latnas export`: a trained run -> a deployable ONNX model, proven to be the same model and timed.
 *
 * The graph comes from src/onnx/lower.ts, the code the profiler timed to build the LUT, fed the
 * trained weights with BatchNorm folded (TfModel.asWeightSource). Before anything is written the
 * model is loaded in onnxruntime-node and compared with the TF.js model on real test images, then
 * timed on the LUT's device beside the LUT's reference networks (as lut-check times networks), so
 * predicted and measured latency are comparable. The file is written atomically, last: a failed
 * check or an unwritable path leaves nothing behind.
 */
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BatchStream } from '../../src/datasets/batches.js';
import type { Dataset } from '../../src/datasets/dataset.js';
import { loadDataset } from '../../src/datasets/load.js';
import { formatShape } from '../../src/space/derive.js';
import { imageCacheDir, isFolderSpec, openDataset } from '../../src/datasets/open.js';
import { splitTrainVal } from '../../src/datasets/split.js';
import { loadDevice } from '../../src/device/device.js';
import { OrtModel } from '../../src/device/ort.js';
import { openRuntime } from '../../src/device/runtime.js';
import { fail } from '../../src/errors.js';
import { predict, type Lut } from '../../src/lut/lut.js';
import { buildModelProto, buildNetworkModel, encodeModel, SUPPORTED_OPSETS } from '../../src/onnx/model.js';
import { LATNAS_VERSION } from '../../src/paths.js';
import { heavyReference, measureJobs, networkSentinelJob, openSentinel, timingPlan } from '../../src/profiler/measure.js';
import { initBackend } from '../../src/train/backend.js';
import { checkDatasetFits } from '../../src/datasets/dataset.js';
import { writeFileAtomic, writeJsonAtomic } from '../../src/util/files.js';
import { argmaxFinite } from '../../src/util/finite.js';
import { lockFolder } from '../../src/util/lock.js';
import { checkOutputFile, isFolder } from '../../src/util/outdir.js';
import { datasetInput, inputFile, refuseOverwritingInputs, runFolderInputs } from '../../src/util/outputs.js';
import { progress } from '../../src/util/progress.js';
import { Rng } from '../../src/util/rng.js';
import { reportPathFor, type Exporter, type ExportOptions, type ExportSummary } from '../exporter.js';
import { loadTrainedRun, tableFor, TRAINED_RUN_FILES, type TrainedRun } from '../run.js';
import { nhwcToNchw } from './layout.js';
import { calibrate, quantizeQdq, type QuantizeReport } from './quantize.js';

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';
/** The parity the issue asks of an export: logits within this absolute difference... */
export const MAX_ABS_DIFF = 1e-4;
/** ...and the same top-1 class on at least this share of images. */
export const MIN_TOP1_AGREEMENT = 0.999;

export interface OnnxExportOptions extends ExportOptions {
  /** ONNX opset (default 17). */
  opset?: number;
}

export interface Parity {
  images: number;
  maxAbsDiff: number;
  nonFinite: { tfjs: number; ort: number };
  top1Agreement: number;
  tfjsAccuracy: number;
  ortAccuracy: number;
}

export interface LatencyReport {
  device: string;
  table: string;
  estimator: string;
  predictedMs: number;
  measuredMs: number;
  errPct: number;
  /** The profiler's own build of the same arch (random weights, batch 1), timed alongside. */
  profilerBuildMs: number;
  int8Ms?: number;
}

/** The report written beside the model (NAME.export.json). */
export interface OnnxExportResult extends ExportSummary {
  opset: number;
  /** What a caller must feed the model (as metadata_props' latnas.input): a web page reads it from this report. */
  input: { name: string; layout: 'NCHW'; shape: [string, number, number, number]; scale: string; mean: number[]; std: number[] };
  /** The class names, in logit order (as latnas.classes). */
  classes: readonly string[];
  parity: Parity;
  int8?: { report: QuantizeReport; ortAccuracy: number; accuracyDropPct: number; top1AgreementWithFp32: number; bytes: number };
  latency?: LatencyReport;
}

function checkOpset(opset: number): void {
  if (!Number.isInteger(opset) || opset < SUPPORTED_OPSETS.min || opset > SUPPORTED_OPSETS.max) {
    fail(`--opset ${opset} is not supported: the exported ops (HardSwish, Reshape, per-channel QDQ) need opset ${SUPPORTED_OPSETS.min} to ${SUPPORTED_OPSETS.max}; use one of those (default 17)`);
  }
}

/** The model's input as a caller must prepare it: in the metadata and in the report. */
function inputSpec(run: TrainedRun): OnnxExportResult['input'] {
  const { c, h, w } = run.space.input;
  return { name: INPUT_NAME, layout: 'NCHW', shape: ['batch', c, h, w], scale: 'pixel / 255', mean: run.normalization.mean, std: run.normalization.std };
}

function metadata(run: TrainedRun, dataset: Dataset, lut: { lut: Lut; path: string } | undefined): Record<string, string> {
  return {
    'latnas.version': LATNAS_VERSION,
    'latnas.arch': JSON.stringify({ space: run.space.name, blocks: run.arch }),
    'latnas.input': JSON.stringify(inputSpec(run)),
    'latnas.classes': JSON.stringify(run.classes ?? dataset.classes),
    'latnas.dataset': dataset.spec,
    ...(run.testAcc !== undefined ? { 'latnas.tfjs_test_accuracy': run.testAcc.toFixed(4) } : {}),
    ...(lut ? { 'latnas.lut': JSON.stringify({ path: lut.path, device: lut.lut.device, space: lut.lut.space, spaceFingerprint: lut.lut.spaceFingerprint, ...lut.lut.provenance }) } : {}),
  };
}

/** Test images with labels, NHWC (TF.js) and NCHW (ONNX), normalised as in training. */
function* testBatches(dataset: Dataset, run: TrainedRun, limit: number, batchSize = 250): Generator<{ nhwc: Float32Array; nchw: Float32Array; labels: Int32Array; n: number }> {
  const { c, h, w } = run.space.input;
  const stream = new BatchStream(dataset, { batchSize, norm: run.normalization, seed: 1, split: 'test', shuffle: false });
  const nchw = new Float32Array(batchSize * c * h * w);
  let seen = 0;
  for (const b of stream.epoch()) {
    const n = Math.min(b.size, limit - seen);
    if (n <= 0) break;
    yield { nhwc: b.x.subarray(0, n * h * w * c), nchw: nhwcToNchw(b.x, n, h, w, c, nchw), labels: b.y, n };
    seen += n;
  }
}

/** Parity, and onnxruntime's top-1 label per image (the int8 check compares with them instead of running fp32 again). */
async function checkParity(run: TrainedRun, dataset: Dataset, fp32: Uint8Array, images: number, quiet?: boolean): Promise<{ parity: Parity; ortLabels: Uint8Array }> {
  const ortModel = await OrtModel.load(fp32);
  const { c, h, w } = run.space.input;
  const k = run.space.classes;
  let maxAbsDiff = 0, agree = 0, tfHits = 0, ortHits = 0, seen = 0, tfBad = 0, ortBad = 0;
  const ortLabels = new Uint8Array(Math.min(images, dataset.test.count));
  const bar = progress('verify: TF.js vs onnxruntime', images, quiet);
  try {
    for (const b of testBatches(dataset, run, images)) {
      const tfLogits = tf.tidy(() => run.model.forward(tf.tensor4d(b.nhwc, [b.n, h, w, c]), false).dataSync() as Float32Array);
      const ortLogits = (await ortModel.run(b.nchw, [b.n, c, h, w], [OUTPUT_NAME])).get(OUTPUT_NAME)!;
      for (let i = 0; i < b.n; i++) {
        // Math.max(x, NaN) is NaN and `NaN > limit` is false: non-finite logits are counted apart and fail the export.
        for (let j = 0; j < k; j++) {
          const t = tfLogits[i * k + j]!, o = ortLogits[i * k + j]!;
          if (!Number.isFinite(t)) tfBad++;
          if (!Number.isFinite(o)) ortBad++;
          if (Number.isFinite(t) && Number.isFinite(o)) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(t - o));
        }
        // -1 for a row with a non-finite logit: it agrees with nothing and matches no label.
        const a = argmaxFinite(tfLogits, i * k, k), o = argmaxFinite(ortLogits, i * k, k);
        ortLabels[seen + i] = o < 0 ? 255 : o;
        if (a >= 0 && a === o) agree++;
        if (a === b.labels[i]) tfHits++;
        if (o === b.labels[i]) ortHits++;
      }
      seen += b.n;
      bar.increment(b.n, `max |Δlogit| ${maxAbsDiff.toExponential(2)}`);
    }
  } finally {
    bar.stop();
    await ortModel.release();
  }
  if (seen === 0) fail(`export verification got no test images (--verify-images ${images}); verify on at least one image`);
  return { parity: { images: seen, maxAbsDiff, nonFinite: { tfjs: tfBad, ort: ortBad }, top1Agreement: agree / seen, tfjsAccuracy: tfHits / seen, ortAccuracy: ortHits / seen }, ortLabels };
}

/** ORT accuracy of `model` on the test images, and its top-1 agreement with `reference` (fp32 ORT's labels). */
async function ortAccuracy(run: TrainedRun, dataset: Dataset, model: Uint8Array, reference: Uint8Array): Promise<{ accuracy: number; agreement: number }> {
  const a = await OrtModel.load(model);
  const { c, h, w } = run.space.input;
  const k = run.space.classes;
  let hits = 0, agree = 0, seen = 0;
  try {
    for (const b of testBatches(dataset, run, reference.length)) {
      const la = (await a.run(b.nchw, [b.n, c, h, w], [OUTPUT_NAME])).get(OUTPUT_NAME)!;
      for (let i = 0; i < b.n; i++) {
        const p = argmaxFinite(la, i * k, k);
        if (p >= 0 && p === b.labels[i]) hits++;
        if (p >= 0 && p === reference[seen + i]) agree++;
      }
      seen += b.n;
    }
  } finally {
    await a.release();
  }
  if (seen === 0) fail('int8 verification got no test images; verify on at least one image');
  return { accuracy: hits / seen, agreement: agree / seen };
}

/** Calibration images: a seeded sample of the training split, normalised, NCHW. */
function calibrationSet(run: TrainedRun, dataset: Dataset, count: number): { images: Float32Array; count: number; chw: [number, number, number] } {
  const { c, h, w } = run.space.input;
  const { train } = splitTrainVal(dataset, 0.1, 1);
  const rng = new Rng(7);
  const picked = Uint32Array.from({ length: Math.min(count, train.length) }, () => train[rng.int(train.length)]!);
  const stream = new BatchStream(dataset, { batchSize: picked.length, norm: run.normalization, seed: 1, indices: picked, shuffle: false });
  const images = new Float32Array(picked.length * c * h * w);
  for (const b of stream.epoch()) nhwcToNchw(b.x, b.size, h, w, c, images);
  return { images, count: picked.length, chw: [c, h, w] };
}

export async function exportOnnx(opts: OnnxExportOptions): Promise<OnnxExportResult> {
  const started = Date.now();
  const opset = opts.opset ?? 17;
  checkOpset(opset);
  // Before any work: a folder, a path under a file, a read-only mount (src/util/outdir.ts); the report goes beside the model.
  checkOutputFile(opts.out);
  if (isFolder(reportPath(opts.out))) fail(`--out '${opts.out}': its report '${reportPath(opts.out)}' would replace a folder; remove that folder or choose another --out`);
  // The run folder's files, the table and the dataset are read: the model and its report must not land on any of them.
  refuseOverwritingInputs('--out', opts.out, [{ path: opts.out }, { path: reportPath(opts.out) }], [
    ...runFolderInputs(opts.run, TRAINED_RUN_FILES, `the --run folder`), inputFile('the --table file', opts.table), datasetInput(opts.dataset),
  ]);
  const say = (s: string) => { if (!opts.quiet) process.stderr.write(`${s}\n`); };
  await initBackend(opts.backend ?? 'auto');
  const run = loadTrainedRun(opts.run);
  // The folder the model goes to: one export (or pipeline) at a time writes there.
  const lock = lockFolder(dirname(opts.out));
  try {
    const spec = opts.dataset ?? run.datasetSpec;
    // A folder of images: the training's decoded cache when it is still there (same files, same input), else decoded beside the run.
    // The caller's copy only when it is this spec at this input (a folder decodes to the space's input).
    const reuse = opts.loaded?.spec === spec && formatShape(opts.loaded.shape) === formatShape(run.space.input);
    const dataset = reuse ? opts.loaded! : isFolderSpec(spec)
      ? (await openDataset(spec, run.space, { input: run.space.input, cacheDir: run.imageCache ? dirname(run.imageCache) : imageCacheDir(run.dir), quiet: opts.quiet })).dataset
      : loadDataset(spec);
    checkDatasetFits(run.space, dataset);
    const lut = opts.skipLatency && !opts.table ? undefined : tableFor(run, opts.table, 'latnas export');
    // The inputs the run folder chose (the table it was searched with, its dataset), checked like the given ones.
    refuseOverwritingInputs('--out', opts.out, [{ path: opts.out }, { path: reportPath(opts.out) }], [
      lut ? { what: 'the latency table', path: lut.path } : undefined, datasetInput(dataset.spec),
    ]);
    const meta = metadata(run, dataset, lut);
    const proto = buildModelProto(run.layers, run.space.input, {
      batch: 'batch', weights: run.model.asWeightSource(), inputName: INPUT_NAME, outputName: OUTPUT_NAME,
      graphName: `latnas_${run.space.name}`, opset, metadata: meta,
    });
    const fp32 = encodeModel(proto);
    say(`export: ${run.space.name} [${run.arch.join(',')}], opset ${opset}, ${(fp32.length / 1024).toFixed(0)} KiB (BatchNorm folded)`);

    const { parity, ortLabels } = await checkParity(run, dataset, fp32, opts.verifyImages ?? dataset.test.count, opts.quiet);
    say(`verify: ${parity.images} test images, max |Δlogit| ${parity.maxAbsDiff.toExponential(2)}, top-1 agreement ${(100 * parity.top1Agreement).toFixed(2)}%, ` +
      `accuracy TF.js ${(100 * parity.tfjsAccuracy).toFixed(2)}% / onnxruntime ${(100 * parity.ortAccuracy).toFixed(2)}%`);
    if (parity.nonFinite.tfjs > 0 || parity.nonFinite.ort > 0) {
      const total = parity.images * run.space.classes;
      fail(`export of '${opts.run}' failed verification: the model's outputs are not finite (${parity.nonFinite.tfjs} of ${total} TF.js logits and ` +
        `${parity.nonFinite.ort} of ${total} onnxruntime logits are NaN or infinite), so its trained weights are broken; nothing was written. Train it again with a lower --lr`);
    }
    // Written as `!(x <= limit)`: a NaN fails it, where `x > limit` would pass.
    if (!(parity.maxAbsDiff <= MAX_ABS_DIFF) || !(parity.top1Agreement >= MIN_TOP1_AGREEMENT)) {
      fail(`export of '${opts.run}' failed verification: max |Δlogit| ${parity.maxAbsDiff.toExponential(2)} (limit ${MAX_ABS_DIFF}), ` +
        `top-1 agreement ${(100 * parity.top1Agreement).toFixed(2)}% (limit ${100 * MIN_TOP1_AGREEMENT}%); nothing was written. This is a bug in latnas: please report it with the run folder`);
    }

    let written = fp32;
    let int8: OnnxExportResult['int8'];
    if (opts.quantize === 'int8') {
      const calib = calibrationSet(run, dataset, opts.calibrationImages ?? 512);
      say(`quantize: calibrating int8 ranges on ${calib.count} training images`);
      const ranges = await calibrate(proto, calib);
      const q = quantizeQdq(proto, ranges, calib.count);
      q.model.metadataProps = [...(q.model.metadataProps ?? []), { key: 'latnas.quantization', value: JSON.stringify(q.report) }];
      written = encodeModel(q.model);
      const acc = await ortAccuracy(run, dataset, written, ortLabels);
      int8 = {
        report: q.report, ortAccuracy: acc.accuracy, accuracyDropPct: 100 * (parity.ortAccuracy - acc.accuracy), top1AgreementWithFp32: acc.agreement, bytes: written.length,
      };
      say(`quantize: int8 accuracy ${(100 * acc.accuracy).toFixed(2)}% (fp32 ${(100 * parity.ortAccuracy).toFixed(2)}%, drop ${int8.accuracyDropPct.toFixed(2)} points), ` +
        `${(written.length / 1024).toFixed(0)} KiB`);
    }

    let latency: LatencyReport | undefined;
    if (lut && !opts.skipLatency) {
      const device = loadDevice(lut.lut.device);
      const runtime = await openRuntime(device);
      const plan = timingPlan(device, { rounds: opts.rounds });
      const predictedMs = predict(lut.lut, run.units, lut.path).totalMs;
      const jobs = [{ input: run.space.input, model: () => fp32 }, { input: run.space.input, model: () => buildNetworkModel(run.units) }];
      if (int8) jobs.push({ input: run.space.input, model: () => written });
      const bar = progress(`latency on ${device.name}`, (jobs.length + 1) * plan.rounds, opts.quiet);
      // Timed as lut-check times nets: sentinel-gated and normalised to the table's sentinel state.
      const sentinel = await openSentinel(runtime, plan, networkSentinelJob(run.space));
      const heavy = heavyReference(run.space, lut.lut.timing.heavyAnchorMs, lut.lut.estimator);
      const m = await measureJobs(runtime, jobs, plan, new Rng(11), { sentinel, anchorMs: lut.lut.timing.anchorMs ?? 'new', heavy, onAccepted: (n) => bar.increment(n) })
        .finally(() => sentinel.session.release());
      bar.stop();
      const est = lut.lut.estimator;
      const measuredMs = m.stats[0]![est];
      latency = {
        device: device.name, table: lut.path, estimator: est, predictedMs, measuredMs,
        errPct: (100 * (predictedMs - measuredMs)) / measuredMs, profilerBuildMs: m.stats[1]![est],
        ...(int8 ? { int8Ms: m.stats[2]![est] } : {}),
      };
      say(`latency on ${device.name}: predicted ${predictedMs.toFixed(4)} ms, measured ${measuredMs.toFixed(4)} ms (${latency.errPct >= 0 ? '+' : ''}${latency.errPct.toFixed(1)}%)` +
        `${latency.int8Ms !== undefined ? `; int8 ${latency.int8Ms.toFixed(4)} ms (${speedup(measuredMs, latency.int8Ms)})` : ''}`);
    }

    writeFileAtomic(opts.out, written);
    const result: OnnxExportResult = {
      out: opts.out, bytes: written.length, opset, arch: run.arch, space: run.space.name,
      input: inputSpec(run),
      classes: run.classes ?? dataset.classes,
      parity, int8, latency,
      seconds: (Date.now() - started) / 1000,
    };
    writeJsonAtomic(reportPath(opts.out), result);
    return result;
  } finally {
    lock.release();
    run.model.dispose();
  }
}

function speedup(fp32Ms: number, int8Ms: number): string {
  return int8Ms <= fp32Ms ? `${(fp32Ms / int8Ms).toFixed(2)}x faster than fp32` : `${(int8Ms / fp32Ms).toFixed(2)}x slower than fp32`;
}

/** Where the export report goes: beside the model, `model.onnx` -> `model.export.json`. */
export function reportPath(out: string): string {
  return reportPathFor(out, '.onnx');
}

export const onnxExporter: Exporter<OnnxExportOptions, OnnxExportResult> = { format: 'onnx', extension: '.onnx', export: exportOnnx, reportPath };
