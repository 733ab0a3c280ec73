/**
 * The study's summary, a pure function of its results file's records: per target the searched
 * archs, the random in-band archs and the hand-designed family with their retrained accuracy
 * (mean, sample std and count over seeds), the supernet's rank agreement with retraining
 * (Kendall τ-b and Spearman between inherited-weight validation accuracy and mean retrained
 * test accuracy over every retrained arch), and one Pareto plot of every retrained arch.
 */
import type * as vl from 'vega-lite';
import { renderSvg } from '../../src/search/plots.js';
import { kendall, spearman } from '../../src/util/stats.js';
import { archKey, METHODS, targetKey, type FamilyRecord, type Recipe, type SampleRecord, type SearchRecord, type StudyLine, type StudyRecord, type TrainRecord } from './records.js';

/** Accuracies are fractions (as metrics.json's testAcc); `std` is the sample standard deviation (null under 2). */
export interface MethodStat { blocks: string[] | null; predictedMs: number | null; mean: number | null; std: number | null; n: number }
/** Per target: its latency and one entry per method, family member by its name (`mbv2`, `k3_e6`, …). */
export type TargetSummary = { targetMs: number } & { [method: string]: MethodStat | number };

export interface Summary {
  targets: Record<string, TargetSummary>;
  kendallTau: number | null;
  spearman: number | null;
  archsRetrained: number;
  recipe: Recipe & { hash: string; results: string; seeds: number[]; baselineMs: number };
  computeHours: number;
}

export interface Headline {
  bench: 'search-quality';
  kendallTau: number | null;
  spearman: number | null;
  /** Archs with both a supernet score and a retrained accuracy (what τ is over). */
  tauArchs: number;
  archsRetrained: number;
  trainings: number;
  computeHours: number;
  cpu: string | null;
  targets: Record<string, {
    targetMs: number; best: { method: string; mean: number; n: number } | null;
    randomSampled: { mean: number; se: number | null; n: number } | null; marginPt: number | null; beatsRandomBy2Se: boolean | null;
    mbv2: number | null;
  }>;
}

const r5 = (x: number) => Math.round(x * 1e5) / 1e5;
const r6 = (x: number) => Math.round(x * 1e6) / 1e6;
const finiteOrNull = (x: number) => (Number.isFinite(x) ? r5(x) : null);

/** Mean and sample standard deviation (null below 1 and 2 samples), rounded to 1e-5. */
export function meanStd(xs: readonly number[]): { mean: number | null; std: number | null } {
  if (xs.length === 0) return { mean: null, std: null };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean: r5(mean), std: null };
  const v = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean: r5(mean), std: r5(Math.sqrt(v)) };
}

/** The records split by kind; where a key repeats (it should not), the first record counts, as the study's skip does. */
function byKind(records: readonly StudyLine[]) {
  const seen = new Set<string>();
  const first = records.filter((r) => (seen.has(r.key) ? false : (seen.add(r.key), true)));
  const study = first.find((r): r is StudyRecord => r.kind === 'study');
  const family = first.filter((r): r is FamilyRecord => r.kind === 'family');
  const samples = first.filter((r): r is SampleRecord => r.kind === 'sample');
  const searches = first.filter((r): r is SearchRecord => r.kind === 'search');
  const trains = first.filter((r): r is TrainRecord => r.kind === 'train');
  const scores = new Map(first.flatMap((r) => (r.kind === 'score' ? [[archKey(r.blocks), r.valAcc] as const] : [])));
  const accs = new Map<string, number[]>();
  for (const t of trains) accs.set(archKey(t.blocks), [...(accs.get(archKey(t.blocks)) ?? []), t.testAcc]);
  const seconds = first.reduce((s, r) => s + ('seconds' in r ? r.seconds : 0), 0);
  return { study, family, samples, searches, trains, scores, accs, seconds };
}

function archStat(blocks: string[], predictedMs: number, accs: Map<string, number[]>): MethodStat {
  const xs = accs.get(archKey(blocks)) ?? [];
  return { blocks, predictedMs: r6(predictedMs), ...meanStd(xs), n: xs.length };
}

