import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rankAgreement, seedStd, seedTau, tauCeiling } from '../bench/search-quality/ranking.js';

const accs = (rows: number[][]) => new Map(rows.map((seeds, i) => [`a${i}`, new Map(seeds.map((acc, s) => [s + 1, acc]))]));

test('seed noise as a ranking: τ of seed 1 against seed 2, and the pooled seed std', () => {
  // Seeds 1 and 2 agree on the order of a0 < a1 < a2 but swap a2 and a3: 5 of 6 pairs concordant.
  const a = accs([[0.80, 0.81], [0.82, 0.83], [0.84, 0.87], [0.86, 0.85]]);
  assert.ok(Math.abs(seedTau(a)!.kendallTau - (5 - 1) / 6) < 1e-12);
  // Within-arch deviations ±0.005, ±0.005, ±0.015, ±0.005: pooled variance (4·0.005²·2 + 0.015²·2) / 4.
  assert.ok(Math.abs(seedStd(a)! - Math.sqrt((3 * 2 * 0.005 ** 2 + 2 * 0.015 ** 2) / 4)) < 1e-12);
  assert.equal(seedTau(accs([[0.8], [0.9], [0.7]])), null, 'one seed each: no seed τ');
});

test('the ceiling falls as seed noise grows against the spread of the archs', () => {
  const spread = Array.from({ length: 20 }, (_, i) => 0.80 + 0.005 * i);
  const quiet = tauCeiling(accs(spread.map((m) => [m - 0.0005, m + 0.0005])))!;
  const noisy = tauCeiling(accs(spread.map((m) => [m - 0.03, m + 0.03])))!;
  assert.ok(quiet > 0.9, `quiet ${quiet}`);
  assert.ok(noisy < quiet - 0.2 && noisy > 0, `noisy ${noisy}, quiet ${quiet}`);
});

test('rank agreement uses only the archs both sides have, against the mean of the seeds', () => {
  const a = accs([[0.80, 0.82], [0.85, 0.85], [0.90, 0.88]]);
  const scores = new Map([['a0', 0.5], ['a1', 0.6], ['a2', 0.7], ['other', 0.1]]);
  assert.deepEqual(rankAgreement(scores, a), { archs: 3, kendallTau: 1, spearman: 1 });
  scores.set('a2', 0.55);
  assert.ok(Math.abs(rankAgreement(scores, a).kendallTau - 1 / 3) < 1e-12);
});
