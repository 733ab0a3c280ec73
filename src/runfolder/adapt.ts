/**
 * adapt.json (`latnas adapt`): the settings, where the loop started, each finished step (every
 * proposal tried, with its latency and fine-tuned validation accuracy, and the one kept), the
 * proposals of the step under way, and the final fine-tune. Rewritten atomically after every
 * proposal, so a killed run resumes at the proposal it was on; the report draws the trajectory.
 */
import { z } from 'zod';
import { runFile } from './files.js';

export const ADAPT_FILE = 'adapt.json';

const TriedSchema = z.object({
  kind: z.enum(['width', 'expansion']),
  layers: z.array(z.number().int().nonnegative()),
  label: z.string(),
  blocks: z.array(z.string()).min(1),
  ms: z.number(),
  valAcc: z.number(),
  seconds: z.number().nonnegative(),
});
export type Tried = z.infer<typeof TriedSchema>;

const StepSchema = z.object({
  step: z.number().int().min(1),
  stepMs: z.number().positive(),
  tried: z.array(TriedSchema),
  /** Index in `tried` of the proposal kept. */
  chosen: z.number().int().nonnegative(),
});
export type AdaptStep = z.infer<typeof StepSchema>;

const PointSchema = z.object({ blocks: z.array(z.string()).min(1), ms: z.number(), valAcc: z.number().nullable() });

const AdaptStateSchema = z.object({
  version: z.literal(1),
  settings: z.record(z.string(), z.unknown()),
  start: PointSchema,
  steps: z.array(StepSchema),
  /** The step under way: the proposals finished so far. */
  pending: z.object({ step: z.number().int().min(1), stepMs: z.number().positive(), tried: z.array(TriedSchema) }).optional(),
  final: PointSchema.extend({ testAcc: z.number(), seconds: z.number().nonnegative(), epochs: z.number().int().min(1) }).optional(),
}).passthrough();
export type AdaptState = z.infer<typeof AdaptStateSchema>;

export const ADAPT_RUN = {
  state: runFile<AdaptState>(ADAPT_FILE, 'adapt state', AdaptStateSchema, 'delete it to start the adapt run over, or choose another --out'),
} as const;
