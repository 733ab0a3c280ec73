/**
 * Fits a LUT's in-network unit latencies to whole-network measurements.
 *
 * Why: a unit timed alone pays what it would not pay inside a network (a run call, copying its
 * output out, layout reorders at its boundaries), and pays differently for what depends on its
 * neighbours (ORT runs channel counts that are multiples of the SIMD width in NCHWc and the rest
 * in NCHW, with reorders between them). No single calibration model captures both across spaces:
 * measured here, a 1x1-depthwise calibration took fbnet from 3.8% to 23% MAPE while fbnet-mini
 * needed a correction the other way. So the profiler also times a fit set of random whole
 * networks and solves, by ridge regression in relative error, for per-unit latencies x_u and a
 * per-network overhead b:
 *
 *   min  sum_n ((y_n - b - sum_{u in n} x_u) / y_n)^2  +  lambda * sum_u ((x_u - a*T_u) / s)^2
 *
 * where T_u is the unit's standalone time, a the global scale of `y ~ a*sum T + b` (the prior),
 * s the mean unit latency, and lambda chosen by k-fold cross-validation on the fit set. Units no
 * fit network contains keep their prior. `latnas lut-check` then scores the table on other random
 * networks (another seed), so the figures it reports are out of sample.
 */
import { networkUnits } from '../space/network.js';
import { pathBlocks } from '../space/path.js';
import { searchableLayers, type Space } from '../space/spaces.js';
import type { Lut } from './lut.js';

export interface FitNet {
  /** Indices of the (non-identity) units the network contains, with repetition. */
  units: number[];
  measuredMs: number;
}

export interface FitResult {
  latencyMs: Float64Array;
  overheadMs: number;
  scale: number;
  lambda: number;
  /** Mean absolute relative error of the chosen lambda in cross-validation, percent. */
  cvMapePct: number;
}

/** Solves the symmetric positive definite system M z = r in place (Cholesky). */
function solveSpd(m: Float64Array, r: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = m[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) l[i * n + i] = Math.sqrt(Math.max(s, 1e-300));
      else l[i * n + j] = s / l[j * n + j]!;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = r[i]!;
    for (let k = 0; k < i; k++) s -= l[i * n + k]! * y[k]!;
    y[i] = s / l[i * n + i]!;
  }
  const z = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * z[k]!;
    z[i] = s / l[i * n + i]!;
  }
  return z;
}

/** Least squares of y ~ a * sumT + b in relative error: the global prior. */
export function globalFit(nets: readonly FitNet[], standalone: Float64Array): { a: number; b: number } {
  let s11 = 0, s12 = 0, s22 = 0, r1 = 0, r2 = 0;
  for (const n of nets) {
    const t = n.units.reduce((s, u) => s + standalone[u]!, 0);
    const w = 1 / (n.measuredMs * n.measuredMs);
    s11 += w * t * t; s12 += w * t; s22 += w; r1 += w * t * n.measuredMs; r2 += w * n.measuredMs;
  }
  const det = s11 * s22 - s12 * s12;
  const a = (r1 * s22 - r2 * s12) / det;
  if (a > 0 && Number.isFinite(a)) return { a, b: (s11 * r2 - s12 * r1) / det };
  // A slope <= 0 says the fit nets' times did not grow with their units' (all alike in size, or
  // drowned in noise): seen on 2026-12-02, AMD EPYC (family 25 model 1), a test's tiny space
  // profiled beside a 2-worker training. A prior must scale units up, not flip them: then the
  // fit through the origin, y ~ a * sumT, whose slope is positive for positive times.
  return { a: r1 / s11, b: 0 };
}

