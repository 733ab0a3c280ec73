import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BatchStream } from '../src/datasets/batches.js';
import { loadDataset } from '../src/datasets/load.js';
import { computeNormalization } from '../src/datasets/normalize.js';
import { loadSpace, SpaceSchema } from '../src/space/spaces.js';
import { Supernet } from '../src/supernet/supernet.js';
import { initBackend } from '../src/train/backend.js';
import { SgdMomentum } from '../src/train/optim.js';
import { ROOT } from './helpers.js';
import { maxAbsDiff, maxRelDiff } from './tensors.js';

const space = () => loadSpace(join(ROOT, 'test/fixtures/tiny28-space.json'));

/** A few real MNIST digits, normalised, as one NHWC tensor and labels. */
function digits(n: number, offset = 0): { x: tf.Tensor4D; y: Int32Array; stream: BatchStream } {
  const data = loadDataset('mnist');
  const norm = computeNormalization(data, Uint32Array.from({ length: 2000 }, (_, i) => i));
  const indices = Uint32Array.from({ length: n }, (_, i) => offset + i);
  const stream = new BatchStream(data, { batchSize: n, norm, seed: 1, indices, shuffle: false });
  const b = stream.epoch().next().value!;
  return { x: tf.tensor4d(b.x.slice(0, n * 784), [n, 28, 28, 1]), y: b.y.slice(0, n), stream };
}

test('mixed mode with one-hot weights computes the single path; other weights mix the candidates', async () => {
  await initBackend('cpu');
  const net = new Supernet(space(), 3);
  const { x } = digits(4);
  try {
    assert.equal(net.size, 6);
    for (const path of [[0, 0], [1, 1], [2, 0]]) {
      const single = tf.tidy(() => net.forward(x, { path }, false).dataSync());
      const mixed = tf.tidy(() => net.forward(x, { mixed: path.map((i, l) => tf.cast(tf.oneHot(i, net.layers[l]!.candidates.length), 'float32') as tf.Tensor1D) }, false).dataSync());
      assert.ok(maxRelDiff(single, mixed) < 1e-5, `path ${path}`);
    }
    // Layer 1 at 50/50 between its two candidates: logits differ from both pure paths.
    const half = tf.tidy(() => net.forward(x, { mixed: [tf.tensor1d([1, 0, 0]), tf.tensor1d([0.5, 0.5])] }, false).dataSync());
    const a = tf.tidy(() => net.forward(x, { path: [0, 0] }, false).dataSync());
    assert.ok(maxRelDiff(half, a) > 1e-3);
  } finally {
    net.dispose();
    x.dispose();
  }
});

test('a gate of value 1 leaves the path unchanged and its gradient matches finite differences', async () => {
  await initBackend('cpu');
  const net = new Supernet(space(), 4);
  const { x, y } = digits(4);
  const path = [1, 1];
  const loss = (g0: number, g1: number) => tf.tidy(() => {
    const logits = net.forward(x, { path, gates: [tf.scalar(g0), tf.scalar(g1)] }, false);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(y, 'int32'), 10), logits).dataSync()[0]!;
  });
  try {
    const plain = tf.tidy(() => net.forward(x, { path }, false).dataSync());
    const gated = tf.tidy(() => net.forward(x, { path, gates: [tf.scalar(1), tf.scalar(1)] }, false).dataSync());
    assert.ok(maxRelDiff(plain, gated) < 1e-6);
    const grads = tf.tidy(() => {
      const f = (g0: tf.Scalar, g1: tf.Scalar) => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(y, 'int32'), 10), net.forward(x, { path, gates: [g0, g1] }, false)) as tf.Scalar;
      return tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor)([tf.scalar(1), tf.scalar(1)]).map((g) => g.dataSync()[0]!);
    });
    const eps = 1e-2;
    const fd = [(loss(1 + eps, 1) - loss(1 - eps, 1)) / (2 * eps), (loss(1, 1 + eps) - loss(1, 1 - eps)) / (2 * eps)];
    for (let l = 0; l < 2; l++) {
      assert.ok(Math.abs(grads[l]!) > 1e-4, `gate ${l} gradient is ${grads[l]}`);
      assert.ok(Math.abs(grads[l]! - fd[l]!) < 2e-2 * Math.abs(fd[l]!) + 1e-4, `gate ${l}: autodiff ${grads[l]} vs finite difference ${fd[l]}`);
    }
  } finally {
    net.dispose();
    x.dispose();
  }
});

