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


test('Kendall τ-b and Spearman on a hand-made ranking with ties (supernet score vs retrained accuracy of 5 archs)', () => {
  // Supernet scores with a tie (archs 1, 2), retrained accuracies with a tie (archs 2, 3).
  const supernet = [1, 2, 2, 3, 4];
  const retrained = [1, 3, 2, 2, 5];
  // Of the 10 pairs: 7 concordant, 1 discordant (1,3), 1 tied in the scores only (1,2), 1 tied in the accuracies only (2,3).
  // τ-b = (7 - 1) / sqrt((7 + 1 + 1) · (7 + 1 + 1)) = 6/9; τ-a would be 6/10.
  assert.ok(Math.abs(kendall(supernet, retrained) - 2 / 3) < 1e-12);
  // Ranks with ties averaged: [1, 2.5, 2.5, 4, 5] and [1, 4, 2.5, 2.5, 5]; Σ d_a·d_b = 7.25, Σ d² = 9.5 each: ρ = 29/38.
  assert.ok(Math.abs(spearman(supernet, retrained) - 29 / 38) < 1e-12);
  // A pair tied in both counts in neither factor: 4 concordant, 1 discordant of 6, one joint tie: (4 - 1) / sqrt(5 · 5).
  assert.ok(Math.abs(kendall([1, 1, 2, 3], [1, 1, 3, 2]) - 0.6) < 1e-12);
  // Reversed ranking, and a NaN score (an arch that diverged) is no number.
  assert.equal(kendall([1, 2, 3], [3, 2, 1]), -1);
  assert.ok(Number.isNaN(kendall([1, Number.NaN, 3], [1, 2, 3])));
});
