/**
 * Every export format by name (as FBNet's PRIMITIVES: a name -> its builder), and the one module
 * of exporters/ that src/ imports (the CLI's `export` and the pipeline's export stage). A format
 * is a folder beside onnx/ whose exporter implements `Exporter` (exporter.ts), plus its line here.
 */
import type { Exporter } from './exporter.js';
import { onnxExporter } from './onnx/export.js';

export const EXPORTERS = {
  onnx: onnxExporter,
} as const satisfies Record<string, Exporter>;

export type ExportFormat = keyof typeof EXPORTERS;
export type { Exporter, ExportOptions, ExportSummary } from './exporter.js';
export type { OnnxExportOptions, OnnxExportResult } from './onnx/export.js';
/** The trained-run reader every exporter starts from; `latnas adapt` starts from it too (a trained net and the table it was searched with). */
export { loadTrainedRun, tableFor, TRAINED_RUN_FILES, type TrainedRun } from './run.js';
