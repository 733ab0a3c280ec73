/**
 * bench:drift-shape — how the machine's speed changes across a space's nets, and how much of that
 * the profiler's correction (sentinel normalisation, then the heavy net's `pinnedMap`) removes.
 *
 *   npm run bench:drift-shape -- [--space fbnet-mini] [--device ort-cpu-1t] [--nets 20] [--minutes 8] [--window 5]
 *                                [--uniform] [--dump FILE]
 *
 * `--uniform` also times the space's uniform archs (family.ts: every layer the same block), unscored, so a
 * speed change can be split by block type; `--dump FILE` writes the archs and every window's
 * per-net medians as JSON for such analyses.
 *
 * Why: fbnet-mini tables checked with the machine a third faster than at the profile came out
 * 1.4-6.3 points above the check's noise floor with Spearman 0.98-0.99 (every net shifted alike),
 * while checks within 6% of the profile's speed were at the floor (bench/README.md). This times
 * the space's lightest net (the sentinel), its heaviest (the heavy reference) and `--nets` random
 * nets in shuffled rounds for `--minutes`, cuts the rounds into `--window`-second windows (median
 * per net), takes the first window as "the profile", and for every later window predicts each net
 * from the profile's time four ways: raw, normalised by the sentinel, normalised then mapped by
 * the heavy net (as the profiler does), the same line without its slope clamp, and a
 * piecewise-linear map through a third reference (the random net of median time, then not scored). Windows are grouped by the sentinel's drift; per group it reports the mean
 * absolute and signed error of each way. Ends with one JSON line.
 */
import { parseArgs } from 'node:util';
import { loadDevice } from '../src/device/device.js';
import { hostProvenance } from '../src/device/host.js';
import { openRuntime, type TimedSession } from '../src/device/runtime.js';
import { networkJob, pinnedMap, referenceArchs } from '../src/profiler/measure.js';
import { warmUp } from '../src/profiler/timing.js';
import { uniformArchs as handUniform } from '../src/search/family.js';
import { loadSpace, searchableLayers } from '../src/space/spaces.js';
import { writeFileAtomic } from '../src/util/files.js';
import { Rng } from '../src/util/rng.js';
import { quantile } from '../src/util/stats.js';

const { values } = parseArgs({
  options: {
    space: { type: 'string', default: 'fbnet-mini' }, device: { type: 'string', default: 'ort-cpu-1t' },
    nets: { type: 'string', default: '20' }, minutes: { type: 'string', default: '8' }, window: { type: 'string', default: '5' },
    uniform: { type: 'boolean', default: false }, dump: { type: 'string' },
  },
});
const space = loadSpace(values.space!);
const device = loadDevice(values.device!);
const runtime = await openRuntime(device);
const rng = new Rng(99);
const layers = searchableLayers(space);
const [light, heavy] = referenceArchs(space);
const randomArchs = Array.from({ length: Number(values.nets) }, () => layers.map((l) => rng.int(l.candidates.length)));
// --uniform: the space's hand-designed uniform archs (family.ts; their LUT latency is not needed here), timed (and dumped) beside the rest.
const uniformArchs = values.uniform ? handUniform(space, { pathMs: () => Number.NaN }).map((m) => m.path) : [];
const archs = [light!, heavy!, ...uniformArchs, ...randomArchs];
const sessions: TimedSession[] = [];
for (const a of archs) {
  const job = networkJob(space, a);
  const s = await runtime.createSession(job.model(), job.input);
  await warmUp(s, device.warmup);
  sessions.push(s);
}

// One visit: an untimed run (the first after switching models is cold), then the median of 5.
const visit = async (s: TimedSession) => {
  await s.timeOnce();
  const runs: number[] = [];
  for (let k = 0; k < 5; k++) runs.push(await s.timeOnce());
  return quantile(runs, 0.5);
};
const windowMs = 1000 * Number(values.window);
const start = performance.now();
const end = start + 60_000 * Number(values.minutes);
const windows: number[][][] = [];
while (performance.now() < end) {
  const w = Math.floor((performance.now() - start) / windowMs);
  const row = (windows[w] ??= sessions.map(() => []));
  const order = [...sessions.keys()];
  rng.shuffle(order);
  for (const i of order) row[i]!.push(await visit(sessions[i]!));
}
for (const s of sessions) await s.release();

