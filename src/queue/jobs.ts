/**
 * The queue's jobs: one zod schema per kind, the job id (the sha256 of the canonical spec, so a
 * resubmitted spec is the same job and its finished result is reused), and the queue a kind
 * goes to. Payloads are data only: a space travels inline, a dataset or supernet is named
 * relative to the worker's --workdir (paths.ts refuses anything outside it), a device by name.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SpaceSchema } from '../space/spaces.js';
import { firstIssue } from '../util/validate.js';

/** Bump when a kind's meaning changes: old results in Redis then stop matching new specs. */
export const JOB_FORMAT = 1;

/** BullMQ's key prefix in Redis: every latnas key starts with `latnas:`. */
export const QUEUE_PREFIX = 'latnas';
/** Trainings and scorings: any worker with --concurrency > 0 takes them. */
export const COMPUTE_QUEUE = 'compute';
/** One queue per device: only workers holding the device take its jobs, one at a time (concurrency 1). */
export const deviceQueue = (device: string): string => `device.${device}`;

const relativePath = z.string().min(1).max(1000)
  .refine((p) => !p.startsWith('/') && !p.includes('\0'), { message: 'must be a path relative to the worker\'s --workdir' });
/**
 * A built-in dataset by name, or idx:/cifar10:/folder: with a folder relative to the worker's
 * --workdir. A folder of images is decoded on the worker to the job's space input (its cache in
 * `<workdir>/image-cache/`), so a photo folder is copied to each worker once, not sent per job.
 */
const datasetSpec = z.union([
  z.enum(['mnist', 'fashion-mnist']),
  z.string().regex(/^(idx|cifar10|folder):/, 'must be mnist, fashion-mnist, idx:DIR, cifar10:DIR or folder:DIR').refine(
    (s) => relativePath.safeParse(s.slice(s.indexOf(':') + 1)).success, { message: 'its DIR must be relative to the worker\'s --workdir' }),
]);
const deviceName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a device name (letters, digits, . _ -), not a path');
const blocks = z.array(z.string().min(1).max(100)).min(1).max(1000);
const backend = z.enum(['auto', 'tensorflow', 'wasm', 'cpu']);

export const TrainJobSchema = z.object({
  kind: z.literal('train'),
  space: SpaceSchema,
  blocks,
  dataset: datasetSpec,
  recipe: z.object({
    epochs: z.number().int().min(1).max(10_000),
    maxSteps: z.number().int().min(1).nullable(),
    batch: z.number().int().min(1).max(65_536),
    lr: z.number().positive().finite(),
    momentum: z.number().min(0).max(1),
    weightDecay: z.number().min(0).finite(),
    optimizer: z.enum(['sgd', 'adam']),
    labelSmoothing: z.number().min(0).max(1),
    valFraction: z.number().min(0).lt(1),
    augment: z.boolean(),
  }).strict(),
  seed: z.number().int(),
  backend,
  /** Data-parallel threads: part of the spec, since the result depends on it (per-shard BatchNorm). */
  workers: z.number().int().min(1).max(256),
  /** folder: datasets: undecodable images skipped (`--skip-bad`), not fatal. Present only when true, so other jobs keep their ids. */
  skipBad: z.literal(true).optional(),
}).strict();

export const ScoreJobSchema = z.object({
  kind: z.literal('score'),
  space: SpaceSchema,
  dataset: datasetSpec,
  /** A finished search's run folder (its search-state.bin), relative to the worker's --workdir. */
  supernet: relativePath,
  archs: z.array(blocks).min(1).max(10_000),
  calibrationBatches: z.number().int().min(1).max(10_000),
  evalImages: z.number().int().min(1),
  backend,
  skipBad: z.literal(true).optional(),
}).strict();

export const ProfileJobSchema = z.object({
  kind: z.literal('profile'),
  device: deviceName,
  space: SpaceSchema,
  seed: z.number().int(),
  chunk: z.number().int().min(1).max(10_000).nullable(),
  fitNets: z.number().int().min(10).nullable(),
  fitRounds: z.number().int().min(1).nullable(),
  rounds: z.number().int().min(1).nullable(),
  runsPerRound: z.number().int().min(1).nullable(),
}).strict();

export const JobSpecSchema = z.discriminatedUnion('kind', [TrainJobSchema, ScoreJobSchema, ProfileJobSchema]);
export type TrainJob = z.infer<typeof TrainJobSchema>;
export type ScoreJob = z.infer<typeof ScoreJobSchema>;
export type ProfileJob = z.infer<typeof ProfileJobSchema>;
export type JobSpec = z.infer<typeof JobSpecSchema>;
export type JobKind = JobSpec['kind'];

/**
 * Whether `spec` can travel in a job (a built-in name, or a DIR relative to the workers'
 * --workdir); the reason when not, for coordinators to refuse before anything is written.
 */
export function queueDatasetProblem(spec: string): string | undefined {
  const r = datasetSpec.safeParse(spec);
  return r.success ? undefined : r.error.issues[0]?.message;
}

/** Parses a payload; one line naming the field otherwise (the worker fails the job with it). */
export function parseJob(data: unknown): { ok: true; spec: JobSpec } | { ok: false; error: string } {
  const r = JobSpecSchema.safeParse(data);
  return r.success ? { ok: true, spec: r.data } : { ok: false, error: `malformed job: ${firstIssue(r.error)}` };
}

/** JSON with object keys sorted at every level: the same spec always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** `<kind>-<sha256 of the canonical spec>`: a resubmitted spec is the same BullMQ job. */
export function jobId(spec: JobSpec): string {
  return `${spec.kind}-${createHash('sha256').update(`latnas-job-${JOB_FORMAT}\n${canonicalJson(spec)}`).digest('hex')}`;
}

export function queueOf(spec: JobSpec): string {
  return spec.kind === 'profile' ? deviceQueue(spec.device) : COMPUTE_QUEUE;
}

/** What a worker sends back: the kind's result, who ran it and how long it took inside the worker. */
export interface JobEnvelope<R> { worker: string; seconds: number; result: R }

/** Files of a finished run folder, base64: small for the nets latnas trains (fbnet-mini's weights are ~0.3 MB). */
export type FileBundle = Record<string, string>;

export interface TrainJobResult {
  testAcc: number;
  /** The last epoch's validation accuracy (NaN as null: no validation split). */
  valAcc: number | null;
  resumedFrom: number;
  workers: number;
  backend: string;
  files: FileBundle;
}
export interface ScoreJobResult { valAcc: number[] }
export interface ProfileJobResult { table: string; entries: number; measured: number; profileSeconds: number }
export type ResultOf<S extends JobSpec> = S extends TrainJob ? TrainJobResult : S extends ScoreJob ? ScoreJobResult : ProfileJobResult;
