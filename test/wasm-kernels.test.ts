import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { LatnasError } from '../src/errors.js';
import { initBackend } from '../src/train/backend.js';
import { batchNormInfer, batchNormTrain, channelShuffle, conv2dSame, hardSigmoid, hardSwish, movingStatistics } from '../src/train/ops.js';
import { registerWasmKernels, WASM_KERNEL_NAMES } from '../src/train/wasm-kernels.js';
import { randomArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { TfModel } from '../src/train/model.js';
import { Rng } from '../src/util/rng.js';

registerWasmKernels();

const TOL = 1e-4;

function normal(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** max |a - b| / max |b|: the error relative to the reference's scale. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let err = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? err : err / scale;
}

/** Runs `f` on one backend and returns its outputs as arrays; checks it leaves no tensor behind. */
async function runOn(backend: 'cpu' | 'wasm', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const dataBefore = tf.engine().backend.numDataIds();
  const outs = tf.tidy(f);
  const arrays = outs.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  assert.equal(tf.engine().backend.numDataIds(), dataBefore, `${backend}: backend buffers leaked`);
  return arrays;
}

/** `f` on wasm and on cpu agree output by output within TOL. */
async function assertWasmMatchesCpu(label: string, f: () => tf.Tensor[]): Promise<void> {
  const ref = await runOn('cpu', f);
  const got = await runOn('wasm', f);
  assert.equal(got.length, ref.length);
  got.forEach((g, i) => {
    const e = relErr(g, ref[i]!);
    assert.ok(e <= TOL, `${label}, output ${i}: relative error ${e.toExponential(2)} > ${TOL}`);
  });
}

/** The output and the gradients of sum(f(inputs) * r) for a fixed random r (a vector-Jacobian product). */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: Array<{ shape: number[]; seed: number }>): () => tf.Tensor[] {
  return () => {
    const xs = inputs.map(({ shape, seed }) => tf.tensor(normal(size(shape), seed), shape));
    const y = f(...xs);
    const r = tf.tensor(normal(y.size, 999), y.shape);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)))(xs);
    return [y, ...grads];
  };
}

const SIZES: Array<[number, number]> = [[7, 8], [6, 5]]; // odd and even on both axes

for (const kind of ['groups 1', 'groups 2', 'depthwise'] as const) {
  test(`conv2dSame ${kind}: outputs and gradients on wasm match cpu (k 1/3/5/7, stride 1/2, odd/even sizes, batch 1/3)`, async () => {
    const cin = 4;
    const groups = kind === 'groups 1' ? 1 : kind === 'groups 2' ? 2 : cin;
    for (const cout of kind === 'depthwise' ? [cin, 2 * cin] : [6]) {
      for (const k of [1, 3, 5, 7]) for (const stride of [1, 2]) for (const [h, w] of SIZES) for (const n of [1, 3]) {
        const f = (x: tf.Tensor, wt: tf.Tensor) => conv2dSame(x as tf.Tensor4D, wt as tf.Tensor4D, stride, groups);
        await assertWasmMatchesCpu(`k${k} s${stride} ${n}x${h}x${w}x${cin} -> ${cout}`,
          valueAndGrads(f, [{ shape: [n, h, w, cin], seed: k * 10 + stride }, { shape: [k, k, cin / groups, cout], seed: k }]));
      }
    }
  });
}

test('conv gradient kernels handle valid and explicit padding and stride 3 as cpu does', async () => {
  const cases: Array<{ pad: 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]]; stride: number; k: number }> = [
    { pad: 'valid', stride: 2, k: 3 },
    { pad: 'valid', stride: 3, k: 2 },
    { pad: 'same', stride: 3, k: 5 },
    { pad: [[0, 0], [1, 2], [2, 0], [0, 0]], stride: 2, k: 3 },
  ];
  for (const { pad, stride, k } of cases) {
    const label = `pad ${JSON.stringify(pad)} stride ${stride} k${k}`;
    await assertWasmMatchesCpu(`conv2d ${label}`, valueAndGrads(
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad), [{ shape: [2, 9, 8, 3], seed: 1 }, { shape: [k, k, 3, 4], seed: 2 }]));
    await assertWasmMatchesCpu(`depthwiseConv2d ${label}`, valueAndGrads(
      (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad), [{ shape: [2, 9, 8, 3], seed: 3 }, { shape: [k, k, 3, 2], seed: 4 }]));
  }
});