function ridge(nets: readonly FitNet[], prior: Float64Array, priorB: number, lambda: number, s: number): Float64Array {
  const k = prior.length + 1; // unknowns: x_0..x_{K-1}, b
  const m = new Float64Array(k * k);
  const r = new Float64Array(k);
  const counts = new Float64Array(k);
  for (const n of nets) {
    const w = 1 / (n.measuredMs * n.measuredMs);
    counts.fill(0);
    for (const u of n.units) counts[u]! += 1;
    counts[k - 1] = 1;
    const idx: number[] = [];
    for (let i = 0; i < k; i++) if (counts[i] !== 0) idx.push(i);
    for (const i of idx) {
      r[i]! += w * counts[i]! * n.measuredMs;
      for (const j of idx) m[i * k + j]! += w * counts[i]! * counts[j]!;
    }
  }
  const reg = lambda / (s * s);
  for (let i = 0; i < k - 1; i++) {
    m[i * k + i]! += reg;
    r[i]! += reg * prior[i]!;
  }
  m[(k - 1) * k + (k - 1)]! += reg;
  r[k - 1]! += reg * priorB;
  return solveSpd(m, r, k);
}

function predictNet(z: Float64Array, n: FitNet): number {
  return n.units.reduce((s, u) => s + z[u]!, z[z.length - 1]!);
}

const LAMBDAS = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100];

export function fitLatencies(nets: readonly FitNet[], standalone: Float64Array, folds = 5): FitResult {
  if (nets.length < folds * 2) throw new Error(`fitLatencies: need at least ${folds * 2} networks, got ${nets.length}`);
  const { a, b } = globalFit(nets, standalone);
  const prior = standalone.map((t) => a * t);
  const used = prior.filter((_, i) => nets.some((n) => n.units.includes(i)));
  const s = used.reduce((x, v) => x + v, 0) / Math.max(1, used.length);
  let best = { lambda: LAMBDAS[0]!, err: Infinity };
  for (const lambda of LAMBDAS) {
    let err = 0;
    for (let f = 0; f < folds; f++) {
      const train = nets.filter((_, i) => i % folds !== f);
      const z = ridge(train, prior, b, lambda, s);
      nets.forEach((n, i) => {
        if (i % folds === f) err += Math.abs(predictNet(z, n) - n.measuredMs) / n.measuredMs;
      });
    }
    if (err < best.err) best = { lambda, err };
  }
  const z = ridge(nets, prior, b, best.lambda, s);
  return {
    latencyMs: z.subarray(0, prior.length).map((v) => Math.max(0, v)),
    overheadMs: z[prior.length]!,
    scale: a,
    lambda: best.lambda,
    cvMapePct: (100 * best.err) / nets.length,
  };
}

/** The regression the fit solves: each entry's standalone time, and each fit network's units and time. */
export function fitProblem(lut: Lut, space: Space): { keys: string[]; standalone: Float64Array; nets: FitNet[] } {
  const keys = Object.keys(lut.entries);
  const index = new Map(keys.map((k, i) => [k, i]));
  const layers = searchableLayers(space);
  return {
    keys,
    standalone: Float64Array.from(keys.map((k) => lut.entries[k]![lut.estimator])),
    nets: lut.calibration.nets.map((n) => ({
      units: networkUnits(space, pathBlocks(space, n.arch, layers)).filter((u) => !u.identity).map((u) => index.get(u.key)!),
      measuredMs: n[lut.estimator],
    })),
  };
}

/** Replaces standalone latencies by the fit to the table's whole networks. */
export function applyFit(lut: Lut, space: Space): void {
  const { keys, standalone, nets } = fitProblem(lut, space);
  const fit = fitLatencies(nets, standalone);
  keys.forEach((k, i) => {
    const e = lut.entries[k]!;
    e.latencyMs = fit.latencyMs[i]!;
    e.calibrationMs = e[lut.estimator] - e.latencyMs;
  });
  Object.assign(lut.calibration, { overheadMs: fit.overheadMs, scale: fit.scale, lambda: fit.lambda, cvMapePct: Math.round(fit.cvMapePct * 1000) / 1000 });
}
