import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readTensorFile, writeTensorFile } from '../src/train/tensor-file.js';
import { cli, ROOT, tempDir } from './helpers.js';

const SPACE = join(ROOT, 'test/fixtures/tiny28-space.json');
const ARCH = 'k3_e3_g2,k5_e3_se0.25_hs';
const base = (out: string) => ['train', '--space', SPACE, '--arch', ARCH, '--dataset', 'mnist', '--out', out, '--backend', 'wasm', '--batch', '32', '--quiet'];

interface Metrics { testAcc: number; backend: string; history: { loss: number; valAcc: number; epoch: number }[] }

test('train learns on real digits with wasm, writes a run folder, and resumes a finished epoch', () => {
  const out = join(tempDir(), 'run');
  const first = cli([...base(out), '--epochs', '2', '--max-steps', '60', '--lr', '0.1']);
  assert.equal(first.code, 0, first.stderr);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Metrics;
  assert.equal(m.backend, 'wasm');
  assert.equal(m.history.length, 2);
  // 120 steps of 32 digits: far above the 10% of chance.
  assert.ok(m.testAcc > 0.5, `test accuracy ${m.testAcc}`);
  assert.ok(m.history[1]!.loss < m.history[0]!.loss, 'loss did not fall');
  const arch = JSON.parse(readFileSync(join(out, 'arch.json'), 'utf8')) as { blocks: string[] };
  assert.deepEqual(arch.blocks, ['ir_k3_e3_g2_c8_s1_re', 'ir_k5_e3_c16_s2_se0.25_hs']);
  assert.ok(statSync(join(out, 'weights.bin')).size > 4 * 1000);

  // Without --resume the run folder is protected; with it, finished epochs are kept.
  const again = cli([...base(out), '--epochs', '3', '--max-steps', '60', '--lr', '0.1']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds a finished training run \(weights.bin\); choose another --out, or pass --resume with a larger --epochs/);
  const resumed = cli([...base(out), '--epochs', '3', '--max-steps', '60', '--lr', '0.1', '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /after 3 epochs \(resumed after epoch 2\)/);
  const m2 = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Metrics;
  assert.deepEqual(m2.history.slice(0, 2), m.history);
  assert.equal(m2.history.length, 3);
});

test('a diverging run stops on a non-finite loss and keeps the last good checkpoint', () => {
  const out = join(tempDir(), 'run');
  assert.equal(cli([...base(out), '--epochs', '1', '--max-steps', '5']).code, 0);
  // --resume refuses another --lr, so the divergence comes from the weights: finite, but so large
  // that the first step of epoch 2 overflows the loss.
  const path = join(out, 'checkpoint.bin');
  const ck = readTensorFile(path, 'checkpoint');
  writeTensorFile(path, ck.meta, [...ck.tensors.values()].map((t) => (t.name.startsWith('optimizer/') ? t : { ...t, data: t.data.map((v) => v * 1e30) })));
  const before = readFileSync(path);
  const r = cli([...base(out), '--epochs', '2', '--max-steps', '5', '--resume']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^latnas: loss became (NaN|Infinity|-Infinity) at epoch 2, step \d+ .*the checkpoint of epoch 1 in '.*checkpoint.bin' is kept; lower --lr\n$/);
  assert.deepEqual(readFileSync(join(out, 'checkpoint.bin')), before);
});

test('train refuses bad input with one line', () => {
  const out = join(tempDir(), 'run');
  const unknown = cli(['train', '--space', SPACE, '--arch', ARCH, '--dataset', 'imagenet', '--out', out]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^latnas: .*imagenet/);
  const misfit = cli(['train', '--space', SPACE, '--arch', 'k3_e3_g2', '--dataset', 'mnist', '--out', out]);
  assert.equal(misfit.code, 1);
  assert.match(misfit.stderr, /has 1 blocks but space 'tiny28' has 2 searchable layers/);
  const shape = cli(['train', '--space', 'mbv3-mini', '--arch', Array(12).fill('k3_e3').join(','), '--dataset', 'mnist', '--out', out, '--backend', 'cpu']);
  assert.equal(shape.code, 1);
  assert.match(shape.stderr, /has 1x28x28 images but space 'mbv3-mini' takes 3x32x32/);
});
