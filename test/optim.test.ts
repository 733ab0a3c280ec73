import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/train/backend.js';
import { FusedMomentumOptimizer, SgdMomentum } from '../src/train/optim.js';
import { Rng } from '../src/util/rng.js';

/** Three steps of each optimiser on the same variables and gradients; the values and state after them. */
async function after(make: () => tf.Optimizer, prefix: string, nesterov: boolean): Promise<{ values: number[][]; state: number[][] }> {
  const rng = new Rng(nesterov ? 3 : 4);
  const draw = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
  const vars = [tf.variable(tf.tensor(draw(24), [2, 3, 4]), true, `${prefix}.a`), tf.variable(tf.tensor(draw(5)), true, `${prefix}.b`)];
  const opt = make();
  for (let step = 0; step < 3; step++) {
    if (opt instanceof tf.MomentumOptimizer) opt.setLearningRate(0.1 / (step + 1));
    else (opt as unknown as SgdMomentum).learningRate = 0.1 / (step + 1);
    const grads = Object.fromEntries(vars.map((v) => [v.name, tf.tensor(draw(v.size), v.shape)]));
    opt.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }
  const values = vars.map((v) => Array.from(v.dataSync()));
  const state = opt instanceof tf.Optimizer
    ? (await opt.getWeights()).map((w) => Array.from(w.tensor.dataSync()))
    : (opt as unknown as SgdMomentum).state().map((t) => Array.from(t.data));
  opt.dispose();
  tf.dispose(vars);
  return { values, state };
}

for (const nesterov of [true, false]) {
  test(`the fused momentum update equals tfjs's MomentumOptimizer to the bit on wasm (nesterov ${nesterov})`, async () => {
    await initBackend('wasm');
    assert.ok(tf.getKernel('LatnasMomentumUpdate', 'wasm'), 'the fused kernel is not registered on wasm');
    const ref = await after(() => tf.train.momentum(0.1, 0.9, nesterov), `ref${nesterov}`, nesterov);
    const fused = await after(() => new FusedMomentumOptimizer(0.1, 0.9, nesterov), `fused${nesterov}`, nesterov);
    assert.deepEqual(fused.values, ref.values);
    assert.deepEqual(fused.state, ref.state);
    // The update moved the weights (the comparison is not of untouched values).
    assert.ok(ref.values[0]!.length === 24 && ref.state.length === 3);
    assert.notDeepEqual(ref.state[1], new Array(24).fill(0));
  });
}

test('SgdMomentum (the supernet\'s, by name) takes the same steps with the fused kernel as with composed ops', async () => {
  await initBackend('wasm');
  const kernel = tf.getKernel('LatnasMomentumUpdate', 'wasm')!;
  const run = (prefix: string) => after(() => new SgdMomentum(0.1, 0.9, true) as unknown as tf.Optimizer, prefix, true);
  const fused = await run('sgdFused');
  tf.unregisterKernel('LatnasMomentumUpdate', 'wasm');
  try {
    const composed = await run('sgdComposed');
    assert.deepEqual(fused.values, composed.values);
    assert.deepEqual(fused.state, composed.state);
  } finally {
    tf.registerKernel(kernel);
  }
});
