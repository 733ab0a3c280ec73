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
import { formatBlock, parseBlock } from '../space/blocks.js';
import { convOutSize, type Shape } from '../space/ir.js';
import { spaceUnits, type Unit } from '../space/network.js';
import { chainExtreme, costChain, unitChain } from '../space/chain.js';
import { searchableLayers, SPACE_LIMITS, type Space } from '../space/spaces.js';
import { firstIssue, readJsonFile } from '../util/validate.js';

/** 2: sentinel-gated timing (`timing`) replaced the two reference networks (`reference`). */
export const LUT_SCHEMA_VERSION = 2;

/** A latency: finite (zod 4's number() refuses Infinity, which JSON.parse makes of 1e999) and >= 0. */
const ms = z.number().nonnegative();

const SummarySchema = z.object({
  median: ms,
  p10: ms,
  p25: ms,
  p90: ms,
  samples: z.number().int().positive(),
});
/** Quantiles of one set of samples are ordered. */
const inOrder = (q: { p10: number; p25: number; median: number; p90: number }) => q.p10 <= q.p25 && q.p25 <= q.median && q.median <= q.p90;
const outOfOrder = { path: ['p25'], message: 'quantiles out of order (need p10 <= p25 <= median <= p90)' };
const size = z.number().int().min(1).max(SPACE_LIMITS.inputSize);
const ShapeTuple = z.tuple([z.number().int().min(1).max(SPACE_LIMITS.channels), size, size]);

const EntrySchema = z.object({
  ...SummarySchema.shape,
  op: z.string().min(1),
  kind: z.enum(['stem', 'block', 'head']),
  input: ShapeTuple,
  output: ShapeTuple,
  /** Milliseconds subtracted: the per-model overhead the calibration attributes to this unit. */
  calibrationMs: z.number(),
  /** The unit's latency inside a whole network: estimator minus calibration, at least 0. */
  latencyMs: ms,
}).refine(inOrder, outOfOrder).superRefine((e, ctx) => {
  const prefix = e.kind === 'block' ? '' : `${e.kind}_`;
  if (prefix && !e.op.startsWith(prefix)) ctx.addIssue({ code: 'custom', path: ['kind'], message: `is '${e.kind}' but op '${e.op}' is not a ${e.kind} (a ${e.kind} op starts with '${prefix}')` });
  if (e.kind !== 'block') return;
  // A block entry's op is a block string: the entry's output must be what that block makes of its input.
  let block;
  try {
    block = parseBlock(e.op);
  } catch (err) {
    ctx.addIssue({ code: 'custom', path: ['op'], message: (err as Error).message });
    return;
  }
  if (formatBlock(block) !== e.op) ctx.addIssue({ code: 'custom', path: ['op'], message: `not in canonical form (${formatBlock(block)})` });
  const want = [block.c, convOutSize(e.input[1], block.s), convOutSize(e.input[2], block.s)];
  if (want.join('x') !== e.output.join('x')) {
    ctx.addIssue({ code: 'custom', path: ['output'], message: `is ${e.output.join('x')}, but block ${e.op} at input ${e.input.join('x')} outputs ${want.join('x')}` });
  }
});

const FitNetSchema = z.object({
  ...SummarySchema.shape,
  /** Candidate index per searchable layer. */
  arch: z.array(z.number().int().nonnegative()),
}).refine(inOrder, outOfOrder);