test('UnsortedSegmentSum on wasm matches cpu, directly and as the gradient of gather', async () => {
  await assertWasmMatchesCpu('unsortedSegmentSum', () => [
    tf.unsortedSegmentSum(tf.tensor2d(normal(12, 5), [6, 2]), tf.tensor1d([2, 0, 2, 5, 1, 2], 'int32'), 4),
  ]);
  await assertWasmMatchesCpu('gather grads, axis 0 and 1', valueAndGrads(
    (x) => tf.concat([tf.reshape(tf.gather(x, tf.tensor1d([0, 2, 2, 4], 'int32'), 0), [-1]), tf.reshape(tf.gather(x, tf.tensor1d([1, 1, 0, 2, 1], 'int32'), 1), [-1])]),
    [{ shape: [5, 4], seed: 6 }]));
  await tf.setBackend('wasm');
  const summed = tf.tidy(() => Array.from(tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4], 'int32'), tf.tensor1d([1, 1, 0, 1], 'int32'), 2).dataSync()));
  assert.deepEqual(summed, [3, 7]);
});

test('batchNormTrain: wasm matches cpu, and its closed-form gradient matches autodiff', async () => {
  const bn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTrain(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
  for (const shape of [[1, 5, 6, 4], [3, 7, 8, 6]]) {
    const c = shape[3]!;
    const inputs = [{ shape, seed: 11 }, { shape: [c], seed: 12 }, { shape: [c], seed: 13 }];
    await assertWasmMatchesCpu(`y and grads ${shape}`, valueAndGrads((x, g, b) => bn(x, g, b).y, inputs));
    await assertWasmMatchesCpu(`statistics ${shape}`, () => {
      const x = tf.add(tf.tensor(normal(size(shape), 14), shape), 3) as tf.Tensor4D;
      const r = batchNormTrain(x, tf.ones([c]), tf.zeros([c]));
      return [r.mean, r.variance];
    });
    // The reference: the textbook formula, differentiated by the tape.
    const plain = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3))), g), b);
    };
    const custom = await runOn('cpu', valueAndGrads((x, g, b) => bn(x, g, b).y, inputs));
    const taped = await runOn('cpu', valueAndGrads(plain, inputs));
    custom.forEach((a, i) => assert.ok(relErr(a, taped[i]!) <= TOL, `${shape} output ${i}: ${relErr(a, taped[i]!)}`));
  }
  // The statistics are the biased batch moments and carry no gradient.
  await tf.setBackend('wasm');
  tf.tidy(() => {
    const x = tf.tensor4d([1, 2, 3, 6], [2, 1, 2, 1]);
    const r = batchNormTrain(x, tf.ones([1]), tf.zeros([1]));
    assert.deepEqual(Array.from(r.mean.dataSync()), [3]);
    assert.ok(Math.abs(r.variance.dataSync()[0]! - 3.5) < 1e-6);
    assert.throws(() => tf.grad((t: tf.Tensor) => batchNormTrain(t as tf.Tensor4D, tf.ones([1]), tf.zeros([1])).mean)(x));
  });
});

test('depthwise conv gradients (native SIMD kernels): wide rows, channel tails, stride 1/2, k 3/5/7, batch 1/2, padding kinds match cpu', async () => {
  // Rows wide enough for the kernels' all-taps-inside range, channels that are not a multiple of
  // 4 (their scalar tail), odd/even widths against the 'same' padding split; 'valid' and explicit
  // padding, where the taps never reach some input columns. Multiplier 1 (the native kernels).
  type Pad = Parameters<typeof tf.depthwiseConv2d>[3];
  const cases: Array<{ c: number; k: number; stride: number; n: number; w: number; pad: Pad }> = [];
  for (const c of [6, 8]) for (const k of [3, 5, 7]) for (const stride of [1, 2]) for (const n of [1, 2]) for (const w of [19, 20]) cases.push({ c, k, stride, n, w, pad: 'same' });
  for (const stride of [1, 2, 3]) {
    cases.push({ c: 5, k: 3, stride, n: 2, w: 11, pad: 'valid' });
    cases.push({ c: 5, k: 3, stride, n: 2, w: 11, pad: [[0, 0], [2, 0], [0, 3], [0, 0]] });
  }
  for (const { c, k, stride, n, w, pad } of cases) {
    await assertWasmMatchesCpu(`dw k${k} s${stride} ${n}x6x${w}x${c} pad ${JSON.stringify(pad)}`, valueAndGrads(
      (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad),
      [{ shape: [n, 6, w, c], seed: k + stride + c + w }, { shape: [k, k, c, 1], seed: 7 * k + n }]));
  }
});

