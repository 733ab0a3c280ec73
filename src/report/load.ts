/**
 * Reads a pipeline run folder for the report. Every file is optional: a run that stopped after
 * the search (or is still training) must still get a page, so a missing file is `undefined` and
 * an unreadable one becomes a line in `problems` instead of an error.
 *
 * The schemas name only the fields the report shows and let everything else through, so a
 * stage that adds fields later does not break old or new reports.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { firstIssue } from '../util/validate.js';

const num = z.number().nullable().optional();
const str = z.string().optional();

const ProvenanceSchema = z.object({
  runtime: str, runtimeVersion: str, executionProvider: str, threads: num, graphOptimizationLevel: str,
  cpu: str, cpuCount: num, os: str, node: str, latnasVersion: str, created: str, updated: str, profileSeconds: num,
}).passthrough();
export type Provenance = z.infer<typeof ProvenanceSchema>;

/** search/arch.json (`latnas search`). */
export const SearchArchSchema = z.object({
  space: z.string(),
  blocks: z.array(z.string()).min(1),
  predictedMs: num,
  targetMs: num,
  supernetValAcc: num,
  strategy: str,
  seed: num,
  dataset: str,
  lut: z.object({ path: str, device: str, space: str, spaceFingerprint: str, provenance: ProvenanceSchema.optional() }).passthrough().optional(),
  baseline: z.object({ blocks: z.array(z.string()), latencyMs: z.number(), acc: z.number() }).passthrough().optional(),
  fastestMs: num,
  searchSeconds: num,
}).passthrough();
export type SearchArch = z.infer<typeof SearchArchSchema>;

/** search/visited.json: every arch the search scored. */
export const VisitedSchema = z.array(z.object({
  blocks: z.array(z.string()),
  path: z.array(z.number()).optional(),
  latencyMs: z.number(),
  acc: z.number(),
  source: str,
}).passthrough());
export type Visited = z.infer<typeof VisitedSchema>[number];

/** search/search-log.json: one row per supernet epoch (dnas fields are null under evolution). */
export const SearchLogSchema = z.object({
  strategy: str,
  targetMs: num,
  options: z.record(z.string(), z.unknown()).optional(),
  searchSeconds: num,
  epochs: z.array(z.object({
    epoch: z.number(), seconds: num, lr: num, loss: num, trainAcc: num,
    thetaLoss: num, thetaCe: num, temperature: num, expectedMs: num, argmaxMs: num,
  }).passthrough()),
}).passthrough();
export type SearchLog = z.infer<typeof SearchLogSchema>;

/** train/arch.json. */
export const ArchFileSchema = z.object({ space: str, blocks: z.array(z.string()).min(1) }).passthrough();

/** train/metrics.json (`latnas train`); valAcc is null when no validation split was held out. */
export const MetricsSchema = z.object({
  space: str, dataset: str, datasetSpec: str, classes: z.array(z.string()).optional(), backend: str,
  epochs: num, batch: num, lr: num, optimizer: str, seed: num,
  testAcc: z.number(),
  history: z.array(z.object({ epoch: z.number(), loss: num, trainAcc: num, valAcc: num, lr: num, seconds: num, imagesPerSecond: num }).passthrough()).optional(),
}).passthrough();
export type Metrics = z.infer<typeof MetricsSchema>;

/** model.export.json (`latnas export`). */
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

/** pipeline.json (`latnas run`): options and per-stage records, all of it optional. */
export const PipelineSchema = z.object({
  options: z.record(z.string(), z.unknown()).optional(),
  stages: z.record(z.string(), z.unknown()).optional(),
  seconds: z.unknown().optional(),
}).passthrough();
export type Pipeline = z.infer<typeof PipelineSchema>;

export interface RunData {
  runDir: string;
  pipeline?: Pipeline;
  search?: { arch: SearchArch; visited?: Visited[]; log?: SearchLog };
  /** Files of a search that has started but not written arch.json yet. */
  searchStarted: boolean;
  train?: { arch?: z.infer<typeof ArchFileSchema>; metrics: Metrics; spaceJson?: unknown };
  trainStarted: boolean;
  export?: { reportPath: string; report: ExportReport; modelPath?: string; modelBytes?: number };
  /** Files that exist but could not be read or did not have the expected fields. */
  problems: string[];
}

function readOptional<T>(path: string, schema: z.ZodType<T>, problems: string[]): T | undefined {
  if (!existsSync(path)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    problems.push(`${path}: not readable JSON (${(e as Error).message})`);
    return undefined;
  }
  const r = schema.safeParse(data);
  if (!r.success) {
    problems.push(`${path}: ${firstIssue(r.error)}`);
    return undefined;
  }
  return r.data;
}

/** The export report: model.export.json, else the only other `*.export.json` in the folder. */
function exportReportPath(runDir: string): string | undefined {
  const preferred = join(runDir, 'model.export.json');
  if (existsSync(preferred)) return preferred;
  const others = existsSync(runDir) ? readdirSync(runDir).filter((f) => f.endsWith('.export.json')).sort() : [];
  return others.length > 0 ? join(runDir, others[0]!) : undefined;
}

export function readRun(runDir: string): RunData {
  const problems: string[] = [];
  const s = join(runDir, 'search');
  const t = join(runDir, 'train');
  const data: RunData = { runDir, problems, searchStarted: existsSync(s), trainStarted: existsSync(t) };

  data.pipeline = readOptional(join(runDir, 'pipeline.json'), PipelineSchema, problems);

  const searchArch = readOptional(join(s, 'arch.json'), SearchArchSchema, problems);
  if (searchArch) {
    data.search = {
      arch: searchArch,
      visited: readOptional(join(s, 'visited.json'), VisitedSchema, problems),
      log: readOptional(join(s, 'search-log.json'), SearchLogSchema, problems),
    };
  }

  const metrics = readOptional(join(t, 'metrics.json'), MetricsSchema, problems);
  if (metrics) {
    let spaceJson: unknown;
    try {
      spaceJson = existsSync(join(t, 'space.json')) ? JSON.parse(readFileSync(join(t, 'space.json'), 'utf8')) : undefined;
    } catch (e) {
      problems.push(`${join(t, 'space.json')}: not readable JSON (${(e as Error).message})`);
    }
    data.train = { arch: readOptional(join(t, 'arch.json'), ArchFileSchema, problems), metrics, spaceJson };
  }

  const reportPath = exportReportPath(runDir);
  const report = reportPath ? readOptional(reportPath, ExportReportSchema, problems) : undefined;
  if (reportPath && report) {
    // The model sits beside its report (`model.export.json` <- `model.onnx`).
    const modelPath = reportPath.replace(/\.export\.json$/, '.onnx');
    const modelBytes = existsSync(modelPath) ? statSync(modelPath).size : undefined;
    data.export = { reportPath, report, modelPath: modelBytes !== undefined ? modelPath : undefined, modelBytes };
  }
  return data;
}