test('a single-path step trains only that path and lowers the loss on real digits (wasm)', async () => {
  await initBackend('wasm');
  const net = new Supernet(space(), 5);
  const { x, y } = digits(32);
  const path = [1, 0];
  const optimizer = new SgdMomentum(0.1, 0.9, true);
  try {
    const onPath = new Set(net.trainableVariables(path).map((v) => v.name));
    const off = net.trainableVariables().filter((v) => !onPath.has(v.name));
    assert.ok(off.length > 0);
    const before = off.map((v) => v.dataSync().slice());
    const first = net.step(x, y, () => ({ path }), { optimizer, vars: net.trainableVariables(path), weightDecay: 4e-5 });
    let last = first;
    for (let i = 0; i < 19; i++) last = net.step(x, y, () => ({ path }), { optimizer, vars: net.trainableVariables(path) });
    assert.ok(last.ce < first.ce * 0.85, `cross-entropy ${first.ce} -> ${last.ce}`);
    assert.ok(last.hits > first.hits);
    off.forEach((v, i) => assert.deepEqual(v.dataSync(), before[i], `${v.name} changed off the path`));
    // Alternating paths (different variables each step, as single-path supernet training does)
    // keeps each variable's momentum its own: a path left alone stays exactly where it was.
    const other = [0, 1];
    const frozen = net.trainableVariables(path).map((v) => v.dataSync().slice());
    for (let i = 0; i < 3; i++) net.step(x, y, () => ({ path: other }), { optimizer, vars: net.trainableVariables(other) });
    const onlyPath = net.trainableVariables(path).filter((v) => !net.trainableVariables(other).some((o) => o.name === v.name));
    assert.ok(onlyPath.length > 0);
    for (const v of onlyPath) {
      const i = net.trainableVariables(path).findIndex((p) => p.name === v.name);
      assert.deepEqual(v.dataSync(), frozen[i], `${v.name} moved while another path trained`);
    }
    const back = net.step(x, y, () => ({ path }), { optimizer, vars: net.trainableVariables(path) });
    assert.ok(Number.isFinite(back.loss));
  } finally {
    net.dispose();
    optimizer.dispose();
    x.dispose();
  }
});

test('a sandwich step: a student equal to its teacher adds no gradient (the target is held), another path learns from it (wasm)', async () => {
  await initBackend('wasm');
  const { x, y } = digits(16);
  const teacher = [1, 0], student = [0, 1];
  const trained = (choice: () => import('../src/supernet/supernet.js').Choice, vars: (net: Supernet) => tf.Variable[]) => {
    const net = new Supernet(space(), 5);
    const optimizer = new SgdMomentum(0.1, 0.9, true);
    try {
      const r = net.step(x, y, choice, { optimizer, vars: vars(net), weightDecay: 4e-5 });
      return { r, weights: new Map(net.trainableVariables().map((v) => [v.name, v.dataSync().slice()])) };
    } finally {
      net.dispose();
      optimizer.dispose();
    }
  };
  try {
    const alone = trained(() => ({ path: teacher }), (n) => n.trainableVariables(teacher));
    // The distillation loss of a copy of the teacher is its softmax's entropy; held as a target, its gradient is zero.
    const twice = trained(() => ({ sandwich: [teacher, teacher] }), (n) => n.choiceVariables({ sandwich: [teacher, teacher] }));
    assert.equal(twice.r.ce, alone.r.ce);
    assert.ok(twice.r.loss > alone.r.loss + 0.1, `loss ${twice.r.loss} vs ${alone.r.loss}: the student's term is missing`);
    // Absolute: the held target's gradient is zero up to rounding (~1e-10 here); variables off the path stay 0.
    for (const [name, w] of alone.weights) assert.ok(maxAbsDiff(twice.weights.get(name)!, w) < 1e-7, `${name} moved by the held target`);

    const pair = trained(() => ({ sandwich: [teacher, student] }), (n) => n.choiceVariables({ sandwich: [teacher, student] }));
    const studentAlone = trained(() => ({ path: student }), (n) => n.trainableVariables(student));
    const net = new Supernet(space(), 5);
    try {
      const init = new Map(net.trainableVariables().map((v) => [v.name, v.dataSync().slice()]));
      const onTeacher = new Set(net.trainableVariables(teacher).map((v) => v.name));
      // What the student trains on its own (a path's variable list may hold some its blocks never use), it trains in the sandwich.
      const studentOnly = net.trainableVariables(student).filter((v) => !onTeacher.has(v.name) && maxAbsDiff(studentAlone.weights.get(v.name)!, init.get(v.name)!) > 1e-5);
      assert.ok(studentOnly.length > 3, `${studentOnly.length} variables of the student's own`);
      for (const v of studentOnly) {
        assert.ok(maxAbsDiff(pair.weights.get(v.name)!, init.get(v.name)!) > 0, `${v.name}: the student did not train`);
        assert.deepEqual(alone.weights.get(v.name), init.get(v.name), `${v.name} trained on the teacher's path alone`);
      }
      // The teacher's own variables (its BatchNorm) move as without the student: no gradient reaches it through its softmax.
      const onStudent = new Set(net.trainableVariables(student).map((v) => v.name));
      const teacherOnly = net.trainableVariables(teacher).filter((v) => !onStudent.has(v.name) && maxAbsDiff(alone.weights.get(v.name)!, init.get(v.name)!) > 1e-5);
      assert.ok(teacherOnly.length > 3, `${teacherOnly.length} variables of the teacher's own`);
      for (const v of teacherOnly) assert.ok(maxAbsDiff(pair.weights.get(v.name)!, alone.weights.get(v.name)!) < 1e-7, `${v.name}: the student pulled the teacher`);
    } finally {
      net.dispose();
    }
  } finally {
    x.dispose();
  }
});

