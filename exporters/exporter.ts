/**
 * The exporter interface: a trained run folder -> one model file in one format, proven to be the
 * same model before it is written, with a report beside it. Each format is a folder (onnx/)
 * whose exporter implements this, registered by name in registry.ts; run.ts reads the run folder
 * for all of them. A second format (TFLite, CoreML) is one new folder and one registry line.
 */
import type { Dataset } from '../src/datasets/dataset.js';
import type { BackendChoice } from '../src/train/backend.js';

/** What every export is asked for (a format adds its own settings, as ONNX's opset). */
export interface ExportOptions {
  /** Run folder written by `latnas train`. */
  run: string;
  /** Model file to write; the report goes to `reportPath(out)`. */
  out: string;
  quantize?: 'int8';
  /** LUT for the predicted latency (default: the table the arch was searched with, else ort-cpu-1t's). */
  table?: string;
  /** Dataset spec for verification and calibration (default: the run's). */
  dataset?: string;
  /**
   * That dataset already in memory (the pipeline's): used when its spec is the one the export
   * would open, so a folder of photos is not held twice (820 MiB at 70,000 x 3x64x64).
   */
  loaded?: Dataset;
  /** Test images compared between TF.js and the exported model (default: the whole test split). */
  verifyImages?: number;
  calibrationImages?: number;
  /** Skip timing on the device. */
  skipLatency?: boolean;
  rounds?: number;
  /** TF.js backend of the reference run. */
  backend?: BackendChoice;
  quiet?: boolean;
}

/** What every export reports (the format's report holds more). */
export interface ExportSummary {
  out: string;
  bytes: number;
  arch: string[];
  space: string;
  seconds: number;
}

export interface Exporter<Options extends ExportOptions = ExportOptions, Result extends ExportSummary = ExportSummary> {
  /** The registry's name for the format. */
  readonly format: string;
  /** The model file's extension, with its dot. */
  readonly extension: string;
  /** Writes the model and its report, or nothing when a check fails. */
  export(options: Options): Promise<Result>;
  /** Where the report of the model `out` goes. */
  reportPath(out: string): string;
}

/** The report beside a model: `model.onnx` -> `model.export.json` (the extension matched in any case). */
export function reportPathFor(out: string, extension: string): string {
  const tail = out.slice(out.length - extension.length);
  const stem = out.length >= extension.length && tail.toLowerCase() === extension.toLowerCase() ? out.slice(0, out.length - extension.length) : out;
  return `${stem}.export.json`;
}
