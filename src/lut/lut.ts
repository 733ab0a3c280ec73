/**
 * Latency lookup tables: one JSON file per (device, space), keyed by unit (op + input shape).
 * Entries keep their raw statistics and the calibration subtracted from them, so a table can be
 * audited and re-derived; `latencyMs` is what prediction sums.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fail } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { Shape } from '../space/ir.js';
import type { Unit } from '../space/network.js';
import type { Space } from '../space/spaces.js';
import { firstIssue, readJsonFile } from '../util/validate.js';

/** 2: sentinel-gated timing (`timing`) replaced the two reference networks (`reference`). */
export const LUT_SCHEMA_VERSION = 2;

const SummarySchema = z.object({
  median: z.number().nonnegative(),
  p10: z.number().nonnegative(),
  p25: z.number().nonnegative(),
  p90: z.number().nonnegative(),
  samples: z.number().int().positive(),
});
const ShapeTuple = z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]);

const EntrySchema = SummarySchema.extend({
  op: z.string(),
  kind: z.enum(['stem', 'block', 'head']),
  input: ShapeTuple,
  output: ShapeTuple,
  /** Milliseconds subtracted: the per-model overhead the calibration attributes to this unit. */
  calibrationMs: z.number(),
  /** The unit's latency inside a whole network: estimator minus calibration, at least 0. */
  latencyMs: z.number().nonnegative(),
});

const FitNetSchema = SummarySchema.extend({
  /** Candidate index per searchable layer. */
  arch: z.array(z.number().int().nonnegative()),
});

export const LutSchema = z.object({
  format: z.literal('latnas-lut'),
  schemaVersion: z.number().int(),
  device: z.string(),
  space: z.string(),
  spaceFingerprint: z.string(),
  complete: z.boolean(),
  provenance: z.object({
    runtime: z.string(),
    runtimeVersion: z.string(),
    executionProvider: z.string(),
    threads: z.number().int(),
    graphOptimizationLevel: z.string(),
    cpu: z.string(),
    cpuCount: z.number().int(),
    /** Vendor, family, model and stepping (src/device/host.ts); absent in tables made before it was recorded. */
    cpuId: z.string().optional(),
    arch: z.string().optional(),
    os: z.string(),
    node: z.string(),
    latnasVersion: z.string(),
    created: z.string(),
    updated: z.string(),
    profileSeconds: z.number().nonnegative(),
  }),
  estimator: z.enum(['p10', 'p25', 'median']),
  calibration: z.object({
    method: z.literal('fit'),
    description: z.string(),
    /** Added once per network (the intercept of the fit). */
    overheadMs: z.number(),
    /** Global scale a of `measured ~ a * sum(standalone) + b`: the fit's prior. */
    scale: z.number(),
    lambda: z.number(),
    /** Cross-validated mean absolute error of the fit on its own networks, percent. */
    cvMapePct: z.number(),
    /** The fit set: random whole networks measured on the device, and their statistics. */
    nets: z.array(FitNetSchema),
  }),
  /**
   * How the table was timed (src/profiler/timing.ts): every visit judged by the sentinel net;
   * network times (the fit set) normalised to the sentinel state `anchorMs`, which lut-check and
   * export normalise to as well. `chunks` records each chunk's gate statistics.
   */
  timing: z.object({
    method: z.literal('sentinel-gated'),
    description: z.string(),
    gateTolerance: z.number().min(0).max(1),
    anchorMs: z.number().positive().finite().optional(),
    chunks: z.array(z.object({
      kind: z.enum(['units', 'networks']),
      visits: z.number().int().nonnegative(),
      accepted: z.number().int().nonnegative(),
      unsettled: z.number().int().nonnegative(),
      sentinelQuietMs: z.number().nonnegative(),
    })),
  }),
  entries: z.record(z.string(), EntrySchema),
});

export type Lut = z.infer<typeof LutSchema>;
export type LutEntry = z.infer<typeof EntrySchema>;

/** Stable fingerprint of a space definition: a table profiled for another definition is refused. */
export function spaceFingerprint(space: Space): string {
  const stable = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(stable)
      : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, stable(x)]))
        : v;
  return createHash('sha256').update(JSON.stringify(stable(space))).digest('hex').slice(0, 16);
}