test('stem conv filter gradient (native kernel for 1-4 input channels): wide rows, k 3/5/7, stride 1/2, batch 1/2 match cpu', async () => {
  for (const ci of [1, 3]) for (const k of [3, 5, 7]) for (const stride of [1, 2]) for (const n of [1, 2]) {
    const co = ci === 1 ? 16 : 10; // 10: a scalar tail after two 4-wide groups
    await assertWasmMatchesCpu(`stem k${k} s${stride} ${n}x9x28x${ci} -> ${co}`, valueAndGrads(
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, 'same'),
      [{ shape: [n, 9, 28, ci], seed: 80 + k + stride }, { shape: [k, k, ci, co], seed: 90 + k }]));
  }
});

test('1x1 convs (native GEMMs): output, input and filter gradients over row blocks, 4x8 tiles and their edges match cpu', async () => {
  // rows 180, 256, 105 (the kernel works in blocks of 128 rows); channel counts on and off its
  // 4 (input) x 8 (output) tile.
  const cases: Array<[number[], number]> = [[[2, 9, 10, 6], 20], [[1, 16, 16, 8], 16], [[3, 5, 7, 13], 9], [[2, 3, 3, 3], 2], [[2, 7, 9, 24], 36]];
  for (const [xs, co] of cases) {
    await assertWasmMatchesCpu(`1x1 dw ${xs} -> ${co}`, () => {
      const x = tf.tensor4d(normal(size(xs), co), xs as [number, number, number, number]);
      const dy = tf.tensor4d(normal(size(xs.slice(0, 3)) * co, co + 1), [xs[0]!, xs[1]!, xs[2]!, co]);
      const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: [1, 1, xs[3]!, co] };
      return [tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor];
    });
    for (const groups of [1, 2]) {
      if (xs[3]! % groups !== 0 || co % groups !== 0) continue;
      const f = (x: tf.Tensor, wt: tf.Tensor) => conv2dSame(x as tf.Tensor4D, wt as tf.Tensor4D, 1, groups);
      await assertWasmMatchesCpu(`1x1 conv groups ${groups} ${xs} -> ${co}`,
        valueAndGrads(f, [{ shape: xs, seed: co + 2 }, { shape: [1, 1, xs[3]! / groups, co], seed: co + 3 }]));
    }
  }
});

test('batchNormTrain on wasm runs one fused kernel each way, and with a fused ReLU matches cpu (large M, channel tails)', async () => {
  for (const shape of [[2, 9, 11, 6], [4, 14, 14, 16], [1, 3, 3, 5]]) {
    const c = shape[3]!;
    const inputs = [{ shape, seed: 61 }, { shape: [c], seed: 62 }, { shape: [c], seed: 63 }];
    for (const act of ['none', 'relu'] as const) {
      // x offset by 3 so the mean is far from 0, as after a conv with a bias-like shift.
      const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTrain(tf.add(x, 3) as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, act).y;
      await assertWasmMatchesCpu(`${act} y and grads ${shape}`, valueAndGrads(f, inputs));
      await assertWasmMatchesCpu(`${act} statistics ${shape}`, () => {
        const r = batchNormTrain(tf.add(tf.tensor(normal(size(shape), 64), shape), 3) as tf.Tensor4D, tf.ones([c]), tf.zeros([c]), 1e-5, act);
        return [r.mean, r.variance];
      });
    }
  }
  // ReLU fused: y = max(bn(x), 0), and no gradient reaches x where the output is clipped.
  await tf.setBackend('wasm');
  tf.tidy(() => {
    const x = tf.tensor4d([1, 2, 3, 6], [2, 1, 2, 1]);
    const y = batchNormTrain(x, tf.ones([1]), tf.zeros([1]), 0, 'relu').y.dataSync();
    const sd = Math.sqrt(3.5);
    assert.deepEqual(Array.from(y).map((v) => Math.round(v * 1e5) / 1e5), [0, 0, 0, Math.round((3 / sd) * 1e5) / 1e5]);
  });
  const profile = await tf.profile(() => {
    const x = tf.randomNormal([2, 4, 4, 8]) as tf.Tensor4D;
    const g = tf.ones([8]) as tf.Tensor1D, b = tf.zeros([8]) as tf.Tensor1D;
    return tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(batchNormTrain(xi as tf.Tensor4D, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5, 'relu').y))([x, g, b]);
  });
  const names = profile.kernels.map((k) => k.name);
  assert.ok(names.includes('LatnasBatchNormTrain') && names.includes('LatnasBatchNormGrad'), names.join(' '));
  assert.ok(!names.includes('Sum') || names.filter((n) => n === 'Sum').length === 1, `only the loss sums: ${names.join(' ')}`);
  tf.dispose(profile.result as tf.Tensor[]);
});

