/**
 * Reads a pipeline run folder for the report. Every file is optional: a run that stopped after
 * the search (or is still training) must still get a page, so a missing file is `undefined` and
 * an unreadable one becomes a line in `problems` instead of an error. The files and their
 * schemas are src/runfolder/'s.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../paths.js';
import { DEFAULT_EXPORT_REPORT, ExportReportSchema, exportedModelPath, type ExportReport } from '../runfolder/export.js';
import { readJsonIfValid, readRunFileIfValid, type ArchRecordRead } from '../runfolder/files.js';
import { ADAPT_RUN, type AdaptState } from '../runfolder/adapt.js';
import { PIPELINE_RUN, type PipelineStateRead } from '../runfolder/pipeline.js';
import { SEARCH_RUN, type SearchArchRead, type SearchLogRead, type VisitedRead } from '../runfolder/search.js';
import { TRAIN_RUN, type TrainMetricsRead } from '../runfolder/train.js';

export type { Provenance } from '../runfolder/files.js';
export type Visited = VisitedRead;
export type Metrics = TrainMetricsRead;

/** The search-quality study's summary (bench:search-quality), where latnas's own measurement of the supernet's ranking lives. */
export const STUDY_SUMMARY = join(PACKAGE_ROOT, 'bench/results/search-quality/summary.json');

/** What the report takes from the study's summary: the rank agreement, over how many archs, and of which space and data. */
const StudySummarySchema = z.object({
  kendallTau: z.number().nullable(),
  spearman: z.number().nullable(),
  archsRetrained: z.number().int().nonnegative(),
  recipe: z.object({ space: z.string(), dataset: z.string() }).passthrough(),
  computeHours: z.number().optional(),
}).passthrough();
export type StudySummaryRead = z.infer<typeof StudySummarySchema>;

export interface RunData {
  runDir: string;
  pipeline?: PipelineStateRead;
  search?: { arch: SearchArchRead; visited?: Visited[]; log?: SearchLogRead };
  /** Files of a search that has started but not written arch.json yet. */
  searchStarted: boolean;
  train?: { arch?: ArchRecordRead; metrics: Metrics; spaceJson?: unknown };
  trainStarted: boolean;
  /** `latnas run --adapt-ms` (or `latnas adapt` into RUN/adapt): the NetAdapt trajectory. */
  adapt?: AdaptState;
  export?: { reportPath: string; report: ExportReport; modelPath?: string; modelBytes?: number };
  /** The study's summary, if that file exists (it measures the supernet's ranking; it is not this run's). */
  study?: { path: string; summary: StudySummaryRead };
  /** Files that exist but could not be read or did not have the expected fields. */
  problems: string[];
}

export interface ReadRunOptions {
  /** The search-quality summary to show the supernet's ranking from (default: the package's STUDY_SUMMARY). */
  studySummary?: string;
}

/** The export report: model.export.json, else the only other `*.export.json` in the folder. */
function findExportReport(runDir: string): string | undefined {
  const preferred = join(runDir, DEFAULT_EXPORT_REPORT);
  if (existsSync(preferred)) return preferred;
  const others = existsSync(runDir) ? readdirSync(runDir).filter((f) => f.endsWith('.export.json')).sort() : [];
  return others.length > 0 ? join(runDir, others[0]!) : undefined;
}

export function readRun(runDir: string, opts: ReadRunOptions = {}): RunData {
  const problems: string[] = [];
  const s = join(runDir, 'search');
  const t = join(runDir, 'train');
  const data: RunData = { runDir, problems, searchStarted: existsSync(s), trainStarted: existsSync(t) };

  data.pipeline = readRunFileIfValid(runDir, PIPELINE_RUN.state, problems);

  const searchArch = readRunFileIfValid(s, SEARCH_RUN.arch, problems);
  if (searchArch) {
    data.search = {
      arch: searchArch,
      visited: readRunFileIfValid(s, SEARCH_RUN.visited, problems),
      log: readRunFileIfValid(s, SEARCH_RUN.log, problems),
    };
  }

  const metrics = readRunFileIfValid(t, TRAIN_RUN.metrics, problems);
  if (metrics) {
    const spacePath = join(t, TRAIN_RUN.space.name);
    let spaceJson: unknown;
    try {
      spaceJson = existsSync(spacePath) ? JSON.parse(readFileSync(spacePath, 'utf8')) : undefined;
    } catch (e) {
      problems.push(`${spacePath}: not readable JSON (${(e as Error).message})`);
    }
    data.train = { arch: readRunFileIfValid(t, TRAIN_RUN.arch, problems), metrics, spaceJson };
  }

  data.adapt = readRunFileIfValid(join(runDir, 'adapt'), ADAPT_RUN.state, problems);

  const studyPath = opts.studySummary ?? STUDY_SUMMARY;
  const summary = readJsonIfValid(studyPath, StudySummarySchema, problems);
  if (summary) data.study = { path: studyPath, summary };

  const reportPath = findExportReport(runDir);
  const report = reportPath ? readJsonIfValid(reportPath, ExportReportSchema, problems) : undefined;
  if (reportPath && report) {
    // The model sits beside its report (`model.export.json` <- `model.onnx`).
    const modelPath = exportedModelPath(reportPath);
    const modelBytes = existsSync(modelPath) ? statSync(modelPath).size : undefined;
    data.export = { reportPath, report, modelPath: modelBytes !== undefined ? modelPath : undefined, modelBytes };
  }
  return data;
}
