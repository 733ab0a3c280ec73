/**
 * The report `latnas export` writes beside its model: `<model>.export.json` (`model.export.json`
 * for `model.onnx`), with the parity check, the int8 check and the latency on the LUT's device.
 */
import { z } from 'zod';
import { optionalNumber as num, optionalString as str } from './files.js';

export const ExportReportSchema = z.object({
  out: str,
  bytes: num,
  opset: num,
  arch: z.array(z.string()).optional(),
  space: str,
  parity: z.object({ images: num, maxAbsDiff: num, top1Agreement: num, tfjsAccuracy: num, ortAccuracy: num }).passthrough().optional(),
  int8: z.object({
    ortAccuracy: num, accuracyDropPct: num, top1AgreementWithFp32: num, bytes: num,
    report: z.record(z.string(), z.unknown()).optional(),
  }).passthrough().optional(),
  latency: z.object({
    device: str, table: str, estimator: str, predictedMs: num, measuredMs: num, errPct: num, profilerBuildMs: num, int8Ms: num,
  }).passthrough().nullable().optional(),
  seconds: num,
}).passthrough();
export type ExportReport = z.infer<typeof ExportReportSchema>;

/** Where the export report goes: beside the model, `model.onnx` -> `model.export.json`. */
export const exportReportPath = (modelPath: string): string => `${modelPath.replace(/\.onnx$/i, '')}.export.json`;
/** The model's path for a report: the inverse of exportReportPath. */
export const exportedModelPath = (reportPath: string): string => reportPath.replace(/\.export\.json$/, '.onnx');
export const DEFAULT_EXPORT_REPORT = 'model.export.json';