test('batchNormTrain statistics on wasm (one pass) match float64 with a large offset and unrepresentative first rows', async () => {
  await tf.setBackend('wasm');
  const [n, h, w, c] = [4, 16, 16, 7];
  const vals = normal(n * h * w * c, 81, 0.05);
  // Offset 500 (std 0.05); the first image's top rows sit 5 std higher than the rest.
  for (let i = 0; i < vals.length; i++) vals[i] = Math.fround(500 + vals[i]! + (i < 2 * w * c ? 0.25 : 0));
  const [mean, variance] = tf.tidy(() => {
    const r = batchNormTrain(tf.tensor4d(vals, [n, h, w, c]), tf.ones([c]), tf.zeros([c]));
    return [r.mean.dataSync(), r.variance.dataSync()];
  });
  const m = n * h * w;
  for (let ch = 0; ch < c; ch++) {
    let s = 0, q = 0;
    for (let r = 0; r < m; r++) s += vals[r * c + ch]!;
    const mu = s / m;
    for (let r = 0; r < m; r++) q += (vals[r * c + ch]! - mu) ** 2;
    const v = q / m;
    assert.ok(Math.abs(mean![ch]! - mu) <= 1e-6 * mu, `channel ${ch} mean ${mean![ch]} vs ${mu}`);
    assert.ok(Math.abs(variance![ch]! - v) <= 1e-4 * v, `channel ${ch} variance ${variance![ch]} vs ${v}`);
  }
});

test('movingStatistics (one kernel on wasm) matches cpu and the formula', async () => {
  for (const [momentum, count] of [[0.1, 50], [1, 1], [0.25, 2]] as const) {
    await assertWasmMatchesCpu(`momentum ${momentum} count ${count}`, () => movingStatistics(
      { mean: tf.tensor1d(normal(7, 71)), variance: tf.abs(tf.tensor1d(normal(7, 72))) as tf.Tensor1D },
      { mean: tf.tensor1d(normal(7, 73)), variance: tf.abs(tf.tensor1d(normal(7, 74))) as tf.Tensor1D }, momentum, count));
  }
  await tf.setBackend('wasm');
  const [m, v] = tf.tidy(() => movingStatistics({ mean: tf.tensor1d([1, 2]), variance: tf.tensor1d([4, 4]) },
    { mean: tf.tensor1d([3, 6]), variance: tf.tensor1d([2, 1]) }, 0.5, 3).map((t) => Array.from(t.dataSync())));
  assert.deepEqual(m, [2, 4]);
  // Batch variance unbiased by 3 / 2 first: 0.5 * 4 + 0.5 * 3 = 3.5, 0.5 * 4 + 0.5 * 1.5 = 2.75.
  assert.deepEqual(v, [3.5, 2.75]);
});

test('Identity (tf.clone) on wasm shares the buffer: values equal, each side disposable on its own', async () => {
  await tf.setBackend('wasm');
  const before = tf.engine().backend.numDataIds();
  const a = tf.tensor2d([[1, 2], [3, 4]]);
  const b = tf.clone(a);
  assert.equal(tf.engine().backend.numDataIds(), before + 1, 'no second buffer');
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3, 4]);
  const c = tf.add(b, 1);
  b.dispose();
  assert.deepEqual(Array.from(c.dataSync()), [2, 3, 4, 5]);
  c.dispose();
  assert.equal(tf.engine().backend.numDataIds(), before);
  // Gradients through a clone are the identity.
  const g = tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.clone(x), 3)))(tf.tensor1d([1, 2])).dataSync()));
  assert.deepEqual(g, [3, 3]);
});

test('batchNormInfer: wasm matches cpu and the formula', async () => {
  const shape = [2, 5, 4, 3];
  const inputs = [{ shape, seed: 21 }, { shape: [3], seed: 22 }, { shape: [3], seed: 23 }, { shape: [3], seed: 24 }];
  const infer = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, m: tf.Tensor) =>
    batchNormInfer(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, m as tf.Tensor1D, tf.tensor1d([0.5, 1, 2]), 1e-5);
  await assertWasmMatchesCpu('batchNormInfer', valueAndGrads(infer, inputs));
  await tf.setBackend('wasm');
  const y = tf.tidy(() => batchNormInfer(tf.fill([1, 1, 1, 1], 3) as tf.Tensor4D, tf.tensor1d([2]), tf.tensor1d([1]), tf.tensor1d([1]), tf.tensor1d([4]), 0).dataSync()[0]!);
  assert.ok(Math.abs(y - ((3 - 1) / 2 * 2 + 1)) < 1e-6);
});