export function profileCommand(device: string, space: string, out?: string): string {
  return `latnas profile --device ${device} --space ${space}${out ? ` --out ${out}` : ''} --resume`;
}

/** Where a device+space table is by default: ./latency-tables, else the tables shipped in the package. */
export function defaultLutPath(device: string, space: string): string {
  const local = join('latency-tables', device, `${space}.json`);
  if (existsSync(local)) return local;
  const shipped = join(PACKAGE_ROOT, 'latency-tables', device, `${space}.json`);
  return existsSync(shipped) ? shipped : local;
}

export interface LoadLutOptions {
  device?: string;
  space?: Space;
  /** Accept a table still being profiled (resume). */
  allowIncomplete?: boolean;
}

export function loadLut(path: string, opts: LoadLutOptions = {}): Lut {
  if (!existsSync(path)) {
    const how = opts.device && opts.space ? `; make it with \`${profileCommand(opts.device, opts.space.name, path)}\`` : '';
    fail(`LUT file '${path}' does not exist${how}`);
  }
  const data = readJsonFile(path, 'LUT') as { schemaVersion?: unknown; format?: unknown };
  const remake = `re-create it with \`latnas profile --device ${opts.device ?? '<device>'} --space ${opts.space?.name ?? '<space>'} --out ${path}\``;
  if (data && typeof data === 'object' && data.format === 'latnas-lut' && data.schemaVersion !== LUT_SCHEMA_VERSION) {
    fail(`LUT file '${path}': field 'schemaVersion' is ${JSON.stringify(data.schemaVersion)} but this latnas reads ${LUT_SCHEMA_VERSION}; ${remake}`);
  }
  const parsed = LutSchema.safeParse(data);
  if (!parsed.success) fail(`LUT file '${path}' is corrupt: ${firstIssue(parsed.error)}; ${remake}`);
  const lut = parsed.data;
  if (opts.device && lut.device !== opts.device) {
    fail(`LUT file '${path}' was made for device '${lut.device}', not '${opts.device}'; use that device's table or \`${profileCommand(opts.device, lut.space)}\``);
  }
  if (opts.space) {
    if (lut.space !== opts.space.name) {
      fail(`LUT file '${path}' is for space '${lut.space}', not '${opts.space.name}'; use --space ${lut.space} or a table of space '${opts.space.name}'`);
    }
    if (lut.spaceFingerprint !== spaceFingerprint(opts.space)) {
      fail(`LUT file '${path}' was profiled for another definition of space '${lut.space}' (fingerprint ${lut.spaceFingerprint}, now ${spaceFingerprint(opts.space)}); ${remake}`);
    }
  }
  if (!lut.complete && !opts.allowIncomplete) {
    fail(`LUT file '${path}' is incomplete (${Object.keys(lut.entries).length} entries; profiling was interrupted); finish it with \`${profileCommand(lut.device, lut.space, path)}\``);
  }
  return lut;
}

export function shapeTuple(s: Shape): [number, number, number] {
  return [s.c, s.h, s.w];
}

export interface Prediction {
  totalMs: number;
  overheadMs: number;
  units: { key: string; kind: Unit['kind']; latencyMs: number }[];
}

/** Predicted latency of a network: the sum of its units' entries plus the per-network overhead. */
export function predict(lut: Lut, units: readonly Unit[], lutPath = 'the LUT'): Prediction {
  const rows = units.map((u) => {
    if (u.identity) return { key: u.key, kind: u.kind, latencyMs: 0 };
    const e = lut.entries[u.key];
    if (!e) {
      fail(`LUT file '${lutPath}' has no entry '${u.key}'; profile it with \`${profileCommand(lut.device, lut.space, lutPath)}\``);
    }
    return { key: u.key, kind: u.kind, latencyMs: e.latencyMs };
  });
  const overheadMs = lut.calibration.overheadMs;
  return { totalMs: rows.reduce((s, r) => s + r.latencyMs, 0) + overheadMs, overheadMs, units: rows };
}