export const LutSchema = z.object({
  format: z.literal('latnas-lut'),
  schemaVersion: z.number().int(),
  device: z.string(),
  space: z.string(),
  spaceFingerprint: z.string(),
  complete: z.boolean(),
  // Tolerant of fields it does not know (browser tables add `browser` and `host`; later tables may add more).
  provenance: z.looseObject({
    runtime: z.string(),
    runtimeVersion: z.string(),
    executionProvider: z.string(),
    threads: z.number().int().min(1),
    graphOptimizationLevel: z.string(),
    cpu: z.string(),
    /** 0 where a browser does not say (hardwareConcurrency). */
    cpuCount: z.number().int().nonnegative(),
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
    /**
     * Added once per network (the intercept of the fit). It may be negative (the shipped tables'
     * are about -0.03 ms), but no network may be predicted below 0: see checkAgainstSpace.
     */
    overheadMs: z.number(),
    /** Global scale a of `measured ~ a * sum(standalone) + b`: the fit's prior. */
    scale: z.number().positive(),
    lambda: z.number().nonnegative(),
    /** Cross-validated mean absolute error of the fit on its own networks, percent. */
    cvMapePct: z.number().nonnegative(),
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
    /** The heaviest reference net's normalised time in the first fit chunk: network times are mapped to it too (profile.ts pinnedMap). */
    heavyAnchorMs: z.number().positive().finite().optional(),
    chunks: z.array(z.object({
      kind: z.enum(['units', 'networks']),
      visits: z.number().int().nonnegative(),
      accepted: z.number().int().nonnegative(),
      unsettled: z.number().int().nonnegative(),
      sentinelQuietMs: z.number().nonnegative(),
      heavyMs: z.number().positive().finite().optional(),
    })),
  }),
  entries: z.record(z.string(), EntrySchema),
}).superRefine((lut, ctx) => {
  // A key names its entry: `op|CxHxW` of the entry's own op and input.
  for (const [key, e] of Object.entries(lut.entries)) {
    const want = `${e.op}|${e.input.join('x')}`;
    if (key !== want) ctx.addIssue({ code: 'custom', path: ['entries', key], message: `the key does not match the entry's op and input (expected '${want}')` });
  }
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
  const data = readJsonFile(path, 'LUT') as { schemaVersion?: unknown; format?: unknown; device?: unknown; space?: unknown } | null;
  // The command that re-creates it: the device and space asked for, else the ones the file names.
  const named = (v: unknown) => (typeof v === 'string' && /^[a-z0-9][a-z0-9-]*$/.test(v) ? v : undefined);
  const device = opts.device ?? named(data?.device) ?? '<device>';
  const remake = `re-create it with \`latnas profile --device ${device} --space ${opts.space?.name ?? named(data?.space) ?? '<space>'} --out ${path} --force\``;
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
  if (opts.space) checkAgainstSpace(lut, opts.space, path, remake);
  if (!lut.complete && !opts.allowIncomplete) {
    fail(`LUT file '${path}' is incomplete (${Object.keys(lut.entries).length} entries; profiling was interrupted); finish it with \`${profileCommand(lut.device, lut.space, path)}\``);
  }
  return lut;
}

/**
 * What only the space can tell: entries for its units describe those units, fit networks are
 * paths of the space, and the fastest network it can make is predicted above 0 ms (a negative
 * overhead larger than that would predict negative latencies).
 */
function checkAgainstSpace(lut: Lut, space: Space, path: string, remake: string): void {
  const bad = (field: string, why: string): never => fail(`LUT file '${path}' is corrupt: field '${field}' ${why}; ${remake}`);
  for (const u of spaceUnits(space)) {
    const e = lut.entries[u.key];
    if (!e) continue;
    if (e.kind !== u.kind) bad(`entries.${u.key}.kind`, `is '${e.kind}', but that unit of space '${space.name}' is a ${u.kind}`);
    if (e.output.join('x') !== shapeTuple(u.output).join('x')) bad(`entries.${u.key}.output`, `is ${e.output.join('x')}, but the unit outputs ${shapeTuple(u.output).join('x')}`);
  }
  const layers = searchableLayers(space);
  lut.calibration.nets.forEach((n, i) => {
    if (n.arch.length !== layers.length) bad(`calibration.nets.${i}.arch`, `has ${n.arch.length} layers, but space '${space.name}' has ${layers.length}`);
    const l = n.arch.findIndex((c, layer) => c >= layers[layer]!.candidates.length);
    if (l >= 0) bad(`calibration.nets.${i}.arch.${l}`, `is candidate ${n.arch[l]}, but layer ${l} has ${layers[l]!.candidates.length}`);
  });
  // The fastest network (identity skips cost 0), exact with widths: a cheap block may hand the next layer a wide input.
  const entry = (u: Unit) => (u.identity ? 0 : lut.entries[u.key]?.latencyMs ?? Number.NaN);
  const chain = costChain(unitChain(space, layers), entry, lut.calibration.overheadMs);
  // Incomplete (a NaN somewhere): predict names the missing entry.
  if ([chain.fixed, ...chain.cost.flat(2)].some((v) => Number.isNaN(v))) return;
  const fastestMs = chainExtreme(chain, 'min')!.cost;
  if (!(fastestMs > 0)) {
    bad('calibration.overheadMs', `is ${lut.calibration.overheadMs} ms, so the fastest network of space '${space.name}' would be predicted at ${fastestMs.toFixed(4)} ms (a latency is > 0)`);
  }
}

export function shapeTuple(s: Shape): [number, number, number] {
  return [s.c, s.h, s.w];
}

export interface Prediction {
  totalMs: number;
  overheadMs: number;
  units: { key: string; kind: Unit['kind']; latencyMs: number }[];
}

/** Predicted latency of a network: the sum of its units' entries plus the per-network overhead (never <= 0 for a whole network). */
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
  const totalMs = rows.reduce((s, r) => s + r.latencyMs, 0) + overheadMs;
  // A whole network (stem to head) takes time; a single unit's row (search/latency.ts) may sum below 0 with the overhead.
  const network = units.some((u) => u.kind === 'stem') && units.some((u) => u.kind === 'head');
  if (network && !(totalMs > 0)) {
    fail(`LUT file '${lutPath}' predicts ${totalMs.toFixed(4)} ms for this network (field 'calibration.overheadMs' is ${overheadMs} ms); ` +
      `the table is corrupt: profile it again with \`latnas profile --device ${lut.device} --space ${lut.space} --out ${lutPath} --force\``);
  }
  return { totalMs, overheadMs, units: rows };
}
