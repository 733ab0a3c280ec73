/**
 * The browser agent's wire protocol: what the page and the agent server say to each other.
 *
 * The page says hello once (its user agent and hardware hints), then loops on POST `next`: each
 * request carries the result of the job it just ran, and the answer is the next job (or 204 when
 * none came within the long-poll window). Jobs load a model into a session, time a batch of runs
 * inside the page (performance.now() around each run, so HTTP never enters a sample), fetch an
 * output, or release a session. Every body the server reads is size-bounded and parsed here.
 */
import { z } from 'zod';

/** Largest hello body (bytes). */
export const MAX_HELLO_BYTES = 16 * 1024;
/** Largest `next` body: a result with one output tensor as base64 float32 (a 224x224 block's output fits). */
export const MAX_NEXT_BYTES = 16 * 1024 * 1024;
/** Most samples one time job may ask for or return. */
export const MAX_RUNS = 10_000;

const text = (max: number) => z.string().max(max);

export const HelloSchema = z.object({
  userAgent: text(1000),
  platform: text(200).optional(),
  hardwareConcurrency: z.number().int().min(0).max(4096).optional(),
  /** navigator.deviceMemory (GB, rounded by the browser; secure contexts in Chromium only). */
  deviceMemory: z.number().nonnegative().max(1e6).optional(),
  /** navigator.userAgentData high-entropy hints where the browser gives them. */
  uaData: z.object({
    platform: text(200).optional(),
    platformVersion: text(200).optional(),
    model: text(200).optional(),
    architecture: text(100).optional(),
    bitness: text(20).optional(),
    mobile: z.boolean().optional(),
  }).strict().optional(),
  ortVersion: text(50),
  executionProvider: z.enum(['wasm', 'webgpu']),
  /** A WebGPU adapter was found (navigator.gpu.requestAdapter). */
  webgpu: z.boolean(),
  webgpuAdapter: text(500).optional(),
  crossOriginIsolated: z.boolean(),
  /** ort.env.wasm.numThreads after ORT initialised (1 unless the page is cross-origin isolated). */
  wasmThreads: z.number().int().min(0).max(1024),
  /** Smallest step of performance.now() the page observed (ms). */
  clockResolutionMs: z.number().nonnegative().max(1000),
}).strict();

export type Hello = z.infer<typeof HelloSchema>;

const base = { job: z.number().int().nonnegative() };

export const ResultSchema = z.discriminatedUnion('kind', [
  z.object({ ...base, kind: z.literal('load'), ok: z.literal(true) }).strict(),
  z.object({
    ...base, kind: z.literal('time'), ok: z.literal(true),
    samples: z.array(z.number().nonnegative().max(1e7)).min(1).max(MAX_RUNS),
    /** Runs per sample (a coarse clock times several runs and divides). */
    repeat: z.number().int().min(1).max(1000),
  }).strict(),
  z.object({ ...base, kind: z.literal('output'), ok: z.literal(true), output: z.string().max(MAX_NEXT_BYTES).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64') }).strict(),
  z.object({ ...base, kind: z.literal('release'), ok: z.literal(true) }).strict(),
  z.object({ ...base, kind: z.literal('error'), ok: z.literal(false), error: text(4000) }).strict(),
]);

export type Result = z.infer<typeof ResultSchema>;

export const NextSchema = z.object({
  page: z.string().regex(/^[0-9a-f]{16}$/, '16 hex digits (the id hello returned)'),
  result: ResultSchema.optional(),
}).strict();

export type Next = z.infer<typeof NextSchema>;

/** Jobs the server hands the page. */
export type Job =
  | { id: number; kind: 'load'; session: number; model: string; input: [number, number, number] }
  | { id: number; kind: 'time'; session: number; runs: number }
  | { id: number; kind: 'output'; session: number }
  | { id: number; kind: 'release'; session: number }
  | { id: number; kind: 'done' };

/** A job without its id: what the runtime submits. */
export type JobRequest = Job extends infer J ? (J extends { id: number } ? Omit<J, 'id'> : never) : never;

/** What the page is told to use, embedded in its HTML. */
export interface PageConfig {
  executionProvider: 'wasm' | 'webgpu';
  threads: number;
  graphOptimizationLevel: string;
}