test('batchNormInfer (+ReLU), fused on wasm: outputs and all five gradients match cpu (batch 1/3, channels 1-13)', async () => {
  for (const act of ['none', 'relu'] as const) {
    for (const [n, c] of [[1, 3], [3, 5], [1, 1], [2, 2], [3, 4], [1, 8], [3, 13]] as const) {
      const shape = [n, 5, 3, c];
      const inputs = [{ shape, seed: 25 + c }, { shape: [c], seed: 26 }, { shape: [c], seed: 27 }, { shape: [c], seed: 28 }, { shape: [c], seed: 29 }];
      // The variance input is made positive (|v| + 0.1) inside f, so its gradient is checked too.
      const infer = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, m: tf.Tensor, v: tf.Tensor) =>
        batchNormInfer(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, m as tf.Tensor1D, tf.add(tf.abs(v), 0.1) as tf.Tensor1D, 1e-5, act);
      await assertWasmMatchesCpu(`batchNormInfer ${act} [${shape}]`, valueAndGrads(infer, inputs));
    }
  }
  await tf.setBackend('wasm');
  const y = tf.tidy(() => Array.from(batchNormInfer(tf.tensor4d([3, -3], [2, 1, 1, 1]), tf.tensor1d([2]), tf.tensor1d([1]), tf.tensor1d([1]), tf.tensor1d([4]), 0, 'relu').dataSync()));
  assert.deepEqual(y, [3, 0]); // (3 - 1) / 2 * 2 + 1 and max((-3 - 1) / 2 * 2 + 1, 0)
});

test('TfModel.forward(x, false) on wasm runs the fused BatchNorm kernel and matches cpu', async () => {
  await tf.setBackend('wasm');
  const space = loadSpace('fbnet-mini');
  const layers = networkUnits(space, randomArch(space, new Rng(3))).flatMap((u) => u.layers);
  const model = new TfModel(layers, space.input, 3);
  const rng = new Rng(4);
  for (const v of model.allVariables()) {
    if (!v.name.includes('.bn.')) continue;
    const pos = v.name.endsWith('variance') || v.name.endsWith('gamma');
    v.assign(tf.tensor1d(Float32Array.from({ length: v.shape[0]! }, () => (pos ? 0.5 + rng.next() : 0.2 * rng.normal()))));
  }
  const { c, h, w } = space.input;
  const xs = normal(2 * h * w * c, 5);
  const forward = () => [model.forward(tf.tensor4d(xs, [2, h, w, c]), false)];
  const profile = await tf.profile(() => tf.tidy(() => forward()[0]!));
  const names = profile.kernels.map((k) => k.name);
  tf.dispose(profile.result as tf.Tensor);
  assert.ok(names.includes('LatnasBatchNormInfer'), names.join(' '));
  assert.ok(!names.includes('Rsqrt'), `no composed BatchNorm left: ${names.join(' ')}`);
  // Not runOn: the model's variables move to cpu's buffers on first use there.
  const got = tf.tidy(() => forward()[0]!.dataSync());
  await tf.setBackend('cpu');
  const ref = tf.tidy(() => forward()[0]!.dataSync());
  const e = relErr(got, ref);
  assert.ok(e <= TOL, `logits: relative error ${e.toExponential(2)} > ${TOL}`);
  model.dispose();
});

test('hardSwish and hardSigmoid: exact values, and wasm matches cpu with gradients', async () => {
  await tf.setBackend('wasm');
  const xs = [-4, -3, -1.5, 0, 1.5, 3, 4];
  const [hs, hsig] = tf.tidy(() => [hardSwish(tf.tensor1d(xs)).dataSync(), hardSigmoid(tf.tensor1d(xs)).dataSync()]);
  xs.forEach((x, i) => {
    const gate = Math.min(Math.max(x + 3, 0), 6) / 6;
    assert.ok(Math.abs(hsig![i]! - gate) < 1e-6, `hardSigmoid(${x})`);
    assert.ok(Math.abs(hs![i]! - x * gate) < 1e-6, `hardSwish(${x})`);
  });
  const scaled = (f: (t: tf.Tensor) => tf.Tensor) => (x: tf.Tensor) => f(tf.mul(x, 3)); // spans all pieces
  await assertWasmMatchesCpu('hardSwish', valueAndGrads(scaled(hardSwish), [{ shape: [2, 3, 4, 5], seed: 31 }]));
  await assertWasmMatchesCpu('hardSigmoid', valueAndGrads(scaled(hardSigmoid), [{ shape: [2, 3, 4, 5], seed: 32 }]));
});

