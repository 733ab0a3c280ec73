/**
 * The files of a `latnas search` run folder: `search-state.bin` (supernet, strategy state and
 * optimiser state, rewritten atomically after every epoch; its meta below), `evolution.json`
 * (after every evolution cycle), then `arch.json`, `visited.json`, `pareto.json`, `pareto.svg`,
 * `search-log.json` and `curves.svg`.
 */
import { z } from 'zod';
import { ArchRecordSchema, numberOrNaN, optionalNumber, optionalString, runFile, type LutRecord } from './files.js';

export const SEARCH_STATE_FILE = 'search-state.bin';
export const EVOLUTION_FILE = 'evolution.json';
export const PARETO_SVG = 'pareto.svg';
export const CURVES_SVG = 'curves.svg';

/** One supernet epoch as the search logs it; the θ fields are null for strategies without θ. */
export interface EpochLog {
  epoch: number;
  seconds: number;
  lr: number;
  /** Weight-step loss and accuracy on the sampled paths. */
  loss: number;
  trainAcc: number;
  /** dnas: θ-step loss and CE, temperature, latency under softmax(θ), and its argmax arch. */
  thetaLoss: number | null;
  thetaCe: number | null;
  temperature: number | null;
  expectedMs: number | null;
  argmaxMs: number | null;
  argmax: string[] | null;
}

/** The meta of search-state.bin. */
export interface SearchStateMeta {
  version: 1;
  /** What must match for --resume to continue this run. */
  identity: Record<string, unknown>;
  epochsDone: number;
  log: EpochLog[];
  searchSeconds: number;
}

/** JSON writes NaN as null. */
const numberOrNull = z.number().nullable();

/** The meta of search-state.bin, checked when a search resumes or reuses a supernet (--supernet). */
export const SearchStateMetaSchema: z.ZodType<SearchStateMeta> = z.object({
  version: z.literal(1),
  identity: z.record(z.string(), z.unknown()),
  epochsDone: z.number().int().nonnegative(),
  log: z.array(z.object({
    epoch: z.number().int().min(1), seconds: z.number().nonnegative(), lr: z.number(), loss: z.number(), trainAcc: z.number().min(0).max(1),
    thetaLoss: numberOrNull, thetaCe: numberOrNull, temperature: numberOrNull, expectedMs: numberOrNull, argmaxMs: numberOrNull,
    argmax: z.array(z.string()).nullable(),
  })),
  searchSeconds: z.number().nonnegative(),
});

/** An arch the search scored with inherited supernet weights. */
export interface Visited { blocks: string[]; path: number[]; latencyMs: number; acc: number; source: string }

const VisitedListSchema = z.array(z.object({
  blocks: z.array(z.string()),
  path: z.array(z.number()).optional(),
  latencyMs: z.number(),
  acc: z.number(),
  source: optionalString,
}).passthrough());
export type VisitedRead = z.infer<typeof VisitedListSchema>[number];

/** search/arch.json as `latnas search` writes it. */
export interface SearchArch {
  space: string; blocks: string[]; predictedMs: number; targetMs: number; supernetValAcc: number; strategy: string; seed: number; dataset: string;
  lut: LutRecord; baseline: { blocks: string[]; latencyMs: number; acc: number }; fastestMs: number; searchSeconds: number;
}

const SearchArchSchema = ArchRecordSchema.extend({
  predictedMs: optionalNumber,
  targetMs: optionalNumber,
  supernetValAcc: optionalNumber,
  strategy: optionalString,
  seed: optionalNumber,
  dataset: optionalString,
  baseline: z.object({ blocks: z.array(z.string()), latencyMs: z.number(), acc: z.number() }).passthrough().optional(),
  fastestMs: optionalNumber,
  searchSeconds: optionalNumber,
}).passthrough();
export type SearchArchRead = z.infer<typeof SearchArchSchema>;

/** search/search-log.json: the options and one row per supernet epoch. */
export interface SearchLog {
  strategy: string; targetMs: number; options: Record<string, unknown>;
  /** Worker threads of the run that wrote it (not in `options`: a search resumes with any count). */
  workers?: number;
  searchSeconds: number; epochs: EpochLog[];
}

const SearchLogSchema = z.object({
  strategy: optionalString,
  targetMs: optionalNumber,
  options: z.record(z.string(), z.unknown()).optional(),
  searchSeconds: optionalNumber,
  epochs: z.array(z.object({
    epoch: z.number(), seconds: optionalNumber, lr: optionalNumber, loss: optionalNumber, trainAcc: optionalNumber,
    thetaLoss: optionalNumber, thetaCe: optionalNumber, temperature: optionalNumber, expectedMs: optionalNumber, argmaxMs: optionalNumber,
  }).passthrough()),
}).passthrough();
export type SearchLogRead = z.infer<typeof SearchLogSchema>;

/** One arch the evolution scored; NaN accuracy or score (a diverged path) is written as null and read back as NaN. */
const ScoredSchema = z.object({
  path: z.array(z.number().int().nonnegative()).min(1),
  latencyMs: z.number().nonnegative(),
  acc: numberOrNaN,
  score: numberOrNaN,
  cycle: z.number().int().min(-1),
});
export type Scored = z.infer<typeof ScoredSchema>;

/**
 * The evolution's checkpoint: its population and history, and the settings it ran under
 * (`identity`: absent in older files, so the schema leaves it to the resume check).
 */
export interface EvolutionFile {
  /** Oldest first. */
  population: Scored[];
  /** Every distinct path evaluated, in order. */
  history: Scored[];
  /** Cycles finished. */
  cycle: number;
  rng: number;
  identity?: Record<string, unknown>;
}

export const EvolutionFileSchema = z.object({
  population: z.array(ScoredSchema),
  history: z.array(ScoredSchema),
  cycle: z.number().int().nonnegative(),
  rng: z.number().int().min(0).max(2 ** 32 - 1),
}).passthrough();

/** The fix for a corrupt search state file. */
export const RESTART_SEARCH = 'delete it to start the search over, or choose another --out';

export const SEARCH_RUN = {
  arch: runFile<SearchArchRead, SearchArch>('arch.json', 'arch', SearchArchSchema, 'expected the arch.json `latnas search` writes'),
  visited: runFile<VisitedRead[], Visited[]>('visited.json', 'visited archs', VisitedListSchema, 'expected the visited.json `latnas search` writes'),
  pareto: runFile<VisitedRead[], Visited[]>('pareto.json', 'Pareto front', VisitedListSchema, 'expected the pareto.json `latnas search` writes'),
  log: runFile<SearchLogRead, SearchLog>('search-log.json', 'search log', SearchLogSchema, 'expected the search-log.json `latnas search` writes'),
  evolution: runFile<z.infer<typeof EvolutionFileSchema>, EvolutionFile>(EVOLUTION_FILE, 'evolution state', EvolutionFileSchema, RESTART_SEARCH),
} as const;
