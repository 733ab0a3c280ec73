import assert from 'node:assert/strict';
import { test } from 'node:test';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { buildModel } from '../src/onnx/model.js';
import { randomArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { TfModel } from '../src/train/model.js';
import { Rng } from '../src/util/rng.js';
// For its side effect alone: it turns off onnxruntime's telemetry, which leaves files in /tmp.
import './helpers.js';
import { perturbBatchNorm } from './tensors.js';

test('a TF.js model of an arch and its ONNX export (BN folded) compute the same logits', async () => {
  await tf.setBackend('cpu');
  for (const [name, seed] of [['mbv3-mini', 2], ['fbnet-mini', 5]] as const) {
    const space = loadSpace(name);
    const units = networkUnits(space, randomArch(space, new Rng(seed)));
    const layers = units.flatMap((u) => u.layers);
    const model = new TfModel(layers, space.input, seed);
    perturbBatchNorm(model.allVariables(), new Rng(seed + 1));
    const { c, h, w } = space.input;
    const rng = new Rng(seed + 2);
    const batch = 2;
    const nchw = Float32Array.from({ length: batch * c * h * w }, () => rng.normal());
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(nchw, [batch, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D);
    const tfLogits = tf.tidy(() => model.forward(x, false)).dataSync();

    const bytes = buildModel(layers, space.input, { weights: model.asWeightSource(), batch: 'N' });
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ input: new ort.Tensor('float32', nchw, [batch, c, h, w]) });
    const onnxLogits = out[session.outputNames[0]!]!.data as Float32Array;
    await session.release();

    assert.equal(onnxLogits.length, batch * space.classes);
    let scale = 0, err = 0;
    for (let i = 0; i < onnxLogits.length; i++) {
      scale = Math.max(scale, Math.abs(onnxLogits[i]!));
      err = Math.max(err, Math.abs(onnxLogits[i]! - tfLogits[i]!));
    }
    assert.ok(err / scale < 1e-4, `${name}: max relative logit difference ${err / scale}`);
    x.dispose();
    model.dispose();
  }
});

test('training mode normalises with batch statistics and moves the running ones', async () => {
  await tf.setBackend('cpu');
  const space = loadSpace('fbnet-mini');
  const layers = networkUnits(space, randomArch(space, new Rng(1))).flatMap((u) => u.layers);
  const model = new TfModel(layers, space.input, 1);
  const mean = model.allVariables().find((v) => v.name === 'stem.bn.mean')!;
  assert.deepEqual(Array.from(mean.dataSync()).every((v) => v === 0), true);
  const x = tf.randomNormal([4, 28, 28, 1], 0.5, 1, 'float32', 3) as tf.Tensor4D;
  const logits = tf.tidy(() => model.forward(x, true));
  assert.deepEqual(logits.shape, [4, 10]);
  assert.ok(Array.from(mean.dataSync()).some((v) => v !== 0), 'running mean did not move');
  const vars = model.trainableVariables();
  assert.ok(vars.every((v) => v.trainable));
  assert.ok(!vars.some((v) => v.name.endsWith('.bn.mean')));
  logits.dispose();
  x.dispose();
  model.dispose();
});
