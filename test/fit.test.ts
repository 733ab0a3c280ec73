import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitLatencies, globalFit, type FitNet } from '../src/lut/fit.js';
import { Rng } from '../src/util/rng.js';

test('the fit recovers in-network latencies that standalone times misstate', () => {
  // 12 units; standalone times carry a per-unit overhead of 0.5 and a random distortion; the
  // networks sum the true latencies plus 0.3 and 1% multiplicative noise.
  const rng = new Rng(9);
  const K = 12;
  const truth = Float64Array.from({ length: K }, () => 0.5 + rng.next() * 2);
  const standalone = truth.map((t) => 0.5 + t * (0.8 + 0.4 * rng.next()));
  const nets: FitNet[] = Array.from({ length: 240 }, () => {
    const units = Array.from({ length: 6 }, () => rng.int(K));
    const y = units.reduce((s, u) => s + truth[u]!, 0.3);
    return { units, measuredMs: y * (1 + 0.01 * rng.normal()) };
  });
  const fit = fitLatencies(nets, standalone);
  const test = Array.from({ length: 100 }, () => Array.from({ length: 6 }, () => rng.int(K)));
  let errFit = 0, errRaw = 0;
  for (const units of test) {
    const y = units.reduce((s, u) => s + truth[u]!, 0.3);
    errFit += Math.abs(units.reduce((s, u) => s + fit.latencyMs[u]!, fit.overheadMs) - y) / y;
    errRaw += Math.abs(units.reduce((s, u) => s + standalone[u]!, 0) - y) / y;
  }
  assert.ok(errFit / test.length < 0.01, `fit MAPE ${(100 * errFit) / test.length}%`);
  assert.ok(errRaw / test.length > 0.2, 'the standalone sum should be far off in this setup');
  assert.ok(fit.latencyMs.every((v) => v >= 0));
  assert.ok(fit.cvMapePct > 0 && fit.cvMapePct < 2);
});

test('units no network contains keep the scaled standalone prior', () => {
  const standalone = Float64Array.from([1, 2, 3, 4]);
  const rng = new Rng(1);
  const nets: FitNet[] = Array.from({ length: 40 }, () => {
    const units = [rng.int(3), rng.int(3)];
    return { units, measuredMs: units.reduce((s, u) => s + 2 * standalone[u]!, 0) };
  });
  const fit = fitLatencies(nets, standalone);
  assert.ok(Math.abs(fit.latencyMs[3]! - fit.scale * 4) < 1e-6);
  assert.throws(() => fitLatencies(nets.slice(0, 5), standalone), /at least 10 networks/);
});

test('the global prior never flips units: nets whose times fall as their units grow get a positive slope through the origin', () => {
  // Two units; the net of the larger one measured faster (noise over a near-constant overhead).
  const standalone = Float64Array.from([0.01, 0.02]);
  const nets: FitNet[] = [
    { units: [0], measuredMs: 0.30 }, { units: [0, 0], measuredMs: 0.29 },
    { units: [1], measuredMs: 0.28 }, { units: [1, 1], measuredMs: 0.27 },
  ];
  const { a, b } = globalFit(nets, standalone);
  assert.ok(a > 0, `slope ${a}`);
  assert.equal(b, 0);
  // An ordinary set keeps its intercept: y = 2·sumT + 0.1 exactly.
  const clean = nets.map((n) => ({ ...n, measuredMs: 2 * n.units.reduce((s, u) => s + standalone[u]!, 0) + 0.1 }));
  const fit = globalFit(clean, standalone);
  assert.ok(Math.abs(fit.a - 2) < 1e-9 && Math.abs(fit.b - 0.1) < 1e-9, JSON.stringify(fit));
});