/** The targets the records hold (searched or sampled), by factor. */
function targetsOf(searches: readonly SearchRecord[], samples: readonly SampleRecord[]): Map<string, { target: number; targetMs: number }> {
  const out = new Map<string, { target: number; targetMs: number }>();
  for (const r of [...searches, ...samples]) if (!out.has(targetKey(r.target))) out.set(targetKey(r.target), { target: r.target, targetMs: r.targetMs });
  return new Map([...out].sort((a, b) => a[1].target - b[1].target));
}

export function summarize(records: readonly StudyLine[], resultsName: string): Summary {
  const k = byKind(records);
  if (!k.study) throw new Error('summarize: no study record');
  const targets: Record<string, TargetSummary> = {};
  for (const [key, t] of targetsOf(k.searches, k.samples)) {
    const row: TargetSummary = { targetMs: r6(t.targetMs) };
    for (const m of METHODS) {
      const s = k.searches.find((r) => r.method === m && targetKey(r.target) === key);
      row[m] = s ? archStat(s.blocks, s.predictedMs, k.accs) : { blocks: null, predictedMs: null, mean: null, std: null, n: 0 };
    }
    // The random in-band archs as one method: the mean and std across archs of each arch's mean over its seeds.
    const drawn = k.samples.filter((r) => targetKey(r.target) === key).sort((a, b) => a.k - b.k);
    const means = drawn.flatMap((d) => { const s = archStat(d.blocks, d.predictedMs, k.accs); return s.mean === null ? [] : [s.mean]; });
    row['random-sampled'] = {
      blocks: drawn.map((d) => archKey(d.blocks)), predictedMs: drawn.length > 0 ? r6(drawn.reduce((s, d) => s + d.predictedMs, 0) / drawn.length) : null,
      ...meanStd(means), n: means.length,
    };
    for (const f of k.family) row[f.name] = archStat(f.blocks, f.predictedMs, k.accs);
    targets[key] = row;
  }
  const tauArchs = [...k.accs.keys()].filter((a) => k.scores.has(a));
  const x = tauArchs.map((a) => k.scores.get(a)!), y = tauArchs.map((a) => meanStd(k.accs.get(a)!).mean!);
  return {
    targets,
    kendallTau: tauArchs.length >= 2 ? finiteOrNull(kendall(x, y)) : null,
    spearman: tauArchs.length >= 2 ? finiteOrNull(spearman(x, y)) : null,
    archsRetrained: k.accs.size,
    recipe: { ...k.study.recipe, hash: k.study.hash, results: resultsName, seeds: [...new Set(k.trains.map((t) => t.seed))].sort((a, b) => a - b), baselineMs: k.study.baselineMs },
    computeHours: Math.round((k.seconds / 3600) * 1000) / 1000,
  };
}

const stat = (v: MethodStat | number | undefined): MethodStat | undefined => (typeof v === 'object' ? v : undefined);

/** The line the study ends with: τ, and per target the best searched arch against the random in-band archs. */
export function headline(records: readonly StudyLine[], s: Summary): Headline {
  const k = byKind(records);
  const targets: Headline['targets'] = {};
  for (const [key, row] of Object.entries(s.targets)) {
    const searched = METHODS.flatMap((m) => { const v = stat(row[m]); return v && v.mean !== null ? [{ method: m, mean: v.mean, n: v.n }] : []; });
    const best = searched.reduce<typeof searched[number] | null>((b, c) => (b === null || c.mean > b.mean ? c : b), null);
    const rs = stat(row['random-sampled']);
    const randomSampled = rs && rs.mean !== null ? { mean: rs.mean, se: rs.std === null ? null : r5(rs.std / Math.sqrt(rs.n)), n: rs.n } : null;
    const margin = best && randomSampled ? best.mean - randomSampled.mean : null;
    targets[key] = {
      targetMs: row.targetMs, best, randomSampled, marginPt: margin === null ? null : Math.round(margin * 1e4) / 100,
      beatsRandomBy2Se: margin === null || randomSampled?.se == null ? null : margin > 2 * randomSampled.se,
      mbv2: stat(row['mbv2'])?.mean ?? null,
    };
  }
  const last = [...k.trains].reverse()[0];
  return {
    bench: 'search-quality', kendallTau: s.kendallTau, spearman: s.spearman, tauArchs: [...k.accs.keys()].filter((a) => k.scores.has(a)).length,
    archsRetrained: s.archsRetrained, trainings: k.trains.length, computeHours: s.computeHours, cpu: last ? `${last.cpu} (${last.cpuId})` : null, targets,
  };
}

