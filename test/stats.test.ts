import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorReport, kendall, quantile, spearman, summarize } from '../src/util/stats.js';

test('quantiles interpolate linearly', () => {
  assert.equal(quantile([4, 1, 3, 2, 5], 0.5), 3);
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.ok(Math.abs(quantile([0, 10], 0.1) - 1) < 1e-12);
  assert.deepEqual(summarize([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), { median: 6, p10: 2, p25: 3.5, p90: 10, samples: 11 });
});

test('rank correlations: perfect, reversed, and a known mixed case', () => {
  assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  assert.equal(kendall([1, 2, 3, 4], [1, 2, 3, 4]), 1);
  // One discordant pair of six: tau = (5 - 1) / 6.
  assert.ok(Math.abs(kendall([1, 2, 3, 4], [1, 2, 4, 3]) - 4 / 6) < 1e-12);
  // Spearman for one swapped adjacent pair of 4: 1 - 6*2/(4*15) = 0.8.
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [1, 2, 4, 3]) - 0.8) < 1e-12);
});

test('error report counts nets within tolerance', () => {
  const r = errorReport([1.04, 0.9, 2.0, 1.0], [1, 1, 2, 1]);
  assert.equal(r.n, 4);
  assert.equal(r.within5Pct, 75);
  assert.equal(r.within10Pct, 100);
  assert.ok(Math.abs(r.maxAbsErrPct - 10) < 1e-9);
  assert.ok(Math.abs(r.mapePct - 3.5) < 1e-9);
});

test('drift map: affine through both references, a ratio where they are too close', async () => {
  const { driftMap } = await import('../src/profiler/timing.js');
  // Now: light 2.2 (anchor 2.0), heavy 5.1 (anchor 5.0): a net at 3.65 now maps to 3.5.
  const map = driftMap([2.2, 5.1], [2.0, 5.0]);
  assert.ok(Math.abs(map(2.2) - 2.0) < 1e-12);
  assert.ok(Math.abs(map(5.1) - 5.0) < 1e-12);
  assert.ok(Math.abs(map(3.65) - 3.5) < 1e-12);
  const ratio = driftMap([1.0, 1.1], [1.05, 1.155]);
  assert.ok(Math.abs(ratio(2) - 2.1) < 1e-12);
  // A burst on the light reference only: the line through both (slope 3) would send small nets below 0.
  const burst = driftMap([2.0, 3.0], [1.0, 4.0]);
  assert.ok(Math.abs(burst(0.3) - 0.3) < 1e-12, `mapped ${burst(0.3)}`);
  assert.ok(Math.abs(burst(2.5) - 2.5) < 1e-12);
  // A slope <= 0 is noise, not drift.
  assert.ok(Math.abs(driftMap([2.0, 4.0], [3.0, 2.5])(3) - 3 * 5.5 / 6) < 1e-12);
});
