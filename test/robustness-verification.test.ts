/**
 * Issue 11, group 2: verification that cannot pass garbage. NaN defeats `Math.max` and `>`, and
 * an all-NaN argmax is class 0 on both sides of a comparison, so each check here feeds real
 * non-finite values (a diverging run, NaN weights, overflowing weights) through the CLI.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../src/datasets/load.js';
import { LatnasError } from '../src/errors.js';
import { searchSplits } from '../src/search/search.js';
import { readTensorFile, writeTensorFile } from '../src/train/tensor-file.js';
import { argmaxFinite } from '../src/util/finite.js';
import { errorReport, kendall, quantile, spearman } from '../src/util/stats.js';
import { cli, ROOT, tempDir } from './helpers.js';

const SPACE = join(ROOT, 'test/fixtures/tiny28-space.json');
const ARCH = 'k3_e3_g2,k5_e3_se0.25_hs';
const train = (out: string, ...more: string[]) => cli(['train', '--space', SPACE, '--arch', ARCH, '--dataset', 'mnist', '--out', out, '--backend', 'wasm', '--quiet', ...more]);
const oneLine = (stderr: string) => assert.equal(stderr.split('\n').filter(Boolean).length, 1, `not one line:\n${stderr}`);

/** Rewrites a run's weights.bin with `f` applied to every value. */
function mapWeights(run: string, f: (v: number) => number): void {
  const path = join(run, 'weights.bin');
  const stored = readTensorFile(path, 'weights');
  const tensors = [...stored.tensors.values()].map((t) => ({ ...t, data: t.data.map(f) }));
  writeTensorFile(path, stored.meta, tensors);
}

test('non-finite numbers never pass: training, export, scoring and statistics refuse or report NaN', () => {
  // Statistics and argmax: NaN in, NaN (or "no class") out, never a plausible number.
  const r = errorReport([1, Number.NaN, 2], [1, 1, 2]);
  assert.ok(Number.isNaN(r.mapePct) && Number.isNaN(r.maxAbsErrPct) && Number.isNaN(r.within10Pct) && Number.isNaN(r.spearman), JSON.stringify(r));
  assert.ok(Number.isNaN(quantile([1, 2, Number.NaN, 4], 0.25)));
  assert.ok(Number.isNaN(kendall([1, 2, 3], [1, Infinity, 3])));
  assert.ok(Number.isNaN(spearman([1, 2, 3], [1, Number.NaN, 3])));
  assert.equal(argmaxFinite(Float32Array.of(Number.NaN, Number.NaN, Number.NaN), 0, 3), -1);
  assert.equal(argmaxFinite(Float32Array.of(0, 5, 1, 9, Infinity, 2), 0, 3), 1);
  assert.equal(argmaxFinite(Float32Array.of(0, 5, 1, 9, Infinity, 2), 3, 3), -1);

  // --lr 1e6: the loss of step 3 is still finite but its update makes the weights NaN. Nothing is saved.
  const dir = tempDir();
  const diverged = join(dir, 'diverged');
  const d = train(diverged, '--batch', '32', '--epochs', '1', '--max-steps', '3', '--lr', '1e6');
  assert.equal(d.code, 1, d.stderr);
  assert.match(d.stderr, new RegExp(String.raw`^latnas: training diverged: weight '[^']+' became (NaN|Infinity|-Infinity) at epoch 1, step 3 ` +
    String.raw`\(loss [-\d.e+]+, learning rate [\d.e+]+\); nothing was saved and no checkpoint was written; lower --lr\n$`));
  assert.equal(existsSync(join(diverged, 'weights.bin')) || existsSync(join(diverged, 'checkpoint.bin')), false, 'a non-finite model was written');

  // A batch larger than the training split: 0 steps per epoch is an error, not "NaN img/s".
  const big = train(join(dir, 'big'), '--batch', '100000');
  assert.equal(big.code, 1);
  assert.match(big.stderr, new RegExp(String.raw`^latnas: --batch 100000 is larger than the training split of mnist \(7200 images after holding out 10% for validation\), ` +
    String.raw`so an epoch would have no step; lower --batch to at most 7200\n$`));
  assert.equal(existsSync(join(dir, 'big')), false, 'a refused run left a folder');

  // Export: NaN weights (as older latnas wrote them) and finite weights whose outputs overflow.
  const good = join(dir, 'good');
  const g = train(good, '--batch', '32', '--epochs', '1', '--max-steps', '10');
  assert.equal(g.code, 0, g.stderr);
  const nan = join(dir, 'nan');
  cpSync(good, nan, { recursive: true });
  mapWeights(nan, () => Number.NaN);
  const e1 = cli(['export', '--run', nan, '--out', join(nan, 'model.onnx'), '--no-latency', '--verify-images', '100', '--quiet']);
  assert.equal(e1.code, 1);
  oneLine(e1.stderr);
  assert.match(e1.stderr, /^latnas: weights file '.*weights\.bin': variable '[^']+' holds NaN .*the training diverged.*lower --lr\n$/);
  assert.equal(existsSync(join(nan, 'model.onnx')), false);

  const huge = join(dir, 'huge');
  cpSync(good, huge, { recursive: true });
  mapWeights(huge, (v) => v * 1e30);
  const e2 = cli(['export', '--run', huge, '--out', join(huge, 'model.onnx'), '--no-latency', '--verify-images', '100', '--quiet']);
  assert.equal(e2.code, 1);
  oneLine(e2.stderr);
  assert.match(e2.stderr, new RegExp(String.raw`^latnas: export of '.*' failed verification: the model's outputs are not finite ` +
    String.raw`\(\d+ of 1000 TF\.js logits and \d+ of 1000 onnxruntime logits are NaN or infinite\).*nothing was written`));
  assert.equal(existsSync(join(huge, 'model.onnx')), false);

  // A search whose validation split is empty would score every arch 0%: refused up front.
  const mnist = loadDataset('mnist');
  assert.throws(() => searchSplits({ dataset: mnist, valFraction: 0, seed: 1, strategy: 'evolution', batch: 32 }),
    (e: unknown) => e instanceof LatnasError && /validation split of mnist is empty .*every arch would score 0%; raise --val-fraction/.test(e.message));
  assert.throws(() => searchSplits({ dataset: mnist, valFraction: 0.1, seed: 1, strategy: 'dnas', batch: 2000 }),
    (e: unknown) => e instanceof LatnasError && /dnas trains θ on .* so θ would never move; lower --batch to at most 1440/.test(e.message));
});