test('BatchNorm recalibration makes a path’s running statistics the averages over its calibration batches', async () => {
  await initBackend('cpu');
  const net = new Supernet(space(), 6);
  const { x, stream } = digits(16, 100);
  const path = [0, 1];
  try {
    const train = tf.tidy(() => net.forward(x, { path }, true).dataSync());
    const stale = tf.tidy(() => net.forward(x, { path }, false).dataSync());
    assert.ok(maxRelDiff(train, stale) > 0.05, 'fresh running statistics should not fit the batch');
    net.recalibrate(path, stream, 1);
    const inference = tf.tidy(() => net.forward(x, { path }, false).dataSync());
    // Equal up to the unbiased-variance factor n / (n - 1) the running variance carries.
    assert.ok(maxRelDiff(train, inference) < 1e-2, `after recalibration: ${maxRelDiff(train, inference)}`);
    assert.throws(() => net.recalibrate([0, 5], stream, 1), /path entry 1 is 5; layer 1 has candidates 0..1/);
  } finally {
    net.dispose();
    x.dispose();
  }
});

test('a grouped candidate computes its dense sibling with the off-diagonal blocks zeroed (shared weights)', async () => {
  await initBackend('cpu');
  const space = SpaceSchema.parse({
    name: 'grouped', input: { c: 1, h: 28, w: 28 }, classes: 10, stem: { c: 8, k: 3, s: 2, act: 're' },
    stages: [{ c: 8, n: 1, s: 1, candidates: ['k3_e4', 'k3_e4_g2', 'k5_e2'] }], head: { c: 16, act: 're' },
  });
  const net = new Supernet(space, 9);
  const { x } = digits(4);
  try {
    const dense = () => tf.tidy(() => net.forward(x, { path: [0] }, true).dataSync());
    const grouped = () => tf.tidy(() => net.forward(x, { path: [1] }, true).dataSync());
    assert.ok(maxRelDiff(dense(), grouped()) > 1e-3, 'with full dense weights the two differ');
    // Zero the blocks a 2-group 1x1 conv cannot see: input half j only feeds output half j.
    for (const v of net.allVariables()) {
      const m = v.name.match(/l0\.(pw|pwl)\.weight$/);
      if (!m) continue;
      const [, , cin, cout] = v.shape as number[];
      const w = v.dataSync().slice();
      for (let i = 0; i < cin!; i++) for (let o = 0; o < cout!; o++) {
        // pw output channel o lands, after the shuffle, in group o mod 2; pwl's groups are halves.
        const inGroup = Math.floor(i / (cin! / 2));
        const outGroup = m[1] === 'pw' ? o % 2 : Math.floor(o / (cout! / 2));
        if (inGroup !== outGroup) w[i * cout! + o] = 0;
      }
      v.assign(tf.tensor(w, v.shape));
    }
    assert.ok(maxRelDiff(dense(), grouped()) < 1e-4, `${maxRelDiff(dense(), grouped())}`);
    // Candidates of one layer share their convolutions: k5_e2 adds no weights of its own.
    const own = (p: number[]) => net.trainableVariables(p).filter((v) => v.name.includes('/c')).map((v) => v.name);
    assert.ok(own([2]).every((n) => /bn\.(gamma|beta)$/.test(n)), own([2]).join(' '));
  } finally {
    net.dispose();
    x.dispose();
  }
});
