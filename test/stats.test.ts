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