test('channelShuffle moves channel i of group g to i * groups + g, on wasm as on cpu', async () => {
  await tf.setBackend('wasm');
  const c = 6, groups = 2;
  const out = tf.tidy(() => channelShuffle(tf.tensor4d(Array.from({ length: 2 * c }, (_, i) => i % c), [1, 1, 2, c]), groups).dataSync());
  // Groups [0 1 2] [3 4 5] interleave to [0 3 1 4 2 5].
  assert.deepEqual(Array.from(out).slice(0, c), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(Array.from(out).slice(c), [0, 3, 1, 4, 2, 5]);
  for (const g of [2, 3]) {
    await assertWasmMatchesCpu(`shuffle g${g}`, valueAndGrads((x) => channelShuffle(x as tf.Tensor4D, g), [{ shape: [2, 3, 4, 6], seed: 41 }]));
  }
});

/** A small MBConv-style net from our ops: grouped conv, shuffle, depthwise, SE, h-swish, BN, residual. */
class TinyNet {
  readonly vars: tf.Variable[] = [];
  private readonly p = new Map<string, tf.Variable>();
  constructor() {
    let seed = 100;
    const add = (name: string, shape: number[], scale: number) => {
      const v = tf.variable(tf.tensor(normal(size(shape), seed++, scale), shape), true, name);
      this.p.set(name, v);
      this.vars.push(v);
    };
    const convBn = (name: string, k: number, cinG: number, cout: number) => {
      add(`${name}.w`, [k, k, cinG, cout], Math.sqrt(2 / (k * k * cinG)));
      add(`${name}.gamma`, [cout], 0.1);
      add(`${name}.beta`, [cout], 0.1);
    };
    convBn('stem', 3, 3, 8);
    convBn('expand', 1, 4, 16); // groups 2
    convBn('dw', 5, 1, 16);
    add('se.w1', [1, 1, 16, 4], 0.5);
    add('se.b1', [4], 0.1);
    add('se.w2', [1, 1, 4, 16], 0.5);
    add('se.b2', [16], 0.1);
    convBn('project', 1, 16, 8);
    convBn('dw2', 7, 1, 8);
    add('fc.w', [8, 5], 0.5);
    add('fc.b', [5], 0.1);
  }
  private v<R extends tf.Rank>(name: string): tf.Tensor<R> {
    return this.p.get(name)! as unknown as tf.Tensor<R>;
  }
  private convBn(name: string, x: tf.Tensor4D, stride: number, groups: number): tf.Tensor4D {
    const y = conv2dSame(x, this.v(`${name}.w`), stride, groups);
    return batchNormTrain(y, this.v(`${name}.gamma`), this.v(`${name}.beta`)).y;
  }
  logits(x: tf.Tensor4D): tf.Tensor2D {
    let h = hardSwish(this.convBn('stem', x, 2, 1)) as tf.Tensor4D;
    let e = channelShuffle(hardSwish(this.convBn('expand', h, 1, 2)) as tf.Tensor4D, 2);
    e = hardSwish(this.convBn('dw', e, 2, 16)) as tf.Tensor4D;
    const pooled = tf.mean(e, [1, 2], true) as tf.Tensor4D;
    const mid = tf.relu(tf.add(conv2dSame(pooled, this.v('se.w1'), 1, 1), this.v('se.b1'))) as tf.Tensor4D;
    e = tf.mul(e, hardSigmoid(tf.add(conv2dSame(mid, this.v('se.w2'), 1, 1), this.v('se.b2'))));
    h = this.convBn('project', e, 1, 1);
    h = tf.add(h, this.convBn('dw2', h, 1, 8));
    const feat = tf.reshape(tf.mean(h, [1, 2]), [x.shape[0], 8]);
    return tf.add(tf.matMul(feat, this.v('fc.w')), this.v('fc.b'));
  }
}

/** SGD-momentum steps; returns [loss, every gradient of step 1, every variable after step 3], labelled. */
async function trainSteps(backend: 'cpu' | 'wasm'): Promise<{ names: string[]; values: Float32Array[] }> {
  await tf.setBackend(backend);
  const net = new TinyNet();
  const x = tf.tensor4d(normal(4 * 9 * 10 * 3, 7), [4, 9, 10, 3]);
  const labels = tf.oneHot(tf.tensor1d([0, 3, 4, 1], 'int32'), 5);
  const opt = tf.train.momentum(0.1, 0.9);
  const loss = () => tf.losses.softmaxCrossEntropy(labels, net.logits(x)) as tf.Scalar;
  const out: Float32Array[] = [];
  const dataIds: number[] = [];
  for (let step = 0; step < 3; step++) {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(loss, net.vars);
      if (step === 0) out.push(Float32Array.from(value.dataSync()), ...net.vars.map((v) => Float32Array.from(grads[v.name]!.dataSync())));
      opt.applyGradients(net.vars.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
    });
    dataIds.push(tf.engine().backend.numDataIds());
  }
  // Steps 2 and 3 allocate the same: nothing leaks per step (step 1 creates the momentum slots).
  assert.equal(dataIds[2], dataIds[1], `${backend}: backend buffers grow per step`);
  out.push(...net.vars.map((v) => Float32Array.from(v.dataSync())));
  const names = ['loss', ...net.vars.map((v) => `gradient of ${v.name}`), ...net.vars.map((v) => `${v.name} after 3 steps`)];
  tf.dispose([x, labels, ...net.vars]);
  opt.dispose();
  return { names, values: out };
}

