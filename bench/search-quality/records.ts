/**
 * The search-quality study's results file: JSON lines, one record per finished piece, appended
 * durably (src/util/files.ts appendLineDurable). Every record has a `key`; a resumed study skips
 * the pieces whose key is in the file. Everything the summary needs is in the file — the study's
 * settings and table, the family and the sampled archs as well as the searches, trainings and
 * scores — so summary.json and the plot are a pure function of it (`--summarize-only`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { fail } from '../../src/errors.js';
import { appendLineDurable, writeFileAtomic } from '../../src/util/files.js';
import { firstIssue } from '../../src/util/validate.js';
import { SAMPLINGS } from '../../src/search/sampling.js';

const blocks = z.array(z.string().min(1)).min(1);
const ms = z.number().positive();
const seconds = z.number().nonnegative();
const acc = z.number().min(0).max(1);
/** Where a piece ran: the CPU model and its identity (src/device/host.ts). */
const where = { cpu: z.string(), cpuId: z.string(), date: z.string() };

export const METHODS = ['dnas', 'evolution', 'random'] as const;
export type Method = (typeof METHODS)[number];

/** The settings that shape a piece's result; their hash names the results file. */
export const RecipeSchema = z.object({
  dataset: z.string(),
  space: z.string(),
  lut: z.object({ path: z.string(), device: z.string(), created: z.string(), cpu: z.string(), cpuId: z.string().nullable(), profileSeconds: z.number() }),
  train: z.object({
    epochs: z.number().int().positive(), maxSteps: z.number().int().positive().nullable(), batch: z.number().int().positive(), lr: z.number().positive(),
    momentum: z.number(), weightDecay: z.number(), optimizer: z.string(), labelSmoothing: z.number(), valFraction: z.number(), augment: z.boolean(),
  }),
  search: z.object({
    epochs: z.number().int().positive(), stepsPerEpoch: z.number().int().positive().nullable(), batch: z.number().int().positive(), lr: z.number().positive(),
    samples: z.number().int().positive(), evalImages: z.number().int().positive(), calibrationBatches: z.number().int().positive(), seed: z.number().int(),
    valFraction: z.number(),
    /** The shared supernet's path sampling (src/search/sampling.ts); absent: uniform, as before it was a setting. */
    sampling: z.enum(SAMPLINGS).optional(),
  }),
});
export type Recipe = z.infer<typeof RecipeSchema>;

export const StudyRecordSchema = z.object({
  kind: z.literal('study'), key: z.literal('study'), hash: z.string(), recipe: RecipeSchema, baselineMs: ms, fastestMs: ms, ...where,
});
export const FamilyRecordSchema = z.object({
  kind: z.literal('family'), key: z.string(), name: z.string(), blocks, predictedMs: ms, substituted: z.array(z.object({ layer: z.number().int(), block: z.string() })),
});
export const SampleRecordSchema = z.object({
  kind: z.literal('sample'), key: z.string(), target: z.number().positive(), targetMs: ms, k: z.number().int().min(1), blocks, predictedMs: ms,
  /** The band sampler's exact-latency acceptance when it drew this study's samples. */
  acceptance: z.number().min(0).max(1),
});
/** Worker threads the piece ran on: a training's result depends on it (per-shard BatchNorm statistics), its wall time too. */
const workers = z.number().int().min(1).optional();
export const SupernetRecordSchema = z.object({ kind: z.literal('supernet'), key: z.string().regex(/^supernet(-rebuild-\d+)?$/), dir: z.string(), seconds, workers, ...where });
export const SearchRecordSchema = z.object({
  kind: z.literal('search'), key: z.string(), method: z.enum(METHODS), target: z.number().positive(), targetMs: ms, blocks, predictedMs: ms,
  supernetValAcc: acc, supernet: z.string(), seconds, workers, ...where,
});
export const TrainRecordSchema = z.object({
  kind: z.literal('train'), key: z.string(), blocks, predictedMs: ms,
  /** The first role the arch was trained for (`mbv2`, `k3_e6`, `dnas`, `random-sampled`, …) and its target (null for the family). */
  method: z.string(), target: z.number().positive().nullable(), seed: z.number().int(), testAcc: acc,
  /** Validation accuracy with inherited weights from the supernet of the search that chose the arch (null for archs no search chose). */
  supernetValAcc: acc.nullable(), seconds, resumedFromEpoch: z.number().int().nonnegative(), backend: z.string(), workers, ...where,
  /** The results file this training was copied from (same training recipe, table and workers: the same training). */
  reusedFrom: z.string().optional(),
});
export const ScoreRecordSchema = z.object({
  kind: z.literal('score'), key: z.string(), blocks, predictedMs: ms, valAcc: acc, supernet: z.string(), seconds, ...where,
});

