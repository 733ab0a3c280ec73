/**
 * pipeline.json (`latnas run`): the options that define the result and a record per finished
 * stage. The pipeline reads it strictly before it resumes (a bad file fails with one line); the
 * report reads it with the same schema and turns a bad file into a line on the page.
 */
import { z } from 'zod';
import { runFile } from './files.js';

export const PIPELINE_FILE = 'pipeline.json';

/** `adapt` runs only with `--adapt-ms` (NetAdapt after the training; the export takes its result). */
export const STAGES = ['lut', 'search', 'train', 'adapt', 'export', 'report'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageRecord { done: boolean; seconds: number; finished?: string; [k: string]: unknown }

export interface PipelineState {
  version: 1;
  /** The options that define the result; a re-run must match them. */
  options: Record<string, unknown>;
  stages: Partial<Record<Stage, StageRecord>>;
}

const StageRecordSchema = z.object({ done: z.boolean(), seconds: z.number().nonnegative() }).passthrough();

/** Unknown top-level fields pass (older files had a `seconds` summary, which the report still shows). */
const PipelineStateSchema = z.object({
  version: z.literal(1),
  options: z.record(z.string(), z.unknown()),
  stages: z.object({
    // Later stages read the table the lut stage recorded.
    lut: StageRecordSchema.extend({ path: z.string().min(1) }).passthrough().optional(),
    search: StageRecordSchema.optional(),
    train: StageRecordSchema.optional(),
    adapt: StageRecordSchema.optional(),
    export: StageRecordSchema.optional(),
    report: StageRecordSchema.optional(),
  }).strict(),
}).passthrough();
export type PipelineStateRead = z.infer<typeof PipelineStateSchema>;

export const PIPELINE_RUN = {
  state: runFile<PipelineStateRead, PipelineState>(PIPELINE_FILE, 'pipeline state', PipelineStateSchema, 'delete it to start the pipeline over, or choose another --out'),
} as const;