test('a full training step of a small MBConv-style net on wasm matches cpu', async () => {
  const ref = await trainSteps('cpu');
  const got = await trainSteps('wasm');
  assert.ok(ref.values[0]![0]! > 0 && Number.isFinite(ref.values[0]![0]!));
  assert.equal(got.values.length, got.names.length);
  got.values.forEach((g, i) => {
    const e = relErr(g, ref.values[i]!);
    assert.ok(e <= TOL, `${got.names[i]}: relative error ${e.toExponential(2)}`);
  });
});

test('Transpose on wasm (2-D swaps rerouted) equals cpu exactly, float32 and int32', async () => {
  const cases: Array<[number[], number[]]> = [[[256, 48], [1, 0]], [[1, 64, 1, 24], [3, 2, 1, 0]], [[96, 5], [1, 0]], [[6, 4], [1, 0]], [[2, 64, 5], [0, 2, 1]], [[32, 1, 16], [2, 1, 0]]];
  for (const [shape, perm] of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      const f = () => [tf.cast(tf.transpose(tf.tensor(Array.from({ length: size(shape) }, (_, i) => i), shape, dtype), perm), 'float32')];
      const [ref] = await runOn('cpu', f);
      const [got] = await runOn('wasm', f);
      assert.deepEqual(got, ref, `${shape} ${perm} ${dtype}`);
    }
  }
});

/**
 * Finite differences check the gradients registered in src/train/kernels/gradients.ts (tfjs-core's
 * Node build ships none): the directional derivative along a random v must match sum(grad * v).
 */