export const StudyLineSchema = z.discriminatedUnion('kind', [
  StudyRecordSchema, FamilyRecordSchema, SampleRecordSchema, SupernetRecordSchema, SearchRecordSchema, TrainRecordSchema, ScoreRecordSchema,
]);
export type StudyLine = z.infer<typeof StudyLineSchema>;
export type StudyRecord = z.infer<typeof StudyRecordSchema>;
export type FamilyRecord = z.infer<typeof FamilyRecordSchema>;
export type SampleRecord = z.infer<typeof SampleRecordSchema>;
export type SearchRecord = z.infer<typeof SearchRecordSchema>;
export type TrainRecord = z.infer<typeof TrainRecordSchema>;
export type ScoreRecord = z.infer<typeof ScoreRecordSchema>;

/** A target as a key: its factor of the baseline's latency, canonical (1.0 -> "1"). */
export const targetKey = (t: number): string => String(Number(t.toPrecision(6)));
export const archKey = (b: readonly string[]): string => b.join(',');
export const keys = {
  family: (name: string) => `family|${name}`,
  sample: (t: number, k: number) => `sample|${targetKey(t)}|${k}`,
  search: (m: Method, t: number) => `search|${m}|${targetKey(t)}`,
  train: (b: readonly string[], seed: number) => `train|${archKey(b)}|${seed}`,
  score: (b: readonly string[]) => `score|${archKey(b)}`,
};

/**
 * The records of a JSON-lines results file ([] if there is none), each checked against `schema`.
 * A last line that does not parse is a record torn by a kill: skipped (its piece runs again). A
 * bad line before it fails, naming it; `redo` says what deleting it costs.
 */
export function readJsonLines<T>(path: string, schema: z.ZodType<T>, what: string, redo: string): T[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const last = lines.slice(i + 1).every((l) => l.trim() === '');
    let data: unknown;
    try {
      data = JSON.parse(line);
    } catch {
      if (last) return;
      fail(`${what} '${path}' line ${i + 1} is not JSON; delete that line (${redo})`);
    }
    const r = schema.safeParse(data);
    if (!r.success) {
      if (last) return;
      fail(`${what} '${path}' line ${i + 1}: ${firstIssue(r.error)}; delete that line (${redo})`);
    }
    out.push(r.data);
  });
  return out;
}

/** The records of a study's results file. */
export function readRecords(path: string): StudyLine[] {
  return readJsonLines(path, StudyLineSchema, 'results file', 'its piece runs again');
}

/**
 * Drops a torn last line (a kill mid-append) before a study appends again, so it cannot end up
 * between two good records; returns whether it did. The file is rewritten atomically.
 */
export function dropTornTail(path: string): boolean {
  if (!existsSync(path)) return false;
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  const tail = lines[lines.length - 1];
  if (tail === undefined) return false;
  let torn = false;
  try {
    torn = !StudyLineSchema.safeParse(JSON.parse(tail)).success;
  } catch {
    torn = true;
  }
  if (!torn) return false;
  writeFileAtomic(path, lines.slice(0, -1).map((l) => `${l}\n`).join(''));
  return true;
}

export function appendRecord(path: string, record: StudyLine): void {
  appendLineDurable(path, JSON.stringify(record));
}

/**
 * What makes two studies' trainings of one arch and seed the same training: the dataset, the
 * space, the table (by device and creation) and the training recipe. Search settings do not
 * enter: a study that only changes how the supernet is trained or scored reuses every training.
 */
export function trainingIdentity(r: Recipe): string {
  return JSON.stringify({ dataset: r.dataset, space: r.space, lut: { device: r.lut.device, created: r.lut.created }, train: r.train });
}