interface PlotRow { arch: string; role: string; roles: string; latencyMs: number; accPct: number; lowPct: number; highPct: number; n: number }

/** Every retrained arch at its LUT latency and mean test accuracy; the family joined into its curve; the targets dashed. */
export function paretoStudySpec(records: readonly StudyLine[], s: Summary): vl.TopLevelSpec {
  const k = byKind(records);
  const roles = new Map<string, string[]>();
  const add = (b: readonly string[], role: string) => roles.set(archKey(b), [...(roles.get(archKey(b)) ?? []), role]);
  for (const r of k.searches) add(r.blocks, `${r.method}@${targetKey(r.target)}`);
  for (const r of k.samples) add(r.blocks, `random-sampled@${targetKey(r.target)}`);
  for (const r of k.family) add(r.blocks, r.name);
  const ms = new Map(k.trains.map((t) => [archKey(t.blocks), t.predictedMs]));
  const rows: PlotRow[] = [...k.accs].map(([arch, xs]) => {
    const rs = roles.get(arch) ?? ['?'];
    // Colour by what found it: a search first, then the random draws, then the family.
    const role = METHODS.find((m) => rs.some((r) => r.startsWith(`${m}@`))) ?? (rs.some((r) => r.startsWith('random-sampled')) ? 'random-sampled' : 'family');
    const { mean, std } = meanStd(xs);
    return { arch, role, roles: rs.join(' '), latencyMs: ms.get(arch)!, accPct: 100 * mean!, lowPct: 100 * (mean! - (std ?? 0)), highPct: 100 * (mean! + (std ?? 0)), n: xs.length };
  });
  const family = k.family.map((f) => ({ name: f.name, latencyMs: f.predictedMs, accPct: meanStd(k.accs.get(archKey(f.blocks)) ?? []).mean }))
    .filter((f): f is { name: string; latencyMs: number; accPct: number } => f.accPct !== null).map((f) => ({ ...f, accPct: 100 * f.accPct }))
    .sort((a, b) => a.latencyMs - b.latencyMs);
  const x = { field: 'latencyMs', type: 'quantitative' as const, title: 'predicted latency, LUT (ms)', scale: { zero: false } };
  const y = { field: 'accPct', type: 'quantitative' as const, title: 'test accuracy, retrained (mean over seeds, %)', scale: { zero: false } };
  const domain = [...METHODS, 'random-sampled', 'family'];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `search quality: ${s.recipe.space} on ${s.recipe.dataset}, ${s.archsRetrained} retrained archs (Kendall τ ${s.kendallTau ?? '–'})`,
    width: 560,
    height: 340,
    layer: [
      {
        data: { values: Object.values(s.targets).map((t) => ({ targetMs: t.targetMs })) },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#999' }, encoding: { x: { field: 'targetMs', type: 'quantitative' } },
      },
      { data: { values: family }, mark: { type: 'line', color: '#7f7f7f', strokeWidth: 1.5 }, encoding: { x, y } },
      { data: { values: family }, mark: { type: 'text', dy: -9, fontSize: 9, color: '#555' }, encoding: { x, y, text: { field: 'name' } } },
      // ± one standard deviation over seeds, where there are two or more.
      { data: { values: rows.filter((r) => r.n > 1) }, mark: { type: 'rule', color: '#bbb' }, encoding: { x, y: { field: 'lowPct', type: 'quantitative' }, y2: { field: 'highPct' } } },
      {
        data: { values: rows },
        mark: { type: 'point', filled: true, size: 70, opacity: 0.85 },
        encoding: {
          x, y, color: { field: 'role', type: 'nominal', scale: { domain, range: ['#d62728', '#1f77b4', '#ff7f0e', '#bcbd22', '#7f7f7f'] }, title: null },
          shape: { field: 'role', type: 'nominal', scale: { domain, range: ['diamond', 'diamond', 'diamond', 'circle', 'square'] }, title: null },
          tooltip: [{ field: 'roles' }, { field: 'n', title: 'seeds' }, { field: 'arch' }],
        },
      },
    ],
  };
}

export async function paretoStudySvg(records: readonly StudyLine[], s: Summary): Promise<string> {
  return renderSvg(paretoStudySpec(records, s));
}