test('the registered gradients agree with finite differences (cpu)', async () => {
  await tf.setBackend('cpu');
  const idx = (values: number[]) => tf.tensor1d(values, 'int32');
  type Case = [string, number[][], (...x: tf.Tensor[]) => tf.Tensor];
  const pos = (x: tf.Tensor) => tf.add(tf.square(x), 0.5);
  const mask = tf.tensor(Array.from({ length: 30 }, (_, i) => i % 3 === 0), [5, 6], 'bool');
  const flat = (...ts: tf.Tensor[]) => tf.concat(ts.map((t) => tf.reshape(t, [-1])));
  const unary: Array<[string, (x: tf.Tensor) => tf.Tensor]> = [
    ['neg', tf.neg], ['relu', tf.relu], ['relu6', (x) => tf.relu6(tf.mul(x, 4))], ['leakyRelu', (x) => tf.leakyRelu(x, 0.3)], ['elu', tf.elu],
    ['sigmoid', tf.sigmoid], ['tanh', tf.tanh], ['exp', tf.exp], ['square', tf.square], ['abs', tf.abs], ['clipByValue', (x) => tf.clipByValue(x, -0.5, 0.7)],
    ['step', (x) => tf.add(tf.step(x), x)], ['cast', (x) => tf.cast(x, 'float32')], ['clone', tf.clone], ['where', (x) => tf.where(mask, x, tf.mul(x, 3))],
    ['sqrt', (x) => tf.sqrt(pos(x))], ['rsqrt', (x) => tf.rsqrt(pos(x))], ['log', (x) => tf.log(pos(x))], ['reciprocal', (x) => tf.reciprocal(pos(x))],
    ['sum', (x) => tf.sum(x, 1)], ['mean', (x) => tf.mean(x, 0)], ['max', (x) => tf.max(x, 1)], ['min', (x) => tf.min(x, 0)],
    ['softmax', tf.softmax], ['logSoftmax', tf.logSoftmax], ['moments', (x) => flat(tf.moments(x, [0]).variance, tf.moments(x, [1]).mean)],
    ['softmaxCrossEntropy', (x) => tf.losses.softmaxCrossEntropy(tf.oneHot(idx([0, 3, 4, 1, 2]), 6), x)],
    ['reshape transpose', (x) => tf.transpose(tf.reshape(x, [3, 10]))], ['reverse', (x) => tf.reverse(x, [1])],
    ['slice', (x) => tf.slice(x, [1, 2], [3, 3])], ['pad', (x) => tf.pad(x, [[1, 0], [0, 2]])], ['tile', (x) => tf.tile(x, [2, 3])],
    ['split concat', (x) => { const [a, b] = tf.split(x, [2, 4], 1); return tf.concat([tf.mul(b!, 2), a!], 1); }],
    ['stack unstack', (x) => { const [a, b] = tf.unstack(tf.stack([x, tf.mul(x, 2)], 1), 1); return tf.mul(a!, b!); }],
    ['gather', (x) => flat(tf.gather(x, idx([2, 0, 2]), 1), tf.gather(x, idx([4, 4, 1]), 0))], ['addN', (x) => tf.addN([x, tf.mul(x, x), x])],
  ];
  const cases: Case[] = [
    ...unary.map(([name, f]): Case => [name, [[5, 6]], f]),
    ['add, broadcast', [[3, 4], [4]], tf.add], ['sub, broadcast', [[3, 4], [3, 1]], tf.sub], ['mul, broadcast', [[2, 3, 4], [1, 4]], tf.mul],
    ['div, broadcast', [[3, 4], [4]], (a, b) => tf.div(a, pos(b))], ['maximum', [[3, 4], [3, 4]], tf.maximum], ['minimum', [[3, 4], [3, 4]], tf.minimum],
    ['squaredDifference', [[3, 4], [3, 4]], tf.squaredDifference], ['pow', [[3, 4], [3, 4]], (a, b) => tf.pow(pos(a), b)],
    ['matMul', [[3, 4], [4, 5]], (a, b) => tf.matMul(a, b)], ['matMul tA tB', [[4, 3], [5, 4]], (a, b) => tf.matMul(a, b, true, true)],
    ['matMul tA', [[4, 3], [4, 5]], (a, b) => tf.matMul(a, b, true, false)], ['matMul tB', [[3, 4], [5, 4]], (a, b) => tf.matMul(a, b, false, true)],
    ['batched matMul', [[2, 3, 4], [2, 4, 5]], (a, b) => tf.matMul(a, b)],
    ['conv2d', [[2, 7, 6, 3], [3, 3, 3, 4]], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')],
    ['depthwiseConv2d', [[2, 7, 6, 3], [5, 5, 3, 2]], (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 1], 'same')],
    // 'valid': tfjs's AvgPoolGrad divides partial 'same' windows by the full window size, unlike
    // its forward pass (a tfjs bug; our blocks pool with mean). maxPool's kinks defeat the check.
    ['avgPool', [[2, 7, 6, 3]], (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid')],
  ];
  let seed = 50;
  for (const [name, shapes, f] of cases) {
    tf.tidy(() => {
      const xs = shapes.map((shape) => tf.tensor(normal(size(shape), seed++), shape));
      const vs = shapes.map((shape) => tf.tensor(normal(size(shape), seed++), shape));
      const r = tf.tensor(normal(f(...xs).size, seed++));
      const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(tf.reshape(f(...a), [-1]), r));
      const grads = tf.grads(loss)(xs);
      const analytic = tf.addN(grads.map((g, i) => tf.sum(tf.mul(g, vs[i]!)))).dataSync()[0]!;
      const eps = 1e-3;
      const shifted = (sign: number) => loss(...xs.map((x, i) => tf.add(x, tf.mul(vs[i]!, sign * eps)))).dataSync()[0]!;
      const numeric = (shifted(1) - shifted(-1)) / (2 * eps);
      const scale = Math.max(1, Math.abs(numeric));
      assert.ok(Math.abs(analytic - numeric) / scale < 5e-3, `${name}: analytic ${analytic} vs finite differences ${numeric}`);
    });
  }
  mask.dispose();
});

test('the registered wasm kernels are the ones training needed', () => {
  for (const name of [
    'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'UnsortedSegmentSum',
    'Transpose', 'Identity', 'LatnasBatchNormTrain', 'LatnasBatchNormGrad', 'LatnasRunningStats',
  ]) {
    assert.ok(WASM_KERNEL_NAMES.includes(name), name);
    assert.ok(tf.getKernel(name, 'wasm'), name);
  }
});

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

test("initBackend('auto') falls back to wasm without tfjs-node and says why; 'tensorflow' then fails in one line", async (t) => {
  if (installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu')) {
    t.skip('a native tfjs package is installed here');
    return;
  }
  const auto = await initBackend('auto');
  assert.equal(auto.name, 'wasm');
  assert.match(auto.reason, /@tensorflow\/tfjs-node not installed: using wasm/);
  assert.equal(tf.getBackend(), 'wasm');
  await assert.rejects(initBackend('tensorflow'), (e: unknown) => e instanceof LatnasError && /tfjs-node/.test(e.message) && !e.message.includes('\n'));
  assert.deepEqual(await initBackend('cpu'), { name: 'cpu', reason: 'requested' });
  assert.equal((await initBackend('wasm')).name, 'wasm');
});