const med = windows.filter(Boolean).map((w) => w.map((x) => quantile(x, 0.5)));
if (values.dump) writeFileAtomic(values.dump, JSON.stringify({ space: space.name, archs, uniform: uniformArchs.length, windows: med }));
const base = med[0]!;
const anchor = base[0]!;
type Way = 'raw' | 'sentinel' | 'mapped' | 'unclamped' | 'threePoint';
const WAYS: readonly Way[] = ['raw', 'sentinel', 'mapped', 'unclamped', 'threePoint'];
// A third reference for `threePoint`: the random net whose profile time is the median's; not scored.
const first = 2 + uniformArchs.length;
const randomIdx = base.map((_, i) => i).slice(first);
const medianMs = quantile(randomIdx.map((i) => base[i]!), 0.5);
const mid = randomIdx.reduce((b, i) => (Math.abs(base[i]! - medianMs) < Math.abs(base[b]! - medianMs) ? i : b), first);
/** Piecewise-linear through (x_k -> y_k), extended by the end segments. */
const through = (xs: number[], ys: number[]) => (t: number) => {
  const k = t <= xs[1]! ? 0 : 1;
  return ys[k]! + ((t - xs[k]!) * (ys[k + 1]! - ys[k]!)) / (xs[k + 1]! - xs[k]!);
};
const slopes: number[] = [];
const perWay = () => Object.fromEntries(WAYS.map((w) => [w, [] as number[]])) as Record<Way, number[]>;
const groups = new Map<string, { windows: number; abs: Record<Way, number[]>; signed: Record<Way, number[]> }>();
const groupOf = (d: number) => (d < -0.2 ? '< -20%' : d < -0.05 ? '-20..-5%' : d <= 0.05 ? '±5%' : d <= 0.2 ? '+5..+20%' : '> +20%');
for (const now of med.slice(1)) {
  const drift = now[0]! / anchor - 1;
  const g = groupOf(drift);
  const rec = groups.get(g) ?? { windows: 0, abs: perWay(), signed: perWay() };
  rec.windows++;
  const scale = anchor / now[0]!;
  const map = pinnedMap(anchor, now[1]! * scale, base[1]!);
  // The same line without pinnedMap's [2/3, 3/2] clamp on its slope.
  const slope = (base[1]! - anchor) / (now[1]! * scale - anchor);
  slopes.push(slope);
  const three = through([anchor, now[mid]! * scale, now[1]! * scale], [anchor, base[mid]!, base[1]!]);
  for (let i = first; i < now.length; i++) {
    if (i === mid) continue;
    const pred: Record<Way, number> = { raw: now[i]!, sentinel: now[i]! * scale, mapped: map(now[i]! * scale), unclamped: anchor + (now[i]! * scale - anchor) * slope,
      threePoint: three(now[i]! * scale) };
    for (const way of WAYS) {
      const e = (100 * (pred[way] - base[i]!)) / base[i]!;
      rec.abs[way].push(Math.abs(e));
      rec.signed[way].push(e);
    }
  }
  groups.set(g, rec);
}
const mean = (x: number[]) => Math.round((100 * x.reduce((a, b) => a + b, 0)) / Math.max(1, x.length)) / 100;
const host = hostProvenance();
const out: Record<string, unknown> = {};
for (const [g, r] of groups) {
  const by = (x: Record<Way, number[]>) => Object.fromEntries(WAYS.map((w) => [w, mean(x[w])]));
  out[g] = { windows: r.windows, mape: by(r.abs), bias: by(r.signed) };
  console.log(`sentinel drift ${g}: ${r.windows} windows; MAPE ${WAYS.map((w) => `${w} ${mean(r.abs[w])}%`).join(', ')}; bias mapped ${mean(r.signed.mapped)}%, unclamped ${mean(r.signed.unclamped)}%`);
}
const lightMs = med.map((w) => w[0]!);
console.log(JSON.stringify({
  bench: 'drift-shape', space: space.name, device: device.name, cpu: host.cpu, cpuId: host.cpuId, nets: randomArchs.length, windows: med.length,
  sentinel_range_pct: Math.round(1000 * (Math.max(...lightMs) / Math.min(...lightMs) - 1)) / 10,
  slope_min: Math.round(1000 * Math.min(...slopes)) / 1000, slope_max: Math.round(1000 * Math.max(...slopes)) / 1000, groups: out,
}));
await runtime.close?.();
