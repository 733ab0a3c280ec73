import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildModel, buildNetworkModel, buildUnitModel } from '../src/onnx/model.js';
import { RandomWeights } from '../src/weights/init.js';
import { randomArch } from '../src/space/arch.js';
import { blockLayers, parseBlock } from '../src/space/blocks.js';
import type { Shape } from '../src/space/ir.js';
import { networkUnits, spaceUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { Rng } from '../src/util/rng.js';
import { PYTHON3_ONNX, requireSystem, tempDir } from './helpers.js';
import { runReference } from './reference.js';

function input(shape: Shape, seed = 5): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.c * shape.h * shape.w }, () => rng.normal());
}

async function runOrt(model: Uint8Array, shape: Shape, data: Float32Array): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  const out = await session.run({ input: new ort.Tensor('float32', data, [1, shape.c, shape.h, shape.w]) });
  const t = out[session.outputNames[0]!]!;
  await session.release();
  return { data: t.data as Float32Array, dims: t.dims };
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let scale = 0, err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  return err / Math.max(scale, 1e-6);
}

// Odd and even sizes exercise TF-style asymmetric 'same' padding at stride 2.
const CASES: [string, Shape][] = [
  ['ir_k3_e6_c16_s1', { c: 16, h: 9, w: 9 }],
  ['ir_k5_e3_c24_s2', { c: 16, h: 10, w: 10 }],
  ['ir_k5_e1_g2_c24_s2', { c: 16, h: 9, w: 9 }],
  ['ir_k3_e1_g2_c16_s1', { c: 16, h: 6, w: 6 }],
  ['ir_k7_e4_c40_s2_se0.25_hs', { c: 24, h: 11, w: 11 }],
  ['ir_k3_e3_c24_s1_se0.25_re', { c: 24, h: 5, w: 5 }],
  ['skip_c32_s2', { c: 16, h: 8, w: 8 }],
];

test('every block kind lowers to ONNX that computes what the IR says', async () => {
  for (const [text, shape] of CASES) {
    const layers = blockLayers(parseBlock(text), shape, 'b');
    const weights = new RandomWeights(11);
    const x = input(shape);
    const got = await runOrt(buildModel(layers, shape, { weights }), shape, x);
    const want = runReference(layers, { shape, data: x }, weights);
    assert.deepEqual(got.dims, [1, want.shape.c, want.shape.h, want.shape.w], text);
    const err = maxRelErr(got.data, want.data);
    assert.ok(err < 1e-4, `${text}: max relative error ${err}`);
  }
});

test('every unit of every built-in space builds and loads with the shape the IR predicts', async () => {
  for (const name of ['fbnet-mini', 'mbv3-mini']) {
    const space = loadSpace(name);
    for (const unit of spaceUnits(space)) {
      const got = await runOrt(buildUnitModel(unit), unit.input, input(unit.input));
      const want = unit.kind === 'head' ? [1, unit.output.c] : [1, unit.output.c, unit.output.h, unit.output.w];
      assert.deepEqual(got.dims, want, unit.key);
      assert.ok(got.data.every(Number.isFinite), `${unit.key} produced a non-finite value`);
    }
  }
});

test('whole networks match the unit-by-unit reference and take a dynamic batch', async () => {
  const space = loadSpace('mbv3-mini');
  const units = networkUnits(space, randomArch(space, new Rng(2)));
  const weights = new RandomWeights(3);
  const x = input(space.input);
  const got = await runOrt(buildNetworkModel(units, { weights }), space.input, x);
  const want = runReference(units.flatMap((u) => u.layers), { shape: space.input, data: x }, weights);
  assert.deepEqual(got.dims, [1, space.classes]);
  assert.ok(maxRelErr(got.data, want.data) < 1e-4);

  const dynamic = buildNetworkModel(units, { weights, batch: 'N' });
  const session = await ort.InferenceSession.create(dynamic);
  const batch = new Float32Array(3 * x.length);
  batch.set(x, 0); batch.set(x, x.length); batch.set(x, 2 * x.length);
  const out = await session.run({ input: new ort.Tensor('float32', batch, [3, space.input.c, space.input.h, space.input.w]) });
  const y = out[session.outputNames[0]!]!;
  assert.deepEqual(y.dims, [3, space.classes]);
  const yd = y.data as Float32Array;
  assert.ok(maxRelErr(yd.subarray(2 * space.classes), got.data) < 1e-5);
  await session.release();
});

// Debian's python3-onnx (installed by .ci/run) is the reference checker; /usr/bin/python3 is the
// interpreter it installs into.
const PY = PYTHON3_ONNX.python;

test('onnx.checker (full_check) accepts unit and network models', { skip: requireSystem(PYTHON3_ONNX) }, () => {
  const dir = tempDir();
  const space = loadSpace('mbv3-mini');
  const files: string[] = [];
  const units = networkUnits(space, randomArch(space, new Rng(4)));
  const add = (name: string, bytes: Uint8Array) => { const f = join(dir, name); writeFileSync(f, bytes); files.push(f); };
  add('net.onnx', buildNetworkModel(units, { batch: 'N' }));
  units.forEach((u, i) => { if (!u.identity) add(`unit${i}.onnx`, buildUnitModel(u)); });
  add('g2.onnx', buildModel(blockLayers(parseBlock('ir_k5_e1_g2_c24_s2'), { c: 16, h: 9, w: 9 }, 'b'), { c: 16, h: 9, w: 9 }));
  const script = 'import sys, onnx\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint("ok", len(sys.argv) - 1)';
  const r = spawnSync(PY, ['-c', script, ...files], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`ok ${files.length}`));
});
