/**
 * A run folder's JSON files, each described once: its name, one zod schema, and what to say when
 * it is bad. Commands write them through `writeRunFile` (typed by what they write) and read them
 * through `readRunFile` (fails with one line naming the file, the field and the fix) or, where a
 * bad file must not stop the reader (the report), `readRunFileIfValid` (the problem becomes a line).
 *
 * Schemas name the fields readers use and let everything else through, so a stage that adds
 * fields later does not break older readers; fields an older latnas did not write are optional.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../util/files.js';
import { firstIssue, parseWith, readJsonFile } from '../util/validate.js';

/** One JSON file of a run folder. `Read`: what the schema yields; `Write`: what its writer must give. */
export interface RunFile<Read, Write = Read> {
  /** File name inside its folder. */
  readonly name: string;
  /** How errors call it: "`what` file 'path'". */
  readonly what: string;
  readonly schema: z.ZodType<Read>;
  /** The fix named when the file does not match the schema. */
  readonly expected: string;
  /** Type-only: what the writer gives (never set). */
  readonly written?: Write;
}

export function runFile<Read, Write = Read>(name: string, what: string, schema: z.ZodType<Read>, expected: string): RunFile<Read, Write> {
  return { name, what, schema, expected };
}

export function writeRunFile<W>(dir: string, file: RunFile<unknown, W>, data: NoInfer<W>): void {
  writeJsonAtomic(join(dir, file.name), data);
}

/** Reads and checks a file; bad input fails with one line naming the file, the field and the fix. */
export function readRunFile<R>(dir: string, file: RunFile<R, unknown>): R {
  const path = join(dir, file.name);
  return parseWith(file.schema, readJsonFile(path, file.what), `${file.what} file '${path}'`, file.expected);
}

/** The file's content, or undefined when it is missing; a file that is unreadable or of the wrong shape adds a line to `problems`. */
export function readRunFileIfValid<R>(dir: string, file: RunFile<R, unknown>, problems: string[]): R | undefined {
  return readJsonIfValid(join(dir, file.name), file.schema, problems);
}

/** readRunFileIfValid for a file found by path (the export report's name follows its model's). */
export function readJsonIfValid<R>(path: string, schema: z.ZodType<R>, problems: string[]): R | undefined {
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

/** A number a writer may have had no value for (JSON writes NaN as null), or an older writer left out. */
export const optionalNumber = z.number().nullable().optional();
export const optionalString = z.string().optional();
/** JSON writes NaN (and Infinity) as null: read back as NaN. */
export const numberOrNaN = z.number().nullable().transform((v) => v ?? Number.NaN);

/** Where a LUT came from, as the table records it (src/lut/lut.ts); the fields the report shows. */
export const ProvenanceSchema = z.object({
  runtime: optionalString, runtimeVersion: optionalString, executionProvider: optionalString, threads: optionalNumber, graphOptimizationLevel: optionalString,
  cpu: optionalString, cpuCount: optionalNumber, os: optionalString, node: optionalString, latnasVersion: optionalString, created: optionalString,
  updated: optionalString, profileSeconds: optionalNumber,
}).passthrough();
export type Provenance = z.infer<typeof ProvenanceSchema>;

/** The LUT an arch was searched against, as search/arch.json records it and train/arch.json carries on. */
export const LutRecordSchema = z.object({
  path: optionalString, device: optionalString, space: optionalString, spaceFingerprint: optionalString, provenance: ProvenanceSchema.optional(),
}).passthrough();
export type LutRecordRead = z.infer<typeof LutRecordSchema>;
/** What a search writes: every field. */
export interface LutRecord { path: string; device: string; space: string; spaceFingerprint: string; provenance: Record<string, unknown> }

/** An arch as run folders hold it: the space and one block string per searchable layer; `lut` when it was searched. */
export const ArchRecordSchema = z.object({
  space: z.string(),
  blocks: z.array(z.string()).min(1),
  lut: LutRecordSchema.optional(),
}).passthrough();
export type ArchRecordRead = z.infer<typeof ArchRecordSchema>;
/** What a writer gives: `lut` copied from the search's arch.json when the arch was searched. */
export interface ArchRecord { space: string; blocks: string[]; lut?: LutRecord | LutRecordRead }
